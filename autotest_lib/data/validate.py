"""Is this price frame fit to train on? Checks that name the ticker, the dates and the fix; explicit repairs.

Checks, per ticker: duplicate dates; missing or non-positive high/low/close/adj_close (and missing or negative
volume); OHLC inconsistencies (``high`` below ``max(open, close, low)`` or ``low`` above ``min(open, close,
high)``, beyond a relative tolerance; a missing ``open`` is allowed); gaps (days of the union calendar of all
tickers in the frame that the ticker lacks after its first date); stale runs (the same close on more than
``stale_limit`` consecutive days).

Repairs happen only when asked: ``dedupe`` keeps the last row of each ``(ticker, date)``; ``ffill_limit``
fills gaps of up to that many consecutive days with a flat bar (open = high = low = close = previous close,
previous adj_close, volume 0). Nothing is ever back-filled.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from autotest_lib.data.frame import COLUMNS, normalise_prices
from autotest_lib.errors import PermanentDataError

__all__ = ["RepairOptions", "validate_prices"]

_SHOW = 3  # dates quoted per problem


@dataclass(frozen=True)
class RepairOptions:
    """What :func:`validate_prices` may repair, and the thresholds of its checks.

    :param dedupe: drop duplicate ``(ticker, date)`` rows, keeping the last one.
    :param ffill_limit: fill gaps of at most this many consecutive trading days with a flat bar (0 = never).
    :param stale_limit: the largest number of consecutive days a close may repeat before it is an error
        (the bundled data repeats at most 3); ``0`` disables the check.
    :param ohlc_tolerance: relative slack for the OHLC consistency check (prices are stored to 8 digits).
    """

    dedupe: bool = False
    ffill_limit: int = 0
    stale_limit: int = 5
    ohlc_tolerance: float = 1e-6

    def __post_init__(self) -> None:
        if self.ffill_limit < 0 or self.stale_limit < 0 or self.ohlc_tolerance < 0:
            raise PermanentDataError(f"{self}: ffill_limit, stale_limit and ohlc_tolerance must be >= 0")


def _dates(values: pd.Series | np.ndarray, n: int | None = None) -> str:
    days = pd.DatetimeIndex(values)
    n = len(days) if n is None else n
    shown = " ".join(d.date().isoformat() for d in days[:_SHOW])
    return shown + (" ..." if n > _SHOW else "")


def _per_ticker(frame: pd.DataFrame, mask: pd.Series) -> list[tuple[str, pd.Series]]:
    bad = frame.loc[mask]
    return [(str(t), rows["date"]) for t, rows in bad.groupby("ticker", sort=True)]


def _gaps(frame: pd.DataFrame) -> pd.DataFrame:
    """Rows ``(ticker, date, run)`` for every union-calendar day a ticker lacks after its first date."""
    calendar = np.sort(frame["date"].unique())
    out = []
    for ticker, rows in frame.groupby("ticker", sort=True):
        first = rows["date"].iloc[0]
        expected = calendar[calendar >= first.to_datetime64()]
        missing = np.setdiff1d(expected, rows["date"].to_numpy(), assume_unique=True)
        if len(missing):
            pos = np.searchsorted(expected, missing)
            run_id = np.cumsum(np.r_[1, np.diff(pos) != 1])
            run_len = np.bincount(run_id)[run_id]
            out.append(pd.DataFrame({"ticker": ticker, "date": missing, "run": run_len}))
    if not out:
        return pd.DataFrame({"ticker": pd.Series(dtype=str), "date": pd.Series(dtype="datetime64[ns]"), "run": pd.Series(dtype=int)})
    return pd.concat(out, ignore_index=True)


def _fill(frame: pd.DataFrame, gaps: pd.DataFrame) -> pd.DataFrame:
    """Insert flat bars for ``gaps`` (forward from the previous row of the same ticker)."""
    add = gaps[["ticker", "date"]].copy()
    for col in COLUMNS[2:]:
        add[col] = np.nan
    add["volume"] = 0.0
    merged = pd.concat([frame, add], ignore_index=True).sort_values(["ticker", "date"], kind="stable").reset_index(drop=True)
    prev = merged.groupby("ticker", sort=False)[["close", "adj_close"]].ffill()
    filled = merged["close"].isna()
    for col in ("open", "high", "low", "close"):
        merged.loc[filled, col] = prev.loc[filled, "close"]
    merged.loc[filled, "adj_close"] = prev.loc[filled, "adj_close"]
    return merged


def validate_prices(frame: pd.DataFrame, repair: RepairOptions | None = None) -> pd.DataFrame:
    """Check a price frame and apply the repairs ``repair`` allows; return the normalised, repaired frame.

    Every problem found is reported in one :class:`~autotest_lib.errors.DataError`, one line each, naming the
    ticker, the first dates and the fix, e.g. ``AAPL has 3 duplicate dates (2020-03-16 ...); fix the source
    file or drop them with RepairOptions(dedupe=True)``.

    :param frame: a price frame (normalised by :func:`~autotest_lib.data.frame.normalise_prices` first).
    :param repair: allowed repairs and check thresholds; default :class:`RepairOptions()` (check only).
    :raises DataError: a check fails and no allowed repair fixes it.
    """
    repair = repair or RepairOptions()
    df = normalise_prices(frame)
    problems: list[str] = []

    dup = df.duplicated(["ticker", "date"], keep=False)
    if dup.any():
        if repair.dedupe:
            df = df.drop_duplicates(["ticker", "date"], keep="last").reset_index(drop=True)
        else:
            for ticker, dates in _per_ticker(df, dup):
                uniq = dates.drop_duplicates()
                problems.append(
                    f"{ticker} has {len(uniq)} duplicate dates ({_dates(uniq)}); "
                    "fix the source file or drop them with RepairOptions(dedupe=True)"
                )

    bad_price = df[["high", "low", "close", "adj_close"]].isna().any(axis=1) | (df[["high", "low", "close", "adj_close"]] <= 0).any(axis=1)
    for ticker, dates in _per_ticker(df, bad_price):
        problems.append(
            f"{ticker} has {len(dates)} rows with a missing or non-positive high/low/close/adj_close ({_dates(dates)}); "
            "fix the source file or delete those rows (then RepairOptions(ffill_limit=N) fills the gap)"
        )
    bad_volume = df["volume"].isna() | (df["volume"] < 0)
    for ticker, dates in _per_ticker(df, bad_volume):
        problems.append(f"{ticker} has {len(dates)} rows with a missing or negative volume ({_dates(dates)}); fix the source file")

    tol = repair.ohlc_tolerance
    top = df[["open", "close", "low"]].max(axis=1)
    bottom = df[["open", "close", "high"]].min(axis=1)
    bad_ohlc = ((df["high"] < top * (1 - tol)) | (df["low"] > bottom * (1 + tol))) & ~bad_price
    for ticker, dates in _per_ticker(df, bad_ohlc):
        problems.append(
            f"{ticker} has {len(dates)} bars where high < max(open, close, low) or low > min(open, close, high) ({_dates(dates)}); "
            "fix the source file (bars are never repaired)"
        )

    if repair.stale_limit:
        same = df["close"].eq(df.groupby("ticker", sort=False)["close"].shift())
        run = same.groupby((~same).cumsum()).cumsum() + 1  # days the close has been identical, today included
        reached = run == repair.stale_limit + 1  # the day a run becomes too long
        for ticker, dates in _per_ticker(df, reached):
            problems.append(
                f"{ticker} has {len(dates)} runs of the same close on more than {repair.stale_limit} consecutive days "
                f"(reached on {_dates(dates)}); check the source for a halted or dead series, or raise RepairOptions(stale_limit=...)"
            )

    gaps = _gaps(df.drop_duplicates(["ticker", "date"]))
    if len(gaps):
        fillable = gaps["run"] <= repair.ffill_limit
        if fillable.any() and not problems:
            df = _fill(df, gaps.loc[fillable])
        for ticker, rows in gaps.loc[~fillable].groupby("ticker", sort=True):
            problems.append(
                f"{ticker} is missing {len(rows)} trading days that other tickers have ({_dates(rows['date'])}), longest run "
                f"{int(rows['run'].max())} days; fix the source, drop the ticker, or fill runs of up to N days with "
                f"RepairOptions(ffill_limit=N) (now {repair.ffill_limit})"
            )

    if problems:
        shown = problems[:20] + ([f"... and {len(problems) - 20} more"] if len(problems) > 20 else [])
        raise PermanentDataError("invalid prices:\n" + "\n".join(shown))
    return df
