"""The normalised long price frame every source returns, and the day arithmetic used with it.

A price frame has exactly the columns :data:`COLUMNS`, one row per ``(ticker, date)``, sorted by
``(ticker, date)``. ``date`` is naive ``datetime64[ns]`` at midnight; prices and volume are ``float64``.
``open`` may be NaN (Yahoo records no open for some early bars and writes 0 there).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable
from typing import TypeAlias

import numpy as np
import pandas as pd

from autotest_lib.errors import PermanentDataError

__all__ = ["COLUMNS", "PRICE_COLUMNS", "DateLike", "as_day", "normalise_prices", "normalise_tickers"]

COLUMNS: tuple[str, ...] = ("date", "ticker", "open", "high", "low", "close", "adj_close", "volume")
PRICE_COLUMNS: tuple[str, ...] = ("open", "high", "low", "close", "adj_close")

DateLike: TypeAlias = str | dt.date | dt.datetime | pd.Timestamp | np.datetime64

_ALIASES = {
    "date": "date",
    "datetime": "date",
    "ticker": "ticker",
    "symbol": "ticker",
    "open": "open",
    "high": "high",
    "low": "low",
    "close": "close",
    "adj close": "adj_close",
    "adj_close": "adj_close",
    "adjclose": "adj_close",
    "volume": "volume",
}


def as_day(value: DateLike) -> pd.Timestamp:
    """A date-like value as a naive midnight ``Timestamp`` (its calendar date, time of day dropped).

    A timezone-aware value keeps its own wall-clock date (``2024-09-13T00:00+00:00`` is 2024-09-13). Dropping
    the time is conservative for a cutoff: a bar dated on the cutoff's day is excluded even when the cutoff
    falls after that day's close.

    :param value: a string, ``date``, ``datetime``, ``Timestamp`` or ``datetime64``.
    :raises DataError: the value is not a date.
    """
    try:
        ts = pd.Timestamp(value)
    except (TypeError, ValueError) as exc:
        raise PermanentDataError(f"{value!r} is not a date; pass e.g. '2024-09-13' or a datetime") from exc
    if ts is pd.NaT:
        raise PermanentDataError(f"{value!r} is not a date; pass e.g. '2024-09-13' or a datetime")
    if ts.tzinfo is not None:
        ts = ts.tz_localize(None)
    return ts.normalize().as_unit("ns")


def normalise_tickers(tickers: str | Iterable[str]) -> list[str]:
    """Tickers as a de-duplicated list of stripped upper-case symbols, in the order given.

    :param tickers: one symbol or an iterable of symbols.
    :raises DataError: no tickers.
    """
    items = [tickers] if isinstance(tickers, str) else list(tickers)
    out = list(dict.fromkeys(str(t).strip().upper() for t in items if str(t).strip()))
    if not out:
        raise PermanentDataError("no tickers given; pass e.g. ['AAPL', 'MSFT']")
    return out


def normalise_prices(frame: pd.DataFrame) -> pd.DataFrame:
    """Rename, type and sort a price frame into the :data:`COLUMNS` layout.

    Column names are matched case-insensitively (``Adj Close`` becomes ``adj_close``); a ``date`` index is
    moved into a column. Timezone-aware dates keep their wall-clock date. ``open <= 0`` becomes NaN (Yahoo
    writes 0 for "no open recorded"). Extra columns are dropped. Nothing else is changed: use
    :func:`~autotest_lib.data.validate_prices` to check the values.

    :param frame: a long frame with date, ticker and the price columns (any case).
    :raises DataError: a required column is missing.
    """
    df = frame.copy()
    if "date" not in {str(c).strip().lower() for c in df.columns} and df.index.name and str(df.index.name).lower() in _ALIASES:
        df = df.reset_index()
    df = df.rename(columns={c: _ALIASES.get(str(c).strip().lower(), c) for c in df.columns})
    missing = [c for c in COLUMNS if c not in df.columns]
    if missing:
        raise PermanentDataError(f"price frame lacks columns {missing}; it has {list(frame.columns)}; expected {list(COLUMNS)}")
    df = df.loc[:, list(COLUMNS)]
    dates = pd.to_datetime(df["date"])
    if getattr(dates.dt, "tz", None) is not None:
        dates = dates.dt.tz_localize(None)
    df["date"] = dates.dt.normalize().astype("datetime64[ns]")
    df["ticker"] = df["ticker"].astype(str).str.strip().str.upper()
    for col in (*PRICE_COLUMNS, "volume"):
        df[col] = pd.to_numeric(df[col], errors="coerce").astype("float64")
    df.loc[df["open"] <= 0, "open"] = np.nan
    return df.sort_values(["ticker", "date"], kind="stable").reset_index(drop=True)
