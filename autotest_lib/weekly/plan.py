"""``plan_week``: decide what a week trains, from the preset and what the registry already knows.

Deterministic for a given week, preset, seed and registry state, so a retried planning task writes the
same plan. Model ids are ``<cutoff:%Y%m%d>-<role>-<slot>``: a retry rewrites, never duplicates.

- **explorers**: new models; hyperparameters sampled from the search space and ticker sets drawn from the
  universe, both from a generator seeded by (seed, week);
- **refiners**: the previous evaluated week's top models by validation score (rolled-back, retired and
  failed models excluded, and the champion, which has its own slot), continued at LR x ``refiners.lr_multiplier``
  with a constant schedule on the 70/30 recent/history mix;
- **champion**: ``champion.count`` elite slots (:mod:`autotest_lib.weekly.champions`): slot 0 the current
  champion, further slots the best models of all time from other lineages, each continued at LR
  x ``champion.lr_multiplier``, constant; ``elite`` says which slot continues which model;
- **curriculum**: the last ``round(curriculum.explorer_share * explorers.count)`` explorer slots go to
  curriculum models: first the promotions of the previous evaluated week's curriculum models that passed
  their stage's rule (best score first; each continues its parent at the next stage), then new stage-1
  models. Their role stays ``explorer``; ``stages`` maps every model with a stage (continuations inherit
  their parent's) and ``promotions`` holds each promotion's evidence for the registry;
- the first week (nothing evaluated yet) plans explorers only, and the plan says so in ``notes``.
"""

from __future__ import annotations

import datetime as dt
import hashlib
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, TypedDict

import numpy as np

from autotest_lib.config import EnvConfig, PPOParams, Preset, RoleBudget
from autotest_lib.curriculum import curriculum_slots, new_stage_spec, promotable, promotion_spec, stage_config
from autotest_lib.kinds import ModelStatus, Role
from autotest_lib.runs import WeekWindows, week_windows
from autotest_lib.train.bundle import verify_bundle
from autotest_lib.train.search_space import sample_hyperparameters
from autotest_lib.train.spec import TrainSpec, build_spec
from autotest_lib.weekly.champions import EliteSlot, champion_lineup

if TYPE_CHECKING:
    from autotest_lib.registry.records import ModelRecord
    from autotest_lib.registry.store import LineageStore

__all__ = ["WeekPlan", "config_hash", "model_id_for", "plan_week", "slot_seed"]

ROLE_INDEX = {role: i for i, role in enumerate(Role)}
EXCLUDED_STATUSES = frozenset({ModelStatus.ROLLED_BACK, ModelStatus.RETIRED, ModelStatus.FAILED})


class _SlotArgs(TypedDict):
    """What every curriculum slot's spec is made from, besides its stage."""

    model_id: str
    week: dt.date
    slot: int
    seed: int
    preset: Preset
    train_start: dt.date
    train_end: dt.date
    cutoff: dt.date


@dataclass(frozen=True)
class WeekPlan:
    """The specs of one week, by role, plus human-readable notes on how they were chosen."""

    week: dt.date
    windows: WeekWindows
    specs: tuple[TrainSpec, ...]
    notes: tuple[str, ...] = field(default=())
    stages: dict[str, int] = field(default_factory=dict)
    promotions: tuple[dict[str, Any], ...] = field(default=())
    elite: tuple[EliteSlot, ...] = field(default=())

    def ids(self, role: str) -> list[str]:
        return [s.model_id for s in self.specs if s.role == role]

    def by_id(self) -> dict[str, TrainSpec]:
        return {s.model_id: s for s in self.specs}

    def as_json(self) -> dict[str, Any]:
        return {
            "week": self.week.isoformat(),
            "windows": self.windows.as_dict(),
            "notes": list(self.notes),
            "specs": {s.model_id: s.model_dump(mode="json") for s in self.specs},
            "curriculum": {"stages": dict(self.stages), "promotions": [dict(p) for p in self.promotions]},
            "elite": [slot.as_dict() for slot in self.elite],
        }

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> WeekPlan:
        w = {k: dt.date.fromisoformat(v) for k, v in data["windows"].items()}
        windows = WeekWindows(
            cutoff=w["cutoff"], train_start=w["train_start"], recent_start=w["recent_start"], validation_start=w["validation_start"]
        )
        specs = tuple(TrainSpec.model_validate(s) for s in data["specs"].values())
        curriculum = data.get("curriculum") or {}
        return cls(
            week=dt.date.fromisoformat(data["week"]),
            windows=windows,
            specs=specs,
            notes=tuple(data.get("notes", ())),
            stages={k: int(v) for k, v in (curriculum.get("stages") or {}).items()},
            promotions=tuple(dict(p) for p in curriculum.get("promotions") or ()),
            elite=tuple(EliteSlot(e["slot"], e["parent_id"], e["root_id"], e["score"], e["reason"]) for e in data.get("elite") or ()),
        )


def model_id_for(week: dt.date, role: str, slot: int) -> str:
    return f"{week:%Y%m%d}-{role}-{slot:02d}"


def slot_seed(seed: int, week: dt.date, role: str, slot: int) -> int:
    """A distinct, reproducible seed per (base seed, week, role, slot)."""
    digest = hashlib.sha256(f"{seed}:{week.isoformat()}:{role}:{slot}".encode()).digest()
    return int.from_bytes(digest[:4], "little") & 0x7FFFFFFF


def config_hash(preset: Preset) -> str:
    return hashlib.sha256(preset.model_dump_json().encode()).hexdigest()[:16]


def _explorers(
    week: dt.date, preset: Preset, windows: WeekWindows, seed: int, universe: list[str], rng: np.random.Generator, count: int
) -> list[TrainSpec]:
    budget = preset.explorers
    lo, hi = preset.data.tickers_per_model
    hi = min(hi, len(universe), preset.env.max_tickers)
    lo = min(lo, hi)
    specs = []
    for slot in range(count):
        k = int(rng.integers(lo, hi + 1))
        tickers = tuple(sorted(str(t) for t in rng.choice(universe, size=k, replace=False)))
        ppo = sample_hyperparameters(preset.search_space, preset.ppo, rng)
        specs.append(_spec(week, Role.EXPLORER, slot, tickers, ppo, budget, preset, windows, seed))
    return specs


def _curriculum(
    week: dt.date,
    preset: Preset,
    store: LineageStore,
    windows: WeekWindows,
    seed: int,
    universe: list[str],
    rng: np.random.Generator,
    slots: range,
    previous: dt.date | None,
) -> tuple[list[TrainSpec], dict[str, int], list[dict[str, Any]], list[str]]:
    """The curriculum's explorer slots: promotions of ``previous`` week's passing curriculum models, then new stage-1 models."""
    n_stages = len(preset.curriculum.stages)
    passing: list[tuple[Any, TrainSpec]] = []
    skipped: list[str] = []
    for p in promotable(store, previous, preset) if previous is not None else []:
        assert p.bundle_uri is not None  # promotable() keeps models with a bundle only (require_bundle)
        parent_spec = TrainSpec.model_validate(verify_bundle(p.bundle_uri, p.bundle_sha256).manifest["spec"])
        if parent_spec.env.max_tickers == preset.env.max_tickers:
            passing.append((p, parent_spec))
        else:  # the observation width changed since: its network cannot load into this preset's env
            skipped.append(f"{p.model_id} (env.max_tickers {parent_spec.env.max_tickers} != {preset.env.max_tickers})")
    specs: list[TrainSpec] = []
    stages: dict[str, int] = {}
    promotions: list[dict[str, Any]] = []
    for slot in slots:
        model_id = model_id_for(week, Role.EXPLORER, slot)
        common = _SlotArgs(
            model_id=model_id,
            week=week,
            slot=slot,
            seed=slot_seed(seed, week, Role.EXPLORER, slot),
            preset=preset,
            train_start=windows.train_start,
            train_end=windows.train_end,
            cutoff=windows.cutoff,
        )
        if passing:
            p, parent_spec = passing.pop(0)
            spec = promotion_spec(
                parent_spec, p.bundle_uri, p.stage + 1, universe=universe, rng=rng, parent_sha256=p.bundle_sha256, **common
            )
            stages[model_id] = p.stage + 1
            promotions.append(
                {
                    "model_id": model_id,
                    "parent_id": p.model_id,
                    "from_stage": p.stage,
                    "to_stage": p.stage + 1,
                    "from_name": stage_config(preset, p.stage).name,
                    "to_name": stage_config(preset, p.stage + 1).name,
                    "evaluated_week": p.week.isoformat(),
                    "window": [p.window[0].isoformat(), p.window[1].isoformat()],
                    "score": p.score,
                    "reason": p.check.reason,
                    "evidence": p.check.evidence,
                    "tickers_before": list(parent_spec.tickers),
                    "tickers_after": list(spec.tickers),
                    "feature_set": spec.env.feature_set,
                }
            )
        else:
            ppo = sample_hyperparameters(preset.search_space, preset.ppo, rng)
            spec = new_stage_spec(ppo=ppo, universe=universe, rng=rng, **common)
            stages[model_id] = 1
        specs.append(spec)
    moves = ", ".join(f"{p['parent_id']} stage {p['from_stage']} -> {p['to_stage']} as {p['model_id']}" for p in promotions)
    notes = [
        f"curriculum: {len(slots)} of {preset.explorers.count} explorer slots ({n_stages} stages); "
        f"{len(promotions)} promotion(s){': ' + moves if moves else ''}; {len(slots) - len(promotions)} new stage-1 model(s)"
    ]
    if skipped:
        notes.append("curriculum: not promoted, observation width changed: " + ", ".join(skipped))
    return specs, stages, promotions, notes


def _spec(
    week: dt.date,
    role: Role,
    slot: int,
    tickers: tuple[str, ...],
    ppo: PPOParams,
    budget: RoleBudget,
    preset: Preset,
    windows: WeekWindows,
    seed: int,
    parent: ModelRecord | None = None,
    env: EnvConfig | None = None,
) -> TrainSpec:
    return build_spec(
        preset,
        budget,
        model_id=model_id_for(week, role, slot),
        role=role,
        week=week,
        slot=slot,
        seed=slot_seed(seed, week, role, slot),
        tickers=tickers,
        ppo=ppo,
        train_start=windows.train_start,
        train_end=windows.train_end,
        cutoff=windows.cutoff,
        env=env,
        parent_id=parent.model_id if parent is not None else None,
        parent_bundle=parent.bundle_uri if parent is not None else None,
        parent_sha256=parent.bundle_sha256 if parent is not None else None,
        recent_start=windows.recent_start if parent is not None else None,
    )


def _continuation(
    week: dt.date, role: Role, slot: int, parent: ModelRecord, budget: RoleBudget, preset: Preset, windows: WeekWindows, seed: int
) -> TrainSpec:
    """A child of ``parent`` that keeps its tickers, env and hyperparameters; only the LR schedule changes."""
    assert parent.bundle_uri is not None  # refiners and elite slots are chosen among models with a bundle
    parent_spec = TrainSpec.model_validate(verify_bundle(parent.bundle_uri, parent.bundle_sha256).manifest["spec"])
    return _spec(week, role, slot, parent_spec.tickers, parent_spec.ppo, budget, preset, windows, seed, parent=parent, env=parent_spec.env)


def plan_week(
    week: dt.date, preset: Preset, store: LineageStore, *, seed: int | None = None, universe: list[str] | None = None
) -> WeekPlan:
    """Plan one week. ``week`` is the cutoff date; ``store`` is a :class:`~autotest_lib.registry.LineageStore`.

    :param week: the week's cutoff (exclusive): no price on or after it is used.
    :param preset: the (possibly scaled) preset.
    :param store: the lineage store, read only here.
    :param seed: base seed (default ``preset.seed``).
    :param universe: tickers explorers draw from (default ``preset.data.universe``), e.g. those with data.
    """
    seed = preset.seed if seed is None else seed
    windows = week_windows(week, preset)
    universe = sorted(universe or preset.data.universe)
    notes: list[str] = []
    previous = previous_evaluated_week(store, week)
    rng = np.random.default_rng([seed, week.toordinal()])
    n_curriculum = curriculum_slots(preset)
    n_plain = preset.explorers.count - n_curriculum
    specs = _explorers(week, preset, windows, seed, universe, rng, n_plain)
    stages: dict[str, int] = {}
    promotions: list[dict[str, Any]] = []
    if n_curriculum:
        cur_specs, stages, promotions, cur_notes = _curriculum(
            week, preset, store, windows, seed, universe, rng, range(n_plain, preset.explorers.count), previous
        )
        specs += cur_specs
        notes += cur_notes

    elite = champion_lineup(store, week, preset.champion.count, require=previous is not None)
    elite_ids = {slot.model_id for slot in elite}
    if previous is None:
        notes.append("first week: nothing evaluated before this cutoff, so explorers only (no refiners, no champion)")
    else:
        board = [store.require_model(row.model_id) for row in store.leaderboard(previous) if row.status not in EXCLUDED_STATUSES]
        board = [m for m in board if m.bundle_uri and m.model_id not in elite_ids]
        parents = board[: preset.refiners.count]
        notes.append(
            f"refiners: top {len(parents)} of {len(board)} eligible models from week {previous.isoformat()} "
            f"(rolled back, retired and failed models and the champion slots' models excluded)"
        )
        specs += [_continuation(week, Role.REFINER, i, p, preset.refiners, preset, windows, seed) for i, p in enumerate(parents)]
    for slot in elite:
        parent = store.require_model(slot.model_id)
        specs.append(_continuation(week, Role.CHAMPION, slot.slot, parent, preset.champion, preset, windows, seed))
        notes.append(f"champion slot {slot.slot}: {parent.model_id} ({slot.reason}) continued at LR x{preset.champion.lr_multiplier}")
    if not elite and previous is not None and preset.champion.count > 0:
        notes.append("champion: none chosen yet")
    for spec in specs:  # continuations stay at their parent's curriculum stage
        if spec.model_id not in stages and spec.parent_id is not None:
            parent_stage = store.require_model(spec.parent_id).stage
            if parent_stage is not None:
                stages[spec.model_id] = parent_stage
    return WeekPlan(
        week=week, windows=windows, specs=tuple(specs), notes=tuple(notes), stages=stages, promotions=tuple(promotions), elite=tuple(elite)
    )


def previous_evaluated_week(store: LineageStore, week: dt.date) -> dt.date | None:
    """The latest week before ``week`` whose models were evaluated on the validation window."""
    for record in sorted(store.list_weeks(), key=lambda w: w.week, reverse=True):
        if record.week < week and store.evaluations(week=record.week, window="validation"):
            return record.week
    return None
