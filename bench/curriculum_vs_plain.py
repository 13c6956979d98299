"""Curriculum against plain explorers, forward: should the recommended preset give explorer slots to the curriculum?

Two arms walk the same consecutive weekly cutoffs of 2023 (never 2024: that year is left for a final check)
through ``autotest walkforward`` (the weekly DAG's own task functions), each in its own home and lineage. Both
are the recommended shape of ``lineage_vs_scratch.py`` (explorers, top refiners at LR x0.5, champion at LR
x0.3, recommended universe and windows, the demo preset's small PPO, the same steps per week) and differ only
in ``curriculum.explorer_share``:

- **P (plain)**: ``explorer_share: 0``, the curriculum off (recommended today);
- **C (curriculum)**: ``explorer_share`` of the demo preset (``--share`` to change it), with the default
  stages and promotion rule that real presets get.

Every week's orders are marked over the following week by the paper ledger (net of cost and slippage), next
to 1/N of the same tickers at the same exposure.

    .venv/bin/python bench/curriculum_vs_plain.py --weeks 26 --scale 0.0008 --home var/bench-cvp   # ~15 min loaded
    .venv/bin/python bench/curriculum_vs_plain.py --weeks 2 --scale 0.0002 --home /tmp/cvp-smoke  # smoke test

Interrupted, it resumes (each arm's walk skips the weeks it has done). Prints the settings, each arm's forward
record and summary (mean weekly net, own-1/N mean, excess t-stat, weeks beating own 1/N), and last one JSON
object with those per arm and ``curriculum_minus_plain_t`` (paired over the weeks).
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

import numpy as np
import yaml
from lineage_vs_scratch import MILLION, by_week, parse_walk_args, recommended_shape, t_stat, walk_arm, walk_parser, write_presets

from autotest_lib.config import include_dir, load_preset
from autotest_lib.curriculum.candidates import curriculum_slots


def arm_presets(out: Path, explorers: int, refiners: int, share: float) -> tuple[Path, Path, int]:
    """Write the plain and curriculum presets under ``out``; return their paths and full-size steps per week."""
    shape, total = recommended_shape(explorers, refiners)
    plain = {"name": "bench_plain", "description": "recommended shape, curriculum off", **shape, "curriculum": {"explorer_share": 0.0}}
    curriculum = {
        "name": "bench_curriculum",
        "description": f"recommended shape, curriculum.explorer_share {share}",
        **shape,
        "curriculum": {"explorer_share": share},
    }
    plain_path, curriculum_path = write_presets(out, plain, curriculum)
    return plain_path, curriculum_path, total


def summary(record: Any) -> dict[str, Any]:
    """Mean weekly net, own-1/N mean, excess t-stat and weeks beating own 1/N of one arm's forward record."""
    net, own = by_week(record, "net_return"), by_week(record, "own_1n_return")
    return {
        "weeks_marked": record.marked,
        "mean_weekly_net": float(np.mean(list(net.values()))) if net else None,
        "own_1n_mean_weekly": float(np.mean(list(own.values()))) if own else None,
        "excess_vs_own_1n_t": t_stat([net[w] - own[w] for w in sorted(net) if w in own]),
        "beat_own_1n": record.beats["own_1n"],
        "cumulative": record.cumulative_return,
        "sharpe": record.sharpe,
    }


def main(argv: list[str] | None = None) -> int:
    demo_share = float(yaml.safe_load((include_dir() / "config" / "demo.yaml").read_text())["curriculum"]["explorer_share"])
    parser = walk_parser(__doc__.splitlines()[0], scale=0.0008, home="var/bench-curriculum-vs-plain")
    parser.add_argument("--explorers", type=int, default=3, help="explorers per week in both arms (default 3)")
    parser.add_argument("--refiners", type=int, default=2, help="refiners per week in both arms (default 2)")
    parser.add_argument("--share", type=float, default=demo_share, help=f"C's curriculum.explorer_share (default demo's {demo_share})")
    args = parse_walk_args(parser, argv)

    home = args.home.resolve()
    plain_preset, curriculum_preset, full_total = arm_presets(home / "presets", args.explorers, args.refiners, args.share)
    slots = curriculum_slots(load_preset(curriculum_preset))
    if slots == 0:
        parser.error(f"--share {args.share} x --explorers {args.explorers} rounds to 0 curriculum slots; raise --share or --explorers")
    steps = round(full_total * args.scale)
    print(
        f"curriculum vs plain: {args.weeks} weeks from {args.start}, {steps:,} steps/week per arm "
        f"({args.explorers + args.refiners + 1} models each; scale {args.scale} of {full_total / MILLION:g}M), "
        f"C: explorer_share {args.share} = {slots} of {args.explorers} explorer slots, seed {args.seed}, home {home}",
        flush=True,
    )
    plain, plain_info = walk_arm("P", plain_preset, home / "plain", args)
    curriculum, curriculum_info = walk_arm("C", curriculum_preset, home / "curriculum", args)

    arms = {"plain": summary(plain), "curriculum": summary(curriculum)}
    for name, info in (("plain", plain_info), ("curriculum", curriculum_info)):
        arms[name].update(info)
    for name, s in arms.items():
        print(
            f"{name}: mean weekly net {s['mean_weekly_net']}, own-1/N mean {s['own_1n_mean_weekly']}, "
            f"excess t {s['excess_vs_own_1n_t']}, beat own 1/N {s['beat_own_1n']}/{s['weeks_marked']} weeks",
            flush=True,
        )
    p_net, c_net = by_week(plain, "net_return"), by_week(curriculum, "net_return")
    paired = sorted(set(p_net) & set(c_net))
    result = {
        "weeks": args.weeks,
        "from": args.start.isoformat(),
        "steps_per_week": steps,
        "scale": args.scale,
        "explorer_share": args.share,
        "curriculum_slots": slots,
        "models_per_week": args.explorers + args.refiners + 1,
        "paired_weeks": len(paired),
        "curriculum_minus_plain_t": t_stat([c_net[w] - p_net[w] for w in paired]),
        **{f"{name}_{key}": value for name, s in arms.items() for key, value in s.items()},
    }
    print(json.dumps(result), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
