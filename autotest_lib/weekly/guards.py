"""May this week change what other weeks rely on? The rules that keep a bad week or a bad run from doing harm.

**Sound inputs.** Backtests, selection (champion, rollbacks), archive pruning and orders run only after the
week's prices were ingested and its plan recorded. When either failed, nothing after the trainings runs:
no evaluation, no champion row, no pruning, no orders (the DAG skips those tasks).

**Partial week** (:func:`training_outcome`): when some of the week's planned trainings failed,

- none trained: the week stops before its backtests, exactly as if its inputs had failed, and is marked
  ``failed``;
- some trained: backtests, selection and orders go ahead on what was measured (the models that trained, the
  parents they continue, the incumbent champion and last week's pick), but the archive is **not pruned**:
  nothing is retired and no bundle is deleted, so clearing the failed trainings and re-running the week can
  complete it, and next week still finds every parent. The selection says ``partial`` and why;
- all trained: the week is complete and prunes its archive.

**Week order** (:func:`check_week_order`): a week's selection is recorded once (a ``selection`` event).
Re-running a selected week replays that selection and its orders, whatever ran after it. A week that was
never selected is refused once a later week has been selected: selecting it now would rewrite the champion
history and prune bundles the later weeks use. A selected week re-run with other params is refused too
when later weeks built on it.

**Minimum steps** (:func:`effective_steps`): PPO trains whole rollouts of ``n_steps x n_envs`` steps, so a
budget under one rollout would silently train a full rollout: such a run is refused with the smallest
``timesteps_scale`` that trains as asked.
"""

from __future__ import annotations

import datetime as dt
import math
from collections.abc import Iterable
from dataclasses import dataclass
from typing import TYPE_CHECKING

from autotest_lib.config import Preset, scaled
from autotest_lib.errors import ConfigError, WeekError
from autotest_lib.kinds import EventKind, ModelStatus

if TYPE_CHECKING:
    from autotest_lib.registry.store import LineageStore

__all__ = ["SELECTION", "TrainingOutcome", "check_week_order", "effective_steps", "needed_by_later_weeks", "training_outcome"]

SELECTION = EventKind.SELECTION
"""Week-level lineage event holding the week's selection (champion, rollbacks, regime pick, archive), once."""

ROLE_BUDGETS = (("explorer", "explorers"), ("refiner", "refiners"), ("champion", "champion"))


@dataclass(frozen=True)
class TrainingOutcome:
    """The week's planned models that trained, and those that did not (failed, or never finished)."""

    trained: tuple[str, ...]
    failed: tuple[str, ...]

    @property
    def usable(self) -> bool:
        """At least one model trained: the week can be measured and selected."""
        return bool(self.trained)

    @property
    def complete(self) -> bool:
        """Every planned model trained: the week may prune its archive."""
        return self.usable and not self.failed

    def describe(self) -> str:
        n = len(self.trained) + len(self.failed)
        if self.complete:
            return f"all {n} planned trainings finished"
        if not self.usable:
            return f"none of the {n} planned trainings finished ({', '.join(self.failed)})"
        return f"{len(self.failed)} of {n} planned trainings failed ({', '.join(self.failed)}): partial week, the archive is not pruned"


def training_outcome(planned: Iterable[str], statuses: dict[str, str]) -> TrainingOutcome:
    """Split the ``planned`` model ids by their registry status (``planned`` or ``failed`` = did not train)."""
    ids = list(planned)
    failed = tuple(m for m in ids if statuses.get(m, ModelStatus.PLANNED) in ModelStatus.untrained())
    return TrainingOutcome(trained=tuple(m for m in ids if m not in failed), failed=failed)


def selected_weeks(store: LineageStore) -> set[dt.date]:
    """Weeks whose selection was recorded (a ``selection`` event, or a champion row from before those events)."""
    return {e.week for e in store.events(kind=SELECTION)} | {c.week for c in store.champion_history()}


def later_selected_weeks(store: LineageStore, week: dt.date) -> list[dt.date]:
    return sorted(w for w in selected_weeks(store) if w > week)


def check_week_order(store: LineageStore, week: dt.date, config_hash: str) -> str | None:
    """Refuse a run of ``week`` that would rewrite what later, already selected weeks built on.

    :returns: None when no later week was selected (the run proceeds as usual), else a line saying the run
        replays the week's recorded selection and orders.
    :raises WeekError: the week was never selected but a later one was, or it was run with another config.
    """
    later = later_selected_weeks(store, week)
    if not later:
        return None
    shown = ", ".join(str(w) for w in later[:3]) + (" ..." if len(later) > 3 else "")
    if week not in selected_weeks(store):
        raise WeekError(
            f"week {week} was never selected, but later week(s) {shown} were: selecting it now would rewrite the champion "
            f"history and prune bundles they use. Run weeks in order: delete the later weeks' runs and rows, or leave {week} out"
        )
    recorded = store.get_week(week)
    if recorded is not None and recorded.config_hash != config_hash:
        raise WeekError(
            f"week {week} ran with another config (hash {recorded.config_hash[:12]}, this run {config_hash[:12]}) and later "
            f"week(s) {shown} built on it; re-run it with its original params (preset, tickers, scale, seed) or not at all"
        )
    return f"week {week} was selected before and week(s) {shown} followed: this run replays its recorded selection and orders"


def needed_by_later_weeks(store: LineageStore, week: dt.date) -> set[str]:
    """Models that weeks after ``week`` use: parents of their models, their champions and their paper picks."""
    needed = {m.parent_id for m in store.list_models() if m.parent_id and m.created_week is not None and m.created_week > week}
    needed |= {c.model_id for c in store.champion_history() if c.week > week}
    needed |= {e.model_id for e in store.events(kind=EventKind.PAPER_PICK) if e.week > week and e.model_id}
    return needed


def effective_steps(preset: Preset, scale: float = 1.0) -> list[str]:
    """What each role of ``preset`` will train at ``timesteps_scale`` ``scale``, in whole PPO rollouts.

    :param preset: the preset before scaling.
    :param scale: the run's ``timesteps_scale``.
    :returns: one line per role with models.
    :raises ConfigError: a role's scaled budget is under one rollout (PPO would train a full rollout anyway).
    """
    n_steps = max((preset.ppo.n_steps, *preset.search_space.n_steps))
    rollout = n_steps * preset.ppo.n_envs
    budgets = [(role, getattr(preset, field)) for role, field in ROLE_BUDGETS if getattr(preset, field).count]
    run = scaled(preset, scale) if scale != 1 else preset
    least = max((rollout / b.timesteps if b.timesteps else math.inf) for _role, b in budgets) if budgets else 0.0
    lines = []
    for role, budget in budgets:
        steps = getattr(run, dict(ROLE_BUDGETS)[role]).timesteps
        if steps < rollout:
            raise ConfigError(
                f"timesteps_scale={scale:g} gives each {role} {steps} steps, under one PPO rollout (n_steps up to {n_steps} "
                f"x n_envs {preset.ppo.n_envs} = {rollout} steps) that PPO would train anyway; for preset {preset.name!r} "
                f"use timesteps_scale >= {math.ceil(least * 1000) / 1000:g}"
            )
        most = steps + rollout - 1
        lines.append(f"{budget.count} {role}(s) x {steps} steps, trained in whole rollouts of up to {rollout} steps (so up to {most} each)")
    return lines
