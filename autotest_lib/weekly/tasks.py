"""The functions the weekly DAG's tasks call: each takes small JSON, does one step, returns small JSON.

The ``week`` dict made by :func:`start_week` travels to every task (via XCom). It carries the cutoff, the
preset name and overrides, and paths; never DataFrames or models. Every function is idempotent for a
given week: a retried or re-run task leaves the registry and the output folder as if it ran once.
"""

from __future__ import annotations

import datetime as dt
import json
import logging
import os
from pathlib import Path
from typing import Any

from autotest_lib.config import Preset, load_preset, scaled
from autotest_lib.errors import PermanentDataError

__all__ = [
    "backtest_one",
    "candidates",
    "ingest",
    "migrate",
    "paper_trades",
    "plan",
    "preset_for",
    "report",
    "select",
    "start_week",
    "train_one",
]

log = logging.getLogger(__name__)

PAPER_PICK = "paper_pick"
"""Event kind recording which model a week's orders use, the regime and the rule that picked it."""


def autotest_home() -> Path:
    """Root of week outputs and the archive: ``$AUTOTEST_HOME`` (default ``./var``)."""
    return Path(os.environ.get("AUTOTEST_HOME", "var")).resolve()


def _store():
    from autotest_lib.registry import LineageStore, resolve_db_url

    return LineageStore(resolve_db_url())


def _cutoff(week: dict[str, Any]) -> dt.date:
    return dt.date.fromisoformat(week["cutoff"])


def week_dir(week: dict[str, Any]) -> Path:
    return Path(week["home"]) / "runs" / week["cutoff"]


def preset_for(week: dict[str, Any]) -> Preset:
    """The week's preset with its run params applied (ticker override, timesteps scale, seed)."""
    overrides: dict[str, Any] = {"seed": week["seed"]}
    if week.get("tickers"):
        tickers = list(week["tickers"])
        base = load_preset(week["preset"])
        lo, hi = base.data.tickers_per_model
        overrides["data"] = {"universe": tickers, "tickers_per_model": [min(lo, len(tickers)), min(hi, len(tickers))]}
        if base.curriculum.explorer_share > 0:  # curriculum stages shrink to the overridden universe too
            overrides["curriculum"] = {
                "stages": [
                    s.model_dump(mode="json") | {"tickers": [min(s.tickers[0], len(tickers)), min(s.tickers[1], len(tickers))]}
                    for s in base.curriculum.stages
                ]
            }
    preset = load_preset(week["preset"], overrides)
    return scaled(preset, float(week["timesteps_scale"])) if week["timesteps_scale"] != 1 else preset


def migrate() -> dict[str, Any]:
    """Bring the lineage database to the latest Alembic revision."""
    from autotest_lib.registry import mask_url, resolve_db_url, upgrade

    url = resolve_db_url()
    upgrade(url)
    return {"db": mask_url(url)}


def start_week(params: dict[str, Any], data_interval_end: dt.datetime | None, *, today: dt.date | None = None) -> dict[str, Any]:
    """Fix the week: its cutoff is the run's data-interval end, never the clock.

    A manual run without a logical date has no interval; it uses the last completed week (the latest
    Sunday) and says so in the log. The params are validated here by loading the preset with them.
    """
    from autotest_lib.weekly.windows import last_completed_week, week_windows

    if data_interval_end is None:
        cutoff = last_completed_week(today or dt.datetime.now(dt.UTC).date())
        log.warning("run has no data interval (manual run without a logical date): using the last completed week, cutoff %s", cutoff)
    else:
        cutoff = data_interval_end.date()
    week = {
        "cutoff": cutoff.isoformat(),
        "preset": params.get("preset", "demo"),
        "timesteps_scale": float(params.get("timesteps_scale", 1.0)),
        "tickers": list(params["tickers"]) if params.get("tickers") else None,
        "seed": int(params.get("seed", 0)),
        "home": str(autotest_home()),
    }
    preset = preset_for(week)
    week["windows"] = week_windows(cutoff, preset).as_dict()
    week_dir(week).mkdir(parents=True, exist_ok=True)
    log.info("week %s: preset %s, windows %s", cutoff, preset.name, week["windows"])
    return week


def ingest(week: dict[str, Any]) -> dict[str, Any]:
    """Load and validate every price the week may use (strictly before the cutoff); cache for the tasks."""
    from autotest_lib.data import load_prices

    preset = preset_for(week)
    tickers = sorted({*preset.data.universe, preset.data.benchmark})
    # fresh: every ticker has the last trading session before the cutoff (a stale source fails, never retried)
    frame = load_prices(tickers, cutoff=_cutoff(week), start=preset.data.earliest, source=preset.data.source, fresh=True)
    last = frame["date"].max()
    stale = (_cutoff(week) - last.date()).days
    if stale > 10:
        raise PermanentDataError(
            f"the newest price before cutoff {week['cutoff']} is {last.date()} ({stale} days old): the source "
            f"{preset.data.source!r} has no recent data for this week; pick an earlier week or another data.source"
        )
    firsts = frame.groupby("ticker")["date"].min()
    return {
        "rows": len(frame),
        "tickers": len(tickers),
        "last_date": last.date().isoformat(),
        "first_dates": {t: d.date().isoformat() for t, d in firsts.items()},
    }


def _universe_with_history(week: dict[str, Any], preset: Preset) -> list[str]:
    """Universe tickers listed at least a year before the training window ends (so they can be learnt)."""
    from autotest_lib.data import load_prices

    train_end = dt.date.fromisoformat(week["windows"]["train_end"])
    frame = load_prices(list(preset.data.universe), cutoff=train_end, start=preset.data.earliest, source=preset.data.source)
    firsts = frame.groupby("ticker")["date"].min()
    limit = train_end - dt.timedelta(days=365)
    return sorted(t for t, d in firsts.items() if d.date() <= limit)


def plan(week: dict[str, Any]) -> dict[str, list[str]]:
    """Plan the week, record it (week row + planned model rows), return model ids by role.

    A re-run of a week planned with the same config reuses the recorded plan: later weeks may have pruned
    the bundles it was made from, and the week must end up as if it ran once.
    """
    from autotest_lib.weekly.plan import WeekPlan, config_hash, plan_week

    preset = preset_for(week)
    store = _store()
    cutoff = _cutoff(week)
    digest = config_hash(preset)
    existing = store.get_week(cutoff)
    if existing is not None and existing.config_hash == digest and existing.plan.get("specs"):
        week_plan = WeekPlan.from_json(existing.plan)
        log.info("week %s was planned before with the same config: reusing its plan (%d models)", cutoff, len(week_plan.specs))
    else:
        week_plan = plan_week(cutoff, preset, store, seed=week["seed"], universe=_universe_with_history(week, preset))
        store.upsert_week(week=cutoff, cutoff=cutoff, preset=preset.name, config_hash=digest, status="running", plan=week_plan.as_json())
    for spec in week_plan.specs:
        known = store.get_model(spec.model_id)
        if known is not None and known.status not in ("planned", "failed"):
            continue  # trained in an earlier run of this week: leave its state alone
        store.upsert_model(
            model_id=spec.model_id,
            role=spec.role,
            parent_id=spec.parent_id,
            tickers=list(spec.tickers),
            hyperparameters=spec.ppo.model_dump(mode="json"),
            status="planned",
            created_week=cutoff,
            stage=week_plan.stages.get(spec.model_id),
        )
    for promotion in week_plan.promotions:
        store.record_event(cutoff, "promotion", model_id=promotion["model_id"], payload=promotion)
    for note in week_plan.notes:
        log.info("plan: %s", note)
    return {role: week_plan.ids(role) for role in ("explorer", "refiner", "champion")} | {"notes": list(week_plan.notes)}


def _week_plan(store, week: dict[str, Any]):
    from autotest_lib.weekly.plan import WeekPlan

    return WeekPlan.from_json(store.get_week(_cutoff(week)).plan)


def train_one(week: dict[str, Any], model_id: str) -> dict[str, Any]:
    """Train one planned model (resuming from its checkpoint on retry) and record the run."""
    from autotest_lib.train import train
    from autotest_lib.weekly.plan import bundle_dir

    store = _store()
    week_plan = _week_plan(store, week)
    spec = week_plan.by_id()[model_id]
    known = store.get_model(model_id)
    if known is not None and known.status not in ("planned", "failed"):
        log.info("%s was trained in an earlier run of this week (%s): nothing to do", model_id, known.status)
        return {"model_id": model_id, "bundle_uri": known.bundle_uri, "cumulative_timesteps": known.cumulative_timesteps}
    try:
        result = train(spec, bundle_dir(Path(week["home"]), spec.week, model_id))
    except Exception as exc:
        store.set_model_status(model_id, "failed", f"training failed: {type(exc).__name__}: {exc}")
        raise
    record_training(store, spec, result, stage=week_plan.stages.get(model_id))
    return {"model_id": model_id, "bundle_uri": result.bundle_uri, "cumulative_timesteps": result.cumulative_timesteps}


def record_training(store: Any, spec: Any, result: Any, *, stage: int | None = None) -> None:
    """Register a trained model (``active``, with its bundle) and its training run, from its
    :class:`~autotest_lib.train.TrainSpec` and :class:`~autotest_lib.train.TrainResult`.

    Shared by the weekly training tasks and PBT's members, so both read the same way in the registry.
    """
    store.upsert_model(
        model_id=spec.model_id,
        role=spec.role,
        parent_id=spec.parent_id,
        tickers=list(spec.tickers),
        hyperparameters=spec.ppo.model_dump(mode="json"),
        cumulative_timesteps=result.cumulative_timesteps,
        bundle_uri=result.bundle_uri,
        bundle_sha256=result.bundle_sha256,
        status="active",
        created_week=spec.week,
        stage=stage,
    )
    store.record_training_run(
        model_id=spec.model_id,
        week=spec.week,
        steps_added=result.timesteps_added,
        base_lr=spec.ppo.learning_rate,
        lr_multiplier=spec.lr_multiplier,
        lr_schedule=spec.lr_schedule,
        train_start=spec.train_start,
        train_end=spec.train_end,
        recent_start=spec.recent_start,
        recent_fraction=spec.recent_fraction,
        wall_time_s=result.wall_time_s,
        history=result.history,
        hyperparameter_diff=result.hyperparameter_diff,
    )


def candidates(week: dict[str, Any]) -> list[str]:
    """Models to backtest this week: the ones trained now, plus the parents of continued ones (so the
    rollback guard compares child and parent on the same window), plus last week's paper-traded model and
    champion (so the week they traded is measured: the regime-switching comparison of the report). Failed
    trainings are left out."""
    store = _store()
    cutoff = _cutoff(week)
    ids = _candidate_ids(store, cutoff)
    planned_failed = [m.model_id for m in store.list_models(week=cutoff) if m.status in ("planned", "failed")]
    for mid in planned_failed:
        store.set_model_status(mid, "failed", "training did not finish this week")
    return ids


def _candidate_ids(store, cutoff: dt.date) -> list[str]:
    week_models = store.list_models(week=cutoff)
    # a PBT member has a version per round: only its latest version of the week competes here
    from autotest_lib.pbt import superseded_versions

    superseded = superseded_versions(m.model_id for m in week_models if m.role == "pbt")
    trained = [m for m in week_models if m.status not in ("planned", "failed") and m.model_id not in superseded]
    ids = {m.model_id for m in trained}
    ids |= {m.parent_id for m in trained if m.parent_id}
    evaluated = {e.model_id for e in store.evaluations(week=cutoff, window="validation")}
    for mid in _previous_picks(store, cutoff):
        model = store.get_model(mid)
        if model is not None and (mid in evaluated or (model.bundle_uri and Path(model.bundle_uri, "manifest.json").is_file())):
            ids.add(mid)
    return sorted(ids)


def _previous_picks(store, cutoff: dt.date) -> list[str]:
    """The model paper-traded after the latest earlier week, and that week's champion (its fallback)."""
    picks = [e for e in store.events(kind=PAPER_PICK) if e.week < cutoff]
    if not picks:
        return []
    last = max(picks, key=lambda e: e.week)
    return [m for m in dict.fromkeys([last.model_id, last.payload.get("champion_id")]) if m]


def backtest_one(week: dict[str, Any], model_id: str) -> dict[str, Any]:
    """Backtest one model on the week's validation window, record the evaluation, keep the daily series."""
    store = _store()
    done = store.evaluations(model_id=model_id, week=_cutoff(week), window="validation")
    if done and (week_dir(week) / "backtests" / f"{model_id}.csv").is_file():
        log.info("%s was evaluated on this window in an earlier run of this week: keeping it", model_id)
        return {"model_id": model_id, "score": done[0].score}
    n_trials = len(_candidate_ids(store, _cutoff(week)))
    value = record_validation(store, week, model_id, store.get_model(model_id).bundle_uri, preset_for(week), n_trials=n_trials)
    return {"model_id": model_id, "score": value}


def record_validation(store: Any, week: dict[str, Any], model_id: str, bundle_uri: str, preset: Preset, *, n_trials: int) -> float:
    """Backtest ``bundle_uri`` on the week's validation window; save the daily series under
    ``runs/<week>/backtests/<model_id>.csv``; record the evaluation with its per-regime breakdown; return the score.

    Shared by the weekly backtests and PBT's round evaluations, so both read the same way in the registry.
    """
    from autotest_lib.evaluate import score
    from autotest_lib.evaluate.bundles import backtest_bundle
    from autotest_lib.regime import regime_breakdown, window_labels

    w = week["windows"]
    start, end = dt.date.fromisoformat(w["validation_start"]), dt.date.fromisoformat(w["validation_end"])
    result = backtest_bundle(bundle_uri, start=start, end=end, n_trials=n_trials)
    series_dir = Path(week["home"]) / "runs" / week["cutoff"] / "backtests"
    series_dir.mkdir(parents=True, exist_ok=True)
    result.to_frame().to_csv(series_dir / f"{model_id}.csv", index_label="date")
    summary = result.summary()
    labels = window_labels(start, end, preset.regimes, benchmark=preset.data.benchmark, source=preset.data.source)
    value = score(result)
    store.record_evaluation(
        model_id=model_id,
        week=end,
        window="validation",
        window_start=start,
        window_end=end,
        metrics=summary["metrics"],
        benchmarks=summary["benchmarks"],
        score=value,
        n_trials=n_trials,
        by_regime=regime_breakdown(result, labels),
    )
    return value


def select(week: dict[str, Any]) -> dict[str, Any]:
    """Deflate Sharpe across the week's trials, then rollback guard, champion rule, regime pick, archive
    (keeping the curriculum models next week promotes)."""
    from autotest_lib.curriculum import curriculum_slots, promotable
    from autotest_lib.regime import current_regime
    from autotest_lib.weekly.select import select_week

    preset = preset_for(week)
    store = _store()
    cutoff = _cutoff(week)
    _deflate(store, week)
    regime = current_regime(cutoff, preset.regimes, benchmark=preset.data.benchmark, source=preset.data.source)
    promotions = promotable(store, cutoff, preset)[: curriculum_slots(preset)]
    out = select_week(
        store,
        cutoff,
        threshold=preset.rollback_threshold,
        min_dsr=preset.champion_min_dsr,
        keep_top_n=preset.keep_top_n,
        next_refiners=preset.refiners.count,
        home=Path(week["home"]),
        regime=regime.regime,
        min_evidence_days=preset.regimes.min_evidence_days,
        also_keep=[p.model_id for p in promotions],
    )
    out["regime"] = regime.as_dict()
    out["promotable"] = [{"model_id": p.model_id, "stage": p.stage, "reason": p.check.reason} for p in promotions]
    (week_dir(week) / "selection.json").write_text(json.dumps(out, indent=2))
    return out


def _deflate(store, week: dict[str, Any]) -> None:
    """Recompute each evaluation's DSR against every model compared this week (number of trials and the
    variance of their per-period Sharpe ratios), from the daily series the backtests saved."""
    import numpy as np
    import pandas as pd

    from autotest_lib.evaluate.metrics import deflated_sharpe_ratio

    evals = store.evaluations(week=_cutoff(week), window="validation")
    series = {}
    for e in evals:
        path = week_dir(week) / "backtests" / f"{e.model_id}.csv"
        if path.is_file():
            series[e.model_id] = pd.read_csv(path)["return"].to_numpy(dtype=float)
    if len(series) < 2:
        return
    per_period = [float(np.mean(r) / np.std(r, ddof=1)) for r in series.values() if len(r) > 2 and np.std(r, ddof=1) > 0]
    if len(per_period) < 2:
        log.warning("week %s: fewer than 2 models with varying returns; the deflated Sharpe ratio stays undefined (0)", week["cutoff"])
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
    the week's folder; a ``paper_pick`` event records the model, the regime and the rule."""
    from autotest_lib.paper import prepare_orders

    store = _store()
    preset = preset_for(week)
    cutoff = _cutoff(week)
    orders = prepare_orders(
        store, cutoff, week_dir(week) / "orders", source=preset.data.source, regimes=preset.regimes, benchmark=preset.data.benchmark
    )
    store.record_event(
        cutoff,
        PAPER_PICK,
        model_id=orders.model_id,
        payload={"regime": orders.regime, "rule": orders.rule, "kind": orders.kind, "champion_id": orders.champion_id},
    )
    return {
        "model_id": orders.model_id,
        "regime": orders.regime,
        "rule": orders.rule,
        "csv": str(orders.csv_path),
        "json": str(orders.json_path),
    }


def report(week: dict[str, Any]) -> dict[str, Any]:
    """The weekly HTML report with its PNG plots."""
    from autotest_lib.report import write_weekly_report

    store = _store()
    path = write_weekly_report(store, _cutoff(week), week_dir(week), preset_for(week))
    store.set_week_status(_cutoff(week), "done")
    return {"report": str(path)}
