"""A causal market-regime detector on the benchmark index (SPY): trend (bull/bear) x volatility (high/low).

The rules, with ``P_t`` the index's adjusted close on trading day ``t`` and every window ending at ``t``
(so a label uses nothing after ``t``'s close)::

    SMA_t   = (1 / N_T) * sum_{i=0}^{N_T-1} P_{t-i}                          N_T = trend_window   (200)
    trend_t = "bull" if P_t > SMA_t else "bear"

    r_t     = ln(P_t / P_{t-1})
    sigma_t = std(r_{t-N_V+1}, ..., r_t; ddof=1) * sqrt(252)                 N_V = vol_window     (21)
    m_t     = median(sigma_{t-L+1}, ..., sigma_t)                            L   = vol_lookback   (252)
    vol_t   = "high" if sigma_t > m_t else "low"

    regime_t = f"{trend_t}_{vol_t}_vol"   e.g. "bull_low_vol", "bear_high_vol"

Before ``SMA_t`` or ``m_t`` is defined (the first ``max(N_T, N_V + L) - 1`` days of the series) the label is
``"unknown"``. The label of day ``t`` is known at ``t``'s close; it is the regime a decision taken at that
close is made in. :func:`current_regime` is therefore the label of the last trading day before the week's
cutoff: the regime the coming week is traded in.

On the bundled prices this labels March 2020 ``bear_high_vol`` and most of 2017 ``bull_low_vol``
(tests/unit/test_regime.py).
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

import numpy as np
import pandas as pd

from autotest_lib.config import RegimeConfig
from autotest_lib.data import load_prices

__all__ = [
    "REGIMES",
    "UNKNOWN",
    "CurrentRegime",
    "current_regime",
    "detect_regimes",
    "history_start",
    "index_closes",
    "regime_labels",
    "regime_warmup",
    "window_labels",
]

REGIMES: tuple[str, ...] = ("bull_low_vol", "bull_high_vol", "bear_low_vol", "bear_high_vol")
"""The four labels, in display order."""
UNKNOWN = "unknown"
"""The label of days whose windows are not full yet."""

_ANNUAL = float(np.sqrt(252.0))


def regime_warmup(config: RegimeConfig) -> int:
    """Trading days of history before the first defined label: ``max(N_T, N_V + L) - 1``.

    :param config: the regime settings.
    """
    return max(config.trend_window, config.vol_window + config.vol_lookback) - 1


def detect_regimes(close: pd.Series, config: RegimeConfig | None = None) -> pd.DataFrame:
    """Label every day of ``close`` by the module's rules (causal: row ``t`` uses rows ``<= t`` only).

    :param close: the index's adjusted closes, indexed by date, ascending, no NaN.
    :param config: windows (default :class:`~autotest_lib.config.RegimeConfig`).
    :returns: a frame indexed like ``close`` with columns ``close, sma, trend, vol, vol_median, vol_state, regime``.
    :raises ValueError: ``close`` is not ascending or holds NaN / non-positive values.
    """
    cfg = config or RegimeConfig()
    p = pd.Series(close, dtype="float64")
    if not p.index.is_monotonic_increasing:
        raise ValueError("close must be sorted by date (ascending)")
    if p.isna().any() or (p <= 0).any():
        raise ValueError("close holds NaN or non-positive prices; pass the index's validated adjusted closes")
    sma = p.rolling(cfg.trend_window, min_periods=cfg.trend_window).mean()
    log_ret = np.log(p).diff()
    vol = log_ret.rolling(cfg.vol_window, min_periods=cfg.vol_window).std(ddof=1) * _ANNUAL
    vol_median = vol.rolling(cfg.vol_lookback, min_periods=cfg.vol_lookback).median()
    trend = np.where(p > sma, "bull", "bear")
    vol_state = np.where(vol > vol_median, "high", "low")
    known = sma.notna() & vol_median.notna()
    regime = np.where(known, [f"{t}_{v}_vol" for t, v in zip(trend, vol_state, strict=True)], UNKNOWN)
    return pd.DataFrame(
        {
            "close": p,
            "sma": sma,
            "trend": np.where(sma.notna(), trend, UNKNOWN),
            "vol": vol,
            "vol_median": vol_median,
            "vol_state": np.where(vol_median.notna(), vol_state, UNKNOWN),
            "regime": regime,
        },
        index=p.index,
    )


def index_closes(cutoff: dt.date, *, benchmark: str = "SPY", source: str = "bundled", start: dt.date | str | None = None) -> pd.Series:
    """The index's adjusted closes dated before ``cutoff`` (exclusive), indexed by date.

    :param cutoff: exclusive end.
    :param benchmark: the index ticker (``preset.data.benchmark``).
    :param source: price source.
    :param start: first date; None = everything the source has.
    """
    frame = load_prices([benchmark], cutoff=cutoff, start=start, source=source)
    series = frame.set_index("date")["adj_close"].astype("float64")
    series.index = pd.DatetimeIndex(series.index, name="date")
    return series


def regime_labels(
    cutoff: dt.date,
    config: RegimeConfig | None = None,
    *,
    benchmark: str = "SPY",
    source: str = "bundled",
    start: dt.date | str | None = None,
) -> pd.Series:
    """The regime of every trading day before ``cutoff``: a string Series indexed by date.

    :param cutoff: exclusive end (the week's cutoff); nothing on or after it is read.
    :param config: regime windows.
    :param benchmark: the index ticker.
    :param source: price source.
    :param start: first date loaded (labels need :func:`regime_warmup` days before they are defined).
    """
    return detect_regimes(index_closes(cutoff, benchmark=benchmark, source=source, start=start), config)["regime"]


def history_start(start: dt.date, config: RegimeConfig | None = None) -> dt.date:
    """A load date early enough that every label from ``start`` on is defined (warm-up plus holidays).

    :param start: first day whose label is needed.
    :param config: regime windows.
    """
    return start - dt.timedelta(days=round(1.6 * (regime_warmup(config or RegimeConfig()) + 30)) + 10)


def window_labels(
    start: dt.date, end: dt.date, config: RegimeConfig | None = None, *, benchmark: str = "SPY", source: str = "bundled"
) -> pd.Series:
    """Labels of the trading days before ``end`` from a little before ``start`` (the day before ``start`` is
    included, for :func:`~autotest_lib.regime.attribute_days`); identical to the labels over the full history.

    :param start: first day of the window.
    :param end: exclusive end (the cutoff).
    :param config: regime windows.
    :param benchmark: the index ticker.
    :param source: price source.
    """
    labels = regime_labels(end, config, benchmark=benchmark, source=source, start=history_start(start, config))
    return labels.loc[labels.index >= pd.Timestamp(start - dt.timedelta(days=10))]


@dataclass(frozen=True)
class CurrentRegime:
    """The regime the coming week trades in: the label of the last trading day before the cutoff."""

    regime: str
    as_of: dt.date
    trend: str
    vol_state: str
    close: float
    sma: float
    vol: float
    vol_median: float

    def as_dict(self) -> dict[str, object]:
        return {
            "regime": self.regime,
            "as_of": self.as_of.isoformat(),
            "trend": self.trend,
            "vol_state": self.vol_state,
            "close": self.close,
            "sma": self.sma,
            "vol": self.vol,
            "vol_median": self.vol_median,
        }


def current_regime(
    cutoff: dt.date, config: RegimeConfig | None = None, *, benchmark: str = "SPY", source: str = "bundled"
) -> CurrentRegime:
    """The regime of the week starting at ``cutoff``, from prices strictly before it.

    :param cutoff: the week's cutoff (exclusive).
    :param config: regime windows.
    :param benchmark: the index ticker.
    :param source: price source.
    """
    frame = detect_regimes(index_closes(cutoff, benchmark=benchmark, source=source, start=history_start(cutoff, config)), config)
    last = frame.iloc[-1]
    return CurrentRegime(
        regime=str(last["regime"]),
        as_of=frame.index[-1].date(),
        trend=str(last["trend"]),
        vol_state=str(last["vol_state"]),
        close=float(last["close"]),
        sma=float(last["sma"]),
        vol=float(last["vol"]),
        vol_median=float(last["vol_median"]),
    )
