"""Which numbers describe each ticker on each day: causal technical features, scaled for a neural net.

Every feature at day ``t`` uses only bars dated ``<= t`` (rolling windows, forward recursions; nothing
centred, nothing back-filled). Each is a function of price *ratios*, so a later split or dividend, which
rescales all earlier prices by one factor, leaves past values unchanged.

Prices: returns and trend indicators use ``adj_close`` (split- and dividend-adjusted, so ex-dividend days
are not fake drops); ATR and the range position use ``high``/``low``/``close``, which Yahoo split-adjusts
consistently with each other. Volume z-scores use ``log(1 + volume)``.

Each feature is computed raw, then scaled to roughly unit spread and clipped to ``[-CLIP, CLIP]``; the
docstring of each ``_f_*`` function gives the raw formula and the scaling. A value is NaN until the ticker has
``FEATURES[name].warmup`` rows of history (counted from its first row, the row itself included), so
recursions (EMA, Wilder) have forgotten their seed.

``FEATURE_CATALOGUE`` fixes the slot order of the observation: only append to it, never reorder.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Literal

import numpy as np
import pandas as pd

from autotest_lib.errors import PermanentDataError

__all__ = [
    "CLIP",
    "FEATURES",
    "FEATURE_CATALOGUE",
    "FEATURE_SETS",
    "FeatureSet",
    "FeatureSpec",
    "Panel",
    "compute_features",
    "feature_arrays",
    "feature_warmup",
    "to_panel",
]

CLIP = 5.0
FeatureSet = Literal["simple", "rich", "full"]
_ANNUAL = np.sqrt(252.0)
_EPS = 1e-12


@dataclass
class Panel:
    """Wide ``(T, N)`` float64 arrays on the union calendar of a price frame (NaN where a ticker has no bar).

    :param dates: ``(T,)`` trading days, ``datetime64[ns]``.
    :param tickers: the ``N`` column names.
    :param open: raw open (split-adjusted).
    :param high: raw high.
    :param low: raw low.
    :param close: raw close.
    :param adj_close: split- and dividend-adjusted close.
    :param volume: share volume.
    :param benchmark: column of the benchmark ticker, or ``None``.
    """

    dates: np.ndarray
    tickers: list[str]
    open: np.ndarray
    high: np.ndarray
    low: np.ndarray
    close: np.ndarray
    adj_close: np.ndarray
    volume: np.ndarray
    benchmark: int | None = None
    _memo: dict[str, np.ndarray] = field(default_factory=dict, repr=False)

    def memo(self, key: str, fn: Callable[[], np.ndarray]) -> np.ndarray:
        if key not in self._memo:
            self._memo[key] = fn()
        return self._memo[key]

    @property
    def first_row(self) -> np.ndarray:
        """``(N,)`` index of each ticker's first priced row (``T`` when it has none)."""
        priced = ~np.isnan(self.adj_close)
        return np.where(priced.any(axis=0), priced.argmax(axis=0), len(self.dates))


def to_panel(prices: pd.DataFrame, benchmark: str | None = None) -> Panel:
    """Pivot a normalised long price frame to a :class:`Panel` (columns in sorted ticker order).

    :param prices: frame with :data:`~autotest_lib.data.COLUMNS`, unique ``(ticker, date)``.
    :param benchmark: ticker whose column feeds the market-regime features (if present in ``prices``).
    """
    dates = np.sort(prices["date"].unique()).astype("datetime64[ns]")
    tickers = sorted(prices["ticker"].unique().tolist())
    rows = np.searchsorted(dates, prices["date"].to_numpy())
    cols = np.searchsorted(np.array(tickers, dtype=object), prices["ticker"].to_numpy(dtype=object))

    def wide(name: str) -> np.ndarray:
        a = np.full((len(dates), len(tickers)), np.nan)
        a[rows, cols] = prices[name].to_numpy(dtype="float64")
        return a

    bench = tickers.index(benchmark) if benchmark is not None and benchmark in tickers else None
    return Panel(
        dates=dates,
        tickers=tickers,
        benchmark=bench,
        open=wide("open"),
        high=wide("high"),
        low=wide("low"),
        close=wide("close"),
        adj_close=wide("adj_close"),
        volume=wide("volume"),
    )


# -- building blocks (all causal) ------------------------------------------------------------------------


def _rolling(x: np.ndarray, n: int, how: str, ddof: int = 1) -> np.ndarray:
    r = pd.DataFrame(x).rolling(n, min_periods=n)
    if how == "std":
        return r.std(ddof=ddof).to_numpy()
    return getattr(r, how)().to_numpy()


def _ema(x: np.ndarray, span: int) -> np.ndarray:
    """``e_t = a x_t + (1 - a) e_{t-1}``, ``a = 2 / (span + 1)``, seeded with the first value."""
    return pd.DataFrame(x).ewm(span=span, adjust=False).mean().to_numpy()


def _wilder(x: np.ndarray, n: int) -> np.ndarray:
    """Wilder's smoothing per column: the mean of the first ``n`` values, then ``s_t = ((n - 1) s_{t-1} + x_t) / n``.

    A NaN inside a series restarts it (seeded again from the next full ``n``-day mean).
    """
    seed = _rolling(x, n, "mean")
    out = np.full_like(x, np.nan)
    s = np.full(x.shape[1], np.nan)
    for t in range(x.shape[0]):
        s = np.where(np.isnan(s), seed[t], (s * (n - 1) + x[t]) / n)
        out[t] = s
    return out


def _log_adj(p: Panel) -> np.ndarray:
    return p.memo("log_adj", lambda: np.log(p.adj_close))


def _ret(p: Panel, k: int) -> np.ndarray:
    la = _log_adj(p)
    out = np.full_like(la, np.nan)
    out[k:] = la[k:] - la[:-k]
    return out


def _vol(p: Panel, n: int) -> np.ndarray:
    return p.memo(f"vol{n}", lambda: _rolling(_ret(p, 1), n, "std") * _ANNUAL)


def _log_ratio(x: np.ndarray, ref: float | np.ndarray) -> np.ndarray:
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.log(np.maximum(x, _EPS) / ref)


# -- features: raw formula -> scaled -------------------------------------------------------------------------


def _f_ret(k: int) -> Callable[[Panel], np.ndarray]:
    def f(p: Panel) -> np.ndarray:
        return _ret(p, k) / (0.02 * np.sqrt(k))

    f.__doc__ = f"ret_{k}d = log(adj_close_t / adj_close_(t-{k})) / (0.02 * sqrt({k}))  (2% daily vol -> 1)."
    return f


def _f_sma_ratio(n: int, scale: float) -> Callable[[Panel], np.ndarray]:
    def f(p: Panel) -> np.ndarray:
        return (p.adj_close / _rolling(p.adj_close, n, "mean") - 1.0) / scale

    f.__doc__ = f"sma{n}_ratio = (adj_close_t / mean(adj_close_(t-{n - 1}..t)) - 1) / {scale}."
    return f


def _f_rsi(p: Panel) -> np.ndarray:
    """rsi_14 = (RSI - 50) / 20, RSI = 100 - 100 / (1 + G / L); G, L = Wilder(14) means of up / down moves of adj_close."""
    d = np.diff(p.adj_close, axis=0, prepend=np.nan)
    gain = _wilder(np.where(np.isnan(d), np.nan, np.maximum(d, 0.0)), 14)
    loss = _wilder(np.where(np.isnan(d), np.nan, np.maximum(-d, 0.0)), 14)
    with np.errstate(divide="ignore", invalid="ignore"):
        rsi = np.where(loss > 0, 100.0 - 100.0 / (1.0 + gain / loss), np.where(gain > 0, 100.0, 50.0))
    rsi = np.where(np.isnan(gain) | np.isnan(loss), np.nan, rsi)
    return (rsi - 50.0) / 20.0


def _macd_line(p: Panel) -> np.ndarray:
    return p.memo("macd", lambda: (_ema(p.adj_close, 12) - _ema(p.adj_close, 26)) / p.adj_close)


def _f_macd(p: Panel) -> np.ndarray:
    """macd = (EMA12(adj_close) - EMA26(adj_close)) / adj_close / 0.02."""
    return _macd_line(p) / 0.02


def _f_macd_hist(p: Panel) -> np.ndarray:
    """macd_hist = (m - EMA9(m)) / 0.01 with m = (EMA12 - EMA26) / adj_close (the MACD histogram)."""
    m = _macd_line(p)
    return (m - _ema(m, 9)) / 0.01


def _f_bb(p: Panel) -> np.ndarray:
    """bb_pctb = 2 %B - 1 = (adj_close - SMA20) / (2 sd20), sd with ddof=0 (Bollinger 20, 2); 0 when sd = 0."""
    m = _rolling(p.adj_close, 20, "mean")
    s = _rolling(p.adj_close, 20, "std", ddof=0)
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.where(s > 0, (p.adj_close - m) / (2.0 * s), np.where(np.isnan(s), np.nan, 0.0))


def _f_atr(p: Panel) -> np.ndarray:
    """atr_14 = log(ATR14 / close / 0.02); TR = max(high - low, |high - close_(t-1)|, |low - close_(t-1)|), ATR = Wilder(14) of TR."""
    prev = np.vstack([np.full((1, p.close.shape[1]), np.nan), p.close[:-1]])
    tr = np.fmax(p.high - p.low, np.fmax(np.abs(p.high - prev), np.abs(p.low - prev)))
    tr = np.where(np.isnan(prev), p.high - p.low, tr)  # first bar of a series: no previous close
    return _log_ratio(_wilder(tr, 14) / p.close, 0.02)


def _f_vol(n: int) -> Callable[[Panel], np.ndarray]:
    def f(p: Panel) -> np.ndarray:
        return _log_ratio(_vol(p, n), 0.25)

    f.__doc__ = f"vol_{n}d = log(sd(ret_1d over {n} days, ddof=1) * sqrt(252) / 0.25)  (25% a year -> 0)."
    return f


def _f_volume_z(p: Panel) -> np.ndarray:
    """volume_z21 = (v_t - mean(v, 21)) / sd(v, 21), v = log(1 + volume); 0 when sd = 0."""
    v = np.log1p(np.maximum(p.volume, 0.0))
    m, s = _rolling(v, 21, "mean"), _rolling(v, 21, "std")
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.where(s > 0, (v - m) / s, np.where(np.isnan(s), np.nan, 0.0))


def _f_vol_ratio(p: Panel) -> np.ndarray:
    """vol_ratio_5_63 = log(vol_5d / vol_63d), the short/long realised-volatility ratio."""
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.log(np.maximum(_vol(p, 5), _EPS) / np.maximum(_vol(p, 63), _EPS))


def _f_range_pos(p: Panel) -> np.ndarray:
    """range_pos_21d = 2 (close - L) / (H - L) - 1, H/L = highest high / lowest low of the last 21 days; 0 when H = L."""
    hi, lo = _rolling(p.high, 21, "max"), _rolling(p.low, 21, "min")
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.where(hi > lo, 2.0 * (p.close - lo) / (hi - lo) - 1.0, np.where(np.isnan(hi), np.nan, 0.0))


def _bench(p: Panel, values: np.ndarray) -> np.ndarray:
    """Broadcast the benchmark column of ``values`` to every ticker."""
    if p.benchmark is None:
        raise PermanentDataError("market-regime features need the benchmark's prices; add the benchmark (e.g. SPY) to the tickers")
    return np.repeat(values[:, [p.benchmark]], values.shape[1], axis=1)


def _f_spy_trend(p: Panel) -> np.ndarray:
    """spy_sma200 = (b_t / mean(b_(t-199..t)) - 1) / 0.1, b = benchmark adj_close; the same for every ticker."""
    return _bench(p, (p.adj_close / _rolling(p.adj_close, 200, "mean") - 1.0) / 0.1)


def _f_spy_vol_regime(p: Panel) -> np.ndarray:
    """spy_vol_regime = log(vol_21d(b)_t / median(vol_21d(b) over the last 252 days)), b = benchmark; same for every ticker."""
    v = _vol(p, 21)
    return _bench(p, _log_ratio(v, _rolling(v, 252, "median")))


@dataclass(frozen=True)
class FeatureSpec:
    """One feature slot: how to compute it (scaled, before clipping) and how many rows it needs.

    :param name: slot name in :data:`FEATURE_CATALOGUE`.
    :param fn: ``Panel -> (T, N)`` scaled values (NaN where undefined).
    :param warmup: rows of history (from the ticker's first row, inclusive) before a value counts.
    :param benchmark: computed from the benchmark's prices and broadcast to every ticker.
    """

    name: str
    fn: Callable[[Panel], np.ndarray]
    warmup: int
    benchmark: bool = False

    @property
    def formula(self) -> str:
        return (self.fn.__doc__ or "").strip()


_SPECS = (
    # simple
    FeatureSpec("ret_1d", _f_ret(1), 2),
    FeatureSpec("ret_5d", _f_ret(5), 6),
    FeatureSpec("sma20_ratio", _f_sma_ratio(20, 0.05), 20),
    FeatureSpec("rsi_14", _f_rsi, 43),  # 15 rows seed Wilder, the rest lets the seed fade
    FeatureSpec("vol_21d", _f_vol(21), 22),
    # rich
    FeatureSpec("ret_21d", _f_ret(21), 22),
    FeatureSpec("sma50_ratio", _f_sma_ratio(50, 0.1), 50),
    FeatureSpec("macd", _f_macd, 78),  # 3 x 26 so the EMA seed has faded
    FeatureSpec("macd_hist", _f_macd_hist, 78),
    FeatureSpec("bb_pctb", _f_bb, 20),
    FeatureSpec("atr_14", _f_atr, 43),
    FeatureSpec("volume_z21", _f_volume_z, 21),
    # full
    FeatureSpec("ret_63d", _f_ret(63), 64),
    FeatureSpec("ret_252d", _f_ret(252), 253),
    FeatureSpec("vol_63d", _f_vol(63), 64),
    FeatureSpec("vol_ratio_5_63", _f_vol_ratio, 64),
    FeatureSpec("range_pos_21d", _f_range_pos, 21),
    FeatureSpec("spy_sma200", _f_spy_trend, 200, benchmark=True),
    FeatureSpec("spy_vol_regime", _f_spy_vol_regime, 273, benchmark=True),
)

FEATURES: dict[str, FeatureSpec] = {s.name: s for s in _SPECS}
FEATURE_CATALOGUE: tuple[str, ...] = tuple(FEATURES)
FEATURE_SETS: dict[str, tuple[str, ...]] = {
    "simple": FEATURE_CATALOGUE[:5],
    "rich": FEATURE_CATALOGUE[:12],
    "full": FEATURE_CATALOGUE,
}


def _names(feature_set: str | Sequence[str]) -> tuple[str, ...]:
    if isinstance(feature_set, str):
        if feature_set not in FEATURE_SETS:
            raise PermanentDataError(f"unknown feature set {feature_set!r}; use one of {list(FEATURE_SETS)}")
        return FEATURE_SETS[feature_set]
    unknown = [n for n in feature_set if n not in FEATURES]
    if unknown:
        raise PermanentDataError(f"unknown feature(s) {unknown}; the catalogue has {list(FEATURE_CATALOGUE)}")
    return tuple(n for n in FEATURE_CATALOGUE if n in set(feature_set))


def feature_warmup(feature_set: str | Sequence[str]) -> int:
    """Rows of history the slowest feature of the set needs (``full`` needs 273, ``rich`` 78, ``simple`` 43).

    :param feature_set: a name in :data:`FEATURE_SETS` or a list of feature names.
    """
    return max(FEATURES[n].warmup for n in _names(feature_set))


def feature_arrays(panel: Panel, feature_set: str | Sequence[str] = "full", *, raw: bool = False) -> dict[str, np.ndarray]:
    """Each feature of the set as a ``(T, N)`` float64 array: scaled, clipped to ``[-CLIP, CLIP]``, NaN while cold.

    :param panel: wide prices from :func:`to_panel`.
    :param feature_set: a name in :data:`FEATURE_SETS` or a list of feature names.
    :param raw: skip the clipping and the warm-up mask (values are still scaled; for tests and diagnostics).
    :raises DataError: a benchmark feature is asked for but the panel has no benchmark column.
    """
    names = _names(feature_set)
    first = panel.first_row
    row = np.arange(len(panel.dates))[:, None]
    out: dict[str, np.ndarray] = {}
    for name in names:
        spec = FEATURES[name]
        with np.errstate(divide="ignore", invalid="ignore"):
            values = np.asarray(spec.fn(panel), dtype="float64")
        if not raw:
            start = np.full_like(first, first[panel.benchmark]) if spec.benchmark and panel.benchmark is not None else first
            values = np.where(row - start[None, :] + 1 >= spec.warmup, values, np.nan)
            values = np.where(np.isnan(panel.adj_close), np.nan, values)  # no bar, no feature
            values = np.clip(values, -CLIP, CLIP)
        out[name] = values
    return out


def compute_features(
    prices: pd.DataFrame, feature_set: str | Sequence[str] = "full", *, benchmark: str | None = "SPY", raw: bool = False
) -> pd.DataFrame:
    """Features of every ``(ticker, date)`` row of a price frame, as a long frame sorted like the prices.

    Columns: ``date``, ``ticker``, then the set's features in :data:`FEATURE_CATALOGUE` order. Values are
    NaN during each ticker's warm-up (see :func:`feature_warmup`). Rows are computed per ticker on the union
    calendar of the frame; a ticker's gap would make its windows span the gap, so validate first.

    :param prices: a validated price frame (see :func:`~autotest_lib.data.validate_prices`).
    :param feature_set: ``"simple"``, ``"rich"``, ``"full"`` or a list of feature names.
    :param benchmark: ticker in ``prices`` that feeds the market-regime features (needed by ``"full"``).
    :param raw: skip clipping and warm-up masking.
    :raises DataError: unknown feature set, or benchmark features without the benchmark's rows.
    """
    names = _names(feature_set)
    panel = to_panel(prices, benchmark)
    if any(FEATURES[n].benchmark for n in names) and panel.benchmark is None:
        raise PermanentDataError(
            f"feature set {feature_set!r} has market-regime features that need the benchmark {benchmark!r}, which is not in the "
            f"frame (tickers: {panel.tickers}); add its rows or choose feature_set='rich'"
        )
    arrays = feature_arrays(panel, names, raw=raw)
    rows = np.searchsorted(panel.dates, prices["date"].to_numpy())
    cols = np.searchsorted(np.array(panel.tickers, dtype=object), prices["ticker"].to_numpy(dtype=object))
    out = pd.DataFrame({"date": prices["date"].to_numpy(), "ticker": prices["ticker"].to_numpy()}, index=prices.index)
    for name in names:
        out[name] = arrays[name][rows, cols]
    return out
