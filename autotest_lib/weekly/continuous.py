"""The continuous week: when each stage of a week may start, from an anchor and the preset's offsets.

``sunday`` (the default) runs every stage right after the cutoff: all stage times equal the anchor.
``continuous`` spreads the stages over the week, as the plan's alternative to the Sunday batch: explorers on
Monday, refiners Tuesday, champion slots Wednesday, backtests and selection Thursday-Friday, paper-trade prep
Saturday (hours after the anchor in ``preset.continuous``). The anchor defaults to the run's cutoff
(``data_interval_end``); a run may pass another one, e.g. a past date so that ``airflow dags test`` does not
wait days. Only the compute moves: every stage reads the week dict, whose cutoff bounds every price read.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from autotest_lib.config import CONTINUOUS_STAGES, Preset
from autotest_lib.errors import ConfigError

__all__ = ["SCHEDULES", "stage_times", "with_stage_times"]

SCHEDULES = ("sunday", "continuous")


def stage_times(preset: Preset, cutoff: dt.date, *, schedule: str | None = None, anchor: str | None = None) -> dict[str, str]:
    """Stage name -> ISO start time (UTC) of this week's stages.

    :param preset: gives the default schedule and the continuous offsets.
    :param cutoff: the week's cutoff; the default anchor is 02:00 UTC on it (the DAG's weekly timetable).
    :param schedule: ``sunday`` or ``continuous``; None = ``preset.schedule``.
    :param anchor: ISO datetime the offsets count from; None = the cutoff at 02:00 UTC.
    :raises ConfigError: an unknown schedule or an unreadable anchor.
    """
    mode = schedule or preset.schedule
    if mode not in SCHEDULES:
        raise ConfigError(f"schedule={mode!r}: must be one of {', '.join(SCHEDULES)}; pick 'sunday' (the default) or 'continuous'")
    if anchor:
        try:
            start = dt.datetime.fromisoformat(anchor)
        except ValueError:
            raise ConfigError(f"anchor={anchor!r}: not an ISO datetime; pass e.g. '2024-09-08T02:00:00+00:00' or null") from None
        start = start if start.tzinfo else start.replace(tzinfo=dt.UTC)
    else:
        start = dt.datetime.combine(cutoff, dt.time(2), tzinfo=dt.UTC)
    hours = {name: getattr(preset.continuous, name) if mode == "continuous" else 0.0 for name in CONTINUOUS_STAGES}
    return {name: (start + dt.timedelta(hours=h)).astimezone(dt.UTC).isoformat() for name, h in hours.items()} | {"schedule": mode}


def with_stage_times(week: dict[str, Any], params: dict[str, Any]) -> dict[str, Any]:
    """The week dict of :func:`~autotest_lib.tasks.weekly.start_week` plus ``stages``: the run's stage start times."""
    from autotest_lib.runs import WeekContext

    ctx = WeekContext.from_xcom(week)
    return week | {"stages": stage_times(ctx.load_preset(), ctx.cutoff, schedule=params.get("schedule"), anchor=params.get("anchor"))}
