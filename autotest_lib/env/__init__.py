"""The trading environment: one portfolio as a ``gymnasium.Env``, many as a vectorised SB3 ``VecEnv``.

- :class:`ObservationLayout` (``layout.py``): where each number sits in the fixed-width observation.
- :class:`PortfolioEnv` (``portfolio.py``): training episodes and deterministic backtest passes.
- :class:`BatchedPortfolioVecEnv` (``vec.py``): ``n_envs`` copies stepped in one numpy call, identical to
  ``DummyVecEnv`` over ``PortfolioEnv`` copies seeded ``seed + i``.
- ``simulator.py``: the shared parts (precomputed market tables, episode sampler, vectorised portfolio book).
"""

from autotest_lib.env.layout import ObservationLayout
from autotest_lib.env.portfolio import PortfolioEnv
from autotest_lib.env.simulator import EpisodeSampler, MarketTables, PortfolioBook, market_tables
from autotest_lib.env.vec import BatchedPortfolioVecEnv

__all__ = [
    "BatchedPortfolioVecEnv",
    "EpisodeSampler",
    "MarketTables",
    "ObservationLayout",
    "PortfolioBook",
    "PortfolioEnv",
    "market_tables",
]
