"""Every DAG imports cleanly, fast, and is wired the way the pipeline promises."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
DAGS = ROOT / "dags"


@pytest.fixture(scope="module")
def dagbag(tmp_path_factory):
    os.environ.setdefault("AIRFLOW_HOME", str(tmp_path_factory.mktemp("airflow_home")))
    os.environ["AIRFLOW__CORE__LOAD_EXAMPLES"] = "False"
    from airflow.dag_processing.dagbag import DagBag

    return DagBag(dag_folder=str(DAGS))


def test_no_import_errors(dagbag) -> None:
    assert dagbag.import_errors == {}
    assert "autotest_weekly" in dagbag.dags


def test_dag_file_imports_fast_without_heavy_modules() -> None:
    # Airflow itself is already imported in the DAG processor; what the file adds is what we own.
    code = (
        "import sys, time; import airflow.sdk, airflow.timetables.interval; t = time.perf_counter(); "
        f"sys.path.insert(0, {str(DAGS)!r}); import autotest_weekly; "
        "heavy = sorted(m for m in ('torch', 'stable_baselines3', 'pandas', 'autotest_lib.train') if m in sys.modules); "
        "print(time.perf_counter() - t, heavy)"
    )
    # warm the interpreter's file cache once, then measure
    subprocess.run([sys.executable, "-c", code], capture_output=True, check=True, cwd=ROOT)
    start = time.perf_counter()
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True, cwd=ROOT).stdout.split(None, 1)
    assert out[1].strip() == "[]", f"heavy modules imported at parse time: {out[1]}"
    assert float(out[0]) < 1.0, f"importing the DAG file took {float(out[0]):.2f}s (wall {time.perf_counter() - start:.2f}s)"


def test_weekly_dag_shape(dagbag) -> None:
    dag = dagbag.dags["autotest_weekly"]
    assert set(dag.tags) >= {"autotest", "weekly"}
    assert dag.max_active_runs == 1 and dag.catchup is False
    assert type(dag.timetable).__name__ == "CronDataIntervalTimetable"
    assert dag.timetable.summary == "0 2 * * 0"
    ids = set(dag.task_ids)
    expected = {
        "migrate_lineage_db",
        "start_week",
        "ingest_prices",
        "plan_week",
        "mark_paper_ledger",
        "train_explorer",
        "train_refiner",
        "train_champion",
        "collect_candidates",
        "backtest_model",
        "select_models",
        "prepare_paper_trades",
        "write_report",
    }
    assert expected <= ids
    for tid in ("train_explorer", "train_refiner", "train_champion"):
        task = dag.get_task(tid)
        assert task.pool == "autotest_training"
        assert task.retries >= 1
    assert all(dag.get_task(t).retries >= 1 for t in ids)
    assert dag.get_task("select_models").trigger_rule == "all_done"
    assert set(dag.params.keys()) >= {"preset", "timesteps_scale", "tickers", "seed"}
    # ordering: nothing trains before the plan, nothing selects before the backtests
    assert "explorer_ids" in dag.get_task("train_explorer").upstream_task_ids
    assert "backtest_model" in dag.get_task("select_models").upstream_task_ids
    assert "ingest_prices" in dag.get_task("mark_paper_ledger").upstream_task_ids


def test_bad_params_fail_at_trigger_time(dagbag) -> None:
    import copy

    from airflow.sdk.exceptions import ParamValidationError

    dag = dagbag.dags["autotest_weekly"]
    for key, value in (("preset", "huge"), ("timesteps_scale", 0), ("seed", -1), ("tickers", ["not a ticker"])):
        params = copy.deepcopy(dag.params)
        with pytest.raises(ParamValidationError, match=key):
            params[key] = value
    params = copy.deepcopy(dag.params)
    params["tickers"] = ["AAPL", "KO"]
    params["timesteps_scale"] = 0.5
    params.validate()


def test_weekly_dag_has_the_training_deadline_and_names_mapped_tasks_by_model(dagbag, monkeypatch) -> None:
    from datetime import timedelta

    from airflow.sdk import DeadlineReference

    from autotest_lib.dag_defaults import MODEL_ID_MAP_INDEX, training_deadline

    dag = dagbag.dags["autotest_weekly"]
    (alert,) = dag.deadline
    assert alert.interval == timedelta(hours=6) and alert.reference == DeadlineReference.DAGRUN_QUEUED_AT
    for task_id in ("train_explorer", "train_refiner", "train_champion", "backtest_model"):
        assert dag.get_task(task_id).map_index_template == MODEL_ID_MAP_INDEX
    members = [t for t in dagbag.dags["autotest_pbt"].tasks if t.task_id.endswith("train_member")]
    assert members and all(t.map_index_template == MODEL_ID_MAP_INDEX for t in members)
    monkeypatch.setenv("AUTOTEST_TRAINING_WINDOW_H", "2.5")
    assert training_deadline().interval == timedelta(hours=2.5)
    monkeypatch.setenv("AUTOTEST_TRAINING_WINDOW_H", "eight")
    with pytest.raises(ValueError, match=r"AUTOTEST_TRAINING_WINDOW_H='eight' is not a number in \(0, 168\]"):
        training_deadline()
