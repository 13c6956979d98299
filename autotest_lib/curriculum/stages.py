"""Curriculum stages: the environment of each stage, the promotion rule, and the specs of curriculum models.

Stages are numbered from 1 in the registry (``models.stage``); ``preset.curriculum.stages[stage - 1]`` is the
stage's config. What changes from stage to stage is the task, never the observation's width:

- tickers: a count drawn from the stage's ``tickers`` range; a promoted model keeps its tickers *in their slots*
  and adds new ones after them, so every weight it learnt still looks at the same ticker;
- ``env.feature_set`` (simple -> rich -> full: slots outside the set are 0, the layout stays
  ``max_tickers x len(FEATURE_CATALOGUE)``), and the risk terms ``max_weight``, ``max_gross``, ``risk_penalty``;
- ``env.max_tickers`` and everything else of ``preset.env`` stay the preset's, so the parent's network loads
  into the next stage's env unchanged (SB3 checks the spaces).

**Promotion rule** (:func:`check_promotion`, a pure function of one validation evaluation)::

    passed = sharpe >= rule.min_sharpe  and  (not rule.beat_buy_and_hold or sharpe > sharpe_buy_and_hold)

with ``sharpe`` the model's annualised validation Sharpe (its score) and ``sharpe_buy_and_hold`` the Sharpe of
the equal-weight buy-and-hold of its own tickers on the same days. A model at the last stage has nowhere to go.

**Promotion** (:func:`promotion_spec`): the child continues the parent's bundle (weights, optimiser state and
step count kept) with the next stage's tickers and env, the parent's PPO hyperparameters (the network must
match) and the explorers' budget and schedule, on the whole trailing training window (a new task is learnt on
all of it, like a fresh explorer).
"""

from __future__ import annotations

import datetime as dt
import math
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass
from typing import Any

import numpy as np

from autotest_lib.config import CurriculumStage, EnvConfig, PPOParams, Preset, PromotionRule
from autotest_lib.kinds import Role
from autotest_lib.train.spec import TrainSpec, build_spec

__all__ = [
    "PromotionCheck",
    "check_promotion",
    "draw_stage_tickers",
    "new_stage_spec",
    "promoted_tickers",
    "promotion_spec",
    "stage_config",
    "stage_env",
]


def stage_config(preset: Preset, stage: int) -> CurriculumStage:
    """The config of ``stage`` (1-based).

    :param preset: the preset.
    :param stage: stage number, ``1 .. len(preset.curriculum.stages)``.
    :raises ValueError: no such stage.
    """
    stages = preset.curriculum.stages
    if not 1 <= stage <= len(stages):
        raise ValueError(f"curriculum stage {stage} does not exist; the preset declares stages 1..{len(stages)}")
    return stages[stage - 1]


def stage_env(base: EnvConfig, stage: CurriculumStage) -> EnvConfig:
    """``base`` with the stage's feature set and risk terms; ``max_tickers`` and costs stay ``base``'s.

    :param base: the preset's env.
    :param stage: the stage.
    """
    return base.model_copy(
        update={
            "feature_set": stage.feature_set,
            "max_weight": stage.max_weight,
            "max_gross": stage.max_gross,
            "risk_penalty": stage.risk_penalty,
        }
    )


def _count_range(stage: CurriculumStage, available: int, max_tickers: int, at_least: int = 1) -> tuple[int, int]:
    """``(lo, hi)`` ticker counts for ``stage``: its range clipped to what is available and to ``max_tickers``,
    and never below ``at_least`` (a promotion keeps every ticker it had)."""
    hi = max(min(stage.tickers[1], available, max_tickers), at_least)
    lo = min(max(stage.tickers[0], at_least), hi)
    return lo, hi


def draw_stage_tickers(stage: CurriculumStage, universe: Sequence[str], max_tickers: int, rng: np.random.Generator) -> tuple[str, ...]:
    """A new stage model's tickers: ``k`` drawn uniformly in the stage's range (clipped to the universe and
    ``max_tickers``), then ``k`` distinct tickers of the universe, sorted.

    :param stage: the stage.
    :param universe: tickers to draw from.
    :param max_tickers: the observation width.
    :param rng: the plan's generator.
    """
    lo, hi = _count_range(stage, len(universe), max_tickers)
    k = int(rng.integers(lo, hi + 1))
    return tuple(sorted(str(t) for t in rng.choice(sorted(universe), size=k, replace=False)))


def promoted_tickers(
    old: Sequence[str], stage: CurriculumStage, universe: Sequence[str], max_tickers: int, rng: np.random.Generator
) -> tuple[str, ...]:
    """The next stage's tickers: ``old`` in their slots, then new ones drawn from the rest of the universe.

    ``k`` is drawn in the stage's range, at least ``len(old)`` (a promotion never drops a ticker).

    :param old: the parent's tickers, in slot order.
    :param stage: the stage promoted to.
    :param universe: tickers to draw the new ones from.
    :param max_tickers: the observation width.
    :param rng: the plan's generator.
    """
    rest = sorted(set(universe) - set(old))
    lo, hi = _count_range(stage, len(old) + len(rest), max_tickers, at_least=len(old))
    k = int(rng.integers(lo, hi + 1))
    added = sorted(str(t) for t in rng.choice(rest, size=k - len(old), replace=False)) if k > len(old) else []
    return (*old, *added)


@dataclass(frozen=True)
class PromotionCheck:
    """The promotion rule applied to one evaluation.

    :param passed: whether the model moves on.
    :param reason: one sentence with the numbers.
    :param evidence: JSON-able facts the decision rests on (recorded with the promotion event).
    """

    passed: bool
    reason: str
    evidence: dict[str, Any]

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


def _number(x: Any) -> float | None:
    try:
        v = float(x)
    except (TypeError, ValueError):
        return None
    return v if math.isfinite(v) else None


def check_promotion(metrics: Mapping[str, Any], benchmarks: Mapping[str, Any], rule: PromotionRule) -> PromotionCheck:
    """Apply ``rule`` to a validation evaluation (see the module docstring for the formula).

    :param metrics: the evaluation's metrics (``sharpe`` used).
    :param benchmarks: the evaluation's benchmark metrics (``buy_and_hold.sharpe`` used).
    :param rule: the stage's promotion rule.
    """
    sharpe = _number(metrics.get("sharpe"))
    bh = _number((benchmarks.get("buy_and_hold") or {}).get("sharpe"))
    evidence: dict[str, Any] = {
        "sharpe": sharpe,
        "buy_and_hold_sharpe": bh,
        "min_sharpe": rule.min_sharpe,
        "beat_buy_and_hold": rule.beat_buy_and_hold,
    }
    if sharpe is None:
        return PromotionCheck(False, "no finite validation Sharpe", evidence)
    if sharpe < rule.min_sharpe:
        return PromotionCheck(False, f"validation Sharpe {sharpe:.3f} < {rule.min_sharpe:g}", evidence)
    if rule.beat_buy_and_hold:
        if bh is None:
            return PromotionCheck(False, "buy-and-hold Sharpe of its tickers unknown; cannot show it beats it", evidence)
        if not sharpe > bh:
            return PromotionCheck(False, f"validation Sharpe {sharpe:.3f} does not beat buy-and-hold of its tickers ({bh:.3f})", evidence)
        return PromotionCheck(True, f"validation Sharpe {sharpe:.3f} >= {rule.min_sharpe:g} and above buy-and-hold ({bh:.3f})", evidence)
    return PromotionCheck(True, f"validation Sharpe {sharpe:.3f} >= {rule.min_sharpe:g} (buy-and-hold not required)", evidence)


def new_stage_spec(
    *,
    model_id: str,
    week: dt.date,
    slot: int,
    seed: int,
    preset: Preset,
    ppo: PPOParams,
    universe: Sequence[str],
    rng: np.random.Generator,
    train_start: dt.date,
    train_end: dt.date,
    cutoff: dt.date,
) -> TrainSpec:
    """A new curriculum model at stage 1: an explorer slot with the first stage's tickers and env.

    :param model_id: its id (an explorer slot's id).
    :param week: the week's cutoff (logical date).
    :param slot: the explorer slot.
    :param seed: its training seed.
    :param preset: the preset (explorer budget, env, curriculum).
    :param ppo: sampled hyperparameters.
    :param universe: tickers to draw from.
    :param rng: the plan's generator.
    :param train_start: training window start.
    :param train_end: training window end (exclusive) = validation start.
    :param cutoff: the week's cutoff.
    """
    stage = stage_config(preset, 1)
    tickers = draw_stage_tickers(stage, universe, preset.env.max_tickers, rng)
    return build_spec(
        preset,
        preset.explorers,
        role=Role.EXPLORER,
        model_id=model_id,
        week=week,
        slot=slot,
        seed=seed,
        tickers=tickers,
        ppo=ppo,
        env=stage_env(preset.env, stage),
        train_start=train_start,
        train_end=train_end,
        cutoff=cutoff,
    )


def promotion_spec(
    parent_spec: TrainSpec,
    parent_bundle: str,
    to_stage: int,
    *,
    model_id: str,
    week: dt.date,
    slot: int,
    seed: int,
    preset: Preset,
    universe: Sequence[str],
    rng: np.random.Generator,
    train_start: dt.date,
    train_end: dt.date,
    cutoff: dt.date,
    parent_sha256: str | None = None,
) -> TrainSpec:
    """The child that continues ``parent_spec``'s model at ``to_stage`` (see the module docstring).

    :param parent_spec: the parent's spec (from its bundle's manifest).
    :param parent_bundle: the parent's bundle directory.
    :param to_stage: the stage promoted to (1-based).
    :param model_id: the child's id.
    :param week: the week's cutoff.
    :param slot: the explorer slot it takes.
    :param seed: its training seed.
    :param preset: the preset.
    :param universe: tickers the new ones are drawn from.
    :param rng: the plan's generator.
    :param train_start: training window start.
    :param train_end: training window end (exclusive).
    :param cutoff: the week's cutoff.
    :param parent_sha256: the registry's hash of the parent's bundle; the trainer refuses another bundle.
    :raises ValueError: the preset's ``env.max_tickers`` differs from the parent's (the network could not load).
    """
    if parent_spec.env.max_tickers != preset.env.max_tickers:
        raise ValueError(
            f"cannot promote {parent_spec.model_id}: it was trained with env.max_tickers={parent_spec.env.max_tickers}, the preset "
            f"has {preset.env.max_tickers}; the observation width must stay constant across a curriculum model's stages"
        )
    stage = stage_config(preset, to_stage)
    tickers = promoted_tickers(parent_spec.tickers, stage, universe, preset.env.max_tickers, rng)
    return build_spec(
        preset,
        preset.explorers,
        role=Role.EXPLORER,
        model_id=model_id,
        week=week,
        slot=slot,
        seed=seed,
        tickers=tickers,
        ppo=parent_spec.ppo,
        env=stage_env(preset.env, stage),
        train_start=train_start,
        train_end=train_end,
        cutoff=cutoff,
        parent_id=parent_spec.model_id,
        parent_bundle=parent_bundle,
        parent_sha256=parent_sha256,
    )
