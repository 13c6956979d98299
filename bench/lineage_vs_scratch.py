"""Lineage against scratch, forward: does keeping and refining last week's best beat retraining from scratch?

Two arms walk the same consecutive weekly cutoffs of 2023 (never 2024: that year is left for a final check)
through ``autotest walkforward`` (the weekly DAG's own task functions), each in its own home and lineage:

- **L (lineage)**: the recommended shape: explorers, the top models refined at LR x0.5, the champion
  continued at LR x0.3, per-role timesteps in the recommended ratio 1.5 : 2 : 3;
- **S (scratch)**: the phase1 shape: explorers only, as many models per week as L trains.

Both arms have the same steps per week: the arm presets are written with full-size per-role timesteps of equal
weekly totals, then both are shrunk by the same ``--scale`` (the DAG's ``timesteps_scale``). The universe,
windows, costs and regime rules are the recommended preset's; PPO is the demo preset's small network so a
week fits in about a minute on two busy cores. Every week's orders are marked over the following week by the
paper ledger (net of cost and slippage on turnover), next to 1/N of the same tickers at the same exposure.

    .venv/bin/python bench/lineage_vs_scratch.py --home var/bench-lvs          # 26 weeks from 2023-01-08, ~30-60 min
    .venv/bin/python bench/lineage_vs_scratch.py --weeks 2 --scale 0.0002 --home /tmp/lvs-smoke   # smoke test

Cost: about 9 s of CPU per arm-week plus 1 s per 1,000 steps (measured here: 2,300 steps/week, 4 arm-weeks,
44 s CPU; 9,200 steps/week, 2 arm-weeks, 37 s CPU). The default 18,400 steps/week (``--scale 0.0016``) is about
27 s of CPU per arm-week, 26 weeks x 2 arms = 24 min of CPU: about 30 min on an otherwise idle 2-core machine,
about twice that while other jobs share it. Lower ``--scale`` if the machine is busy.

Interrupted, it resumes (each arm's walk skips the weeks it has done). Prints the settings, each arm's forward
record, and last one JSON object with ``weeks``, ``steps_per_week``, ``lineage_mean_weekly_net``,
``scratch_mean_weekly_net``, ``own_1n_mean_weekly`` (per arm), ``lineage_minus_scratch_t`` (paired over the
weeks) and ``lineage_excess_vs_own_1n_t``.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import math
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np
import yaml

from autotest_lib.cli.paper import render_record
from autotest_lib.config import include_dir, load_preset
from autotest_lib.paper.ledger import forward_record
from autotest_lib.registry import LineageStore
from autotest_lib.tasks.walkforward import WalkSpec, run_walk, walk_env

FIRST = dt.date(2023, 1, 8)
LAST_ALLOWED = dt.date(2023, 12, 31)  # the last cutoff's following week must end inside 2023
ROLE_RATIO = {"explorers": 1.5, "refiners": 2.0, "champion": 3.0}  # recommended: 1.5M / 2M / 3M per model
MILLION = 1_000_000


def recommended_shape(explorers: int, refiners: int, switch_margin: float | None = None) -> tuple[dict[str, Any], int]:
    """The recommended preset's shape at bench size: its roles (per-role timesteps in ``ROLE_RATIO``), universe and
    windows, the demo preset's small PPO; return the preset body (no name or description) and full-size steps per week."""
    recommended = yaml.safe_load((include_dir() / "config" / "recommended.yaml").read_text())
    demo = yaml.safe_load((include_dir() / "config" / "demo.yaml").read_text())
    timesteps = {role: round(ratio * MILLION) for role, ratio in ROLE_RATIO.items()}
    counts = {"explorers": explorers, "refiners": refiners, "champion": 1}
    body = {
        **{r: dict(recommended[r], count=counts[r], timesteps=timesteps[r]) for r in counts},
        "ppo": demo["ppo"],
        "search_space": demo["search_space"],
        "data": recommended["data"],
        "env": recommended.get("env", {}),  # costs and the learning options (scaling, conviction) of new models
        "regimes": dict(recommended.get("regimes", {})),  # the paper pick's rules, its switch margin included
        "checkpoint_every": MILLION,
        "keep_top_n": max(refiners + 1, 3),
    }
    if switch_margin is not None:
        body["regimes"]["switch_margin"] = switch_margin
    return body, sum(counts[r] * timesteps[r] for r in counts)


def write_presets(out: Path, *presets: dict[str, Any]) -> list[Path]:
    """Write each preset as ``out/<name>.yaml`` and load it back (fail now on a bad preset, not after an hour)."""
    out.mkdir(parents=True, exist_ok=True)
    paths = []
    for preset in presets:
        path = out / f"{preset['name']}.yaml"
        path.write_text(yaml.safe_dump(preset, sort_keys=False))
        load_preset(path)
        paths.append(path)
    return paths


def arm_presets(out: Path, explorers: int, refiners: int, switch_margin: float | None = None) -> tuple[Path, Path, int]:
    """Write the two arms' presets under ``out``; return their paths and the full-size steps per week."""
    shape, total = recommended_shape(explorers, refiners, switch_margin)
    models = explorers + refiners + 1
    lineage = {
        "name": "bench_lineage",
        "description": f"recommended shape: {explorers} explorers, top {refiners} refined at LR x0.5, champion at LR x0.3",
        **shape,
    }
    scratch = {
        "name": "bench_scratch",
        "description": f"phase1 shape: {models} explorers, nothing continued",
        **shape,
        "explorers": dict(shape["explorers"], count=models, timesteps=round(total / models)),
        "refiners": dict(shape["refiners"], count=0, timesteps=0),
        "champion": dict(shape["champion"], count=0, timesteps=0),
    }
    lineage_path, scratch_path = write_presets(out, lineage, scratch)
    return lineage_path, scratch_path, total


def by_week(record: Any, key: str) -> dict[str, float]:
    """``key`` of each marked week of a forward record, by ISO week."""
    return {r["week"].isoformat(): r[key] for r in record.rows if r["status"] == "marked" and r[key] is not None}


def t_stat(values: list[float]) -> float | None:
    """One-sample t statistic of the mean against 0: ``mean / (std / sqrt(n))``; None with < 2 values or no spread."""
    x = np.asarray(values, dtype=float)
    if x.size < 2 or float(np.std(x, ddof=1)) == 0.0:
        return None
    return float(x.mean() / (np.std(x, ddof=1) / math.sqrt(x.size)))


def actual_steps(url: str) -> float:
    """Mean steps actually trained per week (PPO rounds each model up to whole rollouts)."""
    with LineageStore(url) as store:
        runs = store.training_runs()
    by_week: dict[dt.date, int] = {}
    for r in runs:
        by_week[r.week] = by_week.get(r.week, 0) + r.steps_added
    return float(np.mean(list(by_week.values()))) if by_week else 0.0


def walk_arm(name: str, preset: Path, home: Path, args: argparse.Namespace) -> tuple[Any, dict[str, Any]]:
    started = time.monotonic()
    with walk_env(home):
        ledger = run_walk(WalkSpec(str(preset), args.start, args.weeks, scale=args.scale, seed=args.seed, report=False))
    wall = time.monotonic() - started
    record = forward_record(ledger)
    print(f"\n== arm {name} ({preset.stem}), {wall / 60:.1f} min\n{render_record(record)}", flush=True)
    return record, {"wall_s": round(wall, 1), "steps_trained_per_week": actual_steps(f"sqlite:///{home / 'lineage.sqlite'}")}


def walk_parser(description: str, *, scale: float, home: str) -> argparse.ArgumentParser:
    """A two-arm walk's arguments: ``--from``, ``--weeks``, ``--scale``, ``--seed``, ``--home``."""
    parser = argparse.ArgumentParser(description=description)
    parser.add_argument("--from", dest="start", type=dt.date.fromisoformat, default=FIRST, help="first cutoff, a Sunday of 2023")
    parser.add_argument("--weeks", type=int, default=26, help="consecutive weekly cutoffs (default 26)")
    parser.add_argument("--scale", type=float, default=scale, help=f"timesteps scale of both arms (default {scale})")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--home", type=Path, default=Path(home), help="one sub-folder per arm")
    return parser


def parse_walk_args(parser: argparse.ArgumentParser, argv: list[str] | None) -> argparse.Namespace:
    """Parse, refusing cutoffs outside 2023 (2024 is held out for a final check)."""
    args = parser.parse_args(argv)
    last = args.start + dt.timedelta(weeks=args.weeks)
    if last > LAST_ALLOWED or args.start.year != 2023:
        parser.error(f"cutoffs {args.start}..{last - dt.timedelta(weeks=1)} leave 2023: develop on 2023 only (2024 is held out)")
    return args


def main(argv: list[str] | None = None) -> int:
    parser = walk_parser(__doc__.splitlines()[0], scale=0.0016, home="var/bench-lineage-vs-scratch")
    parser.add_argument("--explorers", type=int, default=3, help="L's explorers (S trains explorers + refiners + 1 explorers)")
    parser.add_argument("--refiners", type=int, default=2, help="L's refiners (default 2)")
    parser.add_argument("--switch-margin", type=float, default=None, help="both arms' regimes.switch_margin (default: recommended's)")
    args = parse_walk_args(parser, argv)

    home = args.home.resolve()
    lineage_preset, scratch_preset, full_total = arm_presets(home / "presets", args.explorers, args.refiners, args.switch_margin)
    steps = round(full_total * args.scale)
    print(
        f"lineage vs scratch: {args.weeks} weeks from {args.start}, {steps:,} steps/week per arm "
        f"({args.explorers + args.refiners + 1} models each; scale {args.scale} of {full_total / MILLION:g}M), "
        f"seed {args.seed}, switch margin {load_preset(lineage_preset).regimes.switch_margin:g}, home {home}",
        flush=True,
    )
    lineage, lineage_info = walk_arm("L", lineage_preset, home / "lineage", args)
    scratch, scratch_info = walk_arm("S", scratch_preset, home / "scratch", args)

    l_net, s_net = by_week(lineage, "net_return"), by_week(scratch, "net_return")
    l_own, s_own = by_week(lineage, "own_1n_return"), by_week(scratch, "own_1n_return")
    paired = sorted(set(l_net) & set(s_net))
    mean = lambda d: float(np.mean(list(d.values()))) if d else None  # noqa: E731
    result = {
        "weeks": args.weeks,
        "weeks_marked": {"lineage": lineage.marked, "scratch": scratch.marked, "paired": len(paired)},
        "from": args.start.isoformat(),
        "steps_per_week": steps,
        "steps_trained_per_week": {"lineage": lineage_info["steps_trained_per_week"], "scratch": scratch_info["steps_trained_per_week"]},
        "models_per_week": args.explorers + args.refiners + 1,
        "lineage_mean_weekly_net": mean(l_net),
        "scratch_mean_weekly_net": mean(s_net),
        "own_1n_mean_weekly": {"lineage": mean(l_own), "scratch": mean(s_own)},
        "universe_1n_mean_weekly": mean(by_week(lineage, "universe_1n_return")),
        "spy_mean_weekly": mean(by_week(lineage, "benchmark_return")),
        # the excess split into what the orders earned before costs and what trading them cost
        "gross_excess_vs_own_1n_mean_weekly": {
            "lineage": mean({w: g - l_own[w] for w, g in by_week(lineage, "gross_return").items()}),
            "scratch": mean({w: g - s_own[w] for w, g in by_week(scratch, "gross_return").items()}),
        },
        "mean_weekly_turnover": {"lineage": mean(by_week(lineage, "turnover")), "scratch": mean(by_week(scratch, "turnover"))},
        "lineage_minus_scratch_t": t_stat([l_net[w] - s_net[w] for w in paired]),
        "lineage_excess_vs_own_1n_t": t_stat([l_net[w] - l_own[w] for w in sorted(l_net)]),
        "scratch_excess_vs_own_1n_t": t_stat([s_net[w] - s_own[w] for w in sorted(s_net)]),
        "cumulative": {"lineage": lineage.cumulative_return, "scratch": scratch.cumulative_return},
        "sharpe": {"lineage": lineage.sharpe, "scratch": scratch.sharpe},
        "beat_own_1n": {"lineage": lineage.beats["own_1n"], "scratch": scratch.beats["own_1n"]},
        "wall_s": {"lineage": lineage_info["wall_s"], "scratch": scratch_info["wall_s"]},
    }
    print(json.dumps(result), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
