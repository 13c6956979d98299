"""Does EWC reduce forgetting? A parent trained on an old window, continued on a newer one with and without EWC.

For each seed: a parent trains on window A (2014-2018), then continues on window B (2019-2021) at the
refiners' LR x0.5, once per EWC weight (0 = plain continuation). Every model is backtested (deterministic
policy, costs included) on A and B. Reported per weight, as the mean over seeds:

- **forgetting** = Sharpe on A of the parent - Sharpe on A of the child (the parent's-window score drop);
- **gain** = Sharpe on B of the child - Sharpe on B of the parent (what continuation bought on the new window).

Tiny budgets by default (minutes on a laptop); every window ends before 2023.

    python bench/ewc_forgetting.py [--parent-steps 16384] [--child-steps 8192] [--seeds 2] [--weights 0,10,100,1000]

The last line is one JSON object.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import tempfile
from pathlib import Path

import numpy as np
import torch

from autotest_lib.config import load_preset
from autotest_lib.evaluate import score
from autotest_lib.evaluate.bundles import backtest_bundle
from autotest_lib.train import TrainSpec, train

TICKERS = ("AAPL", "JPM", "KO", "MSFT", "WMT")
WINDOW_A = (dt.date(2014, 1, 2), dt.date(2019, 1, 2))
WINDOW_B = (dt.date(2019, 1, 2), dt.date(2022, 1, 3))


def _sharpe(bundle: str, window: tuple[dt.date, dt.date]) -> float:
    return score(backtest_bundle(bundle, start=window[0], end=window[1]))


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--parent-steps", type=int, default=16_384)
    ap.add_argument("--child-steps", type=int, default=8_192)
    ap.add_argument("--seeds", type=int, default=2)
    ap.add_argument("--weights", default="0,10,100,1000", help="comma-separated EWC weights; 0 = without EWC")
    args = ap.parse_args()
    torch.set_num_threads(1)
    weights = [float(w) for w in args.weights.split(",")]
    demo = load_preset("demo")
    env = demo.env.model_copy(update={"max_tickers": len(TICKERS)})
    ppo = demo.ppo.model_copy(update={"learning_rate": 1e-3})
    print(
        f"tickers {', '.join(TICKERS)}; parent on {WINDOW_A[0]}..{WINDOW_A[1]} x {args.parent_steps} steps, "
        f"children on {WINDOW_B[0]}..{WINDOW_B[1]} x {args.child_steps} steps at LR x0.5; weights {weights}"
    )

    def spec(model_id: str, seed: int, window, steps: int, parent: str | None = None, weight: float = 0.0) -> TrainSpec:
        return TrainSpec(
            model_id=model_id, role="refiner" if parent else "explorer", week=dt.date(2022, 1, 9), slot=0, tickers=TICKERS,
            train_start=window[0], train_end=window[1], cutoff=dt.date(2022, 1, 9), timesteps=steps, seed=seed, ppo=ppo, env=env,
            parent_id="parent" if parent else None, parent_bundle=parent, lr_multiplier=0.5 if parent else 1.0,
            lr_schedule="constant" if parent else "linear", checkpoint_every=10**9, ewc_weight=weight,
        )  # fmt: skip

    rows: dict[float, list[tuple[float, float]]] = {w: [] for w in weights}
    with tempfile.TemporaryDirectory() as tmp:
        for seed in range(args.seeds):
            parent = train(spec(f"p{seed}", seed, WINDOW_A, args.parent_steps), Path(tmp, f"p{seed}")).bundle_uri
            pa, pb = _sharpe(parent, WINDOW_A), _sharpe(parent, WINDOW_B)
            print(f"seed {seed}: parent Sharpe A {pa:.3f}  B {pb:.3f}")
            for w in weights:
                child = train(spec(f"c{seed}-{w:g}", seed, WINDOW_B, args.child_steps, parent, w), Path(tmp, f"c{seed}-{w:g}"))
                ca, cb = _sharpe(child.bundle_uri, WINDOW_A), _sharpe(child.bundle_uri, WINDOW_B)
                rows[w].append((pa - ca, cb - pb))
                penalty = [h["ewc_penalty"] for h in child.history if "ewc_penalty" in h]
                last = f"  final EWC penalty {penalty[-1]:.4f}" if penalty else ""
                print(f"  weight {w:>8g}: child Sharpe A {ca:.3f}  B {cb:.3f}  forgetting {pa - ca:+.3f}  gain {cb - pb:+.3f}{last}")
    summary = {
        f"{w:g}": {
            "forgetting": round(float(np.mean([f for f, _ in r])), 4),
            "gain": round(float(np.mean([g for _, g in r])), 4),
            "seeds": len(r),
        }
        for w, r in rows.items()
    }
    for w, s in summary.items():
        print(f"EWC weight {w:>8}: mean forgetting (Sharpe drop on A) {s['forgetting']:+.4f}, mean gain on B {s['gain']:+.4f}")
    print(json.dumps({"parent_steps": args.parent_steps, "child_steps": args.child_steps, "by_weight": summary}))


if __name__ == "__main__":
    main()
