"""Is this price frame fit to train on? Checks that name the ticker, the dates and the fix; explicit repairs.

Checks, per ticker: duplicate dates; missing or non-positive high/low/close/adj_close (and missing or negative
volume); OHLC inconsistencies (``high`` below ``max(open, close, low)`` or ``low`` above ``min(open, close,
high)``, beyond a relative tolerance; a missing ``open`` is allowed); gaps (days of the union calendar of all
tickers in the frame that the ticker lacks after its first date); stale runs (the same close on more than
``stale_limit`` consecutive days); jumps (a day's log change of a price, less the median change of the other
tickers that day, beyond both ``ln(jump_limit)`` and ``jump_sigmas`` times the ticker's own recent scale: a
``1e12`` print, a price in cents among dollars). The defaults pass every day of 35 real Dow/index series
1990-2024 (largest: AAPL -52% on 2000-09-29, 39 sigmas for MRK on 2004-09-30).

Repairs happen only when asked: ``dedupe`` keeps the last row of each ``(ticker, date)``; ``ffill_limit``
fills gaps of up to that many consecutive days with a flat bar (open = high = low = close = previous close,
previous adj_close, volume 0); ``repair_spikes`` replaces a one-day spike (a jump reverted the next day, or a
jump on a ticker's last day) with such a flat bar. Nothing is ever back-filled.
"""

from __future__ import annotations

import logging
import warnings
from dataclasses import dataclass

import numpy as np
import pandas as pd

from autotest_lib.config import ValidationConfig
from autotest_lib.data.frame import COLUMNS, normalise_prices
from autotest_lib.errors import PermanentDataError

__all__ = ["RepairOptions", "repair_options", "validate_prices"]

log = logging.getLogger(__name__)

_SHOW = 3  # dates quoted per problem


@dataclass(frozen=True)
class RepairOptions:
    """What :func:`validate_prices` may repair, and the thresholds of its checks.

    :param dedupe: drop duplicate ``(ticker, date)`` rows, keeping the last one.
    :param ffill_limit: fill gaps of at most this many consecutive trading days with a flat bar (0 = never).
    :param stale_limit: the largest number of consecutive days a close may repeat before it is an error
        (the bundled data repeats at most 3); ``0`` disables the check.
    :param ohlc_tolerance: relative slack for the OHLC consistency check (prices are stored to 8 digits).
    :param jump_limit: a price may move at most this factor (either way) in a day against the market's move;
        ``0`` disables the jump check.
    :param jump_sigmas: ... and at most this many of the ticker's own robust daily scale (median absolute
        excess move over the previous 63 days, x1.4826); a day beyond both is a jump.
    :param repair_spikes: replace one-day spikes with a flat bar from the day before (a warning names them)
        instead of failing; jumps that do not revert still fail.
    """

    dedupe: bool = False
    ffill_limit: int = 0
    stale_limit: int = 5
    ohlc_tolerance: float = 1e-6
    jump_limit: float = 3.0
    jump_sigmas: float = 50.0
    repair_spikes: bool = False

    def __post_init__(self) -> None:
        if self.ffill_limit < 0 or self.stale_limit < 0 or self.ohlc_tolerance < 0:
            raise PermanentDataError(f"{self}: ffill_limit, stale_limit and ohlc_tolerance must be >= 0")
        if not (self.jump_limit == 0 or self.jump_limit > 1) or self.jump_sigmas <= 0:
            raise PermanentDataError(f"{self}: jump_limit must be 0 (off) or > 1, jump_sigmas > 0")


def repair_options(config: ValidationConfig) -> RepairOptions:
    """The :class:`RepairOptions` of a source's ``validation`` settings."""
    return RepairOptions(**config.model_dump())


def _dates(values: pd.Series | np.ndarray, n: int | None = None) -> str:
    days = pd.DatetimeIndex(values)
    n = len(days) if n is None else n
    shown = " ".join(d.date().isoformat() for d in days[:_SHOW])
    return shown + (" ..." if n > _SHOW else "")


def _per_ticker(frame: pd.DataFrame, mask: pd.Series) -> list[tuple[str, pd.Series]]:
    bad = frame.loc[mask]
    return [(str(t), rows["date"]) for t, rows in bad.groupby("ticker", sort=True)]


def _gaps(frame: pd.DataFrame, exchange: str | None = None) -> pd.DataFrame:
    """Rows ``(ticker, date, run)`` for every day a ticker lacks after its first date: days of the union calendar
    of the frame, plus the ``exchange`` calendar's sessions up to the frame's last day when one is given."""
    calendar = np.sort(frame["date"].unique())
    if exchange is not None and len(calendar):
        from autotest_lib.data.calendar import sessions

        days = sessions(calendar[0], pd.Timestamp(calendar[-1]) + pd.Timedelta(days=1), exchange).to_numpy()
        calendar = np.union1d(calendar, days.astype(calendar.dtype))
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


_JUMP_COLUMNS = ("adj_close", "close", "open", "high", "low")
_SCALE_DAYS = 63


def _jumps(df: pd.DataFrame, repair: RepairOptions) -> pd.DataFrame:
    """Rows ``(ticker, date, column, value, previous, spike)`` for every jump (see the module docs).

    ``spike`` is true when the next bar of the ticker reverts the jump (or there is no next bar): the jump's
    own bar is then the bad one. The reverting day itself is not reported.
    """
    found = []
    limit = np.log(repair.jump_limit)
    panel = df.pivot(index="date", columns="ticker", values=list(_JUMP_COLUMNS)).sort_index()
    for col in _JUMP_COLUMNS:
        wide = panel[col]
        logp = np.log(wide.where(wide > 0))
        move = logp - logp.ffill().shift()  # change since the ticker's previous bar
        cols = list(move.columns)
        values = move.to_numpy()
        values = np.where(np.abs(values) > limit, np.nan, values)  # the market is measured without the jumps themselves
        if len(cols) >= 5:  # the market's move that day: the median across tickers (one outlier cannot shift it)
            with warnings.catch_warnings():
                warnings.simplefilter("ignore", RuntimeWarning)  # all-NaN days
                day = np.nanmedian(values, axis=1)
            market = np.repeat(np.nan_to_num(day)[:, None], len(cols), axis=1)
        elif len(cols) > 1:  # few tickers: the median of the *others*, so a spike does not move its own market
            with warnings.catch_warnings():
                warnings.simplefilter("ignore", RuntimeWarning)
                market = np.column_stack([np.nan_to_num(np.nanmedian(np.delete(values, i, axis=1), axis=1)) for i in range(len(cols))])
        else:
            market = np.zeros_like(values)
        excess = move - market
        if not (excess.abs() > limit).to_numpy().any():  # the common case: skip the rolling scale
            continue
        scale = excess.abs().rolling(_SCALE_DAYS, min_periods=5).median().shift() * 1.4826
        big = (excess.abs() > limit) & ~(excess.abs() <= repair.jump_sigmas * scale)  # no history yet: size alone
        if not big.to_numpy().any():
            continue
        for t in cols:
            days = big.index[big[t].to_numpy()]
            if not len(days):
                continue
            ex = excess[t]
            series = wide[t].dropna()
            skip: set[pd.Timestamp] = set()
            for day in days:
                if day in skip:
                    continue
                pos = series.index.get_loc(day)
                nxt = series.index[pos + 1] if pos + 1 < len(series) else None
                reverted = nxt is None or (bool(big.at[nxt, t]) and np.sign(ex[nxt]) == -np.sign(ex[day]))
                if nxt is not None and reverted:
                    skip.add(nxt)
                prev = float(series.iloc[pos - 1]) if pos > 0 else float("nan")
                found.append((t, day, col, float(series.iloc[pos]), prev, reverted))
    return pd.DataFrame(found, columns=["ticker", "date", "column", "value", "previous", "spike"])


def _flatten(df: pd.DataFrame, bars: pd.DataFrame) -> pd.DataFrame:
    """Replace the bars ``(ticker, date)`` by flat bars from each ticker's previous bar (volume kept)."""
    out = df.copy()
    keys = set(zip(bars["ticker"], bars["date"], strict=True))
    hit = pd.Series([k in keys for k in zip(out["ticker"], out["date"], strict=True)], index=out.index)
    for col in ("open", "high", "low", "close", "adj_close"):
        out.loc[hit, col] = np.nan
    prev = out.groupby("ticker", sort=False)[["close", "adj_close"]].ffill()
    for col in ("open", "high", "low", "close"):
        out.loc[hit, col] = prev.loc[hit, "close"]
    out.loc[hit, "adj_close"] = prev.loc[hit, "adj_close"]
    return out


def _jump_problems(df: pd.DataFrame, repair: RepairOptions) -> tuple[pd.DataFrame, list[str]]:
    """Apply the jump check: the (possibly repaired) frame and one problem line per ticker and column."""
    if not repair.jump_limit:
        return df, []
    jumps = _jumps(df, repair)
    if repair.repair_spikes and len(jumps):
        spikes = jumps.loc[jumps["spike"]]
        first_bar = spikes.apply(lambda r: r["date"] == df.loc[df["ticker"] == r["ticker"], "date"].min(), axis=1)
        fixable = spikes.loc[~first_bar.astype(bool)] if len(spikes) else spikes
        if len(fixable):
            bars = fixable[["ticker", "date"]].drop_duplicates()
            log.warning(
                "replaced %d one-day price spikes with the previous bar (RepairOptions(repair_spikes=True)): %s",
                len(bars),
                ", ".join(f"{t} {d.date()}" for t, d in zip(bars["ticker"], bars["date"], strict=True)),
            )
            df = _flatten(df, bars)
            jumps = _jumps(df, repair)
    problems = []
    for ticker, rows in jumps.groupby("ticker", sort=True):
        days = rows.drop_duplicates("date")
        first = rows.iloc[0]  # adj_close first: it is what returns are made of
        kind = "one-day spikes" if rows["spike"].all() else "jumps"
        problems.append(
            f"{ticker} has {len(days)} {kind} in {'/'.join(dict.fromkeys(rows['column']))} beyond {repair.jump_limit:g}x and "
            f"{repair.jump_sigmas:g} sigmas of its own history and the market ({_dates(days['date'])}: {first['column']} "
            f"{first['value']:.6g} after {first['previous']:.6g}); fix the source, or replace one-day spikes with the previous "
            "bar: RepairOptions(repair_spikes=True) (data.source validation.repair_spikes: true)"
        )
    return df, problems


def validate_prices(frame: pd.DataFrame, repair: RepairOptions | None = None, *, calendar: str | None = None) -> pd.DataFrame:
    """Check a price frame and apply the repairs ``repair`` allows; return the normalised, repaired frame.

    Every problem found is reported in one :class:`~autotest_lib.errors.DataError`, one line each, naming the
    ticker, the first dates and the fix, e.g. ``AAPL has 3 duplicate dates (2020-03-16 ...); fix the source
    file or drop them with RepairOptions(dedupe=True)``.

    :param frame: a price frame (normalised by :func:`~autotest_lib.data.frame.normalise_prices` first).
    :param repair: allowed repairs and check thresholds; default :class:`RepairOptions()` (check only).
    :param calendar: exchange code (e.g. ``"XNYS"``): a session of that calendar missing for a ticker is a gap
        too, even when no other ticker has it; ``None`` checks against the tickers' union calendar only.
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

    if not problems:  # jumps are measured on a frame without duplicates or missing prices
        df, jump_problems = _jump_problems(df, repair)
        problems.extend(jump_problems)

    gaps = _gaps(df.drop_duplicates(["ticker", "date"]), calendar)
    if len(gaps):
        fillable = gaps["run"] <= repair.ffill_limit
        if fillable.any() and not problems:
            df = _fill(df, gaps.loc[fillable])
        where = "other tickers have" if calendar is None else f"other tickers or the {calendar} calendar have"
        for ticker, rows in gaps.loc[~fillable].groupby("ticker", sort=True):
            problems.append(
                f"{ticker} is missing {len(rows)} trading days that {where} ({_dates(rows['date'])}), longest run "
                f"{int(rows['run'].max())} days; fix the source, drop the ticker, or fill runs of up to N days with "
                f"RepairOptions(ffill_limit=N) (now {repair.ffill_limit})"
            )

    if problems:
        shown = problems[:20] + ([f"... and {len(problems) - 20} more"] if len(problems) > 20 else [])
        raise PermanentDataError("invalid prices:\n" + "\n".join(shown))
    return df
