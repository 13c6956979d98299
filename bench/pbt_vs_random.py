"""PBT against the same population trained independently, at equal total timesteps, on the bundled prices.

Both arms start from the same population: ``P`` members whose hyperparameters are sampled from the demo
preset's search space (the random search), the same training seeds, the same ``R`` rounds of ``I`` steps per
member (so ``P x R x I`` steps per arm). After every round but the last:

- **pbt**: the exploit/explore step of ``autotest_lib.pbt`` (truncation selection, quantile ``q``: the bottom
  members continue from copies of top members, hyperparameters x0.8 / x1.2);
- **independent**: every member just continues its own model with its own hyperparameters.

Scores are the project's ranking score (annualised Sharpe of the net daily returns) on the validation window
(the last 12 weeks before the cutoff, never trained on). The validation score of the **best** and the
**median** member after the last round are averaged over the seeds. Because PBT *selects on* the validation
window, its best validation score is optimistic; the script also reports, on a later held-out **test** window
(13 weeks after the cutoff), the score of the member each arm would pick (best on validation) and the median,
next to the Sharpe of equal-weight buy-and-hold of the same tickers and of SPY on both windows.

Identical trainings are shared between the arms (same spec => same bundle, the trainer is deterministic on
CPU): round 1, and every member whose whole lineage PBT never touched.

    .venv/bin/python bench/pbt_vs_random.py                 # ~5 minutes on 2 busy cores (default settings)
    .venv/bin/python bench/pbt_vs_random.py --quick         # ~1 minute: 4 members, 3 rounds

Prints the settings, one line per seed and arm, and last one JSON object with ``pbt_best``,
``independent_best``, ``pbt_median``, ``independent_median`` and ``seeds`` (plus test-window figures).
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np
import torch

from autotest_lib.config import load_preset
from autotest_lib.data import load_market
from autotest_lib.evaluate import backtest, policy_from_model, score
from autotest_lib.pbt.exploit import next_generation
from autotest_lib.pbt.population import RoundPlan, advance_plan, initial_plan
from autotest_lib.runs import WeekContext, week_windows
from autotest_lib.tasks.pbt import member_spec
from autotest_lib.train import load_model, spec_hash, train

CUTOFF = dt.date(2024, 6, 2)
TEST_END = dt.date(2024, 9, 1)


def _score_bundle(bundle: str, market: Any, env: Any, start: dt.date, end: dt.date, benchmarks: dict[str, float] | None = None) -> float:
    """The bundle's score over ``[start, end)``; fills ``benchmarks`` (name -> Sharpe) once, for context."""
    result = backtest(policy_from_model(load_model(bundle)), market, env, start=start, end=end)
    if benchmarks is not None and not benchmarks:
        benchmarks.update({name: round(float(b.metrics["sharpe"]), 4) for name, b in result.benchmarks.items()})
    return float(score(result))


def run_arm(arm: str, seed: int, args: argparse.Namespace, ctx: dict[str, Any]) -> dict[str, Any]:
    """Train one arm for one seed; return the last round's validation and test scores."""
    preset = ctx["preset"]
    plan: RoundPlan = initial_plan(f"bench{seed}", preset, ctx["tickers"], seed)
    rng = np.random.default_rng([seed, 12345])
    bundles: dict[str, str] = {}
    trained = reused = 0
    rounds: list[dict[str, Any]] = []
    for k in range(1, args.rounds + 1):
        scores: dict[str, float] = {}
        for m in plan.members:
            spec = member_spec(ctx["run"], preset, plan, m, bundles.get(m.parent_id) if m.parent_id else None)
            work = ctx["work"] / spec_hash(spec)[:20]  # same spec, same folder: shared between the arms
            reused += int((work / "bundle" / "manifest.json").is_file())
            result = train(spec, work, market=ctx["train_market"])
            trained += 1
            bundles[m.model_id] = result.bundle_uri
            key = result.bundle_uri
            if key not in ctx["val_cache"]:
                ctx["val_cache"][key] = _score_bundle(
                    key, ctx["val_market"], preset.env, ctx["val_start"], ctx["cutoff"], ctx["benchmarks"]["validation"]
                )
            scores[m.model_id] = ctx["val_cache"][key]
        finite = [s for s in scores.values() if np.isfinite(s)]
        rounds.append({"round": k, "best": max(finite), "median": statistics.median(finite)})
        if k == args.rounds:
            break
        replacements = []
        if arm == "pbt":
            params = {m.model_id: m.hyperparameters for m in plan.members}
            replacements = next_generation(scores, params, rng, preset.pbt, preset.search_space, round=k)
        plan = advance_plan(plan, replacements, seed)
    last = {m.model_id: scores[m.model_id] for m in plan.members}
    selected = max(last, key=lambda mid: (last[mid], mid))
    bench_test = ctx["benchmarks"]["test"]
    test = {mid: _score_bundle(bundles[mid], ctx["test_market"], preset.env, ctx["cutoff"], TEST_END, bench_test) for mid in last}
    return {
        "arm": arm,
        "seed": seed,
        "best": max(last.values()),
        "median": statistics.median(last.values()),
        "selected_test": test[selected],
        "median_test": statistics.median(test.values()),
        "best_test": max(test.values()),
        "rounds": rounds,
        "trainings": trained,
        "shared_with_other_arm": reused,
        "learning_rates": sorted(round(m.hyperparameters.learning_rate, 6) for m in plan.members),
    }


def main(argv: list[str] | None = None) -> dict[str, Any]:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--population", type=int, default=8, help="members P (default 8)")
    parser.add_argument("--rounds", type=int, default=8, help="rounds R (default 8)")
    parser.add_argument("--interval", type=int, default=4096, help="steps per member per round I (default 4096)")
    parser.add_argument("--quantile", type=float, default=0.25, help="truncation quantile q (default 0.25)")
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2, 3, 4], help="seeds (default 0 1 2 3 4)")
    parser.add_argument("--quick", action="store_true", help="4 members, 3 rounds, 1024 steps, seeds 0 1 2")
    args = parser.parse_args(argv)
    if args.quick:
        args.population, args.rounds, args.interval = 4, 3, 1024
    torch.set_num_threads(1)
    started = time.perf_counter()

    preset = load_preset(
        "demo", {"pbt": {"population": args.population, "interval_steps": args.interval, "quantile": args.quantile, "burn_in_rounds": 0}}
    )
    windows = week_windows(CUTOFF, preset)
    tickers = sorted(preset.data.universe)[: preset.env.max_tickers]
    fs, src = preset.env.feature_set, preset.data.source
    with tempfile.TemporaryDirectory(prefix="pbt_bench_") as tmp:
        ctx = {
            "preset": preset,
            "tickers": tickers,
            "cutoff": CUTOFF,
            "val_start": windows.validation_start,
            "run": WeekContext(cutoff=CUTOFF, preset=preset.name, windows=windows, home=Path("var")),
            "work": Path(tmp),
            "train_market": load_market(tickers, start=windows.train_start, cutoff=windows.train_end, feature_set=fs, source=src),
            "val_market": load_market(tickers, start=windows.validation_start, cutoff=CUTOFF, feature_set=fs, source=src),
            "test_market": load_market(tickers, start=CUTOFF, cutoff=TEST_END, feature_set=fs, source=src),
            "val_cache": {},
            "benchmarks": {"validation": {}, "test": {}},
        }
        total = args.population * args.rounds * args.interval
        print(
            f"settings: population {args.population}, rounds {args.rounds}, interval {args.interval} steps/member, quantile "
            f"{args.quantile}; {total:,} steps per arm per seed (equal for both arms); seeds {args.seeds}\n"
            f"data: bundled prices, tickers {', '.join(tickers)}; train {windows.train_start}..{windows.train_end}, "
            f"validation {windows.validation_start}..{CUTOFF}, held-out test {CUTOFF}..{TEST_END}; "
            f"demo PPO (n_envs {preset.ppo.n_envs}, n_epochs {preset.ppo.n_epochs}), hyperparameters from the demo search space",
            flush=True,
        )
        results = []
        for seed in args.seeds:
            for arm in ("independent", "pbt"):
                t0 = time.perf_counter()
                r = run_arm(arm, seed, args, ctx)
                r["wall_s"] = round(time.perf_counter() - t0, 1)
                results.append(r)
                per_round = " ".join(f"{x['best']:.2f}" for x in r["rounds"])
                print(
                    f"seed {seed} {arm:<11}: validation best {r['best']:.3f} median {r['median']:.3f} | test of the pick "
                    f"{r['selected_test']:.3f} median {r['median_test']:.3f} | per round best "
                    f"{per_round} | {r['wall_s']}s",
                    flush=True,
                )

    def mean(arm: str, key: str) -> float:
        return round(float(np.mean([r[key] for r in results if r["arm"] == arm])), 4)

    wins = {
        key: sum(
            next(r for r in results if r["arm"] == "pbt" and r["seed"] == s)[key]
            > next(r for r in results if r["arm"] == "independent" and r["seed"] == s)[key]
            for s in args.seeds
        )
        for key in ("best", "median", "selected_test", "median_test")
    }
    summary = {
        "pbt_best": mean("pbt", "best"),
        "independent_best": mean("independent", "best"),
        "pbt_median": mean("pbt", "median"),
        "independent_median": mean("independent", "median"),
        "seeds": list(args.seeds),
        "pbt_selected_test": mean("pbt", "selected_test"),
        "independent_selected_test": mean("independent", "selected_test"),
        "pbt_median_test": mean("pbt", "median_test"),
        "independent_median_test": mean("independent", "median_test"),
        "pbt_wins_per_seed": wins,
        "benchmark_sharpe": ctx["benchmarks"],
        "per_seed": [{k: (round(v, 4) if isinstance(v, float) else v) for k, v in r.items() if k != "rounds"} for r in results],
        "settings": {
            "population": args.population,
            "rounds": args.rounds,
            "interval_steps": args.interval,
            "quantile": args.quantile,
            "steps_per_arm_per_seed": args.population * args.rounds * args.interval,
            "cutoff": CUTOFF.isoformat(),
            "test_end": TEST_END.isoformat(),
            "score": "annualised Sharpe of net daily returns",
        },
        "wall_s": round(time.perf_counter() - started, 1),
    }
    print(json.dumps(summary))
    return summary


if __name__ == "__main__":
    main(sys.argv[1:])
