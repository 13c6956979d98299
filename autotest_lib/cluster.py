"""Deployment settings of AUTOTEST: worker names and Celery settings for Airflow, the training window and slots.

Cheap to import (standard library only): the DAG files read the training window at parse time.

Named in Airflow's configuration::

    AIRFLOW__CORE__HOSTNAME_CALLABLE=autotest_lib.cluster.worker_hostname
    AIRFLOW__CELERY__CELERY_CONFIG_OPTIONS=autotest_lib.cluster.CELERY_CONFIG

``scripts/cluster.sh`` and ``docker-compose.yaml`` set both (see docs/DEPLOY.md for the reasoning).
"""

from __future__ import annotations

import math
import os
import socket
from collections.abc import Mapping
from typing import Any

from autotest_lib.errors import ConfigError

__all__ = [  # and CELERY_CONFIG, built on first access (module __getattr__)
    "SLOTS_ENV",
    "WINDOW_ENV",
    "WORKER_NAME_ENV",
    "env_number",
    "training_slots",
    "training_window_h",
    "worker_hostname",
]

WINDOW_ENV = "AUTOTEST_TRAINING_WINDOW_H"
"""Hours a week's training may take (Sunday 02:00-08:00 by default): the plan's check and the DAG's deadline."""
DEFAULT_WINDOW_H = 6.0
SLOTS_ENV = "AUTOTEST_TRAINING_SLOTS"
"""Training tasks that run at once: the ``autotest_training`` pool's size (scripts/cluster.sh, compose set both)."""

WORKER_NAME_ENV = "AUTOTEST_WORKER_NAME"
"""Set per worker process (``w1``, ``w2`` ...) when several workers share one host."""


def worker_hostname() -> str:
    """``[core] hostname_callable``: the machine's name, prefixed by ``$AUTOTEST_WORKER_NAME`` when set.

    ``task_instance.hostname`` then tells apart two workers on one host (``w1.host`` / ``w2.host``); a worker
    alone on its machine leaves the variable unset and reports the plain FQDN, which the api-server can reach
    for live logs.
    """
    fqdn = socket.getfqdn()
    name = os.environ.get(WORKER_NAME_ENV, "").strip()
    return f"{name}.{fqdn}" if name else fqdn


def env_number(name: str, default: float, *, upper: float = math.inf, environ: Mapping[str, str] | None = None) -> float:
    """A number > 0 (and <= ``upper``) from the environment variable ``name``; ``default`` when unset or empty."""
    raw = (os.environ if environ is None else environ).get(name, "").strip()
    if not raw:
        return default
    try:
        value = float(raw)
    except ValueError:
        value = math.nan
    if not (0 < value <= upper):
        bound = f"in (0, {upper:g}]" if math.isfinite(upper) else "> 0"
        raise ConfigError(f"{name}={raw!r} is not a number {bound}; unset it for the default {default:g}")
    return value


def training_window_h(environ: Mapping[str, str] | None = None) -> float:
    """Hours the week's training may take, from ``$AUTOTEST_TRAINING_WINDOW_H`` (a number in (0, 168]; default 6)."""
    return env_number(WINDOW_ENV, DEFAULT_WINDOW_H, upper=168, environ=environ)


def training_slots(environ: Mapping[str, str] | None = None) -> int:
    """Training tasks that run at once, from ``$AUTOTEST_TRAINING_SLOTS`` (an integer >= 1; default: this host's cores)."""
    raw = (os.environ if environ is None else environ).get(SLOTS_ENV, "").strip()
    if not raw:
        return os.cpu_count() or 1
    if not raw.isdigit() or int(raw) < 1:
        raise ConfigError(f"{SLOTS_ENV}={raw!r} is not an integer >= 1 (the autotest_training pool's size; unset for the core count)")
    return int(raw)


def _celery_config() -> dict[str, Any]:
    """Airflow's Celery settings plus ``worker_disable_prefetch``.

    The deployment acks a message when its task starts (``[celery] task_acks_late = False``): a worker lost
    mid-task is then found by ``[scheduler] task_instance_heartbeat_timeout`` and the task retried as a new
    message, instead of the broker re-delivering the old one after ``visibility_timeout`` (by default a day).
    Without prefetch a worker busy with a long training task holds no second message, so nothing waits
    un-acked behind it and a short ``visibility_timeout`` cannot hand a running task to a second worker.
    """
    from airflow.providers.celery.executors.default_celery import DEFAULT_CELERY_CONFIG

    return {**DEFAULT_CELERY_CONFIG, "worker_disable_prefetch": True}


def __getattr__(name: str) -> Any:
    # lazy: importing this module (for worker_hostname) must not read Airflow's Celery configuration
    if name == "CELERY_CONFIG":
        return _celery_config()
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
