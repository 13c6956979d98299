"""The continuous week under `airflow dags test`: every stage waits on a deferred DateTimeSensorAsync whose
time comes from an anchor in the past, so the run does not wait days; the week lands as the Sunday batch's."""

from __future__ import annotations

import datetime as dt

import pytest

pytestmark = [pytest.mark.airflow, pytest.mark.postgres]

WEEK = dt.date(2024, 9, 1)


def test_dag_shape_waits_between_stages(airflow_harness) -> None:
    import os

    os.environ.setdefault("AIRFLOW_HOME", str(airflow_harness.home / "airflow"))
    from airflow.dag_processing.dagbag import DagBag

    from autotest_lib.dag_defaults import TRAINING_POOL

    dag = DagBag(dag_folder=str(airflow_harness.env["AIRFLOW__CORE__DAGS_FOLDER"])).dags["autotest_continuous"]
    for wait, after in (
        ("wait_explorers", "train_explorer"),
        ("wait_refiners", "train_refiner"),
        ("wait_champion", "train_champion"),
        ("wait_backtests", "collect_candidates"),
        ("wait_paper", "prepare_paper_trades"),
    ):
        sensor = dag.get_task(wait)
        assert type(sensor).__name__ == "DateTimeSensorAsync" and wait in dag.get_task(after).upstream_task_ids
    assert "train_explorer" in dag.get_task("wait_refiners").upstream_task_ids  # stages run in order
    assert dag.get_task("train_refiner").pool == TRAINING_POOL
    assert {"schedule", "anchor", "preset"} <= set(dag.params.keys())


def test_a_continuous_week_runs_with_deferred_waits_from_a_past_anchor(airflow_harness) -> None:
    conf = {"preset": "demo", "timesteps_scale": 0.25, "schedule": "continuous", "anchor": "2000-01-02T02:00:00+00:00"}
    out = airflow_harness.dags_test("autotest_continuous", WEEK, conf)
    # the five waits are the DAG's only deferrable tasks: each went to the trigger once and came back
    deferred = [line for line in out.splitlines() if "new_state=deferred" in line]
    assert len(deferred) == 5, "\n".join(deferred)
    from autotest_lib.registry import LineageStore

    with LineageStore(airflow_harness.url) as store:
        week = store.get_week(WEEK)
        assert week is not None and week.status == "done"
        assert len(store.evaluations(week=WEEK, window="validation")) == 3
    report = airflow_harness.home / "runs" / WEEK.isoformat() / "report" / "index.html"
    assert report.is_file()
