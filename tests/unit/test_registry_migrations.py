"""The schema comes only from Alembic revisions, and the revisions agree with the ORM (SQLite and PostgreSQL)."""

from __future__ import annotations

import threading
from pathlib import Path

import pytest
from sqlalchemy import Column, Connection, Integer, inspect, text

from autotest_lib.registry import LineageStore, SchemaError, current_revision, downgrade, head_revision, make_engine, schema_diff, upgrade
from autotest_lib.registry.models import Base

REGISTRY_TABLES = {t.name for t in Base.metadata.sorted_tables}


def _tables(url: str) -> set[str]:
    engine = make_engine(url)
    try:
        return set(inspect(engine).get_table_names())
    finally:
        engine.dispose()


def test_fresh_database_upgrades_to_head_matching_the_models(db_url: str) -> None:
    downgrade(db_url, "base")
    with pytest.raises(SchemaError, match="autotest db upgrade"):
        LineageStore(db_url)
    assert _tables(db_url) & REGISTRY_TABLES == set(), "the store must not create tables"
    assert current_revision(db_url) is None

    assert upgrade(db_url) == head_revision()
    assert current_revision(db_url) == head_revision()
    assert _tables(db_url) >= REGISTRY_TABLES
    assert schema_diff(db_url) == []
    assert upgrade(db_url) == head_revision()  # idempotent
    LineageStore(db_url).close()


def test_schema_diff_notices_drift(db_url: str) -> None:
    upgrade(db_url)
    engine = make_engine(db_url)
    try:
        with engine.begin() as conn:
            conn.execute(text("CREATE TABLE stray (id INTEGER PRIMARY KEY)"))
            conn.execute(text("CREATE INDEX ix_stray_models_role ON models (role)"))
        diff = schema_diff(db_url)
        assert {d[0] for d in diff if isinstance(d, tuple)} >= {"remove_table", "remove_index"}
    finally:
        with engine.begin() as conn:
            conn.execute(text("DROP INDEX ix_stray_models_role"))
            conn.execute(text("DROP TABLE stray"))
        engine.dispose()
    assert schema_diff(db_url) == []


def test_downgrade_to_base_drops_everything_and_upgrade_restores(db_url: str) -> None:
    upgrade(db_url)
    assert downgrade(db_url, "base") is None
    assert _tables(db_url) & REGISTRY_TABLES == set()
    assert upgrade(db_url) == head_revision()
    assert schema_diff(db_url) == []


def test_concurrent_upgrades_are_serialised(db_url: str) -> None:
    """Several tasks running `db upgrade` at the same moment on an empty database: one migrates, all succeed."""
    downgrade(db_url, "base")
    barrier, results, errors = threading.Barrier(4), [], []

    def run() -> None:
        barrier.wait(timeout=30)
        try:
            results.append(upgrade(db_url))
        except Exception as exc:
            errors.append(exc)

    threads = [threading.Thread(target=run) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=60)
    assert errors == [] and results == [head_revision()] * 4
    assert schema_diff(db_url) == []


def test_sqlite_batch_migrations_can_rebuild_referenced_tables(tmp_path: Path) -> None:
    """Future revisions that alter `models` on SQLite copy the table; with children referencing it that needs FKs off."""
    from alembic.operations import Operations
    from alembic.runtime.migration import MigrationContext

    from autotest_lib.registry.migrate import _with_connection

    url = f"sqlite:///{tmp_path / 'batch.sqlite'}"
    upgrade(url)
    with LineageStore(url) as store:
        store.upsert_model("p", role="explorer", created_week="2024-01-07", tickers=["AAPL"], hyperparameters={})
        store.upsert_model("c", role="refiner", created_week="2024-01-14", tickers=["AAPL"], hyperparameters={}, parent_id="p")
        store.record_training_run("c", "2024-01-14", steps_added=1, base_lr=1e-3, train_start="2020-01-01", train_end="2024-01-01")

    def rebuild_models(conn: Connection) -> None:
        with Operations(MigrationContext.configure(conn)).batch_alter_table("models", recreate="always") as batch:
            batch.add_column(Column("probe", Integer, nullable=True))

    _with_connection(url, rebuild_models, migrating=True)
    with LineageStore(url, check_schema=False) as store:
        assert [s.model.model_id for s in store.ancestry("c")] == ["p", "c"] and len(store.training_runs("c")) == 1
