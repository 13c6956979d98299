"""Exchange trading calendars from the maintained ``exchange-calendars`` package (holidays, early closes).

The calendar decides which session a week's data must end on: with a cutoff of Sunday 2024-07-07 the last
session before it is Friday 2024-07-05 (Thursday 07-04 is a NYSE holiday). Nothing here encodes holiday
rules by hand; the package does.
"""

from __future__ import annotations

from functools import lru_cache
from typing import Any

import pandas as pd

from autotest_lib.data.frame import DateLike, as_day
from autotest_lib.errors import PermanentDataError

__all__ = ["DEFAULT_CALENDAR", "check_fresh", "last_session_before", "sessions"]

DEFAULT_CALENDAR = "XNYS"
"""New York Stock Exchange: the bundled Dow 30 and SPY trade there."""


@lru_cache(maxsize=8)
def _calendar(name: str) -> Any:
    import exchange_calendars

    try:
        return exchange_calendars.get_calendar(name, start="1990-01-02")
    except exchange_calendars.errors.InvalidCalendarName:
        raise PermanentDataError(
            f"unknown trading calendar {name!r}; use an exchange code of exchange-calendars, e.g. 'XNYS', 'XLON', 'XTKS'"
        ) from None


def sessions(start: DateLike, end: DateLike, calendar: str = DEFAULT_CALENDAR) -> pd.DatetimeIndex:
    """Trading sessions dated in ``[start, end)`` as naive midnight timestamps.

    :param start: first day (inclusive).
    :param end: exclusive end.
    :param calendar: exchange code, e.g. ``"XNYS"``.
    """
    cal = _calendar(calendar)
    lo, hi = as_day(start), as_day(end) - pd.Timedelta(days=1)
    if hi < lo:
        return pd.DatetimeIndex([], dtype="datetime64[ns]")
    lo, hi = max(lo, cal.first_session.tz_localize(None)), min(hi, cal.last_session.tz_localize(None))
    return pd.DatetimeIndex(cal.sessions_in_range(lo, hi)).tz_localize(None).as_unit("ns")


def last_session_before(cutoff: DateLike, calendar: str = DEFAULT_CALENDAR) -> pd.Timestamp:
    """The last trading session strictly before ``cutoff`` (the day a week's data must reach).

    :param cutoff: the exclusive cutoff.
    :param calendar: exchange code.
    """
    cal = _calendar(calendar)
    day = as_day(cutoff) - pd.Timedelta(days=1)
    return pd.Timestamp(cal.date_to_session(day, direction="previous")).tz_localize(None).as_unit("ns")


def check_fresh(frame: pd.DataFrame, cutoff: DateLike, *, source: str, calendar: str = DEFAULT_CALENDAR) -> pd.Timestamp:
    """Every ticker of ``frame`` has a bar on the last session before ``cutoff``; return that session.

    :param frame: a normalised price frame.
    :param cutoff: the exclusive cutoff.
    :param source: the source's name, quoted in the error.
    :param calendar: exchange code.
    :raises PermanentDataError: a ticker lacks that session, naming the ticker, the day and its last bar.
    """
    last = last_session_before(cutoff, calendar)
    newest = frame.groupby("ticker", sort=True)["date"].max()
    stale = newest[newest < last]
    if len(stale):
        shown = ", ".join(f"{t} (last bar {d.date()})" for t, d in stale.items())
        raise PermanentDataError(
            f"source {source!r} is stale: {shown} missing the {calendar} session {last.date()} (the last before cutoff "
            f"{as_day(cutoff).date()}); update the source, or run an earlier week"
        )
    return last
