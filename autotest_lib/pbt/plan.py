"""A PBT round's plan: what each slot trains next (:class:`MemberPlan`), for the whole population (:class:`RoundPlan`)."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from autotest_lib.config import PPOParams

__all__ = ["MemberPlan", "RoundPlan"]


@dataclass(frozen=True)
class MemberPlan:
    """What one slot trains in one round.

    :param slot: position in the population (0-based).
    :param model_id: the version this round trains (:func:`member_id`).
    :param parent_id: the version it continues (None in round 1); after an exploit, the copied winner.
    :param hyperparameters: PPO hyperparameters of this round (perturbed after an exploit).
    :param seed: training seed.
    :param copied_from: the winner's version when this slot was replaced after the previous round.
    """

    slot: int
    model_id: str
    parent_id: str | None
    hyperparameters: PPOParams
    seed: int
    copied_from: str | None = None

    def to_json(self) -> dict[str, Any]:
        return {
            "slot": self.slot,
            "model_id": self.model_id,
            "parent_id": self.parent_id,
            "hyperparameters": self.hyperparameters.model_dump(mode="json"),
            "seed": self.seed,
            "copied_from": self.copied_from,
        }

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> MemberPlan:
        return cls(
            slot=int(data["slot"]),
            model_id=str(data["model_id"]),
            parent_id=data.get("parent_id"),
            hyperparameters=PPOParams.model_validate(data["hyperparameters"]),
            seed=int(data["seed"]),
            copied_from=data.get("copied_from"),
        )


@dataclass(frozen=True)
class RoundPlan:
    """The whole population's plan for one round; every member trades the population's ``tickers``."""

    population: str
    round: int
    tickers: tuple[str, ...]
    members: tuple[MemberPlan, ...] = field(default=())

    def by_id(self) -> dict[str, MemberPlan]:
        return {m.model_id: m for m in self.members}

    def ids(self) -> list[str]:
        return [m.model_id for m in self.members]

    def to_json(self) -> dict[str, Any]:
        return {
            "population": self.population,
            "round": self.round,
            "tickers": list(self.tickers),
            "members": [m.to_json() for m in self.members],
        }

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> RoundPlan:
        return cls(
            population=str(data["population"]),
            round=int(data["round"]),
            tickers=tuple(data["tickers"]),
            members=tuple(MemberPlan.from_json(m) for m in data["members"]),
        )
