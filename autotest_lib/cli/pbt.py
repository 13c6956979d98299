"""``autotest pbt ...``: a member's history and the population's hyperparameter trajectories.

    autotest pbt history pbt-main-m03            # the slot's rounds: train, copy-from, mutate
    autotest pbt history pbt-main-m03-r005 --follow-copies   # the weights' chain, through every copy
    autotest pbt trajectories --population main  # score, learning rate, clip range, entropy per round and slot

Wired into the main parser by :func:`autotest_lib.cli.build_parser` calling :func:`register`. Both commands take
``--json`` and ``--db URL`` like every other reading command.
"""

from __future__ import annotations

import argparse
from typing import Any

from autotest_lib.cli.tables import emit, format_table, open_store, reader_options
from autotest_lib.pbt.population import HistoryEvent, member_history, populations, trajectories

__all__ = ["register"]


def _short(value: Any) -> str:
    return f"{value:.3g}" if isinstance(value, float) else str(value)


def _describe(event: HistoryEvent) -> str:
    d = event.detail
    if event.event == "train":
        parent = f" from {d['parent_id']}" if d.get("parent_id") else " (new)"
        return f"+{d.get('steps_added') or '?'} steps{parent}, lr {_short(d.get('learning_rate'))}, clip {_short(d.get('clip_range'))}"
    if event.event == "copy-from":
        return (
            f"replaced {d['replaced']} (score {_short(d['replaced_score'])}) by a copy of {d['winner']} "
            f"(score {_short(d['winner_score'])}) after round {d['after_round']}"
        )
    return "; ".join(f"{k} {_short(a)} -> {_short(b)}" for k, (a, b) in sorted(d.get("mutations", {}).items())) or "(no change)"


def _cmd_history(args: argparse.Namespace) -> int:
    with open_store(args) as store:
        events = member_history(store, args.member, follow_copies=args.follow_copies)

    def render() -> str:
        rows = [[e.round, e.week, e.event, e.model_id, e.detail.get("score") if e.event == "train" else None, _describe(e)] for e in events]
        kind = "weights through copies" if args.follow_copies else "slot"
        return f"history of {args.member} ({kind})\n" + format_table(["round", "week", "event", "model", "score", "detail"], rows)

    return emit(args, {"member": args.member, "follow_copies": args.follow_copies, "events": [e.to_dict() for e in events]}, render)


def _cmd_trajectories(args: argparse.Namespace) -> int:
    with open_store(args) as store:
        names = [args.population] if args.population else populations(store)
        points = [p for name in names for p in trajectories(store, name)]
    if args.population and not points:
        raise LookupError(f"population {args.population!r} has no completed round")

    def render() -> str:
        rows = [
            [
                p.population,
                p.round,
                p.week,
                f"m{p.slot:02d}",
                p.score,
                f"{p.learning_rate:.3g}",
                f"{p.clip_range:.3g}",
                f"{p.ent_coef:.3g}",
                p.n_steps,
                p.copied_from,
                p.replaced,
            ]
            for p in sorted(points, key=lambda p: (p.population, p.round, p.slot))
        ]
        headers = [
            "population",
            "round",
            "week",
            "slot",
            "score",
            "learning_rate",
            "clip_range",
            "ent_coef",
            "n_steps",
            "copied_from",
            "replaced",
        ]
        return "PBT hyperparameter trajectories (replaced = continued from a copy after this round)\n" + format_table(headers, rows)

    return emit(args, [p.to_dict() for p in points], render)


def register(subparsers: Any) -> argparse.ArgumentParser:
    """Add ``pbt history`` and ``pbt trajectories`` to the ``autotest`` sub-commands.

    :param subparsers: the object returned by ``parser.add_subparsers()`` of the main parser.
    :returns: the ``pbt`` parser.
    """
    common = reader_options()

    pbt = subparsers.add_parser("pbt", help="population-based training: member histories and hyperparameter trajectories")
    sub = pbt.add_subparsers(dest="pbt_command", required=True, metavar="ACTION")
    history = sub.add_parser("history", parents=common, help="a member's chain of train / copy-from / mutate events")
    history.add_argument("member", help="a slot (pbt-main-m03) or a version (pbt-main-m03-r005)")
    history.add_argument("--follow-copies", action="store_true", help="follow the weights through each copy instead of the slot")
    history.set_defaults(func=_cmd_history)
    traj = sub.add_parser("trajectories", parents=common, help="score and hyperparameters of every member, round by round")
    traj.add_argument("--population", help="one population (default: all)")
    traj.set_defaults(func=_cmd_trajectories)
    return pbt
