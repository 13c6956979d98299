"""What the AUTOTEST page shows, as plain JSON-able dicts read through :class:`LineageStore`'s public methods.

Every function takes an open store and returns data only (no HTML), so the JSON endpoints and the page share
one source and each piece is testable without a server.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable, Sequence
from typing import Any, Protocol

from autotest_lib.registry import LineageStore, ModelRecord, as_date, jsonable

__all__ = [
    "EDGE_KINDS",
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

EDGE_KINDS = ("continuation", "rollback", "exploit", "promotion")
"""How a child model relates to its parent in the lineage tree."""

LEADERBOARD_METRICS = ("sharpe", "total_return", "max_drawdown", "dsr", "win_rate", "turnover")


def weeks(store: LineageStore) -> list[dict[str, Any]]:
    """Every recorded week, newest first: its date, preset and status."""
    return [{"week": w.week.isoformat(), "preset": w.preset, "status": w.status} for w in reversed(store.list_weeks())]


def _latest_versions(rows: Sequence[Any]) -> tuple[list[Any], int]:
    """Drop PBT member versions superseded by a later round of the same slot (the PBT section shows every round)."""
    from autotest_lib.pbt import superseded_versions

    superseded = superseded_versions(r.model_id for r in rows if r.role == "pbt")
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


def _edge_kinds(store: LineageStore) -> dict[str, str]:
    """Child model id -> how it came from its parent, from the lineage events (continuation when none says)."""
    kinds: dict[str, str] = {}
    for event in store.events(kind="pbt_exploit"):
        child = event.payload.get("next_model_id")
        if child:
            kinds[child] = "exploit"
    for event in store.events(kind="promotion"):
        if event.model_id:
            kinds[event.model_id] = "promotion"
    for event in store.events(kind="rollback"):
        if event.model_id:
            kinds[event.model_id] = "rollback"
    return kinds


def _lanes(models: Sequence[ModelRecord]) -> dict[str, float]:
    """A tidy vertical position per model: leaves on consecutive lanes, each parent centred over its children."""
    known = {m.model_id for m in models}
    children: dict[str | None, list[str]] = {}
    for m in models:
        parent = m.parent_id if m.parent_id in known else None
        children.setdefault(parent, []).append(m.model_id)
    lane: dict[str, float] = {}
    next_leaf = 0.0

    def place(model_id: str) -> float:
        nonlocal next_leaf
        kids = children.get(model_id, [])
        if not kids:
            lane[model_id] = next_leaf
            next_leaf += 1.0
        else:
            ys = [place(k) for k in kids]
            lane[model_id] = (min(ys) + max(ys)) / 2
        return lane[model_id]

    for root in children.get(None, []):
        place(root)
    for m in models:  # a cycle in parent links never reaches a root: put those models below the rest
        if m.model_id not in lane:
            lane[m.model_id] = next_leaf
            next_leaf += 1.0
    return lane


def lineage_graph(store: LineageStore) -> dict[str, Any]:
    """Every model as a node (x: generation, y: its lane in the family tree) and every parent link as an edge.

    Edge kinds: ``continuation`` (a refiner or champion trained on from its parent), ``rollback`` (a child
    rolled back, its parent kept its place), ``exploit`` (a PBT member copied from a better one),
    ``promotion`` (a curriculum stage promotion).
    """
    models = store.list_models()
    latest = {c.model_id: c.week for c in store.champion_history()}
    kinds = _edge_kinds(store)
    lane = _lanes(models)
    known = {m.model_id for m in models}
    nodes = [
        {
            "id": m.model_id,
            "role": m.role,
            "generation": m.generation,
            "status": m.status,
            "week": m.created_week.isoformat(),
            "parent_id": m.parent_id,
            "stage": m.stage,
            "champion_week": latest[m.model_id].isoformat() if m.model_id in latest else None,
            "x": m.generation,
            "y": lane[m.model_id],
        }
        for m in models
    ]
    edges = [
        {"parent": m.parent_id, "child": m.model_id, "kind": kinds.get(m.model_id, "continuation")} for m in models if m.parent_id in known
    ]
    return {"nodes": nodes, "edges": edges, "kinds": list(EDGE_KINDS)}


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
