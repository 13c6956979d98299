"""Fixtures the unit tests share."""

from __future__ import annotations

import pytest


@pytest.fixture
def sqlite_store(tmp_path):
    """A fresh lineage store on SQLite at the Alembic head."""
    from autotest_lib.registry import LineageStore, upgrade

    url = f"sqlite:///{tmp_path / 'lineage.sqlite'}"
    upgrade(url)
    with LineageStore(url) as store:
        yield store
