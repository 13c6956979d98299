"""AUTOTEST continuous week: the weekly retraining spread over the week instead of one Sunday batch.

Sunday (the cutoff): ingest and plan. Then each stage waits for its start time, deferred on the triggerer
(``DateTimeSensorAsync``: no worker slot is held while waiting): Monday explorers, Tuesday refiners, Wednesday
champion slots, Thursday-Friday backtests and selection, Saturday paper-trade orders and the report. Start
times are hours after an anchor (``preset.continuous``; the anchor defaults to the cutoff, a run may pass an
earlier one so that ``airflow dags test`` does not wait days). ``schedule`` (param, else the preset's)
``sunday`` puts every start time at the anchor: the Sunday batch, which ``autotest_weekly`` also runs and
which stays the default. Every stage reads the week dict, so all of them use only prices before the cutoff.

Thin by design: every task calls one function of ``autotest_lib.tasks.weekly``.

A bad week does no harm, as in ``autotest_weekly``: a failed training does not stop the next stage, but the
candidates need the plan and the selection needs the candidates, so when the prices or the plan fail nothing is
backtested, selected, pruned or traded. Unknown params are refused by ``start_week``; a permanent error fails
its task once, without retries (``dag_defaults.fail_fast``).
"""

from __future__ import annotations

from typing import Any

from airflow.providers.standard.sensors.date_time import DateTimeSensorAsync
from airflow.sdk import Param, TriggerRule, dag, task
from airflow.sdk.exceptions import AirflowSkipException

from autotest_lib.dag_defaults import (
    DEFAULT_ARGS,
    START_DATE,
    TRAINING_POOL,
    check_param_keys,
    fail_fast,
    week_params,
    weekly_timetable,
)

STAGE_TIME = "{{{{ ti.xcom_pull(task_ids='start_week')['stages']['{stage}'] }}}}"

PARAMS = {
    **week_params(),
    "schedule": Param(
        None, type=["null", "string"], enum=[None, "sunday", "continuous"], description="sunday | continuous (null = the preset's)."
    ),
    "anchor": Param(None, type=["null", "string"], description="ISO datetime the stage offsets count from (null = the cutoff, 02:00 UTC)."),
}


@dag(
    dag_id="autotest_continuous",
    description="The weekly PPO population with its stages spread over the week (deferrable waits)",
    schedule=weekly_timetable(),
    start_date=START_DATE,
    catchup=False,
    max_active_runs=1,
    default_args=DEFAULT_ARGS,
    tags=["autotest", "rl", "weekly", "continuous"],
    doc_md=__doc__,
    params=PARAMS,
)
def autotest_continuous() -> None:
    @task
    @fail_fast
    def start_week(**context) -> dict:
        """Fix the week (cutoff = data-interval end) and the start time of each stage; nothing runs on bad params."""
        from autotest_lib.tasks import weekly
        from autotest_lib.weekly.continuous import with_stage_times

        check_param_keys(context["params"], PARAMS)
        return with_stage_times(weekly.start_week(context["params"], context.get("data_interval_end")), context["params"])

    @task
    @fail_fast
    def step(name: str, week: Any) -> dict | list:
        """One whole-week step of ``autotest_lib.tasks.weekly`` (``migrate`` takes no week)."""
        from autotest_lib.runs.store import migrate
        from autotest_lib.tasks import weekly

        return migrate() if name == "migrate" else getattr(weekly, name)(week)

    @task
    @fail_fast
    def per_model(name: str, week: Any, model_id: str) -> dict:
        """One model's step of ``autotest_lib.tasks.weekly`` (``train_one``, ``backtest_one``)."""
        from autotest_lib.tasks import weekly

        return getattr(weekly, name)(week, model_id)

    @task
    def ids_of(plan: Any, role: str) -> list[str]:
        return plan[role]

    @task(trigger_rule=TriggerRule.ALL_DONE)
    def backtests_done(candidates: Any) -> None:
        """Waits for every backtest, whatever its state (a failed one rolls its model back). Its downstream also
        needs the candidates: when they were not collected, nothing is selected, pruned or traded."""
        if candidates is None:
            raise AirflowSkipException("no candidates were collected this week: nothing was backtested")

    def wait(stage: str) -> DateTimeSensorAsync:
        # all_done: a failed training does not stop the next stage, as in the Sunday batch
        return DateTimeSensorAsync(task_id=f"wait_{stage}", target_time=STAGE_TIME.format(stage=stage), trigger_rule="all_done")

    week = start_week()
    step.override(task_id="migrate_lineage_db")("migrate", {}) >> week
    plan = step.override(task_id="plan_week")("plan", week)
    step.override(task_id="ingest_prices")("ingest", week) >> plan
    previous = plan
    for role, stage in (("explorer", "explorers"), ("refiner", "refiners"), ("champion", "champion")):
        ids = ids_of.override(task_id=f"{role}_ids")(plan, role)
        train = per_model.override(task_id=f"train_{role}", pool=TRAINING_POOL, max_active_tis_per_dagrun=None)
        trained = train.partial(name="train_one", week=week).expand(model_id=ids)
        previous >> wait(stage) >> trained
        previous = trained
    # the backtest wait goes on after failed trainings (all_done); the candidates also need the plan itself
    candidates = step.override(task_id="collect_candidates")("candidates", week)
    previous >> wait("backtests") >> candidates
    plan >> candidates
    backtests = per_model.override(task_id="backtest_model").partial(name="backtest_one", week=week).expand(model_id=candidates)
    selection = step.override(task_id="select_models")("select", week)
    backtests >> backtests_done(candidates) >> selection
    candidates >> selection
    orders = step.override(task_id="prepare_paper_trades")("paper_trades", week)
    selection >> wait("paper") >> orders
    orders >> step.override(task_id="write_report")("report", week)


autotest_continuous()
