"""Consistency: how much results spread across seeds, and how the population progresses from week to week.

**Seed spread.** :func:`seed_consistency` trains ``seeds`` models that differ only in their seed (the
preset's PPO hyperparameters, one fixed ticker set, the explorer budget, the week's training window) and
backtests each on the week's validation window. :func:`spread` summarises their Sharpe ratios; the
interquartile range ``IQR = Q3 - Q1`` (linear interpolation, as ``numpy.percentile``) is the consistency
figure: robust to one lucky or unlucky seed. A small IQR next to a large median is what a preset should show.

**Progress.** :func:`progress_records` gathers week-over-week (best score per week and its change),
generation-over-generation (share of children beating their parent) and champion longevity as plain records a
report section renders.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from autotest_lib.config import Preset
from autotest_lib.errors import ConfigError

__all__ = ["ProgressRecords", "SeedRun", "Spread", "progress_records", "seed_consistency", "spread"]


@dataclass(frozen=True)
class Spread:
    """Summary of ``n`` values: median, quartiles, interquartile range, extremes."""

    n: int
    median: float
    q1: float
    q3: float
    iqr: float
    low: float
    high: float


def spread(values: Sequence[float]) -> Spread:
    """Median, Q1, Q3, IQR = Q3 - Q1, min and max of ``values`` (at least 2 finite values).

    :raises ConfigError: fewer than 2 finite values.
    """
    x = np.asarray([v for v in values if v is not None and np.isfinite(v)], dtype=float)
    if len(x) < 2:
        raise ConfigError(f"a spread needs at least 2 finite results, got {len(x)}; run more seeds (--seeds 4 or more)")
    q1, median, q3 = (float(q) for q in np.percentile(x, [25, 50, 75]))
    return Spread(n=len(x), median=median, q1=q1, q3=q3, iqr=q3 - q1, low=float(x.min()), high=float(x.max()))


@dataclass(frozen=True)
class SeedRun:
    """One seed's model: its validation Sharpe and where its bundle is."""

    seed: int
    sharpe: float
    bundle_uri: str


def seed_consistency(
    preset: Preset,
    week: dt.date,
    seeds: int,
    work_dir: Path,
    *,
    tickers: Sequence[str] | None = None,
    timesteps: int | None = None,
) -> tuple[list[SeedRun], Spread]:
    """Train ``seeds`` copies of one explorer (same hyperparameters and tickers, seeds 0..seeds-1), backtest each.

    :param preset: the preset whose PPO hyperparameters, env and explorer budget are used.
    :param week: the cutoff; windows as the weekly run derives them.
    :param seeds: number of seeds (at least 2).
    :param work_dir: one folder per seed is trained under it.
    :param tickers: the ticker set (default: the first ``tickers_per_model[1]`` of the universe, sorted).
    :param timesteps: steps per model (default ``explorers.timesteps``).
    :raises ConfigError: fewer than 2 seeds, or no steps.
    """
    from autotest_lib.evaluate import score
    from autotest_lib.evaluate.bundles import backtest_bundle
    from autotest_lib.runs.windows import week_windows
    from autotest_lib.train import TrainSpec, train

    if seeds < 2:
        raise ConfigError(f"--seeds={seeds}: an interquartile range needs at least 2 runs; use --seeds 4 or more")
    steps = timesteps if timesteps is not None else preset.explorers.timesteps
    if steps <= 0:
        raise ConfigError(f"timesteps={steps}: the preset's explorers train no steps; pass --timesteps N (N > 0)")
    windows = week_windows(week, preset)
    chosen = tuple(tickers or sorted(preset.data.universe)[: min(preset.data.tickers_per_model[1], preset.env.max_tickers)])
    runs = []
    for seed in range(seeds):
        spec = TrainSpec(
            model_id=f"consistency-{preset.name}-s{seed}",
            role="explorer",
            week=week,
            slot=seed,
            tickers=chosen,
            train_start=windows.train_start,
            train_end=windows.train_end,
            cutoff=windows.cutoff,
            timesteps=steps,
            seed=seed,
            ppo=preset.ppo,
            lr_schedule=preset.explorers.lr_schedule,
            lr_multiplier=preset.explorers.lr_multiplier,
            env=preset.env,
            data_source=preset.data.source,
            checkpoint_every=preset.checkpoint_every,
        )
        result = train(spec, Path(work_dir) / spec.model_id)
        bt = backtest_bundle(result.bundle_uri, start=windows.validation_start, end=windows.validation_end)
        runs.append(SeedRun(seed=seed, sharpe=score(bt), bundle_uri=result.bundle_uri))
    return runs, spread([r.sharpe for r in runs])


@dataclass(frozen=True)
class ProgressRecords:
    """Week-over-week, generation-over-generation and champion longevity, as records a report renders."""

    week_over_week: tuple[Any, ...]
    generation_over_generation: tuple[Any, ...]
    overall_improvement: Any
    champion_longevity: tuple[Any, ...]

    def as_dict(self) -> dict[str, Any]:
        from autotest_lib.registry.records import jsonable

        return jsonable(self)


def progress_records(store: Any, *, up_to: dt.date | None = None, window: str = "validation") -> ProgressRecords:
    """The population's progress up to week ``up_to`` (inclusive; None = everything recorded).

    :param store: the lineage store.
    :param up_to: the report's week: later weeks and stints (a backfill re-run) are left out of the trend and the
        longevity; generation-over-generation counts every recorded parent/child pair.
    :param window: the evaluation window scores come from.
    """
    trend = tuple(p for p in store.weekly_trend(window) if up_to is None or p.week <= up_to)
    improvement = store.generation_improvement(window)
    stints = tuple(s for s in store.champion_longevity() if up_to is None or s.from_week <= up_to)
    return ProgressRecords(
        week_over_week=trend,
        generation_over_generation=improvement.by_generation,
        overall_improvement=improvement.overall,
        champion_longevity=stints,
    )
