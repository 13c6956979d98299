"""Population-based training (DeepMind's PBT, as Ray Tune's scheduler), every step in the lineage registry.

- ``exploit.py``: :func:`next_generation`, the exploit/explore step, a pure function of scores, population
  and a seeded generator;
- ``population.py``: member ids, round plans, and the population state read back from the registry
  (``pbt_round`` / ``pbt_exploit`` events), member histories and hyperparameter trajectories;
- ``tasks.py``: the functions the ``autotest_pbt`` DAG calls;
- ``cli.py``: ``autotest pbt history`` / ``autotest pbt trajectories``;
- ``report.py``: the PBT section of the weekly report.

See ``docs/PBT.md``.
"""

from autotest_lib.pbt.exploit import Replacement, next_generation, quantile_count, rank_members
from autotest_lib.pbt.population import (
    EXPLOIT_EVENT,
    ROUND_EVENT,
    HistoryEvent,
    MemberPlan,
    RoundPlan,
    TrajectoryPoint,
    member_history,
    member_id,
    parse_member_id,
    populations,
    superseded_versions,
    trajectories,
)

__all__ = [
    "EXPLOIT_EVENT",
    "ROUND_EVENT",
    "HistoryEvent",
    "MemberPlan",
    "Replacement",
    "RoundPlan",
    "TrajectoryPoint",
    "member_history",
    "member_id",
    "next_generation",
    "parse_member_id",
    "populations",
    "quantile_count",
    "rank_members",
    "superseded_versions",
    "trajectories",
]
