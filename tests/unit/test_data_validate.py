"""validate_prices on corrupted copies of the real bundled prices: each check, its message, each repair."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from autotest_lib.data import BundledSource, RepairOptions, load_prices, validate_prices
from autotest_lib.errors import DataError


@pytest.fixture(scope="module")
def real() -> pd.DataFrame:
    return load_prices(["AAPL", "MSFT", "SPY"], start="2020-01-01", cutoff="2020-07-01")


def _rows(df: pd.DataFrame, ticker: str, dates: list[str]) -> pd.Index:
    return df.index[(df["ticker"] == ticker) & df["date"].isin(pd.to_datetime(dates))]


def test_real_data_passes_unchanged(real: pd.DataFrame) -> None:
    out = validate_prices(real)
    pd.testing.assert_frame_equal(out, real)


def test_duplicates_named_with_dates_and_fix(real: pd.DataFrame) -> None:
    days = ["2020-03-16", "2020-03-17", "2020-03-18", "2020-04-01"]
    dup = real.loc[_rows(real, "AAPL", days)].copy()
    dup["close"] *= 1.01  # a second, different copy of the same bars
    bad = pd.concat([real, dup], ignore_index=True)
    with pytest.raises(DataError) as err:
        validate_prices(bad)
    msg = str(err.value)
    assert "AAPL has 4 duplicate dates (2020-03-16 2020-03-17 2020-03-18 ...)" in msg
    assert "RepairOptions(dedupe=True)" in msg and "MSFT" not in msg
    fixed = validate_prices(bad, RepairOptions(dedupe=True))
    assert len(fixed) == len(real)
    kept = fixed.loc[_rows(fixed, "AAPL", days), "close"].to_numpy()
    np.testing.assert_allclose(kept, dup["close"].to_numpy())  # the last copy wins


@pytest.mark.parametrize(("column", "value"), [("close", 0.0), ("adj_close", np.nan), ("close", -3.0), ("low", np.nan)])
def test_missing_or_non_positive_prices(real: pd.DataFrame, column: str, value: float) -> None:
    bad = real.copy()
    bad.loc[_rows(bad, "MSFT", ["2020-02-03", "2020-02-04"]), column] = value
    with pytest.raises(
        DataError, match=r"MSFT has 2 rows with a missing or non-positive high/low/close/adj_close \(2020-02-03 2020-02-04\)"
    ):
        validate_prices(bad, RepairOptions(dedupe=True, ffill_limit=5))  # no repair covers it


def test_negative_volume(real: pd.DataFrame) -> None:
    bad = real.copy()
    bad.loc[_rows(bad, "SPY", ["2020-05-05"]), "volume"] = -1.0
    with pytest.raises(DataError, match=r"SPY has 1 rows with a missing or negative volume \(2020-05-05\)"):
        validate_prices(bad)


def test_ohlc_inconsistency(real: pd.DataFrame) -> None:
    bad = real.copy()
    i = _rows(bad, "AAPL", ["2020-06-10"])
    bad.loc[i, "high"] = bad.loc[i, "close"] * 0.99  # high below close
    j = _rows(bad, "AAPL", ["2020-06-11"])
    bad.loc[j, "low"] = bad.loc[j, "high"] * 1.01  # low above high
    with pytest.raises(DataError, match=r"AAPL has 2 bars where high < max\(open, close, low\).*\(2020-06-10 2020-06-11\)"):
        validate_prices(bad)


def test_ohlc_tolerance_and_missing_open_allowed(real: pd.DataFrame) -> None:
    bad = real.copy()
    i = _rows(bad, "AAPL", ["2020-06-10"])
    bad.loc[i, "high"] = bad.loc[i, ["open", "close"]].max(axis=1) * (1 - 1e-8)  # 8-digit rounding noise
    bad.loc[_rows(bad, "MSFT", ["2020-01-02", "2020-01-03"]), "open"] = np.nan  # Yahoo's "no open recorded"
    out = validate_prices(bad)
    assert out["open"].isna().sum() == 2


def test_gaps_against_union_calendar(real: pd.DataFrame) -> None:
    gone = ["2020-04-06", "2020-04-07", "2020-04-08", "2020-05-20"]
    bad = real.drop(_rows(real, "MSFT", gone)).reset_index(drop=True)
    with pytest.raises(DataError) as err:
        validate_prices(bad)
    msg = str(err.value)
    assert "MSFT is missing 4 trading days that other tickers have (2020-04-06 2020-04-07 2020-04-08 ...), longest run 3 days" in msg
    assert "RepairOptions(ffill_limit=N) (now 0)" in msg
    with pytest.raises(DataError, match="MSFT is missing 3 trading days"):  # the single day is filled, the run of 3 is not
        validate_prices(bad, RepairOptions(ffill_limit=2))


def test_ffill_repair_is_flat_and_forward_only(real: pd.DataFrame) -> None:
    gone = ["2020-04-06", "2020-04-07", "2020-05-20"]
    bad = real.drop(_rows(real, "MSFT", gone)).reset_index(drop=True)
    fixed = validate_prices(bad, RepairOptions(ffill_limit=2))
    assert len(fixed) == len(real)
    msft = fixed[fixed["ticker"] == "MSFT"].set_index("date")
    before = msft.loc["2020-04-03"]
    for day in ("2020-04-06", "2020-04-07"):
        row = msft.loc[day]
        assert row[["open", "high", "low", "close"]].tolist() == [before["close"]] * 4
        assert row["adj_close"] == before["adj_close"] and row["volume"] == 0.0
    assert msft.loc["2020-05-20", "close"] == msft.loc["2020-05-19", "close"]  # never the next day's value
    assert msft.loc["2020-04-08", "close"] == real.set_index(["ticker", "date"]).loc[("MSFT", pd.Timestamp("2020-04-08")), "close"]


def test_late_listing_is_not_a_gap() -> None:
    df = load_prices(["V", "KO"], start="2008-01-01", cutoff="2008-06-01")
    assert validate_prices(df)["ticker"].value_counts()["V"] < df["ticker"].value_counts()["KO"]


def test_stale_run(real: pd.DataFrame) -> None:
    bad = real.copy()
    days = pd.bdate_range("2020-02-03", "2020-02-10")  # 6 trading days
    i = _rows(bad, "SPY", [d.date().isoformat() for d in days])
    assert len(i) == 6
    bad.loc[i, ["open", "high", "low", "close"]] = bad.loc[i[0], "close"]
    with pytest.raises(DataError, match=r"SPY has 1 runs of the same close on more than 5 consecutive days \(reached on 2020-02-10\)"):
        validate_prices(bad)
    validate_prices(bad, RepairOptions(stale_limit=6))
    validate_prices(bad, RepairOptions(stale_limit=0))


def test_all_problems_reported_together(real: pd.DataFrame) -> None:
    bad = pd.concat([real, real.loc[_rows(real, "AAPL", ["2020-03-16"])]], ignore_index=True)
    bad.loc[_rows(bad, "SPY", ["2020-02-03"]), "close"] = np.nan
    with pytest.raises(DataError) as err:
        validate_prices(bad)
    lines = str(err.value).splitlines()
    assert lines[0] == "invalid prices:" and len(lines) == 3
    assert lines[1].startswith("AAPL has 1 duplicate dates (2020-03-16)") and lines[2].startswith("SPY has 1 rows")


def test_bad_options() -> None:
    with pytest.raises(DataError, match="must be >= 0"):
        RepairOptions(ffill_limit=-1)


# -- jumps and spikes: against the ticker's own history and the market that day ------------------------------

PRICES = ["open", "high", "low", "close", "adj_close"]


def test_real_history_has_no_jumps() -> None:
    every = load_prices(BundledSource().available(), cutoff="2024-09-13")  # 31 series, 2005-2024, incl. 2008 and 2020
    pd.testing.assert_frame_equal(validate_prices(every), every)


@pytest.mark.parametrize("tickers", [["AAPL", "MSFT", "SPY"], ["AAPL"]])
def test_1e12_spike_fails_with_a_clear_error(real: pd.DataFrame, tickers: list[str]) -> None:
    frame = real.loc[real["ticker"].isin(tickers)].reset_index(drop=True)
    row = _rows(frame, "AAPL", ["2020-03-16"])
    frame.loc[row, PRICES] = 1e12
    with pytest.raises(DataError) as err:
        validate_prices(frame)
    lines = str(err.value).splitlines()[1:]
    assert len(lines) == 1, lines
    assert lines[0].startswith(
        "AAPL has 1 one-day spikes in adj_close/close/open/high/low beyond 3x and 50 sigmas of its own history and the market "
        "(2020-03-16: adj_close 1e+12 after "
    )
    assert "RepairOptions(repair_spikes=True)" in lines[0]


def test_spike_repaired_on_request(real: pd.DataFrame, caplog: pytest.LogCaptureFixture) -> None:
    bad = real.copy()
    bad.loc[_rows(bad, "MSFT", ["2020-05-05"]), PRICES] *= 1e10
    bad.loc[_rows(bad, "AAPL", ["2020-06-30"]), ["close", "adj_close", "high"]] *= 1000  # the last bar: nothing reverts it
    with caplog.at_level("WARNING", logger="autotest_lib.data.validate"):
        fixed = validate_prices(bad, RepairOptions(repair_spikes=True))
    assert "replaced 2 one-day price spikes with the previous bar" in caplog.text and "MSFT 2020-05-05" in caplog.text
    flat = fixed.loc[_rows(fixed, "MSFT", ["2020-05-05"])].iloc[0]
    before = real.loc[_rows(real, "MSFT", ["2020-05-04"])].iloc[0]
    assert (flat[["open", "high", "low", "close"]] == before["close"]).all() and flat["adj_close"] == before["adj_close"]
    assert flat["volume"] == real.loc[_rows(real, "MSFT", ["2020-05-05"]), "volume"].iloc[0]
    untouched = ~fixed.index.isin([*_rows(fixed, "MSFT", ["2020-05-05"]), *_rows(fixed, "AAPL", ["2020-06-30"])])
    pd.testing.assert_frame_equal(fixed.loc[untouched], real.loc[untouched])


def test_level_shift_is_not_a_spike(real: pd.DataFrame) -> None:
    bad = real.copy()
    later = (bad["ticker"] == "AAPL") & (bad["date"] >= "2020-04-01")
    bad.loc[later, PRICES] *= 100  # a feed switching to cents
    for repair in (RepairOptions(), RepairOptions(repair_spikes=True)):
        with pytest.raises(DataError, match=r"AAPL has 1 jumps in adj_close/close/open/high/low beyond 3x .*\(2020-04-01: adj_close "):
            validate_prices(bad, repair)
    validate_prices(bad, RepairOptions(jump_limit=0))  # the check can be switched off
    with pytest.raises(DataError, match="jump_limit must be 0"):
        RepairOptions(jump_limit=0.5)
