"""AUTOTEST population-based training, kept from week to week: every round trains all members (mapped, in the
training pool), scores them on the validation window, then the bottom quantile continues from perturbed
copies of the top quantile. Every step is recorded in the lineage registry (role ``pbt``, ``pbt_round`` and
``pbt_exploit`` events); next week's run continues the same population on the new cutoff.

Thin by design: each task calls one function of ``autotest_lib.tasks.pbt``; heavy imports happen inside the
tasks. The DAG unrolls ``MAX_ROUNDS`` round groups so each round is its own group in the UI; a run performs
``rounds`` of them (param, default the preset's ``pbt.rounds_per_run``); ``skip_unused_rounds`` skips the rest.
A run that died part-way, re-run, skips the rounds already recorded and resumes in the one it reached; a
failed member is retried from its latest checkpoint.
"""

from __future__ import annotations

from airflow.sdk import Param, TaskGroup, TriggerRule, dag, task

from autotest_lib.dag_defaults import (
    DEFAULT_ARGS,
    MODEL_ID_MAP_INDEX,
    START_DATE,
    TRAINING_POOL,
    check_param_keys,
    fail_fast,
    preset_param,
    weekly_timetable,
)

MAX_ROUNDS = 8
"""Round groups unrolled at parse time: the most rounds one run can perform."""
ROUND_TASKS = ("members", "train_member", "evaluate_round", "exploit_explore")

PARAMS = {
    "preset": preset_param(),
    "seed": Param(None, type=["null", "integer"], minimum=0, description="Base seed (null = the preset's)."),
    "rounds": Param(
        None, type=["null", "integer"], minimum=1, maximum=MAX_ROUNDS, description="Rounds this run (null = pbt.rounds_per_run)."
    ),
    "population": Param("main", type="string", pattern="^[a-z0-9][a-z0-9_]{0,31}$", description="Population name (kept across weeks)."),
}


@dag(
    dag_id="autotest_pbt",
    description="Population-based training of PPO members, persistent across weeks; lineage in the registry",
    schedule=weekly_timetable(),
    start_date=START_DATE,
    catchup=False,
    max_active_runs=1,
    default_args=DEFAULT_ARGS,
    tags=["autotest", "rl", "pbt"],
    doc_md=__doc__,
    params=PARAMS,
)
def autotest_pbt() -> None:
    @task
    def migrate_lineage_db() -> dict:
        from autotest_lib.runs.store import migrate

        return migrate()

    @task
    @fail_fast
    def start_run(**context) -> dict:
        from autotest_lib.tasks import pbt

        check_param_keys(context["params"], PARAMS)
        return pbt.start(context["params"], context.get("data_interval_end"), max_rounds=MAX_ROUNDS)

    @task
    def skip_unused_rounds(run: dict) -> dict:
        """Skip the round groups past this run's rounds in one go (not one level per scheduler loop)."""
        from airflow.sdk.exceptions import DownstreamTasksSkipped

        unused = [f"round_{i:02d}.{name}" for i in range(run["rounds"] + 1, MAX_ROUNDS + 1) for name in ROUND_TASKS]
        if unused:
            raise DownstreamTasksSkipped(tasks=unused)
        return {"rounds": run["rounds"]}

    @task
    def members(run: dict, index: int) -> list[str]:
        from airflow.sdk.exceptions import AirflowSkipException

        from autotest_lib.tasks import pbt

        ids = pbt.round_members(run, index)
        if ids is None:
            raise AirflowSkipException(f"this run performs {run['rounds']} round(s); round group {index} is not needed")
        return ids

    @task(pool=TRAINING_POOL, max_active_tis_per_dagrun=None, map_index_template=MODEL_ID_MAP_INDEX)
    def train_member(run: dict, model_id: str) -> dict:
        from autotest_lib.tasks import pbt

        return pbt.train_member(run, model_id)

    @task
    def evaluate_round(run: dict, index: int) -> dict | None:
        from autotest_lib.tasks import pbt

        return pbt.evaluate_round(run, index)

    @task
    def exploit_explore(run: dict, index: int) -> dict | None:
        from autotest_lib.tasks import pbt

        return pbt.exploit(run, index)

    @task(trigger_rule=TriggerRule.NONE_FAILED)
    def finish_run(run: dict) -> dict:
        from autotest_lib.tasks import pbt

        return pbt.finish(run)

    migrated = migrate_lineage_db()
    run = start_run()
    migrated >> run
    previous = skip_unused_rounds(run)
    for index in range(1, MAX_ROUNDS + 1):
        with TaskGroup(group_id=f"round_{index:02d}", tooltip=f"round group {index}: train, evaluate, exploit/explore"):
            ids = members(run, index)
            trained = train_member.partial(run=run).expand(model_id=ids)
            scored = evaluate_round(run, index)
            decided = exploit_explore(run, index)
            trained >> scored >> decided
        previous >> ids
        previous = decided
    previous >> finish_run(run)


autotest_pbt()
