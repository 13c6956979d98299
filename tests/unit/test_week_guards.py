"""The rules that keep a bad week or a bad run from doing harm (autotest_lib.weekly.guards) and how the DAG layer
classifies errors (autotest_lib.dag_defaults): partial weeks, week order, minimum steps, strict params."""

from __future__ import annotations

import datetime as dt
import sqlite3

import pytest

from autotest_lib.config import load_preset
from autotest_lib.dag_defaults import (
    check_param_keys,
    deployment_data_source,
    deployment_preset,
    deployment_universe,
    fail_fast,
    is_permanent,
    preset_names,
)
from autotest_lib.errors import BundleError, ConfigError, DataError, PermanentDataError, TransientDataError, WeekError, WeekSkipped
from autotest_lib.weekly.guards import SELECTION, check_week_order, effective_steps, needed_by_later_weeks, training_outcome
from autotest_lib.weekly.select import select_week

W1, W2, W3 = dt.date(2024, 8, 25), dt.date(2024, 9, 1), dt.date(2024, 9, 8)


@pytest.fixture
def store(sqlite_store):
    return sqlite_store


def _model(store, model_id: str, week: dt.date, *, status: str = "active", parent: str | None = None, bundle=None) -> None:
    store.upsert_model(
        model_id,
        role="refiner" if parent else "explorer",
        created_week=week,
        tickers=["AAPL"],
        hyperparameters={},
        parent_id=parent,
        status=status,
        bundle_uri=str(bundle) if bundle else None,
        bundle_sha256="0" * 64 if bundle else None,
        cumulative_timesteps=4096,
    )


# -- partial week -------------------------------------------------------------------------------------------------


def test_training_outcome_names_the_rule_for_each_case() -> None:
    planned = ["a", "b", "c"]
    complete = training_outcome(planned, {"a": "active", "b": "archived", "c": "active"})
    assert complete.complete and complete.describe() == "all 3 planned trainings finished"
    partial = training_outcome(planned, {"a": "active", "b": "failed"})  # c never left "planned"
    assert partial.usable and not partial.complete and partial.failed == ("b", "c")
    assert partial.describe() == "2 of 3 planned trainings failed (b, c): partial week, the archive is not pruned"
    none = training_outcome(planned, {"a": "failed", "b": "failed", "c": "planned"})
    assert not none.usable and none.describe().startswith("none of the 3 planned trainings finished")


def test_a_partial_week_selects_but_prunes_nothing(store, tmp_path) -> None:
    """Same registry, same scores: without pruning every bundle and status stays; with it the losers are retired."""
    for mid, score in (("a", 3.0), ("b", 2.0), ("c", 1.0)):
        bundle = tmp_path / "bundles" / mid
        bundle.mkdir(parents=True)
        (bundle / "manifest.json").write_text("{}")
        _model(store, mid, W1, bundle=bundle)
        store.record_evaluation(mid, W1, "validation", window_start=W1 - dt.timedelta(weeks=12), window_end=W1, metrics={}, score=score)
    kwargs = {"threshold": 0.1, "min_dsr": 0.0, "keep_top_n": 1, "home": tmp_path}
    out = select_week(store, W1, prune=False, **kwargs)
    assert out["champion"] == "a" and out["retired"] == []
    assert all((tmp_path / "bundles" / m).is_dir() for m in "abc")
    assert {m.model_id: m.status for m in store.list_models()} == {"a": "archived", "b": "active", "c": "active"}
    out = select_week(store, W1, **kwargs)
    assert sorted(out["retired"]) == ["b", "c"] and not (tmp_path / "bundles" / "b").exists()


# -- week order ---------------------------------------------------------------------------------------------------


def _selected(store, week: dt.date, model_id: str) -> None:
    store.upsert_week(week, cutoff=week, preset="demo", config_hash="h1", status="done")
    store.set_champion(week, model_id, rule="initial")
    store.record_event(week, SELECTION, payload={"champion": model_id, "complete": True})


def test_a_week_is_replayed_or_refused_once_later_weeks_were_selected(store) -> None:
    _model(store, "w1", W1)
    _model(store, "w3", W3, parent="w1")
    _selected(store, W1, "w1")
    assert check_week_order(store, W3, "h1") is None  # the latest week: runs as usual
    _selected(store, W3, "w3")
    assert "replays its recorded selection and orders" in check_week_order(store, W1, "h1")
    with pytest.raises(WeekError, match=r"ran with another config .* re-run it with its original params"):
        check_week_order(store, W1, "h2")
    with pytest.raises(WeekError, match=r"week 2024-09-01 was never selected, but later week\(s\) 2024-09-08 were"):
        check_week_order(store, W2, "h1")
    # what W3 built on survives a (defence-in-depth) selection of W1: its parent and its champion
    assert needed_by_later_weeks(store, W1) == {"w1", "w3"}


# -- params -------------------------------------------------------------------------------------------------------


def test_minimum_effective_steps_are_stated_and_a_budget_under_one_rollout_refused() -> None:
    demo = load_preset("demo")
    lines = effective_steps(demo)
    assert lines[0] == "3 explorer(s) x 4096 steps, trained in whole rollouts of up to 512 steps (so up to 4607 each)"
    assert effective_steps(demo, 0.25)[1].startswith("2 refiner(s) x 512 steps")  # one rollout: trains as asked
    with pytest.raises(ConfigError, match=r"timesteps_scale=1e-09 gives each explorer 1 steps, under one PPO rollout .* >= 0\.25$"):
        effective_steps(demo, 1e-9)
    with pytest.raises(ConfigError, match=r"timesteps_scale=0.2 gives each refiner 410 steps"):
        effective_steps(demo, 0.2)
    for name in preset_names():  # every shipped preset trains as asked at scale 1
        assert effective_steps(load_preset(name))


def test_unknown_run_params_are_refused_with_the_closest_name() -> None:
    allowed = {"preset", "timesteps_scale", "tickers", "seed", "data_source"}
    check_param_keys({"preset": "demo", "seed": 1}, allowed)
    with pytest.raises(ConfigError, match=r"unknown run param\(s\) 'timestep_scale' \(did you mean 'timesteps_scale'\?\); allowed: "):
        check_param_keys({"preset": "demo", "timestep_scale": 0.5}, allowed)


def test_deployment_values_are_checked_and_default_to_the_preset() -> None:
    assert deployment_preset({}) == "demo" and deployment_data_source({}) is None and deployment_universe({}) is None
    assert deployment_data_source({"AUTOTEST_DATA_SOURCE": "~/prices.yaml"}) == "~/prices.yaml"  # checked by config at run time
    env = {"AUTOTEST_PRESET": "recommended", "AUTOTEST_DATA_SOURCE": "yfinance", "AUTOTEST_UNIVERSE": "AAPL, BRK-B,^GSPC"}
    assert (deployment_preset(env), deployment_data_source(env), deployment_universe(env)) == (
        "recommended",
        "yfinance",
        ["AAPL", "BRK-B", "^GSPC"],
    )
    with pytest.raises(ConfigError, match=r"AUTOTEST_PRESET='Demo' is not a preset; allowed: aggressive, .*demo"):
        deployment_preset({"AUTOTEST_PRESET": "Demo"})


# -- one cause, one red task --------------------------------------------------------------------------------------


def test_permanent_errors_fail_once_and_transient_ones_are_retried() -> None:
    from airflow.sdk.exceptions import AirflowFailException, AirflowSkipException

    assert all(is_permanent(e) for e in (PermanentDataError("no prices"), ConfigError("bad"), WeekError("order"), BundleError("hash")))
    assert not any(is_permanent(e) for e in (TransientDataError("timeout"), ConnectionError("reset"), sqlite3.OperationalError("locked")))

    def raising(exc):
        @fail_fast
        def task():
            raise exc

        return task

    with pytest.raises(AirflowFailException, match=r"DataError: no prices for \['ZZZZ'\] \(permanent: not retried\)"):
        raising(DataError("no prices for ['ZZZZ']"))()
    with pytest.raises(TransientDataError):
        raising(TransientDataError("yfinance did not answer"))()
    with pytest.raises(AirflowSkipException, match="nothing trained"):
        raising(WeekSkipped("nothing trained"))()
