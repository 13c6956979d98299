"""PortfolioEnv and its observation layout on the bundled real prices."""

from __future__ import annotations

import itertools
import logging
import warnings

import numpy as np
import pytest
from gymnasium.utils.env_checker import check_env

from autotest_lib.config import EnvConfig
from autotest_lib.data import FEATURE_CATALOGUE, MarketData, load_market
from autotest_lib.env import ObservationLayout, PortfolioEnv
from autotest_lib.errors import ConfigError, DataError

F = len(FEATURE_CATALOGUE)
TICKERS = ["AAPL", "MSFT", "JPM", "V", "KO"]


@pytest.fixture(scope="module")
def market() -> MarketData:
    return load_market(TICKERS, start="2015-01-01", cutoff="2020-01-01")


@pytest.fixture(scope="module")
def market_v_listing() -> MarketData:
    """V lists in March 2008; its features warm up months later, so it is untradable for much of this window."""
    return load_market(TICKERS, start="2007-06-01", cutoff="2009-06-01")


def expected_target(action: np.ndarray, tradable: np.ndarray, cfg: EnvConfig) -> tuple[np.ndarray, float]:
    """Ticker weights (M,) and cash from an action, written out independently of the env's code."""
    m = cfg.max_tickers
    allowed = np.zeros(m + 1, dtype=bool)
    allowed[: len(tradable)] = tradable
    allowed[m] = True
    logits = cfg.action_scale * np.clip(action.astype(np.float64), -1, 1)
    e = np.where(allowed, np.exp(logits - logits[allowed].max()), 0.0)
    w = e / e.sum()
    tick = np.minimum(w[:m], cfg.max_weight)
    if tick.sum() > cfg.max_gross:
        tick *= cfg.max_gross / tick.sum()
    return tick, 1.0 - tick.sum()


def test_layout_sizes_and_block_positions() -> None:
    lay = ObservationLayout(max_tickers=30, n_features=F)
    assert lay.obs_dim == 30 * F + 2 * 30 + 1
    assert (lay.features.start, lay.features.stop) == (0, 30 * F)
    assert (lay.weights.start, lay.weights.stop) == (30 * F, 30 * F + 30)
    assert (lay.mask.start, lay.mask.stop) == (30 * F + 30, 30 * F + 60)
    assert lay.cash_index == lay.obs_dim - 1 and lay.cash == slice(lay.obs_dim - 1, lay.obs_dim)
    assert lay.feature_index(2, 3) == 2 * F + 3
    blocks = sorted(lay.describe().values())
    assert blocks[0][0] == 0 and all(a + n == b for (a, n), (b, _) in itertools.pairwise(blocks))
    assert blocks[-1][0] + blocks[-1][1] == lay.obs_dim
    with pytest.raises(IndexError):
        lay.feature_index(30, 0)


def test_observation_blocks_hold_features_weights_mask_cash(market: MarketData) -> None:
    cfg = EnvConfig(max_tickers=8)
    env = PortfolioEnv(market, cfg, seed=0)
    obs, info = env.reset()
    lay, t, n = env.layout, env.t, market.n_tickers
    assert obs.shape == (lay.obs_dim,) and obs.dtype == np.float32
    assert info["date"] == market.dates[t]
    np.testing.assert_array_equal(obs[lay.features].reshape(8, F)[:n], market.features[t])
    np.testing.assert_array_equal(obs[lay.mask][:n], market.tradable[t])
    assert obs[lay.weights].sum() == 0 and obs[lay.cash_index] == 1  # episodes start in cash
    obs, *_, info = env.step(env.action_space.sample())
    assert np.isclose(obs[lay.weights].sum() + obs[lay.cash_index], 1.0, atol=1e-6)


def test_fewer_tickers_than_slots_leave_the_rest_zero() -> None:
    small = load_market(["AAPL", "MSFT", "KO"], start="2016-01-01", cutoff="2017-01-01")
    cfg = EnvConfig(max_tickers=8, episode_length=20)
    env = PortfolioEnv(small, cfg, seed=3)
    lay = env.layout
    obs, _ = env.reset()
    action = np.ones(9, dtype=np.float32)  # ask for every slot, empty ones included
    for _ in range(5):
        assert not obs[lay.features].reshape(8, F)[3:].any()
        assert not obs[lay.weights][3:].any()
        assert not obs[lay.mask][3:].any()
        assert obs[lay.mask][:3].all()
        obs, _, _, _, info = env.step(action)
        assert info["weights"].shape == (3,)
        assert np.isclose(info["weights"].sum() + info["cash"], 1.0)
        assert np.isclose(info["cash"], 0.25)  # 3 tickers + cash share the softmax equally


def test_check_env_passes(market: MarketData) -> None:
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message=".*infinity.*")  # features are unbounded by design
        warnings.filterwarnings("ignore", message=".*spec.*")
        check_env(PortfolioEnv(market, EnvConfig(max_tickers=8), seed=0))


def test_weights_sum_to_one_respect_mask_and_caps(market_v_listing: MarketData) -> None:
    m = market_v_listing
    v = m.tickers.index("V")
    assert not m.tradable[:100, v].any() and m.tradable[-100:, v].all()
    cfg = EnvConfig(max_tickers=6, max_weight=0.3, max_gross=0.9)
    env = PortfolioEnv(m, cfg, seed=0)
    env.reset(options={"start": m.dates[0], "end": "2009-06-01"})
    rng = np.random.default_rng(0)
    done, steps, capped = False, 0, 0
    while not done:
        t = env.t
        _, _, terminated, truncated, info = env.step(rng.uniform(-1, 1, 7).astype(np.float32))
        w = info["weights"]
        assert (w >= 0).all() and (w <= 0.3 + 1e-12).all() and w.sum() <= 0.9 + 1e-12
        assert np.isclose(w.sum() + info["cash"], 1.0, atol=1e-12)
        assert (w[~m.tradable[t]] == 0).all()
        capped += np.isclose(w.max(), 0.3)
        done, steps = terminated or truncated, steps + 1
    assert steps == m.n_dates - 1 and capped > 10


@pytest.mark.parametrize("scale", [5.0, 500.0])  # 500 takes the max-subtracting softmax path
def test_target_weights_are_the_masked_softmax_with_caps(market_v_listing: MarketData, scale: float) -> None:
    m = market_v_listing
    cfg = EnvConfig(max_tickers=6, action_scale=scale, max_weight=0.35, max_gross=0.8)
    env = PortfolioEnv(m, cfg, seed=0)
    env.reset(options={"start": "2008-05-01", "end": "2008-10-01"})  # V becomes tradable in July
    rng = np.random.default_rng(4)
    done = False
    while not done:
        t = env.t
        action = rng.uniform(-1.5, 1.5, 7).astype(np.float32)
        tick, cash = expected_target(action, m.tradable[t], cfg)
        _, _, terminated, truncated, info = env.step(action)
        np.testing.assert_allclose(info["weights"], tick[:5], atol=1e-12)
        assert info["cash"] == pytest.approx(cash, abs=1e-12)
        done = terminated or truncated


def test_reward_is_log_growth_net_of_costs(market: MarketData) -> None:
    cfg = EnvConfig(max_tickers=6, cost_bps=7.0, slippage_bps=3.0, max_weight=0.4)
    env = PortfolioEnv(market, cfg, seed=5)
    env.reset()
    n = market.n_tickers
    held = np.zeros(6)  # drifted ticker weights before trading; starts in cash
    rng = np.random.default_rng(1)
    for _ in range(3):
        t = env.t
        action = rng.uniform(-1, 1, 7).astype(np.float32)
        tick, cash = expected_target(action, market.tradable[t], cfg)
        r = market.returns[t + 1]
        turnover = np.abs(tick - held).sum()
        cost = turnover * (7.0 + 3.0) / 1e4
        ret = tick[:n] @ r
        _, reward, _, _, info = env.step(action)
        assert reward == pytest.approx(np.log(1 + ret - cost), abs=1e-12)
        assert info["turnover"] == pytest.approx(turnover, abs=1e-12)
        assert info["cost"] == pytest.approx(cost, abs=1e-15)
        assert info["portfolio_return"] == pytest.approx(ret - cost, abs=1e-12)
        np.testing.assert_allclose(info["weights"], tick[:n], atol=1e-12)
        assert info["cash"] == pytest.approx(cash, abs=1e-12)
        assert info["date"] == market.dates[t + 1]
        held = np.zeros(6)
        held[:n] = tick[:n] * (1 + r) / (1 + ret)


def test_costs_reduce_reward_with_turnover(market: MarketData) -> None:
    free = PortfolioEnv(market, EnvConfig(max_tickers=6, cost_bps=0, slippage_bps=0), seed=2)
    paid = PortfolioEnv(market, EnvConfig(max_tickers=6, cost_bps=20, slippage_bps=5), seed=2)
    free.reset()
    paid.reset()
    rng = np.random.default_rng(3)
    for _ in range(20):
        action = rng.uniform(-1, 1, 7).astype(np.float32)
        _, r_free, *_, i_free = free.step(action)
        _, r_paid, *_, i_paid = paid.step(action)
        assert i_free["cost"] == 0 and i_paid["cost"] == pytest.approx(i_paid["turnover"] * 25e-4)
        assert i_paid["turnover"] > 0 and r_paid < r_free
        assert np.exp(r_free) - np.exp(r_paid) == pytest.approx(i_paid["cost"], abs=1e-12)


def test_risk_penalty_charges_drawdown_increases(market: MarketData) -> None:
    plain = PortfolioEnv(market, EnvConfig(max_tickers=6), seed=4)
    risky = PortfolioEnv(market, EnvConfig(max_tickers=6, risk_penalty=2.0), seed=4)
    plain.reset()
    risky.reset()
    action = np.r_[np.ones(5), -np.ones(2)].astype(np.float32)  # fully invested: drawdowns happen
    equity, peak, dd, charged = 1.0, 1.0, 0.0, 0
    for _ in range(60):
        _, r0, *_ = plain.step(action)
        _, r1, *_ = risky.step(action)
        equity *= np.exp(r0)
        peak = max(peak, equity)
        new_dd = 1 - equity / peak
        assert r1 == pytest.approx(r0 - 2.0 * max(new_dd - dd, 0.0), abs=1e-12)
        charged += new_dd > dd
        dd = new_dd
    assert charged > 5


def test_seeded_episode_starts_are_deterministic(market: MarketData) -> None:
    cfg = EnvConfig(max_tickers=6, episode_length=50)

    def starts(env: PortfolioEnv, k: int = 8) -> list[int]:
        out = []
        for _ in range(k):
            env.reset()
            out.append(env.t)
        return out

    a = starts(PortfolioEnv(market, cfg, seed=7))
    assert a == starts(PortfolioEnv(market, cfg, seed=7))
    assert a != starts(PortfolioEnv(market, cfg, seed=8))
    env = PortfolioEnv(market, cfg, seed=99)
    env.reset(seed=7)
    assert [env.t, *starts(env, 7)] == a
    assert len(set(a)) > 1 and all(0 <= s <= market.n_dates - 51 for s in a)


@pytest.mark.parametrize("fraction", [0.0, 0.7, 1.0])
def test_recent_fraction_mixes_recent_and_history_starts(market: MarketData, fraction: float) -> None:
    cfg = EnvConfig(max_tickers=6, episode_length=40)
    env = PortfolioEnv(market, cfg, start="2015-06-01", end="2020-01-01", recent_start="2018-01-01", recent_fraction=fraction, seed=0)
    r0, i0 = market.index_of("2018-01-01"), market.index_of("2015-06-01")
    starts = []
    for _ in range(300):
        env.reset()
        starts.append(env.t)
    starts_arr = np.array(starts)
    assert starts_arr.min() >= i0 and starts_arr.max() <= market.n_dates - 41
    share = (starts_arr >= r0).mean()
    if fraction == 0.0:
        assert share == 0
    elif fraction == 1.0:
        assert share == 1
    else:
        assert 0.6 < share < 0.8


def test_recent_fraction_needs_recent_start(market: MarketData) -> None:
    with pytest.raises(ConfigError, match="recent_start"):
        PortfolioEnv(market, EnvConfig(max_tickers=6), recent_fraction=0.5)


def test_deterministic_window_pass_covers_exactly_the_window(market: MarketData) -> None:
    cfg = EnvConfig(max_tickers=6, episode_length=20)
    env = PortfolioEnv(market, cfg, seed=0)
    days = market.dates[(market.dates >= np.datetime64("2018-03-01")) & (market.dates < np.datetime64("2018-09-01"))]
    obs, info = env.reset(options={"start": "2018-03-01", "end": "2018-09-01"})
    assert info["date"] == days[0]
    np.testing.assert_array_equal(obs[env.layout.features].reshape(6, F)[:5], market.features[market.index_of(days[0])])
    seen, terminated, truncated = [], False, False
    while not (terminated or truncated):
        _, _, terminated, truncated, info = env.step(np.zeros(7, dtype=np.float32))
        seen.append(info["date"])
    assert terminated and not truncated
    np.testing.assert_array_equal(np.array(seen), days[1:])  # one decision per day but the last
    with pytest.raises(RuntimeError, match="reset"):
        env.step(np.zeros(7, dtype=np.float32))
    env.reset()  # back to random training episodes, which end by truncation
    steps, truncated = 0, False
    while not truncated:
        _, _, terminated, truncated, _ = env.step(np.zeros(7, dtype=np.float32))
        assert not terminated
        steps += 1
    assert steps == 20


def test_short_window_clamps_episode_once_and_tiny_window_raises(market: MarketData, caplog: pytest.LogCaptureFixture) -> None:
    cfg = EnvConfig(max_tickers=6, episode_length=252)
    with caplog.at_level(logging.WARNING, logger="autotest_lib.env.simulator"):
        env = PortfolioEnv(market, cfg, start="2019-02-01", end="2019-03-01", seed=0)
        PortfolioEnv(market, cfg, start="2019-02-01", end="2019-03-01", seed=1)
    assert sum("clamped" in r.message for r in caplog.records) == 1
    days = int(((market.dates >= np.datetime64("2019-02-01")) & (market.dates < np.datetime64("2019-03-01"))).sum())
    assert env.sampler.episode_length == days - 1
    env.reset()
    steps, done = 0, False
    while not done:
        _, _, terminated, truncated, _ = env.step(np.zeros(7, dtype=np.float32))
        done, steps = terminated or truncated, steps + 1
    assert steps == days - 1
    with pytest.raises(DataError, match="at least 2"):
        PortfolioEnv(market, cfg, start="2019-06-03", end="2019-06-04")
    with pytest.raises(ValueError, match="at least 2"):
        env.reset(options={"start": "2019-06-03", "end": "2019-06-04"})


def test_more_tickers_than_slots_is_a_config_error(market: MarketData) -> None:
    with pytest.raises(ConfigError, match="max_tickers"):
        PortfolioEnv(market, EnvConfig(max_tickers=4))
    with pytest.raises(ConfigError, match="feature_set"):
        PortfolioEnv(market, EnvConfig(max_tickers=6, feature_set="full"))
