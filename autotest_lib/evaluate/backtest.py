"""Run a policy through the trading env over a window, next to its benchmarks, and score it.

One deterministic pass of :class:`~autotest_lib.env.PortfolioEnv` over ``[start, end)``: the policy decides at
the close of every day but the last and earns every day's return but the first (see ``docs/ARCHITECTURE.md``,
timing). Per earned day ``t`` the env reports, and :class:`BacktestResult` keeps::

    r_t     = w_{t-1} . R_t − cost_t           net portfolio return (info["portfolio_return"])
    cost_t  = τ_t · (cost_bps + slippage_bps) / 1e4,   τ_t = Σ_i |w_{t-1,i} − v_{t-1,i}|   (v = drifted weights)
    E_t     = Π_{s≤t} (1 + r_s)                equity, starting from 1.0 the day before ``dates[0]``

Benchmarks on exactly the same days, without costs:

- ``"buy_and_hold"``: equal weight ``1/K`` in the ``K`` tickers tradable on the first decision day, bought then
  and never rebalanced (weights drift; tickers listing later are not bought; a non-tradable day earns 0 as in
  ``market.returns``). Its equity is ``E_t = (1/K) Σ_i Π_{s≤t} (1 + R_{s,i})``.
- ``market.benchmark`` (e.g. ``"SPY"``): ``E_t = Π_{s≤t} (1 + b_s)`` from ``market.benchmark_returns``.

:func:`score` is the one number used to rank models: the annualised Sharpe ratio of the net daily returns
(0.0 when undefined, e.g. a policy that stays in cash).
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd
from numpy.typing import ArrayLike

from autotest_lib.config import EnvConfig
from autotest_lib.data import DateLike, MarketData
from autotest_lib.evaluate.metrics import annual_volatility, compute_metrics, sharpe_ratio

__all__ = ["BUY_AND_HOLD", "BacktestResult", "BenchmarkResult", "Policy", "backtest", "buy_and_hold_returns", "policy_from_model", "score"]

Policy = Callable[[np.ndarray], ArrayLike]
"""Maps an observation ``(obs_dim,)`` float32 to an action ``(max_tickers + 1,)`` in [-1, 1]."""

BUY_AND_HOLD = "buy_and_hold"

# Metrics compared in ``summary()["excess"]``: strategy minus benchmark.
_EXCESS_KEYS = ("total_return", "cagr", "sharpe", "max_drawdown", "calmar")


def _readonly(a: ArrayLike, dtype: Any = np.float64) -> np.ndarray:
    out = np.array(a, dtype=dtype)
    out.setflags(write=False)
    return out


def _equity(returns: np.ndarray) -> np.ndarray:
    """``E_t = Π_{s≤t} (1 + r_s)``, one value per day (the starting 1.0 is implicit)."""
    return np.cumprod(1.0 + returns)


@dataclass(frozen=True, eq=False)
class BenchmarkResult:
    """One benchmark on the backtest's days.

    :param name: ``"buy_and_hold"`` or the benchmark ticker.
    :param returns: ``(T,)`` daily simple returns.
    :param equity: ``(T,)`` compounded equity from 1.0.
    :param metrics: :func:`~autotest_lib.evaluate.metrics.compute_metrics` of ``returns``.
    """

    name: str
    returns: np.ndarray
    equity: np.ndarray
    metrics: dict[str, float]

    @classmethod
    def from_returns(cls, name: str, returns: ArrayLike) -> BenchmarkResult:
        r = _readonly(returns)
        return cls(name=name, returns=r, equity=_readonly(_equity(r)), metrics=compute_metrics(r))


@dataclass(frozen=True, eq=False)
class BacktestResult:
    """A policy's daily record over a window, its metrics and its benchmarks; arrays are read-only.

    :param tickers: the market's ``N`` tickers (columns of ``weights``).
    :param dates: ``(T,)`` ``datetime64[D]`` days whose return was earned.
    :param returns: ``(T,)`` net daily returns (after costs).
    :param costs: ``(T,)`` trading cost as a fraction of equity.
    :param equity: ``(T,)`` compounded net equity from 1.0.
    :param weights: ``(T, N)`` target ticker weights held over each day (cash is the rest).
    :param cash: ``(T,)`` cash weight held over each day.
    :param turnover: ``(T,)`` ``Σ_i |w_i − v_i|`` traded at the previous close.
    :param metrics: :func:`~autotest_lib.evaluate.metrics.compute_metrics` of ``returns`` (with turnover and trials).
    :param benchmarks: name -> :class:`BenchmarkResult` on the same ``dates``.
    """

    tickers: tuple[str, ...]
    dates: np.ndarray
    returns: np.ndarray
    costs: np.ndarray
    equity: np.ndarray
    weights: np.ndarray
    cash: np.ndarray
    turnover: np.ndarray
    metrics: dict[str, float]
    benchmarks: dict[str, BenchmarkResult]

    @property
    def gross_returns(self) -> np.ndarray:
        """``(T,)`` returns before costs: ``r_t + cost_t = w_{t-1} . R_t``."""
        return self.returns + self.costs

    def excess(self) -> dict[str, dict[str, float]]:
        """Per benchmark: strategy metric minus benchmark metric for :data:`_EXCESS_KEYS`, plus the
        ``information_ratio`` ``= SR(r − b)`` and ``tracking_error`` ``= σ_ann(r − b)`` of the active returns
        (0.0 when undefined)."""
        out: dict[str, dict[str, float]] = {}
        for name, bench in self.benchmarks.items():
            row = {key: float(self.metrics[key] - bench.metrics[key]) for key in _EXCESS_KEYS}
            active = self.returns - bench.returns
            for key, value in (("information_ratio", sharpe_ratio(active)), ("tracking_error", annual_volatility(active))):
                row[key] = float(value) if math.isfinite(value) else 0.0
            out[name] = row
        return out

    def summary(self) -> dict[str, Any]:
        """JSON-able: window, tickers, metrics, score, each benchmark's metrics and the excess over it."""
        return {
            "start": str(self.dates[0]) if len(self.dates) else None,
            "end": str(self.dates[-1]) if len(self.dates) else None,
            "tickers": list(self.tickers),
            "score": score(self),
            "metrics": dict(self.metrics),
            "benchmarks": {name: dict(b.metrics) for name, b in self.benchmarks.items()},
            "excess": self.excess(),
        }

    def to_frame(self) -> pd.DataFrame:
        """The daily series, indexed by ``date``: ``return, gross_return, cost, turnover, equity, cash``, one
        ``w_<TICKER>`` column per ticker, then ``<benchmark>_return`` and ``<benchmark>_equity`` per benchmark."""
        cols: dict[str, np.ndarray] = {
            "return": self.returns,
            "gross_return": self.gross_returns,
            "cost": self.costs,
            "turnover": self.turnover,
            "equity": self.equity,
            "cash": self.cash,
        }
        for j, ticker in enumerate(self.tickers):
            cols[f"w_{ticker}"] = self.weights[:, j]
        for name, bench in self.benchmarks.items():
            cols[f"{name}_return"] = bench.returns
            cols[f"{name}_equity"] = bench.equity
        index = pd.DatetimeIndex(self.dates.astype("datetime64[ns]"), name="date")
        return pd.DataFrame({k: np.asarray(v) for k, v in cols.items()}, index=index)


def buy_and_hold_returns(market: MarketData, t0: int, days: np.ndarray) -> np.ndarray:
    """Daily returns of an equal-weight buy-and-hold bought at the close of day ``t0`` over the tickers tradable then.

    ``V_t = (1/K) Σ_{i∈K} G_{t,i}`` with ``G_{t,i} = Π_{s≤t} (1 + R_{s,i})``; the return is ``V_t / V_{t−1} − 1``
    (``V`` starts at 1). No ticker tradable at ``t0``: all cash, zero returns.

    :param market: the market.
    :param t0: the decision (purchase) day index.
    :param days: ``(T,)`` consecutive day indices ``t0 + 1, t0 + 2, ...`` whose returns are earned.
    """
    held = np.asarray(market.tradable[t0], dtype=bool)
    if not held.any():
        return np.zeros(len(days))
    growth = np.cumprod(1.0 + np.asarray(market.returns, dtype=np.float64)[days][:, held], axis=0)
    value = np.concatenate(([1.0], growth.mean(axis=1)))
    return value[1:] / value[:-1] - 1.0


def backtest(
    policy: Policy,
    market: MarketData,
    config: EnvConfig,
    *,
    start: DateLike | None = None,
    end: DateLike | None = None,
    n_trials: int = 1,
    trial_sharpes: ArrayLike | None = None,
) -> BacktestResult:
    """Run ``policy`` over ``[start, end)`` of ``market`` in a :class:`~autotest_lib.env.PortfolioEnv`.

    Deterministic: the env pass has no randomness, so a deterministic policy gives an identical result.

    :param policy: observation ``(obs_dim,)`` float32 -> action ``(max_tickers + 1,)``; see :func:`policy_from_model`.
    :param market: the model's market (at most ``config.max_tickers`` tickers, loaded with ``config.feature_set``).
    :param config: the env settings the model was trained with (costs, caps, layout width).
    :param start: first decision day (inclusive); None = the market's first day.
    :param end: end of the window (exclusive); None = after the market's last day.
    :param n_trials: models compared in this selection, for the deflated Sharpe ratio in ``metrics["dsr"]``.
    :param trial_sharpes: their per-period Sharpe ratios (needed when ``n_trials > 1``).
    :raises DataError: the window holds fewer than 2 trading days.
    """
    from autotest_lib.env import PortfolioEnv  # the env pulls in gymnasium; metrics users need not

    env = PortfolioEnv(market, config)
    try:
        obs, info = env.reset(options={"start": start, "end": end})
        t0 = env.t
        dates, returns, costs, turnover, weights, cash = [], [], [], [], [], []
        done = False
        while not done:
            obs, _reward, terminated, truncated, info = env.step(np.asarray(policy(obs), dtype=np.float32))
            done = terminated or truncated
            dates.append(info["date"])
            returns.append(info["portfolio_return"])
            costs.append(info["cost"])
            turnover.append(info["turnover"])
            weights.append(info["weights"])
            cash.append(info["cash"])
    finally:
        env.close()

    r = _readonly(returns)
    days = np.arange(t0 + 1, t0 + 1 + len(r))
    benchmarks = {
        BUY_AND_HOLD: BenchmarkResult.from_returns(BUY_AND_HOLD, buy_and_hold_returns(market, t0, days)),
        market.benchmark: BenchmarkResult.from_returns(market.benchmark, np.asarray(market.benchmark_returns, dtype=np.float64)[days]),
    }
    return BacktestResult(
        tickers=tuple(market.tickers),
        dates=_readonly(dates, "datetime64[D]"),
        returns=r,
        costs=_readonly(costs),
        equity=_readonly(_equity(r)),
        weights=_readonly(np.reshape(weights, (len(r), len(market.tickers)))),
        cash=_readonly(cash),
        turnover=_readonly(turnover),
        metrics=compute_metrics(r, turnover=turnover, n_trials=n_trials, trial_sharpes=trial_sharpes),
        benchmarks=benchmarks,
    )


def score(result: BacktestResult) -> float:
    """The validation score that ranks models: ``SR = mean(r) / std(r, ddof=1) · √252`` of the net daily returns.

    Costs are inside ``r``, so churning is penalised; 0.0 when undefined (fewer than 2 days, or no dispersion as
    for a policy that holds cash). Deflation for the number of models tried is reported separately as
    ``metrics["dsr"]``; it does not change the ranking of models selected from the same trials.

    :param result: a backtest over the validation window.
    """
    return float(result.metrics["sharpe"])


def policy_from_model(model: Any, *, deterministic: bool = True) -> Policy:
    """Wrap any object with SB3's ``predict(obs, deterministic=...) -> (action, state)`` as a :data:`Policy`.

    :param model: e.g. a ``stable_baselines3.PPO``.
    :param deterministic: take the distribution's mode (backtests should).
    """

    def policy(obs: np.ndarray) -> np.ndarray:
        action, _state = model.predict(obs, deterministic=deterministic)
        return np.asarray(action)

    return policy
