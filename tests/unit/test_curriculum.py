"""Curriculum: the promotion rule, stage specs, and a tiny model trained through two stage changes (1 -> 2 -> 3).

The three weeks run the real weekly task functions (plan, train, backtest, select, paper trades) on the
bundled prices with a tiny preset whose explorer slot is a curriculum slot, lineage in PostgreSQL when
``AUTOTEST_TEST_PG_URL`` is set (scripts/test.sh), else SQLite. Around each promotion the parent's weights,
the child's weights before its first update, after training, and a fresh network's are kept for comparison.
"""

from __future__ import annotations

import datetime as dt
import os
import shutil
from pathlib import Path

import numpy as np
import pytest
import torch
import yaml

from autotest_lib.config import PromotionRule, load_preset
from autotest_lib.curriculum import check_promotion, promoted_tickers, stage_config, stage_env
from autotest_lib.errors import ConfigError

ROOT = Path(__file__).resolve().parents[2]
WEEKS = [dt.date(2023, 6, 4), dt.date(2023, 6, 11), dt.date(2023, 6, 18)]
DEMO = load_preset("demo")


def test_promotion_rule() -> None:
    rule = PromotionRule(min_sharpe=0.5, beat_buy_and_hold=True)
    ok = check_promotion({"sharpe": 1.2}, {"buy_and_hold": {"sharpe": 0.9}}, rule)
    assert ok.passed and ok.evidence == {"sharpe": 1.2, "buy_and_hold_sharpe": 0.9, "min_sharpe": 0.5, "beat_buy_and_hold": True}
    assert not check_promotion({"sharpe": 0.4}, {"buy_and_hold": {"sharpe": 0.1}}, rule).passed
    lagging = check_promotion({"sharpe": 1.2}, {"buy_and_hold": {"sharpe": 1.5}}, rule)
    assert not lagging.passed and "does not beat buy-and-hold" in lagging.reason
    assert check_promotion(
        {"sharpe": 1.2}, {"buy_and_hold": {"sharpe": 1.5}}, PromotionRule(min_sharpe=0.5, beat_buy_and_hold=False)
    ).passed
    assert not check_promotion({"sharpe": None}, {}, rule).passed
    assert not check_promotion({"sharpe": 1.0}, {}, rule).passed  # buy-and-hold unknown: cannot show it beats it


def test_stage_envs_and_promoted_tickers() -> None:
    stages = [stage_env(DEMO.env, stage_config(DEMO, s)) for s in (1, 2, 3, 4)]
    assert [e.feature_set for e in stages] == ["simple", "rich", "rich", "full"]
    assert {e.max_tickers for e in stages} == {DEMO.env.max_tickers}  # the observation width never changes
    assert stages[2].max_weight == 0.35 and stages[2].max_gross == 0.95 and stages[2].risk_penalty == 0.5
    rng = np.random.default_rng(1)
    for _ in range(20):
        new = promoted_tickers(("KO", "AAPL"), stage_config(DEMO, 3), DEMO.data.universe, DEMO.env.max_tickers, rng)
        assert new[:2] == ("KO", "AAPL") and 4 <= len(new) <= 6 and len(set(new)) == len(new)  # old tickers keep their slots


def test_presets_validate_stage_sizes() -> None:
    assert [s.tickers for s in DEMO.curriculum.stages] == [(1, 1), (2, 3), (4, 6), (4, 6)]
    assert DEMO.curriculum.explorer_share == 0.34
    with pytest.raises(ConfigError, match="exceeds min"):
        load_preset("demo", {"env": {"max_tickers": 5}})
    with pytest.raises(ConfigError, match="may not shrink"):
        load_preset(
            "demo",
            {
                "curriculum": {
                    "stages": [
                        {"name": "a", "tickers": [2, 3], "feature_set": "rich"},
                        {"name": "b", "tickers": [1, 1], "feature_set": "simple"},
                    ]
                }
            },
        )
    load_preset("demo", {"env": {"max_tickers": 5}, "curriculum": {"explorer_share": 0.0}})  # off: stages unused, not checked


def test_demo_plan_gives_one_explorer_slot_to_the_curriculum(tmp_path: Path) -> None:
    from autotest_lib.registry import LineageStore, upgrade
    from autotest_lib.weekly import plan_week
    from autotest_lib.weekly.plan import WeekPlan

    url = f"sqlite:///{tmp_path / 'lineage.sqlite'}"
    upgrade(url)
    with LineageStore(url) as store:
        plan = plan_week(dt.date(2024, 9, 8), DEMO, store)
    specs = plan.by_id()
    assert plan.ids("explorer") == [f"20240908-explorer-0{i}" for i in range(3)]
    assert plan.stages == {"20240908-explorer-02": 1} and plan.promotions == ()
    cur = specs["20240908-explorer-02"]
    assert len(cur.tickers) == 1 and cur.env.feature_set == "simple" and cur.env.max_tickers == DEMO.env.max_tickers
    assert cur.parent_id is None and cur.timesteps == DEMO.explorers.timesteps
    assert all(specs[f"20240908-explorer-0{i}"].env == DEMO.env for i in range(2))  # plain explorers unchanged
    assert any("curriculum: 1 of 3 explorer slots" in n for n in plan.notes)
    assert WeekPlan.from_json(plan.as_json()) == plan  # stages and promotions survive the registry round trip


def test_ticker_override_shrinks_the_stages() -> None:
    from autotest_lib.config import run_preset

    preset = run_preset("demo", seed=0, tickers=["AAPL", "KO", "V"])
    assert [s.tickers for s in preset.curriculum.stages] == [(1, 1), (2, 3), (3, 3), (3, 3)]
    assert preset.curriculum.stages[2].max_weight == 0.35


def _policy_state(model) -> dict[str, torch.Tensor]:
    return {k: v.detach().clone() for k, v in model.policy.state_dict().items()}


def _first_weights(spec, work_dir: Path) -> dict[str, torch.Tensor]:
    """The child's network as train() starts it: captured at training start, stopped before any update."""
    from stable_baselines3.common.callbacks import BaseCallback

    from autotest_lib.train import train

    seen: dict[str, torch.Tensor] = {}

    class Capture(BaseCallback):
        def _on_training_start(self) -> None:
            seen.update(_policy_state(self.model))

        def _on_step(self) -> bool:
            return False  # stop in the first rollout: no gradient step happens

    train(spec, work_dir, callback=Capture())
    return seen


def _fresh_weights(spec) -> dict[str, torch.Tensor]:
    from autotest_lib.train.trainer import _new_model, make_vec_env

    env = make_vec_env(spec)
    model = _new_model(spec, env, spec.learning_rate)
    env.close()
    return _policy_state(model)


def _tiny_preset(include: Path) -> None:
    raw = yaml.safe_load((ROOT / "include" / "config" / "demo.yaml").read_text())
    raw.update(
        name="curriculum_tiny",
        explorers={"count": 1, "timesteps": 256, "lr_multiplier": 1.0, "lr_schedule": "linear"},
        refiners={"count": 0, "timesteps": 0},
        champion={"count": 0, "timesteps": 0},
        ppo={"learning_rate": 3e-4, "n_steps": 64, "batch_size": 64, "n_epochs": 1, "net_arch": [16, 16], "n_envs": 2},
        search_space={"n_steps": [64], "batch_size": [64], "net_arch": [[16, 16]]},
        keep_top_n=1,
        checkpoint_every=4096,
    )
    raw["curriculum"]["explorer_share"] = 1.0
    (include / "config").mkdir(parents=True)
    (include / "config" / "curriculum_tiny.yaml").write_text(yaml.safe_dump(raw))
    (include / "data").symlink_to(ROOT / "include" / "data")


@pytest.fixture(scope="module")
def weeks(tmp_path_factory, request) -> dict:
    """Three weeks of the weekly tasks with one curriculum slot; weights captured around each promotion."""
    from autotest_lib.registry import LineageStore, upgrade
    from autotest_lib.tasks import weekly as tasks
    from autotest_lib.train import TrainSpec, load_model

    base = tmp_path_factory.mktemp("curriculum")
    _tiny_preset(base / "include")
    url = request.getfixturevalue("pg_schema_url") if os.environ.get("AUTOTEST_TEST_PG_URL") else f"sqlite:///{base / 'lineage.sqlite'}"
    upgrade(url)
    captured: dict[dt.date, dict] = {}
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("AUTOTEST_INCLUDE_DIR", str(base / "include"))
        mp.setenv("AUTOTEST_HOME", str(base / "home"))
        mp.setenv("AUTOTEST_DB_URL", url)
        for day in WEEKS:
            week = tasks.start_week({"preset": "curriculum_tiny"}, dt.datetime(day.year, day.month, day.day, 2, tzinfo=dt.UTC))
            ids = tasks.plan(week)
            for model_id in ids["explorer"]:
                tasks.train_one(week, model_id)
            with LineageStore(url) as store:
                plan = tasks._week_plan(store, day)
                for promo in plan.promotions:
                    spec = plan.by_id()[promo["model_id"]]
                    captured[day] = {
                        "parent": _policy_state(load_model(spec.parent_bundle)),
                        "child_start": _first_weights(spec, base / "scratch" / day.isoformat()),
                        "child_end": _policy_state(load_model(store.get_model(spec.model_id).bundle_uri)),
                        "fresh": _fresh_weights(TrainSpec.model_validate(spec.model_dump() | {"parent_id": None, "parent_bundle": None})),
                    }
            for model_id in tasks.candidates(week):
                tasks.backtest_one(week, model_id)
            tasks.select(week)
            tasks.paper_trades(week)
    shutil.rmtree(base / "scratch", ignore_errors=True)
    store = LineageStore(url, home=base / "home")  # bundle paths are stored relative to the home
    yield {"store": store, "captured": captured, "home": base / "home"}
    store.close()


def test_a_model_climbs_two_stages_with_its_lineage_recorded(weeks: dict) -> None:
    from autotest_lib.train import TrainSpec, verify_bundle

    store = weeks["store"]
    chain = [store.get_model(f"{day:%Y%m%d}-explorer-00") for day in WEEKS]
    assert [m.stage for m in chain] == [1, 2, 3]
    assert [m.role for m in chain] == ["explorer"] * 3
    assert [m.parent_id for m in chain] == [None, chain[0].model_id, chain[1].model_id]
    assert [m.generation for m in chain] == [1, 2, 3] and {m.root_id for m in chain} == {chain[0].model_id}
    assert chain[2].cumulative_timesteps >= 3 * 256

    # each stage's task: tickers grow as a superset (old ones first, same slots), features and risk terms change
    tickers = [m.tickers for m in chain]
    assert len(tickers[0]) == 1 and 2 <= len(tickers[1]) <= 3 and 4 <= len(tickers[2]) <= 6
    assert tickers[1][: len(tickers[0])] == tickers[0] and tickers[2][: len(tickers[1])] == tickers[1]
    spec = TrainSpec.model_validate(verify_bundle(chain[2].bundle_uri).manifest["spec"])
    assert (spec.env.feature_set, spec.env.max_weight, spec.env.max_gross, spec.env.risk_penalty) == ("rich", 0.35, 0.95, 0.5)
    assert spec.env.max_tickers == 8

    # every promotion is an event with its evidence: the parent's evaluation of the week before
    events = store.events(kind="promotion")
    assert [(e.week, e.model_id) for e in events] == [(WEEKS[1], chain[1].model_id), (WEEKS[2], chain[2].model_id)]
    for e, parent, (frm, to) in zip(events, chain, [(1, 2), (2, 3)], strict=False):
        p = e.payload
        assert (p["parent_id"], p["from_stage"], p["to_stage"]) == (parent.model_id, frm, to)
        assert (p["from_name"], p["to_name"]) == (stage_config(DEMO, frm).name, stage_config(DEMO, to).name)
        evaluation = store.evaluations(parent.model_id, week=parent.created_week, window="validation")[0]
        assert p["evidence"]["sharpe"] == pytest.approx(evaluation.metrics["sharpe"]) and p["evidence"]["min_sharpe"] == -10.0
        assert p["evaluated_week"] == parent.created_week.isoformat() and p["tickers_before"] == list(parent.tickers)
        assert "validation Sharpe" in p["reason"]


def test_weights_are_carried_over_not_reinitialised(weeks: dict) -> None:
    captured = weeks["captured"]
    assert sorted(captured) == WEEKS[1:]
    for day, w in captured.items():
        parent, start, end, fresh = w["parent"], w["child_start"], w["child_end"], w["fresh"]
        assert parent.keys() == start.keys() == fresh.keys()
        for name in parent:
            assert torch.equal(parent[name], start[name]), f"{day}: {name} was not carried over"
        assert any(not torch.equal(parent[n], fresh[n]) for n in parent), "a fresh network should differ from the parent"
        # after its training the child is still near its parent and far from a fresh network
        dist = {k: sum(float((end[n] - ref[n]).norm()) for n in end) for k, ref in (("parent", parent), ("fresh", fresh))}
        assert 0 < dist["parent"] < dist["fresh"] / 5, dist


def test_windows_and_per_regime_evaluations_are_recorded(weeks: dict) -> None:
    from autotest_lib.runs import week_windows

    store = weeks["store"]
    for day in WEEKS:
        w = week_windows(day, DEMO)
        assert store.get_week(day).plan["windows"] == w.as_dict()
        runs = store.training_runs(week=day)
        assert runs and all((r.train_start, r.train_end) == (w.train_start, w.train_end) for r in runs)
        assert all(r.recent_start is None and r.recent_fraction == 0.0 for r in runs)  # explorers and promotions use the whole window
        for e in store.evaluations(week=day, window="validation"):
            assert (e.window_start, e.window_end) == (w.validation_start, w.validation_end)
            assert e.by_regime and sum(r["days"] for r in e.by_regime.values()) == e.metrics["n_days"]
        pick = store.events(kind="paper_pick", week=day)
        assert len(pick) == 1 and pick[0].payload["regime"] in ("bull_low_vol", "bull_high_vol", "bear_low_vol", "bear_high_vol")
        assert pick[0].payload["rule"]
