"""After the week's backtests: the rollback guard, the champion rule and the archive policy.

The decisions are pure functions of scores (unit-tested without a database); :func:`select_week` applies
them to the registry.

**Rollback guard.** A continued model (refiner or champion continuation) is rolled back when its validation
score is more than ``threshold`` worse than its parent's on the *same* window:
``child < parent - threshold * |parent|``. The child is marked ``rolled_back`` with the reason; the parent
keeps its place (it stays active, its bundle stays in the archive).

**Champion rule.** Scores are this week's validation scores (every candidate, the incumbent included, is
evaluated on the same window). The challenger is the best model that was not rolled back. It takes over
when ``challenger.score > incumbent.score`` and its deflated Sharpe ratio (number of trials = models
evaluated this week) is at least ``min_dsr``: picking the best of many models is corrected for luck. With
no incumbent, the best model becomes champion by the rule ``initial``.

**Regime pick.** Given the coming week's regime, the model the paper trades will use is picked by
:func:`~autotest_lib.regime.choose_by_regime` among this week's evaluated models that were not rolled back
(the champion is the fallback); it is returned as ``regime_pick`` and its bundle is kept.

**Archive.** The top ``keep_top_n`` models of the week by score, the champion, the models next week will
refine (the best ``refiners.count`` others), those of next week's other elite champion slots, the regime pick,
and ``also_keep`` (the curriculum models next week will promote) keep their bundles in
``<home>/archive/<model_id>``. Every other model of this or earlier weeks is ``retired``: its lineage rows
stay, its bundle folders are deleted, and an ``archive_prune`` event records it. A partial week (``prune=False``,
see :mod:`autotest_lib.weekly.guards`) archives its keepers but retires and deletes nothing.
"""

from __future__ import annotations

import datetime as dt
import logging
import math
import shutil
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from typing_extensions import TypeIs

from autotest_lib.regime import choose_by_regime
from autotest_lib.registry import EventKind, ModelStatus, Role

if TYPE_CHECKING:
    from autotest_lib.registry.store import LineageStore

from autotest_lib.evaluate.own_1n import beats_own_1n, own_1n_score

__all__ = ["ChampionDecision", "Rollback", "champion_decision", "rollback_decisions", "select_week"]

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Rollback:
    child_id: str
    parent_id: str
    child_score: float
    parent_score: float
    reason: str


@dataclass(frozen=True)
class ChampionDecision:
    model_id: str
    rule: str
    score: float
    changed: bool


def _finite(x: float | None) -> TypeIs[float]:
    return x is not None and math.isfinite(x)


def rollback_decisions(pairs: list[tuple[str, str, float | None, float | None]], threshold: float) -> list[Rollback]:
    """Children to roll back, from ``(child_id, parent_id, child_score, parent_score)`` on one window.

    A child without a finite score (its backtest failed) is rolled back too; a parent without one cannot
    be compared, so its child stands.
    """
    out = []
    for child, parent, c, p in pairs:
        if not _finite(p):
            continue
        if not _finite(c):
            out.append(Rollback(child, parent, float("nan"), p, "no validation score (backtest failed)"))
            continue
        limit = p - threshold * abs(p)
        if c < limit:
            out.append(
                Rollback(child, parent, c, p, f"validation score {c:.4f} is more than {threshold:.0%} worse than parent {parent}'s {p:.4f}")
            )
    return out


def champion_decision(
    incumbent: tuple[str, float | None] | None,
    candidates: list[tuple[str, float | None, float | None]],
    min_dsr: float,
    *,
    own_1n: Mapping[str, float | None] | None = None,
) -> ChampionDecision | None:
    """Apply the champion rule. ``candidates`` are ``(model_id, score, dsr)`` of this week (not rolled back).

    :param own_1n: when given, the rule's option that a challenger (or the first champion) must also beat the
        score of 1/N of its own tickers on the validation window: ``{model_id: own-1/N score}``.
    :returns: the decision, or None when there is neither an incumbent nor a scored candidate.
    """
    scored = [(mid, score, dsr) for mid, score, dsr in candidates if _finite(score)]
    if own_1n is not None:
        scored = [(mid, score, dsr) for mid, score, dsr in scored if beats_own_1n(score, own_1n.get(mid))]
    best = max(scored, key=lambda c: (c[1], c[0])) if scored else None
    if incumbent is None:
        if best is None:
            return None
        return ChampionDecision(best[0], "initial: best validation score of the first evaluated week", float(best[1]), True)
    inc_id, inc_score = incumbent
    if best is not None and best[0] != inc_id:
        best_id, best_score, best_dsr = best
        beats = not _finite(inc_score) or best_score > inc_score
        if beats and _finite(best_dsr) and best_dsr >= min_dsr:
            bar = f" and its own 1/N ({_fmt(own_1n.get(best_id))})" if own_1n is not None else ""
            won = f"challenger: score {best_score:.4f} beats incumbent {inc_id} ({_fmt(inc_score)}){bar}"
            return ChampionDecision(
                best_id,
                f"{won} with DSR {best_dsr:.3f} >= {min_dsr}",
                float(best_score),
                True,
            )
    reason = "incumbent kept: no challenger beats it with enough deflated Sharpe"
    if own_1n is not None:
        reason += " and its own 1/N"
    return ChampionDecision(inc_id, reason, float(inc_score) if _finite(inc_score) else float("nan"), False)


def _fmt(x: float | None) -> str:
    return f"{x:.4f}" if _finite(x) else "n/a"


def select_week(
    store: LineageStore,
    week: dt.date,
    *,
    threshold: float,
    min_dsr: float,
    keep_top_n: int,
    home: Path,
    next_refiners: int = 0,
    next_champions: int = 1,
    regime: str | None = None,
    min_evidence_days: int = 20,
    also_keep: Iterable[str] = (),
    beat_own_1n: bool = False,
    prune: bool = True,
) -> dict[str, Any]:
    """Apply rollback guard, champion rule, regime pick and archive policy for ``week`` to the registry.

    Idempotent: running it again for the same week reaches the same state (upserts, and statuses that
    only move forward).

    :param store: the lineage store.
    :param week: the week (cutoff).
    :param threshold: rollback threshold (share of the parent's score).
    :param min_dsr: deflated Sharpe a challenger needs.
    :param keep_top_n: bundles of the week's best models kept.
    :param home: where ``archive/`` lives.
    :param next_refiners: how many others next week refines (kept too).
    :param next_champions: next week's ``champion.count``: the elite slots' models are kept too.
    :param regime: the coming week's regime; None skips the regime pick.
    :param min_evidence_days: days of that regime a model needs to be picked for it.
    :param also_keep: more model ids whose bundles must survive (e.g. curriculum promotions of next week).
    :param beat_own_1n: a challenger must also beat 1/N of its own tickers on the validation window.
    :param prune: retire the models outside the keep list and delete their bundles; False for a partial week.
    """
    evals = {e.model_id: e for e in store.evaluations(week=week, window="validation")}
    models = {m.model_id: m for m in store.list_models(week=week)}

    pairs = []
    for m in models.values():
        if m.role in (Role.REFINER, Role.CHAMPION) and m.parent_id and m.status != ModelStatus.FAILED:
            c, p = evals.get(m.model_id), evals.get(m.parent_id)
            pairs.append((m.model_id, m.parent_id, c.score if c else None, p.score if p else None))
    rollbacks = rollback_decisions(pairs, threshold)
    for rb in rollbacks:
        store.set_model_status(rb.child_id, ModelStatus.ROLLED_BACK, rb.reason)
        store.record_event(
            week=week,
            kind=EventKind.ROLLBACK,
            model_id=rb.child_id,
            payload={"parent_id": rb.parent_id, "child_score": rb.child_score, "parent_score": rb.parent_score, "reason": rb.reason},
        )
    rolled = {rb.child_id for rb in rollbacks}

    incumbent_rec = store.current_champion(before_week=week)
    incumbent = None
    if incumbent_rec is not None:
        inc_eval = evals.get(incumbent_rec.model_id)
        incumbent = (incumbent_rec.model_id, inc_eval.score if inc_eval else None)
    candidates = [
        (mid, e.score, (e.metrics or {}).get("dsr"))
        for mid, e in evals.items()
        if mid not in rolled and store.require_model(mid).status not in (ModelStatus.ROLLED_BACK, ModelStatus.FAILED)
    ]
    own = {mid: own_1n_score(e.benchmarks) for mid, e in evals.items()} if beat_own_1n else None
    decision = champion_decision(incumbent, candidates, min_dsr, own_1n=own)
    if decision is not None:
        store.set_champion(week=week, model_id=decision.model_id, rule=decision.rule, score=decision.score)

    pick = None
    if regime is not None:
        eligible = {mid: evals[mid].by_regime for mid, _score, _dsr in candidates}
        pick = choose_by_regime(regime, eligible, champion_id=decision.model_id if decision else None, min_evidence_days=min_evidence_days)
    extra = [*also_keep, *([pick.model_id] if pick is not None and pick.model_id else [])]
    if next_champions > 1:  # the elite slots beyond the champion continue models that may rank low this week
        from autotest_lib.weekly.champions import champion_lineup

        extra += [slot.model_id for slot in champion_lineup(store, week + dt.timedelta(days=1), next_champions)]
    archived, retired = _apply_archive(
        store, week, evals, rolled, decision.model_id if decision else None, keep_top_n, next_refiners, home, extra, prune
    )
    return {
        "week": week.isoformat(),
        "rolled_back": [rb.child_id for rb in rollbacks],
        "champion": decision.model_id if decision else None,
        "champion_changed": bool(decision and decision.changed),
        "champion_rule": decision.rule if decision else None,
        "regime_pick": pick.as_dict() if pick is not None else None,
        "archived": archived,
        "retired": retired,
    }


def _apply_archive(
    store: LineageStore,
    week: dt.date,
    evals: dict,
    rolled: set[str],
    champion: str | None,
    keep: int,
    next_refiners: int,
    home: Path,
    extra: Iterable[str] = (),
    prune: bool = True,
) -> tuple[list[str], list[str]]:
    eligible = [
        mid for mid, e in evals.items() if mid not in rolled and _finite(e.score) and store.require_model(mid).status != ModelStatus.RETIRED
    ]
    ranked = sorted(eligible, key=lambda mid: (-evals[mid].score, mid))
    keep_ids = ranked[:keep]
    # next week continues the champion and the best others, trades the regime pick and promotes curriculum
    # models: their bundles must survive this pruning
    for mid in [champion, *[m for m in ranked if m != champion][:next_refiners], *extra]:
        if mid and mid not in keep_ids and mid not in rolled:
            keep_ids.append(mid)
    archive_root = home / "archive"
    archive_root.mkdir(parents=True, exist_ok=True)
    for mid in keep_ids:
        m = store.require_model(mid)
        dest = archive_root / mid
        if m.bundle_uri and Path(m.bundle_uri) != dest and Path(m.bundle_uri).is_dir() and not dest.exists():
            tmp = archive_root / f".{mid}.tmp"
            shutil.rmtree(tmp, ignore_errors=True)
            shutil.copytree(m.bundle_uri, tmp)
            tmp.rename(dest)
        if m.status in (ModelStatus.ACTIVE, ModelStatus.ARCHIVED):
            uri = str(dest) if dest.is_dir() else m.bundle_uri
            assert uri is not None and m.bundle_sha256 is not None  # an active or archived model has its bundle
            store.set_model_bundle(
                mid, bundle_uri=uri, bundle_sha256=m.bundle_sha256, cumulative_timesteps=m.cumulative_timesteps, status=ModelStatus.ARCHIVED
            )
    retired: list[str] = []
    if not prune:
        return keep_ids, retired
    for m in store.list_models():
        if m.model_id in keep_ids or m.status in (ModelStatus.RETIRED, ModelStatus.PLANNED) or not m.bundle_uri:
            continue
        if m.created_week is not None and m.created_week > week:
            continue
        if m.status in (ModelStatus.ROLLED_BACK, ModelStatus.FAILED):
            _delete_bundles(m, archive_root)
            continue
        store.set_model_status(m.model_id, ModelStatus.RETIRED, f"outside the top {keep} of week {week.isoformat()}")
        _delete_bundles(m, archive_root)
        store.record_event(week=week, kind=EventKind.ARCHIVE_PRUNE, model_id=m.model_id, payload={"bundle_uri": m.bundle_uri})
        retired.append(m.model_id)
    return keep_ids, retired


def _delete_bundles(model: Any, archive_root: Path) -> None:
    """Bundles of retired or rolled-back models go; their lineage rows stay. A home deletes only inside itself."""
    from autotest_lib.train.bundle import remove_bundle

    home = archive_root.parent
    if model.bundle_uri and not remove_bundle(model.bundle_uri, within=home):
        log.warning(
            "kept %s's bundle %s: it lies outside this home %s (a copied home never deletes the original's files)",
            model.model_id,
            model.bundle_uri,
            home,
        )
    remove_bundle(archive_root / model.model_id, within=home)
