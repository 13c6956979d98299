"""Which curriculum models of a week earned a promotion: read from the registry, decided by :func:`check_promotion`.

Used twice with the same answer: by the week's selection (their bundles must survive the archive pruning)
and by the next week's plan (which continues them at the next stage).
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from autotest_lib.config import Preset
from autotest_lib.curriculum.stages import PromotionCheck, check_promotion, stage_config
from autotest_lib.kinds import ModelStatus

if TYPE_CHECKING:
    from autotest_lib.registry.store import LineageStore

__all__ = ["EXCLUDED_STATUSES", "Promotable", "curriculum_slots", "promotable"]

EXCLUDED_STATUSES = frozenset({ModelStatus.ROLLED_BACK, ModelStatus.RETIRED, ModelStatus.FAILED, ModelStatus.PLANNED})


@dataclass(frozen=True)
class Promotable:
    """A curriculum model that passed its stage's rule on the week's validation window.

    :param model_id: the model.
    :param stage: its stage (1-based); it moves to ``stage + 1``.
    :param score: its validation score (ranks promotions when slots are short).
    :param check: the rule's verdict with its evidence.
    :param week: the week of the evaluation.
    :param window: ``(start, end)`` of the validation window.
    :param bundle_uri: its bundle, continued by the promotion.
    :param bundle_sha256: the registry's hash of that bundle.
    """

    model_id: str
    stage: int
    score: float | None
    check: PromotionCheck
    week: dt.date
    window: tuple[dt.date, dt.date]
    bundle_uri: str | None
    bundle_sha256: str | None = None


def curriculum_slots(preset: Preset) -> int:
    """Explorer slots given to curriculum models: ``round(explorer_share * explorers.count)``.

    :param preset: the preset.
    """
    return min(preset.explorers.count, round(preset.curriculum.explorer_share * preset.explorers.count))


def promotable(store: LineageStore, week: dt.date, preset: Preset, *, require_bundle: bool = True) -> list[Promotable]:
    """Curriculum models created in ``week`` that passed their stage's rule and have a next stage, best score first.

    :param store: the lineage store.
    :param week: the week whose models and validation evaluations are read.
    :param preset: stages and rules.
    :param require_bundle: leave out models whose bundle directory is gone (they cannot be continued).
    """
    n_stages = len(preset.curriculum.stages)
    evals = {e.model_id: e for e in store.evaluations(week=week, window="validation")}
    out = []
    for m in store.list_models(week=week):
        if m.stage is None or m.stage >= n_stages or m.status in EXCLUDED_STATUSES or m.model_id not in evals:
            continue
        if require_bundle and not (m.bundle_uri and Path(m.bundle_uri, "manifest.json").is_file()):
            continue
        e = evals[m.model_id]
        check = check_promotion(e.metrics, e.benchmarks, stage_config(preset, m.stage).promotion)
        if check.passed:
            out.append(Promotable(m.model_id, m.stage, e.score, check, week, (e.window_start, e.window_end), m.bundle_uri, m.bundle_sha256))
    return sorted(out, key=lambda p: (-(p.score if p.score is not None else float("-inf")), p.model_id))
