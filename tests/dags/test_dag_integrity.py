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
    # a run dated before start_date would create no task and "succeed": the start is the bundled prices' first week
    assert dag.start_date.date().isoformat() <= "2005-01-03"
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
    assert set(dag.params.keys()) >= {"preset", "timesteps_scale", "tickers", "seed"}
    # ordering: nothing trains before the plan, nothing selects before the backtests
    assert "explorer_ids" in dag.get_task("train_explorer").upstream_task_ids
    assert "backtest_model" in dag.get_task("backtests_done").upstream_task_ids
    # a partial week goes on (the gates wait for every training / backtest whatever its state), but nothing that
    # selects, prunes or trades runs unless the prices, the plan and the candidates succeeded (issue 15 item 2)
    assert dag.get_task("trainings_done").trigger_rule == dag.get_task("backtests_done").trigger_rule == "all_done"
    assert {"trainings_done", "plan_week"} <= dag.get_task("collect_candidates").upstream_task_ids
    assert {"backtests_done", "collect_candidates"} <= dag.get_task("select_models").upstream_task_ids
    for tid in ("collect_candidates", "select_models", "prepare_paper_trades", "write_report", "mark_paper_ledger"):
        assert dag.get_task(tid).trigger_rule == "all_success", tid
    # the ledger marks earlier weeks with the ingested prices: it needs them, and nothing of this week's plan
    assert dag.get_task("mark_paper_ledger").upstream_task_ids == {"start_week", "ingest_prices"}


def test_continuous_dag_selects_and_trades_only_on_sound_inputs(dagbag) -> None:
    """The continuous week follows the same rule: its waits go on after failed trainings, but the candidates need
    the plan and the selection needs the candidates (a failed ingest or plan selects, prunes and trades nothing)."""
    dag = dagbag.dags["autotest_continuous"]
    assert {"wait_backtests", "plan_week"} <= dag.get_task("collect_candidates").upstream_task_ids
    assert {"backtests_done", "collect_candidates"} <= dag.get_task("select_models").upstream_task_ids
    assert "backtest_model" in dag.get_task("backtests_done").upstream_task_ids
    assert dag.get_task("backtests_done").trigger_rule == dag.get_task("wait_backtests").trigger_rule == "all_done"
    for tid in ("collect_candidates", "select_models", "prepare_paper_trades", "write_report"):
        assert dag.get_task(tid).trigger_rule == "all_success", tid


def test_bad_params_fail_at_trigger_time(dagbag) -> None:
    import copy

    from airflow.sdk.exceptions import ParamValidationError

    dag = dagbag.dags["autotest_weekly"]
    bad = (
        ("preset", "huge"),
        ("timesteps_scale", 0),
        ("timesteps_scale", 1e-9),
        ("timesteps_scale", 101),
        ("seed", -1),
        ("seed", 2**40),
        ("tickers", ["not a ticker"]),
        ("tickers", []),
        ("tickers", ["AAPL", "AAPL"]),
    )
    for key, value in bad:
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


def test_trigger_form_carries_each_bound_in_its_field(dagbag) -> None:
    """Issue 14 item 4: the bounds are in each param's JSON schema (what the trigger form renders and checks
    next to the field), not only in a task: min/max on numbers, a pattern and min/unique items on tickers."""
    from airflow.serialization.serialized_objects import DagSerialization

    def plain(value):  # the serialized form wraps each dict as {"__var": ..., "__type": "dict"}
        if isinstance(value, dict):
            return plain(value["__var"]) if "__var" in value else {k: plain(v) for k, v in value.items()}
        return value

    params = DagSerialization.to_dict(dagbag.dags["autotest_weekly"])["dag"]["params"]
    schema = {name: plain(p["schema"]) for name, p in params}  # as stored for the api-server and its form
    assert schema["timesteps_scale"]["minimum"] == 0.001 and schema["timesteps_scale"]["maximum"] == 100
    assert schema["seed"]["minimum"] == 0 and schema["seed"]["maximum"] == 2**31 - 1
    assert schema["tickers"]["items"]["pattern"].startswith("^[A-Z")
    assert schema["tickers"]["minItems"] == 1 and schema["tickers"]["uniqueItems"] is True
    assert "demo" in schema["preset"]["enum"]


@pytest.mark.parametrize(
    ("var", "value", "message"),
    [
        (
            "AUTOTEST_PRESET",
            "huge",
            "AUTOTEST_PRESET='huge' is not a preset; allowed: aggressive, conservative, demo, pbt, phase1, recomm",
        ),
        ("AUTOTEST_DATA_SOURCE", "csv", "AUTOTEST_DATA_SOURCE='csv' is not a data source; allowed: bundled, yfinance, a JSON"),
        ("AUTOTEST_UNIVERSE", "AAPL,not one", "AUTOTEST_UNIVERSE='AAPL,not one': ['not one'] are not ticker symbols"),
        ("AUTOTEST_UNIVERSE", "AAPL,KO,AAPL", "lists ['AAPL'] more than once"),
    ],
)
def test_a_bad_deployment_value_fails_the_import_naming_it(tmp_path, var: str, value: str, message: str) -> None:
    """Issue 10 item 3: scheduled runs take their preset, source and universe from the deployment's environment;
    a bad value is an import error that names the variable and the allowed values, so no run starts."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("AUTOTEST_")} | {var: value, "AIRFLOW_HOME": str(tmp_path)}
    code = "from airflow.dag_processing.dagbag import DagBag; b = DagBag(%r); print('DAGS', sorted(b.dags), *b.import_errors.values())"
    out = subprocess.run([sys.executable, "-c", code % str(DAGS)], env=env, capture_output=True, text=True, cwd=ROOT, timeout=120)
    assert out.returncode == 0, out.stderr[-2000:]
    dags = next(line for line in out.stdout.splitlines() if line.startswith("DAGS "))
    assert "autotest_weekly" not in dags and message in out.stdout, out.stdout[-2000:]


def test_deployment_values_become_the_runs_defaults(tmp_path) -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith("AUTOTEST_")}
    env |= {"AUTOTEST_PRESET": "recommended", "AUTOTEST_DATA_SOURCE": "yfinance", "AUTOTEST_UNIVERSE": "AAPL, KO"}
    env["AIRFLOW_HOME"] = str(tmp_path)
    code = (
        "from airflow.dag_processing.dagbag import DagBag; b = DagBag(dag_folder=%r); p = b.dags['autotest_weekly'].params; "
        "print(p['preset'], p['tickers'], b.dags['autotest_pbt'].params['preset'])"
    )
    out = subprocess.run([sys.executable, "-c", code % str(DAGS)], env=env, capture_output=True, text=True, cwd=ROOT, timeout=120)
    assert out.stdout.strip().splitlines()[-1] == "recommended ['AAPL', 'KO'] recommended", out.stdout + out.stderr[-2000:]
