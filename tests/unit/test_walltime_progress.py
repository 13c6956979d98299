"""The week's wall-time estimate, the progress line, the deployment settings and the week a trigger names."""

from __future__ import annotations

import datetime as dt
import logging
from types import SimpleNamespace

import numpy as np
import pytest

from autotest_lib.cluster import training_slots, training_window_h, worker_hostname
from autotest_lib.errors import ConfigError
from autotest_lib.trigger import duplicate_week_hint, week_logical_date
from autotest_lib.weekly.walltime import WeekTooLongError, estimate_wall_time, measured_steps_per_s


def test_estimate_spreads_work_over_slots_but_not_below_the_longest_task() -> None:
    est = estimate_wall_time([3600, 3600, 3600, 3600], steps_per_s=1.0, slots=2, window_h=6)
    assert est.hours == pytest.approx(2.0) and est.fits
    one_long = estimate_wall_time([36_000, 100], steps_per_s=1.0, slots=8, window_h=6)
    assert one_long.hours == pytest.approx(10.0) and not one_long.fits


def test_a_week_over_the_window_fails_fast_naming_a_scale_that_fits() -> None:
    err = estimate_wall_time([12 * 3600], steps_per_s=1.0, slots=1, window_h=6).error()
    assert isinstance(err, WeekTooLongError)
    assert "12.00 h" in str(err) and "timesteps_scale x0.50" in str(err) and "AUTOTEST_TRAINING_WINDOW_H" in str(err)


def test_measured_rate_is_the_median_of_recent_runs_with_a_wall_time() -> None:
    runs = [
        SimpleNamespace(week=dt.date(2024, 8, d), steps_added=s, wall_time_s=w)
        for d, s, w in [(4, 1000, 10.0), (11, 1000, 5.0), (18, 1000, 2.0), (25, 500, None), (25, 0, 3.0)]
    ]
    assert measured_steps_per_s(runs) == pytest.approx(200.0)
    assert measured_steps_per_s(runs, recent=1) == pytest.approx(500.0)
    assert measured_steps_per_s([]) is None


@pytest.mark.parametrize(("raw", "ok"), [("", 6.0), ("2.5", 2.5), ("0", None), ("-1", None), ("abc", None), ("200", None), ("nan", None)])
def test_training_window_is_validated(raw: str, ok: float | None) -> None:
    env = {"AUTOTEST_TRAINING_WINDOW_H": raw}
    if ok is None:
        with pytest.raises(ConfigError, match=r"AUTOTEST_TRAINING_WINDOW_H=.* is not a number in \(0, 168\]"):
            training_window_h(env)
    else:
        assert training_window_h(env) == ok


@pytest.mark.parametrize("raw", ["0", "-2", "1.5", "x"])
def test_training_slots_are_validated(raw: str) -> None:
    with pytest.raises(ConfigError, match=r"AUTOTEST_TRAINING_SLOTS=.*integer >= 1"):
        training_slots({"AUTOTEST_TRAINING_SLOTS": raw})
    assert training_slots({"AUTOTEST_TRAINING_SLOTS": "3"}) == 3


def test_worker_hostname_tells_workers_on_one_host_apart(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("AUTOTEST_WORKER_NAME", "w2")
    named = worker_hostname()
    monkeypatch.delenv("AUTOTEST_WORKER_NAME")
    assert named == f"w2.{worker_hostname()}"


def test_a_week_is_named_by_its_cutoff_sunday() -> None:
    assert week_logical_date(dt.date(2024, 9, 1)) == dt.datetime(2024, 9, 1, 2, tzinfo=dt.UTC)
    with pytest.raises(ValueError, match=r"2024-09-04 is a Wednesday.*2024-09-01 or 2024-09-08"):
        week_logical_date(dt.date(2024, 9, 4))
    hint = duplicate_week_hint("autotest_weekly", "manual__x")
    assert "airflow dags clear autotest_weekly --run-id 'manual__x'" in hint
    assert "DELETE /api/v2/dags/autotest_weekly/dagRuns/manual__x" in hint


def test_progress_lines_give_steps_rate_eta_reward_and_losses(caplog: pytest.LogCaptureFixture) -> None:
    """A tiny PPO with a fake clock that advances 10 s per step: a line every 30 s of it, and a final one."""
    import gymnasium as gym
    from stable_baselines3 import PPO

    from autotest_lib.train.progress import ProgressCallback, format_duration, progress_interval_s

    ticks = iter(range(0, 10**6, 10))
    model = PPO("MlpPolicy", gym.make("CartPole-v1"), n_steps=64, batch_size=32, n_epochs=1, seed=0, device="cpu")
    callback = ProgressCallback("m-1", end_steps=128, interval_s=30, clock=lambda: float(next(ticks)))
    with caplog.at_level(logging.INFO, logger="autotest_lib.train.progress"):
        model.learn(total_timesteps=128, callback=callback)
    lines = [r.getMessage() for r in caplog.records]
    assert len(lines) >= 4 and all(line.startswith("progress m-1: ") for line in lines)
    assert "steps/s" in lines[1] and "ETA" in lines[1] and "mean episode reward" in lines[1]
    assert lines[-1].startswith("progress m-1: 128/128 steps (100%)") and "ETA 0s" in lines[-1] and "value_loss" in lines[-1]
    assert format_duration(3725) == "1h02m05s" and format_duration(70) == "1m10s" and format_duration(np.nan) == "unknown"
    with pytest.raises(ValueError, match="AUTOTEST_PROGRESS_INTERVAL_S='0'"):
        progress_interval_s({"AUTOTEST_PROGRESS_INTERVAL_S": "0"})


def test_plan_check_logs_the_estimate_and_fails_fast_over_the_window(monkeypatch: pytest.MonkeyPatch, caplog) -> None:
    from autotest_lib.weekly.walltime import check_wall_time

    week = dt.date(2024, 9, 8)
    runs = [SimpleNamespace(week=dt.date(2024, 9, 1), steps_added=1000, wall_time_s=1.0)]  # 1000 steps/s
    later = [SimpleNamespace(week=week, steps_added=1, wall_time_s=1.0)]  # this week's own runs do not count
    store = SimpleNamespace(training_runs=lambda: runs + later)
    monkeypatch.setenv("AUTOTEST_TRAINING_SLOTS", "2")
    monkeypatch.setenv("AUTOTEST_TRAINING_WINDOW_H", "1")
    with caplog.at_level(logging.INFO, logger="autotest_lib.weekly.walltime"):
        check_wall_time(store, [3_600_000, 3_600_000], before=week)  # 2 x 1 h on 2 slots
    assert "estimated training wall time 1.00 h" in caplog.text and "fits" in caplog.text
    with pytest.raises(WeekTooLongError, match=r"2.00 h .* failing fast .* timesteps_scale x0.50"):
        check_wall_time(store, [3_600_000] * 4, before=week)
    check_wall_time(SimpleNamespace(training_runs=lambda: later), [10**12], before=week)  # nothing measured: no check
