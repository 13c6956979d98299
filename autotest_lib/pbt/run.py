""":class:`PBTRun`: one run of the ``autotest_pbt`` DAG, a :class:`~autotest_lib.runs.WeekContext` plus the
population and the rounds the run performs."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from autotest_lib.runs import WeekContext

__all__ = ["DEFAULT_POPULATION", "PBTRun"]

DEFAULT_POPULATION = "main"


@dataclass(frozen=True)
class PBTRun:
    """A PBT run's week and what it does in it.

    :param week: the week (cutoff, preset, seed, windows, home); its ``tickers`` override stays None.
    :param population: the population's name.
    :param rounds: how many rounds the run performs.
    :param first_round: the population round the run starts with (one past the last one recorded).
    :param tickers: the population's tickers (fixed at its genesis).
    """

    week: WeekContext
    population: str
    rounds: int
    first_round: int
    tickers: tuple[str, ...]

    @property
    def last_round(self) -> int:
        return self.first_round + self.rounds - 1

    def round_number(self, index: int) -> int | None:
        """The population round that the run's ``index``-th round group (1-based) performs; None beyond the run."""
        if not 1 <= index <= self.rounds:
            return None
        return self.first_round + index - 1

    @property
    def member_store(self) -> Path:
        """PBT's own copies of the population's latest bundles."""
        return self.week.paths.pbt_members(self.population)

    def to_xcom(self) -> dict[str, Any]:
        """Small JSON for XCom (the week's keys, then the run's); :meth:`from_xcom` reads it back."""
        week = self.week.to_xcom()
        del week["tickers"], week["timesteps_scale"]  # PBT has no ticker override nor timesteps scale
        return week | {"population": self.population, "rounds": self.rounds, "first_round": self.first_round, "tickers": list(self.tickers)}

    @classmethod
    def from_xcom(cls, data: dict[str, Any]) -> PBTRun:
        week = WeekContext.from_xcom({k: v for k, v in data.items() if k not in ("tickers", "timesteps_scale")})
        return cls(
            week=week,
            population=data["population"],
            rounds=int(data["rounds"]),
            first_round=int(data["first_round"]),
            tickers=tuple(data["tickers"]),
        )
