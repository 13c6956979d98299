"""``autotest paper`` and ``autotest walkforward``: the forward track record, and walking weeks to build one.

    autotest paper                                   # per week and cumulative net return vs own 1/N, universe 1/N, SPY
    autotest paper --json
    autotest walkforward --preset demo --from 2023-01-08 --weeks 4 --scale 0.25 --home var/wf-demo

Wired into the main parser by ``autotest_lib.cli.build_parser`` calling :func:`register`.
"""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

from autotest_lib.cli.tables import CliError, emit, format_table, open_store, parse_date
from autotest_lib.paper.ledger import forward_record
from autotest_lib.tasks.walkforward import WalkSpec, run_walk, walk_env

__all__ = ["register", "render_record"]


def _pct(value: float | None) -> float | None:
    return None if value is None else round(100.0 * value, 3)


def render_record(record: Any) -> str:
    """The forward record as a table (returns in %) and a summary block."""
    headers = ["week", "status", "model", "net %", "cum %", "own 1/N %", "univ 1/N %", "SPY %", "turnover", "note"]
    rows = [
        [
            r["week"],
            r["status"],
            r["model_id"],
            _pct(r["net_return"]),
            _pct(r["cumulative"]),
            _pct(r["own_1n_return"]),
            _pct(r["universe_1n_return"]),
            _pct(r["benchmark_return"]),
            r["turnover"],
            r["reason"] if r["status"] == "gap" else "",
        ]
        for r in record.rows
    ]
    n = record.marked
    bench = record.benchmark_cumulative
    lines = [
        "forward record (paper ledger): net of costs, each week's orders marked over the following week",
        format_table(headers, rows),
        "",
        f"weeks {record.weeks} ({n} marked, {record.gaps} gaps)   cumulative {_fmt(record.cumulative_return)}   "
        f"mean weekly {_fmt(record.mean_weekly_net)}",
        f"Sharpe (annualised from weekly) {_num(record.sharpe)}   max drawdown {_fmt(record.max_drawdown)}   "
        f"deflated Sharpe {_num(record.deflated_sharpe)} (trials {record.n_trials})",
        f"beat own 1/N {record.beats['own_1n']}/{n} (own 1/N cumulative {_fmt(bench['own_1n'])})   "
        f"beat universe 1/N {record.beats['universe_1n']}/{n} ({_fmt(bench['universe_1n'])})   "
        f"beat SPY {record.beats['benchmark']}/{n} ({_fmt(bench['benchmark'])})",
    ]
    return "\n".join(lines)


def _fmt(value: float | None) -> str:
    return "-" if value is None else f"{100.0 * value:+.2f}%"


def _num(value: float | None) -> str:
    return "-" if value is None else f"{value:.3f}"


def _print_record(args: argparse.Namespace, entries: Any) -> int:
    record = forward_record(entries)
    return emit(args, record.as_dict(), lambda: render_record(record))


def _cmd_paper(args: argparse.Namespace) -> int:
    with open_store(args) as store:
        entries = store.paper_ledger()
    return _print_record(args, entries)


def _cmd_walkforward(args: argparse.Namespace) -> int:
    start = parse_date(args.start, "--from")
    if start is None:
        raise CliError("--from is required: the first week's cutoff, YYYY-MM-DD")
    spec = WalkSpec(preset=args.preset, start=start, weeks=args.weeks, scale=args.scale, seed=args.seed, report=not args.no_report)
    with walk_env(Path(args.home) if args.home else None, args.db):
        entries = run_walk(spec)
    return _print_record(args, entries)


def register(sub: Any) -> None:
    """Add ``paper`` and ``walkforward`` to the ``autotest`` sub-command parsers."""
    paper = sub.add_parser("paper", help="the forward record: paper orders marked to market, against 1/N and SPY")
    paper.add_argument(
        "--db", metavar="URL", help="lineage database URL (default: AUTOTEST_DB_URL, Airflow connection, var/lineage.sqlite)"
    )
    paper.add_argument("--json", action="store_true", help="print JSON instead of a table")
    paper.set_defaults(func=_cmd_paper)

    walk = sub.add_parser("walkforward", help="run N consecutive weeks in-process (the DAG's tasks), then print the forward record")
    walk.add_argument("--preset", required=True, help="preset name (include/config/NAME.yaml) or path")
    walk.add_argument("--from", dest="start", required=True, metavar="YYYY-MM-DD", help="the first week's cutoff (a Sunday)")
    walk.add_argument("--weeks", type=int, required=True, help="consecutive weeks to run")
    walk.add_argument("--scale", type=float, default=1.0, help="multiply every role's timesteps (default 1)")
    walk.add_argument("--seed", type=int, default=0, help="base seed (default 0)")
    walk.add_argument("--home", help="outputs and lineage here (AUTOTEST_HOME; its own lineage.sqlite unless --db)")
    walk.add_argument("--db", metavar="URL", help="lineage database URL (default: the home's SQLite, else AUTOTEST_DB_URL)")
    walk.add_argument("--no-report", action="store_true", help="skip the weekly HTML report (faster; lineage is the same)")
    walk.add_argument("--json", action="store_true", help="print the record as JSON")
    walk.set_defaults(func=_cmd_walkforward)
