"""BatchedPortfolioVecEnv behaves exactly like DummyVecEnv over PortfolioEnv copies, on the bundled real prices."""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest
from stable_baselines3 import PPO
from stable_baselines3.common.vec_env import DummyVecEnv, VecMonitor

from autotest_lib.config import EnvConfig
from autotest_lib.data import MarketData, load_market
from autotest_lib.env import BatchedPortfolioVecEnv, PortfolioEnv


@pytest.fixture(scope="module")
def market() -> MarketData:
    return load_market(["AAPL", "MSFT", "JPM", "V", "KO"], start="2015-01-01", cutoff="2020-01-01")


def dummy(market: MarketData, cfg: EnvConfig, n: int, seed: int, **kwargs: Any) -> DummyVecEnv:
    def make(i: int) -> Any:
        return lambda: PortfolioEnv(market, cfg, seed=seed + i, **kwargs)

    return DummyVecEnv([make(i) for i in range(n)])


def assert_same_infos(expected: list[dict[str, Any]], got: list[dict[str, Any]]) -> None:
    for a, b in zip(expected, got, strict=True):
        assert a.keys() == b.keys()
        for key in a:
            np.testing.assert_array_equal(a[key], b[key], err_msg=key)


def run_both(dv: DummyVecEnv, bv: BatchedPortfolioVecEnv, steps: int, rng: np.random.Generator) -> tuple[int, int]:
    """Step both with the same actions; assert equal results; return (done count, truncated count)."""
    np.testing.assert_array_equal(dv.reset(), bv.reset())
    dones = truncs = 0
    for _ in range(steps):
        actions = rng.uniform(-1.2, 1.2, (dv.num_envs, *dv.action_space.shape)).astype(np.float32)
        o1, r1, d1, i1 = dv.step(actions)
        o2, r2, d2, i2 = bv.step(actions)
        np.testing.assert_array_equal(o1, o2)
        np.testing.assert_array_equal(r1, r2)
        assert r2.dtype == np.float32 and o2.dtype == np.float32
        np.testing.assert_array_equal(d1, d2)
        if bv.full_info:
            assert_same_infos(i1, i2)
        else:
            for a, b in zip(i1, i2, strict=True):
                assert b.keys() == ({"terminal_observation", "TimeLimit.truncated"} if "terminal_observation" in a else set())
                for key in b:
                    np.testing.assert_array_equal(a[key], b[key], err_msg=key)
        dones += int(d1.sum())
        truncs += sum(bool(i.get("TimeLimit.truncated")) for i in i1)
    return dones, truncs


def test_batched_equals_dummy_vec_env_across_episode_boundaries(market: MarketData) -> None:
    cfg = EnvConfig(max_tickers=8, episode_length=30, max_weight=0.5, max_gross=0.9, risk_penalty=0.5)
    dv = dummy(market, cfg, 6, seed=11)
    bv = BatchedPortfolioVecEnv(market, cfg, 6, seed=11, full_info=True)
    dones, truncs = run_both(dv, bv, 400, np.random.default_rng(0))
    assert dones >= 6 * 12 and truncs == dones


def test_batched_equals_dummy_with_recent_mix_seed_and_options(market: MarketData) -> None:
    cfg = EnvConfig(max_tickers=5, episode_length=25)
    mix = {"start": "2016-01-01", "end": "2019-07-01", "recent_start": "2018-06-01", "recent_fraction": 0.7}
    dv = dummy(market, cfg, 4, seed=0, **mix)
    bv = BatchedPortfolioVecEnv(market, cfg, 4, seed=0, **mix)
    run_both(dv, bv, 120, np.random.default_rng(1))
    # seed() takes effect at the next reset, copy i seeded seed + i, as in SB3
    assert dv.seed(123) == bv.seed(123) == [123, 124, 125, 126]
    run_both(dv, bv, 120, np.random.default_rng(2))
    # per-copy reset options: copy 1 runs a deterministic pass over a window and ends terminated
    options = [{}, {"start": "2019-03-01", "end": "2019-04-01"}, {}, {}]
    dv.set_options(options)
    bv.set_options(options)
    dones, truncs = run_both(dv, bv, 60, np.random.default_rng(3))
    assert truncs < dones
    assert bv.reset_infos[0].keys() == {"date"}


def test_batched_env_trains_with_sb3_ppo(market: MarketData) -> None:
    cfg = EnvConfig(max_tickers=8, episode_length=20)
    venv = VecMonitor(BatchedPortfolioVecEnv(market, cfg, 4))
    model = PPO("MlpPolicy", venv, n_steps=32, batch_size=64, n_epochs=1, policy_kwargs={"net_arch": [16]}, seed=0, device="cpu")
    model.learn(256)
    assert model.num_timesteps == 256
    assert venv.get_attr("t", indices=[0, 2])[0] == venv.unwrapped.book.t[0]
    assert len(model.ep_info_buffer) >= 4  # 4 copies x 64 steps of 20-step episodes, counted by VecMonitor


def test_vec_env_attribute_api(market: MarketData) -> None:
    bv = BatchedPortfolioVecEnv(market, EnvConfig(max_tickers=6), 3, seed=0)
    assert bv.get_attr("render_mode") == [None, None, None]
    assert bv.get_attr("tickers", indices=1) == [market.tickers]
    assert bv.has_attr("config") and not bv.has_attr("no_such_thing")
    assert bv.env_is_wrapped(VecMonitor) == [False, False, False]
    bv.set_attr("full_info", True)
    assert bv.full_info
    with pytest.raises(ValueError, match="share"):
        bv.set_attr("full_info", False, indices=[0])
    with pytest.raises(RuntimeError, match="reset"):
        bv.step(np.zeros((3, 7), dtype=np.float32))
    bv.reset()
    assert [int(t) for t in bv.get_attr("t")] == list(bv.book.t)
