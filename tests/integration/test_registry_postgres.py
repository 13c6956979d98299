"""Registry on a real PostgreSQL: 20 writers at once (threads, then processes) leave exactly one row per key.

Each writer is what one Airflow training task does: upsert its model (child of a registered parent), record its
training run and its evaluation. The writers wait on a barrier so they hit the database together; the batch is
then repeated (a retry of every task) and must change nothing but values.
"""

from __future__ import annotations

import datetime as dt
import multiprocessing as mp
import threading
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import pytest

from autotest_lib.registry import LineageStore

pytestmark = [pytest.mark.postgres, pytest.mark.parametrize("db_url", ["postgres"], indirect=True, scope="module")]

WRITERS = 20
W0, W1 = dt.date(2024, 3, 3), dt.date(2024, 3, 10)
HP = {"learning_rate": 3e-4, "gamma": 0.99}
# parent id -> (parent of the parent, expected generation, expected root)
PARENTS = {"p0": (None, 1, "p0"), "p1": (None, 1, "p1"), "p2": ("p0", 2, "p0"), "p3": ("p2", 3, "p0")}


def _register_parents(store: LineageStore) -> None:
    for model_id, (parent, _, _) in PARENTS.items():
        store.upsert_model(
            model_id,
            role="explorer" if parent is None else "refiner",
            created_week=W0,
            tickers=["AAPL"],
            hyperparameters=HP,
            parent_id=parent,
        )
        store.record_evaluation(model_id, W1, "validation", window_start=W0, window_end=W1, metrics={}, score=0.5)


def write_one(store: LineageStore, i: int, attempt: int) -> str:
    """One training task: child ``i`` of parent ``p{i % 4}``; ``attempt`` changes values, never keys."""
    model_id, parent = f"w{i:02d}", f"p{i % len(PARENTS)}"
    store.upsert_model(
        model_id, role="refiner", created_week=W1, tickers=["AAPL", "MSFT"], hyperparameters={**HP, "gamma": 0.98}, parent_id=parent
    )
    store.record_training_run(
        model_id, W1, steps_added=4096 + attempt, base_lr=3e-4, train_start=dt.date(2021, 1, 1), train_end=W0, history=[{"value_loss": 0.1}]
    )
    store.record_evaluation(
        model_id, W1, "validation", window_start=W0, window_end=W1, metrics={"attempt": attempt}, score=i + attempt / 100
    )
    return model_id


def _process_writer(url: str, i: int, attempt: int, barrier: Any, results: Any) -> None:
    try:
        with LineageStore(url) as store:
            barrier.wait(timeout=60)
            results.put(("ok", write_one(store, i, attempt)))
    except BaseException as exc:  # reported to the parent, which fails the test with it
        results.put(("error", f"writer {i}: {type(exc).__name__}: {exc}"))


def _assert_consistent(store: LineageStore, attempt: int) -> None:
    children = store.list_models(week=W1)
    assert len(children) == WRITERS
    parents = {m.model_id: m for m in store.list_models(week=W0)}
    for child in children:
        parent = parents[child.parent_id]  # type: ignore[index]
        assert (child.generation, child.root_id) == (parent.generation + 1, parent.root_id), child.model_id
    runs, evals = store.training_runs(week=W1), store.evaluations(week=W1)
    assert len(runs) == WRITERS and len(evals) == WRITERS + len(PARENTS)
    assert {r.steps_added for r in runs} == {4096 + attempt}
    assert all(r.hyperparameter_diff == {"gamma": [0.99, 0.98]} for r in runs)
    assert {e.metrics.get("attempt") for e in evals if e.model_id.startswith("w")} == {attempt}
    board = store.leaderboard(W1)
    assert [r.model_id for r in board[:2]] == ["w19", "w18"] and len(board) == WRITERS + len(PARENTS)


def test_twenty_threads_then_overlapping_retries(lineage_store: LineageStore) -> None:
    """20 threads write 20 models; then 40 threads retry them, two per model at the same moment."""
    _register_parents(lineage_store)
    for attempt, copies in ((0, 1), (1, 2)):
        barrier = threading.Barrier(WRITERS * copies)

        def task(i: int, attempt: int = attempt, barrier: threading.Barrier = barrier) -> str:
            barrier.wait(timeout=60)
            return write_one(lineage_store, i % WRITERS, attempt)

        with ThreadPoolExecutor(WRITERS * copies) as pool:
            assert len(set(pool.map(task, range(WRITERS * copies)))) == WRITERS
        _assert_consistent(lineage_store, attempt)


def test_twenty_processes_then_their_retries(lineage_store: LineageStore) -> None:
    """20 processes (own interpreter, own engine) write 20 models together; the whole batch is then rerun."""
    _register_parents(lineage_store)
    # fork: a spawned interpreter per writer costs ~1 s of imports on a 2-core runner (45 s for the test). Each
    # child opens its own engine and never touches the parent's pooled connections; it exits with os._exit.
    ctx = mp.get_context("fork")
    for attempt in (0, 1):
        barrier, results = ctx.Barrier(WRITERS), ctx.Queue()
        procs = [ctx.Process(target=_process_writer, args=(lineage_store.url, i, attempt, barrier, results)) for i in range(WRITERS)]
        try:
            for p in procs:
                p.start()
            outcomes = [results.get(timeout=60) for _ in procs]
        finally:
            for p in procs:
                p.join(timeout=30)
                if p.is_alive():
                    p.kill()
        assert [o for o in outcomes if o[0] != "ok"] == []
        assert [p.exitcode for p in procs] == [0] * WRITERS
        assert sorted(o[1] for o in outcomes) == [f"w{i:02d}" for i in range(WRITERS)]
        _assert_consistent(lineage_store, attempt)
