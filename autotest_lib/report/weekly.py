"""``write_weekly_report``: one HTML page (plus a few PNGs) that says how a week went.

Equity, drawdown, rolling Sharpe, forward and training charts are interactive plotly charts inside the page (plotly.js
inlined once, so the page opens offline); the regime timeline, lineage tree and PBT plots stay PNGs.

Everything comes from the lineage registry (:class:`~autotest_lib.registry.LineageStore`) and the daily
backtest series the weekly backtest task saved as ``<week_dir>/backtests/<model_id>.csv``. The page, in order:

1. header: cutoff, preset, windows, status and the plan's notes;
2. budget split of the preset (``budget_split``) with planned, trained and failed counts from the registry;
3. leaderboard of the week (rolled-back models marked, with the reason; models created this week marked new);
4. the paper orders prepared for the coming week (``<week_dir>/orders/orders.json``): model, rule, weights;
5. growth of $1 of the top models on the validation window against buy-and-hold and SPY, their drawdowns
   (underwater curves) and rolling Sharpe;
6. the forward record (paper orders since inception against the benchmarks) and progress: week over week
   (the forward record first, the validation score second), generation over generation, champion longevity
   (:mod:`autotest_lib.report.progress`);
7. market regimes: the index's regime timeline, per-regime leaderboards, regime switching vs the champion
   (:mod:`autotest_lib.report.regimes`);
8. champion history and stints;
9. lineage: root -> champion (steps, learning rate, score per generation) and the tree of every generation
   (continuations, rollbacks, PBT exploits, curriculum promotions; :mod:`autotest_lib.report.lineage`);
10. training curves of the week's runs (episode reward, explained variance flagged below 0, learning rate,
   losses; throughput per run);
11. population-based training: each population's scores and learning rates over rounds, and its exploits
   (:mod:`autotest_lib.report.pbt`);
12. events of the week (rollbacks, archive prunes, promotions).

Only rows of weeks up to the report's week are shown, so a backfilled week reads as it did at the time
(except model statuses, which are the registry's current ones). Files are written atomically under fixed
names; a section without data says so in a sentence.
"""

from __future__ import annotations

import datetime as dt
import html
import logging
from collections import Counter
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from autotest_lib.config import Preset, budget_split
from autotest_lib.evaluate.own_1n import beats_own_1n, own_1n_scores
from autotest_lib.evaluate.verdicts import THRESHOLDS, convergence_verdict, metric_labels, verdict_text
from autotest_lib.kinds import EventKind, ModelStatus, Role
from autotest_lib.pbt import superseded_versions
from autotest_lib.registry.records import ChampionRecord, EventRecord, LeaderboardRow, ModelRecord, WeekRecord
from autotest_lib.registry.store import DateLike, LineageStore, as_date
from autotest_lib.report.forward import forward_section
from autotest_lib.report.html import (
    Raw,
    _number,
    atomic_write_bytes,
    fmt_float,
    fmt_int,
    fmt_pct,
    fmt_steps,
    page,
    paragraph,
    section,
    table,
)
from autotest_lib.report.interactive import drawdown_chart, equity_chart, rolling_sharpe_chart, training_chart
from autotest_lib.report.lineage import EDGE_KINDS, lineage_figure, lineage_graph
from autotest_lib.report.pbt import pbt_section
from autotest_lib.report.plots import curves_from_backtest
from autotest_lib.report.progress import progress_section
from autotest_lib.report.regimes import REGIMES_PNG, regime_section

__all__ = ["DRAWDOWN_PNG", "EQUITY_PNG", "LINEAGE_PNG", "REPORT_DIR", "REPORT_HTML", "TRAINING_PNG", "write_weekly_report"]

log = logging.getLogger(__name__)

REPORT_DIR = "report"
"""Sub-folder of the week's folder that holds the report."""
REPORT_HTML = "index.html"
EQUITY_PNG = "equity_curves.png"
"""Removed when found: the equity and drawdown charts are interactive (plotly, in the page) since the PNGs."""
DRAWDOWN_PNG = "drawdowns.png"
LINEAGE_PNG = "lineage_tree.png"
TRAINING_PNG = "training_curves.png"
"""Removed when found: the training curves are an interactive chart in the page since this PNG."""
CONVERGENCE_NOTE = (
    "Convergence, from each run's updates split in thirds: value and policy losses stabilised (last third within "
    "25% of the run's range of the middle third), entropy falling, explained variance rising (or >= 0.9)."
)

_ROLE_ORDER = tuple(Role)
_WINDOWS = (
    ("training", "train_start", "train_end"),
    ("recent (continued models' mix)", "recent_start", "train_end"),
    ("validation", "validation_start", "validation_end"),
)


def write_weekly_report(
    store: LineageStore,
    week: DateLike,
    week_dir: Path,
    preset: Preset,
    *,
    top_n: int = 5,
    window: str = "validation",
    run: Mapping[str, Any] | None = None,
) -> Path:
    """Write ``<week_dir>/report/index.html`` and its PNG plots; return the HTML's path.

    Idempotent: a rerun rewrites the same files (each atomically); a plot that has no data this time is
    removed rather than left stale.

    :param store: the lineage registry.
    :param week: the week's cutoff (its logical date in the registry).
    :param week_dir: the week's output folder (``<home>/runs/<cutoff>``); backtests are read from its
        ``backtests/`` folder.
    :param preset: the week's preset (as run: overrides and scale applied).
    :param top_n: models drawn in the equity plot.
    :param window: evaluation window the leaderboard ranks on.
    :param run: the Airflow run that produced the week: ``run_id`` and the ``params`` it was triggered with
        (preset, timesteps_scale, tickers, seed), shown in the header; None leaves them out.
    """
    day = as_date(week, "week")
    out_dir = Path(week_dir) / REPORT_DIR
    out_dir.mkdir(parents=True, exist_ok=True)

    record = store.get_week(day)
    board = store.leaderboard(day, window=window)
    # a PBT member has a version per round: the page lists its latest one (the PBT section shows every round)
    superseded = superseded_versions(r.model_id for r in board if r.role == Role.PBT)
    hidden = sum(r.model_id in superseded for r in board)
    board = tuple(r for r in board if r.model_id not in superseded)
    models = _models(store, [r.model_id for r in board])
    history = tuple(c for c in store.champion_history() if c.week <= day)
    champion = history[-1] if history else None
    events = store.events(week=day)
    runs = store.training_runs(week=day)
    week_models = store.list_models(week=day)
    own_1n = own_1n_scores(store, day, window)

    sections = [
        _header(day, preset, record, run),
        _budget(preset, record, week_models, runs),
        _leaderboard(
            board, models, champion if champion is not None and champion.week == day else None, events, window, hidden, own_1n, day
        ),
        _orders(Path(week_dir) / "orders" / "orders.json"),
        _equity(board, Path(week_dir) / "backtests", out_dir, preset.data.benchmark, top_n, window, day),
        forward_section(store, day, out_dir),
        progress_section(store, day, window),
        _regimes(store, day, Path(week_dir), out_dir, preset),
        _champions(store, history, day),
        _lineage(store, champion, window, day, out_dir),
        _training(runs, week_models, out_dir, day),
        _pbt(store, day, out_dir),
        _events([e for e in events if not e.kind.startswith("pbt_")]),  # PBT's own section shows those
    ]
    nav = [
        ("header", "Week"),
        ("budget", "Budget"),
        ("leaderboard", "Leaderboard"),
        ("orders", "Orders"),
        ("equity", "Equity"),
        ("forward", "Forward"),
        ("progress", "Progress"),
        ("regimes", "Regimes"),
        ("champions", "Champions"),
        ("lineage", "Lineage"),
        ("training", "Training"),
        ("pbt", "PBT"),
        ("events", "Events"),
    ]
    path = out_dir / REPORT_HTML
    atomic_write_bytes(path, page(f"AUTOTEST week {day.isoformat()} ({preset.name})", nav, sections).encode("utf-8"))
    log.info("weekly report for %s written to %s", day, path)
    return path


# -- data helpers -------------------------------------------------------------------------------------------


def _models(store: LineageStore, ids: Sequence[str]) -> dict[str, ModelRecord]:
    out = {}
    for model_id in ids:
        model = store.get_model(model_id)
        if model is not None:
            out[model_id] = model
    return out


def _write_png(path: Path, data: bytes | None) -> bool:
    """Write the plot, or remove a stale one when there is nothing to draw."""
    if data is None:
        path.unlink(missing_ok=True)
        return False
    atomic_write_bytes(path, data)
    return True


def _image(name: str, alt: str) -> str:
    return f'<p><img src="{html.escape(name)}" alt="{html.escape(alt)}"></p>'


def _metric(metrics: Mapping[str, Any], *names: str) -> Any:
    for name in names:
        if metrics.get(name) is not None:
            return metrics[name]
    return None


def _role_rank(role: str) -> int:
    return _ROLE_ORDER.index(role) if role in _ROLE_ORDER else len(_ROLE_ORDER)


# -- sections ------------------------------------------------------------------------------------------------


def _header(day: dt.date, preset: Preset, record: WeekRecord | None, run: Mapping[str, Any] | None = None) -> str:
    title = f"<h1>AUTOTEST weekly report &mdash; week {html.escape(day.isoformat())}</h1>"
    facts: list[tuple[str, Any]] = [
        ("week cutoff (exclusive)", day.isoformat()),
        ("preset", preset.name),
        ("description (the preset's)", preset.description or None),
        ("status", record.status if record else "not registered"),
    ]
    if run is not None:
        params = run.get("params") or {}
        shown = [f"{k}={','.join(map(str, v)) if isinstance(v, (list, tuple)) else v}" for k, v in sorted(params.items())]
        facts += [("run id", run.get("run_id")), ("run params", ", ".join(shown) or "none")]
    facts += [
        (f"universe ({len(preset.data.universe)} tickers)", ", ".join(preset.data.universe)),
        ("seed", preset.seed),
        ("steps this week (budget)", fmt_steps(budget_split(preset).total)),
    ]
    if record is not None:
        facts += [("data cutoff", record.cutoff.isoformat()), ("config hash", record.config_hash)]
        if record.preset != preset.name:
            facts.append(("preset in the registry", record.preset))
    parts = [title, table(("", ""), facts)]
    if record is None:
        parts.append(paragraph(f"Week {day.isoformat()} has no row in the registry: it was never planned."))
        return section("header", "Week", *parts)

    windows = record.plan.get("windows") or {}
    if windows:
        rows = []
        for name, start, end in _WINDOWS:
            if start in windows and end in windows:
                rows.append((name, windows[start], windows[end]))
        known = {k for _, s, e in _WINDOWS for k in (s, e)} | {"cutoff"}
        rows += [(key, value, None) for key, value in sorted(windows.items()) if key not in known]
        parts += ["<h3>Windows <span class='muted'>(half-open [start, end))</span></h3>", table(("window", "start", "end"), rows)]
    else:
        parts.append(paragraph("The plan records no windows."))

    notes = [str(n) for n in record.plan.get("notes") or ()]
    if notes:
        parts += ["<h3>Notes of the plan</h3>", '<ul class="notes">' + "".join(f"<li>{html.escape(n)}</li>" for n in notes) + "</ul>"]
    else:
        parts.append(paragraph("The plan has no notes."))
    return section("header", "Week", *parts)


def _budget(preset: Preset, record: WeekRecord | None, week_models: Sequence[ModelRecord], runs: Sequence[Any]) -> str:
    split = budget_split(preset)
    specs = (record.plan.get("specs") or {}) if record is not None else {}
    if isinstance(specs, Mapping) and specs:
        planned = Counter(str(s.get("role")) for s in specs.values() if isinstance(s, Mapping))
    else:
        planned = Counter(m.role for m in week_models)
    role_of = {m.model_id: m.role for m in week_models}
    trained = Counter(role_of.get(r.model_id, "?") for r in runs)
    steps_trained: Counter[str] = Counter()
    for r in runs:
        steps_trained[role_of.get(r.model_id, "?")] += r.steps_added
    failed = Counter(m.role for m in week_models if m.status == ModelStatus.FAILED)

    rows: list[list[Any]] = []
    budget_roles = [role for role, *_ in split.rows]
    for role, count, each, total in split.rows:
        share = total / split.total if split.total else 0.0
        rows.append(
            [
                role,
                count,
                fmt_steps(each),
                fmt_steps(total),
                fmt_pct(share),
                planned[role],
                trained[role],
                failed[role],
                fmt_steps(steps_trained[role]),
            ]
        )
    extra = sorted((set(planned) | set(trained) | set(failed)) - set(budget_roles), key=lambda r: (_role_rank(r), r))
    for role in extra:
        rows.append([role, None, None, None, None, planned[role], trained[role], failed[role], fmt_steps(steps_trained[role])])
    rows.append(
        [
            "total",
            sum(r[1] for r in split.rows),
            None,
            fmt_steps(split.total),
            fmt_pct(1.0 if split.total else 0.0),
            sum(planned.values()),
            sum(trained.values()),
            sum(failed.values()),
            fmt_steps(sum(steps_trained.values())),
        ]
    )
    headers = ("role", "count", "steps each", "total steps", "share", "planned", "trained", "failed", "steps trained")
    classes = [""] * (len(rows) - 1) + ["total"]
    parts = [
        paragraph(
            f"Preset {preset.name}: {fmt_steps(split.total)} steps a week. Planned from the week's plan, trained = training runs recorded.",
            "muted",
        ),
        table(headers, rows, numeric=range(1, 9), row_classes=classes),
    ]
    return section("budget", "Budget split", *parts)


def _status_cell(row: LeaderboardRow, model: ModelRecord | None, reasons: Mapping[str, str], champion_id: str | None) -> Raw:
    status = model.status if model is not None else row.status
    text = html.escape(status)
    if status == ModelStatus.ROLLED_BACK:
        reason = (model.status_reason if model is not None else None) or reasons.get(row.model_id) or "no reason recorded"
        text = f'<span class="tag rolled_back">ROLLED BACK</span> {html.escape(reason)}'
    if row.model_id == champion_id:
        text += ' <span class="tag champion">champion</span>'
    return Raw(text)


def _own_1n_cell(score: float | None, own: float | None) -> Raw | str | None:
    """The own-1/N score, flagged when the model trails it."""

    if own is None:
        return None
    text = html.escape(fmt_float(own, 4) or "")
    if beats_own_1n(score, own):
        return text
    return Raw(f'{text} <span class="tag rolled_back">trails 1/N</span>')


def _leaderboard(
    board: Sequence[LeaderboardRow],
    models: Mapping[str, ModelRecord],
    champion: ChampionRecord | None,
    events: Sequence[EventRecord],
    window: str,
    hidden_pbt_versions: int = 0,
    own_1n: Mapping[str, float | None] | None = None,
    day: dt.date | None = None,
) -> str:
    if not board:
        return section("leaderboard", "Leaderboard", paragraph("No model was evaluated this week, so there is no leaderboard."))
    reasons = {e.model_id: str(e.payload.get("reason", "")) for e in events if e.kind == EventKind.ROLLBACK and e.model_id}
    champion_id = champion.model_id if champion is not None else None
    rows, classes = [], []
    for r in board:
        m = models.get(r.model_id)
        rows.append(
            [
                r.rank,
                r.model_id,
                r.role,
                r.parent_id,
                r.generation,
                ", ".join(m.tickers) if m is not None else None,
                fmt_steps(m.cumulative_timesteps) if m is not None else None,
                fmt_float(r.score, 4),
                _own_1n_cell(r.score, (own_1n or {}).get(r.model_id)),
                fmt_pct(_metric(r.metrics, "total_return")),
                fmt_pct(_metric(r.metrics, "max_drawdown")),
                fmt_pct(_metric(r.metrics, "win_rate")),
                fmt_float(_metric(r.metrics, "dsr"), 3),
                verdict_text(metric_labels(r.metrics)),
                Raw('<span class="tag new">new</span>') if m is not None and m.created_week == day else "",
                _status_cell(r, m, reasons, champion_id),
            ]
        )
        status = m.status if m is not None else r.status
        classes.append("rolled_back" if status == ModelStatus.ROLLED_BACK else "champion" if r.model_id == champion_id else "")
    headers = (
        *("#", "model", "role", "parent", "gen", "tickers", "cum. steps", "score (Sharpe)", "own 1/N"),
        *("return", "max DD", "win rate", "DSR", "verdict", "this week", "status"),
    )
    n_rolled = sum(c == "rolled_back" for c in classes)
    n_new = sum(m.created_week == day for m in models.values()) if day is not None else 0
    summary = f"{len(board)} models evaluated on the {window} window, best score first ({n_new} new this week, the rest carried over)"
    summary += f"; {n_rolled} rolled back." if n_rolled else "; none rolled back."
    if hidden_pbt_versions:
        summary += f" {hidden_pbt_versions} earlier PBT round versions are left out (see the PBT section)."
    return section(
        "leaderboard",
        "Leaderboard",
        paragraph(summary, "muted"),
        paragraph(THRESHOLDS[0].upper() + THRESHOLDS[1:], "muted"),
        paragraph("own 1/N: the score of holding the model's own tickers at equal weights on the same window, the bar a model must clear."),
        table(headers, rows, numeric=(0, 4, 6, 7, 8, 9, 10, 11, 12), row_classes=classes),
    )


def _orders(path: Path) -> str:
    """The paper orders the week prepared (written by the paper-trades task before the report)."""
    import json

    if not path.is_file():
        return section("orders", "Orders", paragraph(f"No paper orders were prepared this week ({path.name} is missing in {path.parent})."))
    try:
        orders = json.loads(path.read_text(encoding="utf-8"))
        rows = [
            [o["ticker"], fmt_pct(o["target_weight"]), fmt_float(o.get("last_close"), 2), o.get("price_date")] for o in orders["orders"]
        ]
    except (OSError, ValueError, KeyError, TypeError) as exc:
        problem = f"{path} could not be read ({type(exc).__name__}: {exc}); rerun the paper-trades task."
        return section("orders", "Orders", paragraph(problem))
    rows.append(["cash", fmt_pct(orders.get("cash_weight")), None, None])
    broker = orders.get("broker") or {}
    facts = [
        ("model", orders.get("model_id")),
        ("rule", orders.get("rule")),
        ("regime", orders.get("regime")),
        ("champion", orders.get("champion_id")),
        ("prices as of", orders.get("as_of")),
        ("broker", f"{broker.get('broker', '?')} ({'submitted' if broker.get('submitted') else 'not submitted'})"),
    ]
    return section(
        "orders",
        "Orders",
        paragraph("Target weights for the coming week, from the model the rule picked.", "muted"),
        table(
            ("ticker", "target weight", "last close", "price date"), rows, numeric=(1, 2), row_classes=[*[""] * (len(rows) - 1), "total"]
        ),
        table(("", ""), facts),
    )


def _equity(board: Sequence[LeaderboardRow], backtests: Path, out_dir: Path, benchmark: str, top_n: int, window: str, day: dt.date) -> str:
    for stale in (EQUITY_PNG, DRAWDOWN_PNG):  # these charts are interactive now; an earlier version's PNG goes
        _write_png(out_dir / stale, None)
    top = list(board[:top_n])
    if not top:
        return section("equity", "Equity curves", paragraph("No model was evaluated this week, so there are no equity curves."))

    import pandas as pd

    curves, problems = [], []
    for row in top:
        path = backtests / f"{row.model_id}.csv"
        if not path.is_file():
            problems.append(f"{row.model_id}: no saved backtest ({path.name} missing in {backtests})")
            continue
        try:
            frame = pd.read_csv(path, index_col="date", parse_dates=["date"])
            curves.append(curves_from_backtest(row.model_id, frame, benchmark))
        except (OSError, ValueError, KeyError) as exc:  # pandas parse errors are ValueErrors
            problems.append(f"{row.model_id}: could not read {path.name}: {exc}")
    parts = []
    title = f"Top {len(top)} of week {day.isoformat()} on the {window} window"
    if curves:
        parts.append(
            paragraph(
                "Drag to zoom, double-click to reset, click a legend entry to hide it. Each model is a solid colour; the grey dashed "
                f"line of its legend group is buy & hold of that model's own tickers at equal weights; {benchmark} is black dotted.",
                "muted",
            )
        )
        parts.append(equity_chart(curves, benchmark=benchmark, title=title))
        rows = []
        for c in curves:
            model, bh, bench = c.total_returns()
            excess = model - bh if bh is not None else None
            rows.append([c.model_id, fmt_pct(model), fmt_pct(bh), fmt_pct(excess), fmt_pct(bench)])
        headers = ("model", "total return", "buy & hold (its tickers)", "vs buy & hold", benchmark)
        parts.append(table(headers, rows, numeric=(1, 2, 3, 4)))
        parts.append(drawdown_chart(curves, benchmark=benchmark, title=f"Drawdowns: {title[0].lower()}{title[1:]}"))
        chart, days = rolling_sharpe_chart(curves, benchmark=benchmark, title=f"Rolling Sharpe: {title[0].lower()}{title[1:]}")
        parts += [
            f"<h3 id='rolling-sharpe'>Rolling Sharpe <span class='muted'>({days} trading days, annualised)</span></h3>",
            paragraph(
                f"Sharpe ratio of the daily returns over the last {days} trading days: a model whose line sits above {benchmark}'s "
                "most of the window earned its score throughout, not in one burst.",
                "muted",
            ),
            chart,
        ]
    else:
        parts.append(paragraph("No saved backtest could be read for the top models, so there is no equity plot."))
    if problems:
        parts.append("<ul class='notes'>" + "".join(f"<li class='note'>{html.escape(p)}</li>" for p in problems) + "</ul>")
    return section("equity", "Equity curves", *parts)


def _regimes(store: LineageStore, day: dt.date, week_dir: Path, out_dir: Path, preset: Preset) -> str:
    part = regime_section(store, day, week_dir.parent, preset)
    _write_png(out_dir / REGIMES_PNG, part.png)
    return part.html


def _pbt(store: LineageStore, day: dt.date, out_dir: Path) -> str:
    return pbt_section(store, day, out_dir)


def _champions(store: LineageStore, history: Sequence[ChampionRecord], day: dt.date) -> str:
    if not history:
        return section("champions", "Champion history", paragraph("No champion has been chosen yet."))
    rows: list[list[object]] = [
        [c.week.isoformat(), c.model_id, c.rule, fmt_float(c.score, 4), c.previous_model_id] for c in reversed(history)
    ]
    classes = ["champion" if c.week == day else "" for c in reversed(history)]
    parts = ["<h3>Champion by week <span class='muted'>(newest first)</span></h3>"]
    parts.append(table(("week", "champion", "rule", "score", "previous champion"), rows, numeric=(3,), row_classes=classes))
    stints = [s for s in store.champion_longevity() if s.from_week <= day]
    rows = []
    for s in reversed(stints):
        holding = s.from_week <= day <= s.to_week
        rows.append([s.model_id, s.from_week.isoformat(), s.to_week.isoformat(), s.weeks_held, "yes" if holding else ""])
    parts += ["<h3>Stints <span class='muted'>(consecutive weeks held)</span></h3>"]
    parts.append(table(("model", "from week", "to week", "weeks held", f"champion on {day.isoformat()}"), rows, numeric=(3,)))
    return section("champions", "Champion history", *parts)


def _lineage(store: LineageStore, champion: ChampionRecord | None, window: str, day: dt.date, out_dir: Path) -> str:
    tree = _lineage_tree(store, day, out_dir)
    if champion is None:
        return section("lineage", "Lineage", paragraph("There is no champion yet, so there is no champion lineage to show."), *tree)
    steps = store.ancestry(champion.model_id)
    rows = []
    for step in steps:
        m = step.model
        lrs = [f"{r.base_lr * r.lr_multiplier:.3g} ({r.base_lr:.3g} x{r.lr_multiplier:g}, {r.lr_schedule})" for r in step.training_runs]
        own = [e for e in step.evaluations if e.window_name == window and e.week == m.created_week]
        score = own[-1].score if own else None
        diff = next((r.hyperparameter_diff for r in step.training_runs if r.hyperparameter_diff), {})
        changes = "; ".join(f"{k}: {v[0]} -> {v[1]}" for k, v in sorted(diff.items()) if isinstance(v, (list, tuple)) and len(v) == 2)
        rows.append(
            [
                m.generation,
                m.model_id,
                m.role,
                m.created_week.isoformat(),
                fmt_steps(sum(r.steps_added for r in step.training_runs)) if step.training_runs else None,
                fmt_steps(m.cumulative_timesteps),
                "; ".join(lrs) or None,
                fmt_float(score, 4),
                changes or None,
            ]
        )
    headers = (
        "gen",
        "model",
        "role",
        "week",
        "steps added",
        "cum. steps",
        "learning rate",
        f"score ({window}, its week)",
        "changes vs parent",
    )
    intro = f"Champion {champion.model_id} (week {champion.week.isoformat()}), root {steps[0].model.model_id}, {len(steps)} generation(s)."
    return section(
        "lineage",
        "Lineage",
        "<h3>Root to champion</h3>",
        paragraph(intro, "muted"),
        table(headers, rows, numeric=(0, 4, 5, 7)),
        *tree,
    )


def _lineage_tree(store: LineageStore, day: dt.date, out_dir: Path) -> list[str]:
    """The tree of every generation up to ``day`` as a PNG (removed when there is no model)."""

    graph = lineage_graph(store, up_to_week=day)
    if not graph.nodes:
        _write_png(out_dir / LINEAGE_PNG, None)
        return [paragraph("No model is registered yet, so there is no lineage tree.")]
    counts = Counter(e.kind for e in graph.edges)
    _write_png(out_dir / LINEAGE_PNG, lineage_figure(graph, title=f"Every generation up to week {day.isoformat()}"))
    summary = f"{len(graph.nodes)} models, {len(graph.edges)} parent links: " + ", ".join(f"{counts[k]} {k}" for k in EDGE_KINDS)
    return ["<h3>Every generation</h3>", paragraph(summary, "muted"), _image(LINEAGE_PNG, "lineage tree of every model up to this week")]


def _explained_variance_cell(value: Any) -> Raw | str | None:
    """The final explained variance, flagged when below 0 (the value function predicts worse than a constant)."""
    text = fmt_float(value, 3)
    if text is None or float(value) >= 0.0:
        return text
    return Raw(f'{html.escape(text)} <span class="tag rolled_back">below 0</span>')


def _training(runs: Sequence[Any], week_models: Sequence[ModelRecord], out_dir: Path, day: dt.date) -> str:
    _write_png(out_dir / TRAINING_PNG, None)  # the curves are an interactive chart now; an earlier version's PNG goes
    if not runs:
        return section("training", "Training curves", paragraph("No model was trained this week."))
    role_of = {m.model_id: m.role for m in week_models}
    ordered = sorted(runs, key=lambda r: (_role_rank(role_of.get(r.model_id, "")), r.model_id))
    rows = []
    for r in ordered:
        last = r.history[-1] if r.history else {}
        rows.append(
            [
                r.model_id,
                role_of.get(r.model_id),
                fmt_steps(r.steps_added),
                f"{r.base_lr * r.lr_multiplier:.3g}",
                r.lr_schedule,
                f"{r.recent_fraction:.0%}" if r.recent_start else None,
                len(r.history),
                fmt_float(last.get("reward_mean"), 4),
                _explained_variance_cell(last.get("explained_variance")),
                fmt_float(r.wall_time_s, 1),
                fmt_int(r.steps_added / r.wall_time_s) if r.wall_time_s else None,
                convergence_verdict(r.history).text(),
            ]
        )
    headers = (
        "model", "role", "steps", "learning rate", "schedule", "recent share", "updates", "final reward", "final expl. var.",
        "wall time (s)", "steps/s", "convergence",
    )  # fmt: skip
    flagged = [r.model_id for r in ordered if convergence_verdict(r.history).flagged]
    negative = [r.model_id for r in ordered if r.history and (_number(r.history[-1].get("explained_variance")) or 0.0) < 0.0]
    note = CONVERGENCE_NOTE + (f" Flagged: {', '.join(flagged)}." if flagged else " None flagged.")
    if negative:
        note += f" Explained variance below 0 at the end (the value function is worse than a constant): {', '.join(negative)}."
    parts = [paragraph(note, "muted"), table(headers, rows, numeric=(2, 3, 5, 6, 7, 8, 9, 10))]
    histories = {r.model_id: r.history for r in ordered if r.history}
    if histories:
        intro = (
            "Per PPO update against timesteps: episode reward (the rollout's mean reward per step), explained variance (red below 0), "
            "learning rate and the losses. No validation score is recorded during training: the week's evaluation scores each model "
            "once, on the leaderboard. Throughput (steps/s) is per run, in the table."
        )
        parts[:0] = [paragraph(intro, "muted"), training_chart(histories, title=f"PPO training statistics, week {day.isoformat()}")]
    else:
        parts.insert(0, paragraph("The week's training runs recorded no per-update history, so there are no curves."))
    return section("training", "Training curves", *parts)


def _payload_text(payload: Mapping[str, Any]) -> str:
    def show(value: Any) -> str:
        if isinstance(value, float):
            return f"{value:.4g}"
        return str(value)

    return "; ".join(f"{k}: {show(v)}" for k, v in sorted(payload.items()) if k != "reason")


def _events(events: Sequence[EventRecord]) -> str:
    if not events:
        return section("events", "Events of the week", paragraph("No rollbacks, archive prunes or other lineage events this week."))
    counts = Counter(e.kind for e in events)
    summary = ", ".join(f"{n} {kind}" for kind, n in sorted(counts.items()))
    rows = [[e.kind, e.model_id, e.round, e.payload.get("reason"), _payload_text(e.payload) or None] for e in events]
    classes = ["rolled_back" if e.kind == EventKind.ROLLBACK else "" for e in events]
    parts = [paragraph(summary, "muted"), table(("kind", "model", "round", "reason", "details"), rows, numeric=(2,), row_classes=classes)]
    return section("events", "Events of the week", *parts)
