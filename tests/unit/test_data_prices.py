"""Loading the bundled real prices: layout, dtypes, point-in-time cutoff, ticker errors."""

from __future__ import annotations

import datetime as dt

import numpy as np
import pandas as pd
import pytest

from autotest_lib.data import COLUMNS, BundledSource, as_day, bundled_path, load_prices, normalise_prices
from autotest_lib.errors import DataError


def test_bundled_file_is_the_documented_slice() -> None:
    src = BundledSource()
    assert bundled_path().is_file()
    assert len(src.available()) == 31 and "SPY" in src.available() and "DOW" in src.available()
    every = src.fetch(src.available(), None, "2100-01-01")
    assert len(every) == 149_284
    assert every["date"].min() == pd.Timestamp("2005-01-03") and every["date"].max() == pd.Timestamp("2024-09-12")
    firsts = every.groupby("ticker")["date"].min()
    assert firsts["V"] == pd.Timestamp("2008-03-19") and firsts["DOW"] == pd.Timestamp("2019-03-20")


def test_load_prices_layout_and_dtypes() -> None:
    df = load_prices(["MSFT", "AAPL"], start="2020-08-01", cutoff="2020-09-01")
    assert tuple(df.columns) == COLUMNS
    assert df["date"].dtype == np.dtype("datetime64[ns]")
    assert (df["date"] == df["date"].dt.normalize()).all()
    for col in ("open", "high", "low", "close", "adj_close", "volume"):
        assert df[col].dtype == np.float64, col
    assert df["ticker"].tolist() == sorted(df["ticker"].tolist())  # sorted by (ticker, date)
    assert df.groupby("ticker")["date"].apply(lambda s: s.is_monotonic_increasing).all()
    # spot values from the data README
    row = df[(df["ticker"] == "AAPL") & (df["date"] == "2020-08-31")].iloc[0]
    assert row["close"] == pytest.approx(129.04) and row["adj_close"] == pytest.approx(126.10, abs=0.01)


@pytest.mark.parametrize(
    "cutoff", ["2020-03-23", dt.date(2020, 3, 23), pd.Timestamp("2020-03-23 16:30"), dt.datetime(2020, 3, 23, tzinfo=dt.UTC)]
)
def test_cutoff_is_exclusive(cutoff: object) -> None:
    df = load_prices("SPY", start="2020-03-01", cutoff=cutoff)
    assert df["date"].max() == pd.Timestamp("2020-03-20")  # 23rd is a Monday: the bar of the cutoff day is excluded
    df2 = load_prices("SPY", start="2020-03-01", cutoff="2020-03-24")
    assert df2["date"].max() == pd.Timestamp("2020-03-23")
    assert df2.iloc[-1]["close"] == pytest.approx(222.95)


def test_start_is_inclusive_and_late_listing_starts_at_listing() -> None:
    df = load_prices(["V", "KO"], start="2008-03-19", cutoff="2008-04-01")
    assert df.groupby("ticker")["date"].min().tolist() == [pd.Timestamp("2008-03-19")] * 2
    early = load_prices(["V", "KO"], start="2008-01-01", cutoff="2008-04-01")
    assert early.loc[early["ticker"] == "V", "date"].min() == pd.Timestamp("2008-03-19")


def test_unknown_ticker_lists_available() -> None:
    with pytest.raises(DataError, match=r"unknown ticker\(s\) \['TSLA'\].*available: AAPL AMGN .* WMT"):
        load_prices(["AAPL", "tsla"], cutoff="2020-01-01")


def test_empty_window_and_not_yet_listed_are_errors() -> None:
    with pytest.raises(DataError, match="not before cutoff"):
        load_prices("AAPL", start="2020-01-01", cutoff="2020-01-01")
    with pytest.raises(DataError, match=r"no prices for \['DOW'\]"):
        load_prices(["AAPL", "DOW"], start="2010-01-01", cutoff="2011-01-01")


def test_normalise_prices_renames_and_blanks_zero_open() -> None:
    raw = pd.DataFrame(
        {
            "Date": ["2020-01-03", "2020-01-02"],
            "Ticker": ["aapl", "aapl"],
            "Open": [0.0, 74.06],
            "High": [75.14, 75.15],
            "Low": [74.13, 73.80],
            "Close": [74.36, 75.09],
            "Adj Close": [72.2, 72.9],
            "Volume": [146322800, 135480400],
            "Extra": [1, 2],
        }
    )
    df = normalise_prices(raw)
    assert tuple(df.columns) == COLUMNS
    assert df["ticker"].tolist() == ["AAPL", "AAPL"]
    assert df["date"].tolist() == [pd.Timestamp("2020-01-02"), pd.Timestamp("2020-01-03")]
    assert np.isnan(df["open"].iloc[1]) and df["open"].iloc[0] == 74.06
    with pytest.raises(DataError, match=r"lacks columns \['adj_close'\]"):
        normalise_prices(raw.drop(columns=["Adj Close"]))


def test_as_day_keeps_wall_clock_date() -> None:
    assert as_day("2024-09-13T00:00:00+00:00") == pd.Timestamp("2024-09-13")
    assert as_day(np.datetime64("2024-09-13T23:59")) == pd.Timestamp("2024-09-13")
    with pytest.raises(DataError, match="not a date"):
        as_day("next tuesday")
