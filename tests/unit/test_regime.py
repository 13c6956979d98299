"""The regime detector on the bundled SPY prices, its causality, the per-regime breakdown and the selection rule."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from autotest_lib.config import RegimeConfig, load_preset
from autotest_lib.regime import (
    REGIMES,
    RULE_FALLBACK,
    RULE_REGIME,
    UNKNOWN,
    attribute_days,
    choose_by_regime,
    current_regime,
    detect_regimes,
    index_closes,
    regime_breakdown,
    regime_warmup,
    window_labels,
)

END = dt.date(2024, 9, 1)


@pytest.fixture(scope="module")
def closes() -> pd.Series:
    return index_closes(END)


@pytest.fixture(scope="module")
def frame(closes: pd.Series) -> pd.DataFrame:
    return detect_regimes(closes)


def test_march_2020_is_bear_and_high_volatility(frame: pd.DataFrame) -> None:
    crash = frame.loc["2020-03-09":"2020-03-31"]
    assert len(crash) == 17
    assert set(crash["regime"]) == {"bear_high_vol"}
    # the rules behind it: below the 200-day average, 21-day volatility far above its one-year median
    assert (crash["close"] < crash["sma"]).all() and (crash["vol"] > 2 * crash["vol_median"]).all()


def test_2017_is_bull_and_low_volatility(frame: pd.DataFrame) -> None:
    year = frame.loc["2017"]
    assert len(year) == 251 and set(year["trend"]) == {"bull"}
    shares = year["regime"].value_counts(normalize=True)
    assert shares.index[0] == "bull_low_vol" and shares["bull_low_vol"] > 0.7


def test_rules_and_warm_up(closes: pd.Series, frame: pd.DataFrame) -> None:
    cfg = RegimeConfig()
    assert (frame["regime"].iloc[: regime_warmup(cfg)] == UNKNOWN).all()
    assert (frame["regime"].iloc[regime_warmup(cfg) :] != UNKNOWN).all()
    assert set(frame["regime"]) == {*REGIMES, UNKNOWN}
    # one day recomputed by hand from the formulas of the docstring
    t = frame.index.get_loc(pd.Timestamp("2022-06-16"))
    p = closes.to_numpy()
    sma = p[t - 199 : t + 1].mean()
    r = np.diff(np.log(p))
    sigma = np.array([r[s - 21 : s].std(ddof=1) * np.sqrt(252) for s in range(t - 251, t + 1)])
    expected = f"{'bull' if p[t] > sma else 'bear'}_{'high' if sigma[-1] > np.median(sigma) else 'low'}_vol"
    assert frame["sma"].iloc[t] == pytest.approx(sma) and frame["vol_median"].iloc[t] == pytest.approx(np.median(sigma))
    assert frame["regime"].iloc[t] == expected == "bear_high_vol"


@pytest.mark.parametrize("t", ["2008-10-10", "2017-06-30", "2020-03-16", "2023-01-03"])
def test_labels_are_causal(closes: pd.Series, frame: pd.DataFrame, t: str) -> None:
    """Change every price after ``t`` (crash, then noise): the labels up to ``t`` do not move."""
    rng = np.random.default_rng(0)
    after = closes.index > pd.Timestamp(t)
    corrupt = closes.copy()
    corrupt[after] = closes[after].to_numpy()[::-1] * rng.uniform(0.2, 3.0, after.sum())
    changed = detect_regimes(corrupt)
    pd.testing.assert_frame_equal(changed.loc[:t], frame.loc[:t])
    assert (changed.loc[after, "regime"] != frame.loc[after, "regime"]).any(), "the corruption should change later labels"
    # truncated history (what a week loads) gives the same labels as the full history
    day = pd.Timestamp(t).date()
    short = window_labels(day - dt.timedelta(days=30), day + dt.timedelta(days=1))
    pd.testing.assert_series_equal(short, frame["regime"].loc[short.index], check_names=False)


def test_current_regime_is_the_label_before_the_cutoff(frame: pd.DataFrame) -> None:
    now = current_regime(dt.date(2020, 3, 23))  # a Monday: the label of Friday 2020-03-20
    assert now.as_of == dt.date(2020, 3, 20) and now.regime == frame.loc["2020-03-20", "regime"] == "bear_high_vol"
    assert current_regime(dt.date(2017, 7, 2)).regime == frame.loc["2017-06-30", "regime"]
    assert now.trend == "bear" and now.vol_state == "high" and now.close < now.sma and now.vol > now.vol_median


def test_breakdown_of_a_real_backtest(frame: pd.DataFrame) -> None:
    """A fixed-weight policy over Jan-Jun 2020: days split by the regime of the previous close, metrics per part."""
    from autotest_lib.data import load_market
    from autotest_lib.evaluate import backtest
    from autotest_lib.evaluate.metrics import sharpe_ratio

    env = load_preset("demo").env
    market = load_market(["AAPL", "KO", "JPM"], start="2019-10-01", cutoff="2020-07-01", feature_set=env.feature_set)
    action = np.zeros(env.max_tickers + 1, dtype=np.float32)
    result = backtest(lambda obs: action, market, env, start=dt.date(2020, 1, 2), end=dt.date(2020, 7, 1))
    labels = frame["regime"]
    parts = regime_breakdown(result, labels)

    attributed = attribute_days(result.dates, labels)
    prev = labels.index[labels.index.searchsorted(pd.Timestamp("2020-03-16")) - 1]
    assert attributed[list(result.dates).index(np.datetime64("2020-03-16"))] == labels[prev] == "bear_high_vol"
    assert sum(p["days"] for p in parts.values()) == len(result.returns)
    assert list(parts) == [r for r in REGIMES if r in parts]  # display order
    for regime, row in parts.items():
        mask = attributed == regime
        assert row["days"] == mask.sum() and row["share"] == pytest.approx(mask.mean())
        assert row["total_return"] == pytest.approx(np.prod(1 + result.returns[mask]) - 1)
        assert row["sharpe"] == pytest.approx(sharpe_ratio(result.returns[mask]), abs=1e-12)
        bh = result.benchmarks["buy_and_hold"].returns[mask]
        assert row["benchmarks"]["buy_and_hold"]["total_return"] == pytest.approx(np.prod(1 + bh) - 1)
    # the crash days are the volatile ones
    vols = {r: p["annual_volatility"] for r, p in parts.items()}
    assert parts["bear_high_vol"]["days"] >= 20 and max(vols, key=vols.get) == "bear_high_vol" and min(vols, key=vols.get) == "bull_low_vol"


def _row(days: int, sharpe: float) -> dict:
    return {"days": days, "sharpe": sharpe, "total_return": 0.01}


def test_selection_rule_picks_the_best_with_enough_evidence() -> None:
    by_regime = {
        "a": {"bull_high_vol": _row(30, 0.8), "bull_low_vol": _row(30, 2.5)},
        "b": {"bull_high_vol": _row(30, 1.4)},
        "c": {"bull_high_vol": _row(10, 9.0)},  # best Sharpe, too little evidence
        "champ": {"bull_high_vol": _row(30, 1.1)},
        "d": None,  # no breakdown recorded
    }
    pick = choose_by_regime("bull_high_vol", by_regime, champion_id="champ", min_evidence_days=20)
    assert (pick.model_id, pick.kind, pick.regime, pick.evidence_days, pick.eligible) == ("b", RULE_REGIME, "bull_high_vol", 30, 3)
    assert pick.score == pytest.approx(1.4) and "regime rule" in pick.rule and "bull_high_vol" in pick.rule
    # lowering the evidence bar lets c in
    assert choose_by_regime("bull_high_vol", by_regime, champion_id="champ", min_evidence_days=10).model_id == "c"
    # ties go to the champion
    tie = {"a": {"bear_low_vol": _row(25, 1.0)}, "z": {"bear_low_vol": _row(25, 1.0)}}
    assert choose_by_regime("bear_low_vol", tie, champion_id="z", min_evidence_days=20).model_id == "z"
    assert choose_by_regime("bear_low_vol", tie, champion_id=None, min_evidence_days=20).model_id == "a"


def test_selection_rule_falls_back_to_the_champion() -> None:
    by_regime = {"a": {"bull_high_vol": _row(12, 3.0)}, "champ": {"bull_high_vol": _row(12, 0.2)}}
    pick = choose_by_regime("bull_high_vol", by_regime, champion_id="champ", min_evidence_days=20)
    assert (pick.model_id, pick.kind, pick.eligible) == ("champ", RULE_FALLBACK, 0)
    assert "champion fallback" in pick.rule and "no model has >= 20 days of bull_high_vol" in pick.rule and "most: 12" in pick.rule
    absent = choose_by_regime("bear_high_vol", by_regime, champion_id="champ", min_evidence_days=20)
    assert absent.model_id == "champ" and absent.kind == RULE_FALLBACK and absent.evidence_days == 0
    unknown = choose_by_regime(UNKNOWN, {"a": {UNKNOWN: _row(60, 5.0)}}, champion_id="champ", min_evidence_days=20)
    assert unknown.model_id == "champ" and "unknown" in unknown.rule
    nobody = choose_by_regime("bull_high_vol", by_regime, champion_id=None, min_evidence_days=20)
    assert nobody.model_id is None and "no champion" in nobody.rule


@pytest.fixture
def store(tmp_path: Path):
    from autotest_lib.registry import LineageStore, upgrade

    url = f"sqlite:///{tmp_path / 'lineage.sqlite'}"
    upgrade(url)
    with LineageStore(url) as s:
        yield s


def test_paper_trade_choice_reads_the_registry(store, tmp_path: Path) -> None:
    """choose_model: the regime rule over the week's per-regime evaluations of models still in the archive."""
    from autotest_lib.paper import choose_model

    week = dt.date(2024, 8, 25)
    rows = {
        "m-best": {"bull_high_vol": _row(22, 2.0)},
        "m-pruned": {"bull_high_vol": _row(22, 5.0)},  # best, but its bundle is gone
        "m-champ": {"bull_high_vol": _row(22, 1.0)},
    }
    for i, (model_id, by_regime) in enumerate(rows.items()):
        bundle = tmp_path / model_id
        if model_id != "m-pruned":
            bundle.mkdir()
            (bundle / "manifest.json").write_text("{}")
        store.upsert_model(model_id, role="explorer", created_week=week, tickers=["AAPL"], hyperparameters={}, status="active")
        store.set_model_bundle(model_id, bundle_uri=str(bundle), bundle_sha256="0" * 64, cumulative_timesteps=10)
        store.record_evaluation(
            model_id,
            week,
            "validation",
            window_start=week - dt.timedelta(weeks=12),
            window_end=week,
            metrics={},
            score=float(i),
            by_regime=by_regime,
        )
    store.set_champion(week, "m-champ", rule="initial")

    choice = choose_model(store, week, regime="bull_high_vol", min_evidence_days=20)
    assert (choice.model_id, choice.kind, choice.regime, choice.champion_id) == ("m-best", RULE_REGIME, "bull_high_vol", "m-champ")
    fallback = choose_model(store, week, regime="bull_high_vol", min_evidence_days=30)
    assert (fallback.model_id, fallback.kind) == ("m-champ", "champion_fallback") and "champion of week 2024-08-25" in fallback.rule
    plain = choose_model(store, week)
    assert (plain.model_id, plain.regime) == ("m-champ", None)
