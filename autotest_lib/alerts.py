"""Callbacks Airflow calls when an AUTOTEST run misses a deadline (run by the triggerer; standard library only)."""

from __future__ import annotations

import logging
from typing import Any

__all__ = ["training_window_missed"]

log = logging.getLogger(__name__)


async def training_window_missed(window_h: float, context: dict[str, Any] | None = None, **_: Any) -> None:
    """The weekly ``DeadlineAlert``: the run is still going ``window_h`` hours after it was queued.

    Logged as an error in the triggerer's log, naming the run and what to look at.
    """
    run = (context or {}).get("dag_run") or {}
    run_id = run.get("run_id") if isinstance(run, dict) else getattr(run, "run_id", None)
    log.error(
        "AUTOTEST deadline missed: weekly run %s has not finished %g h after it was queued; see its training task logs "
        "(progress lines give steps/s and ETA) and the plan's wall-time estimate, then lower timesteps_scale or add "
        "training slots",
        run_id or "(unknown run)",
        window_h,
    )
