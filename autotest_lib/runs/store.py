"""The lineage store a task writes to: one per database URL and process, its engine disposed at exit."""

from __future__ import annotations

import atexit
from typing import Any

from autotest_lib.registry import LineageStore, mask_url, resolve_db_url, upgrade

__all__ = ["close_stores", "migrate", "open_store"]

_STORES: dict[str, LineageStore] = {}


def open_store(url: str | None = None) -> LineageStore:
    """The process's :class:`~autotest_lib.registry.LineageStore` for ``url`` (default
    :func:`~autotest_lib.registry.resolve_db_url`): built, and its schema checked, once per URL."""
    resolved = resolve_db_url(url)
    store = _STORES.get(resolved)
    if store is None:
        store = _STORES[resolved] = LineageStore(resolved)
    return store


def close_stores() -> None:
    """Dispose every engine :func:`open_store` made (also run at interpreter exit)."""
    while _STORES:
        _STORES.popitem()[1].close()


atexit.register(close_stores)


def migrate() -> dict[str, Any]:
    """Bring the lineage database to the latest Alembic revision."""
    url = resolve_db_url()
    upgrade(url)
    return {"db": mask_url(url)}
