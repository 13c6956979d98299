"""What the AUTOTEST DAGs share: the training pool, the weekly timetable, retry defaults, the run params and
their deployment defaults, the training-window deadline, and how a task's error becomes a red task (permanent: once; transient: retried).

Imported by the DAG files at parse time, so it stays cheap: Airflow's SDK only, no torch, pandas or SB3.

**Deployment config.** Scheduled runs take the form's defaults, and these come from the environment of the
process that parses the DAGs (compose sets them for every Airflow service):

- ``AUTOTEST_PRESET``: a preset under ``include/config`` (default ``demo``);
- ``AUTOTEST_DATA_SOURCE``: ``bundled``, ``yfinance`` or a user source (default: the preset's own ``data.source``;
  applied by :func:`~autotest_lib.config.load_preset` wherever a run loads its preset, checked here at parse time);
- ``AUTOTEST_UNIVERSE``: comma-separated tickers (default: the preset's universe).

A bad value fails the DAG import with an error naming the variable and its allowed values. ``make run`` sets
none of them (demo on the bundled prices); ``docker-compose.yaml`` defaults to ``recommended`` on yfinance.

**One cause, one red task.** :func:`fail_fast` turns a permanent error (:func:`~autotest_lib.errors.is_permanent`:
bad config, data that cannot cover the week, a broken bundle, a refused week) into ``AirflowFailException``:
the task fails once, without retries, and its downstream tasks end ``upstream_failed`` or ``skipped``, never
with a second message. Anything else (``TransientDataError``, ``OSError``, a database error) is retried by
the task's ``retries``.
"""

from __future__ import annotations

import functools
import os
import re
import sys
from collections.abc import Callable, Mapping
from datetime import timedelta
from pathlib import Path
from typing import Any, TypeVar

import pendulum
from airflow.sdk import Param
from airflow.sdk.definitions.callback import AsyncCallback
from airflow.sdk.definitions.deadline import DeadlineAlert, DeadlineReference
from airflow.sdk.exceptions import AirflowFailException, AirflowSkipException
from airflow.timetables.interval import CronDataIntervalTimetable

from autotest_lib.cluster import training_window_h
from autotest_lib.errors import ConfigError, WeekSkipped, is_permanent

TRAINING_POOL = "autotest_training"
"""Pool every training task runs in; size it to the worker's cores (``airflow pools set``)."""

MODEL_ID_MAP_INDEX = "{{ task.op_kwargs['model_id'] }}"
"""``map_index_template`` of tasks mapped over model ids: the UI lists them by model id, not 0, 1, 2."""

START_DATE = pendulum.datetime(2005, 1, 2, 2, tz="UTC")
"""The first week of the bundled prices (2005-01-03 on). Airflow creates no task for a run dated before its DAG's
start date and calls it a success, so the start is as early as any data: an earlier-than-useful week reaches
``start_week`` and is refused there with the reason (its training window would be under a year). Scheduled runs
do not backfill from here (``catchup=False``)."""

DEFAULT_ARGS = {
    "owner": "autotest",
    "retries": 2,
    "retry_delay": timedelta(seconds=30),
    "retry_exponential_backoff": True,
}

DATA_SOURCES = ("bundled", "yfinance")
"""The built-in price sources ``AUTOTEST_DATA_SOURCE`` may name (it may also give a files or SQL source)."""
TICKER_PATTERN = r"^[A-Z^][A-Z0-9^.\-]{0,9}$"
"""A Yahoo-style symbol: upper case, digits, ``^ . -``; at most 10 characters (``AAPL``, ``BRK-B``, ``^GSPC``)."""
MAX_SEED = 2**31 - 1


def weekly_timetable() -> CronDataIntervalTimetable:
    """Sundays 02:00 UTC with a real weekly data interval; a run's cutoff is its interval's end."""
    return CronDataIntervalTimetable("0 2 * * 0", timezone="UTC")


def preset_names() -> list[str]:
    """The presets under ``include/config`` (``AUTOTEST_INCLUDE_DIR`` overrides where that is)."""
    root = Path(os.environ.get("AUTOTEST_INCLUDE_DIR") or Path(__file__).resolve().parents[1] / "include")  # as config.include_dir
    return sorted(p.stem for p in (root / "config").glob("*.yaml")) or ["demo"]


def deployment_preset(env: Mapping[str, str] | None = None) -> str:
    """``AUTOTEST_PRESET`` (default ``demo``), checked against the presets there are."""
    value = (os.environ if env is None else env).get("AUTOTEST_PRESET", "").strip() or "demo"
    names = preset_names()
    if value not in names:
        raise ConfigError(f"AUTOTEST_PRESET={value!r} is not a preset; allowed: {', '.join(names)} (include/config/<name>.yaml)")
    return value


def deployment_data_source(env: Mapping[str, str] | None = None) -> str | None:
    """``AUTOTEST_DATA_SOURCE`` as far as it can be checked cheaply here: a plain name must be ``bundled`` or
    ``yfinance``; a JSON mapping or a YAML/JSON file path is checked by :func:`~autotest_lib.config.deployment_source`
    when a run loads its preset. None when unset (each preset's own ``data.source``)."""
    value = (os.environ if env is None else env).get("AUTOTEST_DATA_SOURCE", "").strip()
    if not value or value.startswith("{") or value.endswith((".yaml", ".yml", ".json")):
        return value or None
    if value not in DATA_SOURCES:
        raise ConfigError(
            f"AUTOTEST_DATA_SOURCE={value!r} is not a data source; allowed: {', '.join(DATA_SOURCES)}, a JSON mapping "
            "(kind: files or sql), or the path of a YAML/JSON file holding one (or unset: each preset's own)"
        )
    return value


def deployment_universe(env: Mapping[str, str] | None = None) -> list[str] | None:
    """``AUTOTEST_UNIVERSE``: comma-separated tickers, each a symbol, no repeats; None (unset) keeps the preset's."""
    raw = (os.environ if env is None else env).get("AUTOTEST_UNIVERSE", "").strip()
    if not raw:
        return None
    tickers = [t.strip() for t in raw.split(",")]
    bad = [t for t in tickers if not re.fullmatch(TICKER_PATTERN, t)]
    if bad:
        raise ConfigError(
            f"AUTOTEST_UNIVERSE={raw!r}: {bad} are not ticker symbols; allowed: comma-separated symbols matching {TICKER_PATTERN} "
            "(e.g. AAPL,MSFT,KO), or unset for the preset's universe"
        )
    repeated = sorted({t for t in tickers if tickers.count(t) > 1})
    if repeated:
        raise ConfigError(f"AUTOTEST_UNIVERSE={raw!r} lists {repeated} more than once; name each ticker once")
    return tickers


def preset_param(default: str | None = None) -> Param:
    return Param(
        default or deployment_preset(),
        type="string",
        enum=preset_names(),
        description="Compute split preset (include/config/<name>.yaml); the default is the deployment's AUTOTEST_PRESET.",
    )


def week_params() -> dict[str, Param]:
    """The params of a weekly retraining run (autotest_weekly and autotest_continuous): bounds live in each
    schema, so the trigger form shows them next to the field.

    The deployment's data source is checked here too (a bad one fails the DAG import, naming it)."""
    deployment_data_source()
    return {
        "preset": preset_param(),
        "timesteps_scale": Param(
            1.0,
            type="number",
            minimum=0.001,
            maximum=100,
            description="Multiplies every role's timesteps, 0.001 to 100. A run is refused when a role would get less "
            "than one PPO rollout (n_steps x n_envs), which PPO would train anyway.",
        ),
        "tickers": Param(
            deployment_universe(),
            type=["null", "array"],
            items={"type": "string", "pattern": TICKER_PATTERN},
            minItems=1,
            uniqueItems=True,
            description="Override the preset's ticker universe: upper-case symbols such as AAPL, each once "
            "(null = the deployment's AUTOTEST_UNIVERSE, else the preset's).",
        ),
        "seed": Param(0, type="integer", minimum=0, maximum=MAX_SEED, description=f"Base random seed, 0 to {MAX_SEED}."),
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


def check_param_keys(params: Mapping[str, Any], allowed: Mapping[str, Any] | set[str]) -> None:
    """Refuse run params the DAG does not declare (Airflow 3.3 merges unknown ``conf`` keys in unchecked).

    :raises ConfigError: naming each unknown key, the closest declared one and the allowed keys.
    """
    import difflib

    unknown = sorted(set(params) - set(allowed))
    if not unknown:
        return
    hints = []
    for key in unknown:
        close = difflib.get_close_matches(key, list(allowed), n=1)
        hints.append(f"{key!r}" + (f" (did you mean {close[0]!r}?)" if close else ""))
    raise ConfigError(f"unknown run param(s) {', '.join(hints)}; allowed: {', '.join(sorted(allowed))}. Nothing was run")


F = TypeVar("F", bound=Callable[..., Any])


def fail_fast(fn: F) -> F:
    """Wrap a task's function: a permanent error fails the task at once (``AirflowFailException``, no retries);
    :class:`~autotest_lib.errors.WeekSkipped` skips it (and what follows) with its reason."""

    @functools.wraps(fn)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        try:
            return fn(*args, **kwargs)
        except (AirflowFailException, AirflowSkipException):
            raise
        except WeekSkipped as exc:
            raise AirflowSkipException(str(exc)) from exc
        except Exception as exc:
            if is_permanent(exc):
                raise AirflowFailException(f"{type(exc).__name__}: {exc} (permanent: not retried)") from exc
            raise

    return wrapper  # type: ignore[return-value]
