"""What the environment sees: a point-in-time :class:`MarketData` of ``(T, N)`` and ``(T, N, F)`` arrays.

Timing (``docs/ARCHITECTURE.md``): ``features[t]`` uses bars up to and including day ``t``; ``returns[t]`` is
the adjusted-close return from ``t - 1`` to ``t``, so an agent acting on ``features[t]`` earns ``returns[t + 1]``.
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Iterable
from dataclasses import dataclass

import numpy as np
import pandas as pd

from autotest_lib.data.features import FEATURE_CATALOGUE, FEATURE_SETS, FeatureSet, feature_arrays, feature_warmup, to_panel
from autotest_lib.data.frame import DateLike, as_day, normalise_tickers
from autotest_lib.data.prices import load_prices
from autotest_lib.data.sources import PriceSource
from autotest_lib.data.validate import RepairOptions
from autotest_lib.errors import PermanentDataError

__all__ = ["MarketData", "build_market", "load_market", "warmup_calendar_days"]


def _frozen(a: np.ndarray) -> np.ndarray:
    a.setflags(write=False)
    return a


@dataclass(frozen=True, eq=False)
class MarketData:
    """Prices and features of ``N`` tickers on ``T`` trading days; arrays are read-only.

    :param dates: ``(T,)`` ``datetime64[D]`` trading days, increasing.
    :param tickers: the ``N`` tickers, in the order asked for (the observation's slot order).
    :param returns: ``(T, N)`` float64 adjusted-close simple return from ``t - 1`` to ``t``; 0 where not tradable.
    :param close: ``(T, N)`` float64 raw (split-adjusted) close; NaN where the ticker has no bar.
    :param features: ``(T, N, F)`` float32, ``F = len(FEATURE_CATALOGUE)``; slots outside ``feature_set`` and
        days that are cold or unpriced are 0; never NaN.
    :param tradable: ``(T, N)`` bool: priced at ``t`` and ``t - 1`` and every feature of the set warm at ``t``.
    :param feature_set: name of the set filled in (``"simple"``, ``"rich"`` or ``"full"``).
    :param benchmark: benchmark ticker (e.g. ``"SPY"``).
    :param benchmark_returns: ``(T,)`` float64 benchmark adjusted-close return from ``t - 1`` to ``t`` (0 when unknown).
    """

    dates: np.ndarray
    tickers: tuple[str, ...]
    returns: np.ndarray
    close: np.ndarray
    features: np.ndarray
    tradable: np.ndarray
    feature_set: str
    benchmark: str
    benchmark_returns: np.ndarray

    def __post_init__(self) -> None:
        t, n = len(self.dates), len(self.tickers)
        shapes = {
            "returns": (self.returns.shape, (t, n)),
            "close": (self.close.shape, (t, n)),
            "features": (self.features.shape, (t, n, len(FEATURE_CATALOGUE))),
            "tradable": (self.tradable.shape, (t, n)),
            "benchmark_returns": (self.benchmark_returns.shape, (t,)),
        }
        bad = {k: v for k, v in shapes.items() if v[0] != v[1]}
        if bad:
            raise PermanentDataError(f"MarketData shapes disagree: {', '.join(f'{k} is {a}, expected {b}' for k, (a, b) in bad.items())}")

    @property
    def n_dates(self) -> int:
        return len(self.dates)

    @property
    def n_tickers(self) -> int:
        return len(self.tickers)

    @property
    def feature_names(self) -> tuple[str, ...]:
        """Names of the ``F`` feature slots (:data:`FEATURE_CATALOGUE`)."""
        return FEATURE_CATALOGUE

    @property
    def feature_mask(self) -> np.ndarray:
        """``(F,)`` bool: which slots the feature set fills."""
        return np.array([name in FEATURE_SETS[self.feature_set] for name in FEATURE_CATALOGUE])

    def index_of(self, date: DateLike) -> int:
        """Index of the first trading day on or after ``date`` (``T`` when ``date`` is after the last day).

        :param date: any date-like value; a trading day maps to its own index.
        """
        return int(np.searchsorted(self.dates, as_day(date).to_datetime64().astype("datetime64[D]"), side="left"))

    def ticker_index(self, ticker: str) -> int:
        """Column of ``ticker``.

        :raises DataError: the ticker is not in this market.
        """
        try:
            return self.tickers.index(ticker)
        except ValueError:
            raise PermanentDataError(f"{ticker!r} is not in this market; it has {list(self.tickers)}") from None

    def slice(self, start: DateLike | None = None, end: DateLike | None = None) -> MarketData:
        """The days in ``[start, end)`` (``None`` leaves that side open); arrays are views.

        :param start: first day kept (inclusive).
        :param end: first day dropped (exclusive).
        """
        i = 0 if start is None else self.index_of(start)
        j = self.n_dates if end is None else self.index_of(end)
        j = max(i, j)
        return dataclasses.replace(
            self,
            dates=self.dates[i:j],
            returns=self.returns[i:j],
            close=self.close[i:j],
            features=self.features[i:j],
            tradable=self.tradable[i:j],
            benchmark_returns=self.benchmark_returns[i:j],
        )

    def __repr__(self) -> str:
        span = f"{self.dates[0]}..{self.dates[-1]}" if self.n_dates else "empty"
        tickers = list(self.tickers)
        return f"MarketData({self.n_dates} days {span}, tickers={tickers}, feature_set={self.feature_set!r}, benchmark={self.benchmark!r})"


def _simple_returns(adj: np.ndarray) -> np.ndarray:
    out = np.full_like(adj, np.nan)
    out[1:] = adj[1:] / adj[:-1] - 1.0
    return out


def build_market(
    prices: pd.DataFrame,
    *,
    tickers: Iterable[str] | None = None,
    feature_set: FeatureSet = "rich",
    benchmark: str = "SPY",
) -> MarketData:
    """Arrays for the environment from a validated price frame that also holds the benchmark's rows.

    :param prices: validated frame (see :func:`~autotest_lib.data.load_prices`) with ``benchmark`` among its tickers.
    :param tickers: columns of the market, in order; default every ticker in ``prices`` except the benchmark.
    :param feature_set: ``"simple"``, ``"rich"`` or ``"full"``.
    :param benchmark: ticker used for ``benchmark_returns`` and the market-regime features.
    :raises DataError: the benchmark or a ticker has no rows, or an unknown feature set.
    """
    if feature_set not in FEATURE_SETS:
        raise PermanentDataError(f"unknown feature set {feature_set!r}; use one of {list(FEATURE_SETS)}")
    panel = to_panel(prices, benchmark)
    if panel.benchmark is None:
        raise PermanentDataError(
            f"benchmark {benchmark!r} has no rows in the price frame (tickers: {panel.tickers}); load it with the tickers"
        )
    wanted = normalise_tickers(tickers) if tickers is not None else [t for t in panel.tickers if t != benchmark]
    missing = [t for t in wanted if t not in panel.tickers]
    if missing:
        raise PermanentDataError(f"{missing} have no rows in the price frame (tickers: {panel.tickers})")
    cols = np.array([panel.tickers.index(t) for t in wanted], dtype=int)

    names = FEATURE_SETS[feature_set]
    arrays = feature_arrays(panel, names)
    T, N = len(panel.dates), len(wanted)
    features = np.zeros((T, N, len(FEATURE_CATALOGUE)), dtype=np.float32)
    warm = np.ones((T, N), dtype=bool)
    for name in names:
        values = arrays[name][:, cols]
        ok = np.isfinite(values)
        warm &= ok
        features[:, :, FEATURE_CATALOGUE.index(name)] = np.where(ok, values, 0.0)

    adj = panel.adj_close[:, cols]
    rets = _simple_returns(adj)
    priced = ~np.isnan(adj)
    tradable = priced & np.vstack([np.zeros((1, N), dtype=bool), priced[:-1]]) & warm
    features[~tradable] = 0.0  # a cold or unpriced ticker shows nothing, so nothing leaks from a partial row
    bench = _simple_returns(panel.adj_close[:, panel.benchmark])
    return MarketData(
        dates=_frozen(panel.dates.astype("datetime64[D]")),
        tickers=tuple(wanted),
        returns=_frozen(np.where(tradable, rets, 0.0)),
        close=_frozen(np.ascontiguousarray(panel.close[:, cols])),
        features=_frozen(features),
        tradable=_frozen(tradable),
        feature_set=feature_set,
        benchmark=benchmark,
        benchmark_returns=_frozen(np.nan_to_num(bench, nan=0.0)),
    )


def warmup_calendar_days(rows: int) -> int:
    """Calendar days that hold at least ``rows`` trading days (252 a year, plus holidays): ``ceil(1.5 rows) + 10``."""
    return math.ceil(1.5 * rows) + 10


def load_market(
    tickers: str | Iterable[str],
    *,
    cutoff: DateLike,
    start: DateLike | None = None,
    feature_set: FeatureSet = "rich",
    source: str | PriceSource = "bundled",
    benchmark: str = "SPY",
    warmup_days: int | None = None,
    repair: RepairOptions | None = None,
) -> MarketData:
    """Load, validate and featurise ``tickers`` for the days in ``[start, cutoff)``.

    History before ``start`` (``warmup_days`` trading days) is loaded so indicators are warm on ``start``, then
    cut off. The benchmark is loaded even when it is not one of ``tickers``. A ticker listed later than
    ``start`` (V in 2008, DOW in 2019) is tradable only once it is listed and its features are warm.

    :param tickers: the market's tickers, in slot order.
    :param cutoff: exclusive end; nothing dated on or after it is loaded.
    :param start: first day of the market; ``None`` keeps everything the source has before ``cutoff``.
    :param feature_set: ``"simple"``, ``"rich"`` or ``"full"``.
    :param source: ``"bundled"``, ``"yfinance"`` or a :class:`~autotest_lib.data.PriceSource`.
    :param benchmark: benchmark ticker for ``benchmark_returns`` and regime features.
    :param warmup_days: trading days of extra history before ``start``; default the set's
        :func:`~autotest_lib.data.feature_warmup`.
    :param repair: repairs allowed during validation.
    :raises DataError: unknown ticker (the message lists the available ones), empty window, invalid prices.
    """
    wanted = normalise_tickers(tickers)
    rows = feature_warmup(feature_set) if warmup_days is None else warmup_days
    lo = None if start is None else as_day(start) - pd.Timedelta(days=warmup_calendar_days(rows))
    need = wanted if benchmark in wanted else [*wanted, benchmark]
    prices = load_prices(need, cutoff=cutoff, start=lo, source=source, repair=repair)
    market = build_market(prices, tickers=wanted, feature_set=feature_set, benchmark=benchmark)
    return market.slice(start, None) if start is not None else market
