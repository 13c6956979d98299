"""The report's forward record: the paper ledger's equity since inception against the benchmarks, and its drawdown.

Built from :meth:`~autotest_lib.registry.LineageStore.paper_ledger` (weeks strictly before the report's
cutoff, the ones whose following week has ended) through :func:`~autotest_lib.paper.ledger.forward_record`.
"""

from __future__ import annotations

import datetime as dt
from pathlib import Path
from typing import Any

from autotest_lib.paper.ledger import forward_record
from autotest_lib.report.html import fmt_float, fmt_pct, paragraph, section, table
from autotest_lib.report.interactive import forward_chart

__all__ = ["FORWARD_PNG", "forward_section"]

FORWARD_PNG = "forward.png"
"""Removed when found: the forward chart is interactive (plotly, in the page) since this PNG."""


def forward_section(store: Any, day: dt.date, out_dir: Path) -> str:
    """The ``forward`` section: the interactive chart, the summary and the last weeks."""

    (Path(out_dir) / FORWARD_PNG).unlink(missing_ok=True)
    entries = store.paper_ledger(before=day)
    if not entries:
        return section(
            "forward",
            "Forward record",
            paragraph("No paper week has been marked yet: the first orders are marked the week after they are placed."),
        )
    record = forward_record(entries)
    chart = forward_chart(record, title=f"Paper orders since {entries[0].week} (net of costs) against the benchmarks")
    n = record.marked
    beats = [f"{record.beats[k]}/{n}" for k in ("own_1n", "universe_1n", "benchmark")]
    headers = ("weeks", "marked", "gaps", "cumulative", "Sharpe (weekly, annualised)", "max drawdown", "deflated Sharpe")
    values = [record.weeks, n, record.gaps, fmt_pct(record.cumulative_return), fmt_float(record.sharpe, 2)]
    values += [fmt_pct(record.max_drawdown), fmt_float(record.deflated_sharpe, 3), *beats]
    summary = table((*headers, "beat own 1/N", "beat universe 1/N", "beat SPY"), [values], numeric=range(10))
    returns = ("net_return", "own_1n_return", "universe_1n_return", "benchmark_return", "cumulative")
    rows = [
        [
            r["week"].isoformat(),
            r["status"],
            r["model_id"] or "-",
            *(fmt_pct(r[k], 2) for k in returns),
            r["reason"] if r["status"] == "gap" else "",
        ]
        for r in record.rows[-8:]
    ]
    weeks = table(
        ("week", "status", "model", "net", "own 1/N", "universe 1/N", "SPY", "cumulative", "gap reason"), rows, numeric=range(3, 8)
    )
    return section(
        "forward",
        "Forward record",
        chart,
        summary,
        paragraph("The last weeks (each week's orders marked over the following week; a gap is a week without orders):"),
        weeks,
    )
