"""The files source on real prices in two user formats (per-ticker vendor CSVs, one long Parquet file), and
its one-line errors on bad input. Fixtures: ``tests/fixtures/user_prices`` (see its make_fixtures.py)."""

from __future__ import annotations

import gzip
import json
import logging
import shutil
from pathlib import Path

import pandas as pd
import pytest

from autotest_lib.config import ConfigError, load_preset, source_spec
from autotest_lib.data import get_source, load_market, load_prices
from autotest_lib.errors import PermanentDataError

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures" / "user_prices"
TICKERS = ["AAPL", "MSFT", "KO", "SPY"]
VENDOR = {"date": "Date", "open": "Open", "high": "High", "low": "Low", "close": "Close", "adj_close": "Adj Close", "volume": "Volume"}
LONG = {"date": "Day", "ticker": "Symbol", "open": "O", "high": "H", "low": "L", "close": "C", "adj_close": "AdjC", "volume": "Vol"}


def vendor(path: Path | str = FIXTURES / "vendor_csv", **extra: object) -> str:
    return source_spec({"kind": "files", "path": str(path), "date_format": "%d/%m/%Y", "columns": VENDOR, **extra})


def long(path: Path | str = FIXTURES / "long.parquet", **extra: object) -> str:
    return source_spec({"kind": "files", "path": str(path), "columns": LONG, **extra})


def bundled(tickers: list[str] = TICKERS) -> pd.DataFrame:
    return load_prices(tickers, start="2024-01-02", cutoff="2024-09-13")


def test_long_parquet_gives_the_bundled_rows() -> None:
    got = load_prices(TICKERS, cutoff="2024-09-13", source=long(), fresh=True)
    pd.testing.assert_frame_equal(got, bundled())
    assert get_source(long()).name == "files"


def test_vendor_csv_folder_other_order_dates_gzip_and_no_adj_close(caplog: pytest.LogCaptureFixture) -> None:
    with caplog.at_level(logging.WARNING, logger="autotest_lib.data.files"):
        got = load_prices(TICKERS, start="2024-03-01", cutoff="2024-09-13", source=vendor(), fresh=True)
    want = bundled().query("date >= '2024-03-01'").reset_index(drop=True)
    ko = got["ticker"] == "KO"
    # every value as the vendor shipped it; KO has no adjusted close, so close stands in for it
    pd.testing.assert_frame_equal(got.drop(columns="adj_close"), want.drop(columns="adj_close"))
    pd.testing.assert_series_equal(got.loc[~ko, "adj_close"], want.loc[~ko, "adj_close"])
    assert (got.loc[ko, "adj_close"] == got.loc[ko, "close"]).all()
    warnings = [r.getMessage() for r in caplog.records if "no adjusted close" in r.getMessage()]
    assert len(warnings) == 1 and "KO.csv" in warnings[0] and "AAPL" not in warnings[0]


def test_cutoff_start_and_point_in_time() -> None:
    got = load_prices(["AAPL"], start="2024-06-03", cutoff="2024-07-05", source=vendor())
    assert got["date"].min() == pd.Timestamp("2024-06-03") and got["date"].max() == pd.Timestamp("2024-07-03")
    market = load_market(["AAPL", "KO"], cutoff="2024-09-13", start="2024-07-01", feature_set="simple", source=long())
    ref = load_market(["AAPL", "KO"], cutoff="2024-09-13", start="2024-07-01", feature_set="simple")
    assert (market.features == ref.features).all() and (market.returns == ref.returns).all()


def test_refuse_missing_adj_close() -> None:
    with pytest.raises(PermanentDataError, match=r"KO\.csv has no adjusted close column and missing_adj_close is 'refuse'"):
        load_prices(["AAPL", "KO"], cutoff="2024-09-13", source=vendor(missing_adj_close="refuse"))
    assert len(load_prices(["AAPL"], cutoff="2024-09-13", source=vendor(missing_adj_close="refuse"))) == 176


def test_single_ticker_file_without_ticker_column(tmp_path: Path) -> None:
    shutil.copy(FIXTURES / "vendor_csv" / "AAPL.csv", tmp_path / "AAPL.csv")
    got = load_prices(["AAPL"], cutoff="2024-09-13", source=vendor(tmp_path / "AAPL.csv"))
    pd.testing.assert_frame_equal(got, bundled(["AAPL"]))


def test_preset_and_deployment_choose_the_source(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    cfg = {"kind": "files", "path": str(FIXTURES / "long.parquet"), "columns": LONG}
    preset = load_preset("demo", {"data": {"source": cfg}})
    assert json.loads(preset.data.source)["path"] == cfg["path"]
    assert load_preset("demo", {"data": {"source": preset.data.source}}).data.source == preset.data.source  # JSON round trip
    (tmp_path / "source.yaml").write_text(f"kind: files\npath: {FIXTURES / 'long.parquet'}\ncolumns: {json.dumps(LONG)}\n")
    monkeypatch.setenv("AUTOTEST_DATA_SOURCE", str(tmp_path / "source.yaml"))
    assert load_preset("demo").data.source == preset.data.source
    monkeypatch.setenv("AUTOTEST_DATA_SOURCE", "yfinance")
    assert load_preset("demo").data.source == "yfinance"
    assert load_preset("demo", {"data": {"source": "bundled"}}).data.source == "bundled"  # explicit override wins
    monkeypatch.delenv("AUTOTEST_DATA_SOURCE")
    with pytest.raises(ConfigError, match=r"data.source='csv': use 'bundled', 'yfinance', or a mapping"):
        load_preset("demo", {"data": {"source": "csv"}})
    with pytest.raises(ConfigError, match="format"):
        load_preset("demo", {"data": {"source": {"kind": "files", "path": "x", "format": "xlsx"}}})


# -- bad input: one line naming the input and the fix -------------------------------------------------------


def one_line(exc: pytest.ExceptionInfo[BaseException]) -> str:
    msg = str(exc.value)
    assert "\n" not in msg, msg
    return msg


def copy_vendor(tmp_path: Path) -> Path:
    folder = tmp_path / "prices"
    shutil.copytree(FIXTURES / "vendor_csv", folder)
    return folder


def test_missing_column(tmp_path: Path) -> None:
    folder = copy_vendor(tmp_path)
    frame = pd.read_csv(folder / "AAPL.csv", dtype=str).drop(columns=["Volume"])
    frame.to_csv(folder / "AAPL.csv", index=False)
    with pytest.raises(PermanentDataError) as exc:
        load_prices(["AAPL"], cutoff="2024-09-13", source=vendor(folder))
    msg = one_line(exc)
    assert "AAPL.csv lacks column(s) volume ('Volume')" in msg and "data.source.columns" in msg


def test_unparseable_date_names_file_line_and_value(tmp_path: Path) -> None:
    folder = copy_vendor(tmp_path)
    lines = (folder / "AAPL.csv").read_text().splitlines()
    lines[4] = lines[4].replace("05/01/2024", "2024-01-05")
    (folder / "AAPL.csv").write_text("\n".join(lines) + "\n")
    with pytest.raises(PermanentDataError) as exc:
        load_prices(["AAPL"], cutoff="2024-09-13", source=vendor(folder))
    msg = one_line(exc)
    assert f"{folder / 'AAPL.csv'} line 5: date '2024-01-05' does not parse with date_format '%d/%m/%Y'" in msg
    assert "data.source.date_format" in msg


def test_bad_number_names_line(tmp_path: Path) -> None:
    folder = copy_vendor(tmp_path)
    frame = pd.read_csv(folder / "SPY.csv", dtype=str)
    frame.loc[9, "Close"] = "n/a?"
    frame.to_csv(folder / "SPY.csv", index=False)
    with pytest.raises(PermanentDataError, match=r"SPY\.csv line 11: close 'n/a\?' is not a number"):
        load_prices(["SPY"], cutoff="2024-09-13", source=vendor(folder))


def test_ticker_without_file_or_rows(tmp_path: Path) -> None:
    with pytest.raises(PermanentDataError) as exc:
        load_prices(["AAPL", "ZZZZ"], cutoff="2024-09-13", source=vendor())
    msg = one_line(exc)
    assert "no price file for ['ZZZZ']" in msg and "files for: AAPL KO MSFT SPY" in msg and "add e.g. ZZZZ.csv" in msg
    with pytest.raises(PermanentDataError, match=r"no rows for \['ZZZZ'\] in .*long.parquet \(it holds: AAPL KO MSFT SPY\)"):
        load_prices(["AAPL", "ZZZZ"], cutoff="2024-09-13", source=long())
    with pytest.raises(PermanentDataError, match=r"no prices for \['AAPL'\] in \[start, 2023-01-01\) from source 'files'"):
        load_prices(["AAPL"], cutoff="2023-01-01", source=long())


@pytest.mark.parametrize(
    ("name", "content", "expected"),
    [
        ("AAPL.xlsx", b"PK\x03\x04 not a table", "is not a CSV or Parquet file"),
        ("AAPL.csv", b"", "is empty"),
        ("AAPL.csv.gz", b"Date,Close\n01/02/2024,1\n", "is named .gz but is not gzip-compressed"),
        ("AAPL.csv.gz", gzip.compress(b"Date,Close,Volume,Open,High,Low\n" * 500)[:60], "is a damaged gzip file"),
        ("AAPL.parquet", b"Date,Close\n", "is not a Parquet file"),
        ("AAPL.csv", b"Date,Close,Volume,Open,High,Low\n", "has no rows"),
    ],
)
def test_broken_files(tmp_path: Path, name: str, content: bytes, expected: str) -> None:
    folder = tmp_path / "prices"
    folder.mkdir()
    (folder / name).write_bytes(content)
    with pytest.raises(PermanentDataError) as exc:
        load_prices(["AAPL"], cutoff="2024-09-13", source=vendor(folder))
    msg = one_line(exc)
    assert str(folder / name) in msg and expected in msg


def test_missing_path() -> None:
    with pytest.raises(PermanentDataError, match=r"data.source.path /nonexistent/prices does not exist"):
        load_prices(["AAPL"], cutoff="2024-09-13", source=vendor("/nonexistent/prices"))


def test_stale_files_fail_fresh_check() -> None:
    with pytest.raises(PermanentDataError) as exc:
        load_prices(["AAPL", "KO"], cutoff="2024-09-16", source=long(), fresh=True)
    msg = one_line(exc)
    assert "source 'files' is stale: AAPL (last bar 2024-09-12), KO (last bar 2024-09-12) missing the XNYS session 2024-09-13" in msg


def test_spike_in_a_user_file_fails_or_is_repaired_by_config(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    folder = copy_vendor(tmp_path)
    frame = pd.read_csv(folder / "AAPL.csv", dtype=str)
    frame.loc[frame["Date"] == "15/03/2024", ["Open", "High", "Low", "Close", "Adj Close"]] = "1e12"
    frame.to_csv(folder / "AAPL.csv", index=False)
    with pytest.raises(
        PermanentDataError,
        match=r"AAPL has 1 one-day spikes in adj_close/close/open/high/low .*\(2024-03-15: adj_close 1e\+12 after 172\.566\)",
    ):
        load_prices(["AAPL", "MSFT", "SPY"], cutoff="2024-09-13", source=vendor(folder))
    repaired = vendor(folder, validation={"repair_spikes": True})
    with caplog.at_level(logging.WARNING, logger="autotest_lib.data.validate"):
        got = load_prices(["AAPL", "MSFT", "SPY"], cutoff="2024-09-13", source=repaired)
    assert "replaced 1 one-day price spikes with the previous bar" in caplog.text and "AAPL 2024-03-15" in caplog.text
    assert got["close"].max() < 1000
    preset = load_preset("demo", {"data": {"source": json.loads(repaired)}})
    assert json.loads(preset.data.source)["validation"]["repair_spikes"] is True
    # the built-in sources take validation settings too; the defaults keep the plain name
    assert source_spec({"kind": "yfinance"}) == "yfinance"
    assert json.loads(source_spec({"kind": "bundled", "validation": {"jump_limit": 0}}))["validation"]["jump_limit"] == 0
    with pytest.raises(ConfigError, match=r"jump_limit=0\.5: must be 0 \(off\) or > 1"):
        source_spec({"kind": "bundled", "validation": {"jump_limit": 0.5}})


@pytest.mark.parametrize(
    ("content", "expected"),
    [
        (b"", "is empty"),
        (b"date,ticker,open,high,low,close,adj_close,volume\n2024-01-02,AAPL,1,2,1,1.5,1.5,10\n", "is named .gz but is not gzip"),
        (None, "line 3: date '2024-13-01' does not parse with date_format '%Y-%m-%d'"),
        (b"\x1f\x8b\x08\x00truncated", "is a damaged gzip file"),
    ],
)
def test_broken_long_csv_names_the_file(tmp_path: Path, content: bytes | None, expected: str) -> None:
    """The long CSV of the bundled layout (``BundledSource(path)``, ``AUTOTEST_INCLUDE_DIR``) fails naming the file."""
    from autotest_lib.data import BundledSource

    path = tmp_path / "prices.csv.gz"
    if content is None:
        rows = "date,ticker,open,high,low,close,adj_close,volume\n2024-01-02,AAPL,1,2,1,1.5,1.5,10\n2024-13-01,AAPL,1,2,1,1.5,1.5,10\n"
        content = gzip.compress(rows.encode())
    path.write_bytes(content)
    with pytest.raises(PermanentDataError) as exc:
        load_prices(["AAPL"], cutoff="2024-09-13", source=BundledSource(path))
    msg = one_line(exc)
    assert str(path) in msg and expected in msg


def test_gap_against_the_exchange_calendar(tmp_path: Path) -> None:
    """One ticker alone has no other tickers to compare with: the NYSE calendar says which sessions it lacks."""
    folder = copy_vendor(tmp_path)
    frame = pd.read_csv(folder / "AAPL.csv", dtype=str)
    frame = frame.loc[~frame["Date"].isin(["06/03/2024", "07/03/2024"])]
    frame.to_csv(folder / "AAPL.csv", index=False)
    with pytest.raises(PermanentDataError) as exc:
        load_prices(["AAPL"], cutoff="2024-09-13", source=vendor(folder))
    assert "AAPL is missing 2 trading days that other tickers or the XNYS calendar have (2024-03-06 2024-03-07), longest run 2" in str(
        exc.value
    )
    filled = load_prices(["AAPL"], cutoff="2024-09-13", source=vendor(folder, validation={"ffill_limit": 2}))
    assert len(filled) == 176 and (filled.loc[filled["date"] == "2024-03-07", "volume"] == 0).all()


def test_folder_of_parquet_files_plain_and_gzipped(tmp_path: Path) -> None:
    rows = pd.read_parquet(FIXTURES / "long.parquet")
    rows.loc[rows["Symbol"] == "AAPL"].drop(columns="Symbol").to_parquet(tmp_path / "aapl.parquet")  # the name is the ticker
    (tmp_path / "SPY.parquet.gz").write_bytes(gzip.compress(rows.loc[rows["Symbol"] == "SPY"].to_parquet()))
    got = load_prices(["AAPL", "SPY"], cutoff="2024-09-13", source=long(tmp_path))
    pd.testing.assert_frame_equal(got, bundled(["AAPL", "SPY"]))
