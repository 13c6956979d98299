"""Population-based training (DeepMind's PBT, as Ray Tune's scheduler), every step in the lineage registry.

- ``exploit.py``: :func:`next_generation`, the exploit/explore step, a pure function of scores, population
  and a seeded generator;
- ``plan.py`` / ``rounds.py``: a round's plan, and the records of a completed round and its exploits (the
  ``pbt_round`` / ``pbt_exploit`` event payloads);
- ``population.py``: member ids, round plans, and the population state read back from the registry
  (``pbt_round`` / ``pbt_exploit`` events), member histories and hyperparameter trajectories;
- ``run.py``: :class:`PBTRun`, a run of the ``autotest_pbt`` DAG (its week, population and rounds).

The DAG's task functions are in :mod:`autotest_lib.tasks.pbt`, the report section in :mod:`autotest_lib.report.pbt`,
the ``autotest pbt`` commands in :mod:`autotest_lib.cli.pbt`. See ``docs/PBT.md``.
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
from autotest_lib.pbt.rounds import ExploitRecord, MemberResult, RoundRecord, RoundResult
from autotest_lib.pbt.run import DEFAULT_POPULATION, PBTRun

__all__ = [
    "DEFAULT_POPULATION",
    "EXPLOIT_EVENT",
    "ROUND_EVENT",
    "ExploitRecord",
    "HistoryEvent",
    "MemberPlan",
    "MemberResult",
    "PBTRun",
    "Replacement",
    "RoundPlan",
    "RoundRecord",
    "RoundResult",
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
