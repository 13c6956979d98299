"""The report's "Progress" section: is the population getting better, week after week and generation after generation?

Rendered from :func:`~autotest_lib.weekly.consistency.progress_records` and the paper ledger, in this order:

1. week over week, the **forward record**: each week's paper orders marked over the following week, net of costs,
   against 1/N of their own tickers (the only measure here on data no model saw when it was chosen);
2. week over week, the best validation score: shown second and labelled as no forward measure (the validation
   window moves every week, and the best of many models is picked on it);
3. generation over generation: the share of children that beat their parent's score in the same week;
4. champion longevity: how long champions hold the title.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from autotest_lib.paper.ledger import forward_record
from autotest_lib.report.html import fmt_float, fmt_pct, paragraph, section, table
from autotest_lib.weekly.consistency import progress_records

__all__ = ["progress_section"]


def _forward_rows(store: Any, day: dt.date) -> list[list[Any]]:
    entries = store.paper_ledger(before=day)
    if not entries:
        return []
    rows = []
    for r in forward_record(entries).rows:
        net, own = r["net_return"], r["own_1n_return"]
        excess = None if net is None or own is None else net - own
        rows.append([r["week"].isoformat(), r["status"], r["model_id"] or "-", fmt_pct(net, 2), fmt_pct(own, 2), fmt_pct(excess, 2),
                     fmt_pct(r["cumulative"], 2)])  # fmt: skip
    return rows


def progress_section(store: Any, day: dt.date, window: str = "validation") -> str:
    """The ``progress`` section of the week ``day`` (weeks and stints after it are left out)."""
    records = progress_records(store, up_to=day, window=window)
    parts = ["<h3>Week over week: the forward record</h3>"]
    forward = _forward_rows(store, day)
    if forward:
        parts += [
            paragraph("Each week's paper orders marked over the following week, net of costs, against 1/N of the same tickers.", "muted"),
            table(("week", "status", "model", "net", "own 1/N", "excess vs own 1/N", "cumulative net"), forward, numeric=range(3, 7)),
        ]
    else:
        parts.append(paragraph("No week has been marked yet: a week's orders are marked when the next week runs."))

    parts.append(f"<h3>Week over week: best {window} score <span class='muted'>(not a forward measure)</span></h3>")
    if records.week_over_week:
        parts.append(
            paragraph(
                f"The best {window} score of each week and its change. Not a forward measure: the {window} window moves every week "
                "and the best of many models is picked on it, so a rising line is no evidence of progress on its own.",
                "muted",
            )
        )
        rows = [[p.week.isoformat(), p.model_id, fmt_float(p.best_score, 4), fmt_float(p.change, 4), p.n_models]
                for p in reversed(records.week_over_week)]  # fmt: skip
        parts.append(table(("week", "best model", "score", "change", "models"), rows, numeric=(2, 3, 4)))
    else:
        parts.append(paragraph(f"No week has {window} scores yet."))

    parts.append("<h3>Generation over generation</h3>")
    overall = records.overall_improvement
    if overall.children:
        parts.append(
            paragraph(
                f"{overall.improved} of {overall.children} children ({fmt_pct(overall.share)}) scored above their parent in the "
                f"same week on the {window} window.",
                "muted",
            )
        )
        rows = [[g.generation, g.children, g.improved, fmt_pct(g.share)] for g in records.generation_over_generation]
        parts.append(table(("child generation", "children", "beat their parent", "share"), rows, numeric=(0, 1, 2, 3)))
    else:
        parts.append(paragraph("No child has been scored next to its parent yet (children appear from the second week)."))

    parts.append("<h3>Champion longevity</h3>")
    stints = records.champion_longevity
    if stints:
        held = [s.weeks_held for s in stints]
        longest = max(stints, key=lambda s: s.weeks_held)
        current = [s for s in stints if s.from_week <= day <= s.to_week]
        facts = [
            ("champions so far", len({s.model_id for s in stints})),
            ("stints", len(stints)),
            ("mean weeks held", fmt_float(sum(held) / len(held), 1)),
            ("longest stint", f"{longest.model_id}: {longest.weeks_held} week(s) from {longest.from_week.isoformat()}"),
            (f"champion on {day.isoformat()}", f"{current[-1].model_id}: {current[-1].weeks_held} week(s)" if current else None),
        ]
        parts += [table(("", ""), facts), paragraph("Every stint is listed in the champion history section.", "muted")]
    else:
        parts.append(paragraph("No champion has been chosen yet."))
    return section("progress", "Progress", *parts)
