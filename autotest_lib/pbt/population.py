"""A PBT population in the lineage registry: member ids, round plans, and the state a run resumes from.

**Ids.** A population has a name (``main`` by default) and ``P`` slots. Every round each slot trains one
*new model version* ``pbt-<population>-m<slot:02d>-r<round:03d>``; rounds are counted over the population's
whole life, so week two of a 3-round-per-week population starts at ``r004``. A version's parent is the
version it continued: the same slot's previous version, or, after an exploit, the copied winner's version.
So ``autotest lineage`` follows the weights through copies, ``generation`` counts the rounds they trained,
and every version is an ordinary ``pbt`` model with a bundle and a validation evaluation in its week (the
weekly plan can pick it as a refiner, the champion rule can crown it).

**State.** Two event kinds carry the rest (``LineageStore.record_event``, upserts on natural keys):

- ``pbt_round`` (``model_id`` = :func:`population_key`, ``round`` = k): round k is complete. The payload
  holds each member's score and hyperparameters and, under ``next``, the :class:`RoundPlan` of round k+1
  (parent and hyperparameters per slot). Round 0 is the genesis event: the plan of round 1.
- ``pbt_exploit`` (``model_id`` = the replaced version, ``round`` = k): who was replaced by whose copy,
  at which step, the old, copied and new hyperparameters and the scores that decided it.

A run finds the round it reached from these alone: the first round of week ``W`` is one past the last
``pbt_round`` recorded in an earlier week, and each round's plan is the previous round's ``next``.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import re
import statistics
import zlib
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np

from autotest_lib.config import Preset
from autotest_lib.errors import ConfigError
from autotest_lib.kinds import EventKind, ModelStatus, Role
from autotest_lib.pbt.exploit import Replacement
from autotest_lib.pbt.plan import MemberPlan, RoundPlan
from autotest_lib.pbt.rounds import ExploitRecord, MemberResult, RoundRecord
from autotest_lib.train.search_space import hyperparameter_diff, sample_hyperparameters

if TYPE_CHECKING:
    from autotest_lib.registry.records import EventRecord
    from autotest_lib.registry.store import LineageStore

__all__ = [
    "EXPLOIT_EVENT",
    "ROUND_EVENT",
    "HistoryEvent",
    "MemberPlan",
    "RoundPlan",
    "TrajectoryPoint",
    "advance_plan",
    "check_population_name",
    "exploit_records",
    "initial_plan",
    "member_history",
    "member_id",
    "member_seed",
    "parse_member_id",
    "plan_for_round",
    "population_key",
    "populations",
    "round_events",
    "round_records",
    "round_summary",
    "rounds_before",
    "trajectories",
]

ROUND_EVENT = EventKind.PBT_ROUND
EXPLOIT_EVENT = EventKind.PBT_EXPLOIT
_NAME = re.compile(r"^[a-z0-9][a-z0-9_]{0,31}$")
_MEMBER = re.compile(r"^pbt-(?P<pop>[a-z0-9][a-z0-9_]{0,31})-m(?P<slot>\d{2,})(?:-r(?P<round>\d{3,}))?$")


def check_population_name(name: str) -> str:
    """``name`` if it is a valid population name (lower-case letters, digits, ``_``; at most 32).

    :raises ConfigError: otherwise.
    """
    if not isinstance(name, str) or not _NAME.match(name):
        raise ConfigError(
            f"population name {name!r} is invalid: use 1-32 lower-case letters, digits or '_', starting with a letter or digit"
        )
    return name


def population_key(population: str) -> str:
    """The id population-level events are filed under: ``pbt-<population>`` (not a registered model)."""
    return f"pbt-{population}"


def member_id(population: str, slot: int, round: int) -> str:
    """The model id of slot ``slot``'s version trained in round ``round``: ``pbt-main-m07-r004``."""
    return f"pbt-{population}-m{slot:02d}-r{round:03d}"


def parse_member_id(model_id: str) -> tuple[str, int, int | None]:
    """``(population, slot, round)`` of a member id; ``round`` is None for a slot id ``pbt-main-m07``.

    :raises ValueError: not a PBT member id.
    """
    match = _MEMBER.match(model_id)
    if match is None:
        raise ValueError(f"{model_id!r} is not a PBT member id like 'pbt-main-m07-r004' (or a slot like 'pbt-main-m07')")
    rnd = match.group("round")
    return match.group("pop"), int(match.group("slot")), int(rnd) if rnd is not None else None


def superseded_versions(model_ids: Iterable[str]) -> set[str]:
    """The PBT member versions among ``model_ids`` that a later round of the same slot replaced or continued.

    A member has one version per round; everything but each (population, slot)'s latest round is superseded.
    Ids that are not PBT member versions are ignored.
    """
    latest: dict[tuple[str, int], int] = {}
    versions: list[tuple[str, tuple[str, int], int]] = []
    for model_id in model_ids:
        try:
            pop, slot, rnd = parse_member_id(model_id)
        except ValueError:
            continue
        if rnd is not None:
            versions.append((model_id, (pop, slot), rnd))
            latest[(pop, slot)] = max(rnd, latest.get((pop, slot), rnd))
    return {model_id for model_id, key, rnd in versions if rnd < latest[key]}


def member_seed(seed: int, population: str, round: int, slot: int) -> int:
    """A distinct, reproducible training seed per (base seed, population, round, slot)."""
    digest = hashlib.sha256(f"{seed}:pbt:{population}:{round}:{slot}".encode()).digest()
    return int.from_bytes(digest[:4], "little") & 0x7FFFFFFF


def initial_plan(population: str, preset: Preset, tickers: Sequence[str], seed: int) -> RoundPlan:
    """Round 1 of a new population: ``preset.pbt.population`` members with hyperparameters sampled from the
    search space by a generator seeded with (seed, population name).

    :param population: population name.
    :param preset: PBT size, search space and PPO defaults.
    :param tickers: what every member trades.
    :param seed: base seed.
    """
    rng = np.random.default_rng([seed, zlib.crc32(population.encode())])
    members = tuple(
        MemberPlan(
            slot=slot,
            model_id=member_id(population, slot, 1),
            parent_id=None,
            hyperparameters=sample_hyperparameters(preset.search_space, preset.ppo, rng),
            seed=member_seed(seed, population, 1, slot),
        )
        for slot in range(preset.pbt.population)
    )
    return RoundPlan(population=population, round=1, tickers=tuple(tickers), members=members)


def advance_plan(plan: RoundPlan, replacements: Iterable[Replacement], seed: int) -> RoundPlan:
    """The plan of the round after ``plan``: each slot continues its own version, except the replaced ones,
    which continue a copy of their winner with the perturbed hyperparameters.

    :param plan: the round just trained and evaluated.
    :param replacements: :func:`~autotest_lib.pbt.exploit.next_generation` of that round (by model id).
    :param seed: base seed for the next round's training seeds.
    """
    by_loser = {r.loser: r for r in replacements}
    nxt = plan.round + 1
    members = []
    for m in plan.members:
        rep = by_loser.get(m.model_id)
        members.append(
            MemberPlan(
                slot=m.slot,
                model_id=member_id(plan.population, m.slot, nxt),
                parent_id=rep.winner if rep else m.model_id,
                hyperparameters=rep.new_params if rep else m.hyperparameters,
                seed=member_seed(seed, plan.population, nxt, m.slot),
                copied_from=rep.winner if rep else None,
            )
        )
    return RoundPlan(population=plan.population, round=nxt, tickers=plan.tickers, members=tuple(members))


# -- reading the state back ------------------------------------------------------------------------------


def round_events(store: LineageStore, population: str) -> list[EventRecord]:
    """The population's ``pbt_round`` events (genesis = round 0), by round.

    :param store: a :class:`~autotest_lib.registry.LineageStore`.
    :param population: population name.
    """
    return sorted(store.events(kind=ROUND_EVENT, model_id=population_key(population)), key=lambda e: e.round)


def round_records(store: LineageStore, population: str) -> list[RoundRecord]:
    """The population's rounds as records (genesis = round 0), by round, each with the week it was recorded in."""
    return [RoundRecord.from_event(e) for e in round_events(store, population)]


def exploit_records(store: LineageStore, population: str, *, week: dt.date | None = None) -> list[ExploitRecord]:
    """The population's exploits (all weeks, or ``week``'s), by round then replaced version."""
    events = [e for e in store.events(kind=EXPLOIT_EVENT, week=week) if e.payload.get("population") == population]
    return sorted((ExploitRecord.from_event(e) for e in events), key=lambda r: (r.round, r.loser))


def rounds_before(store: LineageStore, population: str, week: dt.date) -> int:
    """The last round completed in a week before ``week`` (0 for none): ``week`` starts at the next one.

    :param store: the lineage store.
    :param population: population name.
    :param week: this run's week (cutoff).
    """
    return max((e.round for e in round_events(store, population) if e.week < week), default=0)


def plan_for_round(store: LineageStore, population: str, round: int) -> RoundPlan:
    """The plan of round ``round``: the ``next`` of round ``round - 1``'s event.

    :raises LookupError: the previous round was not completed (its exploit step never ran).
    """
    for record in round_records(store, population):
        if record.round == round - 1:
            return record.next
    raise LookupError(
        f"population {population!r} has no completed round {round - 1}, so round {round} has no plan; "
        "run the autotest_pbt DAG for the week that reached it (a re-run resumes where it stopped)"
    )


def populations(store: LineageStore) -> list[str]:
    """Names of every population with a genesis event."""
    names = {RoundRecord.from_event(e).population for e in store.events(kind=ROUND_EVENT) if e.round == 0}
    return sorted(n for n in names if n)


# -- trajectories and member history -----------------------------------------------------------------------


@dataclass(frozen=True)
class TrajectoryPoint:
    """One member version after its round: score and the hyperparameters it trained with."""

    population: str
    round: int
    week: dt.date
    slot: int
    model_id: str
    score: float | None
    learning_rate: float
    clip_range: float
    ent_coef: float
    n_steps: int
    copied_from: str | None
    replaced: bool
    cumulative_timesteps: int | None

    def to_dict(self) -> dict[str, Any]:
        from autotest_lib.registry.records import jsonable

        return jsonable(self)


def trajectories(store: LineageStore, population: str, *, up_to_week: dt.date | None = None) -> list[TrajectoryPoint]:
    """Every member's score and hyperparameters round by round (from the ``pbt_round`` events).

    :param store: the lineage store.
    :param population: population name.
    :param up_to_week: only rounds recorded in weeks up to this one.
    """
    out = []
    for record in round_records(store, population):
        assert record.week is not None  # read from an event
        if record.round == 0 or (up_to_week is not None and record.week > up_to_week):
            continue
        replaced = set(record.replaced)
        for m in record.members:
            hp = m.hyperparameters
            out.append(
                TrajectoryPoint(
                    population=population,
                    round=record.round,
                    week=record.week,
                    slot=m.slot,
                    model_id=m.model_id,
                    score=m.score,
                    learning_rate=float(hp["learning_rate"]),
                    clip_range=float(hp["clip_range"]),
                    ent_coef=float(hp["ent_coef"]),
                    n_steps=int(hp["n_steps"]),
                    copied_from=m.copied_from,
                    replaced=m.model_id in replaced,
                    cumulative_timesteps=m.cumulative_timesteps,
                )
            )
    return out


def round_summary(scores: Sequence[float | None]) -> dict[str, float | None]:
    """Best and median of the finite scores of one round (None when there are none)."""
    finite = [float(s) for s in scores if s is not None and np.isfinite(s)]
    return {"best": max(finite) if finite else None, "median": statistics.median(finite) if finite else None}


@dataclass(frozen=True)
class HistoryEvent:
    """One step of a member's history: ``train`` (a round of training), ``copy-from`` (an exploit) or
    ``mutate`` (the explore step that followed it). ``detail`` holds the numbers, JSON-able."""

    round: int
    week: dt.date
    event: str
    model_id: str
    slot: int
    detail: dict[str, Any]

    def to_dict(self) -> dict[str, Any]:
        from autotest_lib.registry.records import jsonable

        return jsonable(self)


def _train_event(store: LineageStore, model_id: str, score: float | None) -> HistoryEvent | None:
    model = store.get_model(model_id)
    if model is None:
        return None
    _, slot, rnd = parse_member_id(model_id)
    runs = store.training_runs(model_id)
    hp = model.hyperparameters
    return HistoryEvent(
        round=int(rnd or 0),
        week=model.created_week,
        event="train",
        model_id=model_id,
        slot=slot,
        detail={
            "parent_id": model.parent_id,
            "steps_added": runs[0].steps_added if runs else None,
            "cumulative_timesteps": model.cumulative_timesteps,
            "learning_rate": hp.get("learning_rate"),
            "clip_range": hp.get("clip_range"),
            "ent_coef": hp.get("ent_coef"),
            "score": score,
        },
    )


def member_history(store: LineageStore, member: str, *, follow_copies: bool = False) -> list[HistoryEvent]:
    """A member's history as a chain of ``train`` / ``copy-from`` / ``mutate`` events, oldest first.

    By default the chain is the *slot's*: every round it trained, and, where it was replaced, whose copy it
    took and how the hyperparameters were perturbed. With ``follow_copies`` the chain follows the *weights*
    instead: through each copy into the winner's own history (the parent links, as ``autotest lineage``).

    :param store: the lineage store.
    :param member: a version ``pbt-main-m03-r005`` (history up to it) or a slot ``pbt-main-m03`` (up to its
        latest version).
    :param follow_copies: follow parent links through copies instead of staying in the slot.
    :raises LookupError: nothing recorded for that member.
    """
    population, slot, last_round = parse_member_id(member)
    members: dict[str, MemberResult] = {m.model_id: m for r in round_records(store, population) for m in r.members}
    # versions trained but not yet evaluated (a round in progress) are in the registry only
    if last_round is None:
        candidates = [m.model_id for m in members.values() if m.slot == slot]
        candidates += [
            m.model_id
            for m in store.list_models(role=Role.PBT)
            if m.model_id.startswith(f"pbt-{population}-m{slot:02d}-r") and m.status not in ModelStatus.untrained()
        ]
        if not candidates:
            raise LookupError(f"PBT member {member!r} has no recorded versions")
        last = max(set(candidates), key=lambda mid: parse_member_id(mid)[2] or 0)
    else:
        last = member
        if last not in members and store.get_model(last) is None:
            raise LookupError(f"PBT member {member!r} is not registered")

    if follow_copies:
        chain = [step.model.model_id for step in store.ancestry(last)]
    else:
        _, _, top = parse_member_id(last)
        chain = [member_id(population, slot, r) for r in range(1, int(top or 0) + 1)]
        chain = [c for c in chain if c in members or store.get_model(c) is not None]

    exploits = {e.next_model_id: e for e in exploit_records(store, population)}
    out: list[HistoryEvent] = []
    for mid in chain:
        _, mslot, mround = parse_member_id(mid)
        exploit = exploits.get(mid)
        if exploit is not None:
            assert exploit.week is not None  # read from an event
            out.append(
                HistoryEvent(
                    round=int(mround or 0),
                    week=exploit.week,
                    event="copy-from",
                    model_id=mid,
                    slot=mslot,
                    detail={
                        "winner": exploit.winner,
                        "winner_slot": exploit.winner_slot,
                        "winner_score": exploit.winner_score,
                        "replaced": exploit.loser,
                        "replaced_score": exploit.loser_score,
                        "after_round": exploit.round,
                        "step": exploit.step,
                    },
                )
            )
            out.append(
                HistoryEvent(
                    round=int(mround or 0),
                    week=exploit.week,
                    event="mutate",
                    model_id=mid,
                    slot=mslot,
                    detail={
                        "mutations": exploit.mutations,
                        "changes_for_slot": hyperparameter_diff(exploit.old_params, exploit.new_params),
                        "old_hyperparameters": exploit.old_hyperparameters,
                        "new_hyperparameters": exploit.new_hyperparameters,
                    },
                )
            )
        known = members.get(mid)
        score = known.score if known is not None else None
        event = _train_event(store, mid, score)
        if event is not None:
            out.append(event)
    return out
