"""The report's forward record: the paper ledger's equity since inception against the benchmarks, and its drawdown.

Built from :meth:`~autotest_lib.registry.LineageStore.paper_ledger` (weeks strictly before the report's
cutoff, the ones whose following week has ended) through :func:`~autotest_lib.paper.ledger.forward_record`.
"""

from __future__ import annotations

import datetime as dt
from pathlib import Path
from typing import Any

from autotest_lib.paper.ledger import forward_record
from autotest_lib.report.html import atomic_write_bytes, fmt_float, fmt_pct, paragraph, section, table
from autotest_lib.report.plots import _figure, _png

__all__ = ["FORWARD_PNG", "forward_figure", "forward_section"]

FORWARD_PNG = "forward.png"
_LABELS = {"net": "paper orders (net)", "own_1n": "1/N of the same tickers", "universe_1n": "1/N of the universe", "benchmark": "SPY"}


def forward_figure(record: Any, *, title: str = "") -> bytes:
    """PNG: growth of $1 of the paper orders (net) and the three benchmarks, and the orders' drawdown below."""
    import numpy as np

    weeks = [r["week"] for r in record.rows]
    fig = _figure(10, 6.0)
    top, bottom = fig.subplots(2, 1, sharex=True, height_ratios=(3, 1))
    series = {"net": [1 + r["cumulative"] for r in record.rows]}
    series |= {k: [1 + r[f"{k}_cumulative"] for r in record.rows] for k in ("own_1n", "universe_1n", "benchmark")}
    styles = {"net": ("C0", "-", 2.0), "own_1n": ("C1", ":", 1.4), "universe_1n": ("C2", "-.", 1.2), "benchmark": ("black", "--", 1.4)}
    for key, values in series.items():
        colour, style, width = styles[key]
        top.plot(
            weeks,
            values,
            color=colour,
            linestyle=style,
            linewidth=width,
            label=_LABELS[key],
            marker="o" if len(weeks) < 30 else None,
            markersize=3,
        )
    gaps = [r["week"] for r in record.rows if r["status"] == "gap"]
    for week in gaps:
        top.axvspan(week, week + dt.timedelta(days=7), color="#f3d9d9", alpha=0.6, linewidth=0)
    top.axhline(1.0, color="#999", linewidth=0.6)
    top.set_ylabel("growth of $1")
    top.set_title(title, fontsize=11)
    top.grid(True, alpha=0.3)
    top.legend(fontsize=8, loc="upper left")
    equity = np.asarray(series["net"])
    drawdown = equity / np.maximum.accumulate(np.concatenate([[1.0], equity]))[1:] - 1.0
    bottom.fill_between(weeks, drawdown, 0.0, color="C3", alpha=0.4)
    bottom.set_ylabel("drawdown")
    bottom.grid(True, alpha=0.3)
    fig.autofmt_xdate()
    return _png(fig)


def forward_section(store: Any, day: dt.date, out_dir: Path) -> str:
    """The ``forward`` section: the figure (written to ``out_dir/forward.png``), the summary and the last weeks."""

    png = Path(out_dir) / FORWARD_PNG
    entries = store.paper_ledger(before=day)
    if not entries:
        png.unlink(missing_ok=True)
        return section(
            "forward",
            "Forward record",
            paragraph("No paper week has been marked yet: the first orders are marked the week after they are placed."),
        )
    record = forward_record(entries)
    atomic_write_bytes(png, forward_figure(record, title=f"Paper orders since {entries[0].week} (net of costs) against the benchmarks"))
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
        f'<p><img src="{FORWARD_PNG}" alt="growth of $1 of the paper orders against 1/N and SPY, and drawdown"></p>',
        summary,
        paragraph("The last weeks (each week's orders marked over the following week; a gap is a week without orders):"),
        weeks,
    )
