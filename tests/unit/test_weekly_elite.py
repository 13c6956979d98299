"""Elite champion slots, and every preset's planned budget against the specs its week trains."""

from __future__ import annotations

import datetime as dt
import shutil
from pathlib import Path
from types import SimpleNamespace

import pytest

from autotest_lib.config import budget_split, list_presets, load_preset
from autotest_lib.errors import ConfigError
from autotest_lib.train import TrainSpec, train, verify_bundle
from autotest_lib.weekly.champions import elite_slots
from autotest_lib.weekly.plan import plan_week

W1, W2 = dt.date(2024, 9, 1), dt.date(2024, 9, 8)


def _m(model_id: str, root: str, status: str = "archived", bundle: str | None = "b") -> SimpleNamespace:
    return SimpleNamespace(model_id=model_id, root_id=root, status=status, bundle_uri=bundle)


def test_elite_slots_take_the_champion_then_one_best_model_per_other_lineage() -> None:
    champ = _m("a2", "a")
    models = [
        champ,
        _m("a1", "a"),
        _m("b1", "b"),
        _m("b2", "b"),
        _m("c1", "c"),
        _m("d1", "d", status="rolled_back"),
        _m("e1", "e", bundle=None),
    ]
    scores = {"a1": 9.0, "a2": 1.0, "b1": 2.0, "b2": 3.0, "c1": 2.5, "d1": 99.0, "e1": 50.0}
    slots = elite_slots(champ, models, scores, 3)
    assert [(s.slot, s.model_id, s.root_id) for s in slots] == [(0, "a2", "a"), (1, "b2", "b"), (2, "c1", "c")]
    assert elite_slots(champ, models, scores, 1)[0].model_id == "a2"
    assert len(elite_slots(champ, models, scores, 9)) == 3  # a, b, c: the rolled-back and bundle-less lineages do not qualify
    assert elite_slots(champ, models, scores, 0) == [] and elite_slots(None, models, scores, 3) == []
    assert elite_slots(_m("a2", "a", bundle=None), models, scores, 3) == []


@pytest.fixture(scope="module")
def real_bundle(tmp_path_factory) -> Path:
    """One tiny real bundle (its manifest is what planning reads); parents are copies of it."""
    demo = load_preset("demo")
    spec = TrainSpec(
        model_id="seed-explorer-00",
        role="explorer",
        week=W1,
        slot=0,
        tickers=("AAPL", "JPM", "KO"),
        train_start=dt.date(2021, 1, 4),
        train_end=dt.date(2024, 3, 1),
        cutoff=W1,
        timesteps=128,
        seed=1,
        ppo=demo.ppo.model_copy(update={"n_steps": 32, "batch_size": 64, "n_envs": 2, "n_epochs": 1}),
        env=demo.env,
        checkpoint_every=10_000,
    )
    return Path(train(spec, tmp_path_factory.mktemp("seed")).bundle_uri)


def _steady_state(store, root: Path, bundle: Path, n_models: int) -> None:
    """Week W1 evaluated: ``n_models`` archived explorers of distinct lineages, the best one champion."""
    store.upsert_week(week=W1, cutoff=W1, preset="demo", config_hash="x", status="done", plan={})
    for i in range(n_models):
        mid = f"20240901-explorer-{i:02d}"
        uri = root / mid
        shutil.copytree(bundle, uri)
        store.upsert_model(
            model_id=mid, role="explorer", tickers=["AAPL", "JPM", "KO"], hyperparameters={}, status="archived", created_week=W1
        )
        digest = verify_bundle(uri).sha256  # the registry's hash is checked when planning loads a parent
        store.set_model_bundle(mid, bundle_uri=str(uri), bundle_sha256=digest, cumulative_timesteps=128, status="archived")
        store.record_evaluation(
            model_id=mid, week=W1, window="validation", window_start=W1 - dt.timedelta(days=180), window_end=W1, metrics={}, score=10.0 - i
        )
    store.set_champion(W1, "20240901-explorer-00", rule="initial", score=10.0)


@pytest.mark.parametrize("name", list_presets())
def test_every_preset_trains_the_steps_its_budget_plans(name, lineage_store, real_bundle, tmp_path) -> None:
    preset = load_preset(name)
    needed = preset.refiners.count + preset.champion.count
    _steady_state(lineage_store, tmp_path, real_bundle, max(needed, 1) + 2)
    plan = plan_week(W2, preset, lineage_store, universe=list(preset.data.universe))
    trained: dict[str, list[int]] = {"explorer": [0, 0], "refiner": [0, 0], "champion": [0, 0]}
    for spec in plan.specs:
        trained[spec.role][0] += 1
        trained[spec.role][1] += spec.timesteps
    planned = {role: [count, total] for role, count, _each, total in budget_split(preset).rows}
    assert trained == planned, plan.notes
    assert sum(t for _, t in trained.values()) == preset.total_timesteps
    # each elite slot continues a distinct lineage; the refiners continue none of them
    champs = [s for s in plan.specs if s.role == "champion"]
    assert [s.slot for s in champs] == list(range(preset.champion.count))
    assert len({s.parent_id for s in champs}) == len(champs)
    refined = {s.parent_id for s in plan.specs if s.role == "refiner"}
    assert not refined & {s.parent_id for s in champs}
    assert [e.model_id for e in plan.elite] == [s.parent_id for s in champs]


def test_aggressive_is_the_plans_50_40_10_split() -> None:
    split = budget_split(load_preset("aggressive"))
    assert [r[:3] for r in split.rows] == [("explorer", 10, 1_500_000), ("refiner", 8, 1_500_000), ("champion", 2, 1_500_000)]
    assert split.total == 30_000_000
    assert {k: round(v, 2) for k, v in split.shares().items()} == {"explorer": 0.5, "refiner": 0.4, "champion": 0.1}


def test_champion_lr_x0_1_is_an_explicit_preset_and_x0_3_the_default() -> None:
    low = load_preset("conservative")
    assert low.champion.lr_multiplier == 0.1 and "x0.1" in low.description
    assert low.champion.lr_multiplier * low.ppo.learning_rate == pytest.approx(3e-5)
    assert load_preset("recommended").champion.lr_multiplier == 0.3


def test_pbt_preset_is_20_members_of_500k_steps_a_round() -> None:
    p = load_preset("pbt")
    assert (p.pbt.population, p.pbt.interval_steps) == (20, 500_000)
    from autotest_lib.dag_defaults import preset_param

    assert "pbt" in preset_param().schema["enum"]


def test_more_champion_slots_than_lineages_is_refused(lineage_store, real_bundle, tmp_path) -> None:
    _steady_state(lineage_store, tmp_path, real_bundle, 2)
    preset = load_preset("demo", {"champion": {"count": 3}})
    with pytest.raises(ConfigError, match=r"champion\.count=3: only 2 distinct lineage.*lower champion\.count to 2"):
        plan_week(W2, preset, lineage_store)
    plan = plan_week(W2, load_preset("demo", {"champion": {"count": 2}}), lineage_store)
    assert [e.slot for e in plan.elite] == [0, 1]


def test_a_negative_ewc_weight_is_refused_with_the_fix() -> None:
    with pytest.raises(ConfigError, match=r"refiners\.ewc_weight=-1.*set it to 0 or a positive weight"):
        load_preset("demo", {"refiners": {"ewc_weight": -1}})
