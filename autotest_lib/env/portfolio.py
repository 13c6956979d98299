"""One long-only portfolio over a market, as a ``gymnasium.Env``: training episodes or a backtest pass.

At day index ``t`` the agent sees ``features[t]`` and its current weights (layout: :mod:`autotest_lib.env.layout`),
chooses target weights with an action in ``[-1, 1]^(M+1)`` (ticker slots, then cash), pays costs on the
turnover and earns ``returns[t + 1]``::

    w      = caps(masked_softmax(action_scale * a))   over tradable tickers + cash; max_weight, max_gross -> cash
    cost   = sum_i |w_i - v_i| * (cost_bps + slippage_bps) / 1e4       v = drifted weights before trading
    reward = log(1 + w . r[t+1] - cost) - risk_penalty * max(0, increase of the episode's drawdown)

Training episodes last ``episode_length`` steps from a seeded random start (``truncated=True`` at the end).
``reset(options={"start": ..., "end": ...})`` instead runs one deterministic pass over ``[start, end)``: it
decides on every day but the last, earns every day's return but the first, and ends with ``terminated=True``.
"""

from __future__ import annotations

from typing import Any

import gymnasium as gym
import numpy as np
from gymnasium import spaces

from autotest_lib.config import EnvConfig
from autotest_lib.env.layout import ObservationLayout
from autotest_lib.env.simulator import DateLike, EpisodeSampler, MarketLike, PortfolioBook, check_feature_set, market_tables, window_indices

__all__ = ["PortfolioEnv", "action_space", "observation_space", "reset_options", "start_episode"]


def observation_space(layout: ObservationLayout) -> spaces.Box:
    """The observation ``Box``: features unbounded, weights, mask and cash in [0, 1].

    :param layout: the observation layout.
    """
    low = np.zeros(layout.obs_dim, dtype=np.float32)
    high = np.ones(layout.obs_dim, dtype=np.float32)
    low[layout.features] = -np.inf
    high[layout.features] = np.inf
    return spaces.Box(low=low, high=high, dtype=np.float32)


def action_space(layout: ObservationLayout) -> spaces.Box:
    """The action ``Box(-1, 1, (max_tickers + 1,))``: one logit per ticker slot, then cash.

    :param layout: the observation layout.
    """
    return spaces.Box(low=-1.0, high=1.0, shape=(layout.max_tickers + 1,), dtype=np.float32)


def reset_options(options: dict[str, Any] | None) -> tuple[DateLike | None, DateLike | None] | None:
    """``(start, end)`` of a deterministic pass from reset options, or None for a random training episode."""
    if not options:
        return None
    unknown = set(options) - {"start", "end"}
    if unknown:
        raise ValueError(f"unknown reset option(s) {sorted(unknown)}; PortfolioEnv.reset accepts options={{'start': date, 'end': date}}")
    return options.get("start"), options.get("end")


def start_episode(book: PortfolioBook, i: int, sampler: EpisodeSampler, rng: np.random.Generator, options: dict[str, Any] | None) -> int:
    """Begin copy ``i``'s next episode (random start, or the deterministic pass the options ask for); return its first index.

    :param book: the portfolios.
    :param i: copy index.
    :param sampler: the training window and start distribution.
    :param rng: the copy's generator (used only for a random start).
    :param options: reset options, see :meth:`PortfolioEnv.reset`.
    """
    window = reset_options(options)
    if window is None:
        t0 = sampler.draw(rng)
        book.begin(i, t0, t0 + sampler.episode_length, truncates=True)
    else:
        t0, t_end = window_indices(book.tables.dates, *window, default=(sampler.i0, sampler.i1))
        book.begin(i, t0, t_end - 1, truncates=False)
    return t0


class PortfolioEnv(gym.Env[np.ndarray, np.ndarray]):
    """A long-only portfolio of the market's tickers plus cash, one trading day per step.

    :param market: a :class:`autotest_lib.data.MarketData` with at most ``config.max_tickers`` tickers.
    :param config: layout width, costs, caps, episode length, risk penalty.
    :param start: first day of the training window (inclusive); None = the market's first day.
    :param end: end of the training window (exclusive); None = after the market's last day.
    :param recent_start: first day of the "recent" part of the window, for the recent/history mix.
    :param recent_fraction: probability that an episode starts in ``[recent_start, end)``.
    :param seed: seeds the episode starts; ``reset(seed=...)`` reseeds.
    :raises DataError: the window holds fewer than 2 trading days, or the market's arrays are not finite.
    :raises ConfigError: more tickers than ``max_tickers``, a feature set other than ``config.feature_set``, or
        ``recent_fraction > 0`` without ``recent_start``.

    ``info`` after a step: ``date`` (the day whose return was earned, ``dates[t + 1]``), ``portfolio_return``
    (net of costs), ``cost``, ``turnover``, ``weights`` (the ``N`` tickers' target weights held over the day)
    and ``cash``. After ``reset``: ``date`` (the first decision day).
    """

    metadata: dict[str, Any] = {"render_modes": []}  # noqa: RUF012 - gymnasium's class attribute

    def __init__(
        self,
        market: MarketLike,
        config: EnvConfig,
        *,
        start: DateLike | None = None,
        end: DateLike | None = None,
        recent_start: DateLike | None = None,
        recent_fraction: float = 0.0,
        seed: int | None = None,
    ) -> None:
        check_feature_set(market, config)
        self.market = market
        self.config = config
        self.tables = market_tables(market, config.max_tickers)
        self.layout = self.tables.layout
        self.sampler = EpisodeSampler(
            self.tables.dates, config.episode_length, start=start, end=end, recent_start=recent_start, recent_fraction=recent_fraction
        )
        self.observation_space = observation_space(self.layout)
        self.action_space = action_space(self.layout)
        self.render_mode = None
        self.book = PortfolioBook(self.tables, config, 1)
        self._n = self.tables.n_tickers
        self._needs_reset = True
        if seed is not None:
            self._np_random, self._np_random_seed = gym.utils.seeding.np_random(seed)

    @property
    def tickers(self) -> tuple[str, ...]:
        """The tickers in slot order."""
        return self.tables.tickers

    @property
    def t(self) -> int:
        """The current day index into the market."""
        return int(self.book.t[0])

    def reset(self, *, seed: int | None = None, options: dict[str, Any] | None = None) -> tuple[np.ndarray, dict[str, Any]]:
        """Start a random training episode, or a deterministic pass with ``options={"start": d0, "end": d1}``.

        :param seed: reseeds the episode-start generator (gymnasium semantics).
        :param options: ``{"start": date, "end": date}`` (either may be omitted: the training window's bound).
        """
        super().reset(seed=seed)
        t0 = start_episode(self.book, 0, self.sampler, self.np_random, options)
        self._needs_reset = False
        return self.book.observe(0), {"date": self.tables.dates[t0]}

    def step(self, action: np.ndarray) -> tuple[np.ndarray, float, bool, bool, dict[str, Any]]:
        """Trade to the action's target weights at today's close and earn tomorrow's return.

        :param action: ``(max_tickers + 1,)`` values in [-1, 1]; ticker slots, then cash.
        """
        if self._needs_reset:
            raise RuntimeError("PortfolioEnv.step called before reset() or after the episode ended; call reset() first")
        res = self.book.step(np.asarray(action).reshape(1, -1))
        done = bool(res.done[0])
        truncated = done and bool(self.book.truncates[0])
        self._needs_reset = done
        info = {
            "date": self.tables.dates[res.t[0]],
            "portfolio_return": float(res.growth[0]) - 1.0,
            "cost": float(res.cost[0]),
            "turnover": float(res.turnover[0]),
            "weights": res.weights[0, : self._n].copy(),
            "cash": float(res.weights[0, -1]),
        }
        return res.obs[0], float(res.reward[0]), done and not truncated, truncated, info
