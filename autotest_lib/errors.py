"""Exceptions raised by autotest_lib. Each message says what was wrong, where, and what to do.

Data errors come in two kinds the DAG layer treats differently:

- :class:`PermanentDataError`: retrying cannot help (no data for the window, a stale source, an unknown
  ticker, a malformed file, prices that fail validation). Fail the task at once, without retries.
- :class:`TransientDataError`: the network or a database did not answer. Retrying later may succeed.

A plain :class:`DataError` raised elsewhere (e.g. by the environment on a bad market) counts as permanent:
:func:`is_permanent` says which to retry.
"""

from __future__ import annotations

import re

__all__ = [
    "AutotestError",
    "BundleError",
    "ConfigError",
    "DataError",
    "PermanentDataError",
    "TransientDataError",
    "WeekError",
    "WeekSkipped",
    "is_permanent",
    "redact",
]

# scheme://user:password@ (greedy up to the last @ of the token: a password may hold a raw @), and libpq's password=...
_URL_CREDENTIALS = re.compile(r"(?P<head>[A-Za-z][\w+.-]*://[^:/@\s'\"]*:)[^\s'\"]*@")
_KEYWORD_PASSWORD = re.compile(r"(?P<head>\bpassword\s*=\s*)('[^']*'|\"[^\"]*\"|[^\s,;&]+)", re.IGNORECASE)


def redact(text: str) -> str:
    """``text`` with every URL password and ``password=...`` value replaced by ``***``, for messages and logs.

    :param text: any message that might quote a database or source URL.
    """
    text = _URL_CREDENTIALS.sub(lambda m: f"{m['head']}***@", text)
    return _KEYWORD_PASSWORD.sub(lambda m: f"{m['head']}***", text)


class AutotestError(Exception):
    """Base class of every error this library raises on purpose."""


class DataError(AutotestError, ValueError):
    """Prices or features are missing, inconsistent or would leak the future."""


class PermanentDataError(DataError):
    """A data error that a retry cannot fix: no data, stale source, unknown ticker, bad file, invalid prices."""


class TransientDataError(DataError):
    """A data error from a source that did not answer (network, database): retrying may succeed."""


class ConfigError(AutotestError, ValueError):
    """A config file, preset or override is invalid; the message names the field and the value."""


class BundleError(AutotestError):
    """A model bundle is missing, incomplete or fails its sha256 check."""


class WeekError(AutotestError):
    """A week cannot run as asked (e.g. out of order after later weeks were selected); the message says why."""


class WeekSkipped(AutotestError):
    """The week's remaining steps must not run (its inputs failed, or nothing trained); not an error of its own:
    the DAG skips the task and what follows it, leaving the one red task that caused it."""


def is_permanent(exc: BaseException) -> bool:
    """Whether retrying the task that raised ``exc`` is pointless.

    True for :class:`ConfigError`, every :class:`DataError` except :class:`TransientDataError`, a broken
    :class:`BundleError` and a refused :class:`WeekError`.
    """
    if isinstance(exc, TransientDataError):
        return False
    return isinstance(exc, (DataError, ConfigError, BundleError, WeekError))
