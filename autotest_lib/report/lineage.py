"""The lineage tree of every generation: each model a node, each parent link an edge with how the child came
to be (continuation, rollback, PBT exploit, curriculum promotion).

:func:`lineage_graph` reads it through :class:`~autotest_lib.registry.LineageStore`'s public methods and lays
it out (x: generation, y: a lane per leaf, each parent centred over its children); the weekly report draws it
with :func:`lineage_figure`, the AUTOTEST page of the Airflow UI (plugins/) with plotly from
:meth:`LineageGraph.to_dict`.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from dataclasses import dataclass
from enum import StrEnum
from typing import Any

from autotest_lib.kinds import EventKind, ModelStatus
from autotest_lib.registry.records import ModelRecord, jsonable
from autotest_lib.registry.store import LineageStore

__all__ = ["EDGE_KINDS", "EdgeKind", "LineageEdge", "LineageGraph", "LineageNode", "lineage_figure", "lineage_graph"]


class EdgeKind(StrEnum):
    """How a child relates to its parent."""

    CONTINUATION = "continuation"
    """Trained on from its parent (a refiner, a champion, a PBT member's next round)."""
    ROLLBACK = "rollback"
    """Rolled back: worse than its parent, which kept its place."""
    EXPLOIT = "exploit"
    """A PBT copy of a better member, with perturbed hyperparameters."""
    PROMOTION = "promotion"
    """Promoted from its parent's curriculum stage to the next."""


EDGE_KINDS = tuple(EdgeKind)
"""Every edge kind, in legend order."""

_EDGE_EVENTS = {EventKind.PBT_EXPLOIT: EdgeKind.EXPLOIT, EventKind.PROMOTION: EdgeKind.PROMOTION, EventKind.ROLLBACK: EdgeKind.ROLLBACK}
_EDGE_STYLE = {
    EdgeKind.CONTINUATION: ("#5b6b7a", "-"),
    EdgeKind.ROLLBACK: ("#c0392b", ":"),
    EdgeKind.EXPLOIT: ("#8e44ad", "--"),
    EdgeKind.PROMOTION: ("#16a085", "-."),
}
_ROLE_COLOUR = {"explorer": "#1f77b4", "refiner": "#ff7f0e", "champion": "#d4a017", "pbt": "#9467bd"}


@dataclass(frozen=True)
class LineageNode:
    """One model at its place in the tree."""

    id: str
    role: str
    generation: int
    status: str
    week: dt.date
    parent_id: str | None
    stage: int | None
    champion_week: dt.date | None
    """The last week it was champion; None if never."""
    x: float
    y: float


@dataclass(frozen=True)
class LineageEdge:
    """A parent link: ``kind`` is one of :data:`EDGE_KINDS`."""

    parent: str
    child: str
    kind: EdgeKind


@dataclass(frozen=True)
class LineageGraph:
    """Every model and parent link, laid out for drawing."""

    nodes: tuple[LineageNode, ...]
    edges: tuple[LineageEdge, ...]

    def to_dict(self) -> dict[str, Any]:
        """JSON-able: ``{"nodes": [...], "edges": [...], "kinds": [...]}``."""
        return {"nodes": jsonable(self.nodes), "edges": jsonable(self.edges), "kinds": list(EDGE_KINDS)}


def _edge_kinds(store: LineageStore, up_to_week: dt.date | None) -> dict[str, EdgeKind]:
    """Child model id -> how it came from its parent, from the lineage events (continuation when none says).

    An exploit event is keyed by the replaced member; the copy it made is its payload's ``next_model_id``.
    """
    kinds: dict[str, EdgeKind] = {}
    for event_kind, edge_kind in _EDGE_EVENTS.items():
        for event in store.events(kind=event_kind):
            child = event.payload.get("next_model_id") if event_kind == EventKind.PBT_EXPLOIT else event.model_id
            if child and (up_to_week is None or event.week <= up_to_week):
                kinds[child] = edge_kind
    return kinds


def _lanes(models: Sequence[ModelRecord]) -> dict[str, float]:
    """A vertical position per model: leaves on consecutive lanes, each parent centred over its children."""
    known = {m.model_id for m in models}
    children: dict[str | None, list[str]] = {}
    for m in models:
        children.setdefault(m.parent_id if m.parent_id in known else None, []).append(m.model_id)
    lane: dict[str, float] = {}
    next_leaf = 0.0

    def place(model_id: str, depth: int) -> float:
        nonlocal next_leaf
        kids = children.get(model_id, []) if depth <= len(models) else []
        if kids:
            ys = [place(k, depth + 1) for k in kids]
            lane[model_id] = (min(ys) + max(ys)) / 2
        else:
            lane[model_id] = next_leaf
            next_leaf += 1.0
        return lane[model_id]

    for root in children.get(None, []):
        place(root, 0)
    for m in models:  # parent links that form a cycle never reach a root: those models go below the rest
        if m.model_id not in lane:
            lane[m.model_id] = next_leaf
            next_leaf += 1.0
    return lane


def lineage_graph(store: LineageStore, *, up_to_week: dt.date | None = None) -> LineageGraph:
    """Every model (created up to ``up_to_week``, all when None) as a node and every parent link as an edge.

    :param store: the lineage registry.
    :param up_to_week: leave out models, champions and events of later weeks (a backfilled report reads as it
        did at the time).
    """
    models = [m for m in store.list_models() if up_to_week is None or m.created_week <= up_to_week]
    champion_week = {c.model_id: c.week for c in store.champion_history() if up_to_week is None or c.week <= up_to_week}
    kinds = _edge_kinds(store, up_to_week)
    lane = _lanes(models)
    known = {m.model_id for m in models}
    nodes = tuple(
        LineageNode(
            id=m.model_id,
            role=m.role,
            generation=m.generation,
            status=m.status,
            week=m.created_week,
            parent_id=m.parent_id,
            stage=m.stage,
            champion_week=champion_week.get(m.model_id),
            x=float(m.generation),
            y=lane[m.model_id],
        )
        for m in models
    )
    edges = tuple(
        LineageEdge(parent=m.parent_id, child=m.model_id, kind=kinds.get(m.model_id, EdgeKind.CONTINUATION))
        for m in models
        if m.parent_id is not None and m.parent_id in known
    )
    return LineageGraph(nodes=nodes, edges=edges)


def lineage_figure(graph: LineageGraph, *, title: str = "") -> bytes:
    """PNG of the tree: one line style per edge kind, one colour per role, a gold ring for champions, a cross
    for a rolled-back model; model ids are written next to nodes when there are at most 40.

    :param graph: from :func:`lineage_graph`.
    :param title: axes title.
    """
    from autotest_lib.report.plots import _figure, _png

    by_id = {n.id: n for n in graph.nodes}
    height = min(3.0 + 0.22 * len(graph.nodes), 14.0)
    fig = _figure(11, height)
    ax = fig.add_subplot()
    for kind in EDGE_KINDS:
        colour, style = _EDGE_STYLE[kind]
        mine = [e for e in graph.edges if e.kind == kind]
        for i, e in enumerate(mine):
            p, c = by_id[e.parent], by_id[e.child]
            ax.plot([p.x, c.x], [p.y, c.y], color=colour, linestyle=style, linewidth=1.2, label=kind if i == 0 else None)
    for role in sorted({n.role for n in graph.nodes}):
        members = [n for n in graph.nodes if n.role == role]
        ax.scatter([n.x for n in members], [n.y for n in members], s=36, color=_ROLE_COLOUR.get(role, "#7f7f7f"), label=role, zorder=3)
    champions = [n for n in graph.nodes if n.champion_week is not None]
    if champions:
        ax.scatter([n.x for n in champions], [n.y for n in champions], s=140, facecolors="none", edgecolors="#d4a017", linewidths=2.0,
                   label="champion (some week)", zorder=4)  # fmt: skip
    rolled = [n for n in graph.nodes if n.status == ModelStatus.ROLLED_BACK]
    if rolled:
        ax.scatter([n.x for n in rolled], [n.y for n in rolled], s=60, marker="x", color="#c0392b", label="rolled back", zorder=5)
    if len(graph.nodes) <= 40:
        for n in graph.nodes:
            ax.annotate(n.id, (n.x, n.y), xytext=(6, -3), textcoords="offset points", fontsize=7, color="#444")
    generations = sorted({int(n.x) for n in graph.nodes})
    ax.set_xticks(generations)
    ax.set_xlim(min(generations, default=1) - 0.3, max(generations, default=1) + 0.9)
    ax.set_xlabel("generation")
    ax.set_yticks([])
    ax.invert_yaxis()
    ax.set_title(title, fontsize=11)
    ax.grid(True, axis="x", alpha=0.3)
    ax.legend(fontsize=8, loc="upper left", bbox_to_anchor=(1.0, 1.0))
    return _png(fig)
