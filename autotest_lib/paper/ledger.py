"""The paper ledger: every week's orders marked to market, against the bars a model must clear.

A week's orders (``runs/<cutoff>/orders/orders.json``) hold target weights decided with prices strictly
before the cutoff ``c``. They are marked over the following week, from the last adjusted close before ``c``
(``p0``) to the last adjusted close before the next cutoff ``c + 7`` (``p1``)::

    r_i      = p1_i / p0_i - 1                           each ticker's return over the week
    gross    = Σ_i w_i · r_i                              cash earns 0
    turnover = Σ_i |w_i - w_prev_i|                       against the previous week's target weights (cash if none)
    net      = gross - (cost_bps + slippage_bps) / 1e4 · turnover
    contrib_i = w_i · r_i

and the benchmarks over the same days, held without costs:

    own 1/N      = (Σ_i w_i) · mean_i r_i    the order's own tickers at equal weights, same gross exposure
    universe 1/N = mean_u r_u                every universe ticker listed on both days, fully invested
    index        = r_SPY

A week on the grid (inception + 7k days) with no orders is a **gap**: a row with its reason and no returns,
never silently skipped. :func:`mark_week` and :func:`forward_record` are pure; :func:`update_ledger` reads
the orders and prices and writes through :class:`~autotest_lib.registry.LineageStore` (an upsert keyed by the
week, so a re-run rewrites the same rows).
"""

from __future__ import annotations

import datetime as dt
import json
import math
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import numpy as np

from autotest_lib.data import load_prices
from autotest_lib.errors import DataError, is_permanent
from autotest_lib.evaluate.metrics import deflated_sharpe_ratio, max_drawdown, sharpe_ratio

__all__ = [
    "ForwardRecord",
    "PaperOrders",
    "WeekMark",
    "forward_record",
    "mark_week",
    "read_orders",
    "update_ledger",
    "week_returns",
]

WEEKS_PER_YEAR = 52
STEP = dt.timedelta(days=7)


@dataclass(frozen=True)
class PaperOrders:
    """The target weights one week's orders asked for (``orders.json``)."""

    week: dt.date
    model_id: str
    rule: str
    weights: dict[str, float]
    cash_weight: float


@dataclass(frozen=True)
class WeekMark:
    """One week's orders marked to market (see the module's formulas)."""

    gross_return: float
    net_return: float
    turnover: float
    exposure: float
    own_1n_return: float
    universe_1n_return: float | None
    benchmark_return: float | None
    contributions: dict[str, float]


def read_orders(path: Path) -> PaperOrders:
    """The orders in ``orders.json`` at ``path``.

    :raises DataError: the file is not an orders file (no ``week`` or ``orders``).
    """
    try:
        data = json.loads(Path(path).read_text())
        orders = {o["ticker"]: float(o["target_weight"]) for o in data["orders"]}
        return PaperOrders(
            week=dt.date.fromisoformat(data["week"]),
            model_id=str(data["model_id"]),
            rule=str(data.get("rule", "")),
            weights=orders,
            cash_weight=float(data.get("cash_weight", 1.0 - sum(orders.values()))),
        )
    except (KeyError, TypeError, ValueError) as exc:
        raise DataError(
            f"{path} is not a readable orders.json ({type(exc).__name__}: {exc}); rerun the week's prepare_paper_trades"
        ) from exc


def week_returns(closes: Any, start_cutoff: dt.date, end_cutoff: dt.date) -> tuple[dict[str, float], dt.date, dt.date]:
    """Each ticker's return from its last close before ``start_cutoff`` to its last close before ``end_cutoff``.

    :param closes: a wide frame of adjusted closes, dates (``DatetimeIndex``) by tickers.
    :param start_cutoff: the cutoff the orders were placed at.
    :param end_cutoff: the next cutoff.
    :return: ``(returns by ticker, first date, last date)``; a ticker without a close on either side is left out.
    :raises DataError: no trading day in ``[start_cutoff, end_cutoff)`` or none before ``start_cutoff``.
    """
    import pandas as pd

    index = closes.index
    before = index[index < pd.Timestamp(start_cutoff)]
    upto = index[index < pd.Timestamp(end_cutoff)]
    if len(before) == 0 or len(upto) == 0 or upto[-1] <= before[-1]:
        raise DataError(
            f"no trading day between cutoffs {start_cutoff} and {end_cutoff} in the prices "
            f"({index.min().date() if len(index) else '-'}..{index.max().date() if len(index) else '-'}); "
            "the week cannot be marked yet: rerun once its prices are in"
        )
    p0 = closes.loc[: before[-1]].ffill().iloc[-1]
    p1 = closes.loc[: upto[-1]].ffill().iloc[-1]
    r = (p1 / p0 - 1.0).astype(float)
    out = {str(t): float(v) for t, v in r.items() if math.isfinite(v)}
    return out, before[-1].date(), upto[-1].date()


def mark_week(
    weights: Mapping[str, float],
    returns: Mapping[str, float],
    *,
    previous_weights: Mapping[str, float] | None = None,
    universe: Iterable[str] = (),
    benchmark: str | None = "SPY",
    cost_bps: float = 5.0,
    slippage_bps: float = 5.0,
) -> WeekMark:
    """Mark one week's target ``weights`` to market with the week's ``returns`` (see the module's formulas).

    :param weights: target weight by ticker (the rest is cash).
    :param returns: each ticker's return over the week (:func:`week_returns`).
    :param previous_weights: the previous week's target weights; None = from cash.
    :param universe: tickers of the universe 1/N benchmark (those without a return are left out).
    :param benchmark: the index ticker; None or absent from ``returns`` gives None.
    :param cost_bps: commission in basis points of traded notional.
    :param slippage_bps: slippage in basis points of traded notional.
    :raises DataError: an ordered ticker has no return for the week.
    """
    missing = sorted(t for t in weights if t not in returns)
    if missing:
        raise DataError(f"no price for ordered ticker(s) {missing} over the week; the orders cannot be marked (check the price source)")
    prev = previous_weights or {}
    contributions = {t: float(w) * float(returns[t]) for t, w in weights.items()}
    gross = float(sum(contributions.values()))
    turnover = float(sum(abs(float(weights.get(t, 0.0)) - float(prev.get(t, 0.0))) for t in set(weights) | set(prev)))
    net = gross - (cost_bps + slippage_bps) / 1e4 * turnover
    exposure = float(sum(weights.values()))
    own = exposure * float(np.mean([returns[t] for t in weights])) if weights else 0.0
    uni = [returns[t] for t in universe if t in returns]
    return WeekMark(
        gross_return=gross,
        net_return=net,
        turnover=turnover,
        exposure=exposure,
        own_1n_return=own,
        universe_1n_return=float(np.mean(uni)) if uni else None,
        benchmark_return=float(returns[benchmark]) if benchmark and benchmark in returns else None,
        contributions=contributions,
    )


# -- the record ---------------------------------------------------------------------------------------------

BENCHMARKS = ("own_1n", "universe_1n", "benchmark")
"""The bars of the record: 1/N of the order's own tickers, 1/N of the universe, the index."""


@dataclass(frozen=True)
class ForwardRecord:
    """The forward track record from the paper ledger.

    :param rows: per week: ``week``, ``status``, ``model_id``, ``net_return``, ``cumulative`` (compounded net
        since inception, gaps flat), each benchmark's return and cumulative, ``reason``.
    :param weeks: ledger weeks; ``marked`` of them had orders, ``gaps`` did not.
    :param cumulative_return: compounded net return of the marked weeks.
    :param sharpe: annualised Sharpe of the weekly net returns (``mean/std · √52``); None with < 2 weeks.
    :param max_drawdown: worst peak-to-trough fall of the net equity curve (≤ 0).
    :param deflated_sharpe: probability that the weekly Sharpe beats what luck gives over ``n_trials``
        sequences (:func:`~autotest_lib.evaluate.metrics.deflated_sharpe_ratio`); None when undefined.
    :param beats: weeks whose net return beat each benchmark (of the marked weeks with that benchmark).
    :param benchmark_cumulative: compounded return of each benchmark over the marked weeks.
    """

    rows: tuple[dict[str, Any], ...]
    weeks: int
    marked: int
    gaps: int
    cumulative_return: float
    mean_weekly_net: float | None
    sharpe: float | None
    max_drawdown: float
    deflated_sharpe: float | None
    n_trials: int
    beats: dict[str, int]
    benchmark_cumulative: dict[str, float]

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


def _none_if_nan(x: float) -> float | None:
    return float(x) if math.isfinite(x) else None


def forward_record(entries: Sequence[Any], *, n_trials: int = 1, trial_sharpes: Sequence[float] | None = None) -> ForwardRecord:
    """Summarise ledger weeks (:class:`~autotest_lib.registry.PaperWeekRecord` or anything with its fields).

    :param entries: ledger weeks, any order (sorted by week here).
    :param n_trials: sequences the deployed one was chosen from, for the deflated Sharpe (1 = none: DSR = PSR(0)).
    :param trial_sharpes: their per-week Sharpe ratios (needed when ``n_trials > 1``).
    """

    entries = sorted(entries, key=lambda e: e.week)
    rows: list[dict[str, Any]] = []
    growth = dict.fromkeys(("net", *BENCHMARKS), 1.0)
    beats = dict.fromkeys(BENCHMARKS, 0)
    net: list[float] = []
    for e in entries:
        marked = e.status == "marked" and e.net_return is not None
        bench = {"own_1n": e.own_1n_return, "universe_1n": e.universe_1n_return, "benchmark": e.benchmark_return}
        if marked:
            net.append(float(e.net_return))
            growth["net"] *= 1.0 + e.net_return
            for name, value in bench.items():
                if value is not None:
                    growth[name] *= 1.0 + value
                    beats[name] += int(e.net_return > value)
        rows.append(
            {
                "week": e.week,
                "status": e.status,
                "model_id": e.model_id,
                "net_return": e.net_return if marked else None,
                "gross_return": e.gross_return if marked else None,
                "turnover": e.turnover if marked else None,
                "cumulative": growth["net"] - 1.0,
                **{f"{k}_return": v if marked else None for k, v in bench.items()},
                **{f"{k}_cumulative": growth[k] - 1.0 for k in BENCHMARKS},
                "reason": e.reason,
            }
        )
    r = np.asarray(net, dtype=float)
    dsr = math.nan
    if r.size > 2:
        try:
            dsr = deflated_sharpe_ratio(r, n_trials=n_trials, trial_sharpes=trial_sharpes)
        except ValueError:
            dsr = math.nan
    return ForwardRecord(
        rows=tuple(rows),
        weeks=len(entries),
        marked=int(r.size),
        gaps=len(entries) - int(r.size),
        cumulative_return=growth["net"] - 1.0,
        mean_weekly_net=float(r.mean()) if r.size else None,
        sharpe=_none_if_nan(sharpe_ratio(r, periods_per_year=WEEKS_PER_YEAR)),
        max_drawdown=max_drawdown(r),
        deflated_sharpe=_none_if_nan(dsr),
        n_trials=n_trials,
        beats=beats,
        benchmark_cumulative={k: growth[k] - 1.0 for k in BENCHMARKS},
    )


# -- reading orders and prices, writing the ledger ----------------------------------------------------------


def _orders_by_week(runs_dir: Path, before: dt.date) -> dict[dt.date, Path]:
    out = {}
    for path in sorted(Path(runs_dir).glob("*/orders/orders.json")):
        try:
            week = dt.date.fromisoformat(path.parent.parent.name)
        except ValueError:
            continue
        if week < before:
            out[week] = path
    return out


def _gap_reason(store: Any, week: dt.date) -> str:
    record = store.get_week(week)
    if record is None:
        return f"no run for week {week}: skipped, so no orders"
    if record.status == "failed":
        return f"week {week} run failed before its orders"
    return f"week {week} run has no orders (status {record.status})"


def _closes(tickers: Iterable[str], required: set[str], start: dt.date, cutoff: dt.date, source: str) -> Any:
    """Adjusted closes (dates x tickers) in ``[start, cutoff)``; a ticker not listed then is left out unless required."""
    import pandas as pd

    frames = [load_prices(sorted(required), cutoff=cutoff, start=start, source=source)] if required else []
    for ticker in sorted(set(tickers) - required):
        try:
            frames.append(load_prices([ticker], cutoff=cutoff, start=start, source=source))
        except DataError as exc:
            if not is_permanent(exc):
                raise  # the source did not answer: the task's retry may get it
            continue  # e.g. a universe ticker listed later than this week: left out of the universe 1/N
    frame = pd.concat(frames, ignore_index=True)
    return frame.pivot_table(index="date", columns="ticker", values="adj_close").sort_index()


def update_ledger(
    store: Any,
    cutoff: dt.date,
    runs_dir: Path,
    *,
    universe: Sequence[str],
    benchmark: str = "SPY",
    cost_bps: float = 5.0,
    slippage_bps: float = 5.0,
    source: str = "bundled",
) -> tuple[Any, ...]:
    """Mark every week whose following week has ended by ``cutoff`` and is not marked yet; record gaps.

    The weeks are the 7-day grid from the first week with orders (inception) up to ``cutoff - 7``; a week
    already ``marked`` is left as it is, a gap is looked at again (a late backfill may have given it orders).
    Only prices strictly before ``cutoff`` are read.

    :param store: the lineage store.
    :param cutoff: this week's cutoff.
    :param runs_dir: ``<home>/runs``, holding each week's ``orders/orders.json``.
    :param universe: the universe 1/N benchmark's tickers.
    :param benchmark: the index ticker.
    :param cost_bps: commission in bps of traded notional.
    :param slippage_bps: slippage in bps of traded notional.
    :param source: the price source.
    :return: the ledger rows written now (oldest first).
    """
    orders = _orders_by_week(runs_dir, cutoff)
    if not orders:
        return ()
    inception = min(orders)
    done = {e.week for e in store.paper_ledger() if e.status == "marked"}
    grid = []
    week = inception
    while week + STEP <= cutoff:
        if week not in done:
            grid.append(week)
        week += STEP
    if not grid:
        return ()
    parsed = {w: read_orders(orders[w]) for w in grid if w in orders}
    written = []
    closes = None
    if parsed:
        required = {t for o in parsed.values() for t in o.weights} | {benchmark}
        closes = _closes([*universe, *required], required, min(parsed) - dt.timedelta(days=14), cutoff, source)
    for week in grid:
        if week not in parsed:
            written.append(store.upsert_paper_week(week, status="gap", reason=_gap_reason(store, week)))
            continue
        o = parsed[week]
        prev_path = orders.get(week - STEP)
        previous = read_orders(prev_path).weights if prev_path is not None else None
        returns, first, last = week_returns(closes, week, week + STEP)
        mark = mark_week(
            o.weights,
            returns,
            previous_weights=previous,
            universe=universe,
            benchmark=benchmark,
            cost_bps=cost_bps,
            slippage_bps=slippage_bps,
        )
        written.append(
            store.upsert_paper_week(
                week,
                status="marked",
                reason=o.rule,
                model_id=o.model_id,
                start_date=first,
                end_date=last,
                gross_return=mark.gross_return,
                net_return=mark.net_return,
                turnover=mark.turnover,
                exposure=mark.exposure,
                own_1n_return=mark.own_1n_return,
                universe_1n_return=mark.universe_1n_return,
                benchmark_return=mark.benchmark_return,
                weights=o.weights,
                contributions=mark.contributions,
            )
        )
    return tuple(written)
