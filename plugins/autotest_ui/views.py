"""What the AUTOTEST page shows, as plain JSON-able dicts read through :class:`LineageStore`'s public methods.

Every function takes an open store and returns data only (no HTML), so the JSON endpoints and the page share
one source and each piece is testable without a server.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable, Sequence
from typing import Any, Protocol

from autotest_lib.kinds import Role
from autotest_lib.registry import LineageStore, as_date, jsonable
from autotest_lib.report import lineage

__all__ = [
    "TrackRecordSource",
    "champions",
    "lineage_graph",
    "model_detail",
    "parse_week",
    "pbt_trajectories",
    "track_record",
    "week_summary",
    "weeks",
]

LEADERBOARD_METRICS = ("sharpe", "total_return", "max_drawdown", "dsr", "win_rate", "turnover")


def weeks(store: LineageStore) -> list[dict[str, Any]]:
    """Every recorded week, newest first: its date, preset and status."""
    return [{"week": w.week.isoformat(), "preset": w.preset, "status": w.status} for w in reversed(store.list_weeks())]


def _latest_versions(rows: Sequence[Any]) -> tuple[list[Any], int]:
    """Drop PBT member versions superseded by a later round of the same slot (the PBT section shows every round)."""
    from autotest_lib.pbt import superseded_versions

    superseded = superseded_versions(r.model_id for r in rows if r.role == Role.PBT)
    return [r for r in rows if r.model_id not in superseded], len(superseded)


def week_summary(store: LineageStore, week: dt.date) -> dict[str, Any] | None:
    """The week's record, leaderboard (latest PBT versions only) and champion; None when the week is unknown.

    A row is ``new`` when its model was created this week.
    """
    record = store.get_week(week)
    board = store.leaderboard(week)
    if record is None and not board:
        return None
    rows, hidden = _latest_versions(board)
    created = {m.model_id: m for m in store.list_models(week=week)}
    champion = next((c for c in reversed(store.champion_history()) if c.week <= week), None)
    return {
        "week": week.isoformat(),
        "record": jsonable(record) if record is not None else None,
        "champion": jsonable(champion) if champion is not None else None,
        "hidden_pbt_versions": hidden,
        "leaderboard": [
            {
                "rank": rank,
                "model_id": r.model_id,
                "role": r.role,
                "generation": r.generation,
                "parent_id": r.parent_id,
                "status": r.status,
                "score": r.score,
                "new": r.model_id in created,
                "champion": champion is not None and champion.week == week and champion.model_id == r.model_id,
                **{name: r.metrics.get(name) for name in LEADERBOARD_METRICS},
            }
            for rank, r in enumerate(rows, start=1)
        ],
    }


def champions(store: LineageStore) -> dict[str, Any]:
    """Champion of every week (with the rule that chose it) and the stints each model held the title."""
    return {"history": jsonable(store.champion_history()), "stints": jsonable(store.champion_longevity())}


def lineage_graph(store: LineageStore) -> dict[str, Any]:
    """Every model and parent link, laid out for the tree (see :func:`autotest_lib.report.lineage.lineage_graph`)."""
    return lineage.lineage_graph(store).to_dict()


def model_detail(store: LineageStore, model_id: str) -> dict[str, Any] | None:
    """A model, its path from the root (training runs and scores per generation) and its events; None if unknown."""
    if store.get_model(model_id) is None:
        return None
    steps = store.ancestry(model_id)
    return {
        "model": jsonable(steps[-1].model),
        "ancestry": [
            {
                "model": jsonable(s.model),
                "training_runs": [{k: v for k, v in jsonable(r).items() if k != "history"} for r in s.training_runs],
                "evaluations": [
                    {"week": e.week.isoformat(), "window": e.window_name, "score": e.score, "metrics": e.metrics} for e in s.evaluations
                ],
            }
            for s in steps
        ],
        "events": jsonable(store.events(model_id=model_id)),
    }


def pbt_trajectories(store: LineageStore) -> list[dict[str, Any]]:
    """Per PBT population: every member version's validation score and learning rate, round by round."""
    from autotest_lib.pbt.population import populations, trajectories

    return [{"population": name, "points": [p.to_dict() for p in trajectories(store, name)]} for name in populations(store)]


class TrackRecordSource(Protocol):
    """What the forward track record section needs from the store: the paper ledger, one record per week.

    Each record has ``week``, ``status`` (``marked`` or ``gap``), ``reason``, ``model_id``, ``net_return``,
    ``own_1n_return``, ``universe_1n_return`` and ``benchmark_return``.
    """

    def paper_ledger(self) -> Sequence[Any]: ...


def _compound(returns: Iterable[float | None]) -> list[float]:
    growth, out = 1.0, []
    for r in returns:
        growth *= 1.0 + (r or 0.0)
        out.append(growth - 1.0)
    return out


def track_record(store: object) -> dict[str, Any]:
    """The forward (paper) track record against its benchmarks; ``available`` is False while the store has no
    paper ledger to read (the section then shows an empty state)."""
    if not callable(getattr(store, "paper_ledger", None)):
        return {"available": False, "weeks": []}
    ledger: TrackRecordSource = store  # type: ignore[assignment]
    rows = [jsonable(r) for r in ledger.paper_ledger()]
    marked = [r for r in rows if r.get("status") == "marked"]
    series = {
        name: _compound(r.get(field) for r in marked)
        for name, field in (
            ("strategy", "net_return"),
            ("own_1n", "own_1n_return"),
            ("universe_1n", "universe_1n_return"),
            ("benchmark", "benchmark_return"),
        )
    }
    return {"available": True, "weeks": rows, "marked_weeks": [r["week"] for r in marked], "cumulative": series}


def parse_week(text: str) -> dt.date | None:
    """``text`` as a date, None when it is not one (the caller answers 404 with the id)."""
    try:
        return as_date(text, "week")
    except ValueError:
        return None
