"""What both DAGs (weekly and PBT) record the same way: a training, a validation backtest, and the universe
a week can learn from."""

from __future__ import annotations

import datetime as dt

from autotest_lib.config import Preset
from autotest_lib.data import load_prices
from autotest_lib.evaluate import score
from autotest_lib.evaluate.bundles import backtest_bundle
from autotest_lib.regime import regime_breakdown, window_labels
from autotest_lib.registry import LineageStore, ModelStatus
from autotest_lib.runs.context import WeekContext
from autotest_lib.train import TrainResult, TrainSpec

__all__ = ["record_training", "record_validation", "register_spec", "universe_with_history"]


def register_spec(
    store: LineageStore,
    spec: TrainSpec,
    *,
    status: ModelStatus,
    created_week: dt.date,
    stage: int | None,
    result: TrainResult | None = None,
) -> None:
    """Upsert ``spec``'s model row (id, role, parent, tickers, hyperparameters) with ``status``, and with a trained
    model's steps and bundle from ``result``: the one place a spec becomes a lineage row, planned or trained."""
    store.upsert_model(
        model_id=spec.model_id,
        role=spec.role,
        parent_id=spec.parent_id,
        tickers=list(spec.tickers),
        hyperparameters=spec.ppo.model_dump(mode="json"),
        status=status,
        created_week=created_week,
        stage=stage,
        cumulative_timesteps=result.cumulative_timesteps if result else None,
        bundle_uri=result.bundle_uri if result else None,
        bundle_sha256=result.bundle_sha256 if result else None,
    )


def record_training(store: LineageStore, spec: TrainSpec, result: TrainResult, *, stage: int | None = None) -> None:
    """Register a trained model (``active``, with its bundle) and its training run.

    Shared by the weekly training tasks and PBT's members, so both read the same way in the registry.
    """
    register_spec(
        store,
        spec,
        status=ModelStatus.ACTIVE,
        created_week=spec.week,
        stage=stage,
        result=result,
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


def record_validation(store: LineageStore, week: WeekContext, model_id: str, bundle_uri: str, preset: Preset, *, n_trials: int) -> float:
    """Backtest ``bundle_uri`` on the week's validation window; save the daily series (``week.paths.backtest_series``);
    record the evaluation with its per-regime breakdown; return the score.

    Shared by the weekly backtests and PBT's round evaluations, so both read the same way in the registry.
    """
    start, end = week.windows.validation_start, week.windows.validation_end
    registered = store.get_model(model_id)
    expected = registered.bundle_sha256 if registered is not None else None
    result = backtest_bundle(bundle_uri, start=start, end=end, n_trials=n_trials, expected_sha256=expected)
    series = week.paths.backtest_series(model_id)
    series.parent.mkdir(parents=True, exist_ok=True)
    result.to_frame().to_csv(series, index_label="date")
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


def universe_with_history(preset: Preset, train_end: dt.date) -> list[str]:
    """Universe tickers listed at least a year before the training window ends (so they can be learnt)."""
    frame = load_prices(list(preset.data.universe), cutoff=train_end, start=preset.data.earliest, source=preset.data.source)
    firsts = frame.groupby("ticker")["date"].min()
    limit = train_end - dt.timedelta(days=365)
    return sorted(t for t, d in firsts.items() if d.date() <= limit)
