"""What a PBT round leaves in the registry, as records: the ``pbt_round`` and ``pbt_exploit`` event payloads.

As Ray Tune keeps each trial's state in ``_PBTTrialState``, a round is a :class:`RoundRecord` (its members'
results, the exploits, best and median, the next round's :class:`~autotest_lib.pbt.population.RoundPlan`) and
an exploit an :class:`ExploitRecord`. The DAG's tasks write them and the report and the CLI read them; only
``to_payload`` / ``from_payload`` know the JSON keys, and :class:`RoundResult` is what a task returns as XCom.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from autotest_lib.config import PPOParams
from autotest_lib.pbt.exploit import Replacement
from autotest_lib.pbt.plan import RoundPlan

if TYPE_CHECKING:
    from autotest_lib.registry.records import EventRecord

__all__ = ["ExploitRecord", "MemberResult", "RoundRecord", "RoundResult"]


@dataclass(frozen=True)
class MemberResult:
    """One member version after its round.

    :param slot: its slot.
    :param model_id: the version.
    :param parent_id: the version it continued (None in round 1).
    :param copied_from: the winner it was copied from after the previous round (None when not replaced).
    :param score: its validation score (None when it had none).
    :param cumulative_timesteps: steps trained over its whole lineage.
    :param hyperparameters: the hyperparameters it trained with, as JSON.
    """

    slot: int
    model_id: str
    parent_id: str | None
    copied_from: str | None
    score: float | None
    cumulative_timesteps: int | None
    hyperparameters: dict[str, Any]

    def to_json(self) -> dict[str, Any]:
        return {
            "slot": self.slot,
            "model_id": self.model_id,
            "parent_id": self.parent_id,
            "copied_from": self.copied_from,
            "score": self.score,
            "cumulative_timesteps": self.cumulative_timesteps,
            "hyperparameters": self.hyperparameters,
        }

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> MemberResult:
        return cls(
            slot=int(data["slot"]),
            model_id=str(data["model_id"]),
            parent_id=data.get("parent_id"),
            copied_from=data.get("copied_from"),
            score=data.get("score"),
            cumulative_timesteps=data.get("cumulative_timesteps"),
            hyperparameters=dict(data["hyperparameters"]),
        )


@dataclass(frozen=True)
class RoundResult:
    """What an exploit task returns (XCom) and the run's summary lists: a round's best, median and exploits.

    :param round: the round.
    :param best: best finite score (None when none).
    :param median: median finite score.
    :param replacements: ``(replaced, copied winner)`` pairs.
    """

    round: int
    best: float | None
    median: float | None
    replacements: tuple[tuple[str, str], ...] = ()

    def to_xcom(self) -> dict[str, Any]:
        return {
            "round": self.round,
            "best": self.best,
            "median": self.median,
            "replacements": [{"loser": loser, "winner": winner} for loser, winner in self.replacements],
        }

    @classmethod
    def from_xcom(cls, data: Mapping[str, Any]) -> RoundResult:
        pairs = tuple((str(r["loser"]), str(r["winner"])) for r in data.get("replacements") or ())
        return cls(round=int(data["round"]), best=data.get("best"), median=data.get("median"), replacements=pairs)


@dataclass(frozen=True)
class RoundRecord:
    """The ``pbt_round`` event of round ``round``; round 0 is a population's genesis (only ``next``, ``preset``, ``pbt``).

    :param population: population name.
    :param round: the round completed (0 = genesis).
    :param next: the plan of round ``round + 1``.
    :param members: every member version's result (empty for genesis).
    :param replacements: ``(replaced, copied winner)`` pairs decided after the round.
    :param burn_in: the round was within ``pbt.burn_in_rounds`` (no exploit).
    :param best: best finite score of the round.
    :param median: median finite score.
    :param preset: genesis only: the preset the population was created with.
    :param pbt: genesis only: its ``pbt`` settings, as JSON.
    :param week: the week it was recorded in (the event's, not in the payload).
    """

    population: str
    round: int
    next: RoundPlan
    members: tuple[MemberResult, ...] = ()
    replacements: tuple[tuple[str, str], ...] = ()
    burn_in: bool = False
    best: float | None = None
    median: float | None = None
    preset: str | None = None
    pbt: dict[str, Any] | None = field(default=None)
    week: dt.date | None = None

    @property
    def replaced(self) -> tuple[str, ...]:
        """The versions replaced after this round."""
        return tuple(loser for loser, _ in self.replacements)

    def result(self) -> RoundResult:
        return RoundResult(round=self.round, best=self.best, median=self.median, replacements=self.replacements)

    def to_payload(self) -> dict[str, Any]:
        """The event's JSON payload."""
        if self.round == 0:
            return {"population": self.population, "round": 0, "preset": self.preset, "pbt": self.pbt, "next": self.next.to_json()}
        return {
            "population": self.population,
            "round": self.round,
            "members": [m.to_json() for m in self.members],
            "replaced": list(self.replaced),
            "replacements": [{"loser": loser, "winner": winner} for loser, winner in self.replacements],
            "burn_in": self.burn_in,
            "best": self.best,
            "median": self.median,
            "next": self.next.to_json(),
        }

    @classmethod
    def from_event(cls, event: EventRecord) -> RoundRecord:
        return cls.from_payload(event.payload, week=event.week)

    @classmethod
    def from_payload(cls, payload: Mapping[str, Any], *, week: dt.date | None = None) -> RoundRecord:
        pairs = tuple((str(r["loser"]), str(r["winner"])) for r in payload.get("replacements") or ())
        return cls(
            population=str(payload["population"]),
            round=int(payload["round"]),
            next=RoundPlan.from_json(payload["next"]),
            members=tuple(MemberResult.from_json(m) for m in payload.get("members") or ()),
            replacements=pairs,
            burn_in=bool(payload.get("burn_in", False)),
            best=payload.get("best"),
            median=payload.get("median"),
            preset=payload.get("preset"),
            pbt=payload.get("pbt"),
            week=week,
        )


@dataclass(frozen=True)
class ExploitRecord:
    """The ``pbt_exploit`` event of one replacement: ``loser``'s slot continues from a perturbed copy of ``winner``.

    :param loser: the version replaced.
    :param winner: the version copied.
    :param loser_score: its score (None when none).
    :param winner_score: the winner's score.
    :param old_hyperparameters: the loser's hyperparameters until now (JSON).
    :param source_hyperparameters: the winner's, as copied (JSON).
    :param new_hyperparameters: the perturbed copy the slot trains with next (JSON).
    :param mutations: ``{name: [copied, perturbed]}`` for each changed hyperparameter.
    :param population: population name.
    :param round: the round after which it happened.
    :param slot: the loser's slot.
    :param winner_slot: the winner's slot.
    :param step: the loser's cumulative timesteps.
    :param winner_step: the winner's cumulative timesteps.
    :param population_step: ``round x pbt.interval_steps``.
    :param next_model_id: the version the slot trains next (a copy of the winner).
    :param quantile: ``pbt.quantile`` that decided it.
    :param week: the week it was recorded in (the event's, not in the payload).
    """

    loser: str
    winner: str
    loser_score: float | None
    winner_score: float
    old_hyperparameters: dict[str, Any]
    source_hyperparameters: dict[str, Any]
    new_hyperparameters: dict[str, Any]
    mutations: dict[str, list[Any]]
    population: str
    round: int
    slot: int | None = None
    winner_slot: int | None = None
    step: int | None = None
    winner_step: int | None = None
    population_step: int | None = None
    next_model_id: str | None = None
    quantile: float | None = None
    week: dt.date | None = None

    @classmethod
    def from_replacement(cls, r: Replacement, *, population: str, round: int, **where: Any) -> ExploitRecord:
        """The record of ``r``; ``where`` holds the slots, steps, next version and quantile."""
        return cls.from_payload({**r.as_dict(), "population": population, "round": round, **where})

    @property
    def old_params(self) -> PPOParams:
        return PPOParams.model_validate(self.old_hyperparameters)

    @property
    def new_params(self) -> PPOParams:
        return PPOParams.model_validate(self.new_hyperparameters)

    def to_payload(self) -> dict[str, Any]:
        """The event's JSON payload."""
        return {
            "loser": self.loser,
            "winner": self.winner,
            "loser_score": self.loser_score,
            "winner_score": self.winner_score,
            "old_hyperparameters": self.old_hyperparameters,
            "source_hyperparameters": self.source_hyperparameters,
            "new_hyperparameters": self.new_hyperparameters,
            "mutations": self.mutations,
            "population": self.population,
            "round": self.round,
            "slot": self.slot,
            "winner_slot": self.winner_slot,
            "step": self.step,
            "winner_step": self.winner_step,
            "population_step": self.population_step,
            "next_model_id": self.next_model_id,
            "quantile": self.quantile,
        }

    @classmethod
    def from_event(cls, event: EventRecord) -> ExploitRecord:
        return cls.from_payload(event.payload, week=event.week)

    @classmethod
    def from_payload(cls, payload: Mapping[str, Any], *, week: dt.date | None = None) -> ExploitRecord:
        return cls(
            loser=str(payload["loser"]),
            winner=str(payload["winner"]),
            loser_score=payload.get("loser_score"),
            winner_score=payload["winner_score"],
            old_hyperparameters=dict(payload["old_hyperparameters"]),
            source_hyperparameters=dict(payload.get("source_hyperparameters") or payload["old_hyperparameters"]),
            new_hyperparameters=dict(payload["new_hyperparameters"]),
            mutations=dict(payload.get("mutations") or {}),
            population=str(payload["population"]),
            round=int(payload["round"]),
            slot=payload.get("slot"),
            winner_slot=payload.get("winner_slot"),
            step=payload.get("step"),
            winner_step=payload.get("winner_step"),
            population_step=payload.get("population_step"),
            next_model_id=payload.get("next_model_id"),
            quantile=payload.get("quantile"),
            week=week,
        )
