"""The trading simulator shared by :class:`PortfolioEnv` (one copy) and :class:`BatchedPortfolioVecEnv` (many).

Three parts, each testable alone:

- :class:`MarketTables`: arrays precomputed once per market and layout width (observation rows without the
  portfolio, gross returns, tradable masks), shared by every env copy over that market.
- :class:`EpisodeSampler`: the training window and the seeded choice of episode starts (recent/history mix).
- :class:`PortfolioBook`: the state of ``n`` portfolios and one vectorised step for all of them.

One step at day index ``t`` for every copy, with ``M`` ticker slots plus cash at index ``M``::

    w      = caps(masked_softmax(action_scale * clip(a, -1, 1)))     target weights, sum 1, long-only
    turn   = sum_i |w_i - v_i|            over tickers, v = current (drifted) weights
    cost   = turn * (cost_bps + slippage_bps) / 1e4
    gross  = sum_i w_i * (1 + r[t+1]_i)   cash earns 0, so gross = 1 + w . r[t+1]
    reward = log(gross - cost) - risk_penalty * max(0, dd - dd_prev)
    v'     = w * (1 + r[t+1]) / gross     weights drift with the day's returns

with ``dd = 1 - equity / peak`` of the episode's equity curve. Options of :class:`EnvConfig` shape the reward
(never the portfolio's returns or costs)::

    reward_mode="excess_log":   reward -= log(mean_{i tradable at t} (1 + r[t+1]_i))    1/N of the own tickers
    turnover_penalty_bps=p:     reward -= turn * p / 1e4
    reward_scale=s:             reward *= s                                             applied last
 Both env classes call the same code on arrays
of shape ``(n, ...)``, so one copy and copy ``i`` of a batch compute bit-identical numbers.
"""

from __future__ import annotations

import datetime as dt
import logging
import weakref
from dataclasses import dataclass
from typing import Any, Protocol

import numpy as np

from autotest_lib.config import EnvConfig
from autotest_lib.env.layout import ObservationLayout
from autotest_lib.errors import ConfigError, DataError

__all__ = ["DateLike", "EpisodeSampler", "MarketLike", "MarketTables", "PortfolioBook", "StepArrays", "market_tables", "to_day"]

logger = logging.getLogger(__name__)

DateLike = str | dt.date | np.datetime64
"""A day: ``"2020-01-31"``, a ``datetime.date``/``datetime``/``pandas.Timestamp`` or a ``numpy.datetime64``."""

# Below this a gross growth is floored: a total loss gives a large negative reward, never -inf or NaN.
_MIN_GROWTH = 1e-9
# exp(action_scale * (a - 1)) needs no max-subtraction while exp(-2 * action_scale) stays a normal float.
_SAFE_SCALE = 300.0
_CLAMP_NOTED: set[tuple[Any, ...]] = set()
_sum = np.add.reduce  # ndarray.sum without its Python-level wrapper (same numbers, fewer microseconds)


class MarketLike(Protocol):
    """The fields of :class:`autotest_lib.data.MarketData` the environment reads."""

    @property
    def dates(self) -> np.ndarray: ...
    @property
    def tickers(self) -> tuple[str, ...]: ...
    @property
    def returns(self) -> np.ndarray: ...
    @property
    def features(self) -> np.ndarray: ...
    @property
    def tradable(self) -> np.ndarray: ...
    @property
    def feature_set(self) -> str: ...


def to_day(value: DateLike) -> np.datetime64:
    """``value`` as a ``numpy.datetime64[D]``.

    :param value: a date string, ``datetime.date``/``datetime``/``pandas.Timestamp`` or ``numpy.datetime64``.
    """
    try:
        return np.datetime64(value, "D")  # type: ignore[call-overload]  # numpy accepts dates; its stubs list str only
    except (TypeError, ValueError):
        import pandas as pd

        return np.datetime64(pd.Timestamp(value).date(), "D")


@dataclass(frozen=True, eq=False)
class MarketTables:
    """Arrays derived from one market for one layout width, computed once and shared read-only.

    :param layout: the observation layout (``max_tickers`` slots, ``F`` features).
    :param dates: ``(T,)`` trading days, ``datetime64[D]``.
    :param tickers: the market's ``N`` tickers, in slot order.
    :param static_obs: ``(T, obs_dim)`` float32 observation rows with the features and mask blocks filled and
        the weights and cash entries 0; a step gathers ``static_obs[t]`` and writes the portfolio in.
    :param gross: ``(T, M + 1)`` float64 ``1 + returns[t]`` per slot; 1 for empty slots and for cash.
    :param allowed: ``(T, M + 1)`` float64, 1.0 where the slot may hold weight at ``t`` (tradable, and cash
        always), else 0.0.
    :param equal_log_growth: ``(T,)`` float64, entry ``t`` is ``log`` of the growth from ``t`` to ``t + 1`` of
        1/N of the tickers tradable at ``t`` (0 for the last day and for days with none tradable).
    """

    layout: ObservationLayout
    dates: np.ndarray
    tickers: tuple[str, ...]
    static_obs: np.ndarray
    gross: np.ndarray
    allowed: np.ndarray
    equal_log_growth: np.ndarray

    @property
    def n_days(self) -> int:
        return int(self.dates.shape[0])

    @property
    def n_tickers(self) -> int:
        return len(self.tickers)

    @property
    def nbytes(self) -> int:
        return int(self.static_obs.nbytes + self.gross.nbytes + self.allowed.nbytes + self.equal_log_growth.nbytes)


_TABLES: dict[tuple[int, int], MarketTables] = {}


def _build_tables(market: MarketLike, max_tickers: int) -> MarketTables:
    n_days, n_tickers = market.returns.shape
    features = np.asarray(market.features)
    if features.ndim != 3 or features.shape[:2] != (n_days, n_tickers):
        raise DataError(f"market.features has shape {features.shape}; expected (T, N, F) = ({n_days}, {n_tickers}, F)")
    if n_tickers > max_tickers:
        raise ConfigError(
            f"the market has {n_tickers} tickers ({', '.join(market.tickers)}) but env.max_tickers={max_tickers}; "
            f"raise env.max_tickers to at least {n_tickers} or trade fewer tickers"
        )
    if not np.isfinite(features).all():
        bad = np.argwhere(~np.isfinite(features))[0]
        raise DataError(
            f"market.features holds NaN/inf, first at {market.dates[bad[0]]} {market.tickers[bad[1]]} slot {bad[2]}; they must be finite"
        )
    layout = ObservationLayout(max_tickers, features.shape[2])
    tradable = np.asarray(market.tradable, dtype=bool)
    returns = np.where(tradable, np.asarray(market.returns, dtype=np.float64), 0.0)
    if not np.isfinite(returns).all():
        bad = np.argwhere(~np.isfinite(returns))[0]
        raise DataError(
            f"market.returns is not finite at {market.dates[bad[0]]} {market.tickers[bad[1]]} although tradable; fix the price data"
        )

    static = np.zeros((n_days, layout.obs_dim), dtype=np.float32)
    feat = static[:, layout.features].reshape(n_days, max_tickers, layout.n_features)
    feat[:, :n_tickers, :] = features
    static[:, layout.mask_offset : layout.mask_offset + n_tickers] = tradable
    gross = np.ones((n_days, max_tickers + 1), dtype=np.float64)
    gross[:, :n_tickers] += returns
    allowed = np.zeros((n_days, max_tickers + 1), dtype=np.float64)
    allowed[:, :n_tickers] = tradable
    allowed[:, max_tickers] = 1.0
    equal = np.zeros(n_days, dtype=np.float64)
    held = allowed[:-1, :n_tickers]
    count = held.sum(axis=1)
    some = count > 0
    equal[:-1][some] = np.log((held * gross[1:, :n_tickers]).sum(axis=1)[some] / count[some])
    for arr in (static, gross, allowed, equal):
        arr.setflags(write=False)
    dates = np.asarray(market.dates).astype("datetime64[D]")
    return MarketTables(
        layout=layout, dates=dates, tickers=tuple(market.tickers), static_obs=static, gross=gross, allowed=allowed, equal_log_growth=equal
    )


def market_tables(market: MarketLike, max_tickers: int) -> MarketTables:
    """The :class:`MarketTables` of ``market`` at width ``max_tickers``, built once and cached while ``market`` lives.

    Every env copy over the same market object shares one set of tables (64 copies cost one copy's memory).

    :param market: a :class:`autotest_lib.data.MarketData` (or any object with its fields).
    :param max_tickers: layout width; must be at least the market's ticker count.
    :raises ConfigError: the market has more tickers than ``max_tickers``.
    :raises DataError: features or returns are not finite or not shaped ``(T, N, ...)``.
    """
    key = (id(market), max_tickers)
    tables = _TABLES.get(key)
    if tables is not None:
        return tables
    tables = _build_tables(market, max_tickers)
    try:
        weakref.finalize(market, _TABLES.pop, key, None)
    except TypeError:  # not weak-referenceable: do not cache, ids could be reused
        return tables
    _TABLES[key] = tables
    return tables


def check_feature_set(market: MarketLike, config: EnvConfig) -> None:
    """Raise :class:`ConfigError` unless the market was loaded with the config's feature set."""
    have = getattr(market, "feature_set", config.feature_set)
    if have != config.feature_set:
        raise ConfigError(
            f"env.feature_set={config.feature_set!r} but the market was loaded with feature_set={have!r}; "
            f"load it with load_market(..., feature_set={config.feature_set!r}) or change env.feature_set"
        )


class EpisodeSampler:
    """The training window ``[start, end)`` as day indices, and seeded episode starts inside it.

    An episode of ``L`` steps starting at index ``s`` decides at ``s .. s+L-1`` and earns returns up to
    ``s + L``, which must lie inside the window, so ``s`` is drawn from ``[i0, i1 - L)``. With a
    ``recent_start``, a start is drawn from the recent part ``[recent_start, end)`` with probability
    ``recent_fraction`` and from the history part ``[start, recent_start)`` otherwise (the recent/history mix
    of continued models); ``recent_fraction=0`` never starts in the recent part, ``1`` always does.

    :param dates: ``(T,)`` trading days of the market.
    :param episode_length: steps per episode; clamped (with one log message) to what the window holds.
    :param start: first day of the window (inclusive); None = the market's first day.
    :param end: end of the window (exclusive); None = after the market's last day.
    :param recent_start: first day of the recent part, or None for uniform starts over the window.
    :param recent_fraction: probability of a start in the recent part.
    :raises DataError: the window holds fewer than 2 trading days.
    :raises ConfigError: ``recent_fraction`` outside [0, 1], > 0 without a ``recent_start``, or a ``recent_start``
        on or after ``end``.

    A recent part shorter than an episode still gets its share: its starts are moved back so the episode
    fits (they begin at the latest possible start). A ``recent_start`` on or before ``start`` makes every
    start recent.
    """

    def __init__(
        self,
        dates: np.ndarray,
        episode_length: int,
        *,
        start: DateLike | None = None,
        end: DateLike | None = None,
        recent_start: DateLike | None = None,
        recent_fraction: float = 0.0,
    ) -> None:
        self.dates = dates
        self.i0, self.i1 = window_indices(dates, start, end)
        if not 0.0 <= recent_fraction <= 1.0:
            raise ConfigError(f"recent_fraction={recent_fraction!r}: must lie in [0, 1]")
        if recent_fraction > 0 and recent_start is None:
            raise ConfigError(f"recent_fraction={recent_fraction} needs a recent_start (the first day of the recent part of the window)")
        self.recent_fraction = float(recent_fraction)
        available = self.i1 - self.i0 - 1
        self.episode_length = min(int(episode_length), available)
        if self.episode_length < episode_length:
            note = (self.i0, self.i1, episode_length)
            if note not in _CLAMP_NOTED:
                _CLAMP_NOTED.add(note)
                logger.warning(
                    "window [%s, %s] holds %d trading days, fewer than episode_length=%d + 1: episodes are clamped to %d steps",
                    dates[self.i0],
                    dates[self.i1 - 1],
                    self.i1 - self.i0,
                    episode_length,
                    self.episode_length,
                )
        self.hi = self.i1 - self.episode_length  # starts lie in [i0, hi), hi > i0
        self.recent_start = None if recent_start is None else to_day(recent_start)
        if self.recent_start is None:
            self.split = self.i0
        else:
            r0 = int(np.searchsorted(dates, self.recent_start, side="left"))
            if r0 >= self.i1:
                raise ConfigError(f"recent_start={self.recent_start} is not before the window's end {end}: the recent part would be empty")
            self.split = min(max(r0, self.i0), self.hi - 1)  # recent starts in [split, hi), history in [i0, split)

    def draw(self, rng: np.random.Generator) -> int:
        """One episode start index; consumes ``rng`` identically in every env class.

        :param rng: the copy's generator.
        """
        if self.recent_start is None:
            return int(rng.integers(self.i0, self.hi))
        if rng.random() < self.recent_fraction or self.split == self.i0:
            return int(rng.integers(self.split, self.hi))
        return int(rng.integers(self.i0, self.split))

    def describe(self) -> str:
        recent = "" if self.recent_start is None else f", recent from {self.recent_start} w.p. {self.recent_fraction:g}"
        days = f"[{self.dates[self.i0]}, {self.dates[self.i1 - 1]}] ({self.i1 - self.i0} days)"
        return f"window {days}, episodes of {self.episode_length} steps{recent}"


def window_indices(
    dates: np.ndarray, start: DateLike | None, end: DateLike | None, *, default: tuple[int, int] | None = None
) -> tuple[int, int]:
    """Indices ``[i0, i1)`` of the days in ``[start, end)``, checked to hold at least 2 days.

    :param dates: ``(T,)`` sorted trading days.
    :param start: first day (inclusive) or None for ``default[0]``.
    :param end: end (exclusive) or None for ``default[1]``.
    :param default: index bounds used for a missing ``start``/``end``; None = all of ``dates``.
    :raises DataError: fewer than 2 trading days fall inside the window.
    """
    d0, d1 = (0, len(dates)) if default is None else default
    i0 = d0 if start is None else int(np.searchsorted(dates, to_day(start), side="left"))
    i1 = d1 if end is None else int(np.searchsorted(dates, to_day(end), side="left"))
    if i1 - i0 < 2:
        have = f"{dates[0]} .. {dates[-1]}" if len(dates) else "no days"
        raise DataError(
            f"window [{start}, {end}) holds {max(i1 - i0, 0)} trading day(s) of a market spanning {have}; "
            "an episode needs at least 2 (a decision day and the next day's return): widen the window"
        )
    return i0, i1


@dataclass(slots=True)
class StepArrays:
    """What one vectorised step returns, one entry per copy.

    ``weights`` is a reused buffer and ``t`` is the book's own index array (an auto-reset rewrites a done
    copy's entry), so copy what must outlive the next step or reset.

    :param obs: ``(n, obs_dim)`` float32 observations at the new index (a fresh array).
    :param reward: ``(n,)`` float64 rewards.
    :param done: ``(n,)`` bool, the copy reached its episode's last index.
    :param growth: ``(n,)`` net growth ``1 + portfolio_return`` (after costs).
    :param cost: ``(n,)`` cost as a fraction of equity.
    :param turnover: ``(n,)`` sum of absolute weight changes over tickers.
    :param weights: ``(n, M + 1)`` target weights held over the step (cash last).
    :param t: ``(n,)`` the new day index of each copy (the day the return was earned).
    """

    obs: np.ndarray
    reward: np.ndarray
    done: np.ndarray
    growth: np.ndarray
    cost: np.ndarray
    turnover: np.ndarray
    weights: np.ndarray
    t: np.ndarray


class PortfolioBook:
    """``n`` long-only portfolios over one market, stepped together with a fixed number of numpy calls.

    :param tables: the market's precomputed :class:`MarketTables`.
    :param config: costs, caps, action scale and risk penalty.
    :param n: number of portfolios (env copies).
    """

    def __init__(self, tables: MarketTables, config: EnvConfig, n: int) -> None:
        self.tables = tables
        self.config = config
        self.n = n
        lay = tables.layout
        self.m = lay.max_tickers
        self._wsl = lay.weights
        self._cash = lay.cash_index
        self._scale = float(config.action_scale)
        self._safe_exp = self._scale < _SAFE_SCALE
        self._cost_rate = (config.cost_bps + config.slippage_bps) / 1e4
        self._max_weight = float(config.max_weight)
        self._max_gross = float(config.max_gross)
        self._risk = float(config.risk_penalty)
        self._excess = config.reward_mode == "excess_log"
        self._turn_penalty = config.turnover_penalty_bps / 1e4
        self._reward_scale = float(config.reward_scale)
        self.t = np.zeros(n, dtype=np.intp)
        self.end_t = np.ones(n, dtype=np.intp)
        self.truncates = np.ones(n, dtype=bool)
        self.weights = np.zeros((n, self.m + 1), dtype=np.float64)
        self.weights[:, self.m] = 1.0
        self.equity = np.ones(n, dtype=np.float64)
        self.peak = np.ones(n, dtype=np.float64)
        self.drawdown = np.zeros(n, dtype=np.float64)
        self._a = np.zeros((n, self.m + 1), dtype=np.float64)

    def begin(self, i: int, t0: int, end_t: int, truncates: bool) -> None:
        """Start copy ``i`` all in cash at index ``t0``; its episode ends on reaching ``end_t``.

        :param i: copy index.
        :param t0: first decision index.
        :param end_t: index at which the episode is done (its last return is ``returns[end_t]``).
        :param truncates: the end is a time limit (training) rather than the end of the data (a backtest pass).
        """
        self.t[i] = t0
        self.end_t[i] = end_t
        self.truncates[i] = truncates
        self.weights[i] = 0.0
        self.weights[i, self.m] = 1.0
        self.equity[i] = 1.0
        self.peak[i] = 1.0
        self.drawdown[i] = 0.0

    def observe(self, i: int) -> np.ndarray:
        """The observation of copy ``i`` at its current index (a new ``(obs_dim,)`` float32 array).

        :param i: copy index.
        """
        obs = self.tables.static_obs[self.t[i]].copy()
        obs[self._wsl] = self.weights[i, : self.m]
        obs[self._cash] = self.weights[i, self.m]
        return obs

    def target_weights(self, actions: np.ndarray, t: np.ndarray) -> np.ndarray:
        """Target weights ``(n, M + 1)`` from raw actions: masked softmax, then the caps (into a reused buffer).

        :param actions: ``(n, M + 1)`` actions; clipped to [-1, 1].
        :param t: ``(n,)`` decision indices (for the tradable mask).
        """
        a = self._a
        np.minimum(actions, 1.0, out=a)
        np.maximum(a, -1.0, out=a)
        a *= self._scale
        if self._safe_exp:
            a -= self._scale  # exp(scale * (a - 1)) lies in [exp(-2 scale), 1]: no overflow, no underflow
            np.exp(a, out=a)
            a *= self.tables.allowed[t]
        else:
            allowed = self.tables.allowed[t]
            np.copyto(a, -np.inf, where=allowed == 0.0)
            a -= a.max(axis=1, keepdims=True)
            np.exp(a, out=a)
        a /= _sum(a, axis=1, keepdims=True)
        m = self.m
        if self._max_weight < 1.0:
            np.minimum(a[:, :m], self._max_weight, out=a[:, :m])
            a[:, m] = 1.0 - a[:, :m].sum(axis=1)
        if self._max_gross < 1.0:
            invested = a[:, :m].sum(axis=1)
            over = invested > self._max_gross
            if over.any():
                a[over, :m] *= (self._max_gross / invested[over])[:, None]
                a[over, m] = 1.0 - a[over, :m].sum(axis=1)
        return a

    def step(self, actions: np.ndarray) -> StepArrays:
        """Advance every copy one day with ``actions`` ``(n, M + 1)``; see the module docstring for the maths.

        :param actions: ``(n, M + 1)`` actions in [-1, 1] (clipped), ticker slots then cash.
        """
        m = self.m
        t = self.t
        w = self.target_weights(actions, t)
        diff = w[:, :m] - self.weights[:, :m]
        np.abs(diff, out=diff)
        turnover = _sum(diff, axis=1)
        cost = turnover * self._cost_rate
        t1 = t + 1
        held = self.tables.gross[t1]
        held *= w
        gross = _sum(held, axis=1)
        growth = gross - cost
        np.maximum(growth, _MIN_GROWTH, out=growth)
        reward = np.log(growth)
        self.equity *= growth
        if self._risk > 0.0:
            np.maximum(self.peak, self.equity, out=self.peak)
            dd = 1.0 - self.equity / self.peak
            rise = dd - self.drawdown
            np.maximum(rise, 0.0, out=rise)
            reward -= self._risk * rise
            self.drawdown = dd
        if self._excess:
            reward -= self.tables.equal_log_growth[t]
        if self._turn_penalty > 0.0:
            reward -= turnover * self._turn_penalty
        if self._reward_scale != 1.0:
            reward *= self._reward_scale
        np.divide(held, gross[:, None], out=self.weights)
        self.t = t1
        obs = self.tables.static_obs[t1]
        obs[:, self._wsl] = self.weights[:, :m]
        obs[:, self._cash] = self.weights[:, m]
        return StepArrays(obs=obs, reward=reward, done=t1 == self.end_t, growth=growth, cost=cost, turnover=turnover, weights=w, t=t1)
