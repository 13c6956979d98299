"""What the AUTOTEST DAGs share: the training pool, the weekly timetable, retry defaults and the preset param.

Imported by the DAG files at parse time, so it stays cheap: Airflow's SDK only, no torch, pandas or SB3.
"""

from __future__ import annotations

import os
import sys
from datetime import timedelta
from pathlib import Path

import pendulum
from airflow.sdk import Param
from airflow.sdk.definitions.callback import AsyncCallback
from airflow.sdk.definitions.deadline import DeadlineAlert, DeadlineReference
from airflow.timetables.interval import CronDataIntervalTimetable

from autotest_lib.cluster import training_window_h

TRAINING_POOL = "autotest_training"
"""Pool every training task runs in; size it to the worker's cores (``airflow pools set``)."""

MODEL_ID_MAP_INDEX = "{{ task.op_kwargs['model_id'] }}"
"""``map_index_template`` of tasks mapped over model ids: the UI lists them by model id, not 0, 1, 2."""

START_DATE = pendulum.datetime(2024, 1, 7, 2, tz="UTC")

DEFAULT_ARGS = {
    "owner": "autotest",
    "retries": 2,
    "retry_delay": timedelta(seconds=30),
    "retry_exponential_backoff": True,
}


def weekly_timetable() -> CronDataIntervalTimetable:
    """Sundays 02:00 UTC with a real weekly data interval; a run's cutoff is its interval's end."""
    return CronDataIntervalTimetable("0 2 * * 0", timezone="UTC")


def preset_names() -> list[str]:
    """The presets under ``include/config`` (``AUTOTEST_INCLUDE_DIR`` overrides where that is)."""
    root = Path(os.environ.get("AUTOTEST_INCLUDE_DIR") or Path(__file__).resolve().parents[1] / "include")  # as config.include_dir
    return sorted(p.stem for p in (root / "config").glob("*.yaml")) or ["demo"]


def preset_param() -> Param:
    return Param("demo", type="string", enum=preset_names(), description="Compute split preset (include/config/<name>.yaml).")


def week_params() -> dict[str, Param]:
    """The params of a weekly retraining run (autotest_weekly and autotest_continuous)."""
    return {
        "preset": preset_param(),
        "timesteps_scale": Param(1.0, type="number", exclusiveMinimum=0, maximum=100, description="Multiplies every role's timesteps."),
        "tickers": Param(
            None,
            type=["null", "array"],
            items={"type": "string", "pattern": "^[A-Z^.\\-]{1,10}$"},
            description="Override the preset's ticker universe (null = preset's).",
        ),
        "seed": Param(0, type="integer", minimum=0, description="Base random seed for the week's plan and training."),
    }


def training_deadline() -> DeadlineAlert | None:
    """An alert when a weekly run is still going ``$AUTOTEST_TRAINING_WINDOW_H`` hours (6) after it was queued.

    Queued time, not the logical date: a scheduled run is queued at Sunday 02:00 (so 08:00 by default), while its
    logical date is the week before; a backfilled week gets the same window from when it was queued.

    None under ``airflow dags test`` (``make run``): Airflow 3.3.2's in-process run crashes when it succeeds
    with a deadline (``DagRun.update_state`` looks the alerts up by the unserialized DAG's dicts instead of their
    ids: ``'dict' object has no attribute 'hex'``). Runs through the scheduler carry it.
    """
    window_h = training_window_h()  # validated either way
    if sys.argv[1:3] == ["dags", "test"]:
        return None
    return DeadlineAlert(
        reference=DeadlineReference.DAGRUN_QUEUED_AT,
        interval=timedelta(hours=window_h),
        callback=AsyncCallback("autotest_lib.alerts.training_window_missed", kwargs={"window_h": window_h}),
        name="autotest training window",
    )
