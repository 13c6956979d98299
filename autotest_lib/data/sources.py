"""Where prices come from: the bundled CSV (offline) or Yahoo via ``yfinance`` with a parquet cache.

Every source answers ``fetch(tickers, start, end)`` with a normalised frame (see
:func:`~autotest_lib.data.frame.normalise_prices`) holding only dates in ``[start, end)``. Sources do not
validate; :func:`~autotest_lib.data.load_prices` does.
"""

from __future__ import annotations

import json
import logging
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any, Protocol, runtime_checkable

import numpy as np
import pandas as pd

from autotest_lib.config import include_dir
from autotest_lib.data.calendar import DEFAULT_CALENDAR, sessions
from autotest_lib.data.frame import COLUMNS, DateLike, as_day, normalise_prices, normalise_tickers
from autotest_lib.data.validate import repair_options
from autotest_lib.errors import ConfigError, PermanentDataError, TransientDataError

__all__ = ["BUNDLED_FILE", "BundledSource", "PriceSource", "YFinanceSource", "bundled_path", "get_source", "normalise_yfinance"]

log = logging.getLogger(__name__)

BUNDLED_FILE = "dow30_spy_2005_2024.csv.gz"

_YF_FIELDS = {"Open": "open", "High": "high", "Low": "low", "Close": "close", "Adj Close": "adj_close", "Volume": "volume"}


@runtime_checkable
class PriceSource(Protocol):
    """Anything that returns normalised daily bars for ``tickers`` dated in ``[start, end)``."""

    name: str

    def fetch(self, tickers: Sequence[str], start: DateLike | None, end: DateLike) -> pd.DataFrame: ...


def bundled_path() -> Path:
    """Path of the bundled price file, ``include/data/dow30_spy_2005_2024.csv.gz``."""
    return include_dir() / "data" / BUNDLED_FILE


def _clip(frame: pd.DataFrame, start: DateLike | None, end: DateLike) -> pd.DataFrame:
    keep = frame["date"] < as_day(end)
    if start is not None:
        keep &= frame["date"] >= as_day(start)
    return frame.loc[keep].reset_index(drop=True)


class BundledSource:
    """Prices from a long CSV in the :data:`~autotest_lib.data.COLUMNS` layout (default: the bundled file).

    The file is read once per process (cached by path and modification time) and each call returns a copy.

    :param path: CSV file (gzip allowed); default :func:`bundled_path`.
    """

    name = "bundled"
    snapshot = True  # a fixed sample ending 2024-09-12: freshness is not checked against today's calendar

    def __init__(self, path: str | Path | None = None) -> None:
        self.path = Path(path) if path is not None else bundled_path()

    def _all(self) -> pd.DataFrame:
        if not self.path.is_file():
            raise PermanentDataError(
                f"bundled price file {self.path} is missing; restore include/data/ from git or set AUTOTEST_INCLUDE_DIR"
            )
        from autotest_lib.config import FilesSourceConfig
        from autotest_lib.data.files import read_price_file

        # the files source's reader: a broken file (bad date, empty, not gzip) fails naming the file and line
        return read_price_file(self.path, FilesSourceConfig(path=str(self.path), format="csv")).frame

    def available(self) -> list[str]:
        """Sorted tickers the file holds."""
        return sorted(self._all()["ticker"].unique().tolist())

    def fetch(self, tickers: Sequence[str], start: DateLike | None, end: DateLike) -> pd.DataFrame:
        """Rows of ``tickers`` dated in ``[start, end)``.

        :param tickers: symbols to return.
        :param start: first date (inclusive), or ``None`` for the start of the file.
        :param end: exclusive end date.
        :raises DataError: a ticker is not in the file (the message lists those that are).
        """
        wanted = normalise_tickers(tickers)
        frame = self._all()
        have = set(frame["ticker"].unique().tolist())
        unknown = [t for t in wanted if t not in have]
        if unknown:
            raise PermanentDataError(
                f"unknown ticker(s) {unknown} in {self.path.name}; available: {' '.join(sorted(have))}; "
                "pick from those or use source='yfinance'"
            )
        return _clip(frame.loc[frame["ticker"].isin(wanted)], start, end)


def normalise_yfinance(raw: pd.DataFrame, tickers: Sequence[str]) -> pd.DataFrame:
    """Turn a ``yfinance.download(..., auto_adjust=False)`` result into the long :data:`COLUMNS` frame.

    Handles MultiIndex columns grouped either way (``group_by='column'`` gives ``(Price, Ticker)``,
    ``group_by='ticker'`` gives ``(Ticker, Price)``) and flat columns for a single ticker. Rows whose close is
    missing (a ticker not trading yet, or one that failed to download) are dropped.

    :param raw: the wide frame yfinance returned, indexed by date.
    :param tickers: the tickers requested (names the columns when they are flat).
    :raises DataError: the columns are not yfinance's price fields.
    """
    if raw is None or raw.empty:
        return pd.DataFrame({c: pd.Series(dtype="float64") for c in COLUMNS}).pipe(normalise_prices)
    frame = raw.copy()
    if isinstance(frame.columns, pd.MultiIndex):
        level0 = {str(v) for v in frame.columns.get_level_values(0)}
        price_level = 0 if level0 & set(_YF_FIELDS) else 1
        frame.columns = frame.columns.set_names(["price", "ticker"] if price_level == 0 else ["ticker", "price"])
        long = frame.stack(level="ticker", future_stack=True)
    else:
        if len(tickers) != 1:
            raise PermanentDataError(
                f"yfinance returned flat columns {list(frame.columns)} for {len(tickers)} tickers; expected a MultiIndex"
            )
        long = frame.copy()
        long["ticker"] = tickers[0]
        long = long.set_index("ticker", append=True)
    long.columns = [str(c) for c in long.columns]
    missing = [f for f in _YF_FIELDS if f not in long.columns]
    if missing:
        raise PermanentDataError(
            f"yfinance frame lacks {missing} (got {list(long.columns)}); call yfinance.download with auto_adjust=False"
        )
    long = long.rename(columns=_YF_FIELDS).reset_index()
    long = long.rename(columns={long.columns[0]: "date"})
    long = long.dropna(subset=["close"])
    return normalise_prices(long)


DownloadFn = Callable[..., pd.DataFrame]


class YFinanceSource:
    """Daily bars from Yahoo through ``yfinance.download``, cached as one parquet file per ticker.

    A call downloads only what the cache lacks: from the cached last date on (and, when an earlier start is
    asked for than ever before, the days before it). The cached last day is downloaded again on purpose: if
    Yahoo has since re-based its history for a split or dividend, the ratio of new to cached values on that
    day rescales the cached rows, so old and new rows share one adjustment. A re-downloaded day replaces the
    cached one.

    Each download is retried ``retries`` times with exponential backoff (``backoff_s``, ``2 * backoff_s``,
    ...) when it raises or when a ticker comes back empty (yfinance answers an empty frame rather than raising
    when offline). Tickers still empty after the last attempt raise, naming them, a
    :class:`~autotest_lib.errors.PermanentDataError` when Yahoo answered for the other tickers of the request
    (unknown or delisted symbols: retrying cannot help), else a :class:`~autotest_lib.errors.TransientDataError`
    (Yahoo or the network is down: the task may retry).

    Whether the cache lacks recent days is decided on the NYSE calendar (``exchange-calendars``): a cache
    ending on the last session before the cutoff is complete even when a holiday or weekend follows it.

    :param cache_dir: folder for ``<TICKER>.parquet`` (created if missing) and ``<TICKER>.json`` (earliest start asked for).
    :param retries: extra attempts after the first one.
    :param backoff_s: seconds before the first retry; doubled after each.
    :param download: replacement for ``yfinance.download`` (tests pass a fake serving recorded responses).
    :param sleep: replacement for ``time.sleep`` (tests record the backoff instead of waiting).
    """

    name = "yfinance"
    calendar = DEFAULT_CALENDAR
    default_start = pd.Timestamp("2005-01-03")

    def __init__(
        self,
        cache_dir: str | Path,
        retries: int = 3,
        backoff_s: float = 2.0,
        download: DownloadFn | None = None,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        if retries < 0:
            raise PermanentDataError(f"retries={retries}: must be >= 0")
        self.cache_dir = Path(cache_dir)
        self.retries = retries
        self.backoff_s = backoff_s
        self._download = download
        self._sleep = sleep

    # -- cache -------------------------------------------------------------------------------------------
    def _paths(self, ticker: str) -> tuple[Path, Path]:
        safe = ticker.replace("/", "_").replace("^", "_IDX_")
        return self.cache_dir / f"{safe}.parquet", self.cache_dir / f"{safe}.json"

    def cached(self, ticker: str) -> pd.DataFrame:
        """The cached rows of ``ticker`` (an empty frame when nothing is cached).

        :param ticker: Yahoo symbol.
        """
        path, _ = self._paths(ticker)
        if not path.is_file():
            return normalise_yfinance(pd.DataFrame(), [ticker])
        return normalise_prices(pd.read_parquet(path))

    def _requested_start(self, ticker: str) -> pd.Timestamp | None:
        _, meta = self._paths(ticker)
        if not meta.is_file():
            return None
        return as_day(json.loads(meta.read_text())["requested_start"])

    def _store(self, ticker: str, frame: pd.DataFrame, requested_start: pd.Timestamp) -> None:
        self.cache_dir.mkdir(parents=True, exist_ok=True)
        path, meta = self._paths(ticker)
        tmp = path.with_suffix(".parquet.tmp")
        frame.to_parquet(tmp, index=False)
        tmp.replace(path)
        meta.write_text(json.dumps({"ticker": ticker, "requested_start": requested_start.date().isoformat()}))

    # -- download ----------------------------------------------------------------------------------------
    def _call(self, tickers: list[str], start: pd.Timestamp, end: pd.Timestamp) -> pd.DataFrame:
        download = self._download
        if download is None:
            import yfinance

            download = yfinance.download
        raw = download(
            tickers,
            start=start.date().isoformat(),
            end=end.date().isoformat(),
            auto_adjust=False,
            actions=False,
            group_by="column",
            progress=False,
            threads=False,
        )
        return normalise_yfinance(raw, tickers)

    def _download_range(self, tickers: list[str], start: pd.Timestamp, end: pd.Timestamp) -> pd.DataFrame:
        """Download ``[start, end)`` for ``tickers``, retrying the ones that came back empty or failed."""
        pending: list[str] = list(tickers)
        parts: list[pd.DataFrame] = []
        error = ""
        for attempt in range(self.retries + 1):
            if attempt:
                delay = self.backoff_s * 2 ** (attempt - 1)
                log.warning("yfinance: retry %d/%d for %s in %.1fs (%s)", attempt, self.retries, pending, delay, error)
                self._sleep(delay)
            try:
                got = self._call(pending, start, end)
            except Exception as exc:  # yfinance raises assorted network and parsing errors
                error = f"{type(exc).__name__}: {exc}"
                continue
            got = got.loc[got["ticker"].isin(pending)]
            parts.append(got)
            returned = set(got["ticker"].unique().tolist())
            pending = [t for t in pending if t not in returned]
            error = "empty frame"
            if not pending:
                break
        if pending:
            what = f"yfinance returned no rows for {pending} between {start.date()} and {end.date()} after {self.retries + 1} attempts"
            if any(len(p) for p in parts):
                # Yahoo answered for the other tickers of the same requests: these symbols have no data there
                raise PermanentDataError(
                    f"{what} while it answered for {sorted(set(tickers) - set(pending))}; {pending} are unknown or delisted "
                    "symbols (or not trading in that window): fix the tickers, or use source='bundled'"
                )
            raise TransientDataError(
                f"{what} (last: {error}); Yahoo or the network did not answer, the task will retry; or use source='bundled'"
            )
        return pd.concat(parts, ignore_index=True)

    @staticmethod
    def _rebase(cached: pd.DataFrame, fresh: pd.DataFrame) -> pd.DataFrame:
        """Rescale ``cached`` to the adjustment of ``fresh`` using the latest day both hold."""
        common = np.intersect1d(cached["date"].to_numpy(), fresh["date"].to_numpy())
        if not len(common):
            return cached
        day = common[-1]
        old = cached.loc[cached["date"] == day].iloc[-1]
        new = fresh.loc[fresh["date"] == day].iloc[-1]
        out = cached.copy()
        split = new["close"] / old["close"]
        div = new["adj_close"] / old["adj_close"]
        if np.isfinite(split) and abs(split - 1.0) > 1e-9:
            out[["open", "high", "low", "close"]] *= split
            out["volume"] /= split
        if np.isfinite(div) and abs(div - 1.0) > 1e-9:
            out["adj_close"] *= div
        return out

    def fetch(self, tickers: Sequence[str], start: DateLike | None, end: DateLike) -> pd.DataFrame:
        """Rows of ``tickers`` dated in ``[start, end)``, downloading only what the cache lacks.

        :param tickers: Yahoo symbols.
        :param start: first date (inclusive); ``None`` means 2005-01-03 (the bundled file's first day).
        :param end: exclusive end date (the cutoff).
        :raises DataError: a ticker still has no rows after every retry.
        """
        wanted = normalise_tickers(tickers)
        lo = as_day(start) if start is not None else self.default_start
        hi = as_day(end)
        # Group tickers by the range they lack, so one download serves them all (the weekly case).
        plans: dict[tuple[pd.Timestamp, pd.Timestamp], list[str]] = {}
        frames: dict[str, pd.DataFrame] = {}
        for ticker in wanted:
            have = self.cached(ticker)
            frames[ticker] = have
            asked = self._requested_start(ticker)
            if have.empty or asked is None:
                ranges = [(lo, hi)]
            else:
                # each range overlaps one cached day, to detect a re-basing
                ranges = [(lo, have["date"].min() + pd.Timedelta(days=1))] if lo < asked else []
                last = have["date"].max()
                if len(sessions(last + pd.Timedelta(days=1), hi, self.calendar)):  # a session the cache lacks
                    ranges.append((last, hi))
            for rng in ranges:
                if rng[0] < rng[1]:
                    plans.setdefault(rng, []).append(ticker)
        if not plans:
            return _clip(pd.concat([frames[t] for t in wanted], ignore_index=True), lo, hi)
        fresh: dict[str, list[pd.DataFrame]] = {t: [] for t in wanted}
        for (a, b), group in plans.items():
            got = self._download_range(group, a, b)
            for ticker, rows in got.groupby("ticker", sort=False):
                fresh[str(ticker)].append(rows)
        for ticker in {t for group in plans.values() for t in group}:
            new = pd.concat(fresh[ticker], ignore_index=True)
            old = self._rebase(frames[ticker], new)
            merged = pd.concat([old, new], ignore_index=True).drop_duplicates(["ticker", "date"], keep="last")
            merged = merged.sort_values("date", kind="stable").reset_index(drop=True)
            asked = self._requested_start(ticker)
            self._store(ticker, merged, lo if asked is None else min(lo, asked))
            frames[ticker] = merged
        return _clip(normalise_prices(pd.concat([frames[t] for t in wanted], ignore_index=True)), lo, hi)

    def __repr__(self) -> str:
        return f"YFinanceSource(cache_dir={str(self.cache_dir)!r}, retries={self.retries}, backoff_s={self.backoff_s})"


def get_source(source: str | PriceSource, **kwargs: Any) -> PriceSource:
    """A source by name (``"bundled"`` or ``"yfinance"``), by its JSON config (a files or SQL source, see
    :func:`~autotest_lib.config.source_spec`), or the source object itself.

    :param source: a name, a ``{"kind": "files" | "sql", ...}`` JSON text, or an object with ``fetch(tickers, start, end)``.
    :param kwargs: passed to the source's constructor (e.g. ``cache_dir`` for yfinance).
    :raises DataError: an unknown name.
    """
    if not isinstance(source, str):
        if not isinstance(source, PriceSource):
            raise PermanentDataError(f"source {source!r} has no fetch(tickers, start, end); pass 'bundled', 'yfinance' or a PriceSource")
        return source
    if source.lstrip().startswith("{"):
        from autotest_lib.config import BuiltinSourceConfig, FilesSourceConfig, source_config
        from autotest_lib.data.files import FilesSource
        from autotest_lib.data.sql import SqlSource

        try:
            cfg = source_config(source)
        except ConfigError as exc:
            raise PermanentDataError(str(exc)) from None
        if isinstance(cfg, BuiltinSourceConfig):
            built = get_source(cfg.kind, **kwargs)
            built.repair = repair_options(cfg.validation)  # type: ignore[attr-defined]
            return built
        return FilesSource(cfg) if isinstance(cfg, FilesSourceConfig) else SqlSource(cfg)  # type: ignore[arg-type]
    if source == "bundled":
        return BundledSource(**kwargs)
    if source == "yfinance":
        if "cache_dir" not in kwargs:
            import os

            kwargs["cache_dir"] = Path(os.environ.get("AUTOTEST_PRICE_CACHE", Path.home() / ".cache" / "autotest" / "yfinance"))
        return YFinanceSource(**kwargs)
    raise PermanentDataError(
        f"unknown price source {source!r}; use 'bundled' (offline), 'yfinance', or a files/sql source (data.source: {{kind: files, ...}})"
    )
