"""Features on real bundled prices: catalogue layout, values against straightforward loops, causality."""

from __future__ import annotations

import math
import time

import numpy as np
import pandas as pd
import pytest

from autotest_lib.data import CLIP, FEATURE_CATALOGUE, FEATURE_SETS, FEATURES, BundledSource, compute_features, feature_warmup, load_prices
from autotest_lib.errors import DataError

DAY = pd.Timestamp("2020-06-15")


@pytest.fixture(scope="module")
def prices() -> pd.DataFrame:
    return load_prices(["AAPL", "MMM", "V", "SPY"], start="2006-01-01", cutoff="2021-01-01")


@pytest.fixture(scope="module")
def feats(prices: pd.DataFrame) -> pd.DataFrame:
    return compute_features(prices, "full").set_index(["ticker", "date"])


def _series(prices: pd.DataFrame, ticker: str) -> pd.DataFrame:
    return prices[prices["ticker"] == ticker].set_index("date")


def test_catalogue_is_ordered_and_sets_nest() -> None:
    assert FEATURE_CATALOGUE == (
        "ret_1d", "ret_5d", "sma20_ratio", "rsi_14", "vol_21d",
        "ret_21d", "sma50_ratio", "macd", "macd_hist", "bb_pctb", "atr_14", "volume_z21",
        "ret_63d", "ret_252d", "vol_63d", "vol_ratio_5_63", "range_pos_21d", "spy_sma200", "spy_vol_regime",
    )  # fmt: skip
    assert FEATURE_SETS["full"] == FEATURE_CATALOGUE
    simple, rich = FEATURE_SETS["simple"], FEATURE_SETS["rich"]
    assert FEATURE_CATALOGUE[: len(simple)] == simple and FEATURE_CATALOGUE[: len(rich)] == rich
    assert all(FEATURES[n].formula for n in FEATURE_CATALOGUE)
    assert (feature_warmup("simple"), feature_warmup("rich"), feature_warmup("full")) == (43, 78, 273)


def test_frame_layout_and_ranges(prices: pd.DataFrame, feats: pd.DataFrame) -> None:
    assert list(feats.columns) == list(FEATURE_CATALOGUE)
    assert len(feats) == len(prices)
    values = feats.to_numpy()
    finite = values[np.isfinite(values)]
    assert finite.min() >= -CLIP and finite.max() <= CLIP
    # after the warm-up nothing is missing, and the scaling keeps the bulk near unit spread
    warm = feats.xs("AAPL").loc["2008-01-01":]
    assert warm.notna().all().all()
    assert ((warm.std() > 0.2) & (warm.std() < 1.5)).all(), warm.std()
    # a ticker is cold for exactly its warm-up rows
    v = feats.xs("V")
    assert v["ret_252d"].first_valid_index() == v.index[252] and v["ret_1d"].first_valid_index() == v.index[1]


def test_returns_and_moving_averages(prices: pd.DataFrame, feats: pd.DataFrame) -> None:
    adj = _series(prices, "AAPL")["adj_close"]
    i = adj.index.get_loc(DAY)
    f = feats.loc[("AAPL", DAY)]
    for k in (1, 5, 21, 63, 252):
        assert f[f"ret_{k}d"] == pytest.approx(min(CLIP, max(-CLIP, math.log(adj.iloc[i] / adj.iloc[i - k]) / (0.02 * math.sqrt(k)))))
    assert f["sma20_ratio"] == pytest.approx((adj.iloc[i] / (sum(adj.iloc[i - 19 : i + 1]) / 20) - 1) / 0.05)
    assert f["sma50_ratio"] == pytest.approx((adj.iloc[i] / (sum(adj.iloc[i - 49 : i + 1]) / 50) - 1) / 0.1)


def _wilder_rsi(adj: np.ndarray, end: int) -> float:
    up = [max(adj[j] - adj[j - 1], 0.0) for j in range(1, len(adj))]
    down = [max(adj[j - 1] - adj[j], 0.0) for j in range(1, len(adj))]
    g, lo = sum(up[:14]) / 14, sum(down[:14]) / 14  # Wilder's seed: the plain mean of the first 14 moves (rows 1..14)
    for j in range(14, end):
        g = (13 * g + up[j]) / 14
        lo = (13 * lo + down[j]) / 14
    return 100 - 100 / (1 + g / lo)


def test_rsi_matches_wilder_loop(prices: pd.DataFrame, feats: pd.DataFrame) -> None:
    mmm = _series(prices, "MMM")
    rsi = _wilder_rsi(mmm["adj_close"].to_numpy(), mmm.index.get_loc(DAY))
    assert feats.loc[("MMM", DAY), "rsi_14"] == pytest.approx((rsi - 50) / 20, rel=1e-9)
    # right after listing, where the seed still matters (raw: no warm-up mask)
    v = _series(prices, "V")
    raw = compute_features(prices, ["rsi_14"], raw=True).set_index(["ticker", "date"])
    for row in (14, 20):
        expected = (_wilder_rsi(v["adj_close"].to_numpy(), row) - 50) / 20
        assert raw.loc[("V", v.index[row]), "rsi_14"] == pytest.approx(expected, rel=1e-9)
    assert np.isnan(raw.loc[("V", v.index[13]), "rsi_14"])


def test_atr_matches_loop(prices: pd.DataFrame, feats: pd.DataFrame) -> None:
    def atr_feature(s: pd.DataFrame, end: int) -> float:
        h, lo, c = s["high"].to_numpy(), s["low"].to_numpy(), s["close"].to_numpy()
        tr = [h[0] - lo[0]] + [max(h[j] - lo[j], abs(h[j] - c[j - 1]), abs(lo[j] - c[j - 1])) for j in range(1, len(c))]
        atr = sum(tr[:14]) / 14
        for j in range(14, end + 1):
            atr = (13 * atr + tr[j]) / 14
        return math.log(atr / c[end] / 0.02)

    mmm = _series(prices, "MMM")
    assert feats.loc[("MMM", DAY), "atr_14"] == pytest.approx(atr_feature(mmm, mmm.index.get_loc(DAY)), rel=1e-9)
    v = _series(prices, "V")
    raw = compute_features(prices, ["atr_14"], raw=True).set_index(["ticker", "date"])
    assert raw.loc[("V", v.index[20]), "atr_14"] == pytest.approx(atr_feature(v, 20), rel=1e-9)


def test_macd_bollinger_vol_volume_range(prices: pd.DataFrame, feats: pd.DataFrame) -> None:
    s = _series(prices, "AAPL")
    adj, end = s["adj_close"].to_numpy(), s.index.get_loc(DAY)
    e12 = e26 = adj[0]
    macd = []
    for j in range(end + 1):
        e12 = adj[j] * 2 / 13 + e12 * 11 / 13
        e26 = adj[j] * 2 / 27 + e26 * 25 / 27
        macd.append((e12 - e26) / adj[j])
    sig = macd[0]
    for m in macd[1:]:
        sig = m * 2 / 10 + sig * 8 / 10
    f = feats.loc[("AAPL", DAY)]
    assert f["macd"] == pytest.approx(macd[-1] / 0.02, rel=1e-9)
    assert f["macd_hist"] == pytest.approx((macd[-1] - sig) / 0.01, rel=1e-9)

    win = adj[end - 19 : end + 1]
    mean = win.sum() / 20
    sd = math.sqrt(sum((x - mean) ** 2 for x in win) / 20)
    assert f["bb_pctb"] == pytest.approx((adj[end] - mean) / (2 * sd))

    r = [math.log(adj[j] / adj[j - 1]) for j in range(end - 20, end + 1)]
    rm = sum(r) / 21
    vol = math.sqrt(sum((x - rm) ** 2 for x in r) / 20) * math.sqrt(252)
    assert f["vol_21d"] == pytest.approx(math.log(vol / 0.25))

    v = [math.log1p(x) for x in s["volume"].to_numpy()[end - 20 : end + 1]]
    vm = sum(v) / 21
    vs = math.sqrt(sum((x - vm) ** 2 for x in v) / 20)
    assert f["volume_z21"] == pytest.approx((v[-1] - vm) / vs)

    hi, lo = s["high"].to_numpy()[end - 20 : end + 1].max(), s["low"].to_numpy()[end - 20 : end + 1].min()
    assert f["range_pos_21d"] == pytest.approx(2 * (s["close"].to_numpy()[end] - lo) / (hi - lo) - 1)


def test_benchmark_features_are_spy_for_every_ticker(prices: pd.DataFrame, feats: pd.DataFrame) -> None:
    spy = _series(prices, "SPY")["adj_close"]
    i = spy.index.get_loc(DAY)
    expected = (spy.iloc[i] / spy.iloc[i - 199 : i + 1].mean() - 1) / 0.1
    for t in ("AAPL", "MMM", "V", "SPY"):
        assert feats.loc[(t, DAY), "spy_sma200"] == pytest.approx(expected)
    assert feats.loc[("V", DAY), "spy_vol_regime"] == feats.loc[("SPY", DAY), "spy_vol_regime"]
    with pytest.raises(DataError, match="need the benchmark 'SPY'"):
        compute_features(prices[prices["ticker"] != "SPY"], "full")
    assert list(compute_features(prices[prices["ticker"] != "SPY"], "rich").columns[2:]) == list(FEATURE_SETS["rich"])


def test_features_are_causal(prices: pd.DataFrame) -> None:
    """Replace every bar after t with garbage: every feature on dates <= t stays bit-identical."""
    t = pd.Timestamp("2015-06-30")
    rng = np.random.default_rng(0)
    later = prices["date"] > t
    garbage = prices.copy()
    noise = np.exp(rng.normal(0, 0.3, later.sum()))
    for col in ("open", "high", "low", "close", "adj_close"):
        garbage.loc[later, col] *= noise  # one factor per row keeps every bar OHLC-consistent
    garbage.loc[later, "volume"] = rng.integers(1, 10**9, later.sum()).astype(float)
    a = compute_features(prices, "full", raw=True)
    b = compute_features(garbage, "full", raw=True)
    early = (a["date"] <= t).to_numpy()
    for name in FEATURE_CATALOGUE:
        assert np.array_equal(a.loc[early, name].to_numpy(), b.loc[early, name].to_numpy(), equal_nan=True), name
        assert not np.array_equal(a.loc[~early, name].to_numpy(), b.loc[~early, name].to_numpy(), equal_nan=True), name


def test_future_rescaling_does_not_change_the_past(prices: pd.DataFrame) -> None:
    """A later split or dividend re-bases all earlier prices by one factor; features are ratios, so they do not move."""
    scaled = prices.copy()
    scaled[["open", "high", "low", "close"]] *= 0.25
    scaled["adj_close"] *= 0.97
    scaled["volume"] *= 4
    a = compute_features(prices, "full").drop(columns=["date", "ticker"]).to_numpy()
    b = compute_features(scaled, "full").drop(columns=["date", "ticker"]).to_numpy()
    np.testing.assert_allclose(a, b, rtol=1e-6, atol=1e-6)


def test_whole_bundle_is_fast() -> None:
    every = load_prices(BundledSource().available(), cutoff="2024-09-13")
    t0 = time.perf_counter()
    out = compute_features(every, "full")
    assert out.shape == (149_284, 2 + len(FEATURE_CATALOGUE))
    assert time.perf_counter() - t0 < 5.0  # about 0.3 s here; generous for a loaded CI box


def test_unknown_set() -> None:
    with pytest.raises(DataError, match="unknown feature set 'fancy'"):
        feature_warmup("fancy")
