"""Turn a user's table (a file's or a query's rows) into the normalised price frame, with errors that point at
the input: which file or query, which line, which value, and the setting that fixes it.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass

import pandas as pd

from autotest_lib.config import ColumnMap
from autotest_lib.data.frame import COLUMNS, normalise_prices
from autotest_lib.errors import PermanentDataError

__all__ = ["Parsed", "no_adj_close", "parse_table"]


@dataclass(frozen=True)
class Parsed:
    """A normalised price frame and whether its ``adj_close`` is a copy of ``close`` (the input had none)."""

    frame: pd.DataFrame
    adj_from_close: bool


def _find(raw: pd.DataFrame, name: str) -> str | None:
    """The column of ``raw`` called ``name``: exact match first, then ignoring case and surrounding spaces."""
    if name in raw.columns:
        return name
    folded = {str(c).strip().lower(): str(c) for c in raw.columns}
    return folded.get(name.strip().lower())


def _row_label(pos: int, first_line: int | None) -> str:
    return f"line {pos + first_line}" if first_line is not None else f"row {pos + 1}"


def _parse_dates(values: pd.Series, fmt: str, where: str, first_line: int | None) -> pd.Series:
    if pd.api.types.is_datetime64_any_dtype(values):
        parsed = pd.to_datetime(values)
        if getattr(parsed.dt, "tz", None) is not None:
            parsed = parsed.dt.tz_localize(None)
        bad = parsed.isna()
    else:
        inferred = pd.api.types.infer_dtype(values, skipna=True)
        if inferred in ("string", "empty"):  # text dates (a CSV): the explicit format only
            parsed = pd.to_datetime(values.str.strip(), format=fmt, errors="coerce")
        else:  # a database or Parquet file hands back date objects (text among them still needs the format)
            is_text = values.map(lambda v: isinstance(v, str))
            texts = values.where(is_text)
            parsed = pd.to_datetime(values.where(~is_text), errors="coerce")
            if is_text.any():
                parsed = parsed.where(~is_text, pd.to_datetime(texts.where(is_text).str.strip(), format=fmt, errors="coerce"))
        bad = parsed.isna()
    if bad.any():
        pos = int(bad.to_numpy().nonzero()[0][0])
        value = values.iloc[pos]
        raise PermanentDataError(
            f"{where} {_row_label(pos, first_line)}: date {value!r} does not parse with date_format {fmt!r} "
            f"({int(bad.sum())} such rows); fix the row or set data.source.date_format"
        )
    return parsed.dt.normalize()


def _parse_numbers(values: pd.Series, column: str, where: str, first_line: int | None) -> pd.Series:
    try:
        return values.astype("float64")  # the fast path: every cell a number or empty
    except (TypeError, ValueError):
        pass
    out = pd.to_numeric(values, errors="coerce")
    blank = values.isna() | values.astype(str).str.strip().isin(["", "null", "NULL", "NaN", "nan", "NA"])
    bad = out.isna() & ~blank
    if bad.any():
        pos = int(bad.to_numpy().nonzero()[0][0])
        raise PermanentDataError(
            f"{where} {_row_label(pos, first_line)}: {column} {values.iloc[pos]!r} is not a number "
            f"({int(bad.sum())} such rows); fix the file or map another column in data.source.columns"
        )
    return out.astype("float64")


def parse_table(
    raw: pd.DataFrame,
    columns: ColumnMap,
    date_format: str,
    *,
    where: str,
    ticker: str | None = None,
    first_line: int | None = None,
) -> Parsed:
    """Map, parse and normalise a user's rows.

    :param raw: the rows as read (CSV cells as text; Parquet or SQL values as typed).
    :param columns: which column holds each field.
    :param date_format: strftime format for text dates.
    :param where: the input named in errors (a file path or ``query on <url>``).
    :param ticker: the ticker of every row when the input has no ticker column (the file name).
    :param first_line: the file line of the first row (2 for a CSV with a header); ``None`` numbers rows from 1.
    :raises PermanentDataError: a missing column, an unparseable date or number, or no rows.
    """
    if raw.empty:
        raise PermanentDataError(f"{where} has no rows; fill it or remove it from the source")
    wanted = {field: getattr(columns, field) for field in COLUMNS}
    found: dict[str, str | None] = {field: (_find(raw, name) if name else None) for field, name in wanted.items()}
    required = [f for f in COLUMNS if f != "adj_close" and not (f == "ticker" and ticker is not None)]
    missing = [f"{f} ({wanted[f]!r})" if wanted[f] else f for f in required if found[f] is None]
    if missing:
        raise PermanentDataError(
            f"{where} lacks column(s) {', '.join(missing)}; it has {[str(c) for c in raw.columns]}; "
            "map them in data.source.columns (e.g. columns: {date: Date, close: Close})"
        )
    out = pd.DataFrame(index=raw.index)
    out["date"] = _parse_dates(raw[found["date"]], date_format, where, first_line)
    src_ticker = found["ticker"]
    out["ticker"] = raw[src_ticker].astype(str).str.strip().str.upper() if src_ticker is not None and ticker is None else ticker
    for field in ("open", "high", "low", "close", "volume"):
        out[field] = _parse_numbers(raw[found[field]], field, where, first_line)
    adj = found["adj_close"]
    if adj is not None:
        out["adj_close"] = _parse_numbers(raw[adj], "adj_close", where, first_line)
    else:
        out["adj_close"] = out["close"]
    return Parsed(normalise_prices(out.reset_index(drop=True)), adj_from_close=adj is None)


def no_adj_close(inputs: list[str], policy: str, log: logging.Logger) -> None:
    """Apply ``missing_adj_close`` to the inputs that had no adjusted close: one warning naming them, or refuse.

    :param inputs: the files or queries whose ``adj_close`` is a copy of ``close`` (nothing happens when empty).
    :param policy: ``"use_close"`` or ``"refuse"``.
    :param log: the source's logger (the warning goes there).
    :raises PermanentDataError: ``policy`` is ``"refuse"``.
    """
    if not inputs:
        return
    names = ", ".join(inputs)
    if policy == "refuse":
        raise PermanentDataError(
            f"{names} has no adjusted close column and missing_adj_close is 'refuse'; "
            "map it in data.source.columns.adj_close or set missing_adj_close: use_close"
        )
    log.warning(
        "%s has no adjusted close: using close, so splits and dividends show up as returns "
        "(map data.source.columns.adj_close, or set missing_adj_close: refuse to stop on such data)",
        names,
    )
