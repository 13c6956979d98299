"""``autotest trigger --week YYYY-MM-DD``: a manual run of the weekly DAG whose cutoff is that week.

Why not ``airflow dags trigger -l``: Airflow 3.3.2's CLI infers a manual run's data interval from the
current time (``Timetable.infer_manual_data_interval(run_after=now)``), not from ``-l``, so the run gets this
week's cutoff whatever date is given; the DAG never sees the date it was asked for. The UI form and
``POST /api/v2/dags/{dag_id}/dagRuns`` with ``logical_date`` infer it from the logical date, which is right.
This does the same as the REST API, in-process against Airflow's metadata database (as ``airflow dags
trigger`` does): logical date = the week's cutoff (a Sunday, 02:00 UTC), data interval = the week before it.

A week names its run by its cutoff: re-triggering a week that has a run is refused with what to do instead
(clear the run to re-run its failed tasks, or delete it to start over).
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import Any

__all__ = ["WEEKLY_DAG_ID", "RunExistsError", "TriggeredRun", "duplicate_week_hint", "trigger_week", "week_logical_date"]

WEEKLY_DAG_ID = "autotest_weekly"
RUN_HOUR_UTC = 2
"""The weekly timetable's hour (Sundays 02:00 UTC, ``dag_defaults.weekly_timetable``)."""


class RunExistsError(RuntimeError):
    """The week already has a run of the DAG."""


@dataclass(frozen=True)
class TriggeredRun:
    """The run that was created: its id, logical date and the data interval (whose end is the cutoff)."""

    dag_id: str
    run_id: str
    logical_date: dt.datetime
    data_interval_start: dt.datetime
    data_interval_end: dt.datetime


def week_logical_date(week: dt.date) -> dt.datetime:
    """The logical date of the manual run for the week whose cutoff is ``week`` (a Sunday): 02:00 UTC that day."""
    if week.weekday() != 6:
        before = week - dt.timedelta(days=(week.weekday() + 1) % 7)
        raise ValueError(
            f"--week {week.isoformat()} is a {week:%A}; a week is named by its cutoff, a Sunday "
            f"(e.g. {before.isoformat()} or {(before + dt.timedelta(days=7)).isoformat()})"
        )
    return dt.datetime(week.year, week.month, week.day, RUN_HOUR_UTC, tzinfo=dt.UTC)


def duplicate_week_hint(dag_id: str, run_id: str) -> str:
    """What to do when a week already has a run (the README's "Re-running a week")."""
    return (
        f"clear it with `airflow dags clear {dag_id} --run-id '{run_id}' --only-failed --yes` (re-runs its failed "
        f"tasks; training resumes from checkpoints) or delete it with `DELETE /api/v2/dags/{dag_id}/dagRuns/{run_id}` "
        f"(or the run's Delete button in the UI) and trigger again"
    )


def trigger_week(week: dt.date, conf: dict[str, Any] | None = None, *, dag_id: str = WEEKLY_DAG_ID) -> TriggeredRun:
    """Queue a manual run of ``dag_id`` for the week whose cutoff is ``week``.

    :param week: the week's cutoff, a Sunday.
    :param conf: the run's params (``{"preset": "demo", ...}``), validated by the DAG's params.
    :param dag_id: the DAG (its timetable must be the weekly one).
    :raises RunExistsError: the week has a run already; the message says how to re-run it.
    :raises ValueError: ``week`` is not a Sunday, or the DAG's timetable gave another week.
    """
    import getpass

    from airflow.api.common.trigger_dag import trigger_dag
    from airflow.exceptions import DagRunAlreadyExists
    from airflow.models.dagrun import DagRun
    from airflow.utils.types import DagRunTriggeredByType

    logical = week_logical_date(week)
    if existing := DagRun.find(dag_id=dag_id, logical_date=logical):
        old = existing[0]
        raise RunExistsError(
            f"{dag_id} already has run {old.run_id} ({old.state}) for the week {week.isoformat()}: "
            + duplicate_week_hint(dag_id, old.run_id)
        )
    try:
        run = trigger_dag(
            dag_id,
            triggered_by=DagRunTriggeredByType.CLI,
            triggering_user_name=getpass.getuser(),
            run_after=logical,  # the manual data interval is inferred from this: the week ending at the logical date
            logical_date=logical,
            conf=conf or {},
        )
    except DagRunAlreadyExists as exc:
        raise RunExistsError(f"{exc}: " + duplicate_week_hint(dag_id, exc.dag_run.run_id)) from exc
    start, end = (run.data_interval_start, run.data_interval_end) if run is not None else (None, None)
    if run is None or start is None or end != logical:
        raise ValueError(f"{dag_id}'s timetable gave the run {end} as its cutoff, not {logical}")
    return TriggeredRun(dag_id, run.run_id, logical, start, logical)
