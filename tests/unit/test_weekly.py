"""Weekly decisions: windows from the cutoff, the rollback guard, the champion rule, and planning."""

from __future__ import annotations

import datetime as dt
import math

import pytest

from autotest_lib.config import load_preset, scaled
from autotest_lib.errors import ConfigError
from autotest_lib.weekly import champion_decision, last_completed_week, plan_week, rollback_decisions, week_windows

DEMO = load_preset("demo")
REC = load_preset("recommended")


def test_windows_derive_from_the_cutoff_only() -> None:
    w = week_windows(dt.date(2024, 9, 8), REC)
    assert w.validation_end == dt.date(2024, 9, 8)
    assert w.validation_start == dt.date(2024, 9, 8) - dt.timedelta(weeks=26)
    assert w.train_end == w.validation_start
    assert (w.train_end - w.train_start).days == round(365.25 * 8)
    assert w.recent_start == w.validation_start - dt.timedelta(weeks=104)
    assert w.train_start < w.recent_start < w.train_end <= w.validation_end


def test_expanding_window_starts_at_the_earliest_data() -> None:
    p = load_preset("recommended", {"windows": {"train_years": None}})
    assert week_windows(dt.date(2020, 1, 5), p).train_start == dt.date(2005, 1, 3)


def test_too_short_a_training_window_is_refused() -> None:
    with pytest.raises(ConfigError, match="under a year"):
        week_windows(dt.date(2005, 6, 5), REC)


def test_last_completed_week_is_the_latest_sunday() -> None:
    assert last_completed_week(dt.date(2026, 11, 26)) == dt.date(2026, 11, 22)  # a Thursday
    assert last_completed_week(dt.date(2026, 11, 22)) == dt.date(2026, 11, 22)  # a Sunday


def test_rollback_when_more_than_ten_percent_worse_than_parent() -> None:
    pairs = [
        ("c1", "p1", 0.89, 1.0),  # 11% worse -> rolled back
        ("c2", "p2", 0.91, 1.0),  # 9% worse -> stays
        ("c3", "p3", -1.2, -1.0),  # negative parent: 20% worse -> rolled back
        ("c4", "p4", -1.05, -1.0),  # 5% worse -> stays
        ("c5", "p5", None, 1.0),  # no score -> rolled back
        ("c6", "p6", 0.2, None),  # parent not comparable -> stays
    ]
    out = {r.child_id: r for r in rollback_decisions(pairs, threshold=0.10)}
    assert set(out) == {"c1", "c3", "c5"}
    assert "more than 10% worse than parent p1" in out["c1"].reason
    assert math.isnan(out["c5"].child_score)


def test_champion_rule() -> None:
    first = champion_decision(None, [("a", 1.0, 0.2), ("b", 2.0, 0.1)], min_dsr=0.5)
    assert (first.model_id, first.changed) == ("b", True) and first.rule.startswith("initial")
    # a better challenger without enough deflated Sharpe does not take over
    kept = champion_decision(("a", 1.0), [("a", 1.0, 0.9), ("b", 2.0, 0.3)], min_dsr=0.5)
    assert (kept.model_id, kept.changed) == ("a", False)
    won = champion_decision(("a", 1.0), [("a", 1.0, 0.9), ("b", 2.0, 0.6)], min_dsr=0.5)
    assert (won.model_id, won.changed) == ("b", True) and "DSR 0.600" in won.rule
    # the incumbent is the best: it stays
    stays = champion_decision(("a", 3.0), [("a", 3.0, 0.9), ("b", 2.0, 0.99)], min_dsr=0.5)
    assert stays.model_id == "a" and not stays.changed
    assert champion_decision(None, [("a", None, None)], min_dsr=0.0) is None


def test_champion_rule_option_own_1n() -> None:
    """With the option, a challenger (and a first champion) must also beat 1/N of its own tickers."""
    own = {"a": 0.5, "b": 2.5, "c": 1.2}
    first = champion_decision(None, [("a", 1.0, 0.2), ("b", 2.0, 0.1)], min_dsr=0.0, own_1n=own)
    assert first.model_id == "a", "b scores more but trails its own 1/N"
    candidates = [("a", 1.0, 0.9), ("b", 2.0, 0.9), ("c", 1.5, 0.9)]
    won = champion_decision(("a", 1.0), candidates, min_dsr=0.5, own_1n=own)
    assert won.model_id == "c" and "own 1/N (1.2000)" in won.rule
    kept = champion_decision(("a", 1.0), [("a", 1.0, 0.9), ("b", 2.0, 0.9)], min_dsr=0.5, own_1n=own)
    assert kept.model_id == "a" and not kept.changed and "own 1/N" in kept.rule
    assert champion_decision(("a", 1.0), [("a", 1.0, 0.9), ("b", 2.0, 0.9)], min_dsr=0.5).model_id == "b"  # option off


def test_first_week_plans_explorers_only_and_says_so(sqlite_store) -> None:
    week = dt.date(2024, 9, 8)
    plan = plan_week(week, REC, sqlite_store)
    assert [s.role for s in plan.specs] == ["explorer"] * 15
    assert any("first week" in n for n in plan.notes)
    ids = plan.ids("explorer")
    assert ids[0] == "20240908-explorer-00" and len(set(ids)) == 15
    for s in plan.specs:
        assert 5 <= len(s.tickers) <= 10 and set(s.tickers) <= set(REC.data.universe)
        assert s.timesteps == 1_500_000 and s.lr_schedule == "linear" and s.lr_multiplier == 1.0
        assert s.train_end == plan.windows.validation_start and s.cutoff == week
        assert s.recent_fraction == 0.0 and s.parent_id is None
    # explorers differ in hyperparameters and tickers
    assert len({s.ppo.learning_rate for s in plan.specs}) == 15
    assert len({s.tickers for s in plan.specs}) > 10


def test_plan_is_deterministic_per_week_and_seed(sqlite_store) -> None:
    a = plan_week(dt.date(2024, 9, 8), REC, sqlite_store)
    b = plan_week(dt.date(2024, 9, 8), REC, sqlite_store)
    c = plan_week(dt.date(2024, 9, 1), REC, sqlite_store)
    d = plan_week(dt.date(2024, 9, 8), REC, sqlite_store, seed=1)
    assert a.as_json() == b.as_json()
    assert [s.tickers for s in a.specs] != [s.tickers for s in c.specs]
    assert [s.ppo for s in a.specs] != [s.ppo for s in d.specs]


def test_timesteps_scale_and_universe_override(sqlite_store) -> None:
    p = scaled(DEMO, 0.5)
    plan = plan_week(dt.date(2024, 9, 8), p, sqlite_store, universe=["AAPL", "KO"])
    assert all(s.timesteps == 2048 for s in plan.specs)
    assert all(set(s.tickers) <= {"AAPL", "KO"} for s in plan.specs)
    with pytest.raises(ConfigError, match="timesteps_scale"):
        scaled(DEMO, 0)
