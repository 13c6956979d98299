"""The continuous week's stage times: from an anchor, in order, inside the week; Sunday = no waits."""

from __future__ import annotations

import datetime as dt

import pytest

from autotest_lib.config import load_preset
from autotest_lib.errors import ConfigError
from autotest_lib.weekly.continuous import stage_times

CUTOFF = dt.date(2024, 9, 8)  # a Sunday


def test_sunday_is_the_default_and_starts_every_stage_at_the_cutoff() -> None:
    times = stage_times(load_preset("demo"), CUTOFF)
    assert times.pop("schedule") == "sunday"
    assert set(times.values()) == {"2024-09-08T02:00:00+00:00"}


def test_continuous_spreads_monday_to_saturday_from_the_anchor() -> None:
    times = stage_times(load_preset("demo"), CUTOFF, schedule="continuous")
    days = {k: dt.datetime.fromisoformat(v).strftime("%a") for k, v in times.items() if k != "schedule"}
    assert days == {"explorers": "Mon", "refiners": "Tue", "champion": "Wed", "backtests": "Thu", "paper": "Sat"}
    early = stage_times(load_preset("demo"), CUTOFF, schedule="continuous", anchor="2000-01-02T00:00:00")
    assert early["explorers"] == "2000-01-03T00:00:00+00:00" and early["paper"] == "2000-01-08T00:00:00+00:00"


def test_bad_schedules_are_refused_with_the_fix() -> None:
    with pytest.raises(ConfigError, match=r"schedule='weekly': must be one of sunday, continuous"):
        stage_times(load_preset("demo"), CUTOFF, schedule="weekly")
    with pytest.raises(ConfigError, match=r"anchor='monday': not an ISO datetime"):
        stage_times(load_preset("demo"), CUTOFF, schedule="continuous", anchor="monday")
    with pytest.raises(ConfigError, match=r"continuous.*paper=200 hours: the stages must fit in the week.*set paper between 96 and 167"):
        load_preset("demo", {"schedule": "continuous", "continuous": {"paper": 200}})
    with pytest.raises(ConfigError, match=r"refiners=10 hours.*set refiners between 24 and 167"):
        load_preset("demo", {"continuous": {"refiners": 10}})
    with pytest.raises(ConfigError, match=r"schedule='daily'"):
        load_preset("demo", {"schedule": "daily"})
