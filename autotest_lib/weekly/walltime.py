"""Will the week's training fit its window? An estimate from measured throughput, checked when the week is planned.

The estimate treats the training pool as ``slots`` identical workers, each running one training task at the
measured rate ``r`` (steps/s per slot, the median of recent training runs in the registry)::

    hours = max(sum(steps) / (r * slots), max(steps) / r) / 3600

(total work spread over the slots, but never less than the longest single task). When it exceeds the window
(``AUTOTEST_TRAINING_WINDOW_H``, 6 h by default: Sunday 02:00-08:00) the plan fails fast, before anything is
recorded or trained, and says which ``timesteps_scale`` would fit. The weekly DAG carries a ``DeadlineAlert``
for the same window (``dag_defaults.training_window``).
"""

from __future__ import annotations

import datetime as dt
import logging
import statistics
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from autotest_lib.cluster import SLOTS_ENV, WINDOW_ENV, training_slots, training_window_h
from autotest_lib.errors import ConfigError

if TYPE_CHECKING:
    from autotest_lib.registry import LineageStore

__all__ = [
    "SLOTS_ENV",
    "WINDOW_ENV",
    "WallTimeEstimate",
    "WeekTooLongError",
    "check_wall_time",
    "estimate_wall_time",
    "measured_steps_per_s",
    "training_slots",
    "training_window_h",
]

RECENT_RUNS = 20

log = logging.getLogger(__name__)


class WeekTooLongError(ConfigError):
    """The planned training would not finish inside the configured window."""


def measured_steps_per_s(runs: Iterable[Any], recent: int = RECENT_RUNS) -> float | None:
    """Median steps/s of the ``recent`` latest training runs that recorded a wall time (None without any)."""
    rated = [(r.week, r.steps_added / r.wall_time_s) for r in runs if r.wall_time_s and r.wall_time_s > 0 and r.steps_added > 0]
    rated.sort(key=lambda pair: pair[0])
    rates = [rate for _, rate in rated[-recent:]]
    return statistics.median(rates) if rates else None


@dataclass(frozen=True)
class WallTimeEstimate:
    """The week's training time at ``steps_per_s`` per slot on ``slots`` slots, against ``window_h``."""

    total_steps: int
    longest_steps: int
    steps_per_s: float
    slots: int
    window_h: float

    @property
    def hours(self) -> float:
        seconds = max(self.total_steps / (self.steps_per_s * self.slots), self.longest_steps / self.steps_per_s)
        return seconds / 3600

    @property
    def fits(self) -> bool:
        return self.hours <= self.window_h

    def describe(self) -> str:
        return (
            f"estimated training wall time {self.hours:.2f} h for {self.total_steps} steps "
            f"({self.steps_per_s:.0f} steps/s per slot measured, {self.slots} slots; longest task {self.longest_steps} steps) "
            f"against a {self.window_h:g} h window ({WINDOW_ENV})"
        )

    def error(self) -> WeekTooLongError:
        scale = self.window_h / self.hours
        return WeekTooLongError(
            f"plan: {self.describe()}: it does not fit, failing fast before training; run the week with timesteps_scale "
            f"x{scale:.2f} of the current (or less), add training slots ({SLOTS_ENV} and the autotest_training pool), "
            f"or raise {WINDOW_ENV}"
        )


def estimate_wall_time(step_counts: Sequence[int], steps_per_s: float, slots: int, window_h: float) -> WallTimeEstimate:
    """The estimate for training tasks of ``step_counts`` steps (see the module docstring for the formula)."""
    if steps_per_s <= 0 or slots < 1:
        raise ValueError(f"steps_per_s must be > 0 and slots >= 1 (got {steps_per_s}, {slots})")
    return WallTimeEstimate(int(sum(step_counts)), int(max(step_counts, default=0)), float(steps_per_s), int(slots), float(window_h))


def check_wall_time(store: LineageStore, step_counts: Sequence[int], *, before: dt.date) -> None:
    """Log the week's estimated training wall time; raise :class:`WeekTooLongError` (fail fast) when it
    exceeds the window. Throughput is measured from the registry's training runs of weeks before ``before``."""
    window_h, slots = training_window_h(), training_slots()
    rate = measured_steps_per_s(r for r in store.training_runs() if r.week < before)
    if rate is None:
        log.info("plan: no training throughput measured yet (no earlier training run); the %g h window is checked from next week", window_h)
        return
    estimate = estimate_wall_time(step_counts, rate, slots, window_h)
    if not estimate.fits:
        raise estimate.error()
    log.info("plan: %s: fits", estimate.describe())
