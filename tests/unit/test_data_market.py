"""MarketData from the real bundled prices: shapes, masks for late listings, timing, slicing, causality."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from autotest_lib.data import FEATURE_CATALOGUE, FEATURE_SETS, MarketData, build_market, load_market, load_prices
from autotest_lib.errors import DataError


@pytest.fixture(scope="module")
def market() -> MarketData:
    return load_market(["MSFT", "V", "AAPL"], start="2007-06-01", cutoff="2010-01-01", feature_set="rich")


def test_shapes_dtypes_and_order(market: MarketData) -> None:
    T, N, F = market.n_dates, 3, len(FEATURE_CATALOGUE)
    assert market.tickers == ("MSFT", "V", "AAPL")  # the order asked for
    assert market.dates.dtype == np.dtype("datetime64[D]")
    assert market.dates[0] == np.datetime64("2007-06-01") and market.dates[-1] == np.datetime64("2009-12-31")
    assert market.returns.shape == (T, N) and market.returns.dtype == np.float64
    assert market.close.shape == (T, N) and market.features.shape == (T, N, F) and market.features.dtype == np.float32
    assert market.tradable.dtype == np.bool_ and market.benchmark_returns.shape == (T,)
    assert market.benchmark == "SPY" and market.feature_set == "rich"
    assert not np.isnan(market.features).any() and not np.isnan(market.returns).any()
    assert not market.features.flags.writeable


def test_late_listing_masks(market: MarketData) -> None:
    v = market.ticker_index("V")
    listed = market.index_of("2008-03-19")
    assert np.isnan(market.close[:listed, v]).all() and not np.isnan(market.close[listed:, v]).any()
    assert not market.tradable[:listed, v].any()
    assert (market.features[:listed, v] == 0).all() and (market.returns[:listed, v] == 0).all()
    # tradable once priced on t and t-1 and every rich feature has its 78 rows of history
    first = int(np.argmax(market.tradable[:, v]))
    assert first == listed + 77 and market.tradable[first:, v].all()
    # the others are warm from the very first day thanks to the history loaded before `start`
    assert market.tradable[:, [0, 2]].all()


def test_slots_outside_the_set_are_zero(market: MarketData) -> None:
    rich = market.feature_mask
    assert rich.sum() == len(FEATURE_SETS["rich"]) and rich[: len(FEATURE_SETS["rich"])].all()
    assert (market.features[:, :, ~rich] == 0).all()
    assert (np.abs(market.features[market.tradable][:, rich]).sum(axis=0) > 0).all()


def test_returns_and_benchmark_match_prices(market: MarketData) -> None:
    px = load_prices(["AAPL", "SPY"], start="2007-05-01", cutoff="2010-01-01").pivot(index="date", columns="ticker", values="adj_close")
    simple = px.pct_change().loc["2007-06-01":]
    np.testing.assert_allclose(market.returns[:, market.ticker_index("AAPL")], simple["AAPL"].to_numpy(), rtol=1e-12)
    np.testing.assert_allclose(market.benchmark_returns, simple["SPY"].to_numpy(), rtol=1e-12)
    i = market.index_of("2008-10-13")  # SPY's +14.5% day
    assert market.benchmark_returns[i] == pytest.approx(0.145, abs=0.002)
    assert "SPY" not in market.tickers  # the benchmark is loaded without being traded


def test_slice_and_index_of(market: MarketData) -> None:
    part = market.slice("2008-01-01", "2008-02-01")
    assert part.dates[0] == np.datetime64("2008-01-02") and part.dates[-1] == np.datetime64("2008-01-31")
    i = market.index_of("2008-01-02")
    np.testing.assert_array_equal(part.features, market.features[i : i + part.n_dates])
    np.testing.assert_array_equal(part.benchmark_returns, market.benchmark_returns[i : i + part.n_dates])
    assert market.index_of("2008-01-01") == i  # a holiday maps to the next trading day
    assert market.index_of("2030-01-01") == market.n_dates
    assert market.slice("2008-02-01", "2008-01-01").n_dates == 0
    assert market.slice(None, "2007-06-02").n_dates == 1
    with pytest.raises(DataError, match="'IBM' is not in this market"):
        market.ticker_index("IBM")


def test_cutoff_and_market_causality() -> None:
    """Corrupt every bar after t: MarketData on dates <= t is bit-identical; the cutoff hides t + 1 onwards."""
    t = pd.Timestamp("2019-06-28")
    prices = load_prices(["AAPL", "DOW", "JPM", "SPY"], start="2018-01-01", cutoff="2020-06-01")
    rng = np.random.default_rng(1)
    later = prices["date"] > t
    garbage = prices.copy()
    noise = np.exp(rng.normal(0, 0.5, later.sum()))
    for col in ("open", "high", "low", "close", "adj_close"):
        garbage.loc[later, col] *= noise
    a = build_market(prices, tickers=["AAPL", "DOW", "JPM"], feature_set="full")
    b = build_market(garbage, tickers=["AAPL", "DOW", "JPM"], feature_set="full")
    k = a.index_of(t) + 1
    for field in ("features", "returns", "close", "tradable", "benchmark_returns"):
        x, y = getattr(a, field), getattr(b, field)
        assert np.array_equal(x[:k], y[:k], equal_nan=field == "close"), field
        if field != "tradable":  # garbage prices are still valid prices, so tradability does not change
            assert not np.array_equal(x[k:], y[k:], equal_nan=field == "close"), field
    cut = load_market(["AAPL"], start="2019-01-02", cutoff=t, feature_set="simple")
    assert cut.dates[-1] == np.datetime64("2019-06-27")


def test_full_set_and_start_none() -> None:
    m = load_market("DOW", cutoff="2020-06-01", feature_set="full")
    assert m.dates[0] == np.datetime64("2005-01-03")  # the benchmark's calendar
    dow = m.tradable[:, 0]
    assert m.dates[np.argmax(dow)] > np.datetime64("2020-03-01")  # listing 2019-03-20 + 273 rows of warm-up
    assert (m.features[dow, 0, FEATURE_CATALOGUE.index("spy_vol_regime")] != 0).all()


def test_errors() -> None:
    with pytest.raises(DataError, match=r"unknown ticker\(s\) \['ZZZ'\].*available: AAPL"):
        load_market(["AAPL", "ZZZ"], cutoff="2020-01-01")
    with pytest.raises(DataError, match="unknown feature set"):
        build_market(load_prices(["AAPL", "SPY"], start="2019-01-01", cutoff="2019-03-01"), feature_set="huge")  # type: ignore[arg-type]
    with pytest.raises(DataError, match="benchmark 'SPY' has no rows"):
        build_market(load_prices(["AAPL"], start="2019-01-01", cutoff="2019-03-01"))
