"""Where the lineage database lives, and engines tuned for it (SQLite WAL for parallel Airflow tasks).

Resolution order of :func:`resolve_db_url`: an explicit URL, then ``AUTOTEST_DB_URL``, then the Airflow
connection ``autotest_lineage``, then an embedded SQLite file at ``$AUTOTEST_HOME/lineage.sqlite``
(``AUTOTEST_HOME`` defaults to ``./var``). No credentials live in code: they come from the environment or
from Airflow's connection store.
"""

from __future__ import annotations

import datetime as dt
import json
import math
import os
import sys
from pathlib import Path
from typing import Any

from sqlalchemy import Engine, create_engine, event
from sqlalchemy.engine import URL, make_url

from autotest_lib.errors import redact
from autotest_lib.registry.errors import RegistryError, SchemaError

__all__ = [
    "AIRFLOW_CONN_ID",
    "DB_URL_ENV",
    "SQLITE_BUSY_TIMEOUT_MS",
    "default_sqlite_url",
    "json_dumps",
    "make_engine",
    "mask_url",
    "normalise_db_url",
    "redact",
    "resolve_db_url",
]

DB_URL_ENV = "AUTOTEST_DB_URL"
AIRFLOW_CONN_ID = "autotest_lineage"
SQLITE_BUSY_TIMEOUT_MS = 30_000
"""How long a SQLite writer waits for the lock held by another task before failing."""

_PG_DRIVER = "postgresql+psycopg2"
# libpq parameters that may ride along in an Airflow connection's extras / query string.
_LIBPQ_KEYS = frozenset(
    {"sslmode", "sslrootcert", "sslcert", "sslkey", "connect_timeout", "application_name", "options", "target_session_attrs"}
)


_SUPPORTED = ("postgresql", "sqlite")
_URL_EXAMPLE = "postgresql://USER@HOST:5432/DB (password in the URL or ~/.pgpass) or sqlite:////absolute/path/lineage.sqlite"


def _unparseable(raw: str) -> str:
    """What may be shown of a URL SQLAlchemy cannot parse: redacted, and nothing before its last ``@``."""
    shown = redact(raw)
    if "@" in shown:
        shown = "***@" + shown.rsplit("@", 1)[1]
    return shown if len(shown) <= 80 else shown[:77] + "..."


def normalise_db_url(url: str | URL) -> str:
    """Return ``url`` as a string SQLAlchemy can open, with ``postgres://`` / ``postgresql://`` mapped to psycopg2.

    :param url: a SQLAlchemy URL, or a libpq/Heroku/Airflow style ``postgres://user:pw@host:5432/db`` URI.
    :raises RegistryError: the string is not a URL at all (the message never shows its credentials).
    """
    try:
        parsed = make_url(url) if isinstance(url, str) else url
    except Exception:  # sqlalchemy.exc.ArgumentError; its message would echo the URL
        raise RegistryError(f"lineage database URL {_unparseable(str(url))!r} is not a valid URL; write it as {_URL_EXAMPLE}") from None
    if parsed.drivername in ("postgres", "postgresql"):
        parsed = parsed.set(drivername=_PG_DRIVER)
    return parsed.render_as_string(hide_password=False)


def mask_url(url: str | URL) -> str:
    """``url`` with its password replaced by ``***``, for logs and error messages.

    :param url: any SQLAlchemy URL.
    """
    try:
        return make_url(url).render_as_string(hide_password=True) if isinstance(url, str) else url.render_as_string(hide_password=True)
    except Exception:
        return _unparseable(str(url))


def default_sqlite_url() -> str:
    """The embedded database: ``sqlite:///$AUTOTEST_HOME/lineage.sqlite`` (``AUTOTEST_HOME`` defaults to ``./var``)."""
    home = Path(os.environ.get("AUTOTEST_HOME") or "var").expanduser().resolve()
    return f"sqlite:///{home / 'lineage.sqlite'}"


def resolve_db_url(explicit: str | None = None) -> str:
    """The lineage database URL: explicit > ``$AUTOTEST_DB_URL`` > Airflow connection > embedded SQLite.

    The Airflow connection ``autotest_lineage`` is read from ``$AIRFLOW_CONN_AUTOTEST_LINEAGE`` (URI or JSON
    form) without importing Airflow; inside a running Airflow process (``airflow.sdk`` already imported) it is
    also looked up through ``BaseHook.get_connection``, so connections stored in Airflow's metadata database
    or a secrets backend work too. A CLI run outside Airflow never pays for importing Airflow.

    :param explicit: a URL given by the caller (``--db``), used as is apart from driver normalisation.
    :return: a SQLAlchemy URL string; ``postgres://`` becomes ``postgresql+psycopg2://``.
    """
    if explicit:
        return normalise_db_url(explicit)
    env = os.environ.get(DB_URL_ENV, "").strip()
    if env:
        return normalise_db_url(env)
    airflow_url = _airflow_connection_url()
    if airflow_url:
        return airflow_url
    return default_sqlite_url()


def _airflow_connection_url() -> str | None:
    raw = os.environ.get(f"AIRFLOW_CONN_{AIRFLOW_CONN_ID.upper()}", "").strip()
    if raw:
        return _url_from_airflow_env(raw)
    if "airflow.sdk" not in sys.modules:
        return None
    try:
        from airflow.sdk import BaseHook

        conn = BaseHook.get_connection(AIRFLOW_CONN_ID)
    except Exception:  # AirflowNotFoundException, no supervisor, ...: fall back to the embedded database
        return None
    return _url_from_fields(
        conn_type=conn.conn_type or "",
        host=conn.host,
        login=conn.login,
        password=conn.password,
        port=conn.port,
        schema=conn.schema,
        extra=conn.extra_dejson if hasattr(conn, "extra_dejson") else {},
    )


def _url_from_airflow_env(raw: str) -> str:
    """Parse ``AIRFLOW_CONN_*``: JSON (``{"conn_type": "postgres", "host": ...}``) or a URI."""
    if raw.startswith("{"):
        try:
            data = json.loads(raw)
        except json.JSONDecodeError as exc:
            raise RegistryError(f"AIRFLOW_CONN_{AIRFLOW_CONN_ID.upper()} is neither a URI nor valid JSON: {exc}") from None
        extra = data.get("extra") or {}
        if isinstance(extra, str):
            extra = json.loads(extra) if extra.strip() else {}
        return _url_from_fields(
            conn_type=str(data.get("conn_type", "")),
            host=data.get("host"),
            login=data.get("login"),
            password=data.get("password"),
            port=data.get("port"),
            schema=data.get("schema"),
            extra=extra,
        )
    parsed = make_url(normalise_db_url(raw))
    query = {k: v for k, v in parsed.query.items() if k in _LIBPQ_KEYS}
    return normalise_db_url(parsed.set(query=query))


def _url_from_fields(
    *, conn_type: str, host: str | None, login: str | None, password: str | None, port: Any, schema: str | None, extra: dict[str, Any]
) -> str:
    kind = conn_type.lower().replace("-", "_")
    if kind in ("postgres", "postgresql"):
        query = {k: str(v) for k, v in (extra or {}).items() if k in _LIBPQ_KEYS}
        url = URL.create(
            _PG_DRIVER,
            username=login or None,
            password=password or None,
            host=host or None,
            port=int(port) if port else None,
            database=schema or None,
            query=query,
        )
        return url.render_as_string(hide_password=False)
    if kind == "sqlite":
        return f"sqlite:///{host or schema}"
    raise RegistryError(
        f"Airflow connection {AIRFLOW_CONN_ID!r} has conn_type {conn_type!r}; the lineage store needs 'postgres' or 'sqlite'"
    )


def _jsonable(value: Any) -> Any:
    if isinstance(value, float):
        return value if math.isfinite(value) else None
    if isinstance(value, dict):
        return {str(k): _jsonable(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_jsonable(v) for v in value]
    if isinstance(value, (str, int, bool)) or value is None:
        return value
    if isinstance(value, (dt.date, dt.datetime)):
        return value.isoformat()
    if hasattr(value, "tolist"):  # numpy array or scalar
        return _jsonable(value.tolist())
    raise TypeError(f"{type(value).__name__} value {value!r} cannot be stored as JSON")


def json_dumps(value: Any) -> str:
    """JSON for the JSON columns: NaN/inf become null (PostgreSQL rejects them), numpy scalars and dates are converted.

    :param value: a JSON-able structure, possibly holding numpy scalars, NaN, or dates.
    """
    return json.dumps(_jsonable(value), allow_nan=False, separators=(",", ":"))


def _check_sqlite_file(path: Path, *, create: bool) -> None:
    if path.is_file():
        with open(path, "rb") as fh:
            head = fh.read(16)
        if head and head != b"SQLite format 3\x00":
            raise RegistryError(f"{path} is not a SQLite database; point --db (or AUTOTEST_DB_URL) at the lineage database")
    elif path.exists():
        raise RegistryError(f"{path} is not a file; point --db (or AUTOTEST_DB_URL) at the lineage database file")
    elif not create:  # no database is no schema: readers show their empty state, writers say how to create it
        raise SchemaError(
            f"lineage database {path} does not exist (nothing was created); create it with `autotest db upgrade --db sqlite:///{path}`"
        )
    else:
        path.parent.mkdir(parents=True, exist_ok=True)


def make_engine(url: str, *, foreign_keys: bool = True, create: bool = True, **kwargs: Any) -> Engine:
    """An engine for the lineage database; SQLite gets WAL, a busy timeout, foreign keys and ``BEGIN IMMEDIATE``.

    ``BEGIN IMMEDIATE`` takes the write lock when a transaction starts, so two writers queue on the busy
    timeout instead of one failing with ``database is locked`` when it upgrades a read lock. WAL lets readers
    proceed while a writer holds the lock.

    :param url: SQLAlchemy URL (see :func:`resolve_db_url`); the parent folder of a SQLite file is created.
    :param foreign_keys: enforce foreign keys on SQLite; migrations turn it off while SQLite batch mode copies
        tables, then run ``PRAGMA foreign_key_check`` (PostgreSQL always enforces them).
    :param create: a SQLite file (and its folder) may be created; False (readers, the store) refuses a missing
        file instead, so a command that only reads never leaves an empty database behind.
    :param kwargs: passed to :func:`sqlalchemy.create_engine`.
    :raises RegistryError: a backend other than PostgreSQL or SQLite, a missing SQLite file (``create=False``) or a
        file that is not a SQLite database.
    """
    parsed = make_url(normalise_db_url(url))
    backend = parsed.get_backend_name()
    if backend not in _SUPPORTED:
        raise RegistryError(f"lineage database URL {mask_url(parsed)} is {backend!r}; the lineage store runs on {_URL_EXAMPLE}")
    kwargs.setdefault("json_serializer", json_dumps)
    if backend != "sqlite":
        kwargs.setdefault("pool_pre_ping", True)
        return create_engine(parsed, **kwargs)

    database = parsed.database or ""
    if database and database != ":memory:" and not database.startswith("file:"):
        _check_sqlite_file(Path(database).expanduser(), create=create)
    connect_args = dict(kwargs.pop("connect_args", {}))
    connect_args.setdefault("timeout", SQLITE_BUSY_TIMEOUT_MS / 1000)
    engine = create_engine(parsed, connect_args=connect_args, **kwargs)

    @event.listens_for(engine, "connect")
    def _sqlite_pragmas(dbapi_connection: Any, _record: Any) -> None:
        dbapi_connection.isolation_level = None  # SQLAlchemy emits BEGIN itself (below)
        cursor = dbapi_connection.cursor()
        cursor.execute(f"PRAGMA busy_timeout = {SQLITE_BUSY_TIMEOUT_MS}")
        if database and database != ":memory:":
            cursor.execute("PRAGMA journal_mode = WAL")
            cursor.execute("PRAGMA synchronous = NORMAL")
        cursor.execute(f"PRAGMA foreign_keys = {'ON' if foreign_keys else 'OFF'}")
        cursor.close()

    @event.listens_for(engine, "begin")
    def _sqlite_begin(connection: Any) -> None:
        connection.exec_driver_sql("BEGIN IMMEDIATE")

    return engine
