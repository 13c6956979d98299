"""The elite: which models the week's ``champion.count`` slots continue.

Slot 0 is the current champion (chosen by the champion rule, :mod:`autotest_lib.weekly.select`). Slots
``1 .. count-1`` are the best models of all time from *other* lineages: each lineage (``root_id``) is
represented by its best-scoring model that still has a bundle (not rolled back, retired or failed), ranked
by that model's best validation score of any week before the cutoff. One model per lineage keeps the elite
diverse: two slots never continue the same family.

:func:`elite_slots` is a pure function of records (unit-tested without a database); :func:`champion_lineup`
reads them from the registry.
"""

from __future__ import annotations

import datetime as dt
import math
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from autotest_lib.errors import ConfigError

__all__ = ["EliteSlot", "champion_lineup", "elite_slots"]

_EXCLUDED = frozenset({"rolled_back", "retired", "failed", "planned"})


@dataclass(frozen=True)
class EliteSlot:
    """Champion slot ``slot`` continues ``model_id`` (of lineage ``root_id``), best score ``score``."""

    slot: int
    model_id: str
    root_id: str
    score: float | None
    reason: str

    def as_dict(self) -> dict[str, Any]:
        return {"slot": self.slot, "parent_id": self.model_id, "root_id": self.root_id, "score": self.score, "reason": self.reason}


def elite_slots(champion: Any | None, models: Iterable[Any], best_scores: Mapping[str, float], count: int) -> list[EliteSlot]:
    """Up to ``count`` slots: the champion first, then the best model of each other lineage by best score.

    :param champion: the current champion's model record (``model_id``, ``root_id``, ``bundle_uri``); None (or
        one without a bundle) gives no slots, as a week without a champion continues none.
    :param models: model records (``model_id``, ``root_id``, ``status``, ``bundle_uri``).
    :param best_scores: model id -> its best finite validation score; unscored models are not eligible.
    :param count: the number of slots wanted.
    """
    if count <= 0 or champion is None or not champion.bundle_uri:
        return []  # no champion (yet), or its bundle is gone: the elite has no head and nothing is continued
    out = [EliteSlot(0, champion.model_id, champion.root_id, best_scores.get(champion.model_id), "current champion")]
    best_of_lineage: dict[str, tuple[float, str]] = {}
    for m in models:
        s = best_scores.get(m.model_id)
        if m.status in _EXCLUDED or not m.bundle_uri or s is None or not math.isfinite(s):
            continue
        current = best_of_lineage.get(m.root_id)
        if current is None or (s, m.model_id) > current:
            best_of_lineage[m.root_id] = (s, m.model_id)
    taken = {slot.root_id for slot in out}
    ranked = sorted(((s, mid, root) for root, (s, mid) in best_of_lineage.items() if root not in taken), key=lambda r: (-r[0], r[1]))
    for s, mid, root in ranked[: count - len(out)]:
        out.append(EliteSlot(len(out), mid, root, s, f"best of lineage {root} (validation score {s:.4f})"))
    return out


def champion_lineup(store: Any, week: dt.date, count: int, *, require: bool = False) -> list[EliteSlot]:
    """The models the champion slots of ``week`` continue, from what the registry knew before ``week``.

    :param store: the lineage store.
    :param week: the week being planned (exclusive bound on champions and evaluations).
    :param count: ``champion.count`` of the preset.
    :param require: refuse (``ConfigError``) when a champion exists but fewer than ``count`` lineages qualify.
    :raises ConfigError: ``require`` and too few distinct lineages with a kept bundle.
    """
    if count <= 0:
        return []
    record = store.current_champion(before_week=week)
    champion = store.get_model(record.model_id) if record is not None else None
    best: dict[str, float] = {}
    for e in store.evaluations(window="validation"):
        if e.week < week and e.score is not None and math.isfinite(e.score):
            best[e.model_id] = max(e.score, best.get(e.model_id, -math.inf))
    slots = elite_slots(champion, store.list_models(), best, count)
    if require and champion is not None and len(slots) < count:
        raise ConfigError(
            f"champion.count={count}: only {len(slots)} distinct lineage(s) with a kept bundle and a validation score before "
            f"week {week.isoformat()} ({', '.join(s.model_id for s in slots) or 'none'}); lower champion.count to {len(slots)} "
            f"or run weeks with more explorers first"
        )
    return slots
