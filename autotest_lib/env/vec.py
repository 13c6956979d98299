"""``n_envs`` copies of :class:`PortfolioEnv` as one SB3 ``VecEnv``, stepped with one set of numpy calls.

The copies share the market's precomputed tables; each holds only its day index, weights, equity and its own
``numpy.random.Generator``. Semantics are those of ``DummyVecEnv([PortfolioEnv ...])`` with copy ``i`` seeded
``seed + i``: same observations, rewards, dones, auto-reset with ``terminal_observation`` and
``TimeLimit.truncated`` in the infos, and ``seed()`` / ``set_options()`` applied at the next ``reset()``.

For speed the step infos are empty dicts except on done copies (which carry ``terminal_observation`` and
``TimeLimit.truncated``); ``full_info=True`` fills every info like :class:`PortfolioEnv` does (date,
portfolio_return, cost, turnover, weights, cash). The last step's arrays are also in :attr:`last_step`.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import gymnasium as gym
import numpy as np
from gymnasium.utils.seeding import np_random
from stable_baselines3.common.vec_env.base_vec_env import VecEnv, VecEnvIndices, VecEnvObs, VecEnvStepReturn

from autotest_lib.config import EnvConfig
from autotest_lib.env.portfolio import action_space, observation_space, start_episode
from autotest_lib.env.simulator import DateLike, EpisodeSampler, MarketLike, PortfolioBook, StepArrays, check_feature_set, market_tables

__all__ = ["BatchedPortfolioVecEnv"]

# Per-copy state readable with get_attr (the rest of the attributes are shared by all copies).
_PER_COPY: dict[str, Callable[[BatchedPortfolioVecEnv, int], Any]] = {
    "t": lambda env, i: int(env.book.t[i]),
    "weights": lambda env, i: env.book.weights[i].copy(),
    "equity": lambda env, i: float(env.book.equity[i]),
    "np_random": lambda env, i: env.rngs[i],
}


class BatchedPortfolioVecEnv(VecEnv):
    """``n_envs`` portfolio envs over one market in one process, vectorised across copies.

    :param market: a :class:`autotest_lib.data.MarketData` with at most ``config.max_tickers`` tickers.
    :param config: layout width, costs, caps, episode length, risk penalty.
    :param n_envs: number of copies.
    :param start: first day of the training window (inclusive); None = the market's first day.
    :param end: end of the training window (exclusive); None = after the market's last day.
    :param recent_start: first day of the "recent" part of the window, for the recent/history mix.
    :param recent_fraction: probability that an episode starts in ``[recent_start, end)``.
    :param seed: copy ``i`` is seeded ``seed + i`` (as ``DummyVecEnv`` over ``PortfolioEnv(seed=seed + i)``).
    :param full_info: fill every step info like :class:`PortfolioEnv` (slower; training needs none of it).
    """

    def __init__(
        self,
        market: MarketLike,
        config: EnvConfig,
        n_envs: int,
        *,
        start: DateLike | None = None,
        end: DateLike | None = None,
        recent_start: DateLike | None = None,
        recent_fraction: float = 0.0,
        seed: int | None = None,
        full_info: bool = False,
    ) -> None:
        if n_envs < 1:
            raise ValueError(f"n_envs={n_envs}: need at least one env copy")
        check_feature_set(market, config)
        self.market = market
        self.config = config
        self.tables = market_tables(market, config.max_tickers)
        self.layout = self.tables.layout
        self.sampler = EpisodeSampler(
            self.tables.dates, config.episode_length, start=start, end=end, recent_start=recent_start, recent_fraction=recent_fraction
        )
        self.book: PortfolioBook = PortfolioBook(self.tables, config, n_envs)
        self.full_info = full_info
        self.render_mode = None
        self.rngs: list[np.random.Generator] = [np_random(None if seed is None else seed + i)[0] for i in range(n_envs)]
        self.last_step: StepArrays | None = None
        self._actions: np.ndarray | None = None
        self._needs_reset = True
        self._n = self.tables.n_tickers
        super().__init__(n_envs, observation_space(self.layout), action_space(self.layout))

    @property
    def tickers(self) -> tuple[str, ...]:
        """The tickers in slot order."""
        return self.tables.tickers

    def _begin(self, i: int, options: dict[str, Any] | None) -> None:
        t0 = start_episode(self.book, i, self.sampler, self.rngs[i], options)
        self.reset_infos[i] = {"date": self.tables.dates[t0]}

    def reset(self) -> VecEnvObs:
        """Start every copy's episode, applying pending ``seed()`` seeds and ``set_options()`` options once."""
        for i in range(self.num_envs):
            if self._seeds[i] is not None:
                self.rngs[i] = np_random(self._seeds[i])[0]
            self._begin(i, self._options[i])
        self._reset_seeds()
        self._reset_options()
        self._needs_reset = False
        book = self.book
        obs = self.tables.static_obs[book.t]
        obs[:, self.layout.weights] = book.weights[:, : book.m]
        obs[:, self.layout.cash_index] = book.weights[:, book.m]
        return obs

    def step_async(self, actions: np.ndarray) -> None:
        """Store ``(n_envs, max_tickers + 1)`` actions for :meth:`step_wait`.

        :param actions: one action per copy.
        """
        self._actions = actions

    def step_wait(self) -> VecEnvStepReturn:
        """Step every copy; auto-reset the done ones (their last observation goes to ``terminal_observation``)."""
        if self._needs_reset or self._actions is None:
            raise RuntimeError("BatchedPortfolioVecEnv.step called before reset(); call reset() first")
        res = self.book.step(self._actions)
        self.last_step = res
        obs, done = res.obs, res.done
        rewards = res.reward.astype(np.float32)
        infos = self._full_infos(res) if self.full_info else [{} for _ in range(self.num_envs)]
        if done.any():
            truncates = self.book.truncates
            for i in np.flatnonzero(done):
                info = infos[i]
                info["TimeLimit.truncated"] = bool(truncates[i])
                info["terminal_observation"] = obs[i].copy()
                self._begin(int(i), None)
                obs[i] = self.book.observe(int(i))
        return obs, rewards, done, infos

    def _full_infos(self, res: StepArrays) -> list[dict[str, Any]]:
        dates = self.tables.dates[res.t]
        ret = (res.growth - 1.0).tolist()
        cost = res.cost.tolist()
        turn = res.turnover.tolist()
        cash = res.weights[:, -1].tolist()
        w = res.weights[:, : self._n]
        return [
            {
                "date": dates[i],
                "portfolio_return": ret[i],
                "cost": cost[i],
                "turnover": turn[i],
                "weights": w[i].copy(),
                "cash": cash[i],
                "TimeLimit.truncated": False,
            }
            for i in range(self.num_envs)
        ]

    def close(self) -> None:
        """Nothing to release: the copies live in this process."""

    def get_images(self) -> Sequence[np.ndarray | None]:
        return [None for _ in range(self.num_envs)]

    def get_attr(self, attr_name: str, indices: VecEnvIndices = None) -> list[Any]:
        """Per-copy state (``t``, ``weights``, ``equity``, ``np_random``) or a shared attribute, once per index.

        :param attr_name: attribute name.
        :param indices: copies to query (None = all).
        :raises AttributeError: no such attribute.
        """
        idx = self._get_indices(indices)
        if attr_name in _PER_COPY:
            return [_PER_COPY[attr_name](self, i) for i in idx]
        value = getattr(self, attr_name)
        return [value for _ in idx]

    def set_attr(self, attr_name: str, value: Any, indices: VecEnvIndices = None) -> None:
        """Set a shared attribute; copies share them, so ``indices`` must cover every copy.

        :param attr_name: attribute name.
        :param value: new value.
        :param indices: must be None or every copy.
        :raises ValueError: ``indices`` selects only some copies, or ``attr_name`` is per-copy state.
        """
        idx = list(self._get_indices(indices))
        if attr_name in _PER_COPY:
            raise ValueError(f"{attr_name!r} is per-copy simulator state; it changes only through step() and reset()")
        if sorted(idx) != list(range(self.num_envs)):
            raise ValueError(f"BatchedPortfolioVecEnv copies share {attr_name!r}; set it for all {self.num_envs} copies (indices=None)")
        setattr(self, attr_name, value)

    def env_method(self, method_name: str, *method_args: Any, indices: VecEnvIndices = None, **method_kwargs: Any) -> list[Any]:
        """Call a method of this batched env once per selected copy and return the results.

        :param method_name: name of a method of :class:`BatchedPortfolioVecEnv`.
        :param indices: copies (None = all); the method is called once per copy.
        """
        method = getattr(self, method_name)
        return [method(*method_args, **method_kwargs) for _ in self._get_indices(indices)]

    def env_is_wrapped(self, wrapper_class: type[gym.Wrapper], indices: VecEnvIndices = None) -> list[bool]:
        """Copies are never wrapped in gymnasium wrappers (wrap the VecEnv with VecMonitor etc. instead)."""
        return [False for _ in self._get_indices(indices)]
