"""Backtest on real bundled prices: cash and equal-weight policies against hand computations, benchmarks, determinism."""

from __future__ import annotations

import dataclasses
import datetime as dt
import json

import empyrical
import numpy as np
import pandas as pd
import pytest

from autotest_lib.config import EnvConfig, include_dir
from autotest_lib.data import MarketData, load_market
from autotest_lib.errors import DataError
from autotest_lib.evaluate import BUY_AND_HOLD, BacktestResult, backtest, compute_metrics, policy_from_model, score

TICKERS = ["AAPL", "MSFT", "JPM", "V", "KO"]  # V lists in March 2008: not tradable on the first day
START, END = "2008-01-02", "2009-01-01"
# A large action scale makes the softmax exact: a slot at -1 gets exp(-2000) = 0 weight.
CONFIG = EnvConfig(action_scale=1000.0, cost_bps=5.0, slippage_bps=5.0)
SLOTS = CONFIG.max_tickers + 1


@pytest.fixture(scope="module")
def market() -> MarketData:
    return load_market(TICKERS, start="2007-06-01", cutoff="2009-06-01")


@pytest.fixture(scope="module")
def adj_close() -> pd.DataFrame:
    frame = pd.read_csv(
        include_dir() / "data" / "dow30_spy_2005_2024.csv.gz", usecols=["date", "ticker", "adj_close"], parse_dates=["date"]
    )
    frame = frame[frame["ticker"].isin([*TICKERS, "SPY"]) & (frame["date"] >= "2007-01-01") & (frame["date"] < "2009-06-01")]
    return frame.pivot(index="date", columns="ticker", values="adj_close")


def _action(ticker_value: float, cash_value: float, n: int = len(TICKERS)) -> np.ndarray:
    a = np.full(SLOTS, -1.0, dtype=np.float32)
    a[:n] = ticker_value
    a[-1] = cash_value
    return a


def cash_policy(obs: np.ndarray) -> np.ndarray:
    return _action(-1.0, 1.0)


def equal_weight_policy(obs: np.ndarray) -> np.ndarray:
    return _action(1.0, -1.0)


@pytest.fixture(scope="module")
def equal_weight(market: MarketData) -> BacktestResult:
    return backtest(equal_weight_policy, market, CONFIG, start=START, end=END)


def test_cash_policy_earns_and_pays_nothing(market: MarketData) -> None:
    res = backtest(cash_policy, market, CONFIG, start=START, end=END)
    assert len(res.returns) > 200
    assert not res.returns.any() and not res.costs.any() and not res.turnover.any() and not res.weights.any()
    np.testing.assert_array_equal(res.cash, 1.0)
    np.testing.assert_array_equal(res.equity, 1.0)
    assert res.metrics["total_return"] == 0.0 and res.metrics["max_drawdown"] == 0.0
    assert score(res) == 0.0  # undefined Sharpe of a flat series ranks as no edge


def test_equal_weight_matches_hand_computation(market: MarketData, equal_weight: BacktestResult) -> None:
    """Target ``w_t = tradable_t / K_t``; cost on ``Σ|w_t − v_t|`` against the drifted weights; earn ``w_t . R_{t+1}``."""
    i0, i1 = market.index_of(START), market.index_of(END)
    rate = (CONFIG.cost_bps + CONFIG.slippage_bps) / 1e4
    v = np.zeros(len(TICKERS))  # starts all in cash
    rets, costs, turns, weights = [], [], [], []
    for t in range(i0, i1 - 1):
        w = market.tradable[t] / market.tradable[t].sum()
        tau = np.abs(w - v).sum()
        gross = w @ market.returns[t + 1]
        rets.append(gross - tau * rate)
        costs.append(tau * rate)
        turns.append(tau)
        weights.append(w)
        v = w * (1.0 + market.returns[t + 1]) / (1.0 + gross)
    res = equal_weight
    np.testing.assert_allclose(res.returns, rets, rtol=0, atol=1e-14)
    np.testing.assert_allclose(res.costs, costs, rtol=0, atol=1e-15)
    np.testing.assert_allclose(res.turnover, turns, rtol=0, atol=1e-12)
    np.testing.assert_allclose(res.weights, weights, rtol=0, atol=1e-15)
    np.testing.assert_allclose(res.gross_returns, np.einsum("tn,tn->t", res.weights, market.returns[i0 + 1 : i1]), rtol=0, atol=1e-14)
    np.testing.assert_allclose(res.equity, np.cumprod(1.0 + np.asarray(rets)), rtol=1e-12)
    assert res.turnover[0] == pytest.approx(1.0)  # buying in from cash
    assert 0 < res.turnover[1:].mean() < 0.1  # then only drift, and V joining the book
    assert res.weights[0, TICKERS.index("V")] == 0.0 and res.weights[-1, TICKERS.index("V")] == pytest.approx(0.2)
    assert res.metrics == compute_metrics(res.returns, turnover=res.turnover)
    assert score(res) == pytest.approx(empyrical.sharpe_ratio(res.returns), rel=1e-12)


def test_dates_and_benchmarks_align(market: MarketData, equal_weight: BacktestResult) -> None:
    res = equal_weight
    i0, i1 = market.index_of(START), market.index_of(END)
    np.testing.assert_array_equal(res.dates, market.dates[i0 + 1 : i1])
    assert str(res.dates[0]) == "2008-01-03" and str(res.dates[-1]) == "2008-12-31"
    assert set(res.benchmarks) == {BUY_AND_HOLD, "SPY"}
    frame = res.to_frame()
    assert len(frame) == len(res.dates) and (frame.index == pd.DatetimeIndex(res.dates.astype("datetime64[ns]"))).all()
    for name, bench in res.benchmarks.items():
        assert bench.returns.shape == bench.equity.shape == res.returns.shape
        assert bench.metrics["n_days"] == res.metrics["n_days"]
        np.testing.assert_array_equal(frame[f"{name}_equity"].to_numpy(), bench.equity)


def test_spy_benchmark_is_cumprod_of_spy_returns(adj_close: pd.DataFrame, equal_weight: BacktestResult) -> None:
    """Independent of MarketData: SPY's adjusted closes straight from the bundled CSV."""
    spy = adj_close["SPY"].pct_change().reindex(pd.DatetimeIndex(equal_weight.dates.astype("datetime64[ns]")))
    bench = equal_weight.benchmarks["SPY"]
    np.testing.assert_allclose(bench.returns, spy.to_numpy(), rtol=1e-10)
    np.testing.assert_allclose(bench.equity, np.cumprod(1.0 + spy.to_numpy()), rtol=1e-10)
    assert bench.equity[-1] - 1.0 == pytest.approx(adj_close.loc["2008-12-31", "SPY"] / adj_close.loc["2008-01-02", "SPY"] - 1.0, rel=1e-10)
    assert bench.metrics["max_drawdown"] < -0.4  # 2008


def test_buy_and_hold_is_equal_weight_of_first_day_tickers(adj_close: pd.DataFrame, equal_weight: BacktestResult) -> None:
    held = ["AAPL", "MSFT", "JPM", "KO"]  # V was not listed on 2008-01-02
    prices = adj_close.loc["2008-01-02":"2008-12-31", held]
    value = (prices / prices.iloc[0]).mean(axis=1).to_numpy()[1:]
    bench = equal_weight.benchmarks[BUY_AND_HOLD]
    np.testing.assert_allclose(bench.equity, value, rtol=1e-10)
    assert bench.metrics["turnover"] == 0.0


def test_deterministic(market: MarketData, equal_weight: BacktestResult) -> None:
    again = backtest(equal_weight_policy, market, CONFIG, start=START, end=END)
    for field in dataclasses.fields(BacktestResult):
        a, b = getattr(equal_weight, field.name), getattr(again, field.name)
        if isinstance(a, np.ndarray):
            np.testing.assert_array_equal(a, b)
    assert json.dumps(again.summary(), sort_keys=True) == json.dumps(equal_weight.summary(), sort_keys=True)


def test_summary_is_json_and_result_is_frozen(equal_weight: BacktestResult) -> None:
    summary = json.loads(json.dumps(equal_weight.summary(), allow_nan=False))
    assert summary["start"] == "2008-01-03" and summary["end"] == "2008-12-31"
    assert summary["score"] == equal_weight.metrics["sharpe"]
    assert set(summary["excess"]) == {BUY_AND_HOLD, "SPY"}
    spy = summary["excess"]["SPY"]
    assert spy["total_return"] == pytest.approx(equal_weight.metrics["total_return"] - summary["benchmarks"]["SPY"]["total_return"])
    active = equal_weight.returns - equal_weight.benchmarks["SPY"].returns
    assert spy["information_ratio"] == pytest.approx(empyrical.sharpe_ratio(active), rel=1e-12)
    with pytest.raises(ValueError, match="read-only"):
        equal_weight.returns[0] = 1.0
    with pytest.raises(dataclasses.FrozenInstanceError):
        equal_weight.metrics = {}  # type: ignore[misc]


def test_deflated_sharpe_and_model_wrapper(market: MarketData, equal_weight: BacktestResult) -> None:
    class FakeModel:
        def predict(self, obs: np.ndarray, deterministic: bool = False) -> tuple[np.ndarray, None]:
            assert deterministic and obs.dtype == np.float32
            return equal_weight_policy(obs), None

    res = backtest(
        policy_from_model(FakeModel()), market, CONFIG, start=START, end=END, n_trials=20, trial_sharpes=[0.01, -0.02, 0.03, 0.0]
    )
    np.testing.assert_array_equal(res.returns, equal_weight.returns)
    assert res.metrics["n_trials"] == 20
    assert 0.0 < res.metrics["dsr"] < res.metrics["psr"] == equal_weight.metrics["psr"]


def test_window_too_short_raises(market: MarketData) -> None:
    with pytest.raises(DataError, match="widen the window"):
        backtest(cash_policy, market, CONFIG, start="2008-01-02", end="2008-01-03")


def test_backtest_bundle_runs_the_saved_model(tmp_path) -> None:
    """A tiny PPO trained on real prices, saved as a bundle, backtested on the validation window after its training."""
    from tiny_specs import PRESET, tiny_spec

    from autotest_lib.evaluate.bundles import backtest_bundle
    from autotest_lib.train import load_model, train

    ppo = PRESET.ppo.model_copy(update={"n_steps": 64, "batch_size": 128, "n_envs": 2})
    spec = tiny_spec(model_id="bt-00", train_start=dt.date(2023, 1, 3), timesteps=128, seed=1, ppo=ppo)
    bundle = train(spec, tmp_path).bundle_uri
    res = backtest_bundle(bundle, start=spec.train_end, end=spec.cutoff, n_trials=3)
    assert str(res.dates[0]) >= "2024-06-03" and str(res.dates[-1]) < "2024-09-08"
    assert res.tickers == spec.tickers and res.metrics["n_trials"] == 3
    assert res.metrics["dsr"] == 0.0  # three trials but their Sharpe ratios unknown yet: undefined
    market = load_market(list(spec.tickers), start=spec.train_end, cutoff=spec.cutoff, feature_set=spec.env.feature_set)
    direct = backtest(policy_from_model(load_model(bundle)), market, spec.env, start=spec.train_end, end=spec.cutoff)
    np.testing.assert_array_equal(res.returns, direct.returns)
    np.testing.assert_array_equal(res.weights, direct.weights)
    assert (res.turnover[1:] > 0).any() or res.turnover[0] > 0  # the model trades
