"""Zoomable plotly charts for the report, embedded in the page itself (no CDN, opens offline).

Each function returns an HTML ``<div>`` with the figure's data and a script that draws it with the ``Plotly``
global; :func:`~autotest_lib.report.html.page` inlines plotly.js once in the page's head when a chart is present.
Div ids are fixed, so a rerun writes the same page.

Buy-and-hold lines are grey, thin and dashed, grouped in the legend with their model (clicking the model hides
both); the benchmark is black and dashed; models are solid and coloured.
"""

from __future__ import annotations

import datetime as dt
import math
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
import pandas as pd

from autotest_lib.report.html import PLOTLY_MARKER
from autotest_lib.report.plots import EquityCurve, _history_column, drawdown

__all__ = [
    "BUY_AND_HOLD_STYLE",
    "PLOTLY_MARKER",
    "TRAINING_CHART_PANELS",
    "drawdown_chart",
    "equity_chart",
    "forward_chart",
    "rolling_sharpe",
    "rolling_sharpe_chart",
    "rolling_window",
    "training_chart",
]

BUY_AND_HOLD_STYLE: dict[str, Any] = {"color": "#8c8c8c", "width": 1.2, "dash": "dash"}
BENCHMARK_STYLE: dict[str, Any] = {"color": "black", "width": 1.8, "dash": "dot"}
_COLOURS = ("#1f77b4", "#d62728", "#2ca02c", "#9467bd", "#ff7f0e", "#17becf", "#e377c2", "#bcbd22", "#8c564b", "#7f7f7f")
_CONFIG = {"displaylogo": False, "responsive": True}
_TRADING_DAYS = 252


def _colour(i: int) -> str:
    return _COLOURS[i % len(_COLOURS)]


def _tint(colour: str, alpha: float) -> str:
    """``#rrggbb`` as a translucent ``rgba(...)`` (for fills that must not hide one another)."""
    r, g, b = (int(colour[k : k + 2], 16) for k in (1, 3, 5))
    return f"rgba({r},{g},{b},{alpha})"


def _div(fig: Any, div_id: str, height: int, top: int = 50) -> str:
    fig.update_layout(height=height, margin={"l": 60, "r": 20, "t": top, "b": 40}, template="plotly_white", hovermode="x unified")
    fig.update_layout(legend={"font": {"size": 11}})
    return str(fig.to_html(full_html=False, include_plotlyjs=False, div_id=div_id, config=_CONFIG))


def _line(x: Any, y: Any, name: str, line: Mapping[str, Any], **kw: Any) -> Any:
    import plotly.graph_objects as go

    kw.setdefault("mode", "lines")
    return go.Scatter(x=list(x), y=[None if not math.isfinite(v) else float(v) for v in np.asarray(y, dtype=float)], name=name,
                      line=dict(line), **kw)  # fmt: skip


def equity_chart(curves: Sequence[EquityCurve], *, benchmark: str = "SPY", title: str = "") -> str:
    """Growth of $1: each model solid and coloured, its own tickers' buy-and-hold grey dashed in its legend group."""
    import plotly.graph_objects as go

    fig = go.Figure()
    for i, c in enumerate(curves):
        fig.add_trace(_line(c.model.index, c.model, c.model_id, {"color": _colour(i), "width": 2.2}, legendgroup=c.model_id))
        if c.buy_and_hold is not None:
            name = f"{c.model_id}: buy & hold of its tickers"
            fig.add_trace(_line(c.buy_and_hold.index, c.buy_and_hold, name, BUY_AND_HOLD_STYLE, legendgroup=c.model_id, opacity=0.9))
    bench = next((c.benchmark for c in curves if c.benchmark is not None), None)
    if bench is not None:
        fig.add_trace(_line(bench.index, bench, benchmark, BENCHMARK_STYLE))
    fig.add_hline(y=1.0, line={"color": "#999", "width": 0.8})
    fig.update_layout(title=title, yaxis_title="growth of $1")
    return _div(fig, "chart-equity", 520)


def drawdown_chart(curves: Sequence[EquityCurve], *, benchmark: str = "SPY", title: str = "") -> str:
    """Each model's drawdown from its running peak (filled), and the benchmark's."""
    import plotly.graph_objects as go

    fig = go.Figure()
    for i, c in enumerate(curves):
        under = drawdown(c.model)
        fig.add_trace(_line(under.index, under, f"{c.model_id} (worst {under.min():.1%})", {"color": _colour(i), "width": 1.6},
                            fill="tozeroy", fillcolor=_tint(_colour(i), 0.08), legendgroup=c.model_id))  # fmt: skip
    bench = next((c.benchmark for c in curves if c.benchmark is not None), None)
    if bench is not None:
        under = drawdown(bench)
        fig.add_trace(_line(under.index, under, f"{benchmark} (worst {under.min():.1%})", BENCHMARK_STYLE))
    fig.update_layout(title=title, yaxis_title="drawdown from peak", yaxis_tickformat=".0%")
    return _div(fig, "chart-drawdown", 420)


def rolling_window(n_days: int) -> int:
    """The rolling Sharpe's window: 63 trading days (a quarter) when the series holds two of them, else a third of it."""
    return 63 if n_days >= 126 else max(5, n_days // 3)


def rolling_sharpe(equity: pd.Series, window: int) -> pd.Series:
    """Annualised Sharpe of the daily returns over the last ``window`` days (NaN until the window is full or flat)."""
    returns = equity.pct_change()
    mean, std = returns.rolling(window).mean(), returns.rolling(window).std()
    return (mean / std.where(std > 1e-12)) * math.sqrt(_TRADING_DAYS)


def rolling_sharpe_chart(curves: Sequence[EquityCurve], *, benchmark: str = "SPY", title: str = "") -> tuple[str, int]:
    """Rolling Sharpe of each model and the benchmark; returns the chart and the window in days."""
    import plotly.graph_objects as go

    window = rolling_window(max(len(c.model) for c in curves))
    fig = go.Figure()
    for i, c in enumerate(curves):
        s = rolling_sharpe(c.model, window)
        fig.add_trace(_line(s.index, s, c.model_id, {"color": _colour(i), "width": 1.8}, legendgroup=c.model_id))
    bench = next((c.benchmark for c in curves if c.benchmark is not None), None)
    if bench is not None:
        s = rolling_sharpe(bench, window)
        fig.add_trace(_line(s.index, s, benchmark, BENCHMARK_STYLE))
    fig.add_hline(y=0.0, line={"color": "#999", "width": 0.8})
    fig.update_layout(title=f"{title} ({window}-day rolling Sharpe, annualised)", yaxis_title="Sharpe")
    return _div(fig, "chart-rolling-sharpe", 420), window


def forward_chart(record: Any, *, title: str = "") -> str:
    """Growth of $1 of the paper orders (net) and the three benchmarks, with the orders' drawdown below."""
    from plotly.subplots import make_subplots

    weeks = [r["week"] for r in record.rows]
    fig = make_subplots(rows=2, cols=1, shared_xaxes=True, row_heights=(0.72, 0.28), vertical_spacing=0.05)
    styles = {
        "net": ("paper orders (net)", {"color": _colour(0), "width": 2.4}),
        "own_1n": ("1/N of the same tickers", BUY_AND_HOLD_STYLE),
        "universe_1n": ("1/N of the universe", {"color": "#b0b0b0", "width": 1.2, "dash": "dashdot"}),
        "benchmark": ("SPY", BENCHMARK_STYLE),
    }
    net = np.asarray([1 + r["cumulative"] for r in record.rows])
    mode = "lines+markers" if len(weeks) < 30 else "lines"  # a few weeks: each one visible as a point
    for key, (name, line) in styles.items():
        values = net if key == "net" else np.asarray([1 + r[f"{key}_cumulative"] for r in record.rows])
        fig.add_trace(_line(weeks, values, name, line, mode=mode), row=1, col=1)
    under = net / np.maximum.accumulate(np.concatenate([[1.0], net]))[1:] - 1.0
    fig.add_trace(_line(weeks, under, "drawdown of the orders", {"color": "#c0392b", "width": 1.2}, fill="tozeroy"), row=2, col=1)
    for r in record.rows:
        if r["status"] == "gap":
            fig.add_vrect(x0=r["week"], x1=r["week"] + dt.timedelta(days=7), fillcolor="#f3d9d9", opacity=0.6, line_width=0)
    fig.update_yaxes(title_text="growth of $1", row=1, col=1)
    fig.update_yaxes(title_text="drawdown", tickformat=".0%", row=2, col=1)
    if len(weeks) < 3:  # a lone week would otherwise stretch over a millisecond axis
        fig.update_xaxes(range=[weeks[0] - dt.timedelta(days=7), weeks[-1] + dt.timedelta(days=14)], type="date")
    fig.update_layout(title=title)
    return _div(fig, "chart-forward", 560)


#: Panels of the training chart (history key, title); a panel no history records is left out.
TRAINING_CHART_PANELS: tuple[tuple[str, str], ...] = (
    ("reward_mean", "episode reward (rollout mean per step)"),
    ("explained_variance", "explained variance (below 0: worse than a constant)"),
    ("learning_rate", "learning rate"),
    ("value_loss", "value loss"),
    ("policy_gradient_loss", "policy-gradient loss"),
    ("entropy_loss", "entropy loss (= -entropy)"),
)


def training_chart(histories: Mapping[str, Sequence[Mapping[str, Any]]], *, title: str = "") -> str:
    """The PPO statistics against timesteps, one colour per model (a legend group across the panels)."""
    from plotly.subplots import make_subplots

    panels = [(k, t) for k, t in TRAINING_CHART_PANELS if any(len(_history_column(h, k)[0]) for h in histories.values())]
    cols = 2
    rows = max(1, math.ceil(len(panels) / cols))
    fig = make_subplots(rows=rows, cols=cols, subplot_titles=[t for _, t in panels], horizontal_spacing=0.08, vertical_spacing=0.12)
    for p, (key, _title) in enumerate(panels):
        row, col = p // cols + 1, p % cols + 1
        for i, (model_id, history) in enumerate(histories.items()):
            x, y = _history_column(history, key)
            if len(x):
                line = {"color": _colour(i), "width": 1.5, "dash": "solid" if i < len(_COLOURS) else "dot"}
                fig.add_trace(_line(x, y, model_id, line, legendgroup=model_id, showlegend=p == 0), row=row, col=col)
        if key == "explained_variance":
            low = min((float(_history_column(h, key)[1].min()) for h in histories.values() if len(_history_column(h, key)[1])), default=0.0)
            if low < 0.0:  # the region where the value function explains nothing is shaded red
                fig.add_hrect(y0=low, y1=0.0, fillcolor="#fde8e8", opacity=0.6, line_width=0, layer="below", row=row, col=col)
            fig.add_hline(y=0.0, line={"color": "#c0392b", "width": 1.0}, row=row, col=col)
        if key == "learning_rate":  # rates span decades (and a constant one would sit on a -1..1 axis)
            fig.update_yaxes(type="log", exponentformat="e", row=row, col=col)
    fig.update_xaxes(title_text="timesteps")
    fig.update_layout(title=title, hovermode="closest")
    return _div(fig, "chart-training", 300 * rows + 110, top=90)
