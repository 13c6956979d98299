"""AUTOTEST weekly retraining: ingest -> plan -> train (explorers, refiners, champion) -> backtest -> select
-> paper-trade orders -> report.

Thin by design: every task reads its params, calls one function of ``autotest_lib.tasks.weekly`` and
returns a small JSON dict. Heavy imports (torch, pandas, SB3) happen inside the tasks, so parsing this file
is cheap. XCom carries model ids and paths only. The week's cutoff is the run's ``data_interval_end``, so a
backfilled week sees exactly the prices it would have seen live.

A bad week does no harm (``autotest_lib.weekly.guards``): when the prices or the plan fail, backtests,
selection, pruning and orders are skipped; a partial week (some trainings failed) selects without pruning;
a week re-run after later ones replays its recorded selection and orders. A permanent error (bad params,
data that does not cover the week) fails its task once, without retries (``dag_defaults.fail_fast``).
The paper ledger (``mark_paper_ledger``) needs the ingested prices only: when they failed it does not run;
otherwise it marks the earlier weeks' orders whatever this week's plan and trainings do.
"""

from __future__ import annotations

from airflow.sdk import TriggerRule, dag, task
from airflow.sdk.exceptions import AirflowSkipException

from autotest_lib.dag_defaults import (
    DEFAULT_ARGS,
    MODEL_ID_MAP_INDEX,
    START_DATE,
    TRAINING_POOL,
    check_param_keys,
    fail_fast,
    training_deadline,
    week_params,
    weekly_timetable,
)

PARAMS = week_params()


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
    params=PARAMS,
)
def autotest_weekly() -> None:
    @task
    @fail_fast
    def migrate_lineage_db() -> dict:
        from autotest_lib.runs.store import migrate

        return migrate()

    @task
    @fail_fast
    def start_week(**context) -> dict:
        """Fix the week (cutoff = the run's data-interval end) and check the params; nothing runs on bad ones."""
        from autotest_lib.tasks import weekly

        check_param_keys(context["params"], PARAMS)
        return weekly.start_week(context["params"], context.get("data_interval_end"))

    @task
    @fail_fast
    def ingest_prices(week: dict) -> dict:
        from autotest_lib.tasks import weekly

        return weekly.ingest(week)

    @task
    @fail_fast
    def mark_paper_ledger(week: dict) -> dict:
        """Mark the earlier weeks' orders to market with the prices just ingested. It needs those prices only:
        it runs when they were ingested, whatever the plan and the trainings do, and it never reads or writes
        this week's own selection or orders (only weeks whose following week has ended, i.e. up to last week)."""
        from autotest_lib.tasks import weekly

        return weekly.mark_ledger(week)

    @task
    @fail_fast
    def plan_week(week: dict) -> dict:
        from autotest_lib.tasks import weekly

        return weekly.plan(week)

    @task
    def model_ids(plan: dict, role: str) -> list[str]:
        return plan[role]

    @task(pool=TRAINING_POOL, max_active_tis_per_dagrun=None, map_index_template=MODEL_ID_MAP_INDEX)
    @fail_fast
    def train_model(week: dict, model_id: str) -> dict:
        from autotest_lib.tasks import weekly

        return weekly.train_one(week, model_id)

    @task(trigger_rule=TriggerRule.ALL_DONE)
    def trainings_done(plan: dict | None) -> None:
        """Waits for every training, whatever its state (a partial week goes on). Its downstream also needs the
        plan itself: when the prices or the plan failed they end ``upstream_failed``, never run."""
        if plan is None:
            raise AirflowSkipException("the week's prices or plan failed: nothing was trained")

    @task
    @fail_fast
    def collect_candidates(week: dict, plan: dict) -> list[str]:
        from autotest_lib.tasks import weekly

        return weekly.candidates(week)

    @task(map_index_template=MODEL_ID_MAP_INDEX)
    @fail_fast
    def backtest_model(week: dict, model_id: str) -> dict:
        from autotest_lib.tasks import weekly

        return weekly.backtest_one(week, model_id)

    @task(trigger_rule=TriggerRule.ALL_DONE)
    def backtests_done(candidates: list[str] | None) -> None:
        """Waits for every backtest, whatever its state (a failed one rolls its model back). Its downstream also
        needs the candidates: when they were not collected, nothing is selected, pruned or traded."""
        if candidates is None:
            raise AirflowSkipException("no candidates were collected this week: nothing was backtested")

    @task
    @fail_fast
    def select_models(week: dict, candidates: list[str]) -> dict:
        from autotest_lib.tasks import weekly

        return weekly.select(week)

    @task
    @fail_fast
    def prepare_paper_trades(week: dict, selection: dict) -> dict:
        from autotest_lib.tasks import weekly

        return weekly.paper_trades(week)

    @task
    @fail_fast
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
    trained >> trainings_done(plan) >> (candidates := collect_candidates(week, plan))
    backtests = backtest_model.partial(week=week).expand(model_id=candidates)
    selection = select_models(week, candidates)
    backtests >> backtests_done(candidates) >> selection
    orders = prepare_paper_trades(week, selection)
    write_report(week, orders)


autotest_weekly()
