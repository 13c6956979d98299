"""``autotest``: the command line of AUTOTEST (schema upgrades, budgets, and lineage questions).

Every reading command prints an aligned table, or JSON with ``--json``; ``--db URL`` picks the lineage
database (else ``AUTOTEST_DB_URL``, the Airflow connection ``autotest_lineage``, or ``var/lineage.sqlite``).
Errors print one line to stderr and exit with status 2. Table and JSON helpers: :mod:`autotest_lib.cli.tables`;
``autotest pbt ...``: :mod:`autotest_lib.cli.pbt`.

    autotest db upgrade                      # alembic upgrade head
    autotest budget recommended              # steps per role of a preset
    autotest leaderboard --week 2024-09-08   # models of that week by validation score
    autotest lineage 2024-09-08-refiner-00   # root -> model, with training and scores
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import sys
from collections.abc import Sequence

from autotest_lib.cli.paper import register as register_paper
from autotest_lib.cli.pbt import register as register_pbt
from autotest_lib.cli.tables import CliError, emit, format_table, open_store, parse_date, reader_options
from autotest_lib.config import budget_split, load_preset
from autotest_lib.errors import AutotestError, redact
from autotest_lib.evaluate.own_1n import beats_own_1n, own_1n_scores
from autotest_lib.registry import current_revision, head_revision, mask_url, resolve_db_url, schema_diff, upgrade
from autotest_lib.runs import WeekPaths, autotest_home

__all__ = ["build_parser", "format_table", "main"]


# -- commands -----------------------------------------------------------------------------------------------


def _cmd_db(args: argparse.Namespace) -> int:
    url = resolve_db_url(args.db)
    if args.db_command == "upgrade":
        rev = upgrade(url, args.revision)
        print(f"lineage database {mask_url(url)} is at revision {rev} (head {head_revision()})")
    elif args.db_command == "current":
        print(f"{mask_url(url)}: revision {current_revision(url) or '(none)'}, head {head_revision()}")
    elif args.db_command == "check":
        diff = schema_diff(url)
        if diff:
            print(f"{mask_url(url)} differs from the models in {len(diff)} place(s); add a revision:", file=sys.stderr)
            for item in diff:
                print(f"  {item}", file=sys.stderr)
            return 1
        print(f"{mask_url(url)} matches the models")
    elif args.db_command == "revision":
        from autotest_lib.registry.migrate import make_revision

        print(make_revision(args.message, url, autogenerate=not args.empty))
    return 0


def _cmd_budget(args: argparse.Namespace) -> int:
    split = budget_split(load_preset(args.preset))
    if args.json:
        print(json.dumps(split.as_dict(), indent=2))
    else:
        print(split.table())
    return 0


def _cmd_lineage(args: argparse.Namespace) -> int:
    with open_store(args) as store:
        steps = store.ancestry(args.model_id)

    def render() -> str:
        rows = []
        for step in steps:
            m = step.model
            scores = [e.score for e in step.evaluations if e.window_name == args.window and e.score is not None]
            added = sum(r.steps_added for r in step.training_runs)
            diff = "; ".join(f"{k} {a}->{b}" for r in step.training_runs for k, (a, b) in r.hyperparameter_diff.items())
            rows.append(
                [
                    m.generation,
                    m.model_id,
                    m.role,
                    m.status,
                    m.created_week,
                    added,
                    m.cumulative_timesteps,
                    scores[-1] if scores else None,
                    diff or "-",
                ]
            )
        last = steps[-1].model
        title = f"lineage of {last.model_id} (root {last.root_id}, generation {last.generation}); score = {args.window}"
        headers = ["gen", "model_id", "role", "status", "week", "steps_added", "total_steps", "score", "hyperparameter changes"]
        return title + "\n" + format_table(headers, rows)

    return emit(args, steps, render)


def _cmd_leaderboard(args: argparse.Namespace) -> int:
    from autotest_lib.evaluate.verdicts import THRESHOLDS, convergence_verdict, metric_labels, verdict_text

    week = parse_date(args.week, "--week")
    if args.limit is not None and args.limit < 1:
        raise CliError(f"--limit {args.limit} is not a number of rows; give a positive count, e.g. --limit 10, or leave it out for all")
    with open_store(args) as store:
        week = week or store.latest_evaluated_week(args.window)
        rows = store.leaderboard(week, args.window, limit=args.limit) if week else ()
        histories = {r.model_id: r.history for r in store.training_runs(week=week)} if week else {}
        own = own_1n_scores(store, week, args.window) if week else {}
    labels = {r.model_id: metric_labels(r.metrics) for r in rows}
    convergence = {r.model_id: convergence_verdict(histories[r.model_id]) for r in rows if r.model_id in histories}

    def render() -> str:
        title = f"week {week or '-'}, window {args.window}"
        body = [
            [
                r.rank, r.model_id, r.role, r.generation, r.parent_id, r.status, r.score,
                own.get(r.model_id), beats_own_1n(r.score, own.get(r.model_id)), r.n_trials,
                verdict_text(labels[r.model_id]), convergence[r.model_id].text() if r.model_id in convergence else "-",
            ]
            for r in rows
        ]  # fmt: skip
        headers = ["rank", "model_id", "role", "gen", "parent", "status", "score", "own 1/N", "beats 1/N", "trials", "verdict"]
        headers.append("convergence (this week)")
        return title + "\n" + format_table(headers, body) + "\n" + THRESHOLDS

    verdicts = {
        mid: {
            "labels": {k: lab.__dict__ for k, lab in labels[mid].items()},
            "convergence": c.as_dict() if (c := convergence.get(mid)) else None,
        }
        for mid in labels
    }
    return emit(args, {"week": week, "window": args.window, "rows": rows, "verdicts": verdicts, "own_1n": own}, render)


def _cmd_week(args: argparse.Namespace) -> int:
    """Where one week's outputs are, and what it decided."""
    week = parse_date(args.week, "week")
    assert week is not None  # a required argument
    paths = WeekPaths(autotest_home(), week)
    with open_store(args) as store:
        record = store.get_week(week)
        if record is None:
            raise CliError(f"week {week} is not in {mask_url(resolve_db_url(args.db))}; run the DAG for it first")
        champion = store.current_champion(before_week=week + dt.timedelta(days=1))
        board = store.leaderboard(week)
    selection = paths.selection
    payload = {
        "week": week,
        "status": record.status,
        "preset": record.preset,
        "lineage_db": mask_url(resolve_db_url(args.db)),
        "report": str(paths.report / "index.html"),
        "orders_csv": str(paths.orders / "orders.csv"),
        "orders_json": str(paths.orders / "orders.json"),
        "archive": str(paths.archive),
        "champion": champion.model_id if champion else None,
        "champion_rule": champion.rule if champion else None,
        "selection": json.loads(selection.read_text()) if selection.is_file() else None,
        "leaderboard": board,
    }

    def render() -> str:
        lines = [f"week {week} ({record.preset}): {record.status}"]
        for key in ("report", "orders_csv", "lineage_db", "archive"):
            lines.append(f"  {key:<11} {payload[key]}")
        if champion:
            lines.append(f"  champion    {champion.model_id}  ({champion.rule})")
        body = [[r.rank, r.model_id, r.role, r.generation, r.parent_id, r.status, r.score] for r in board]
        lines.append(format_table(["rank", "model_id", "role", "gen", "parent", "status", "score"], body))
        return "\n".join(lines)

    return emit(args, payload, render)


def _cmd_champions(args: argparse.Namespace) -> int:
    with open_store(args) as store:
        history, stints = store.champion_history(), store.champion_longevity()

    def render() -> str:
        top = format_table(
            ["week", "champion", "rule", "score", "previous"], [[c.week, c.model_id, c.rule, c.score, c.previous_model_id] for c in history]
        )
        bottom = format_table(
            ["champion", "from", "to", "weeks", "current"], [[s.model_id, s.from_week, s.to_week, s.weeks_held, s.current] for s in stints]
        )
        return f"champion history\n{top}\n\nlongevity\n{bottom}"

    return emit(args, {"history": history, "longevity": stints}, render)


def _cmd_improvement(args: argparse.Namespace) -> int:
    with open_store(args) as store:
        report = store.generation_improvement(args.window)

    def render() -> str:
        rows: list[list[object]] = [[s.generation, s.children, s.improved, s.share] for s in report.by_generation]
        rows.append(["all", report.overall.children, report.overall.improved, report.overall.share])
        title = f"children beating their parent ({args.window}, same week)"
        return title + "\n" + format_table(["generation", "children", "improved", "share"], rows)

    return emit(args, report, render)


def _cmd_trend(args: argparse.Namespace) -> int:
    """Week over week: the forward record first (orders marked over the following week, against 1/N of their own
    tickers), then the best validation score per week, which moves with its window and so is no forward measure."""
    with open_store(args) as store:
        ledger = store.paper_ledger()
        points = store.weekly_trend(args.window)
    forward = []
    cumulative = 1.0
    for e in ledger:
        excess = None if e.net_return is None or e.own_1n_return is None else e.net_return - e.own_1n_return
        if e.net_return is not None:
            cumulative *= 1.0 + e.net_return
        forward.append(
            {"week": e.week, "status": e.status, "model_id": e.model_id, "net_return": e.net_return, "own_1n_return": e.own_1n_return,
             "excess_vs_own_1n": excess, "cumulative_net": cumulative - 1.0, "reason": e.reason}
        )  # fmt: skip

    def render() -> str:
        pct = lambda x: None if x is None else round(100 * x, 3)  # noqa: E731
        rows = [[f["week"], f["status"], f["model_id"], pct(f["net_return"]), pct(f["own_1n_return"]), pct(f["excess_vs_own_1n"]),
                 pct(f["cumulative_net"])] for f in forward]  # fmt: skip
        top = "forward, week over week (net of costs, marked over the following week; `autotest paper` for the summary)\n"
        top += format_table(["week", "status", "model", "net %", "own 1/N %", "excess %", "cum %"], rows)
        if not forward:
            top += "\n(no week marked yet: a week's orders are marked when the next week runs)"
        trend = [[p.week, p.model_id, p.best_score, p.change, p.n_models] for p in points]
        bottom = f"best {args.window} score per week (its window moves every week: not a forward measure)\n"
        return top + "\n\n" + bottom + format_table(["week", "best model", "score", "change", "models"], trend)

    return emit(args, {"forward": forward, args.window: points}, render)


def _cmd_models(args: argparse.Namespace) -> int:
    week = parse_date(args.week, "--week")
    with open_store(args) as store:
        models = store.list_models(status=args.status, role=args.role, week=week)

    def render() -> str:
        rows = [
            [m.model_id, m.role, m.status, m.generation, m.parent_id, m.root_id, m.created_week, m.cumulative_timesteps] for m in models
        ]
        return format_table(["model_id", "role", "status", "gen", "parent", "root", "week", "steps"], rows)

    return emit(args, models, render)


def _cmd_consistency(args: argparse.Namespace) -> int:
    """Seeds of one preset's explorer, same hyperparameters and tickers: the spread of their validation Sharpe."""
    import tempfile
    from pathlib import Path

    from autotest_lib.config import load_preset
    from autotest_lib.runs.windows import last_completed_week
    from autotest_lib.weekly.consistency import seed_consistency

    preset = load_preset(args.preset)
    week = parse_date(args.week, "--week") or last_completed_week(dt.datetime.now(dt.UTC).date())
    with tempfile.TemporaryDirectory() as tmp:
        runs, s = seed_consistency(
            preset,
            week,
            args.seeds,
            Path(args.out or tmp),
            tickers=args.tickers.split(",") if args.tickers else None,
            timesteps=args.timesteps,
        )

    def render() -> str:
        title = f"preset {preset.name}, week {week}: validation Sharpe of {s.n} seeds (same hyperparameters and tickers)"
        table = format_table(["seed", "sharpe"], [[r.seed, r.sharpe] for r in runs])
        summary = f"median {s.median:.4f}  Q1 {s.q1:.4f}  Q3 {s.q3:.4f}  IQR {s.iqr:.4f}  range [{s.low:.4f}, {s.high:.4f}]"
        return f"{title}\n{table}\n{summary}"

    return emit(args, {"preset": preset.name, "week": week, "runs": runs, "spread": s}, render)


# -- parser -------------------------------------------------------------------------------------------------


def _cmd_trigger(args: argparse.Namespace) -> int:
    from autotest_lib.trigger import RunExistsError, trigger_week

    week = parse_date(args.week, "--week")
    if week is None:
        raise CliError("--week is required: the week's cutoff, a Sunday YYYY-MM-DD")
    try:
        conf = json.loads(args.conf)
    except ValueError as exc:
        raise CliError(f'--conf is not JSON ({exc}); pass an object such as \'{{"preset": "demo"}}\'') from exc
    if not isinstance(conf, dict):
        raise CliError(f"--conf must be a JSON object of params, got {type(conf).__name__}")
    try:
        run = trigger_week(week, conf, dag_id=args.dag_id)
    except RunExistsError as exc:
        raise CliError(str(exc)) from exc
    except Exception as exc:  # Airflow's own refusals: unknown DAG, params that fail the DAG's schema
        if type(exc).__name__ in ("DagNotFound", "ParamValidationError"):
            raise CliError(f"{type(exc).__name__}: {exc}") from exc
        raise
    print(
        f"queued {run.dag_id} run {run.run_id}: cutoff {run.data_interval_end:%Y-%m-%d %H:%M} UTC "
        f"(data interval {run.data_interval_start:%Y-%m-%d} -> {run.data_interval_end:%Y-%m-%d})"
    )
    return 0


def build_parser() -> argparse.ArgumentParser:
    """The ``autotest`` argument parser (one sub-command per question)."""
    reader = reader_options()
    from_db, as_json = reader
    window = argparse.ArgumentParser(add_help=False)
    window.add_argument("--window", default="validation", help="evaluation window name (default: validation)")

    parser = argparse.ArgumentParser(prog="autotest", description="AUTOTEST: weekly PPO retraining with lineage.")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    db = sub.add_parser("db", help="lineage database schema (Alembic)")
    db_sub = db.add_subparsers(dest="db_command", required=True, metavar="ACTION")
    up = db_sub.add_parser("upgrade", parents=[from_db], help="migrate the database to the newest schema")
    up.add_argument("revision", nargs="?", default="head", help="target revision (default: head)")
    db_sub.add_parser("current", parents=[from_db], help="show the database's revision")
    db_sub.add_parser("check", parents=[from_db], help="exit 1 if the models and the database differ")
    rev = db_sub.add_parser("revision", parents=[from_db], help="write a new revision from the model/database difference (developers)")
    rev.add_argument("-m", "--message", required=True, help="what the revision changes")
    rev.add_argument("--empty", action="store_true", help="write an empty revision instead of autogenerating")
    db.set_defaults(func=_cmd_db)

    budget = sub.add_parser("budget", parents=[as_json], help="steps per role of a preset")
    budget.add_argument("preset", help="preset name (include/config/NAME.yaml) or path")
    budget.set_defaults(func=_cmd_budget)

    lineage = sub.add_parser("lineage", parents=[*reader, window], help="root -> model with training runs and scores")
    lineage.add_argument("model_id")
    lineage.set_defaults(func=_cmd_lineage)

    board = sub.add_parser("leaderboard", parents=[*reader, window], help="models of one week ranked by score")
    board.add_argument("--week", help="logical date YYYY-MM-DD (default: latest evaluated week)")
    board.add_argument("--limit", type=int, help="show the top N only")
    board.set_defaults(func=_cmd_leaderboard)

    week = sub.add_parser("week", parents=reader, help="a week's outputs (report, orders), champion and leaderboard")
    week.add_argument("week", metavar="DATE", help="the week's cutoff, YYYY-MM-DD")
    week.set_defaults(func=_cmd_week)

    sub.add_parser("champions", parents=reader, help="champion history and longevity").set_defaults(func=_cmd_champions)
    sub.add_parser("improvement", parents=[*reader, window], help="share of children beating their parent").set_defaults(
        func=_cmd_improvement
    )
    sub.add_parser(
        "trend", parents=[*reader, window], help="week over week: the forward record, then the best validation score"
    ).set_defaults(func=_cmd_trend)

    trig = sub.add_parser("trigger", help="queue a run of the weekly DAG for a past week (right cutoff, unlike `airflow dags trigger -l`)")
    trig.add_argument("--week", required=True, metavar="DATE", help="the week's cutoff, a Sunday YYYY-MM-DD")
    trig.add_argument("--conf", default="{}", metavar="JSON", help='the run\'s params, e.g. \'{"preset": "demo"}\'')
    trig.add_argument("--dag-id", default="autotest_weekly", help="the DAG (default: autotest_weekly)")
    trig.set_defaults(func=_cmd_trigger)

    models = sub.add_parser("models", parents=reader, help="registered models")
    models.add_argument("--status", help="planned, active, archived, retired, rolled_back or failed")
    models.add_argument("--role", help="explorer, refiner, champion or pbt")
    models.add_argument("--week", help="created in this week (YYYY-MM-DD)")
    models.set_defaults(func=_cmd_models)
    cons = sub.add_parser("consistency", parents=[as_json], help="spread (IQR) of validation Sharpe across seeds of one preset")
    cons.add_argument("--preset", required=True, help="preset name or path")
    cons.add_argument("--seeds", type=int, default=4, help="number of seeds, at least 2 (default 4)")
    cons.add_argument("--week", help="cutoff YYYY-MM-DD (default: the last completed week)")
    cons.add_argument("--tickers", help="comma-separated tickers (default: the first of the preset's universe)")
    cons.add_argument("--timesteps", type=int, help="steps per model (default: the preset's explorer budget)")
    cons.add_argument("--out", help="keep the trained bundles in this folder (default: a temporary one)")
    cons.set_defaults(func=_cmd_consistency)
    register_pbt(sub)
    register_paper(sub)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Run the ``autotest`` command line.

    :param argv: arguments without the program name; None reads ``sys.argv``.
    :return: exit status: 0 ok, 1 ``db check`` found a difference, 2 a usage or data error.
    """
    args = build_parser().parse_args(argv)
    try:
        return int(args.func(args) or 0)
    except KeyboardInterrupt:
        return 130
    except BrokenPipeError:  # `autotest ... | head`: stop quietly
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 1
    except Exception as exc:
        if not _is_user_error(exc):
            raise
        print(f"autotest: error: {redact(_one_line(exc, args))}", file=sys.stderr)
        return 2


def _one_line(exc: Exception, args: argparse.Namespace) -> str:
    """The first line of the error; a database's own error also names the database and the fix."""
    message = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
    if type(exc).__module__.startswith("sqlalchemy.exc") and hasattr(exc, "orig"):
        from autotest_lib.registry.db import mask_url, resolve_db_url

        try:
            where = mask_url(resolve_db_url(getattr(args, "db", None)))
        except Exception:  # the URL itself is what is wrong
            where = "the lineage database"
        orig = str(exc.orig).strip().splitlines()[0] if str(exc.orig).strip() else type(exc.orig).__name__
        return (
            f"{where} refused the request ({type(exc.orig).__name__}: {orig}); check --db / AUTOTEST_DB_URL and run `autotest db upgrade`"
        )
    return message


def _is_user_error(exc: Exception) -> bool:
    """Errors that mean 'wrong input or unreachable database', not a bug: reported in one line."""
    if isinstance(exc, (CliError, AutotestError, ValueError, LookupError)):
        return True
    if type(exc).__module__.startswith("sqlalchemy.exc"):
        from sqlalchemy.exc import ArgumentError, DBAPIError, NoSuchModuleError

        return isinstance(exc, (DBAPIError, ArgumentError, NoSuchModuleError))
    return False
