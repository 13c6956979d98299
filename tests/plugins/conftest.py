"""A lineage DB filled by real tiny weeks and a real Airflow api-server that loads plugins/ on top of it.

Two demo weeks of the weekly pipeline and one two-round PBT run go through the same task functions the DAGs
call (tiny PPO models on the bundled prices), so the page has continuations, a curriculum promotion, PBT
exploits and champions to show. The api-server is started in its own process group and stopped with it.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import json
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

ROOT = Path(__file__).resolve().parents[2]
if str(ROOT / "plugins") not in sys.path:  # as Airflow does for its plugins folder: `import autotest_ui` works
    sys.path.insert(0, str(ROOT / "plugins"))
WEEKS = (dt.date(2024, 8, 25), dt.date(2024, 9, 1))
PORTS = range(38000, 39000)


def run_week(cutoff: dt.date) -> None:
    """One week of the weekly DAG's tasks in order, in-process (selection included)."""
    from autotest_lib.tasks import weekly as tasks

    week = tasks.start_week({"preset": "demo"}, dt.datetime.combine(cutoff, dt.time(2), tzinfo=dt.UTC))
    tasks.ingest(week)
    ids = tasks.plan(week)
    for role in ("explorer", "refiner", "champion"):
        for model_id in ids[role]:
            tasks.train_one(week, model_id)
    for model_id in tasks.candidates(week):
        tasks.backtest_one(week, model_id)
    tasks.select(week)


def run_pbt(cutoff: dt.date, rounds: int = 2) -> None:
    """One run of the PBT DAG's tasks, ``rounds`` rounds (train, evaluate, exploit/explore each), in-process."""
    from autotest_lib.tasks import pbt as tasks

    run = tasks.start({"preset": "demo", "rounds": rounds}, dt.datetime.combine(cutoff, dt.time(2), tzinfo=dt.UTC), max_rounds=rounds)
    for index in range(1, rounds + 1):
        for model_id in tasks.round_members(run, index) or ():
            tasks.train_member(run, model_id)
            tasks.evaluate_member(run, model_id)
        tasks.evaluate_round(run, index)
        tasks.exploit(run, index)
    tasks.finish(run)


def fill_lineage_db(url: str, home: Path) -> None:
    """Two real demo weeks and a two-round PBT run into the lineage DB at ``url`` (outputs under ``home``)."""
    from autotest_lib.registry import upgrade

    upgrade(url)
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("AUTOTEST_DB_URL", url)
        mp.setenv("AUTOTEST_HOME", str(home))
        for week in WEEKS:
            run_week(week)
        run_pbt(WEEKS[-1])


def _free_port() -> int:
    for port in PORTS:
        with socket.socket() as sock:
            try:
                sock.bind(("127.0.0.1", port))
            except OSError:
                continue
            return port
    raise RuntimeError(f"no free port in {PORTS.start}-{PORTS.stop - 1} for the test api-server")


class ApiServer:
    """``airflow api-server`` on 127.0.0.1 with this repository's plugins/, its own Airflow home, SQLite metadata."""

    def __init__(self, home: Path, lineage_url: str) -> None:
        self.home = home
        self.port = _free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.log = home / "api-server.log"
        self.env = {k: v for k, v in os.environ.items() if not k.startswith(("AIRFLOW", "AUTOTEST_DB_URL"))}
        self.env.update(
            AIRFLOW_HOME=str(home / "airflow"),
            AIRFLOW__CORE__PLUGINS_FOLDER=str(ROOT / "plugins"),
            AIRFLOW__CORE__DAGS_FOLDER=str(home / "no_dags"),
            AIRFLOW__CORE__LOAD_EXAMPLES="False",
            AIRFLOW__API__WORKERS="1",
            AIRFLOW__API_AUTH__JWT_SECRET="p" * 64,
            AIRFLOW__API__SECRET_KEY="autotest-plugin-tests",
            AUTOTEST_DB_URL=lineage_url,
            PYTHONPATH=os.pathsep.join(p for p in (str(ROOT), os.environ.get("PYTHONPATH", "")) if p),
            PATH=f"{Path(sys.executable).parent}:{os.environ.get('PATH', '')}",
        )
        (home / "no_dags").mkdir(parents=True, exist_ok=True)
        airflow = str(Path(sys.executable).with_name("airflow"))
        script = f'"{airflow}" db migrate && exec "{airflow}" api-server --host 127.0.0.1 --port {self.port}'
        with open(self.log, "wb") as out:
            self.proc = subprocess.Popen(
                ["bash", "-c", script],
                env=self.env,
                stdout=out,
                stderr=subprocess.STDOUT,
                start_new_session=True,  # its own process group: stop() ends the server and every worker it forked
            )

    def wait_up(self, timeout: float = 300.0) -> None:
        """Block until the server answers (the metadata migration runs first), or fail with its log."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"api-server exited with {self.proc.returncode}:\n{self.log.read_text()[-4000:]}")
            try:
                if httpx.get(f"{self.url}/api/v2/version", timeout=2).status_code == 200:
                    return
            except httpx.HTTPError:
                pass
            time.sleep(0.5)
        self.stop()
        raise RuntimeError(f"api-server did not answer on {self.url} within {timeout:.0f} s:\n{self.log.read_text()[-4000:]}")

    @property
    def password(self) -> str:
        """The admin password the simple auth manager generated for this Airflow home."""
        path = Path(self.env["AIRFLOW_HOME"]) / "simple_auth_manager_passwords.json.generated"
        return json.loads(path.read_text())["admin"]

    def token(self) -> str:
        """A JWT for the admin user (``POST /auth/token``)."""
        response = httpx.post(f"{self.url}/auth/token", json={"username": "admin", "password": self.password}, timeout=30)
        assert response.status_code in (200, 201), response.text
        return response.json()["access_token"]

    def stop(self) -> None:
        """SIGTERM the server's process group, SIGKILL it if it is still there after 10 s."""
        if self.proc.poll() is not None:
            return
        pgid = os.getpgid(self.proc.pid)
        os.killpg(pgid, signal.SIGTERM)
        try:
            self.proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            os.killpg(pgid, signal.SIGKILL)
            self.proc.wait(timeout=10)
        with contextlib.suppress(ProcessLookupError):  # workers that outlived their parent
            os.killpg(pgid, signal.SIGKILL)


@pytest.fixture(scope="module")
def api_server(pg_schema_url: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[ApiServer]:
    """A running api-server whose AUTOTEST page reads a lineage DB filled by :func:`fill_lineage_db`; the server
    starts (and migrates its metadata DB) while the weeks train."""
    server = ApiServer(tmp_path_factory.mktemp("api_server"), pg_schema_url)
    try:
        fill_lineage_db(pg_schema_url, tmp_path_factory.mktemp("autotest_home"))
        server.wait_up()
        yield server
    finally:
        server.stop()


@pytest.fixture(scope="module")
def lineage_db(api_server: ApiServer) -> str:
    """The URL of the lineage DB the api-server reads, once it is filled."""
    return api_server.env["AUTOTEST_DB_URL"]
