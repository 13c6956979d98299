"""LineageStore behaviour, run on SQLite and on PostgreSQL (the ``lineage_store`` fixture is parametrised)."""

from __future__ import annotations

import dataclasses
import datetime as dt
import math
import threading
from concurrent.futures import ThreadPoolExecutor

import pytest

from autotest_lib.registry import (
    MODEL_STATUSES,
    WEEK_STATUSES,
    LineageStore,
    ModelRecord,
    RegistryError,
    UnknownModelError,
    UnknownWeekError,
)

W1, W2, W3 = dt.date(2024, 1, 7), dt.date(2024, 1, 14), dt.date(2024, 1, 21)
HP = {"learning_rate": 3e-4, "n_steps": 256, "net_arch": [64, 64]}

# (model_id, role, week, parent, learning_rate); scores per (model, week) on the validation window.
FAMILY = [
    ("e1", "explorer", W1, None, 3e-4),
    ("e2", "explorer", W1, None, 1e-4),
    ("e3", "explorer", W1, None, 5e-4),
    ("r1", "refiner", W2, "e1", 1.5e-4),
    ("r2", "refiner", W2, "e2", 1e-4),
    ("c1", "champion", W2, "e1", 3e-4),
    ("r1b", "refiner", W3, "r1", 1e-4),
]
SCORES = {
    W1: {"e1": 1.0, "e2": 0.5, "e3": 0.2},
    W2: {"e1": 0.9, "e2": 0.6, "r1": 1.2, "r2": 0.4, "c1": 1.1},
    W3: {"r1": 1.3, "r1b": 1.5},
}
CHAMPIONS = {W1: "e1", W2: "r1", W3: "r1"}


def _window(week: dt.date) -> dict[str, dt.date]:
    return {"window_start": week - dt.timedelta(weeks=26), "window_end": week}


def write_world(store: LineageStore, champions: bool = True) -> None:
    """Three weeks of a small population: explorers, refiners, a champion continuation, a grandchild."""
    for week in (W1, W2, W3):
        store.upsert_week(week, cutoff=week, preset="demo", config_hash="h", plan={"models": [m for m, _, w, *_ in FAMILY if w == week]})
    for model_id, role, week, parent, lr in FAMILY:
        store.upsert_model(
            model_id, role=role, created_week=week, tickers=("AAPL", "MSFT"), hyperparameters={**HP, "learning_rate": lr}, parent_id=parent
        )
        store.record_training_run(
            model_id,
            week,
            steps_added=4096,
            base_lr=lr,
            train_start=week - dt.timedelta(days=3 * 365),
            train_end=week - dt.timedelta(weeks=26),
            history=[{"value_loss": 0.5, "approx_kl": 0.01, "timesteps": 2048}, {"value_loss": 0.4, "approx_kl": 0.02, "timesteps": 4096}],
        )
    for week, scores in SCORES.items():
        for model_id, score in scores.items():
            store.record_evaluation(model_id, week, "validation", **_window(week), metrics={"sharpe": score}, score=score, n_trials=7)
    if champions:
        for week, model_id in CHAMPIONS.items():
            store.set_champion(week, model_id, rule="best_validation", score=SCORES[week][model_id])
    store.record_event(W2, "promotion", model_id="r1", payload={"from": "e1"})
    store.record_event(W3, "archive_prune", payload={"removed": ["e3"]})


def counts(store: LineageStore) -> dict[str, int]:
    return {
        "weeks": len(store.list_weeks()),
        "models": len(store.list_models()),
        "runs": len(store.training_runs()),
        "evals": len(store.evaluations()),
        "champions": len(store.champion_history()),
        "events": len(store.events()),
    }


def test_retried_writes_leave_one_row_each(lineage_store: LineageStore) -> None:
    for _ in range(3):
        write_world(lineage_store)
    assert counts(lineage_store) == {"weeks": 3, "models": 7, "runs": 7, "evals": 10, "champions": 3, "events": 2}


def test_rewrite_updates_values_but_keeps_created_at(lineage_store: LineageStore) -> None:
    first = lineage_store.upsert_model("m", role="explorer", created_week=W1, tickers=["AAPL"], hyperparameters=HP)
    second = lineage_store.upsert_model("m", role="explorer", created_week=W1, tickers=["KO", "V"], hyperparameters=HP, status="failed")
    assert second.tickers == ("KO", "V") and second.status == "failed"
    assert second.created_at == first.created_at and second.updated_at >= first.updated_at
    assert second.created_at.tzinfo is not None
    ev1 = lineage_store.record_evaluation("m", W1, "validation", **_window(W1), metrics={}, score=1.0)
    ev2 = lineage_store.record_evaluation("m", W1, "validation", **_window(W1), metrics={"x": 1}, score=2.0)
    assert (ev2.score, ev2.metrics, ev2.created_at) == (2.0, {"x": 1}, ev1.created_at)
    assert len(lineage_store.evaluations(model_id="m")) == 1


def test_generation_root_and_steps_come_from_the_parent(lineage_store: LineageStore) -> None:
    write_world(lineage_store)
    by_id = {m.model_id: m for m in lineage_store.list_models()}
    assert [(by_id[m].generation, by_id[m].root_id) for m in ("e1", "r1", "c1", "r1b", "r2")] == [
        (1, "e1"),
        (2, "e1"),
        (2, "e1"),
        (3, "e1"),
        (2, "e2"),
    ]
    lineage_store.set_model_bundle("r1", bundle_uri="/b/r1", bundle_sha256="ab" * 32, cumulative_timesteps=8192)
    child = lineage_store.upsert_model("r1c", role="refiner", created_week=W3, tickers=["AAPL"], hyperparameters=HP, parent_id="r1")
    assert (child.generation, child.root_id, child.cumulative_timesteps) == (3, "e1", 8192)
    explicit = lineage_store.upsert_model(
        "x", role="pbt", created_week=W3, tickers=["AAPL"], hyperparameters=HP, parent_id="r1", generation=7
    )
    assert explicit.generation == 7
    assert isinstance(explicit, ModelRecord) and dataclasses.is_dataclass(explicit)
    with pytest.raises(dataclasses.FrozenInstanceError):
        explicit.status = "active"  # type: ignore[misc]


def test_unknown_parents_and_models_are_refused(lineage_store: LineageStore) -> None:
    with pytest.raises(UnknownModelError, match="parent 'ghost' of model 'orphan' is not registered"):
        lineage_store.upsert_model("orphan", role="refiner", created_week=W1, tickers=["AAPL"], hyperparameters=HP, parent_id="ghost")
    assert lineage_store.get_model("orphan") is None
    lineage_store.upsert_model("m", role="explorer", created_week=W1, tickers=["AAPL"], hyperparameters=HP)
    with pytest.raises(RegistryError, match="own parent"):
        lineage_store.upsert_model("m", role="explorer", created_week=W1, tickers=["AAPL"], hyperparameters=HP, parent_id="m")
    with pytest.raises(UnknownModelError):
        lineage_store.record_evaluation("ghost", W1, "validation", **_window(W1), metrics={}, score=1.0)
    with pytest.raises(UnknownModelError):
        lineage_store.record_training_run("ghost", W1, steps_added=1, base_lr=1e-3, train_start=W1, train_end=W2)
    with pytest.raises(UnknownModelError):
        lineage_store.set_champion(W1, "ghost", rule="best")
    with pytest.raises(UnknownModelError):
        lineage_store.ancestry("ghost")
    with pytest.raises(ValueError, match="role='wizard'"):
        lineage_store.upsert_model("w", role="wizard", created_week=W1, tickers=["AAPL"], hyperparameters=HP)
    with pytest.raises(ValueError, match=r"models\.model_id holds at most 128 characters"):
        lineage_store.upsert_model("x" * 129, role="explorer", created_week=W1, tickers=["AAPL"], hyperparameters=HP)
    with pytest.raises(ValueError, match="not a date"):
        lineage_store.upsert_model("w", role="explorer", created_week="2024-13-40", tickers=["AAPL"], hyperparameters=HP)


def test_every_status_is_accepted_by_the_schema(lineage_store: LineageStore) -> None:
    lineage_store.upsert_model("m", role="explorer", created_week=W1, tickers=["AAPL"], hyperparameters=HP)
    for status in MODEL_STATUSES:
        record = lineage_store.set_model_status("m", status, reason=f"now {status}")
        assert (record.status, record.status_reason) == (status, f"now {status}")
    assert [m.model_id for m in lineage_store.list_models(status="failed")] == ["m"]
    assert lineage_store.list_models(status=["active", "archived"]) == ()
    with pytest.raises(ValueError, match="status='lost'"):
        lineage_store.set_model_status("m", "lost")
    with pytest.raises(UnknownModelError):
        lineage_store.set_model_status("ghost", "active")
    lineage_store.upsert_week(W1, cutoff=W1, preset="demo", config_hash="h")
    for status in WEEK_STATUSES:
        assert lineage_store.set_week_status(W1, status).status == status
    with pytest.raises(UnknownWeekError):
        lineage_store.set_week_status(W2, "done")


def test_bundle_filters_and_week_lookup(lineage_store: LineageStore) -> None:
    write_world(lineage_store)
    record = lineage_store.set_model_bundle("e1", bundle_uri="var/bundles/e1", bundle_sha256="f" * 64, cumulative_timesteps=4096)
    # a relative bundle path is relative to the home the store serves
    assert (record.status, record.bundle_uri, record.cumulative_timesteps) == ("active", str(lineage_store.home / "var/bundles/e1"), 4096)
    assert [m.model_id for m in lineage_store.list_models(role="refiner")] == ["r1", "r2", "r1b"]
    assert [m.model_id for m in lineage_store.list_models(week=W2)] == ["c1", "r1", "r2"]
    assert [m.model_id for m in lineage_store.list_models(status="active")] == ["e1"]
    assert {m.model_id for m in lineage_store.list_models(root_id="e1")} == {"e1", "r1", "c1", "r1b"}
    week = lineage_store.get_week("2024-01-14")
    assert week is not None and week.plan == {"models": ["r1", "r2", "c1"]} and week.status == "planned"
    assert lineage_store.get_week(dt.datetime(2030, 1, 1, 12, 0)) is None


def test_training_run_history_and_hyperparameter_diff(lineage_store: LineageStore) -> None:
    write_world(lineage_store)
    (run,) = lineage_store.training_runs("r1")
    assert run.hyperparameter_diff == {"learning_rate": [3e-4, 1.5e-4]}
    assert [h["value_loss"] for h in run.history] == [0.5, 0.4]
    assert lineage_store.training_runs("c1")[0].hyperparameter_diff == {}
    assert lineage_store.training_runs("e1")[0].hyperparameter_diff == {}
    given = lineage_store.record_training_run(
        "c1", W2, steps_added=1, base_lr=1e-3, train_start=W1, train_end=W2, hyperparameter_diff={"gamma": (0.99, 0.98)}
    )
    assert given.hyperparameter_diff == {"gamma": [0.99, 0.98]}
    assert len(lineage_store.training_runs(week=W2)) == 3


def test_non_finite_values_are_stored_as_null(lineage_store: LineageStore) -> None:
    np = pytest.importorskip("numpy")
    lineage_store.upsert_model(
        "m", role="explorer", created_week=W1, tickers=["AAPL"], hyperparameters={"lr": np.float32(0.5), "n": np.int64(3)}
    )
    record = lineage_store.record_evaluation(
        "m",
        W1,
        "validation",
        **_window(W1),
        metrics={"sharpe": float("nan"), "ret": np.float64(0.25), "dd": float("-inf")},
        score=float("nan"),
    )
    assert record.score is None and record.metrics == {"sharpe": None, "ret": 0.25, "dd": None}
    assert lineage_store.get_model("m").hyperparameters == {"lr": 0.5, "n": 3}  # type: ignore[union-attr]


def test_champion_history_links_previous_even_when_backfilled(lineage_store: LineageStore) -> None:
    write_world(lineage_store, champions=False)
    for week in (W3, W1, W2):  # out of order, like a backfill
        lineage_store.set_champion(week, CHAMPIONS[week], rule="best_validation", score=SCORES[week][CHAMPIONS[week]])
    history = lineage_store.champion_history()
    assert [(c.week, c.model_id, c.previous_model_id) for c in history] == [(W1, "e1", None), (W2, "r1", "e1"), (W3, "r1", "r1")]
    assert lineage_store.current_champion().week == W3  # type: ignore[union-attr]
    assert lineage_store.current_champion(before_week=W3).model_id == "r1"  # type: ignore[union-attr]
    assert lineage_store.current_champion(before_week=W2).model_id == "e1"  # type: ignore[union-attr]
    assert lineage_store.current_champion(before_week=W1) is None
    long_rule = "challenger: beats incumbent e1 with deflated Sharpe 0.61 >= 0.0 over 26 weeks of validation " * 3
    lineage_store.set_champion(W2, "c1", rule=long_rule)  # a retry that changes its mind; rules are free text
    assert lineage_store.current_champion(before_week=W3).rule == long_rule  # type: ignore[union-attr]
    assert [c.previous_model_id for c in lineage_store.champion_history()] == [None, "e1", "c1"]


def test_leaderboard_ranks_by_score_with_missing_scores_last(lineage_store: LineageStore) -> None:
    write_world(lineage_store)
    lineage_store.record_evaluation("e3", W2, "validation", **_window(W2), metrics={}, score=float("nan"))
    board = lineage_store.leaderboard(W2)
    assert [(r.rank, r.model_id) for r in board] == [(1, "r1"), (2, "c1"), (3, "e1"), (4, "e2"), (5, "r2"), (6, "e3")]
    assert board[0].generation == 2 and board[0].parent_id == "e1" and board[0].n_trials == 7 and board[-1].score is None
    assert [r.model_id for r in lineage_store.leaderboard()] == ["r1b", "r1"]  # latest evaluated week
    assert [r.model_id for r in lineage_store.leaderboard(W2, limit=2)] == ["r1", "c1"]
    assert lineage_store.leaderboard(W2, window="test") == ()


def test_ancestry_runs_root_to_model_with_runs_and_scores(lineage_store: LineageStore) -> None:
    write_world(lineage_store)
    steps = lineage_store.ancestry("r1b")
    assert [s.model.model_id for s in steps] == ["e1", "r1", "r1b"]
    assert [s.model.generation for s in steps] == [1, 2, 3]
    assert [[e.week for e in s.evaluations] for s in steps] == [[W1, W2], [W2, W3], [W3]]
    assert all(len(s.training_runs) == 1 for s in steps)
    assert steps[1].training_runs[0].hyperparameter_diff == {"learning_rate": [3e-4, 1.5e-4]}
    assert [s.model.model_id for s in lineage_store.ancestry("e2")] == ["e2"]
    as_dict = steps[0].to_dict()
    assert as_dict["model"]["created_week"] == "2024-01-07" and as_dict["model"]["tickers"] == ["AAPL", "MSFT"]


def test_champion_longevity_groups_consecutive_weeks(lineage_store: LineageStore) -> None:
    write_world(lineage_store)
    stints = lineage_store.champion_longevity()
    assert [(s.model_id, s.from_week, s.to_week, s.weeks_held, s.current) for s in stints] == [
        ("e1", W1, W1, 1, False),
        ("r1", W2, W3, 2, True),
    ]


def test_generation_improvement_compares_children_with_parents_same_week(lineage_store: LineageStore) -> None:
    write_world(lineage_store)
    report = lineage_store.generation_improvement()
    # generation 2: r1 1.2 > e1 0.9, c1 1.1 > e1 0.9, r2 0.4 < e2 0.6; generation 3: r1b 1.5 > r1 1.3
    assert [(s.generation, s.children, s.improved) for s in report.by_generation] == [(2, 3, 2), (3, 1, 1)]
    assert (report.overall.children, report.overall.improved) == (4, 3)
    assert math.isclose(report.overall.share, 0.75)  # type: ignore[arg-type]
    empty = lineage_store.generation_improvement(window="test")
    assert empty.overall.children == 0 and empty.overall.share is None and empty.by_generation == ()


def test_weekly_trend_reports_best_score_and_change(lineage_store: LineageStore) -> None:
    write_world(lineage_store)
    trend = lineage_store.weekly_trend()
    assert [(p.week, p.model_id, p.best_score, p.n_models) for p in trend] == [(W1, "e1", 1.0, 3), (W2, "r1", 1.2, 5), (W3, "r1b", 1.5, 2)]
    assert trend[0].change is None
    assert [round(p.change, 9) for p in trend[1:]] == [0.2, 0.3]  # type: ignore[arg-type]


def test_events_are_keyed_and_filterable(lineage_store: LineageStore) -> None:
    write_world(lineage_store)
    for _ in range(2):
        lineage_store.record_event(W3, "exploit", model_id="r2", round=0, payload={"copied": "r1"})
        lineage_store.record_event(W3, "exploit", model_id="r2", round=1, payload={"copied": "c1"})
    assert [(e.round, e.payload["copied"]) for e in lineage_store.events(kind="exploit")] == [(0, "r1"), (1, "c1")]
    (prune,) = lineage_store.events(kind="archive_prune")
    assert prune.model_id is None and prune.payload == {"removed": ["e3"]}
    assert [e.kind for e in lineage_store.events(model_id="r2")] == ["exploit", "exploit"]
    assert len(lineage_store.events(week=W3)) == 3


def test_parallel_threads_share_one_store(lineage_store: LineageStore) -> None:
    """Twelve threads write children of one parent at once, twice each: no 'database is locked', one row each."""
    lineage_store.upsert_model("p", role="explorer", created_week=W1, tickers=["AAPL"], hyperparameters=HP)
    barrier = threading.Barrier(12)

    def write(i: int) -> str:
        barrier.wait()
        model_id = f"child-{i % 6}"
        lineage_store.upsert_model(model_id, role="refiner", created_week=W2, tickers=["AAPL"], hyperparameters=HP, parent_id="p")
        lineage_store.record_training_run(model_id, W2, steps_added=10, base_lr=1e-3, train_start=W1, train_end=W2)
        lineage_store.record_evaluation(model_id, W2, "validation", **_window(W2), metrics={}, score=float(i % 6))
        return model_id

    with ThreadPoolExecutor(12) as pool:
        assert sorted(set(pool.map(write, range(12)))) == [f"child-{i}" for i in range(6)]
    assert len(lineage_store.list_models(role="refiner")) == 6
    assert len(lineage_store.training_runs(week=W2)) == 6 and len(lineage_store.evaluations(week=W2)) == 6
    assert {m.generation for m in lineage_store.list_models(role="refiner")} == {2}
