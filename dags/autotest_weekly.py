"""AUTOTEST weekly retraining: ingest -> plan -> train (explorers, refiners, champion) -> backtest -> select
-> paper-trade orders -> report.

Thin by design: every task reads its params, calls one function of ``autotest_lib.tasks.weekly`` and
returns a small JSON dict. Heavy imports (torch, pandas, SB3) happen inside the tasks, so parsing this file
is cheap. XCom carries model ids and paths only. The week's cutoff is the run's ``data_interval_end``, so a
backfilled week sees exactly the prices it would have seen live.
"""

from __future__ import annotations

from airflow.sdk import dag, task

from autotest_lib.dag_defaults import (
    DEFAULT_ARGS,
    MODEL_ID_MAP_INDEX,
    START_DATE,
    TRAINING_POOL,
    training_deadline,
    week_params,
    weekly_timetable,
)


@dag(
    dag_id="autotest_weekly",
    description="Weekly PPO population: explorers, refiners, champion; lineage in PostgreSQL",
    schedule=weekly_timetable(),
    start_date=START_DATE,
    catchup=False,
    max_active_runs=1,
    deadline=training_deadline(),
    default_args=DEFAULT_ARGS,
    tags=["autotest", "rl", "weekly"],
    doc_md=__doc__,
    params=week_params(),
)
def autotest_weekly() -> None:
    @task
    def migrate_lineage_db() -> dict:
        from autotest_lib.runs.store import migrate

        return migrate()

    @task
    def start_week(**context) -> dict:
        from autotest_lib.tasks import weekly

        return weekly.start_week(context["params"], context.get("data_interval_end"))

    @task
    def ingest_prices(week: dict) -> dict:
        from autotest_lib.tasks import weekly

        return weekly.ingest(week)

    @task
    def mark_paper_ledger(week: dict) -> dict:
        from autotest_lib.tasks import weekly

        return weekly.mark_ledger(week)

    @task
    def plan_week(week: dict) -> dict:
        from autotest_lib.tasks import weekly

        return weekly.plan(week)

    @task
    def model_ids(plan: dict, role: str) -> list[str]:
        return plan[role]

    @task(pool=TRAINING_POOL, max_active_tis_per_dagrun=None, map_index_template=MODEL_ID_MAP_INDEX)
    def train_model(week: dict, model_id: str) -> dict:
        from autotest_lib.tasks import weekly

        return weekly.train_one(week, model_id)

    @task(trigger_rule="all_done")
    def collect_candidates(week: dict) -> list[str]:
        from autotest_lib.tasks import weekly

        return weekly.candidates(week)

    @task(map_index_template=MODEL_ID_MAP_INDEX)
    def backtest_model(week: dict, model_id: str) -> dict:
        from autotest_lib.tasks import weekly

        return weekly.backtest_one(week, model_id)

    @task(trigger_rule="all_done")
    def select_models(week: dict) -> dict:
        from autotest_lib.tasks import weekly

        return weekly.select(week)

    @task
    def prepare_paper_trades(week: dict, selection: dict) -> dict:
        from autotest_lib.tasks import weekly

        return weekly.paper_trades(week)

    @task
    def write_report(week: dict, orders: dict, **context) -> dict:
        from autotest_lib.tasks import weekly

        return weekly.report(week, run_id=context["run_id"])

    migrated = migrate_lineage_db()
    week = start_week()
    migrated >> week
    ingested = ingest_prices(week)
    plan = plan_week(week)
    ingested >> plan
    ingested >> mark_paper_ledger(week)
    trained = [
        train_model.override(task_id=f"train_{role}")
        .partial(week=week)
        .expand(model_id=model_ids.override(task_id=f"{role}_ids")(plan, role))
        for role in ("explorer", "refiner", "champion")
    ]
    candidates = collect_candidates(week)
    trained >> candidates
    backtests = backtest_model.partial(week=week).expand(model_id=candidates)
    selection = select_models(week)
    backtests >> selection
    orders = prepare_paper_trades(week, selection)
    write_report(week, orders)


autotest_weekly()
