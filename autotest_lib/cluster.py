"""What a CeleryExecutor deployment of AUTOTEST plugs into Airflow: worker names and the Celery settings.

Named in Airflow's configuration, never imported by the DAGs or the library::

    AIRFLOW__CORE__HOSTNAME_CALLABLE=autotest_lib.cluster.worker_hostname
    AIRFLOW__CELERY__CELERY_CONFIG_OPTIONS=autotest_lib.cluster.CELERY_CONFIG

``scripts/cluster.sh`` and ``docker-compose.yaml`` set both (see docs/DEPLOY.md for the reasoning).
"""

from __future__ import annotations

import os
import socket
from typing import Any

__all__ = ["WORKER_NAME_ENV", "worker_hostname"]  # and CELERY_CONFIG, built on first access (module __getattr__)

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
