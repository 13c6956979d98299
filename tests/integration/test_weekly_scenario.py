"""Three weeks of the weekly pipeline through its task functions, lineage in PostgreSQL, with a forced
regression: week 1 trains explorers only; week 2 continues week 1's best as generation-2 refiners; one refiner
is made worse than its parent on purpose and is rolled back while its parent keeps its place."""

from __future__ import annotations

import datetime as dt

import numpy as np
import pytest
import torch

from autotest_lib.data import load_market
from autotest_lib.registry import LineageStore
from autotest_lib.tasks import weekly as tasks
from autotest_lib.train import load_model, verify_bundle, write_bundle

pytestmark = pytest.mark.postgres

WEEKS = [dt.date(2024, 8, 18), dt.date(2024, 8, 25), dt.date(2024, 9, 1)]


def run_week(cutoff: dt.date, sabotage=None) -> dict:
    """The DAG's task sequence for one week, in-process."""
    interval_end = dt.datetime.combine(cutoff, dt.time(2), tzinfo=dt.UTC)
    week = tasks.start_week({"preset": "demo"}, interval_end)
    tasks.ingest(week)
    ids = tasks.plan(week)
    for role in ("explorer", "refiner", "champion"):
        for model_id in ids[role]:
            tasks.train_one(week, model_id)
    if sabotage:
        sabotage(week)
    for model_id in tasks.candidates(week):
        tasks.backtest_one(week, model_id)
    return tasks.select(week)


def pin_to_worst_ticker(store: LineageStore, model_id: str, week: dict) -> str:
    """Rewrite a trained model so it holds (almost) only the ticker that did worst on the validation window:
    a real regression, measured by the same backtest as every other model."""
    model = store.get_model(model_id)
    w = week["windows"]
    market = load_market(list(model.tickers), start=dt.date.fromisoformat(w["validation_start"]), cutoff=dt.date.fromisoformat(w["cutoff"]))
    growth = np.prod(1 + market.returns, axis=0)
    worst = int(np.argmin(growth))
    bundle = verify_bundle(model.bundle_uri)
    ppo = load_model(bundle)
    with torch.no_grad():
        ppo.policy.action_net.weight.zero_()
        bias = torch.full_like(ppo.policy.action_net.bias, -1.0)
        bias[worst] = 1.0
        ppo.policy.action_net.bias.copy_(bias)
    manifest = {k: v for k, v in bundle.manifest.items() if k not in ("files", "format", "versions")}
    rewritten = write_bundle(bundle.path, ppo, manifest, {"history.json": (bundle.path / "history.json").read_bytes()})
    store.set_model_bundle(
        model_id, bundle_uri=rewritten.uri, bundle_sha256=rewritten.sha256, cumulative_timesteps=model.cumulative_timesteps
    )
    return market.tickers[worst]


@pytest.fixture(scope="module")
def scenario(pg_schema_url, tmp_path_factory):
    from autotest_lib.registry import upgrade

    mp = pytest.MonkeyPatch()
    mp.setenv("AUTOTEST_DB_URL", pg_schema_url)
    mp.setenv("AUTOTEST_HOME", str(tmp_path_factory.mktemp("home")))
    upgrade(pg_schema_url)
    store = LineageStore(pg_schema_url)
    sabotaged: dict[str, str] = {}

    def sabotage(week: dict) -> None:
        sabotaged["ticker"] = pin_to_worst_ticker(store, f"{WEEKS[1]:%Y%m%d}-refiner-00", week)

    selections = [run_week(WEEKS[0]), run_week(WEEKS[1], sabotage), run_week(WEEKS[2])]
    yield store, selections, sabotaged
    store.close()
    mp.undo()


def test_week_one_is_explorers_only(scenario) -> None:
    store, selections, _ = scenario
    models = store.list_models(week=WEEKS[0])
    assert {m.role for m in models} == {"explorer"} and len(models) == 3
    assert all(m.generation == 1 for m in models)
    assert selections[0]["champion_rule"].startswith("initial")


def test_week_two_refines_week_one_best_as_generation_two(scenario) -> None:
    store, _, _ = scenario
    board1 = [row.model_id for row in store.leaderboard(WEEKS[0])]
    champion1 = store.champion_history()[0].model_id
    refiners = sorted(store.list_models(week=WEEKS[1], role="refiner"), key=lambda m: m.model_id)
    assert [m.parent_id for m in refiners] == [m for m in board1 if m != champion1][:2]
    for m in refiners:
        parent = store.get_model(m.parent_id)
        assert m.generation == 2 and m.cumulative_timesteps == parent.cumulative_timesteps + 2048
        run = store.training_runs(m.model_id)[0]
        assert (run.lr_multiplier, run.lr_schedule, run.recent_fraction) == (0.5, "constant", 0.7)
        assert run.train_end == WEEKS[1] - dt.timedelta(weeks=12) and run.recent_start is not None
        assert run.hyperparameter_diff["effective_learning_rate"][1] == pytest.approx(0.5 * run.base_lr)


def test_forced_regression_is_rolled_back_and_the_parent_stays(scenario) -> None:
    store, selections, sabotaged = scenario
    child = store.get_model(f"{WEEKS[1]:%Y%m%d}-refiner-00")
    scores = {e.model_id: e.score for e in store.evaluations(week=WEEKS[1], window="validation")}
    assert scores[child.parent_id] > 0, "precondition: the parent earned a positive Sharpe on week 2's window"
    assert scores[child.model_id] < scores[child.parent_id] * 0.9
    assert child.status == "rolled_back" and "worse than parent" in child.status_reason
    assert child.model_id in selections[1]["rolled_back"]
    events = store.events(kind="rollback", week=WEEKS[1])
    assert [e.model_id for e in events] == [child.model_id] and events[0].payload["parent_id"] == child.parent_id
    # the parent keeps its place: the rollback does not touch it; only the archive's ranking may retire it
    assert child.parent_id not in selections[1]["rolled_back"]
    parent = store.get_model(child.parent_id)
    assert parent.status == "archived" or "outside the top" in (parent.status_reason or "")
    assert sabotaged["ticker"] in child.tickers
    # week 3 never continues a rolled-back model
    assert child.model_id not in {m.parent_id for m in store.list_models(week=WEEKS[2])}


def test_champion_history_is_consistent(scenario) -> None:
    store, selections, _ = scenario
    history = store.champion_history()
    assert [c.week for c in history] == WEEKS
    assert [c.previous_model_id for c in history] == [None] + [c.model_id for c in history[:-1]]
    for c, sel in zip(history, selections, strict=True):
        assert sel["champion"] == c.model_id and store.get_model(c.model_id).status != "rolled_back"
    assert store.get_model(history[-1].model_id).status == "archived"  # the current champion's bundle is kept
    assert max(m.generation for m in store.list_models(week=WEEKS[2])) >= 2
    stints = store.champion_longevity()
    assert sum(s.weeks_held for s in stints) == len(WEEKS)
