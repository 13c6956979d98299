"""Backtests and metrics: how good is a model on days it never trained on?

- ``metrics.py``: pure numpy functions of daily returns, each written as its formula (Sharpe, Sortino, drawdown,
  probabilistic and deflated Sharpe ratios), and :func:`compute_metrics`, their JSON-safe summary.
- ``backtest.py``: :func:`backtest` runs a policy through the trading env over a window next to its benchmarks
  (equal-weight buy-and-hold, the market's benchmark); :func:`score` ranks models.
"""

from autotest_lib.evaluate.backtest import BUY_AND_HOLD, BacktestResult, BenchmarkResult, Policy, backtest, policy_from_model, score
from autotest_lib.evaluate.metrics import (
    compute_metrics,
    deflated_sharpe_ratio,
    expected_max_sharpe,
    max_drawdown,
    probabilistic_sharpe_ratio,
    sharpe_ratio,
)

__all__ = [
    "BUY_AND_HOLD",
    "BacktestResult",
    "BenchmarkResult",
    "Policy",
    "backtest",
    "compute_metrics",
    "deflated_sharpe_ratio",
    "expected_max_sharpe",
    "max_drawdown",
    "policy_from_model",
    "probabilistic_sharpe_ratio",
    "score",
    "sharpe_ratio",
]
