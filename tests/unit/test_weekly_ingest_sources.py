"""The week's ingest on a deployment-chosen files source (AUTOTEST_DATA_SOURCE): real prices, freshness, errors."""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path

import pytest

from autotest_lib.errors import PermanentDataError, is_permanent
from autotest_lib.tasks import weekly as tasks

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures" / "user_prices"
LONG = {"date": "Day", "ticker": "Symbol", "open": "O", "high": "H", "low": "L", "close": "C", "adj_close": "AdjC", "volume": "Vol"}


@pytest.fixture
def deployed(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    (tmp_path / "source.yaml").write_text(f"kind: files\npath: {FIXTURES / 'long.parquet'}\ncolumns: {json.dumps(LONG)}\n")
    monkeypatch.setenv("AUTOTEST_DATA_SOURCE", str(tmp_path / "source.yaml"))
    monkeypatch.setenv("AUTOTEST_HOME", str(tmp_path / "home"))


def week(cutoff: dt.date) -> dict:
    when = dt.datetime.combine(cutoff, dt.time(2), tzinfo=dt.UTC)
    return tasks.start_week({"preset": "demo", "tickers": ["AAPL", "MSFT", "KO"]}, when)


@pytest.mark.usefixtures("deployed")
def test_ingest_reads_the_deployed_files_source() -> None:
    out = tasks.ingest(week(dt.date(2024, 9, 8)))
    assert out["tickers"] == 4 and out["last_date"] == "2024-09-06"  # AAPL MSFT KO + SPY, Friday before the cutoff
    assert out["rows"] == 4 * 172 and out["first_dates"]["SPY"] == "2024-01-02"


@pytest.mark.usefixtures("deployed")
def test_ingest_of_a_stale_week_fails_permanently_naming_the_day() -> None:
    with pytest.raises(PermanentDataError) as exc:
        tasks.ingest(week(dt.date(2024, 9, 22)))
    assert "source 'files' is stale: AAPL (last bar 2024-09-12), KO (last bar 2024-09-12)" in str(exc.value)
    assert "missing the XNYS session 2024-09-20 (the last before cutoff 2024-09-22)" in str(exc.value)
    assert is_permanent(exc.value)
