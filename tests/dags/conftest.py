"""Running the real DAGs: an Airflow home of its own per test module, lineage in a fresh PostgreSQL schema."""

from __future__ import annotations

import datetime as dt
import json
import os
import re
import sqlite3
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]


class AirflowHarness:
    """``airflow`` CLI calls against one temporary Airflow home (SQLite metadata) and ``AUTOTEST_HOME``."""

    def __init__(self, home: Path, lineage_url: str) -> None:
        self.home = home
        self.url = lineage_url
        self.env = {k: v for k, v in os.environ.items() if not k.startswith(("AIRFLOW", "AUTOTEST_DB_URL"))}
        self.env.update(
            AUTOTEST_HOME=str(home),
            AUTOTEST_DB_URL=lineage_url,
            AIRFLOW_HOME=str(home / "airflow"),
            AIRFLOW__CORE__DAGS_FOLDER=str(ROOT / "dags"),
            AIRFLOW__CORE__LOAD_EXAMPLES="False",
            AIRFLOW__CORE__PARALLELISM="4",
            AIRFLOW__API_AUTH__JWT_SECRET="x" * 64,
            OMP_NUM_THREADS="1",  # one torch thread per task, as the workers run (tiny nets: threads only contend)
            PATH=f"{Path(sys.executable).parent}:{os.environ.get('PATH', '')}",
        )
        for args in (("db", "migrate"), ("pools", "set", "autotest_training", "2", "PPO training")):
            proc = self.airflow(*args)
            assert proc.returncode == 0, proc.stderr[-3000:]

    def airflow(self, *args: str, timeout: int = 900) -> subprocess.CompletedProcess[str]:
        airflow = str(Path(sys.executable).with_name("airflow"))
        return subprocess.run([airflow, *args], env=self.env, cwd=ROOT, capture_output=True, text=True, timeout=timeout)

    def dags_test(self, dag_id: str, week: dt.date, conf: dict) -> str:
        """Run one week of ``dag_id`` in-process; fail unless the run succeeded and no task ended failed.

        ``airflow dags test`` exits 0 even when tasks fail, and a run whose leaves ran ``all_done`` can still end
        ``success``, so both the run's final state and every task's last state are read from its log.
        """
        out, state = self.dags_run(dag_id, week, conf)
        assert state == "success", out[-3000:]
        failed = [line for line in out.splitlines() if "new_state=failed" in line]
        assert not failed, "\n".join(failed[:10])
        return out

    def dags_run(self, dag_id: str, week: dt.date, conf: dict) -> tuple[str, str]:
        """Run one week of ``dag_id`` in-process, whatever its outcome: its log and the run's final state.

        ``airflow dags test`` exits 1 when the run failed, 0 otherwise (even with failed tasks).
        """
        proc = self.airflow("dags", "test", dag_id, f"{week.isoformat()}T02:00:00+00:00", "-c", json.dumps(conf))
        out = proc.stdout
        finished = next((line for line in out.splitlines() if "DagRun Finished" in line), "")
        match = re.search(r"state=(\w+), run_type", finished)
        assert match, f"dags test {dag_id} {week} did not finish a run:\n{out[-4000:]}\n{proc.stderr[-4000:]}"
        assert proc.returncode == (1 if match.group(1) == "failed" else 0), proc.stderr[-3000:]
        return out, match.group(1)

    def task_states(self, dag_id: str, out: str) -> dict[str, list[str]]:
        """Every task's final states (one per map index) in the run whose ``dags test`` log is ``out``, read from
        this home's SQLite metadata DB (the CLI would cost an Airflow start per call)."""
        run_id = re.search(r"DagRun Finished: .*?run_id=([^,]+),", out).group(1)
        with sqlite3.connect(self.home / "airflow" / "airflow.db") as db:
            rows = db.execute(
                "SELECT task_id, state FROM task_instance WHERE dag_id = ? AND run_id = ? ORDER BY task_id, map_index", (dag_id, run_id)
            ).fetchall()
        states: dict[str, list[str]] = {}
        for task_id, state in rows:
            states.setdefault(task_id, []).append(state)
        return states


@pytest.fixture(scope="module")
def airflow_harness(tmp_path_factory: pytest.TempPathFactory, pg_schema_url: str) -> AirflowHarness:
    """A fresh Airflow home and ``AUTOTEST_HOME`` for this module, lineage in its own PostgreSQL schema."""
    return AirflowHarness(tmp_path_factory.mktemp("autotest_home"), pg_schema_url)
