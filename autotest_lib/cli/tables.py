"""What every reading command of ``autotest`` shares: the ``--db`` / ``--json`` options, aligned text tables,
JSON output, and date arguments."""

from __future__ import annotations

import argparse
import datetime as dt
import json
from collections.abc import Callable, Sequence
from typing import Any

from autotest_lib.registry import LineageStore, jsonable

__all__ = ["CliError", "emit", "format_table", "open_store", "parse_date", "reader_options"]


class CliError(Exception):
    """A user error: printed as one line, exit status 2."""


# -- output -------------------------------------------------------------------------------------------------


def _cell(value: Any) -> str:
    if value is None:
        return "-"
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, float):
        return f"{value:.4f}" if abs(value) < 1e6 else f"{value:.4g}"
    if isinstance(value, (dt.date, dt.datetime)):
        return value.isoformat()
    return str(value)


def format_table(headers: Sequence[str], rows: Sequence[Sequence[Any]]) -> str:
    """Rows as an aligned text table: numbers right-aligned, everything else left; None shows as ``-``.

    :param headers: column titles.
    :param rows: one sequence of cell values per row, as long as ``headers``.
    """
    cells = [[_cell(v) for v in row] for row in rows]
    numeric = [
        bool(rows) and all((isinstance(row[i], (int, float)) and not isinstance(row[i], bool)) or row[i] is None for row in rows)
        for i in range(len(headers))
    ]
    widths = [max([len(h), *(len(r[i]) for r in cells)]) for i, h in enumerate(headers)]

    def line(values: Sequence[str]) -> str:
        return "  ".join(v.rjust(w) if num else v.ljust(w) for v, w, num in zip(values, widths, numeric, strict=True)).rstrip()

    out = [line(headers), line(["-" * w for w in widths])]
    out.extend(line(r) for r in cells)
    if not rows:
        out.append("(none)")
    return "\n".join(out)


def emit(args: argparse.Namespace, payload: Any, render: Callable[[], str]) -> int:
    """Print ``payload`` as JSON with ``--json``, else the text ``render()`` returns; exit status 0."""
    if args.json:
        print(json.dumps(jsonable(payload), indent=2, sort_keys=False))
    else:
        print(render())
    return 0


def parse_date(value: str | None, name: str) -> dt.date | None:
    """``value`` (YYYY-MM-DD) as a date; None stays None. :raises CliError: not a date."""
    if value is None:
        return None
    try:
        return dt.date.fromisoformat(value)
    except ValueError:
        raise CliError(f"{name} {value!r} is not a date; use YYYY-MM-DD, e.g. 2024-09-08") from None


def open_store(args: argparse.Namespace) -> LineageStore:
    """The lineage store ``--db`` names (else the default URL); use it in a ``with`` block."""
    return LineageStore(args.db)


def reader_options() -> list[argparse.ArgumentParser]:
    """Parent parsers of every reading command: ``--db URL`` and ``--json``."""
    from_db = argparse.ArgumentParser(add_help=False)
    from_db.add_argument(
        "--db", metavar="URL", help="lineage database URL (default: AUTOTEST_DB_URL, Airflow connection, var/lineage.sqlite)"
    )
    as_json = argparse.ArgumentParser(add_help=False)
    as_json.add_argument("--json", action="store_true", help="print JSON instead of a table")
    return [from_db, as_json]
