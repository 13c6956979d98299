"""Alembic environment: target metadata is the registry's ORM; connection or URL come from ``Config.attributes``."""

from __future__ import annotations

from alembic import context
from sqlalchemy import Connection

from autotest_lib.registry.db import make_engine, resolve_db_url
from autotest_lib.registry.models import Base

config = context.config
target_metadata = Base.metadata


def _configure(connection: Connection) -> None:
    context.configure(
        connection=connection,
        target_metadata=target_metadata,
        compare_type=True,
        render_as_batch=connection.dialect.name == "sqlite",  # SQLite ALTERs go through table copies
    )
    with context.begin_transaction():
        context.run_migrations()


def run_offline() -> None:
    """Emit SQL instead of running it (``alembic upgrade --sql``)."""
    context.configure(
        url=resolve_db_url(config.attributes.get("url")), target_metadata=target_metadata, literal_binds=True, compare_type=True
    )
    with context.begin_transaction():
        context.run_migrations()


def run_online() -> None:
    """Run on the caller's connection when given, else open one from the URL."""
    connection = config.attributes.get("connection")
    if connection is not None:
        _configure(connection)
        return
    engine = make_engine(resolve_db_url(config.attributes.get("url") or config.get_main_option("sqlalchemy.url")))
    try:
        with engine.begin() as conn:
            _configure(conn)
    finally:
        engine.dispose()


if context.is_offline_mode():
    run_offline()
else:
    run_online()
