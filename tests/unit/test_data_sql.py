"""The SQL source on a real PostgreSQL (``AUTOTEST_TEST_PG_URL``) holding the real prices of the Parquet fixture."""

from __future__ import annotations

import logging
from collections.abc import Iterator
from pathlib import Path

import pandas as pd
import pytest

from autotest_lib.config import ConfigError, load_preset, source_spec
from autotest_lib.data import load_prices
from autotest_lib.errors import PermanentDataError, TransientDataError

pytestmark = pytest.mark.postgres

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures" / "user_prices"
TICKERS = ["AAPL", "MSFT", "KO", "SPY"]
COLUMNS = {"date": "day", "ticker": "symbol", "open": "o", "high": "h", "low": "l", "close": "c", "adj_close": "adj", "volume": "vol"}


@pytest.fixture(scope="module")
def prices_url(pg_schema_url: str) -> Iterator[str]:
    """The fixture's rows in table ``bars`` (DATE column ``day``) and ``bars_noadj`` (no adjusted close)."""
    from sqlalchemy import create_engine
    from sqlalchemy.pool import NullPool

    frame = pd.read_parquet(FIXTURES / "long.parquet")
    frame = frame.rename(columns={"Symbol": "symbol", "Day": "day", "O": "o", "H": "h", "L": "l", "C": "c", "AdjC": "adj", "Vol": "vol"})
    frame["day"] = frame["day"].dt.date
    engine = create_engine(pg_schema_url, poolclass=NullPool)
    with engine.begin() as conn:
        frame.to_sql("bars", conn, index=False)
        frame.drop(columns=["adj"]).to_sql("bars_noadj", conn, index=False)
    engine.dispose()
    yield pg_schema_url


def sql(url: str, **extra: object) -> str:
    return source_spec({"kind": "sql", "url": url, "columns": COLUMNS, **extra})


def bundled() -> pd.DataFrame:
    return load_prices(TICKERS, start="2024-01-02", cutoff="2024-09-13")


def test_table_gives_the_bundled_rows(prices_url: str) -> None:
    got = load_prices(TICKERS, cutoff="2024-09-13", source=sql(prices_url, table="bars"), fresh=True)
    pd.testing.assert_frame_equal(got, bundled())
    window = load_prices(["KO"], start="2024-05-01", cutoff="2024-06-01", source=sql(prices_url, table="bars"))
    assert window["date"].min() == pd.Timestamp("2024-05-01") and window["date"].max() == pd.Timestamp("2024-05-31")


def test_query_with_cutoff_and_tickers(prices_url: str) -> None:
    query = "SELECT * FROM bars WHERE day < :cutoff AND day >= :start AND symbol IN :tickers"
    got = load_prices(TICKERS, start="2024-01-02", cutoff="2024-09-13", source=sql(prices_url, query=query))
    pd.testing.assert_frame_equal(got, bundled())


def test_query_returning_rows_after_cutoff_is_refused(prices_url: str) -> None:
    leaky = "SELECT * FROM bars WHERE day < :cutoff OR symbol = 'KO'"  # uses :cutoff, but wrongly
    with pytest.raises(PermanentDataError) as exc:
        load_prices(["AAPL", "KO"], cutoff="2024-07-01", source=sql(prices_url, query=leaky))
    msg = str(exc.value)
    assert "\n" not in msg and "returned 52 rows on or after the cutoff 2024-07-01 (first 2024-07-01)" in msg
    assert "WHERE <date> < :cutoff" in msg
    with pytest.raises(ConfigError, match="query must filter with the bind parameter :cutoff"):
        load_preset("demo", {"data": {"source": {"kind": "sql", "url": prices_url, "query": "SELECT * FROM bars", "columns": COLUMNS}}})


def test_no_adj_close_warns_or_refuses(prices_url: str, caplog: pytest.LogCaptureFixture) -> None:
    cols = COLUMNS | {"adj_close": None}
    with caplog.at_level(logging.WARNING, logger="autotest_lib.data.sql"):
        got = load_prices(["KO"], cutoff="2024-09-13", source=sql(prices_url, table="bars_noadj", columns=cols))
    assert (got["adj_close"] == got["close"]).all()
    assert sum("table bars_noadj" in r.getMessage() and "no adjusted close" in r.getMessage() for r in caplog.records) == 1
    with pytest.raises(PermanentDataError, match="has no adjusted close column and missing_adj_close is 'refuse'"):
        load_prices(["KO"], cutoff="2024-09-13", source=sql(prices_url, table="bars_noadj", columns=cols, missing_adj_close="refuse"))


def test_bad_inputs(prices_url: str, monkeypatch: pytest.MonkeyPatch) -> None:
    with pytest.raises(PermanentDataError, match=r"has no rows for \['ZZZZ'\] before 2024-09-13"):
        load_prices(["AAPL", "ZZZZ"], cutoff="2024-09-13", source=sql(prices_url, table="bars"))
    with pytest.raises(PermanentDataError, match=r"table nosuch on .* failed \(.*nosuch.*\); fix data.source"):
        load_prices(["AAPL"], cutoff="2024-09-13", source=sql(prices_url, table="nosuch"))
    with pytest.raises(PermanentDataError, match=r"failed \(.*openx.*\)"):
        load_prices(["AAPL"], cutoff="2024-09-13", source=sql(prices_url, table="bars", columns=COLUMNS | {"open": "openx"}))
    monkeypatch.delenv("PRICES_DB_URL", raising=False)
    spec = source_spec({"kind": "sql", "url_env": "PRICES_DB_URL", "table": "bars", "columns": COLUMNS})
    with pytest.raises(PermanentDataError, match=r"environment variable PRICES_DB_URL .* is not set"):
        load_prices(["AAPL"], cutoff="2024-09-13", source=spec)
    monkeypatch.setenv("PRICES_DB_URL", prices_url)
    assert len(load_prices(["AAPL"], cutoff="2024-09-13", source=spec)) == 176


def test_unreachable_database_is_transient_and_hides_the_password() -> None:
    url = "postgresql+psycopg2://prices:s3cr3t-pw@127.0.0.1:1/prices"
    with pytest.raises(TransientDataError) as exc:
        load_prices(["AAPL"], cutoff="2024-09-13", source=sql(url, table="bars"))
    assert "s3cr3t-pw" not in str(exc.value) and "prices:***@127.0.0.1:1" in str(exc.value) and "will retry" in str(exc.value)


def test_config_errors_hide_the_password() -> None:
    with pytest.raises(ConfigError) as exc:
        load_preset("demo", {"data": {"source": {"kind": "sql", "url": "postgresql+psycopg2://prices:s3cr3t-pw@db/p", "columns": COLUMNS}}})
    assert "s3cr3t-pw" not in str(exc.value) and "prices:***@db" in str(exc.value)
    assert "data.source: give exactly one of table or query" in str(exc.value)
