"""The functions the weekly DAG's tasks call: each takes small JSON, does one step, returns small JSON.

The week made by :func:`start_week` travels to every task as XCom (:meth:`WeekContext.to_xcom`): the cutoff,
the preset name and params, the windows and the home folder; never DataFrames or models. Every function is
idempotent for a given week: a retried or re-run task leaves the registry and the output folder as if it
ran once.
"""

from __future__ import annotations

import datetime as dt
import json
import logging
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from autotest_lib.config import run_preset
from autotest_lib.curriculum import curriculum_slots, promotable
from autotest_lib.data import load_prices
from autotest_lib.errors import PermanentDataError, WeekError, WeekSkipped
from autotest_lib.evaluate.metrics import deflated_sharpe_ratio
from autotest_lib.paper import prepare_orders
from autotest_lib.paper.ledger import read_orders, update_ledger
from autotest_lib.pbt import superseded_versions
from autotest_lib.regime import current_regime
from autotest_lib.registry import EventKind, LineageStore, ModelStatus, Role, WeekStatus
from autotest_lib.report import write_weekly_report
from autotest_lib.runs import WeekContext, WeekPaths, autotest_home, run_cutoff, week_windows
from autotest_lib.runs.records import record_training, record_validation, register_spec, universe_with_history
from autotest_lib.runs.store import migrate, open_store
from autotest_lib.train import train
from autotest_lib.weekly.guards import (
    TrainingOutcome,
    check_week_order,
    effective_steps,
    later_selected_weeks,
    needed_by_later_weeks,
    training_outcome,
)
from autotest_lib.weekly.plan import WeekPlan, config_hash, model_id_for, plan_week
from autotest_lib.weekly.select import select_week
from autotest_lib.weekly.walltime import check_wall_time

__all__ = [
    "backtest_one",
    "candidates",
    "ingest",
    "mark_ledger",
    "migrate",
    "paper_trades",
    "plan",
    "report",
    "select",
    "start_week",
    "train_one",
]

log = logging.getLogger(__name__)

MAX_STALE_DAYS = 10
"""The newest price before a cutoff may be this many days old (a long weekend plus a holiday week); older: refused."""
WEEKLY_ROLES = (Role.EXPLORER, Role.REFINER, Role.CHAMPION)
"""The roles the weekly DAG trains, one mapped training task group each."""


def start_week(params: dict[str, Any], data_interval_end: dt.datetime | None, *, today: dt.date | None = None) -> dict[str, Any]:
    """Fix the week: its cutoff is the run's data-interval end, never the clock (see
    :func:`~autotest_lib.runs.run_cutoff` for manual runs). The params are validated here by loading the
    preset with them, and a ``timesteps_scale`` that leaves a role under one PPO rollout is refused
    (:func:`~autotest_lib.weekly.guards.effective_steps`). Returns the :class:`~autotest_lib.runs.WeekContext` as XCom.
    """
    cutoff = run_cutoff(data_interval_end, today=today)
    preset_name = params.get("preset", "demo")
    tickers = tuple(params["tickers"]) if params.get("tickers") else None
    seed, scale = int(params.get("seed", 0)), float(params.get("timesteps_scale", 1.0))
    steps = effective_steps(run_preset(preset_name, seed=seed, tickers=tickers), scale)
    preset = run_preset(preset_name, seed=seed, tickers=tickers, timesteps_scale=scale)
    week = WeekContext(
        cutoff=cutoff,
        preset=preset_name,
        windows=week_windows(cutoff, preset),
        home=autotest_home(),
        seed=seed,
        timesteps_scale=scale,
        tickers=tickers,
    )
    week.paths.run_dir.mkdir(parents=True, exist_ok=True)
    log.info("week %s: preset %s, source %s, windows %s", cutoff, preset.name, preset.data.source, week.windows.as_dict())
    for line in steps:
        log.info("training budget: %s", line)
    return week.to_xcom()


def ingest(week: dict[str, Any]) -> dict[str, Any]:
    """Load and validate every price the week may use (strictly before the cutoff); cache for the tasks."""
    ctx = WeekContext.from_xcom(week)
    preset = ctx.load_preset()
    tickers = sorted({*preset.data.universe, preset.data.benchmark})
    # fresh: every ticker has the last trading session before the cutoff (a stale source fails, never retried)
    frame = load_prices(tickers, cutoff=ctx.cutoff, start=preset.data.earliest, source=preset.data.source, fresh=True)
    last = frame["date"].max()
    stale = (ctx.cutoff - last.date()).days
    if stale > MAX_STALE_DAYS:
        raise PermanentDataError(
            f"week {ctx.cutoff}: the newest price before the cutoff is {last.date()} ({stale} days old, over "
            f"{MAX_STALE_DAYS}): source {preset.data.source!r} does not cover this week; run a week up to "
            f"{last.date() + dt.timedelta(days=MAX_STALE_DAYS)} or another data source (AUTOTEST_DATA_SOURCE)"
        )
    firsts = frame.groupby("ticker")["date"].min()
    return {
        "rows": len(frame),
        "tickers": len(tickers),
        "last_date": last.date().isoformat(),
        "first_dates": {t: d.date().isoformat() for t, d in firsts.items()},
    }


def mark_ledger(week: dict[str, Any]) -> dict[str, Any]:
    """Mark the earlier weeks' paper orders to market up to this cutoff (gaps recorded with their reason)."""
    ctx = WeekContext.from_xcom(week)
    preset = ctx.load_preset()
    env, data = preset.env, preset.data
    costs = {"cost_bps": env.cost_bps, "slippage_bps": env.slippage_bps}
    runs = ctx.paths.run_dir.parent
    rows = update_ledger(open_store(), ctx.cutoff, runs, universe=data.universe, benchmark=data.benchmark, source=data.source, **costs)
    return {
        "marked": [r.week.isoformat() for r in rows if r.status == "marked"],
        "gaps": [r.week.isoformat() for r in rows if r.status == "gap"],
    }


def plan(week: dict[str, Any]) -> dict[str, list[str]]:
    """Plan the week, record it (week row + planned model rows), return model ids by role.

    A re-run of a week planned with the same config reuses the recorded plan: later weeks may have pruned
    the bundles it was made from, and the week must end up as if it ran once. A week already followed by
    selected later weeks is replayed (nothing trains; its selection and orders stay as recorded) or refused
    (:func:`~autotest_lib.weekly.guards.check_week_order`).
    """
    ctx = WeekContext.from_xcom(week)
    preset = ctx.load_preset()
    store = open_store()
    cutoff = ctx.cutoff
    digest = config_hash(preset)
    replay = check_week_order(store, cutoff, digest)
    if replay:
        log.info("%s", replay)
        return {str(role): [] for role in WEEKLY_ROLES} | {"notes": [replay]}
    existing = store.get_week(cutoff)
    if existing is not None and existing.config_hash == digest and existing.plan.get("specs"):
        week_plan = WeekPlan.from_json(existing.plan)
        log.info("week %s was planned before with the same config: reusing its plan (%d models)", cutoff, len(week_plan.specs))
    else:
        universe = universe_with_history(preset, ctx.windows.train_end)
        week_plan = plan_week(cutoff, preset, store, seed=ctx.seed, universe=universe)
        check_wall_time(store, [spec.timesteps for spec in week_plan.specs], before=cutoff)
        store.upsert_week(
            week=cutoff, cutoff=cutoff, preset=preset.name, config_hash=digest, status=WeekStatus.RUNNING, plan=week_plan.as_json()
        )
    for spec in week_plan.specs:
        known = store.get_model(spec.model_id)
        if known is not None and known.status not in ModelStatus.untrained():
            continue  # trained in an earlier run of this week: leave its state alone
        register_spec(store, spec, status=ModelStatus.PLANNED, created_week=cutoff, stage=week_plan.stages.get(spec.model_id))
    for promotion in week_plan.promotions:
        store.record_event(cutoff, EventKind.PROMOTION, model_id=promotion["model_id"], payload=promotion)
    for slot in week_plan.elite:  # which elite slot each champion continuation fills
        store.record_event(cutoff, EventKind.CHAMPION_SLOT, model_id=model_id_for(cutoff, Role.CHAMPION, slot.slot), payload=slot.as_dict())
    for note in week_plan.notes:
        log.info("plan: %s", note)
    return {str(role): week_plan.ids(role) for role in WEEKLY_ROLES} | {"notes": list(week_plan.notes)}


def _week_plan(store: LineageStore, cutoff: dt.date) -> WeekPlan:
    record = store.get_week(cutoff)
    if record is None:
        raise LookupError(f"week {cutoff} has no recorded plan; run its plan_week task first")
    return WeekPlan.from_json(record.plan)


def train_one(week: dict[str, Any], model_id: str) -> dict[str, Any]:
    """Train one planned model (resuming from its checkpoint on retry) and record the run."""
    ctx = WeekContext.from_xcom(week)
    store = open_store()
    week_plan = _week_plan(store, ctx.cutoff)
    spec = week_plan.by_id()[model_id]
    known = store.get_model(model_id)
    if known is not None and known.status not in ModelStatus.untrained():
        log.info("%s was trained in an earlier run of this week (%s): nothing to do", model_id, known.status)
        return {"model_id": model_id, "bundle_uri": known.bundle_uri, "cumulative_timesteps": known.cumulative_timesteps}
    try:
        result = train(spec, ctx.paths.model_dir(model_id))
    except Exception as exc:  # any failure: record it on the model, then let Airflow see it
        store.set_model_status(model_id, ModelStatus.FAILED, f"training failed: {type(exc).__name__}: {exc}")
        raise
    record_training(store, spec, result, stage=week_plan.stages.get(model_id))
    return {"model_id": model_id, "bundle_uri": result.bundle_uri, "cumulative_timesteps": result.cumulative_timesteps}


def candidates(week: dict[str, Any]) -> list[str]:
    """Models to backtest this week: the ones trained now, plus the parents of continued ones (so the
    rollback guard compares child and parent on the same window), plus last week's paper-traded model and
    champion (so the week they traded is measured: the regime-switching comparison of the report). Failed
    trainings are left out (marked ``failed``); when none of the plan trained, the week stops here
    (:class:`~autotest_lib.errors.WeekSkipped`, week ``failed``): see :mod:`autotest_lib.weekly.guards`."""
    store = open_store()
    cutoff = WeekContext.from_xcom(week).cutoff
    outcome = _training_outcome(store, cutoff)
    for mid in outcome.failed:
        model = store.get_model(mid)
        if model is not None and model.status != ModelStatus.FAILED:
            store.set_model_status(mid, ModelStatus.FAILED, "training did not finish this week")
    if not outcome.usable:
        store.set_week_status(cutoff, WeekStatus.FAILED)
        raise WeekSkipped(
            f"week {cutoff}: {outcome.describe()}; no backtests, selection, pruning or orders this week "
            "(clear the failed training tasks to retry them)"
        )
    log.info("week %s: %s", cutoff, outcome.describe())
    return _candidate_ids(store, cutoff)


def _training_outcome(store: LineageStore, cutoff: dt.date) -> TrainingOutcome:
    planned = [s.model_id for s in _week_plan(store, cutoff).specs]
    statuses = {m.model_id: str(m.status) for m in store.list_models(week=cutoff)}
    return training_outcome(planned, statuses)


def _candidate_ids(store: LineageStore, cutoff: dt.date) -> list[str]:
    week_models = store.list_models(week=cutoff)
    # a PBT member has a version per round: only its latest version of the week competes here
    superseded = superseded_versions(m.model_id for m in week_models if m.role == Role.PBT)
    trained = [m for m in week_models if m.status not in ModelStatus.untrained() and m.model_id not in superseded]
    ids = {m.model_id for m in trained}
    ids |= {m.parent_id for m in trained if m.parent_id}
    evaluated = {e.model_id for e in store.evaluations(week=cutoff, window="validation")}
    for mid in _previous_picks(store, cutoff):
        model = store.get_model(mid)
        if model is not None and (mid in evaluated or (model.bundle_uri and Path(model.bundle_uri, "manifest.json").is_file())):
            ids.add(mid)
    return sorted(ids)


def _previous_picks(store: LineageStore, cutoff: dt.date) -> list[str]:
    """The model paper-traded after the latest earlier week, and that week's champion (its fallback)."""
    picks = [e for e in store.events(kind=EventKind.PAPER_PICK) if e.week < cutoff]
    if not picks:
        return []
    last = max(picks, key=lambda e: e.week)
    return [m for m in dict.fromkeys([last.model_id, last.payload.get("champion_id")]) if m]


def backtest_one(week: dict[str, Any], model_id: str) -> dict[str, Any]:
    """Backtest one model on the week's validation window, record the evaluation, keep the daily series."""
    ctx = WeekContext.from_xcom(week)
    store = open_store()
    done = store.evaluations(model_id=model_id, week=ctx.cutoff, window="validation")
    if done and ctx.paths.backtest_series(model_id).is_file():
        log.info("%s was evaluated on this window in an earlier run of this week: keeping it", model_id)
        return {"model_id": model_id, "score": done[0].score}
    n_trials = len(_candidate_ids(store, ctx.cutoff))
    model = store.get_model(model_id)
    if model is None or not model.bundle_uri:
        raise LookupError(f"{model_id} has no bundle in the registry; it cannot be backtested (was it trained this week?)")
    value = record_validation(store, ctx, model_id, model.bundle_uri, ctx.load_preset(), n_trials=n_trials)
    return {"model_id": model_id, "score": value}


def select(week: dict[str, Any]) -> dict[str, Any]:
    """Deflate Sharpe across the week's trials, then rollback guard, champion rule, regime pick, archive
    (keeping the curriculum models next week promotes and whatever later weeks use).

    Recorded once as a ``selection`` event: a re-run replays it once the week was complete or later weeks
    were selected. A partial week (a training or a backtest failed) selects without pruning the archive, and
    is selected again when re-run; see :mod:`autotest_lib.weekly.guards`.
    """
    ctx = WeekContext.from_xcom(week)
    preset = ctx.load_preset()
    store = open_store()
    cutoff = ctx.cutoff
    recorded = store.events(kind=EventKind.SELECTION, week=cutoff)
    later = later_selected_weeks(store, cutoff)
    if recorded and (later or recorded[0].payload.get("complete")):
        log.info("week %s was selected before (%s): keeping that selection", cutoff, "later weeks followed" if later else "complete")
        return dict(recorded[0].payload)
    if later:  # selected before selection events were recorded (plan refuses a week never selected)
        if not ctx.paths.selection.is_file():
            raise WeekError(f"week {cutoff}: later weeks were selected but this week's selection is not recorded; re-run weeks in order")
        return dict(json.loads(ctx.paths.selection.read_text()))
    evaluated = {e.model_id for e in store.evaluations(week=cutoff, window="validation")}
    if not evaluated:
        raise WeekSkipped(f"week {cutoff}: no model was measured (every backtest failed); no selection, pruning or orders")
    outcome = _training_outcome(store, cutoff)
    unmeasured = sorted(set(_candidate_ids(store, cutoff)) - evaluated)
    complete = outcome.complete and not unmeasured
    _deflate(store, ctx)
    regime = current_regime(cutoff, preset.regimes, benchmark=preset.data.benchmark, source=preset.data.source)
    promotions = promotable(store, cutoff, preset)[: curriculum_slots(preset)]
    out = select_week(
        store,
        cutoff,
        threshold=preset.rollback_threshold,
        min_dsr=preset.champion_min_dsr,
        keep_top_n=preset.keep_top_n,
        next_refiners=preset.refiners.count,
        next_champions=preset.champion.count,
        home=ctx.home,
        regime=regime.regime,
        min_evidence_days=preset.regimes.min_evidence_days,
        also_keep=[*(p.model_id for p in promotions), *sorted(needed_by_later_weeks(store, cutoff))],
        beat_own_1n=preset.champion_must_beat_own_1n,
        prune=complete,
    )
    out["regime"] = regime.as_dict()
    out["promotable"] = [{"model_id": p.model_id, "stage": p.stage, "reason": p.check.reason} for p in promotions]
    out["complete"] = complete
    out["training"] = outcome.describe()
    out["unmeasured"] = unmeasured
    if not complete:
        log.warning("week %s is partial (%s; unmeasured: %s): selected without pruning the archive", cutoff, outcome.describe(), unmeasured)
    store.record_event(cutoff, EventKind.SELECTION, payload=out)
    ctx.paths.selection.write_text(json.dumps(out, indent=2))
    return out


def _deflate(store: LineageStore, ctx: WeekContext) -> None:
    """Recompute each evaluation's DSR against every model compared this week (number of trials and the
    variance of their per-period Sharpe ratios), from the daily series the backtests saved."""
    evals = store.evaluations(week=ctx.cutoff, window="validation")
    series = {}
    for e in evals:
        path = ctx.paths.backtest_series(e.model_id)
        if path.is_file():
            series[e.model_id] = pd.read_csv(path)["return"].to_numpy(dtype=float)
    if len(series) < 2:
        return
    per_period = [float(np.mean(r) / np.std(r, ddof=1)) for r in series.values() if len(r) > 2 and np.std(r, ddof=1) > 0]
    if len(per_period) < 2:
        log.warning("week %s: fewer than 2 models with varying returns; the deflated Sharpe ratio stays undefined (0)", ctx.cutoff)
        return
    for e in evals:
        if e.model_id not in series:
            continue
        metrics = dict(e.metrics)
        dsr = deflated_sharpe_ratio(series[e.model_id], n_trials=len(series), trial_sharpes=per_period)
        metrics["dsr"] = float(dsr) if np.isfinite(dsr) else 0.0  # a flat series has no defined DSR
        metrics["n_trials"] = len(series)
        store.record_evaluation(
            model_id=e.model_id,
            week=e.week,
            window=e.window_name,
            window_start=e.window_start,
            window_end=e.window_end,
            metrics=metrics,
            benchmarks=e.benchmarks,
            score=e.score,
            n_trials=len(series),
            by_regime=e.by_regime,
        )


def paper_trades(week: dict[str, Any]) -> dict[str, Any]:
    """Orders for the coming week from the model the regime rule picks (else the champion), as CSV and JSON in
    the week's folder; with ``regimes.switch_margin`` the tickers of last week's orders are kept unless the pick is
    that much better (:func:`~autotest_lib.paper.orders.hold_or_switch`). A ``paper_pick`` event records the model,
    the regime, the rule and the selection they follow. A re-run after the same selection keeps the orders written
    the first time."""
    ctx = WeekContext.from_xcom(week)
    store = open_store()
    preset = ctx.load_preset()
    selection = _selection_digest(store, ctx.cutoff)
    recorded = ctx.paths.orders / "orders.json"
    picks = [e for e in store.events(kind=EventKind.PAPER_PICK, week=ctx.cutoff) if selection and e.payload.get("selection") == selection]
    if picks and recorded.is_file():
        first = json.loads(recorded.read_text())
        log.info("week %s: orders were written after this same selection; keeping them (%s)", ctx.cutoff, first["model_id"])
        return {k: first[k] for k in ("model_id", "regime", "rule")} | {"csv": str(recorded.with_name("orders.csv")), "json": str(recorded)}
    held = WeekPaths(ctx.paths.home, ctx.cutoff - dt.timedelta(days=7)).orders / "orders.json"  # what the account holds
    orders = prepare_orders(
        store,
        ctx.cutoff,
        ctx.paths.orders,
        source=preset.data.source,
        regimes=preset.regimes,
        benchmark=preset.data.benchmark,
        universe_fallback=preset.data.universe if preset.orders_fallback_universe_1n else None,
        held_tickers=[t for t, w in read_orders(held).weights.items() if w > 0] if held.is_file() else None,
    )
    store.record_event(
        ctx.cutoff,
        EventKind.PAPER_PICK,
        model_id=orders.model_id,
        payload={
            "regime": orders.regime,
            "rule": orders.rule,
            "kind": str(orders.kind),
            "champion_id": orders.champion_id,
            "selection": selection,
        },
    )
    return {
        "model_id": orders.model_id,
        "regime": orders.regime,
        "rule": orders.rule,
        "csv": str(orders.csv_path),
        "json": str(orders.json_path),
    }


def _selection_digest(store: LineageStore, cutoff: dt.date) -> str | None:
    """A digest of the week's recorded selection: orders follow one selection."""
    import hashlib

    recorded = store.events(kind=EventKind.SELECTION, week=cutoff)
    if not recorded:
        return None
    return hashlib.sha256(json.dumps(recorded[0].payload, sort_keys=True, default=str).encode()).hexdigest()[:16]


def report(week: dict[str, Any], run_id: str | None = None) -> dict[str, Any]:
    """The weekly HTML report with its PNG plots; ``run_id`` (the Airflow run's) and the run params go in its header."""
    ctx = WeekContext.from_xcom(week)
    store = open_store()
    # the report is the week's last step: mark the week done first, so the page shows its final status
    store.set_week_status(ctx.cutoff, WeekStatus.DONE)
    params = {"preset": ctx.preset, "timesteps_scale": ctx.timesteps_scale, "tickers": ctx.tickers, "seed": ctx.seed}
    run = {"run_id": run_id, "params": {k: v for k, v in params.items() if v is not None}}
    path = write_weekly_report(store, ctx.cutoff, ctx.paths.run_dir, ctx.load_preset(), run=run)
    return {"report": str(path)}
