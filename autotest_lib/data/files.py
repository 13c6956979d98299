"""Prices from the user's files: a folder of per-ticker files or one long file, CSV or Parquet, gzip or not.

Configured by :class:`~autotest_lib.config.FilesSourceConfig` (``data.source: {kind: files, path: ...}``)::

    data:
      source:
        kind: files
        path: ~/prices            # AAPL.csv, MSFT.csv.gz, SPY.parquet ... (the file name is the ticker)
        columns: {date: Date, open: Open, high: High, low: Low, close: Close, adj_close: null, volume: Volume}
        date_format: "%d/%m/%Y"

In a folder the file name (without ``.csv``, ``.parquet`` and ``.gz``) is the ticker. A single file holds
every ticker in a ticker column, or, without one, the ticker its name says. A file read once is cached by path,
modification time and settings.
"""

from __future__ import annotations

import gzip
import logging
import os
import zlib
from collections.abc import Sequence
from functools import lru_cache
from pathlib import Path

import pandas as pd

from autotest_lib.config import FilesSourceConfig
from autotest_lib.data.frame import DateLike, as_day, normalise_tickers
from autotest_lib.data.tabular import Parsed, _find, no_adj_close, parse_table
from autotest_lib.data.validate import repair_options
from autotest_lib.errors import PermanentDataError

__all__ = ["FilesSource", "read_price_file"]

log = logging.getLogger(__name__)

CSV_SUFFIXES = (".csv", ".txt")
PARQUET_SUFFIXES = (".parquet", ".pq", ".parq")
_GZIP_MAGIC = b"\x1f\x8b"
_PARQUET_MAGIC = b"PAR1"


def _stem_and_kind(path: Path) -> tuple[str, str | None, bool]:
    """``(ticker stem, 'csv' | 'parquet' | None, gzipped name)`` from a file name like ``AAPL.csv.gz``."""
    name = path.name
    gz = name.lower().endswith(".gz")
    if gz:
        name = name[:-3]
    lower = name.lower()
    for suffix in CSV_SUFFIXES:
        if lower.endswith(suffix):
            return name[: -len(suffix)], "csv", gz
    for suffix in PARQUET_SUFFIXES:
        if lower.endswith(suffix):
            return name[: -len(suffix)], "parquet", gz
    return Path(name).stem if "." in name else name, None, gz


def _kind_of(path: Path, fmt: str) -> tuple[str, bool]:
    _, kind, gz_name = _stem_and_kind(path)
    with path.open("rb") as fh:
        head = fh.read(4)
    if not head:
        raise PermanentDataError(f"{path} is empty; write a header row and prices, or remove the file")
    gz = head[:2] == _GZIP_MAGIC
    if gz_name and not gz:
        raise PermanentDataError(f"{path} is named .gz but is not gzip-compressed; recompress it or drop the .gz from its name")
    if fmt != "auto":
        kind = fmt
    if kind is None:
        kind = "parquet" if head == _PARQUET_MAGIC else None
    if kind is None:
        raise PermanentDataError(
            f"{path} is not a CSV or Parquet file (by its name {path.name!r}); convert it, or name it .csv/.csv.gz/.parquet"
        )
    if kind == "parquet" and not gz and head != _PARQUET_MAGIC:
        raise PermanentDataError(f"{path} is not a Parquet file (no PAR1 header); re-export it or set data.source.format: csv")
    return kind, gz


def _read_csv(path: Path, gz: bool, text: Sequence[str | None]) -> pd.DataFrame:
    """A CSV with the columns named in ``text`` (matched as :func:`_find` does) kept as text, numbers parsed natively."""
    compression = "gzip" if gz else None
    header = pd.read_csv(path, nrows=0, compression=compression, skipinitialspace=True)
    keep = {found: str for name in text if name and (found := _find(header, name)) is not None}
    return pd.read_csv(path, dtype=keep, compression=compression, skipinitialspace=True)


def _read_raw(path: Path, fmt: str, text: Sequence[str | None] = ()) -> tuple[pd.DataFrame, int | None]:
    """The file's rows (``text`` columns as text) and the line number of its first row (``None`` for Parquet)."""
    kind, gz = _kind_of(path, fmt)
    try:
        if kind == "parquet":
            if gz:
                with gzip.open(path, "rb") as fh:
                    return pd.read_parquet(fh), None
            return pd.read_parquet(path), None
        return _read_csv(path, gz, text), 2
    except pd.errors.EmptyDataError:
        raise PermanentDataError(f"{path} is empty; write a header row and prices, or remove the file") from None
    except (EOFError, gzip.BadGzipFile, zlib.error) as exc:
        raise PermanentDataError(f"{path} is a damaged gzip file ({exc}); copy it again from its source") from None
    except pd.errors.ParserError as exc:
        raise PermanentDataError(f"{path} is not a readable CSV ({str(exc).splitlines()[0]}); fix the file") from None
    except UnicodeDecodeError as exc:
        raise PermanentDataError(
            f"{path} is not text CSV ({exc.reason} at byte {exc.start}); re-export it as UTF-8 CSV or Parquet"
        ) from None
    except (OSError, ValueError) as exc:  # pyarrow raises ArrowInvalid (a ValueError) on damaged Parquet
        raise PermanentDataError(
            f"{path} cannot be read as {kind} ({type(exc).__name__}: {str(exc).splitlines()[0]}); fix or re-export it"
        ) from None


@lru_cache(maxsize=64)
def _parsed(path: str, mtime_ns: int, size: int, settings: str) -> Parsed:
    cfg = FilesSourceConfig.model_validate_json(settings)
    file = Path(path)
    raw, first_line = _read_raw(file, cfg.format, (cfg.columns.date, cfg.columns.ticker))
    has_ticker = cfg.columns.ticker is not None and _find(raw, cfg.columns.ticker) is not None
    ticker = None if has_ticker else _stem_and_kind(file)[0].strip().upper()
    return parse_table(raw, cfg.columns, cfg.date_format, where=str(file), ticker=ticker, first_line=first_line)


def read_price_file(path: str | Path, config: FilesSourceConfig) -> Parsed:
    """One price file, parsed and normalised (cached by path, modification time and settings).

    :param path: a CSV or Parquet file, gzip or not.
    :param config: the source settings (column mapping, date format, format).
    :raises PermanentDataError: the file is missing, not CSV/Parquet, damaged, lacks a column or holds a bad value.
    """
    file = Path(path)
    if not file.is_file():
        raise PermanentDataError(f"price file {file} does not exist; fix data.source.path")
    stat = file.stat()
    return _parsed(str(file), stat.st_mtime_ns, stat.st_size, config.model_dump_json())


class FilesSource:
    """Daily bars from the user's files (see the module docs); rows dated in ``[start, end)``.

    :param config: the validated ``data.source`` settings.
    """

    name = "files"

    def __init__(self, config: FilesSourceConfig) -> None:
        self.config = config
        self.path = Path(os.path.expandvars(config.path)).expanduser()
        self.calendar = config.calendar
        self.repair = repair_options(config.validation)

    def _folder_files(self) -> dict[str, Path]:
        out: dict[str, Path] = {}
        for file in sorted(self.path.iterdir()):
            if file.is_file() and not file.name.startswith("."):
                out.setdefault(_stem_and_kind(file)[0].strip().upper(), file)
        return out

    def _load(self, tickers: list[str]) -> tuple[pd.DataFrame, list[str]]:
        """Rows of ``tickers`` and the files that had no adjusted close."""
        if self.path.is_dir():
            files = self._folder_files()
            absent = [t for t in tickers if t not in files]
            if absent:
                have = " ".join(sorted(files)) or "none"
                raise PermanentDataError(
                    f"no price file for {absent} in {self.path} (files for: {have}); add e.g. {absent[0]}.csv or drop the ticker"
                )
            parts = {t: read_price_file(files[t], self.config) for t in tickers}
            # the file name is the ticker, whatever a ticker column says (assign copies: the parse is cached)
            frame = pd.concat([p.frame.assign(ticker=t) for t, p in parts.items()], ignore_index=True)
            no_adj = [str(files[t]) for t, p in parts.items() if p.adj_from_close]
        elif self.path.is_file():
            parsed = read_price_file(self.path, self.config)
            frame = parsed.frame.loc[parsed.frame["ticker"].isin(tickers)]
            held = set(parsed.frame["ticker"].unique().tolist())
            absent = [t for t in tickers if t not in held]
            if absent:
                raise PermanentDataError(
                    f"no rows for {absent} in {self.path} (it holds: {' '.join(sorted(held))}); add them or drop the ticker"
                )
            no_adj = [str(self.path)] if parsed.adj_from_close else []
        else:
            raise PermanentDataError(f"data.source.path {self.path} does not exist; point it at a folder of price files or one file")
        no_adj_close(no_adj, self.config.missing_adj_close, log)
        return frame.copy(), no_adj

    def fetch(self, tickers: Sequence[str], start: DateLike | None, end: DateLike) -> pd.DataFrame:
        """Rows of ``tickers`` dated in ``[start, end)``.

        :param tickers: symbols (file names in a folder, or values of the ticker column).
        :param start: first date (inclusive), or ``None`` for everything before ``end``.
        :param end: exclusive end (the cutoff).
        :raises PermanentDataError: a ticker without file or rows, or a file that cannot be read (naming it).
        """
        frame, _ = self._load(normalise_tickers(tickers))
        keep = frame["date"] < as_day(end)
        if start is not None:
            keep &= frame["date"] >= as_day(start)
        return frame.loc[keep].sort_values(["ticker", "date"], kind="stable").reset_index(drop=True)

    def __repr__(self) -> str:
        return f"FilesSource(path={str(self.path)!r})"
