"""Exceptions raised by autotest_lib. Each message says what was wrong, where, and what to do."""

from __future__ import annotations

__all__ = ["AutotestError", "BundleError", "ConfigError", "DataError"]


class AutotestError(Exception):
    """Base class of every error this library raises on purpose."""


class DataError(AutotestError, ValueError):
    """Prices or features are missing, inconsistent or would leak the future."""


class ConfigError(AutotestError, ValueError):
    """A config file, preset or override is invalid; the message names the field and the value."""


class BundleError(AutotestError):
    """A model bundle is missing, incomplete or fails its sha256 check."""
