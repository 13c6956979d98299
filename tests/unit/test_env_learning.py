"""What the reward rewards, observation scaling and the policy's conviction, on the bundled real prices.

Reward options change only the reward (never the portfolio's returns or costs); the observation normaliser's
running statistics are exact, travel in the bundle and are restored when a model is continued.
"""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path

import numpy as np
import pytest
import torch
from stable_baselines3.common.callbacks import BaseCallback
from tiny_specs import Crash, tiny_spec

from autotest_lib.config import EnvConfig, Preset, load_preset
from autotest_lib.data import MarketData, load_market
from autotest_lib.env import BatchedPortfolioVecEnv
from autotest_lib.env.normalize import STATS_FILE, ObsNormalizer, normalizers
from autotest_lib.errors import BundleError
from autotest_lib.train import TrainSpec, load_model, train

TICKERS = ["AAPL", "MSFT", "JPM", "V", "KO"]
PRESET = load_preset("demo")


@pytest.fixture(scope="module")
def market() -> MarketData:
    return load_market(TICKERS, start="2007-06-01", cutoff="2010-01-01")  # V lists in 2008: a ticker untradable at first


def rollout(market: MarketData, config: EnvConfig, steps: int = 300) -> dict[str, np.ndarray]:
    """Step 4 copies with the same seeded random actions; return rewards, growth, costs, turnover, decision days."""
    env = BatchedPortfolioVecEnv(market, config, 4, seed=11)
    env.reset()
    rng = np.random.default_rng(5)
    out: dict[str, list[np.ndarray]] = {k: [] for k in ("reward", "growth", "cost", "turnover", "t")}
    for _ in range(steps):
        t = env.book.t.copy()
        env.step(rng.uniform(-1, 1, (4, config.max_tickers + 1)).astype(np.float32))
        res = env.last_step
        out["reward"].append(res.reward.copy())
        out["growth"].append(res.growth.copy())
        out["cost"].append(res.cost.copy())
        out["turnover"].append(res.turnover.copy())
        out["t"].append(t)
    return {k: np.array(v) for k, v in out.items()}


def equal_weight_log_growth(market: MarketData, t: np.ndarray) -> np.ndarray:
    """log growth from t to t+1 of 1/N of the tickers tradable at t, written out from the market's arrays."""
    out = np.zeros(t.shape)
    for idx in np.ndindex(t.shape):
        day = t[idx]
        held = np.flatnonzero(market.tradable[day])
        out[idx] = np.log(np.mean(1.0 + market.returns[day + 1, held])) if len(held) else 0.0
    return out


def test_excess_reward_is_log_growth_minus_own_equal_weight_and_leaves_returns_alone(market: MarketData) -> None:
    cfg = EnvConfig(max_tickers=8, episode_length=40)
    plain = rollout(market, cfg)
    excess = rollout(market, cfg.model_copy(update={"reward_mode": "excess_log"}))
    assert not market.tradable[:5, TICKERS.index("V")].any()  # the 1/N is over tradable tickers only
    for key in ("growth", "cost", "turnover", "t"):
        np.testing.assert_array_equal(plain[key], excess[key])
    np.testing.assert_allclose(excess["reward"], np.log(plain["growth"]) - equal_weight_log_growth(market, plain["t"]), atol=1e-12)
    # holding 1/N of the tradable tickers earns an excess of about zero (minus costs); random weights do not
    assert abs(excess["reward"].mean()) < abs(plain["reward"].mean()) + 1e-3


def test_turnover_penalty_and_reward_scale_change_only_the_reward(market: MarketData) -> None:
    cfg = EnvConfig(max_tickers=8, episode_length=40)
    plain = rollout(market, cfg)
    shaped = rollout(market, cfg.model_copy(update={"turnover_penalty_bps": 20.0, "reward_scale": 50.0}))
    for key in ("growth", "cost", "turnover", "t"):
        np.testing.assert_array_equal(plain[key], shaped[key])
    assert plain["turnover"].mean() > 0.05  # random actions trade, so the penalty bites
    np.testing.assert_allclose(shaped["reward"], 50.0 * (plain["reward"] - plain["turnover"] * 20.0 / 1e4), rtol=1e-12, atol=1e-12)


@pytest.mark.parametrize(
    ("field", "value"),
    [("reward_scale", 0.0), ("reward_mode", "sharpe"), ("turnover_penalty_bps", -1.0), ("obs_norm_clip", 0.0), ("log_std_init", -9.0)],
)
def test_learning_options_are_validated_in_presets(field: str, value: object) -> None:
    raw = PRESET.model_dump(mode="json")
    raw["env"][field] = value
    with pytest.raises(ValueError, match=field):
        Preset.model_validate(raw)


def test_normalizer_running_statistics_are_exact_and_standardise(market: MarketData) -> None:
    env = BatchedPortfolioVecEnv(market, EnvConfig(max_tickers=8), 2, seed=0)
    rows = np.asarray(env.tables.static_obs, dtype=np.float64)
    norm = ObsNormalizer(env.observation_space, clip=10.0)
    for chunk in np.array_split(rows, 7):  # uneven batches merge to the statistics of all rows
        norm.update(chunk)
    np.testing.assert_allclose(norm.mean.numpy(), rows.mean(axis=0), atol=1e-9)
    np.testing.assert_allclose(norm.var.numpy(), rows.var(axis=0), rtol=1e-9, atol=1e-12)
    assert float(norm.count) == len(rows)
    out = norm(torch.as_tensor(rows, dtype=torch.float32)).numpy()
    varying = rows.std(axis=0) > 1e-3
    np.testing.assert_allclose(out[:, varying].mean(axis=0), 0.0, atol=1e-3)
    np.testing.assert_allclose(out[:, varying].std(axis=0)[np.abs(out[:, varying]).max(axis=0) < 10], 1.0, atol=1e-3)
    assert np.abs(out).max() <= 10.0


def make_spec(tmp: str = "", **env_update: object) -> TrainSpec:
    return tiny_spec(
        model_id="learn-00",
        week=dt.date(2023, 6, 4),
        train_start=dt.date(2019, 1, 2),
        train_end=dt.date(2023, 1, 1),
        cutoff=dt.date(2023, 6, 4),
        env=PRESET.env.model_copy(update={"obs_norm": True, "reward_mode": "excess_log", "reward_scale": 100.0, **env_update}),
        checkpoint_every=10**9,
    )


class StatsAtStart(BaseCallback):
    """Records the normaliser's statistics when training starts (after the trainer's own hooks ran)."""

    def __init__(self) -> None:
        super().__init__()
        self.seen: dict[str, object] | None = None

    def _on_training_start(self) -> None:
        self.seen = normalizers(self.model)[0].stats()

    def _on_step(self) -> bool:
        return True


def continued(parent: Path, model_id: str, **update: object) -> TrainSpec:
    """A refiner of ``parent`` with the parent's spec otherwise."""
    raw = make_spec(log_std_init=-1.0).model_dump(mode="json")
    raw.update(model_id=model_id, role="refiner", parent_id="learn-00", parent_bundle=str(parent), **update)
    return TrainSpec.model_validate(raw)


@pytest.fixture(scope="module")
def normalised_parent(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return Path(train(make_spec(log_std_init=-1.0), tmp_path_factory.mktemp("parent")).bundle_uri)


def test_statistics_are_in_the_bundle_frozen_at_prediction_and_restored_on_continuation(normalised_parent: Path, tmp_path: Path) -> None:
    stats = json.loads((normalised_parent / STATS_FILE).read_text())
    model = load_model(normalised_parent)
    (norm,) = normalizers(model)
    np.testing.assert_array_equal(norm.mean.numpy(), stats["mean"])  # the weights carry the same numbers
    assert stats["count"] > 1024  # seeded from the window's rows, then every rollout but the last
    assert json.loads((normalised_parent / "manifest.json").read_text())["policy"]["obs_norm_clip"] == 10.0  # rebuilt with it
    assert float(model.policy.log_std.detach().mean()) < -0.5  # log_std_init=-1: conviction from the start
    obs = np.asarray(json.loads((normalised_parent / STATS_FILE).read_text())["mean"], dtype=np.float32)
    for _ in range(3):
        model.predict(obs, deterministic=True)
    assert norm.stats() == stats  # prediction never updates the statistics

    spec = continued(normalised_parent, "learn-01")
    seen = StatsAtStart()
    child = train(spec, tmp_path / "child", callback=seen)
    assert seen.seen == stats  # the continued model starts from its parent's statistics, not a fresh seed
    child_stats = json.loads((Path(child.bundle_uri) / STATS_FILE).read_text())
    assert child_stats["count"] > stats["count"]  # and keeps updating them while it trains


def test_altered_statistics_are_refused(normalised_parent: Path) -> None:
    model = load_model(normalised_parent)
    with pytest.raises(BundleError, match="different observation layout"):
        normalizers(model)[0].load_stats({"mean": [0.0], "var": [1.0], "count": 1}, "somewhere")
    with pytest.raises(BundleError, match="NaN"):
        dim = normalizers(model)[0].mean.shape[0]
        normalizers(model)[0].load_stats({"mean": [float("nan")] * dim, "var": [1.0] * dim}, "somewhere")


def test_defaults_keep_the_plain_policy_and_bundle(tmp_path: Path) -> None:
    spec = make_spec().model_copy(update={"env": PRESET.env})
    bundle = Path(train(spec, tmp_path).bundle_uri)
    assert not (bundle / STATS_FILE).exists()
    assert normalizers(load_model(bundle)) == []


def parent_stats_steps(bundle: Path) -> int:
    return int(json.loads((bundle / "manifest.json").read_text())["cumulative_timesteps"])


def test_resumed_continuation_keeps_its_checkpoints_statistics(normalised_parent: Path, tmp_path: Path) -> None:
    parent_stats = json.loads((normalised_parent / STATS_FILE).read_text())
    spec = continued(normalised_parent, "learn-02", timesteps=2048, checkpoint_every=512)
    with pytest.raises(KeyboardInterrupt):
        train(spec, tmp_path, callback=Crash(after=int(parent_stats_steps(normalised_parent)) + 1300))
    seen = StatsAtStart()
    result = train(spec, tmp_path, callback=seen)
    assert result.resumed_from_steps is not None
    assert seen.seen is not None and seen.seen["count"] > parent_stats["count"]  # the checkpoint's, not the parent's again
