"""start_week: the cutoff comes from the run's data interval, never the clock, except for a manual run with
no logical date, which takes the last completed week and says so."""

from __future__ import annotations

import datetime as dt
import logging

import pytest

from autotest_lib.errors import ConfigError
from autotest_lib.runs import WeekContext
from autotest_lib.tasks import weekly as tasks


@pytest.fixture(autouse=True)
def home(tmp_path, monkeypatch):
    monkeypatch.setenv("AUTOTEST_HOME", str(tmp_path))
    return tmp_path


def test_cutoff_is_the_data_interval_end(home) -> None:
    end = dt.datetime(2024, 9, 8, 2, tzinfo=dt.UTC)
    week = tasks.start_week({"preset": "demo", "timesteps_scale": 0.5, "seed": 3}, end, today=dt.date(2030, 1, 1))
    assert week["cutoff"] == "2024-09-08" and week["seed"] == 3 and week["timesteps_scale"] == 0.5
    assert week["windows"]["validation_end"] == "2024-09-08"
    assert (home / "runs" / "2024-09-08").is_dir()


def test_manual_run_without_logical_date_uses_last_completed_week(caplog) -> None:
    with caplog.at_level(logging.WARNING, logger="autotest_lib.runs.context"):
        week = tasks.start_week({"preset": "demo"}, None, today=dt.date(2024, 9, 12))
    assert week["cutoff"] == "2024-09-08"
    assert "last completed week" in caplog.text


def test_params_are_checked_against_the_preset() -> None:
    end = dt.datetime(2024, 9, 8, 2, tzinfo=dt.UTC)
    with pytest.raises(ConfigError, match="unknown preset"):
        tasks.start_week({"preset": "nope"}, end)
    with pytest.raises(ConfigError, match="timesteps_scale"):
        tasks.start_week({"preset": "demo", "timesteps_scale": -1}, end)
    week = tasks.start_week({"preset": "demo", "tickers": ["KO", "AAPL"]}, end)
    preset = WeekContext.from_xcom(week).load_preset()
    assert preset.data.universe == ("KO", "AAPL") and preset.data.tickers_per_model == (2, 2)
