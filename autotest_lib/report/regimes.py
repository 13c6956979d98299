"""The report's regime section: timeline of the index, per-regime leaderboards, and regime switching vs the champion.

:func:`regime_section` returns the HTML fragment and a PNG (``None`` when there is nothing to draw); the
weekly report writes the PNG as :data:`REGIMES_PNG` beside its page.

1. **Timeline.** The benchmark index over the last ``years`` years before the cutoff, its ``trend_window``-day
   average, and the background coloured by regime (:mod:`autotest_lib.regime.detector`), the validation
   window marked; a table counts the validation window's trading days per regime (attributed to the regime
   of the previous close, as in the evaluations).
2. **Per-regime leaderboards.** This week's validation evaluations split by regime
   (``evaluations.by_regime``): per regime, the models by Sharpe over its days, with the days of evidence
   and the buy-and-hold Sharpe of their tickers on the same days. The current regime comes first.
3. **Regime switching vs always the champion.** For every recorded week ``w`` up to this one with a
   ``paper_pick`` event (the model the orders used, the regime and the rule) and a later recorded week
   ``w'`` (the next one, at most this week), the *realised* return of the coming week is read from ``w'``'s
   saved backtests: the rows dated in ``[w, w')`` of ``runs/<w'>/backtests/<model>.csv``, compounded. The
   picked model and ``w``'s champion are both backtested in ``w'`` (``tasks.weekly.candidates`` adds them), so
   both are measured on the same days, out of sample for the choice made at ``w``. Cumulative returns
   compound those weeks; a week where either series is missing is listed and left out of both.
"""

from __future__ import annotations

import datetime as dt
import html
import math
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
import pandas as pd

from autotest_lib.config import Preset
from autotest_lib.errors import DataError
from autotest_lib.kinds import EventKind
from autotest_lib.regime import REGIMES, attribute_days, detect_regimes, history_start, index_closes
from autotest_lib.report.html import Raw, fmt_float, fmt_pct, paragraph, section, table
from autotest_lib.report.plots import _figure, _png

if TYPE_CHECKING:
    from autotest_lib.registry.store import LineageStore

__all__ = ["PAPER_PICK", "REGIMES_PNG", "RegimeSection", "SwitchWeek", "realised_switching", "regime_section", "regime_timeline_figure"]

REGIMES_PNG = "regimes.png"
PAPER_PICK = EventKind.PAPER_PICK
"""Event kind the paper-trade task records (``kinds.EventKind.PAPER_PICK``)."""

_COLOURS = {
    "bull_low_vol": "#cdebc5",
    "bull_high_vol": "#f7e3a1",
    "bear_low_vol": "#c9dcf2",
    "bear_high_vol": "#f4b9b2",
    "unknown": "#e6e6e6",
}


@dataclass(frozen=True)
class RegimeSection:
    """The section's HTML and its timeline PNG (None when the index could not be read)."""

    html: str
    png: bytes | None


@dataclass(frozen=True)
class SwitchWeek:
    """One traded week: the regime pick and the champion, and what each earned over ``[week, next_week)``."""

    week: dt.date
    next_week: dt.date
    regime: str | None
    kind: str | None
    pick: str
    champion: str | None
    pick_return: float | None
    champion_return: float | None
    days: int


def _spells(labels: pd.Series) -> list[tuple[pd.Timestamp, pd.Timestamp, str]]:
    """Runs of equal labels: ``(first day, first day of the next run or the last day, label)``."""
    out: list[tuple[pd.Timestamp, pd.Timestamp, str]] = []
    if labels.empty:
        return out
    values = labels.to_numpy(dtype=object)
    idx = labels.index
    start = 0
    for i in range(1, len(values) + 1):
        if i == len(values) or values[i] != values[start]:
            end = idx[i] if i < len(values) else idx[-1]
            out.append((idx[start], end, str(values[start])))
            start = i
    return out


def regime_timeline_figure(frame: pd.DataFrame, *, benchmark: str, validation: tuple[dt.date, dt.date] | None, title: str = "") -> bytes:
    """PNG of the index and its moving average over a background coloured by regime.

    :param frame: :func:`~autotest_lib.regime.detect_regimes` output (``close``, ``sma``, ``regime``), already cut to the period.
    :param benchmark: the index's name for the legend.
    :param validation: ``(start, end)`` of the validation window to mark, or None.
    :param title: axes title.
    """
    fig = _figure(10, 4.2)
    ax = fig.add_subplot()
    for start, end, label in _spells(frame["regime"]):
        ax.axvspan(start, end, color=_COLOURS.get(label, "#eeeeee"), linewidth=0)
    ax.plot(frame.index, frame["close"].to_numpy(), color="black", linewidth=1.2, label=f"{benchmark} (adjusted close)")
    ax.plot(frame.index, frame["sma"].to_numpy(), color="#555", linewidth=1.0, linestyle="--", label="moving average (trend rule)")
    if validation is not None:
        for day in validation:
            ax.axvline(pd.Timestamp(day), color="#1f4e9c", linewidth=1.0, linestyle=":")
        ax.plot([], [], color="#1f4e9c", linestyle=":", label="validation window")
    for label in ("bull_low_vol", "bull_high_vol", "bear_low_vol", "bear_high_vol"):
        ax.fill_between([], [], color=_COLOURS[label], label=label)
    ax.set_ylabel(benchmark)
    ax.set_title(title, fontsize=11)
    ax.grid(True, alpha=0.3)
    ax.legend(fontsize=8, loc="upper left", ncols=2)
    fig.autofmt_xdate()
    return _png(fig)


def _week_return(path: Path, start: dt.date, end: dt.date) -> tuple[float | None, int]:
    """Compounded ``return`` of the CSV's rows dated in ``[start, end)``, and how many rows; None if unreadable."""
    if not path.is_file():
        return None, 0
    try:
        frame = pd.read_csv(path, index_col="date", parse_dates=["date"])
        r = pd.to_numeric(frame["return"], errors="coerce")
    except (OSError, ValueError, KeyError):
        return None, 0
    r = r[(r.index >= pd.Timestamp(start)) & (r.index < pd.Timestamp(end))].dropna()
    if r.empty:
        return None, 0
    return float(np.prod(1.0 + r.to_numpy()) - 1.0), len(r)


def realised_switching(store: LineageStore, day: dt.date, runs_dir: Path) -> list[SwitchWeek]:
    """The traded weeks up to ``day`` with what the regime pick and the champion earned (see the module docstring).

    :param store: the lineage store.
    :param day: the report's week; nothing later is read.
    :param runs_dir: ``<home>/runs`` (each week's folder holds its ``backtests/``).
    """
    weeks = sorted(w.week for w in store.list_weeks() if w.week <= day)
    out = []
    for event in sorted(store.events(kind=PAPER_PICK), key=lambda e: e.week):
        later = [w for w in weeks if w > event.week]
        if event.week > day or not later or event.model_id is None:
            continue
        nxt = later[0]
        folder = runs_dir / nxt.isoformat() / "backtests"
        champion = event.payload.get("champion_id")
        pick_ret, days = _week_return(folder / f"{event.model_id}.csv", event.week, nxt)
        champ_ret = None
        if champion:
            champ_ret, champ_days = _week_return(folder / f"{champion}.csv", event.week, nxt)
            days = max(days, champ_days)
        out.append(
            SwitchWeek(
                event.week, nxt, event.payload.get("regime"), event.payload.get("kind"), event.model_id, champion, pick_ret, champ_ret, days
            )
        )
    return out


def _leaderboards(store: LineageStore, day: dt.date, current: str, top_n: int) -> list[str]:
    evals = [e for e in store.evaluations(week=day, window="validation") if e.by_regime]
    if not evals:
        return [paragraph("No evaluation of this week has a per-regime breakdown, so there are no per-regime leaderboards.")]
    models = {e.model_id: store.get_model(e.model_id) for e in evals}
    by_regime = {e.model_id: e.by_regime or {} for e in evals}
    regimes = sorted({r for e in evals for r in by_regime[e.model_id]}, key=lambda r: (r != current, r))
    parts = []
    for regime in regimes:
        rows = []
        for e in evals:
            row = by_regime[e.model_id].get(regime)
            if not row:
                continue
            m = models.get(e.model_id)
            bh = (row.get("benchmarks") or {}).get("buy_and_hold") or {}
            rows.append(
                (
                    row.get("sharpe") if row.get("sharpe") is not None else -math.inf,
                    [
                        e.model_id,
                        m.role if m else None,
                        m.stage if m else None,
                        row.get("days"),
                        fmt_float(row.get("sharpe"), 2),
                        fmt_pct(row.get("total_return")),
                        fmt_pct(row.get("max_drawdown")),
                        fmt_float(bh.get("sharpe"), 2),
                    ],
                )
            )
        rows.sort(key=lambda r: (-r[0], r[1][0]))
        tag = " <span class='tag champion'>current regime</span>" if regime == current else ""
        parts.append(f"<h3>{html.escape(regime)}{tag}</h3>")
        headers = ("model", "role", "stage", "days", "Sharpe", "total return", "max DD", "buy & hold Sharpe")
        parts.append(table(headers, [r[1] for r in rows[:top_n]], numeric=(2, 3, 4, 5, 6, 7)))
    return parts


def _switching(weeks: Sequence[SwitchWeek]) -> list[str]:
    if not weeks:
        return [paragraph("No traded week has realised yet (a week's outcome is read from the next week's backtests).")]
    rows = []
    cum_pick = cum_champ = 1.0
    counted = 0
    for w in weeks:
        both = w.pick_return is not None and w.champion_return is not None
        if w.pick_return is not None and w.champion_return is not None:
            cum_pick *= 1.0 + float(w.pick_return)
            cum_champ *= 1.0 + float(w.champion_return)
            counted += 1
        rows.append(
            [
                w.week.isoformat(),
                w.regime,
                w.kind,
                w.pick,
                fmt_pct(w.pick_return, 2),
                w.champion,
                fmt_pct(w.champion_return, 2),
                w.days,
                fmt_pct(cum_pick - 1.0, 2) if both else Raw("<span class='muted'>left out (series missing)</span>"),
                fmt_pct(cum_champ - 1.0, 2) if both else None,
            ]
        )
    headers = (
        "week",
        "regime",
        "rule",
        "picked model",
        "its week",
        "champion",
        "champion's week",
        "days",
        "cum. switching",
        "cum. champion",
    )
    summary = (
        f"Over {counted} realised week(s): regime switching {cum_pick - 1.0:+.2%}, always the champion {cum_champ - 1.0:+.2%} "
        f"(difference {cum_pick - cum_champ:+.2%})."
    )
    return [paragraph(summary, "muted"), table(headers, rows, numeric=(4, 6, 7, 8, 9))]


def regime_section(
    store: LineageStore, week: dt.date, runs_dir: Path, preset: Preset, *, years: float = 3.0, top_n: int = 5, anchor: str = "regimes"
) -> RegimeSection:
    """The regime section of the weekly report (see the module docstring).

    :param store: the lineage store.
    :param week: the report's week (cutoff).
    :param runs_dir: ``<home>/runs``.
    :param preset: regime windows, benchmark and price source.
    :param years: length of the timeline.
    :param top_n: models per regime leaderboard.
    :param anchor: the section's id.
    """
    title = "Market regimes"
    parts: list[str] = []
    png = None
    record = store.get_week(week)
    windows = (record.plan.get("windows") or {}) if record is not None else {}
    validation = None
    if windows.get("validation_start") and windows.get("validation_end"):
        validation = (dt.date.fromisoformat(windows["validation_start"]), dt.date.fromisoformat(windows["validation_end"]))
    first = week - dt.timedelta(days=round(365.25 * years))
    bench = preset.data.benchmark
    current = "unknown"
    try:
        closes = index_closes(week, benchmark=bench, source=preset.data.source, start=history_start(first, preset.regimes))
        frame = detect_regimes(closes, preset.regimes)
    except (DataError, ValueError) as exc:
        parts.append(paragraph(f"The index {bench} could not be read before {week.isoformat()}: {exc}"))
        frame = None
    if frame is not None and len(frame):
        current = str(frame["regime"].iloc[-1])
        last = frame.iloc[-1]
        cfg = preset.regimes
        parts.append(
            paragraph(
                f"Regime of the coming week: {current} (as of {frame.index[-1].date().isoformat()}: {bench} {last['close']:.2f} vs its "
                f"{cfg.trend_window}-day average {last['sma']:.2f}; {cfg.vol_window}-day volatility {last['vol']:.1%} vs its "
                f"{cfg.vol_lookback}-day median {last['vol_median']:.1%}).",
                "muted",
            )
        )
        shown = frame.loc[frame.index >= pd.Timestamp(first)]
        png = regime_timeline_figure(
            shown, benchmark=bench, validation=validation, title=f"{bench} and its regimes, {years:g} years to {week}"
        )
        parts.append(f'<p><img src="{REGIMES_PNG}" alt="{html.escape(bench)} with the background coloured by regime"></p>')
        if validation is not None:
            days = frame.loc[(frame.index >= pd.Timestamp(validation[0])) & (frame.index < pd.Timestamp(validation[1]))].index
            attributed = attribute_days(days.to_numpy(), frame["regime"])
            counts = {r: int((attributed == r).sum()) for r in (*REGIMES, "unknown")}
            rows = [[r, n, fmt_pct(n / len(attributed) if len(attributed) else None)] for r, n in counts.items() if n]
            parts.append(
                "<h3>Validation window by regime <span class='muted'>(trading days, each by the regime of the previous close)</span></h3>"
            )
            parts.append(table(("regime", "days", "share"), rows, numeric=(1, 2)))
    parts.append("<h3>Per-regime leaderboards <span class='muted'>(this week's validation window)</span></h3>")
    parts += _leaderboards(store, week, current, top_n)
    pick = store.events(kind=PAPER_PICK, week=week)
    if pick:
        e = pick[-1]
        parts.append(paragraph(f"Orders for the coming week use {e.model_id} in regime {e.payload.get('regime')}: {e.payload.get('rule')}"))
    parts.append("<h3>Regime switching vs always the champion <span class='muted'>(realised, from the next week's backtests)</span></h3>")
    parts += _switching(realised_switching(store, week, runs_dir))
    return RegimeSection(html=section(anchor, title, *parts), png=png)
