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
    with tempfile.TemporaryDirectory() as tmp:
        # step 0: the untrained policy (near-uniform weights, i.e. close to equal weight)
        from autotest_lib.train.trainer import _new_model, make_vec_env

        spec0 = TrainSpec(
            model_id="curve-init",
            role="explorer",
            week=end,
            slot=0,
            tickers=tickers,
            train_start=start,
            train_end=end,
            cutoff=end,
            timesteps=1,
            seed=args.seed,
            ppo=preset.ppo,
            env=env,
        )
        init = _new_model(spec0, make_vec_env(spec0, market), preset.ppo.learning_rate)
        bt0 = backtest(lambda obs: init.predict(obs, deterministic=True)[0], market, env, start=start, end=end)
        oos0 = backtest(lambda obs: init.predict(obs, deterministic=True)[0], oos, env, start=end, end=oos_end)
        oos_bh = oos0.benchmarks["buy_and_hold"].metrics["sharpe"]
        curve.append(
            {
                "steps": 0,
                "sharpe": round(bt0.metrics["sharpe"], 4),
                "total_return": round(bt0.metrics["total_return"], 4),
                "turnover": round(bt0.metrics["turnover"], 4),
                "oos_sharpe": round(oos0.metrics["sharpe"], 4),
                "train_steps_per_s": None,
            }
        )
        first = curve[0]
        print(f"{0:>8} steps  Sharpe {first['sharpe']:7.3f}  return {first['total_return']:8.3f}  2020 Sharpe {first['oos_sharpe']:6.3f}")
        parent = None
        for i in range(args.chunks):
            spec = TrainSpec(
                model_id=f"curve-{i}",
                role="explorer" if parent is None else "refiner",
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
                parent_id=None if parent is None else f"curve-{i - 1}",
                parent_bundle=parent,
                checkpoint_every=10**9,
            )
            t = time.perf_counter()
            result = train(spec, f"{tmp}/{i}", market=market)
            took = time.perf_counter() - t
            parent = result.bundle_uri
            model = load_model(parent)
            bt = backtest(lambda obs, m=model: m.predict(obs, deterministic=True)[0], market, env, start=start, end=end)
            oos_bt = backtest(lambda obs, m=model: m.predict(obs, deterministic=True)[0], oos, env, start=end, end=oos_end)
            row = {
                "steps": result.cumulative_timesteps,
                "sharpe": round(bt.metrics["sharpe"], 4),
                "oos_sharpe": round(oos_bt.metrics["sharpe"], 4),
                "total_return": round(bt.metrics["total_return"], 4),
                "turnover": round(bt.metrics["turnover"], 4),
                "train_steps_per_s": round(chunk / took),
            }
            curve.append(row)
            speed = row["train_steps_per_s"]
            line = f"{row['steps']:>8} steps  Sharpe {row['sharpe']:7.3f}  return {row['total_return']:8.3f}"
            print(f"{line}  2020 Sharpe {row['oos_sharpe']:6.3f}  {speed} steps/s")
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
