"""Does PPO with the preset's throughput-minded defaults still learn? A learning curve on the bundled prices.

Trains one model with the ``recommended`` preset's PPO hyperparameters (16 envs, n_steps 256, batch 1024,
5 epochs, [64, 64]) in chunks, and after each chunk backtests the deterministic policy on the training window
next to a random-action policy (mean of several seeds) and equal-weight buy-and-hold. The model "learns" when
its training-window Sharpe rises above the random policy's.

    python bench/learning_curve.py [--steps 2000000] [--chunks 10] [--tickers 10]

The last line is one JSON object.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import tempfile
import time

import numpy as np
import torch

from autotest_lib.config import load_preset
from autotest_lib.data import load_market
from autotest_lib.evaluate.backtest import backtest
from autotest_lib.train import TrainSpec, load_model, train

TICKERS = ("AAPL", "AMGN", "AXP", "CAT", "HD", "JNJ", "JPM", "KO", "MSFT", "WMT", "PG", "MCD", "IBM", "INTC", "MRK")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--steps", type=int, default=2_000_000)
    ap.add_argument("--chunks", type=int, default=10)
    ap.add_argument("--tickers", type=int, default=10)
    ap.add_argument("--seed", type=int, default=0)
    args = ap.parse_args()
    torch.set_num_threads(1)

    preset = load_preset("recommended")
    env = preset.env.model_copy(update={"max_tickers": args.tickers})
    tickers = TICKERS[: args.tickers]
    start, end = dt.date(2012, 1, 3), dt.date(2020, 1, 2)
    market = load_market(list(tickers), start=start, cutoff=end, feature_set=env.feature_set)
    oos_end = dt.date(2021, 1, 4)  # the year after the training window: never trained on
    oos = load_market(list(tickers), start=end, cutoff=oos_end, feature_set=env.feature_set)
    chunk = args.steps // args.chunks
    print(f"PPO {preset.ppo.model_dump()} on {len(tickers)} tickers, training window {start}..{end}, {args.steps} steps")

    rng = np.random.default_rng(123)
    random_sharpes = []
    for _ in range(5):
        r = backtest(lambda obs: rng.uniform(-1, 1, env.max_tickers + 1), market, env, start=start, end=end)
        random_sharpes.append(r.metrics["sharpe"])
    random_sharpe = float(np.mean(random_sharpes))
    bh = r.benchmarks["buy_and_hold"].metrics
    print(f"random actions: Sharpe {random_sharpe:.3f} (5 seeds)")
    print(f"equal-weight buy-and-hold: Sharpe {bh['sharpe']:.3f}, return {bh['total_return']:.3f} (2012-2019)")

    curve = []

    def measure(model, steps: int, speed: int | None) -> None:
        """Backtest the deterministic policy on the training window and on 2020; add a row to the curve."""
        policy = lambda obs: model.predict(obs, deterministic=True)[0]  # noqa: E731
        bt = backtest(policy, market, env, start=start, end=end)
        oos_bt = backtest(policy, oos, env, start=end, end=oos_end)
        row = {
            "steps": steps,
            "sharpe": round(bt.metrics["sharpe"], 4),
            "oos_sharpe": round(oos_bt.metrics["sharpe"], 4),
            "total_return": round(bt.metrics["total_return"], 4),
            "turnover": round(bt.metrics["turnover"], 4),
            "train_steps_per_s": speed,
        }
        curve.append(row)
        line = f"{steps:>8} steps  Sharpe {row['sharpe']:7.3f}  return {row['total_return']:8.3f}  2020 Sharpe {row['oos_sharpe']:6.3f}"
        print(f"{line}  {speed} steps/s" if speed else f"{line}  (untrained)")

    base = TrainSpec(
        model_id="curve-0",
        role="explorer",
        week=end,
        slot=0,
        tickers=tickers,
        train_start=start,
        train_end=end,
        cutoff=end,
        timesteps=chunk,
        seed=args.seed,
        ppo=preset.ppo,
        lr_schedule="constant",
        env=env,
        checkpoint_every=10**9,
    )
    # step 0: the untrained policy (near-uniform weights, i.e. close to equal weight)
    from autotest_lib.train.trainer import _new_model, make_vec_env

    measure(_new_model(base, make_vec_env(base, market), preset.ppo.learning_rate), 0, None)
    oos_bh = (
        backtest(lambda obs: np.zeros(env.max_tickers + 1), oos, env, start=end, end=oos_end).benchmarks["buy_and_hold"].metrics["sharpe"]
    )
    with tempfile.TemporaryDirectory() as tmp:
        parent = None
        for i in range(args.chunks):
            spec = (
                base
                if parent is None
                else base.model_copy(
                    update={"model_id": f"curve-{i}", "role": "refiner", "parent_id": f"curve-{i - 1}", "parent_bundle": parent}
                )
            )
            t = time.perf_counter()
            result = train(TrainSpec.model_validate(spec.model_dump()), f"{tmp}/{i}", market=market)
            took = time.perf_counter() - t
            parent = result.bundle_uri
            measure(load_model(parent), result.cumulative_timesteps, round(chunk / took))
    final = curve[-1]["sharpe"]
    print(
        json.dumps(
            {
                "curve": curve,
                "random_sharpe": round(random_sharpe, 4),
                "buy_and_hold_sharpe": round(bh["sharpe"], 4),
                "buy_and_hold_total_return": round(bh["total_return"], 4),
                "oos_window": [end.isoformat(), oos_end.isoformat()],
                "oos_buy_and_hold_sharpe": round(oos_bh, 4),
                "beats_random": final > random_sharpe,
                "beats_untrained": final > curve[0]["sharpe"],
                "beats_buy_and_hold": final > bh["sharpe"],
            }
        )
    )


if __name__ == "__main__":
    main()
