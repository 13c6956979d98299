"""The CeleryExecutor deployment for real: ``scripts/cluster.sh`` boots api-server, scheduler, dag-processor,
triggerer and two Celery workers (Redis broker, PostgreSQL metadata), a demo week runs on both workers, one
worker is killed with -9 while it trains and the week still succeeds; then every way of triggering a past
week is checked against the same api-server.

One demo week with ``timesteps_scale`` 4, so a training task is still running when its worker is killed.
About 4 minutes on 2 busy cores; every process started is stopped by process group, also on failure.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import json
import os
import signal
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

pytestmark = [pytest.mark.airflow, pytest.mark.postgres, pytest.mark.cluster]

ROOT = Path(__file__).resolve().parents[2]
API_PORT = 28080
REDIS_DB = 5
DAG_ID = "autotest_weekly"
WEEK = dt.date(2024, 9, 1)  # the week the REST trigger runs: its cutoff
SCALE = 4  # demo steps x 4: an explorer trains ~16k steps (10-40 s), long enough to be killed mid-way


class Cluster:
    """The processes of ``scripts/cluster.sh`` for one test module, and a REST client for its api-server."""

    def __init__(self, home: Path, meta_db: str, lineage_url: str) -> None:
        self.home = home
        self.state = home / "cluster"
        self.lineage_url = lineage_url
        bin_dir = str(Path(sys.executable).parent)
        self.env = {k: v for k, v in os.environ.items() if not k.startswith(("AIRFLOW", "AUTOTEST"))}
        self.env.update(
            PATH=f"{bin_dir}:{os.environ.get('PATH', '')}",
            PYTHONPATH=str(ROOT),
            AUTOTEST_HOME=str(home),
            AUTOTEST_API_PORT=str(API_PORT),
            AUTOTEST_WORKER_LOG_PORT="28793",
            AUTOTEST_TRIGGERER_LOG_PORT="28790",
            AUTOTEST_REDIS_URL=f"redis://127.0.0.1:6379/{REDIS_DB}",
            AUTOTEST_META_DB=meta_db,
            AUTOTEST_DB_URL=lineage_url,
            AUTOTEST_PROGRESS_INTERVAL_S="5",
            AIRFLOW__SCHEDULER__USE_JOB_SCHEDULE="False",  # only the runs this test makes
            OMP_NUM_THREADS="1",
        )
        self._token: str | None = None

    def sh(self, *args: str, timeout: int = 300, check: bool = True) -> subprocess.CompletedProcess[str]:
        proc = subprocess.run(
            ["bash", "-c", 'source scripts/cluster_env.sh && exec "$@"', "sh", *args],
            cwd=ROOT, env=self.env, capture_output=True, text=True, timeout=timeout,
        )  # fmt: skip
        if check:
            assert proc.returncode == 0, f"{args} exited {proc.returncode}:\n{proc.stdout[-3000:]}\n{proc.stderr[-3000:]}"
        return proc

    def pids(self) -> dict[str, int]:
        return {p.stem: int(p.read_text()) for p in self.state.glob("*.pid") if p.read_text().strip()}

    @staticmethod
    def kill_tree(pid: int) -> None:
        """SIGKILL ``pid`` and every process below it (Airflow runs each task in a process group of its own)."""
        import psutil

        try:
            root = psutil.Process(pid)
            procs = [root, *root.children(recursive=True)]
        except psutil.NoSuchProcess:
            return
        for proc in procs:
            with contextlib.suppress(psutil.NoSuchProcess):
                proc.kill()
        psutil.wait_procs(procs, timeout=10)

    def kill_all(self) -> None:
        """Last resort after ``cluster.sh stop``: SIGKILL every recorded process group and what runs below it."""
        for pid in self.pids().values():
            self.kill_tree(pid)
            with contextlib.suppress(ProcessLookupError):
                os.killpg(pid, signal.SIGKILL)

    # -- REST ---------------------------------------------------------------------------------------------------

    def api(self, method: str, path: str, body: dict | None = None) -> tuple[int, Any]:
        if self._token is None:
            password = json.loads((self.home / "airflow" / "passwords.json").read_text())["admin"]
            _, got = self._request("POST", "/auth/token", {"username": "admin", "password": password}, auth=False)
            self._token = got["access_token"]
        return self._request(method, path, body)

    def _request(self, method: str, path: str, body: dict | None, auth: bool = True) -> tuple[int, Any]:
        req = urllib.request.Request(f"http://localhost:{API_PORT}{path}", method=method, data=json.dumps(body).encode() if body else None)
        req.add_header("Content-Type", "application/json")
        if auth:
            req.add_header("Authorization", f"Bearer {self._token}")
        try:
            with urllib.request.urlopen(req, timeout=30) as resp:
                return resp.status, json.loads(resp.read() or b"null")
        except urllib.error.HTTPError as err:
            return err.code, err.read().decode()

    def task_instances(self, run_id: str) -> list[dict]:
        status, got = self.api("GET", f"/api/v2/dags/{DAG_ID}/dagRuns/{run_id}/taskInstances?limit=100")
        assert status == 200, got
        return got["task_instances"]

    def run_state(self, run_id: str) -> str:
        status, got = self.api("GET", f"/api/v2/dags/{DAG_ID}/dagRuns/{run_id}")
        assert status == 200, got
        return got["state"]

    def task_log(self, run_id: str, task_id: str, map_index: int, try_number: int) -> str:
        path = f"/api/v2/dags/{DAG_ID}/dagRuns/{run_id}/taskInstances/{task_id}/logs/{try_number}?map_index={map_index}"
        status, got = self.api("GET", path)
        assert status == 200, got
        return json.dumps(got)


def _psql(sql: str) -> None:
    subprocess.run(["psql", "-h", "127.0.0.1", "-U", "postgres", "-d", "postgres", "-qc", sql], check=True, capture_output=True)


def _wait(what: str, predicate, timeout: float, every: float = 2.0):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if value := predicate():
            return value
        time.sleep(every)
    pytest.fail(f"timed out after {timeout:.0f}s waiting for {what}")


@pytest.fixture(scope="module")
def cluster(tmp_path_factory: pytest.TempPathFactory, pg_schema_url: str) -> Iterator[Cluster]:
    import redis

    client = redis.Redis(host="127.0.0.1", port=6379, db=REDIS_DB)
    try:
        client.flushdb()  # no message left by an earlier, aborted session
    except redis.exceptions.ConnectionError:
        if os.environ.get("CI"):  # CI has Redis (scripts/test.sh starts it): a missing broker is a failure there
            pytest.fail("Redis is not answering on 127.0.0.1:6379; scripts/test.sh starts it, check redis-server")
        pytest.skip("Redis is not answering on 127.0.0.1:6379")
    meta_db = f"autotest_cluster_meta_{os.getpid()}_{int(time.time())}"
    _psql(f"CREATE DATABASE {meta_db}")
    c = Cluster(tmp_path_factory.mktemp("cluster_home"), meta_db, pg_schema_url)
    started = time.monotonic()
    try:
        c.sh("scripts/cluster.sh", "start")
        _wait("the DAG to be serialized", lambda: c.api("GET", f"/api/v2/dags/{DAG_ID}")[0] == 200, 120)
        print(f"cluster up in {time.monotonic() - started:.0f}s")
        yield c
    finally:
        stopping = time.monotonic()
        subprocess.run(["scripts/cluster.sh", "stop"], cwd=ROOT, env=c.env, capture_output=True, timeout=120)
        c.kill_all()
        print(f"cluster stopped in {time.monotonic() - stopping:.0f}s; session {time.monotonic() - started:.0f}s")
        client.flushdb()
        _psql(f"DROP DATABASE IF EXISTS {meta_db} WITH (FORCE)")


def test_celery_executor_class_loads() -> None:
    """The pins load the executor itself (importing the provider alone passed with the broken celery 5.7)."""
    code = "from airflow.executors.executor_loader import ExecutorLoader; print(ExecutorLoader.import_default_executor_cls()[0].__name__)"
    env = {**os.environ, "AIRFLOW__CORE__EXECUTOR": "CeleryExecutor"}
    proc = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0 and "CeleryExecutor" in proc.stdout, proc.stderr[-2000:]


@pytest.fixture(scope="module")
def lost_worker_week(cluster: Cluster) -> dict:
    """The REST-triggered week: two trainings run at once, one per worker; the one whose worker is killed -9 is
    retried on the other; the killed worker is restarted once the retry runs, and the week runs to its end."""
    c = cluster
    backfill = _check_backfill(c)
    assert c.api("PATCH", f"/api/v2/dags/{DAG_ID}", {"is_paused": False})[0] == 200
    logical = f"{WEEK.isoformat()}T02:00:00Z"
    conf = {"preset": "demo", "timesteps_scale": SCALE}
    status, run = c.api("POST", f"/api/v2/dags/{DAG_ID}/dagRuns", {"logical_date": logical, "conf": conf})
    assert status == 200, run
    run_id = run["dag_run_id"]
    t0 = time.monotonic()

    def victim() -> dict | None:
        # two trainings at once, one on each worker (no prefetch: a busy worker takes no second task), and one of
        # them with a checkpoint on disk to resume from
        running = [t for t in c.task_instances(run_id) if t["task_id"].startswith("train_") and t["state"] == "running"]
        if len({t["hostname"] for t in running}) < 2:
            return None
        for t in running:
            model_dir = c.home / "runs" / WEEK.isoformat() / "models" / t["rendered_map_index"]
            if list((model_dir / "checkpoints").glob("ckpt-*.json")):
                return {"running": running, "victim": t}
        return None

    seen = _wait("two trainings on two workers, one checkpointed", victim, 240, every=1.0)
    killed = seen["victim"]
    worker = killed["hostname"].split(".", 1)[0]  # w1.host -> w1
    c.kill_tree(c.pids()[f"worker-{worker[1:]}"])  # the worker and its running task: a lost machine
    killed_at = time.monotonic()
    # while the scheduler waits out the lost task's heartbeat, the same api-server answers the trigger checks
    triggers = _check_triggers(c, run_id) | {"backfill 2024-08-11": backfill}

    def retried() -> dict | None:
        for t in c.task_instances(run_id):
            same = (t["task_id"], t["map_index"]) == (killed["task_id"], killed["map_index"])
            if same and t["try_number"] == 2 and t["state"] in ("running", "success"):
                return t
        return None

    retry = _wait("the killed task's retry to run", retried, 240, every=1.0)
    recovered_s = time.monotonic() - killed_at
    c.sh("scripts/cluster.sh", "start-worker", worker[1:])  # the lost worker comes back
    _wait("the run to finish", lambda: c.run_state(run_id) in ("success", "failed"), 300, every=3.0)
    return {
        "run_id": run_id, "seen": seen, "killed": killed, "retry": retry, "recovered_s": recovered_s,
        "state": c.run_state(run_id), "elapsed_s": time.monotonic() - t0, "triggers": triggers,
    }  # fmt: skip


def test_week_succeeds_on_two_workers_despite_a_lost_one(cluster: Cluster, lost_worker_week: dict) -> None:
    c, w = cluster, lost_worker_week
    killed = w["killed"]
    print(f"lost {killed['rendered_map_index']} on {killed['hostname']}, retried after {w['recovered_s']:.0f}s, run {w['elapsed_s']:.0f}s")
    assert w["state"] == "success"
    tis = c.task_instances(w["run_id"])
    assert all(t["state"] in ("success", "skipped") for t in tis), [(t["task_id"], t["map_index"], t["state"]) for t in tis]
    # both workers ran tasks: the two trainings seen at once ran on distinct hosts
    assert len({t["hostname"] for t in w["seen"]["running"]}) == 2
    # the killed task was retried on the other worker, within the ~2 minutes the deployment is tuned for
    assert w["retry"]["hostname"] != w["killed"]["hostname"]
    assert w["recovered_s"] < 150, f"the lost task took {w['recovered_s']:.0f}s to be retried"
    log = c.task_log(w["run_id"], w["killed"]["task_id"], w["killed"]["map_index"], 2)
    assert "resumed from checkpoint at step" in log, log[-2000:]
    assert "steps/s" in log and "ETA" in log and "mean episode reward" in log, log[-2000:]


def test_lineage_has_the_week_once(cluster: Cluster, lost_worker_week: dict) -> None:
    from sqlalchemy import create_engine, text

    from autotest_lib.registry import LineageStore

    store = LineageStore(cluster.lineage_url)
    week = store.get_week(WEEK)  # the REST trigger's logical date gave this week's cutoff
    assert week is not None and week.status == "done"
    models = store.list_models(week=WEEK)
    assert sorted(m.role for m in models) == ["explorer"] * 3
    evals = store.evaluations(week=WEEK, window="validation")
    assert sorted(e.model_id for e in evals) == sorted(m.model_id for m in models)
    killed = store.get_model(lost_worker_week["killed"]["rendered_map_index"])
    assert killed.status in ("active", "archived") and killed.cumulative_timesteps >= 4096 * SCALE
    store.close()
    engine = create_engine(cluster.lineage_url)
    with engine.connect() as conn:  # the killed try and its retry left one row each, not two
        counts = {
            table: conn.execute(text(f"SELECT count(*) FROM {table} WHERE week = :w"), {"w": WEEK}).scalar_one()
            for table in ("training_runs", "evaluations")
        }
        n_models = conn.execute(text("SELECT count(*) FROM models WHERE created_week = :w"), {"w": WEEK}).scalar_one()
    engine.dispose()
    assert n_models == 3 and counts["training_runs"] == 3, (n_models, counts)
    assert counts["evaluations"] == 3 * len({e.window_name for e in evals}), counts


def _check_triggers(c: Cluster, week_run_id: str) -> dict[str, str]:
    """REST (the UI form posts the same) and ``autotest trigger --week``: the data interval end (the cutoff) of
    each run, and the refusal of a second run for a week. The extra run queues behind the week
    (max_active_runs=1) and is deleted, as the refusal suggests."""
    got = {}
    _, rest = c.api("GET", f"/api/v2/dags/{DAG_ID}/dagRuns/{week_run_id}")
    got["rest 2024-09-01"] = rest["data_interval_end"][:16]

    out = c.sh("autotest", "trigger", "--week", "2024-09-08", "--conf", '{"preset": "demo"}').stdout
    run_id = "manual__2024-09-08T02:00:00+00:00"
    _, run = c.api("GET", f"/api/v2/dags/{DAG_ID}/dagRuns/{run_id}")
    got["autotest trigger 2024-09-08"] = run["data_interval_end"][:16]
    assert "cutoff 2024-09-08 02:00 UTC" in out, out
    # a week that has a run: refused, saying how to re-run it; REST answers 409 for the same logical date
    dup = c.sh("autotest", "trigger", "--week", "2024-09-08", check=False)
    got["duplicate"] = dup.stderr.strip().splitlines()[-1] if dup.stderr.strip() else ""
    got["rest duplicate status"] = str(c.api("POST", f"/api/v2/dags/{DAG_ID}/dagRuns", {"logical_date": "2024-09-08T02:00:00Z"})[0])
    got["delete status"] = str(c.api("DELETE", f"/api/v2/dags/{DAG_ID}/dagRuns/{run_id}")[0])  # as the hint says

    return got


def _check_backfill(c: Cluster) -> str:
    """``airflow backfill create`` while the DAG is paused (a backfill ignores the DAG's max_active_runs, so it
    would run next to the week): its run's cutoff, then the backfill is cancelled and its run deleted."""
    args = ("--dag-id", DAG_ID, "--from-date", "2024-08-11", "--to-date", "2024-08-12", "--max-active-runs=1")
    c.sh("airflow", "backfill", "create", *args)
    _, runs = c.api("GET", f"/api/v2/dags/{DAG_ID}/dagRuns")
    backfill = [r for r in runs["dag_runs"] if r["run_type"] == "backfill"]
    _, backfills = c.api("GET", f"/api/v2/backfills?dag_id={DAG_ID}")
    for b in backfills["backfills"]:
        assert c.api("PUT", f"/api/v2/backfills/{b['id']}/cancel")[0] == 200
    for r in backfill:
        assert c.api("DELETE", f"/api/v2/dags/{DAG_ID}/dagRuns/{r['dag_run_id']}")[0] == 204
    # a run's logical date is its week's start, its cutoff the interval's end
    return ",".join(r["data_interval_end"][:16] for r in backfill)


def test_every_trigger_gets_the_weeks_cutoff(lost_worker_week: dict) -> None:
    got = lost_worker_week["triggers"]
    assert got["rest 2024-09-01"] == "2024-09-01T02:00"
    assert got["autotest trigger 2024-09-08"] == "2024-09-08T02:00"
    assert got["backfill 2024-08-11"] == "2024-08-18T02:00"
    assert "clear it with `airflow dags clear" in got["duplicate"] and "or delete it" in got["duplicate"], got["duplicate"]
    assert got["rest duplicate status"] == "409"
    assert got["delete status"] == "204"
