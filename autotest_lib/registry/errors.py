"""Errors raised by the lineage registry. Each message says what was wrong and what to do."""

from __future__ import annotations

from autotest_lib.errors import AutotestError

__all__ = ["RegistryError", "SchemaError", "UnknownModelError", "UnknownWeekError"]


class RegistryError(AutotestError):
    """The lineage database refused a read or write, or was asked for something inconsistent."""


class SchemaError(RegistryError):
    """The database is not at the Alembic head this code expects; run ``autotest db upgrade``."""


class UnknownModelError(RegistryError, LookupError):
    """A model id that is not registered (as the model itself, or as the parent of a new one)."""


class UnknownWeekError(RegistryError, LookupError):
    """A week that has no row in ``weeks``."""
