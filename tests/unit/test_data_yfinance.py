"""YFinanceSource against recorded yfinance responses (real bundled prices in yfinance's layout); never the network."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest

from autotest_lib.data import YFinanceSource, get_source, load_prices, normalise_prices, normalise_yfinance
from autotest_lib.errors import DataError, PermanentDataError, TransientDataError, is_permanent

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures" / "yfinance"
TICKERS = ["AAPL", "MSFT", "V"]


def recorded(group_by: str = "column") -> pd.DataFrame:
    return pd.read_csv(FIXTURES / f"download_group_by_{group_by}.csv", header=[0, 1], index_col=0, parse_dates=True)


def bundled(start: str = "2024-06-03", cutoff: str = "2024-09-13", tickers: list[str] = TICKERS) -> pd.DataFrame:
    return load_prices(tickers, start=start, cutoff=cutoff)


def same(a: pd.DataFrame, b: pd.DataFrame) -> None:
    a, b = normalise_prices(a), normalise_prices(b)
    pd.testing.assert_frame_equal(a.astype({"ticker": object}), b.astype({"ticker": object}), rtol=1e-12)


class FakeYahoo:
    """Stands in for ``yfinance.download``: serves the recorded frame, records every call, fails on demand.

    :param fail: how the first ``n_fail`` calls fail: ``"empty"`` (yfinance offline) or ``"raise"``.
    :param drop: tickers left out of the first answer (yfinance's partial failure).
    :param factor: multiply OHLC by it and volume by its inverse (Yahoo re-basing history after a split).
    """

    def __init__(self, group_by: str = "column", n_fail: int = 0, fail: str = "empty", drop: tuple[str, ...] = (), factor: float = 1.0):
        self.frame = recorded(group_by)
        self.group_by, self.n_fail, self.fail, self.drop, self.factor = group_by, n_fail, fail, drop, factor
        self.calls: list[dict[str, Any]] = []

    def __call__(self, tickers: list[str], start: str, end: str, **kwargs: Any) -> pd.DataFrame:
        self.calls.append({"tickers": tuple(tickers), "start": start, "end": end, **kwargs})
        if len(self.calls) <= self.n_fail:
            if self.fail == "raise":
                raise ConnectionError("Failed to perform, curl: (6) Could not resolve host: query2.finance.yahoo.com")
            return pd.DataFrame()
        keep = [t for t in tickers if not (len(self.calls) == self.n_fail + 1 and t in self.drop)]
        frame = self.frame.loc[(self.frame.index >= start) & (self.frame.index < end)].copy()
        level = 0 if self.group_by == "ticker" else 1
        frame = frame.loc[:, frame.columns.get_level_values(level).isin(keep)]
        price = frame.columns.get_level_values(1 - level)
        frame.loc[:, price.isin(["Open", "High", "Low", "Close"])] *= self.factor
        frame.loc[:, price == "Volume"] /= self.factor
        return frame

    def ranges(self) -> list[tuple[tuple[str, ...], str, str]]:
        return [(c["tickers"], c["start"], c["end"]) for c in self.calls]


@pytest.mark.parametrize("group_by", ["column", "ticker"])
def test_normalise_recorded_layouts(group_by: str) -> None:
    same(normalise_yfinance(recorded(group_by), TICKERS), bundled())


def test_normalise_single_ticker_flat_columns() -> None:
    flat = recorded("ticker")["MSFT"]  # multi_level_index=False for one ticker
    same(normalise_yfinance(flat, ["MSFT"]), bundled(tickers=["MSFT"]))
    with pytest.raises(DataError, match="auto_adjust=False"):
        normalise_yfinance(flat.drop(columns=["Adj Close"]), ["MSFT"])


def test_first_fetch_downloads_once_and_caches(tmp_path: Path) -> None:
    fake = FakeYahoo()
    src = YFinanceSource(tmp_path, download=fake, sleep=lambda s: None)
    same(src.fetch(TICKERS, "2024-06-03", "2024-09-13"), bundled())
    assert fake.ranges() == [(tuple(TICKERS), "2024-06-03", "2024-09-13")]
    assert fake.calls[0]["auto_adjust"] is False and fake.calls[0]["progress"] is False
    assert sorted(p.name for p in tmp_path.glob("*.parquet")) == ["AAPL.parquet", "MSFT.parquet", "V.parquet"]
    # the same request again is served from the cache
    same(YFinanceSource(tmp_path, download=fake).fetch(TICKERS, "2024-07-01", "2024-09-13"), bundled(start="2024-07-01"))
    assert len(fake.calls) == 1


def test_incremental_fetch_asks_only_for_new_dates(tmp_path: Path) -> None:
    fake = FakeYahoo()
    src = YFinanceSource(tmp_path, download=fake, sleep=lambda s: None)
    src.fetch(TICKERS, "2024-06-03", "2024-08-01")  # cached up to Wednesday 2024-07-31
    same(src.fetch(TICKERS, "2024-06-03", "2024-09-13"), bundled())
    # only the dates after the cached last day, plus that day again to check for re-basing
    assert fake.ranges()[1] == (tuple(TICKERS), "2024-07-31", "2024-09-13")
    src.fetch(TICKERS, "2024-06-03", "2024-09-14")  # Saturday: Friday 09-13 is not in the recording yet
    assert fake.ranges()[2] == (tuple(TICKERS), "2024-09-12", "2024-09-14")
    src.fetch(TICKERS, "2024-06-03", "2024-09-13")
    assert len(fake.calls) == 3
    src.fetch(["AAPL"], "2024-05-01", "2024-09-13")  # an earlier start fetches the earlier days once
    assert fake.ranges()[3] == (("AAPL",), "2024-05-01", "2024-06-04")
    src.fetch(["AAPL"], "2024-05-01", "2024-09-13")
    assert len(fake.calls) == 4


def test_cache_rebased_when_yahoo_rewrites_history(tmp_path: Path) -> None:
    YFinanceSource(tmp_path, download=FakeYahoo()).fetch(["AAPL"], "2024-06-03", "2024-08-01")
    split = FakeYahoo(factor=0.5)  # a 2:1 split after the first session: Yahoo halves all earlier prices
    out = YFinanceSource(tmp_path, download=split).fetch(["AAPL"], "2024-06-03", "2024-09-13")
    ref = bundled(tickers=["AAPL"])
    np.testing.assert_allclose(out["close"], ref["close"] * 0.5, rtol=1e-12)
    np.testing.assert_allclose(out["volume"], ref["volume"] * 2, rtol=1e-12)
    np.testing.assert_allclose(out["adj_close"], ref["adj_close"], rtol=1e-12)


def test_retries_with_exponential_backoff(tmp_path: Path) -> None:
    fake, slept = FakeYahoo(n_fail=2), []
    src = YFinanceSource(tmp_path, retries=3, backoff_s=1.5, download=fake, sleep=slept.append)
    same(src.fetch(["AAPL", "MSFT"], "2024-06-03", "2024-09-13"), bundled(tickers=["AAPL", "MSFT"]))
    assert len(fake.calls) == 3 and slept == [1.5, 3.0]


@pytest.mark.parametrize("fail", ["empty", "raise"])
def test_empty_after_all_retries_is_transient(tmp_path: Path, fail: str) -> None:
    fake, slept = FakeYahoo(n_fail=99, fail=fail), []
    src = YFinanceSource(tmp_path, retries=3, backoff_s=2.0, download=fake, sleep=slept.append)
    with pytest.raises(TransientDataError) as err:
        src.fetch(["AAPL", "MSFT"], "2024-06-03", "2024-09-13")
    msg = str(err.value)
    assert "yfinance returned no rows for ['AAPL', 'MSFT'] between 2024-06-03 and 2024-09-13 after 4 attempts" in msg
    assert ("empty frame" if fail == "empty" else "ConnectionError") in msg and "source='bundled'" in msg
    assert len(fake.calls) == 4 and slept == [2.0, 4.0, 8.0]
    assert not list(tmp_path.glob("*.parquet"))  # nothing half-written
    assert not is_permanent(err.value)  # the DAG may retry: Yahoo or the network was down


def test_unknown_ticker_is_permanent(tmp_path: Path) -> None:
    fake, slept = FakeYahoo(), []
    src = YFinanceSource(tmp_path, retries=2, backoff_s=1.0, download=fake, sleep=slept.append)
    with pytest.raises(PermanentDataError) as err:
        load_prices(["AAPL", "ZZZZ"], start="2024-06-03", cutoff="2024-09-13", source=src)
    msg = str(err.value)
    assert "\n" not in msg and "yfinance returned no rows for ['ZZZZ']" in msg and "while it answered for ['AAPL']" in msg
    assert "unknown or delisted symbols" in msg and is_permanent(err.value)
    assert [c["tickers"] for c in fake.calls] == [("AAPL", "ZZZZ"), ("ZZZZ",), ("ZZZZ",)] and slept == [1.0, 2.0]
    assert not list(tmp_path.glob("*.parquet"))  # nothing written for a failed load


def test_freshness_against_the_nyse_calendar(tmp_path: Path) -> None:
    """The recording ends Thursday 2024-09-12; a week needs the last NYSE session before its cutoff."""
    src = YFinanceSource(tmp_path, download=FakeYahoo(), sleep=lambda s: None)
    # cutoff Friday 09-13: the last session before it, Thursday 09-12, is there
    same(load_prices(TICKERS, start="2024-06-03", cutoff="2024-09-13", source=src, fresh=True), bundled())
    # cutoff Monday 09-16: Friday 09-13 is missing for every ticker (Yahoo answered with nothing newer)
    with pytest.raises(PermanentDataError) as err:
        load_prices(["AAPL", "V"], start="2024-06-03", cutoff="2024-09-16", source=src, fresh=True)
    assert str(err.value) == (
        "source 'yfinance' is stale: AAPL (last bar 2024-09-12), V (last bar 2024-09-12) missing the XNYS session "
        "2024-09-13 (the last before cutoff 2024-09-16); update the source, or run an earlier week"
    )
    # Independence Day: a cache that ends Wednesday 2024-07-03 is fresh for a cutoff on Friday 07-05
    holiday = FakeYahoo()
    cached = YFinanceSource(tmp_path / "h", download=holiday, sleep=lambda s: None)
    cached.fetch(TICKERS, "2024-06-03", "2024-07-04")
    out = load_prices(TICKERS, start="2024-06-03", cutoff="2024-07-05", source=cached, fresh=True)
    assert out["date"].max() == pd.Timestamp("2024-07-03") and len(holiday.calls) == 1  # no download for the holiday
    cached.fetch(TICKERS, "2024-06-03", "2024-07-06")  # Friday 07-05 is a session: asked for once
    assert holiday.ranges()[1] == (tuple(TICKERS), "2024-07-03", "2024-07-06")


def test_partial_answer_retries_only_the_missing_ticker(tmp_path: Path) -> None:
    fake, slept = FakeYahoo(drop=("V",)), []
    src = YFinanceSource(tmp_path, download=fake, sleep=slept.append, backoff_s=0.5)
    same(src.fetch(TICKERS, "2024-06-03", "2024-09-13"), bundled())
    assert [c["tickers"] for c in fake.calls] == [tuple(TICKERS), ("V",)] and slept == [0.5]


def test_load_prices_through_yfinance_enforces_cutoff(tmp_path: Path) -> None:
    src = get_source("yfinance", cache_dir=tmp_path, download=FakeYahoo(group_by="ticker"), sleep=lambda s: None)
    assert isinstance(src, YFinanceSource)
    df = load_prices(TICKERS, start="2024-07-01", cutoff="2024-08-01", source=src)
    same(df, bundled(start="2024-07-01", cutoff="2024-08-01"))
    assert df["date"].max() < pd.Timestamp("2024-08-01")
    with pytest.raises(DataError, match="unknown price source 'stooq'"):
        get_source("stooq")
