"""Schema migrations: Alembic, driven from code (no alembic.ini), scripts inside the package.

``upgrade(url)`` is what ``autotest db upgrade`` runs. The store never creates tables; it refuses a database
that is not at :func:`head_revision` with :class:`~autotest_lib.registry.errors.SchemaError`.
"""

from __future__ import annotations

import functools
from pathlib import Path
from typing import Any

from alembic import command
from alembic.autogenerate import compare_metadata
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import Connection, Engine, text

from autotest_lib.registry.db import make_engine, mask_url, resolve_db_url
from autotest_lib.registry.errors import SchemaError

__all__ = [
    "MIGRATIONS_DIR",
    "alembic_config",
    "assert_schema_current",
    "current_revision",
    "downgrade",
    "head_revision",
    "make_revision",
    "schema_diff",
    "upgrade",
]

MIGRATIONS_DIR = Path(__file__).resolve().with_name("migrations")
_PG_LOCK_KEY = 0x617574_6F74  # "autot": serialises concurrent `db upgrade` runs on one PostgreSQL database


def alembic_config(connection: Connection | None = None, url: str | None = None) -> Config:
    """An Alembic :class:`Config` built in code: script location inside the package, no ini file.

    :param connection: an open connection the migration runs on (its transaction is used); preferred.
    :param url: otherwise, a database URL ``env.py`` opens with :func:`~autotest_lib.registry.db.make_engine`.
    """
    cfg = Config()
    cfg.set_main_option("script_location", str(MIGRATIONS_DIR).replace("%", "%%"))
    cfg.set_main_option("file_template", "%%(rev)s_%%(slug)s")
    if connection is not None:
        cfg.attributes["connection"] = connection
    if url is not None:
        cfg.attributes["url"] = url
    return cfg


@functools.cache
def head_revision() -> str:
    """The newest revision shipped with this code."""
    head = ScriptDirectory.from_config(alembic_config()).get_current_head()
    if head is None:
        raise SchemaError(f"no Alembic revisions found under {MIGRATIONS_DIR}")
    return head


def _current(connection: Connection) -> str | None:
    return MigrationContext.configure(connection).get_current_revision()


def _with_connection(url: str | None, fn: Any, *, migrating: bool = False, create: bool = False) -> Any:
    """Run ``fn(connection)`` in one transaction on a short-lived engine.

    ``migrating``: on SQLite, foreign keys are off while batch operations copy tables (the documented Alembic
    recipe) and checked with ``PRAGMA foreign_key_check`` before the transaction commits. ``create``: a missing
    SQLite file may be created (migrations); readers refuse it instead.
    """
    engine = make_engine(resolve_db_url(url), foreign_keys=not migrating, create=create)
    try:
        with engine.begin() as conn:
            result = fn(conn)
            if migrating and conn.dialect.name == "sqlite":
                broken = conn.exec_driver_sql("PRAGMA foreign_key_check").fetchall()
                if broken:
                    raise SchemaError(f"migration left {len(broken)} rows violating foreign keys, e.g. {broken[0]}; rolled back")
            return result
    finally:
        engine.dispose()


def upgrade(url: str | None = None, revision: str = "head") -> str | None:
    """Run ``alembic upgrade`` on the lineage database; safe to call from several tasks at once.

    :param url: database URL; None resolves it with :func:`~autotest_lib.registry.db.resolve_db_url`.
    :param revision: target revision, ``head`` by default.
    :return: the revision the database is at afterwards.
    :raises SchemaError: ``revision`` is not one of ours (checked before the database is opened or created).
    """
    _check_revision(revision)

    def run(conn: Connection) -> str | None:
        if conn.dialect.name == "postgresql":
            conn.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": _PG_LOCK_KEY})
        command.upgrade(alembic_config(conn), revision)
        return _current(conn)

    return _with_connection(url, run, migrating=True, create=True)


def _check_revision(revision: str) -> None:
    """Refuse a target revision the migration scripts do not know, naming the ones they do."""
    from alembic.util import CommandError

    script = ScriptDirectory.from_config(alembic_config())
    try:
        script.get_revisions(revision)
    except (CommandError, KeyError, ValueError) as exc:  # alembic's ResolutionError is a CommandError
        known = ", ".join(r.revision for r in script.walk_revisions())
        reason = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise SchemaError(f"unknown schema revision {revision!r} ({reason}); use head, base or one of: {known}") from None


def downgrade(url: str | None, revision: str) -> str | None:
    """Run ``alembic downgrade`` (``base`` drops every registry table).

    :param url: database URL; None resolves it.
    :param revision: target revision, e.g. ``base`` or ``-1``.
    :return: the revision the database is at afterwards.
    """
    if revision not in ("base",) and not revision.startswith("-"):
        _check_revision(revision)

    def run(conn: Connection) -> str | None:
        command.downgrade(alembic_config(conn), revision)
        return _current(conn)

    return _with_connection(url, run, migrating=True, create=True)


def current_revision(url: str | None = None) -> str | None:
    """The revision stamped in the database, None when it was never migrated.

    :param url: database URL; None resolves it.
    """
    return _with_connection(url, _current)


def schema_diff(url: str | None = None) -> list[Any]:
    """Differences between the ORM models and the database (``alembic check``); empty when they agree.

    :param url: database URL; None resolves it.
    """
    from autotest_lib.registry.models import Base

    return _with_connection(
        url, lambda conn: compare_metadata(MigrationContext.configure(conn, opts={"compare_type": True}), Base.metadata)
    )


def make_revision(message: str, url: str | None = None, autogenerate: bool = True) -> str:
    """Write a new revision file under ``migrations/versions`` (a developer tool; the database must be at head).

    :param message: short description, becomes the file's slug.
    :param url: database compared against when autogenerating.
    :param autogenerate: fill the revision from the ORM/database difference.
    :return: the path of the new file.
    """

    def run(conn: Connection) -> str:
        script = command.revision(alembic_config(conn), message=message, autogenerate=autogenerate)
        scripts = script if isinstance(script, list) else [script]
        return ", ".join(s.path for s in scripts if s is not None)

    return _with_connection(url, run, create=True)


def assert_schema_current(engine: Engine) -> None:
    """Raise :class:`SchemaError` unless the database behind ``engine`` is at :func:`head_revision`.

    :param engine: engine of the lineage database.
    """
    with engine.connect() as conn:
        current = _current(conn)
    head = head_revision()
    if current != head:
        where = mask_url(engine.url)
        state = "has no registry schema" if current is None else f"is at revision {current}"
        raise SchemaError(f"lineage database {where} {state}, this code needs {head}; run `autotest db upgrade --db {where}`")
