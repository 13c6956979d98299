"""Resolving the lineage database URL, and the SQLite engine settings that let parallel tasks write."""

from __future__ import annotations

import json
import sys
import types
from pathlib import Path

import pytest
from sqlalchemy import text

from autotest_lib.registry import RegistryError, make_engine, mask_url, normalise_db_url, resolve_db_url
from autotest_lib.registry.db import json_dumps

CONN_ENV = "AIRFLOW_CONN_AUTOTEST_LINEAGE"


@pytest.fixture(autouse=True)
def _clean_env(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    for name in ("AUTOTEST_DB_URL", CONN_ENV, "AUTOTEST_HOME"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.chdir(tmp_path)


def test_explicit_beats_env_beats_airflow_beats_sqlite(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    assert resolve_db_url() == f"sqlite:///{tmp_path / 'var' / 'lineage.sqlite'}"
    monkeypatch.setenv("AUTOTEST_HOME", str(tmp_path / "home"))
    assert resolve_db_url() == f"sqlite:///{tmp_path / 'home' / 'lineage.sqlite'}"
    monkeypatch.setenv(CONN_ENV, "postgres://air:flow@db.internal:5433/lineage")
    assert resolve_db_url() == "postgresql+psycopg2://air:flow@db.internal:5433/lineage"
    monkeypatch.setenv("AUTOTEST_DB_URL", "postgresql://env@envhost/envdb")
    assert resolve_db_url() == "postgresql+psycopg2://env@envhost/envdb"
    assert resolve_db_url("sqlite:///explicit.sqlite") == "sqlite:///explicit.sqlite"


def test_airflow_uri_keeps_escaped_passwords_and_libpq_options(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(CONN_ENV, "postgresql://u:p%40ss%2Fw@h:5432/db?sslmode=require&__extra__=%7B%7D")
    url = resolve_db_url()
    assert url == "postgresql+psycopg2://u:p%40ss%2Fw@h:5432/db?sslmode=require"
    assert make_engine(url).url.password == "p@ss/w"


def test_airflow_json_connection(monkeypatch: pytest.MonkeyPatch) -> None:
    conn = {
        "conn_type": "postgres",
        "host": "pg",
        "login": "me",
        "password": "s:cret",
        "port": 5432,
        "schema": "lineage",
        "extra": {"sslmode": "disable"},
    }
    monkeypatch.setenv(CONN_ENV, json.dumps(conn))
    assert resolve_db_url() == "postgresql+psycopg2://me:s%3Acret@pg:5432/lineage?sslmode=disable"
    monkeypatch.setenv(CONN_ENV, json.dumps({"conn_type": "mysql", "host": "x"}))
    with pytest.raises(RegistryError, match="conn_type 'mysql'"):
        resolve_db_url()


def test_connection_from_a_running_airflow(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """Inside Airflow (airflow.sdk loaded) the connection store is asked; a missing connection falls back to SQLite."""

    class Conn:
        conn_type, host, login, password, port, schema, extra_dejson = "postgres", "meta", "af", "pw", 5432, "lineage", {}

    class BaseHook:
        known = True

        @classmethod
        def get_connection(cls, conn_id: str) -> Conn:
            if not cls.known:
                raise LookupError(f"The conn_id `{conn_id}` isn't defined")
            assert conn_id == "autotest_lineage"
            return Conn()

    monkeypatch.setitem(sys.modules, "airflow.sdk", types.SimpleNamespace(BaseHook=BaseHook))
    assert resolve_db_url() == "postgresql+psycopg2://af:pw@meta:5432/lineage"
    BaseHook.known = False
    assert resolve_db_url() == f"sqlite:///{tmp_path / 'var' / 'lineage.sqlite'}"


def test_normalise_and_mask() -> None:
    assert normalise_db_url("postgres://a:b@h/d") == "postgresql+psycopg2://a:b@h/d"
    assert normalise_db_url("postgresql+psycopg2://a@h/d") == "postgresql+psycopg2://a@h/d"
    assert mask_url("postgresql+psycopg2://a:secret@h/d") == "postgresql+psycopg2://a:***@h/d"
    with pytest.raises(RegistryError, match="not a valid URL"):
        normalise_db_url("not a url")


def test_sqlite_engine_uses_wal_busy_timeout_and_foreign_keys(tmp_path: Path) -> None:
    engine = make_engine(f"sqlite:///{tmp_path / 'deep' / 'dir' / 'x.sqlite'}")
    try:
        with engine.connect() as conn:
            assert conn.exec_driver_sql("PRAGMA journal_mode").scalar() == "wal"
            assert conn.exec_driver_sql("PRAGMA busy_timeout").scalar() == 30_000
            assert conn.exec_driver_sql("PRAGMA foreign_keys").scalar() == 1
            conn.execute(text("SELECT 1"))
    finally:
        engine.dispose()
    assert (tmp_path / "deep" / "dir" / "x.sqlite").exists()


def test_json_dumps_makes_values_storable() -> None:
    np = pytest.importorskip("numpy")
    out = json.loads(json_dumps({"a": float("nan"), "b": np.float32(1.5), "c": (1, np.int64(2)), "d": np.array([0.5, np.inf])}))
    assert out == {"a": None, "b": 1.5, "c": [1, 2], "d": [0.5, None]}
    with pytest.raises(TypeError, match="cannot be stored as JSON"):
        json_dumps({"x": object()})
