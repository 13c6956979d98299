"""How a backtest did in each market regime: its metrics over the days of the window in that regime.

**Attribution.** The return earned on day ``d`` (close of the previous trading day to close of ``d``) is
attributed to the regime labelled at the *previous* close: the regime the position was taken in. This is
the same convention the paper-trade selection uses (the regime at the cutoff picks the model for the
coming week), so "Sharpe in ``bull_high_vol``" means "Sharpe of the days after a ``bull_high_vol`` close".

Per regime the days are taken out of the window (not necessarily contiguous) and measured with
:func:`~autotest_lib.evaluate.compute_metrics`; the benchmarks of the same days are measured the same way.
The result is JSON-able and stored as ``evaluations.by_regime``::

    {"bull_high_vol": {"days": 23, "share": 0.38, "sharpe": 1.2, "total_return": 0.031, ...,
                       "benchmarks": {"buy_and_hold": {"sharpe": ..., "total_return": ...}, "SPY": {...}}},
     "bull_low_vol": {...}}
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd

from autotest_lib.evaluate.backtest import BacktestResult
from autotest_lib.evaluate.metrics import compute_metrics
from autotest_lib.regime.detector import REGIMES, UNKNOWN

__all__ = ["BREAKDOWN_METRICS", "attribute_days", "regime_breakdown"]

BREAKDOWN_METRICS: tuple[str, ...] = ("total_return", "sharpe", "sortino", "annual_volatility", "max_drawdown", "win_rate")
"""Metrics kept per regime (from :func:`~autotest_lib.evaluate.compute_metrics`)."""


def attribute_days(dates: np.ndarray | pd.DatetimeIndex, labels: pd.Series) -> np.ndarray:
    """The regime each return day belongs to: the label of the last labelled day strictly before it.

    :param dates: ``(T,)`` days whose return was earned (``BacktestResult.dates``).
    :param labels: regime label per trading day of the index (:func:`~autotest_lib.regime.regime_labels`).
    :returns: ``(T,)`` object array of labels (``"unknown"`` when no earlier label exists).
    """
    index = pd.DatetimeIndex(labels.index)
    days = pd.DatetimeIndex(np.asarray(dates, dtype="datetime64[ns]"))
    pos = index.searchsorted(days, side="left") - 1
    values = labels.to_numpy(dtype=object)
    return np.where(pos >= 0, values[np.clip(pos, 0, None)], UNKNOWN)


def _subset(returns: np.ndarray, mask: np.ndarray) -> dict[str, float]:
    metrics = compute_metrics(returns[mask])
    return {key: float(metrics[key]) for key in BREAKDOWN_METRICS}


def regime_breakdown(result: BacktestResult, labels: pd.Series) -> dict[str, dict[str, Any]]:
    """Metrics of ``result`` per regime over its window (see the module docstring for the attribution).

    :param result: a backtest (its ``dates``, ``returns`` and ``benchmarks``).
    :param labels: regime label per trading day, covering at least the day before the window starts.
    :returns: regime -> ``{"days", "share", <BREAKDOWN_METRICS>, "benchmarks": {name: {"sharpe", "total_return"}}}``,
        only for regimes with at least one day, in :data:`~autotest_lib.regime.REGIMES` order (``unknown`` last).
    """
    attributed = attribute_days(result.dates, labels)
    returns = np.asarray(result.returns, dtype=np.float64)
    total = len(returns)
    out: dict[str, dict[str, Any]] = {}
    for regime in (*REGIMES, UNKNOWN):
        mask = attributed == regime
        days = int(mask.sum())
        if days == 0:
            continue
        row: dict[str, Any] = {"days": days, "share": days / total if total else 0.0}
        row.update(_subset(returns, mask))
        row["benchmarks"] = {
            name: {k: v for k, v in _subset(np.asarray(b.returns, dtype=np.float64), mask).items() if k in ("sharpe", "total_return")}
            for name, b in result.benchmarks.items()
        }
        out[regime] = row
    return out
