"""Shared fixtures.

Databases: ``db_url`` is an empty database per test module, parametrised over SQLite (a file under tmp_path) and
PostgreSQL (a fresh schema in the database named by ``AUTOTEST_TEST_PG_URL``, marked ``postgres``).
``lineage_url`` is the same database migrated to head; ``lineage_store`` a :class:`LineageStore` on it with
every table emptied before the test.
"""

from __future__ import annotations

import os
import re
import uuid
from collections.abc import Iterator

import pytest

PG_ENV = "AUTOTEST_TEST_PG_URL"


@pytest.fixture(scope="session")
def pg_url() -> str:
    """The test PostgreSQL database (set by scripts/test.sh); skips when absent."""
    url = os.environ.get(PG_ENV)
    if not url:
        pytest.skip(f"{PG_ENV} is not set: run the suite through scripts/test.sh (make test), which creates a PostgreSQL database")
    return url


@pytest.fixture(scope="module")
def pg_schema_url(request: pytest.FixtureRequest, pg_url: str) -> Iterator[str]:
    """A fresh, empty PostgreSQL schema for this test module (dropped afterwards), as a URL whose search_path is it."""
    from sqlalchemy import create_engine, text
    from sqlalchemy.engine import make_url
    from sqlalchemy.pool import NullPool

    name = f"t_{re.sub(r'[^a-z0-9]+', '_', request.module.__name__.lower())[-40:]}_{uuid.uuid4().hex[:8]}"
    engine = create_engine(pg_url, poolclass=NullPool)
    with engine.begin() as conn:
        conn.execute(text(f'CREATE SCHEMA "{name}"'))
    try:
        yield make_url(pg_url).update_query_dict({"options": f"-csearch_path={name}"}).render_as_string(hide_password=False)
    finally:
        with engine.begin() as conn:
            conn.execute(text(f'DROP SCHEMA IF EXISTS "{name}" CASCADE'))
        engine.dispose()


@pytest.fixture(scope="module", params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def db_url(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> str:
    """An empty database for this test module: SQLite, then PostgreSQL."""
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path_factory.mktemp('lineage') / 'lineage.sqlite'}"
    return request.getfixturevalue("pg_schema_url")


@pytest.fixture(scope="module")
def lineage_url(db_url: str) -> str:
    """``db_url`` migrated to the Alembic head."""
    from autotest_lib.registry import upgrade

    upgrade(db_url)
    return db_url


@pytest.fixture
def lineage_store(lineage_url: str) -> Iterator[object]:
    """A :class:`~autotest_lib.registry.LineageStore` on ``lineage_url`` with every registry table emptied first."""
    from sqlalchemy import delete

    from autotest_lib.registry import LineageStore, make_engine
    from autotest_lib.registry.models import Base

    engine = make_engine(lineage_url)
    with engine.begin() as conn:
        for table in reversed(Base.metadata.sorted_tables):
            conn.execute(delete(table))
    engine.dispose()
    with LineageStore(lineage_url) as store:
        yield store
