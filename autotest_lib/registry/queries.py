"""Report analytics over the lineage registry: ancestry, leaderboard, champion longevity, improvement, trend.

Read-only queries, apart from the store's writes (as MLflow keeps its search queries apart from its store's
writes). Each takes an open :class:`~sqlalchemy.orm.Session` and returns plain records;
:class:`~autotest_lib.registry.store.LineageStore` opens the session and keeps the public method names.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Sequence
from typing import Any

from sqlalchemy import and_, select
from sqlalchemy.orm import Session, aliased

from autotest_lib.registry import records
from autotest_lib.registry.errors import RegistryError
from autotest_lib.registry.models import EvaluationRow, ModelRow, TrainingRunRow

__all__ = ["ancestry", "champion_longevity", "generation_improvement", "latest_evaluated_week", "leaderboard", "weekly_trend"]


def ancestry(
    session: Session, model: ModelRow, to_record: Callable[[ModelRow], records.ModelRecord] = records.ModelRecord.from_row
) -> tuple[records.AncestryStep, ...]:
    """The path root -> ``model``, each generation with its training runs and evaluations.

    :param session: an open session.
    :param model: the youngest model of the path.
    :param to_record: maps a model row to its record (the store's makes relative bundle paths absolute).
    :raises RegistryError: the parent links form a cycle.
    """
    family = {m.model_id: m for m in session.scalars(select(ModelRow).where(ModelRow.root_id == model.root_id))}
    family[model.model_id] = model
    chain: list[ModelRow] = []
    current: ModelRow | None = model
    while current is not None:
        if len(chain) > len(family) or current in chain:
            raise RegistryError(f"parent links of {model.model_id!r} form a cycle at {current.model_id!r}")
        chain.append(current)
        pid = current.parent_id
        current = None if pid is None else family.get(pid) or session.get(ModelRow, pid, populate_existing=True)
    chain.reverse()
    ids = [m.model_id for m in chain]
    runs: dict[str, list[records.TrainingRunRecord]] = {i: [] for i in ids}
    for r in session.scalars(select(TrainingRunRow).where(TrainingRunRow.model_id.in_(ids)).order_by(TrainingRunRow.week)):
        runs[r.model_id].append(records.TrainingRunRecord.from_row(r))
    evals: dict[str, list[records.EvaluationRecord]] = {i: [] for i in ids}
    query = select(EvaluationRow).where(EvaluationRow.model_id.in_(ids)).order_by(EvaluationRow.week, EvaluationRow.window_name)
    for e in session.scalars(query):
        evals[e.model_id].append(records.EvaluationRecord.from_row(e))
    return tuple(records.AncestryStep(to_record(m), tuple(runs[m.model_id]), tuple(evals[m.model_id])) for m in chain)


def latest_evaluated_week(session: Session, window: str = "validation") -> dt.date | None:
    """The most recent week with an evaluation over ``window``."""
    query = select(EvaluationRow.week).where(EvaluationRow.window_name == window)
    return session.scalar(query.order_by(EvaluationRow.week.desc()).limit(1))


def leaderboard(session: Session, day: dt.date, window: str = "validation", limit: int | None = None) -> tuple[records.LeaderboardRow, ...]:
    """Models evaluated in week ``day`` over ``window``, best score first (None scores last, then by id).

    :param session: an open session.
    :param day: the week's logical date.
    :param window: window name.
    :param limit: keep only the first ``limit`` rows.
    """
    query = (
        select(EvaluationRow, ModelRow)
        .join(ModelRow, ModelRow.model_id == EvaluationRow.model_id)
        .where(EvaluationRow.week == day, EvaluationRow.window_name == window)
        .order_by(EvaluationRow.score.is_(None), EvaluationRow.score.desc(), EvaluationRow.model_id)
    )
    if limit is not None:
        query = query.limit(limit)
    return tuple(
        records.LeaderboardRow(
            rank=i,
            model_id=m.model_id,
            role=m.role,
            generation=m.generation,
            parent_id=m.parent_id,
            status=m.status,
            score=e.score,
            n_trials=e.n_trials,
            metrics=dict(e.metrics),
        )
        for i, (e, m) in enumerate(session.execute(query).tuples(), start=1)
    )


def champion_longevity(history: Sequence[records.ChampionRecord]) -> tuple[records.ChampionStint, ...]:
    """Champion stints: consecutive recorded weeks held by one model, oldest first.

    :param history: every week's champion, oldest first (:meth:`LineageStore.champion_history`).
    """
    stints: list[list[Any]] = []
    for record in history:
        if stints and stints[-1][0] == record.model_id:
            stints[-1][2] = record.week
            stints[-1][3] += 1
        else:
            stints.append([record.model_id, record.week, record.week, 1])
    return tuple(
        records.ChampionStint(model_id=m, from_week=a, to_week=b, weeks_held=n, current=i == len(stints) - 1)
        for i, (m, a, b, n) in enumerate(stints)
    )


def generation_improvement(session: Session, window: str = "validation") -> records.ImprovementReport:
    """Share of children scoring above their parent in the same week and window, overall and per generation.

    Only pairs where both child and parent have a score in that week count.

    :param session: an open session.
    :param window: window name.
    """
    child, parent = aliased(EvaluationRow), aliased(EvaluationRow)
    query = (
        select(ModelRow.generation, child.score, parent.score)
        .join(child, child.model_id == ModelRow.model_id)
        .join(parent, and_(parent.model_id == ModelRow.parent_id, parent.week == child.week, parent.window_name == child.window_name))
        .where(child.window_name == window, child.score.is_not(None), parent.score.is_not(None))
    )
    counts: dict[int, list[int]] = {}
    for generation, child_score, parent_score in session.execute(query):
        tally = counts.setdefault(generation, [0, 0])
        tally[0] += 1
        assert child_score is not None and parent_score is not None  # the query keeps scored pairs only
        tally[1] += int(child_score > parent_score)

    def stat(generation: int | None, n: int, better: int) -> records.ImprovementStat:
        return records.ImprovementStat(generation=generation, children=n, improved=better, share=better / n if n else None)

    by_generation = tuple(stat(g, n, b) for g, (n, b) in sorted(counts.items()))
    overall = stat(None, sum(s.children for s in by_generation), sum(s.improved for s in by_generation))
    return records.ImprovementReport(window_name=window, overall=overall, by_generation=by_generation)


def weekly_trend(session: Session, window: str = "validation") -> tuple[records.TrendPoint, ...]:
    """Best score per evaluated week (and its model) with the change from the previous evaluated week.

    :param session: an open session.
    :param window: window name.
    """
    query = (
        select(EvaluationRow.week, EvaluationRow.model_id, EvaluationRow.score)
        .where(EvaluationRow.window_name == window, EvaluationRow.score.is_not(None))
        .order_by(EvaluationRow.week, EvaluationRow.score.desc(), EvaluationRow.model_id)
    )
    best: dict[dt.date, list[Any]] = {}
    for week, model_id, score in session.execute(query):
        if week in best:
            best[week][2] += 1
        else:
            best[week] = [model_id, score, 1]
    points: list[records.TrendPoint] = []
    for week, (model_id, score, n) in best.items():
        change = score - points[-1].best_score if points else None
        points.append(records.TrendPoint(week=week, model_id=model_id, best_score=score, change=change, n_models=n))
    return tuple(points)
