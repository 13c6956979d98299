"""Prices from a table or a query on a SQLAlchemy URL (PostgreSQL here); the cutoff is applied in SQL.

Configured by :class:`~autotest_lib.config.SqlSourceConfig`::

    data:
      source:
        kind: sql
        url_env: PRICES_DB_URL        # or url: postgresql+psycopg2://user@host/db (then it lands in the registry)
        table: market.daily_bars      # or query: "SELECT ... WHERE day < :cutoff"
        columns: {date: day, ticker: symbol, adj_close: null}

With ``table`` the query is built here: ``date < :cutoff`` (and ``>= :start``, ``ticker IN :tickers``), so no
row on or after the cutoff is read; the date column must be a DATE/TIMESTAMP (or ISO text). A ``query`` must
filter on ``:cutoff`` itself and may use ``:start`` and ``:tickers``; a query that still returns a row on or
after the cutoff is refused. Passwords never appear in messages.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Sequence
from typing import Any

import pandas as pd

from autotest_lib.config import SqlSourceConfig
from autotest_lib.data.frame import DateLike, as_day, normalise_tickers
from autotest_lib.data.tabular import no_adj_close, parse_table
from autotest_lib.data.validate import repair_options
from autotest_lib.errors import PermanentDataError, TransientDataError

__all__ = ["SqlSource", "mask_url"]

log = logging.getLogger(__name__)

_EARLIEST = pd.Timestamp("1800-01-01")


def mask_url(url: str) -> str:
    """``url`` with its password replaced by ``***`` (or a placeholder when it does not parse)."""
    from sqlalchemy.engine import make_url
    from sqlalchemy.exc import ArgumentError

    try:
        return make_url(url).render_as_string(hide_password=True)
    except (ArgumentError, ValueError):
        return "<unparseable database URL>"


class SqlSource:
    """Daily bars from SQL (see the module docs).

    :param config: the validated ``data.source`` settings.
    """

    name = "sql"

    def __init__(self, config: SqlSourceConfig) -> None:
        self.config = config
        self.calendar = config.calendar
        self.repair = repair_options(config.validation)

    @property
    def url(self) -> str:
        cfg = self.config
        if cfg.url is not None:
            return cfg.url
        value = os.environ.get(cfg.url_env or "")
        if not value:
            raise PermanentDataError(
                f"environment variable {cfg.url_env} (data.source.url_env) is not set; export the SQLAlchemy URL of the price database"
            )
        return value

    def _statement(self, tickers: list[str], start: pd.Timestamp | None, end: pd.Timestamp) -> tuple[Any, dict[str, Any]]:
        import sqlalchemy as sa

        cfg, cols = self.config, self.config.columns
        params: dict[str, Any] = {"cutoff": end.date(), "start": (start if start is not None else _EARLIEST).date()}
        if cfg.query is not None:
            text = sa.text(cfg.query)
            if ":tickers" in cfg.query:
                text = text.bindparams(sa.bindparam("tickers", expanding=True))
                params["tickers"] = tickers
            return text, params
        names = [n for n in (cols.date, cols.ticker, cols.open, cols.high, cols.low, cols.close, cols.adj_close, cols.volume) if n]
        schema, _, table = cfg.table.rpartition(".") if cfg.table else ("", "", "")
        tab = sa.table(table, *(sa.column(n) for n in names), schema=schema or None)
        ticker_col = tab.c[cols.ticker] if cols.ticker is not None else None
        if ticker_col is None:
            raise KeyError("ticker")  # a table source needs a ticker column (the config check says so first)
        stmt = sa.select(*(tab.c[n] for n in names)).where(
            tab.c[cols.date] < sa.bindparam("cutoff"), ticker_col.in_(sa.bindparam("tickers", expanding=True))
        )
        if start is not None:
            stmt = stmt.where(tab.c[cols.date] >= sa.bindparam("start"))
        params["tickers"] = tickers
        return stmt, params

    def _read(self, tickers: list[str], start: pd.Timestamp | None, end: pd.Timestamp) -> tuple[pd.DataFrame, str]:
        import sqlalchemy as sa
        from sqlalchemy import exc as sa_exc

        url = self.url
        where = f"query on {mask_url(url)}" if self.config.query else f"table {self.config.table} on {mask_url(url)}"
        stmt, params = self._statement(tickers, start, end)
        try:
            engine = sa.create_engine(url, poolclass=sa.pool.NullPool)
        except (sa_exc.ArgumentError, sa_exc.NoSuchModuleError, ValueError) as exc:
            raise PermanentDataError(
                f"data.source url {mask_url(url)} is not a usable SQLAlchemy URL ({type(exc).__name__}); fix it"
            ) from None
        try:
            with engine.connect() as conn:
                result = conn.execute(stmt, params)
                frame = pd.DataFrame(result.fetchall(), columns=list(result.keys()))
        except (sa_exc.OperationalError, sa_exc.InterfaceError, sa_exc.DisconnectionError, sa_exc.TimeoutError) as exc:
            first = str(getattr(exc, "orig", exc)).strip().splitlines()[0] if str(getattr(exc, "orig", exc)).strip() else type(exc).__name__
            raise TransientDataError(f"{where} failed to connect or run ({first}); check the database is up, the task will retry") from None
        except sa_exc.SQLAlchemyError as exc:
            first = str(getattr(exc, "orig", exc)).strip().splitlines()[0]
            raise PermanentDataError(f"{where} failed ({first}); fix data.source table/query and columns") from None
        finally:
            engine.dispose()
        return frame, where

    def fetch(self, tickers: Sequence[str], start: DateLike | None, end: DateLike) -> pd.DataFrame:
        """Rows of ``tickers`` dated in ``[start, end)``; the database is asked only for rows before ``end``.

        :param tickers: symbols (values of the ticker column).
        :param start: first date (inclusive), or ``None``.
        :param end: exclusive end (the cutoff).
        :raises PermanentDataError: bad URL/table/query/column, no rows for a ticker, a row on or after the cutoff.
        :raises TransientDataError: the database did not answer.
        """
        wanted = normalise_tickers(tickers)
        lo = as_day(start) if start is not None else None
        hi = as_day(end)
        raw, where = self._read(wanted, lo, hi)
        if raw.empty:
            raise PermanentDataError(f"{where} returned no rows for {wanted} before {hi.date()}; check the table, query and tickers")
        parsed = parse_table(raw, self.config.columns, self.config.date_format, where=where)
        frame = parsed.frame
        late = frame.loc[frame["date"] >= hi]
        if len(late):
            raise PermanentDataError(
                f"{where} returned {len(late)} rows on or after the cutoff {hi.date()} (first {late['date'].min().date()}); "
                "filter them in the query with WHERE <date> < :cutoff"
            )
        no_adj_close([where] if parsed.adj_from_close else [], self.config.missing_adj_close, log)
        frame = frame.loc[frame["ticker"].isin(wanted)]
        if lo is not None:
            frame = frame.loc[frame["date"] >= lo]
        absent = [t for t in wanted if t not in set(frame["ticker"].unique().tolist())]
        if absent:
            raise PermanentDataError(f"{where} has no rows for {absent} before {hi.date()}; add them to the table or drop the tickers")
        return frame.reset_index(drop=True)

    def __repr__(self) -> str:
        cfg = self.config
        target = f"table={cfg.table!r}" if cfg.table else "query=..."
        return f"SqlSource({target}, url={'$' + cfg.url_env if cfg.url_env else mask_url(cfg.url or '')})"
