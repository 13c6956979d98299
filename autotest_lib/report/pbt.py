"""The PBT section of the weekly report: the population's scores and learning rates over rounds, and the
week's exploits (who replaced whom, the scores that decided it, the mutations).

:func:`pbt_section` returns an HTML fragment (a ``<section id="pbt">``) and writes one PNG per population
next to the page; :func:`write_pbt_report` wraps it in a page of its own (the ``autotest_pbt`` run writes one).
Everything comes from the ``pbt_round`` / ``pbt_exploit`` lineage events, so a backfilled week reads as it did.
"""

from __future__ import annotations

import datetime as dt
import html
import io
import itertools
import math
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from autotest_lib.pbt.population import TrajectoryPoint, exploit_records, populations, round_events, round_records, trajectories
from autotest_lib.registry.store import DateLike, as_date
from autotest_lib.report.html import Raw, atomic_write_bytes, fmt_float, fmt_steps, page, paragraph, section, table

if TYPE_CHECKING:
    from autotest_lib.registry.store import LineageStore

__all__ = ["pbt_figure", "pbt_png_name", "pbt_section", "write_pbt_report"]


def pbt_png_name(population: str) -> str:
    """File name of a population's plot: ``pbt_<population>.png``."""
    return f"pbt_{population}.png"


def pbt_figure(points: Sequence[TrajectoryPoint], *, title: str = "") -> bytes:
    """PNG: validation score (top) and learning rate (bottom, log scale) of every slot over rounds.

    Each slot is one colour; a cross marks a version that was replaced after its round (its slot continues
    from a copy of a better member), the black line is the round's best score and the dashed one its median.

    :param points: trajectory points of one population.
    :param title: figure title.
    """
    import numpy as np
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    fig = Figure(figsize=(10, 6.4), layout="constrained")
    FigureCanvasAgg(fig)
    ax_score, ax_lr = fig.subplots(2, 1, sharex=True)
    slots = sorted({p.slot for p in points})
    for i, slot in enumerate(slots):
        mine = sorted((p for p in points if p.slot == slot), key=lambda p: p.round)
        colour = f"C{i % 10}"
        xs = [p.round for p in mine]
        ys = [p.score if p.score is not None else math.nan for p in mine]
        ax_score.plot(xs, ys, color=colour, linewidth=1.0, marker="o", markersize=3, alpha=0.8, label=f"m{slot:02d}")
        ax_lr.plot(xs, [p.learning_rate for p in mine], color=colour, linewidth=1.0, marker="o", markersize=3, alpha=0.8)
        gone = [p for p in mine if p.replaced]
        ax_score.plot(
            [p.round for p in gone], [p.score if p.score is not None else math.nan for p in gone], "x", color=colour, markersize=8
        )
    rounds = sorted({p.round for p in points})
    week_of = {p.round: p.week for p in points}
    for before, after in itertools.pairwise(rounds):
        if week_of[after] != week_of[before]:  # a new week: a new cutoff and validation window
            for ax in (ax_score, ax_lr):
                ax.axvline(after - 0.5, color="#999", linestyle=":", linewidth=1.0)
            ax_lr.annotate(
                f"week {week_of[after].isoformat()}",
                (after - 0.5, 1.0),
                xycoords=("data", "axes fraction"),
                xytext=(3, -10),
                textcoords="offset points",
                fontsize=7,
                color="#666",
            )
    finite = {r: [p.score for p in points if p.round == r and p.score is not None and math.isfinite(p.score)] for r in rounds}
    ax_score.plot(rounds, [max(v) if v else math.nan for v in finite.values()], color="black", linewidth=2.0, label="best")
    ax_score.plot(rounds, [float(np.median(v)) if v else math.nan for v in finite.values()], color="black", linestyle="--", label="median")
    ax_score.set_ylabel("validation score (Sharpe)")
    ax_score.set_title(title, fontsize=11)
    ax_score.grid(True, alpha=0.3)
    ax_score.legend(fontsize=7, ncol=min(len(slots) + 2, 6), loc="best")
    ax_lr.set_yscale("log")
    ax_lr.set_ylabel("learning rate")
    ax_lr.set_xlabel("round (x = replaced after this round)")
    ax_lr.grid(True, alpha=0.3, which="both")
    ax_lr.set_xticks(rounds)
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png", dpi=100, metadata={"Software": None})
    return buffer.getvalue()


def _mutations_text(mutations: dict[str, Any]) -> str:
    def show(v: Any) -> str:
        return f"{v:.3g}" if isinstance(v, float) else str(v)

    return "; ".join(f"{k} {show(a)} -> {show(b)}" for k, (a, b) in sorted(mutations.items()))


def _population_part(store: LineageStore, population: str, day: dt.date, out_dir: Path) -> str:
    points = trajectories(store, population, up_to_week=day)
    png = out_dir / pbt_png_name(population)
    if not points:
        png.unlink(missing_ok=True)
        return f"<h3>Population {html.escape(population)}</h3>" + paragraph("No round of this population was completed up to this week.")
    atomic_write_bytes(png, pbt_figure(points, title=f"PBT population {population}: validation score and learning rate by round"))
    rounds = [r for r in round_records(store, population) if r.round >= 1 and r.week is not None and r.week <= day]
    this_week = [r for r in rounds if r.week == day]
    rows = [
        [
            r.round,
            r.week.isoformat() if r.week else None,
            fmt_float(r.best, 4),
            fmt_float(r.median, 4),
            len(r.replaced),
            ", ".join(f"{loser} <- {winner}" for loser, winner in r.replacements) or None,
        ]
        for r in rounds[-12:]
    ]
    exploits = exploit_records(store, population, week=day)
    ex_rows = [
        [
            e.round,
            e.loser,
            fmt_float(e.loser_score, 4),
            e.winner,
            fmt_float(e.winner_score, 4),
            fmt_steps(e.step),
            _mutations_text(e.mutations) or None,
        ]
        for e in exploits
    ]
    size = len({p.slot for p in points})
    intro = (
        f"{size} members; {len(this_week)} round(s) this week, {len(rounds)} in all; {len(exploits)} exploit(s) this week. "
        "Each round every member trains, is scored on the validation window, and the bottom quantile continues from a "
        "perturbed copy of a member of the top quantile."
    )
    parts = [
        f"<h3>Population {html.escape(population)}</h3>",
        paragraph(intro, "muted"),
        f'<p><img src="{html.escape(png.name)}" alt="scores and learning rates of {html.escape(population)} by round"></p>',
        table(("round", "week", "best", "median", "replaced", "replacements (replaced <- copy of)"), rows, numeric=(0, 2, 3, 4)),
    ]
    if ex_rows:
        headers = ("round", "replaced", "its score", "copy of", "winner's score", "step", "mutations (copied -> new)")
        parts.append(table(headers, ex_rows, numeric=(0, 2, 4, 5)))
    else:
        parts.append(paragraph("No exploit this week (burn-in, tied scores, or no round completed)."))
    return "\n".join(parts)


def pbt_section(store: LineageStore, week: DateLike, out_dir: Path | str) -> str:
    """The report's PBT section for ``week``: per population, a plot and the rounds and exploits.

    :param store: the lineage store.
    :param week: the report's week; only rounds recorded up to it are shown.
    :param out_dir: where the page lives; the plots ``pbt_<population>.png`` are written there.
    :returns: an HTML fragment, ``<section id="pbt">`` (anchor ``pbt`` for the page's navigation).
    """
    day = as_date(week, "week")
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    names = [p for p in populations(store) if any(e.week <= day for e in round_events(store, p))]
    if not names:
        return section("pbt", "Population-based training", paragraph("No PBT population exists up to this week."))
    return section("pbt", "Population-based training", *(Raw(_population_part(store, name, day, out)) for name in names))


def write_pbt_report(store: LineageStore, week: DateLike, out_dir: Path | str) -> Path:
    """A page of its own holding :func:`pbt_section` (``<out_dir>/index.html``); returns its path.

    :param store: the lineage store.
    :param week: the week.
    :param out_dir: output folder.
    """
    day = as_date(week, "week")
    out = Path(out_dir)
    body = pbt_section(store, day, out)
    path = out / "index.html"
    atomic_write_bytes(path, page(f"AUTOTEST PBT, week {day.isoformat()}", [("pbt", "PBT")], [body]).encode("utf-8"))
    return path
