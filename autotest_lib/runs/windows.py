"""Every date window of a week, derived from its cutoff alone (never from the clock).

::

    earliest ........ train_start ........ recent_start ........ validation_start ...... cutoff
                      |<------------------- training ------------------->|<- validation ->|
                                           |<------ recent ------------>|

Training is trailing ``train_years`` (or expanding from ``data.earliest`` when null); validation is the
last ``validation_weeks`` before the cutoff and is never trained on; continued models draw
``recent_fraction`` of their episodes from the ``recent_weeks`` before validation (the 70/30 mix). Fresh
models (explorers, new curriculum models and promotions) train on the whole trailing window: the alternating
scheme of ``docs/ADAPTATION.md``.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

from autotest_lib.config import Preset
from autotest_lib.errors import ConfigError

__all__ = ["WeekWindows", "last_completed_week", "week_windows"]


@dataclass(frozen=True)
class WeekWindows:
    """Half-open windows ``[start, end)`` for one week."""

    cutoff: dt.date
    train_start: dt.date
    recent_start: dt.date
    validation_start: dt.date

    @property
    def train_end(self) -> dt.date:
        return self.validation_start

    @property
    def validation_end(self) -> dt.date:
        return self.cutoff

    def as_dict(self) -> dict[str, str]:
        return {
            "cutoff": self.cutoff.isoformat(),
            "train_start": self.train_start.isoformat(),
            "train_end": self.train_end.isoformat(),
            "recent_start": self.recent_start.isoformat(),
            "validation_start": self.validation_start.isoformat(),
            "validation_end": self.validation_end.isoformat(),
        }

    @classmethod
    def from_dict(cls, data: dict[str, str]) -> WeekWindows:
        """The windows :meth:`as_dict` wrote."""
        day = dt.date.fromisoformat
        return cls(
            cutoff=day(data["cutoff"]),
            train_start=day(data["train_start"]),
            recent_start=day(data["recent_start"]),
            validation_start=day(data["validation_start"]),
        )


def week_windows(cutoff: dt.date, preset: Preset) -> WeekWindows:
    """The week's windows from its cutoff and ``preset.windows``.

    :raises ConfigError: when the windows leave less than a year of training data after ``data.earliest``.
    """
    w = preset.windows
    earliest = dt.date.fromisoformat(preset.data.earliest)
    validation_start = cutoff - dt.timedelta(weeks=w.validation_weeks)
    if w.train_years is None:
        train_start = earliest
    else:
        train_start = max(earliest, validation_start - dt.timedelta(days=round(365.25 * w.train_years)))
    recent_start = max(train_start, validation_start - dt.timedelta(weeks=w.recent_weeks))
    if (validation_start - train_start).days < 365:
        raise ConfigError(
            f"cutoff {cutoff}: training window {train_start}..{validation_start} is under a year "
            f"(data.earliest={earliest}, windows.validation_weeks={w.validation_weeks}); pick a later week or an earlier data.earliest"
        )
    return WeekWindows(cutoff=cutoff, train_start=train_start, recent_start=recent_start, validation_start=validation_start)


def last_completed_week(today: dt.date, weekday: int = 6) -> dt.date:
    """The most recent cutoff on ``weekday`` (Sunday = 6) on or before ``today``: used by manual runs
    without a logical date."""
    return today - dt.timedelta(days=(today.weekday() - weekday) % 7)
