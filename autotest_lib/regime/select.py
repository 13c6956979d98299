"""Regime-aware model selection: the model for the coming week, by the regime it will trade in.

**Rule** (a pure function of the week's per-regime evaluations, unit-tested without a database):

1. The regime is the label of the last trading day before the cutoff (:func:`~autotest_lib.regime.current_regime`).
2. Eligible models have, on this week's validation window, at least ``min_evidence_days`` return days
   attributed to that regime and a finite ``metric`` (annualised Sharpe by default) over those days. Every
   model of a week is evaluated on the same window, so their per-regime figures cover the same days.
3. The eligible model with the highest ``metric`` is picked (ties: the champion, then the smaller id).
4. Otherwise (regime ``unknown``, too few days of that regime in the window, or no eligible model) the
   champion is kept: the fallback.

The result says which rule fired in words (:attr:`RegimeChoice.rule`), so orders and reports can show it.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import asdict, dataclass
from typing import Any

from autotest_lib.kinds import PickKind
from autotest_lib.regime.detector import UNKNOWN

__all__ = ["RULE_FALLBACK", "RULE_REGIME", "RegimeChoice", "choose_by_regime"]

RULE_REGIME = PickKind.REGIME_BEST
"""Kind of choice made by the regime rule."""
RULE_FALLBACK = PickKind.CHAMPION_FALLBACK
"""Kind of choice made by the fallback to the champion."""


@dataclass(frozen=True)
class RegimeChoice:
    """The model picked for a regime, and why.

    :param model_id: the picked model (None only when there is no eligible model and no champion).
    :param regime: the regime the coming week trades in.
    :param kind: :data:`RULE_REGIME` or :data:`RULE_FALLBACK`.
    :param rule: one sentence saying which rule picked it and on what evidence.
    :param score: the picked model's ``metric`` in that regime (None for the fallback without evidence).
    :param evidence_days: days of that regime behind ``score``.
    :param champion_id: the champion the rule falls back to.
    :param eligible: how many models had enough evidence.
    """

    model_id: str | None
    regime: str
    kind: PickKind
    rule: str
    score: float | None
    evidence_days: int
    champion_id: str | None
    eligible: int

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


def _value(row: Mapping[str, Any] | None, key: str) -> float | None:
    if not row or row.get(key) is None:
        return None
    try:
        x = float(row[key])
    except (TypeError, ValueError):
        return None
    return x if math.isfinite(x) else None


def choose_by_regime(
    regime: str,
    by_regime: Mapping[str, Mapping[str, Mapping[str, Any]] | None],
    *,
    champion_id: str | None,
    min_evidence_days: int,
    metric: str = "sharpe",
) -> RegimeChoice:
    """Pick the model for ``regime`` by the module's rule, falling back to ``champion_id``.

    :param regime: the coming week's regime.
    :param by_regime: model id -> its evaluation's per-regime metrics (``evaluations.by_regime``; None when
        not computed), all over the same window.
    :param champion_id: the champion (the fallback); None when there is none.
    :param min_evidence_days: days of ``regime`` a model's evaluation needs before it can be picked for it.
    :param metric: the per-regime metric to maximise.
    """
    eligible: list[tuple[float, int, str]] = []
    days_seen = 0
    if regime != UNKNOWN:
        for model_id, regimes in by_regime.items():
            row = (regimes or {}).get(regime)
            days = int(_value(row, "days") or 0)
            days_seen = max(days_seen, days)
            value = _value(row, metric)
            if days >= min_evidence_days and value is not None:
                eligible.append((value, days, model_id))
    if eligible:
        # best metric; ties go to the champion, then to the smaller id
        value, days, model_id = min(eligible, key=lambda e: (-e[0], e[2] != champion_id, e[2]))
        rule = (
            f"regime rule: best {metric} in {regime} ({value:.2f} over {days} days of that regime on the validation window, "
            f">= {min_evidence_days} needed) among {len(eligible)} model(s) with enough evidence"
        )
        if model_id == champion_id:
            rule += "; it is the champion"
        return RegimeChoice(model_id, regime, RULE_REGIME, rule, value, days, champion_id, len(eligible))
    if regime == UNKNOWN:
        why = "the regime is unknown (index history too short for its windows)"
    elif days_seen < min_evidence_days:
        why = f"no model has >= {min_evidence_days} days of {regime} on its validation window (most: {days_seen})"
    else:
        why = f"no model has a finite {metric} in {regime}"
    if champion_id is None:
        return RegimeChoice(None, regime, RULE_FALLBACK, f"fallback: {why}, and there is no champion", None, 0, None, 0)
    row = (by_regime.get(champion_id) or {}).get(regime)
    return RegimeChoice(
        champion_id,
        regime,
        RULE_FALLBACK,
        f"champion fallback: {why}; keeping champion {champion_id}",
        _value(row, metric),
        int(_value(row, "days") or 0),
        champion_id,
        0,
    )
