"""Metrics: cross-checked against empyrical on real bundled prices, hand-verified PSR/DSR, edge cases."""

from __future__ import annotations

import itertools
import json
import math

import empyrical
import numpy as np
import pandas as pd
import pytest
from scipy import stats

from autotest_lib.config import include_dir
from autotest_lib.evaluate import metrics as m


def _phi(x: float) -> float:
    """Standard normal CDF from erf, independent of the NormalDist used by the module."""
    return 0.5 * (1.0 + math.erf(x / math.sqrt(2.0)))


@pytest.fixture(scope="module")
def adj_close() -> pd.DataFrame:
    frame = pd.read_csv(
        include_dir() / "data" / "dow30_spy_2005_2024.csv.gz", usecols=["date", "ticker", "adj_close"], parse_dates=["date"]
    )
    return frame.pivot(index="date", columns="ticker", values="adj_close")


def _returns(prices: pd.DataFrame, ticker: str, start: str, end: str) -> np.ndarray:
    r = prices[ticker].pct_change().loc[start:end].dropna()
    assert len(r) > 200, f"{ticker} {start}..{end}: only {len(r)} days"
    return r.to_numpy()


# SPY through the 2008 crash, AAPL through Covid, SPY in a quiet bull market, a loser (INTC) in 2022-2024.
WINDOWS = [
    ("SPY", "2006-01-01", "2010-12-31"),
    ("AAPL", "2018-01-01", "2021-12-31"),
    ("SPY", "2017-01-01", "2017-12-31"),
    ("INTC", "2022-01-01", "2024-06-30"),
]


@pytest.mark.parametrize(("ticker", "start", "end"), WINDOWS)
def test_matches_empyrical_on_real_returns(adj_close: pd.DataFrame, ticker: str, start: str, end: str) -> None:
    r = _returns(adj_close, ticker, start, end)
    assert m.sharpe_ratio(r) == pytest.approx(empyrical.sharpe_ratio(r), rel=1e-10)
    assert m.sortino_ratio(r) == pytest.approx(empyrical.sortino_ratio(r), rel=1e-10)
    assert m.max_drawdown(r) == pytest.approx(empyrical.max_drawdown(r), rel=1e-10)
    assert m.annual_volatility(r) == pytest.approx(empyrical.annual_volatility(r), rel=1e-10)
    assert m.cagr(r) == pytest.approx(empyrical.cagr(r), rel=1e-10)
    assert m.calmar_ratio(r) == pytest.approx(empyrical.calmar_ratio(r), rel=1e-10)
    assert m.total_return(r) == pytest.approx(empyrical.cum_returns_final(r), rel=1e-10)
    assert m.max_drawdown(r) < 0


def test_real_series_sanity(adj_close: pd.DataFrame) -> None:
    """The 2008 crash is in SPY's drawdown; the crash years give a lower Sharpe than the 2017 melt-up."""
    crash = _returns(adj_close, "SPY", "2007-10-01", "2009-06-30")
    assert m.max_drawdown(crash) < -0.5
    assert m.sharpe_ratio(crash) < 0 < m.sharpe_ratio(_returns(adj_close, "SPY", "2017-01-01", "2017-12-31"))


def test_nan_days_are_dropped(adj_close: pd.DataFrame) -> None:
    r = _returns(adj_close, "AAPL", "2019-01-01", "2019-12-31")
    holey = r.copy()
    holey[[3, 50, 100]] = np.nan
    kept = holey[np.isfinite(holey)]
    for fn in (m.sharpe_ratio, m.sortino_ratio, m.max_drawdown, m.cagr, m.probabilistic_sharpe_ratio):
        assert fn(holey) == fn(kept)
    assert m.compute_metrics(holey)["n_days"] == len(r) - 3


def test_hand_computed_basics() -> None:
    r = np.array([0.01, -0.02, 0.0, 0.03, 0.0, -0.01])
    assert m.win_rate(r) == pytest.approx(2 / 4)
    assert m.win_rate([0.01, 0.02, -0.01]) == pytest.approx(2 / 3)
    assert m.total_return(r) == pytest.approx(1.01 * 0.98 * 1.03 * 0.99 - 1)
    # The drawdown is measured from the starting 1.0: a first-day loss counts.
    assert m.max_drawdown([-0.1, 0.05]) == pytest.approx(-0.1)
    assert m.max_drawdown([0.1, -0.5, 0.2]) == pytest.approx(-0.5)
    assert m.max_drawdown([0.01, 0.02]) == 0.0
    np.testing.assert_allclose(m.equity_curve([0.1, -0.5]), [1.0, 1.1, 0.55])
    assert m.cagr(np.full(504, 0.001)) == pytest.approx(1.001**252 - 1)
    assert m.annual_volatility(r) == pytest.approx(np.std(r, ddof=1) * math.sqrt(252))
    assert m.mean_turnover([0.5, 0.1, 0.0, 0.2]) == pytest.approx(0.2)
    # Sortino's downside deviation averages over all days, not only the losing ones.
    assert m.sortino_ratio(r) == pytest.approx(r.mean() * 252 / (math.sqrt((0.02**2 + 0.01**2) / 6) * math.sqrt(252)))
    assert m.cagr([-1.0, 0.5]) == -1.0


def test_psr_hand_case_known_moments() -> None:
    """``r = μ + d·(1, 0, −1)`` repeated: skew 0, kurtosis 1.5 exactly, so PSR is a closed form."""
    mu, d, k = 0.0004, 0.01, 100
    r = mu + d * np.tile([1.0, 0.0, -1.0], k)
    n = r.size
    sr = mu / math.sqrt(2 * d**2 / 3 * n / (n - 1))  # sample std, ddof=1
    assert m.sharpe_ratio(r, periods_per_year=1) == pytest.approx(sr, rel=1e-9)
    for sr_star in (0.0, 0.01, -0.02):
        expected = _phi((sr - sr_star) * math.sqrt(n - 1) / math.sqrt(1 - 0.0 * sr + (1.5 - 1) / 4 * sr**2))
        assert m.probabilistic_sharpe_ratio(r, sr_star) == pytest.approx(expected, rel=1e-9)


def test_psr_on_real_returns_uses_skew_and_kurtosis(adj_close: pd.DataFrame) -> None:
    r = _returns(adj_close, "SPY", "2006-01-01", "2010-12-31")
    sr = r.mean() / r.std(ddof=1)
    g3, g4 = stats.skew(r), stats.kurtosis(r, fisher=False)
    assert g4 > 5  # fat tails: the correction matters here
    expected = _phi(sr * math.sqrt(len(r) - 1) / math.sqrt(1 - g3 * sr + (g4 - 1) / 4 * sr**2))
    assert m.probabilistic_sharpe_ratio(r) == pytest.approx(expected, rel=1e-9)
    # Against its own Sharpe as the benchmark, PSR is exactly one half.
    assert m.probabilistic_sharpe_ratio(r, sr) == pytest.approx(0.5)


def test_expected_max_sharpe_matches_monte_carlo() -> None:
    rng = np.random.default_rng(7)
    variance = 0.04
    for n_trials in (10, 100, 1000):
        draws = rng.normal(0.0, math.sqrt(variance), size=(4000, n_trials))
        simulated = draws.max(axis=1).mean()
        assert m.expected_max_sharpe(n_trials, variance) == pytest.approx(simulated, rel=0.05)
    assert m.expected_max_sharpe(1, variance) == 0.0
    assert m.expected_max_sharpe(50, 0.0) == 0.0
    # The formula itself, evaluated by hand for N = 10, V = 1.
    g = 0.5772156649015329
    assert m.expected_max_sharpe(10, 1.0) == pytest.approx((1 - g) * 1.2815515655 + g * stats.norm.ppf(1 - 1 / (10 * math.e)), rel=1e-9)


def test_dsr_properties(adj_close: pd.DataFrame) -> None:
    r = _returns(adj_close, "AAPL", "2018-01-01", "2021-12-31")
    variance = 0.03**2
    assert m.deflated_sharpe_ratio(r, 1) == m.probabilistic_sharpe_ratio(r, 0.0)
    assert m.deflated_sharpe_ratio(r, 1, variance) == m.probabilistic_sharpe_ratio(r, 0.0)
    dsr = [m.deflated_sharpe_ratio(r, n, variance) for n in (1, 2, 5, 20, 100, 1000)]
    assert all(a > b for a, b in itertools.pairwise(dsr)), dsr
    assert 0.0 < dsr[-1] < dsr[0] < 1.0
    # DSR is PSR against the expected maximum.
    assert dsr[3] == pytest.approx(m.probabilistic_sharpe_ratio(r, m.expected_max_sharpe(20, variance)))
    trials = np.array([0.01, 0.05, -0.02, 0.03, 0.04])
    assert m.deflated_sharpe_ratio(r, 5, trial_sharpes=trials) == m.deflated_sharpe_ratio(r, 5, float(np.var(trials, ddof=1)))
    assert m.compute_metrics(r, n_trials=5, trial_sharpes=trials)["dsr"] == pytest.approx(
        m.deflated_sharpe_ratio(r, 5, trial_sharpes=trials)
    )
    # Within compute_metrics an unknown trial variance leaves the DSR undefined (0.0) rather than failing.
    unknown = m.compute_metrics(r, n_trials=5)
    assert unknown["dsr"] == 0.0 and unknown["psr"] > 0.5 and unknown["n_trials"] == 5
    with pytest.raises(ValueError, match="sr_variance or trial_sharpes"):
        m.deflated_sharpe_ratio(r, 5)
    with pytest.raises(ValueError, match="at least 2"):
        m.deflated_sharpe_ratio(r, 5, trial_sharpes=[0.1])
    with pytest.raises(ValueError, match="n_trials=0"):
        m.expected_max_sharpe(0, 1.0)


KEYS = {
    "total_return",
    "cagr",
    "annual_volatility",
    "sharpe",
    "sortino",
    "max_drawdown",
    "calmar",
    "win_rate",
    "turnover",
    "psr",
    "dsr",
    "n_days",
    "n_trials",
}


def test_compute_metrics_real(adj_close: pd.DataFrame) -> None:
    r = _returns(adj_close, "SPY", "2006-01-01", "2010-12-31")
    out = m.compute_metrics(r, turnover=np.full(len(r), 0.1))
    assert set(out) == KEYS
    assert out["sharpe"] == pytest.approx(empyrical.sharpe_ratio(r))
    assert out["turnover"] == pytest.approx(0.1)
    assert out["psr"] == out["dsr"] == m.probabilistic_sharpe_ratio(r)
    assert out["n_days"] == len(r) and out["n_trials"] == 1
    assert json.loads(json.dumps(out, allow_nan=False)) == out


@pytest.mark.parametrize(
    ("returns", "label"),
    [
        (np.array([]), "empty"),
        (np.zeros(50), "zeros"),
        (np.full(50, 0.001), "constant"),
        (np.array([0.01]), "single"),
        (np.array([np.nan, np.nan]), "nan"),
    ],
)
def test_edge_cases_are_documented_values(returns: np.ndarray, label: str) -> None:
    out = m.compute_metrics(returns, turnover=np.array([]), n_trials=3, trial_sharpes=[0.1, 0.2])
    assert set(out) == KEYS
    json.dumps(out, allow_nan=False)  # no NaN anywhere
    for key in ("sharpe", "sortino", "calmar", "psr", "dsr", "turnover", "annual_volatility"):
        assert out[key] == 0.0, (label, key)
    assert out["max_drawdown"] == 0.0
    assert math.isnan(m.sharpe_ratio(returns)) and math.isnan(m.probabilistic_sharpe_ratio(returns))
    if label == "constant":
        assert out["total_return"] == pytest.approx(1.001**50 - 1)
        assert out["win_rate"] == 1.0
        assert m.annual_volatility(returns) == 0.0
    elif label == "single":
        assert out["total_return"] == pytest.approx(0.01) and out["win_rate"] == 1.0
    else:
        assert out["total_return"] == 0.0 and out["cagr"] == 0.0 and out["win_rate"] == 0.0
        assert math.isnan(m.win_rate(returns))


def test_rejects_2d_input() -> None:
    with pytest.raises(ValueError, match="1-D"):
        m.sharpe_ratio(np.zeros((3, 2)))
