"""What do the scaling, conviction and reward options change? Variants at equal steps on weekly 2023 cutoffs.

For each variant (a set of ``EnvConfig`` options over the recommended preset's env with every learning option at
its default, PPO overrides over the preset's PPO under ``ppo``, and ``ensemble: K`` to train K seeds and trade the
mean of their actions) and each of
``--weeks`` consecutive weekly cutoffs from ``--first`` (all in 2023: the week after the last cutoff must end
by 2023-12-31; 2024 is never used), one new model (or K) is trained from scratch on the preset's windows (8 years of
training up to the validation window, 26 weeks of validation before the cutoff) with ``--steps`` steps and
the same seed for every variant of a week (paired). Then, on prices loaded up to the end of the week after
the cutoff:

- **validation** (the 26 weeks before the cutoff, never trained on): Sharpe of the deterministic policy's
  net daily returns, and the dispersion of its ticker weights per day: the Herfindahl index
  ``HHI = sum_i (w_i / sum_j w_j)^2`` (``1/N`` for equal weights, 1 for one ticker) and the largest weight;
- **forward** (the week after the cutoff, never seen): the order is the policy's target weights at the last
  close before the cutoff, held for the week and marked by the paper ledger's ``mark_week``:
  ``net = w . r - cost`` with ``cost = sum_i |w_i - w'_i| * (cost_bps + slippage_bps) / 1e4`` against the
  variant's previous week's order (all cash before the first), and ``own 1/N = (sum_i w_i) * mean_i r_i``
  (the same tickers at equal weights and the same exposure). The excess is ``net - own 1/N``; its mean over the weeks and the t-statistic
  ``mean / (std / sqrt(weeks))`` are printed per variant, with the paired difference to the first variant.
- **training**: the explained variance of the value function at the last PPO update (and the mean of the
  last three), and the entropy loss.

    python bench/learning_quality.py --weeks 4 --steps 20000                       # ~5 variants x 4 weeks
    python bench/learning_quality.py --variants base,scaled --weeks 2 --steps 4096 # smoke test

Each (variant, week) result is kept as JSON under ``--out`` and reused by a rerun with the same settings, so
an interrupted run resumes. The last line is one JSON object with the per-variant table.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import math
import os
import tempfile
import time
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path
from typing import Any

import numpy as np

LAST_DAY = dt.date(2023, 12, 31)  # tuning never looks at 2024
TICKERS = ("AAPL", "AMGN", "CAT", "JPM", "KO", "MSFT", "UNH", "WMT")

#: The EnvConfig fields the variants set; the base variant has them all at their defaults (the plain env).
LEARNING_OPTIONS = ("reward_mode", "reward_scale", "turnover_penalty_bps", "obs_norm", "obs_norm_clip", "log_std_init", "action_scale")

#: Variants: EnvConfig options applied over the preset's env; a ``ppo`` key holds PPO overrides and ``ensemble: K``
#: trains K seeds and trades the mean of their actions. The first five each add one change to the one before.
VARIANTS: dict[str, dict[str, Any]] = {
    "base": {},
    "scaled": {"obs_norm": True, "reward_scale": 100.0},
    "excess": {"obs_norm": True, "reward_scale": 100.0, "reward_mode": "excess_log"},
    "conviction": {"obs_norm": True, "reward_scale": 100.0, "reward_mode": "excess_log", "log_std_init": -1.0},
    "turnover": {"obs_norm": True, "reward_scale": 100.0, "reward_mode": "excess_log", "log_std_init": -1.0, "turnover_penalty_bps": 10.0},
    # side branches: each half of the scaling alone, conviction without the excess reward, a sharper mapping
    "norm_only": {"obs_norm": True},
    "rscale_only": {"reward_scale": 100.0},
    "scaled_conv": {"obs_norm": True, "reward_scale": 100.0, "log_std_init": -1.0},
    "sharp": {"obs_norm": True, "reward_scale": 100.0, "reward_mode": "excess_log", "log_std_init": -1.0, "action_scale": 20.0},
    "conv_turnover": {"obs_norm": True, "reward_scale": 100.0, "log_std_init": -1.0, "turnover_penalty_bps": 10.0},
    # generalisation, each one change to scaled_conv (the presets' env): features, episode length, network, ensembling
    "simple_feats": {"obs_norm": True, "reward_scale": 100.0, "log_std_init": -1.0, "feature_set": "simple"},
    "full_feats": {"obs_norm": True, "reward_scale": 100.0, "log_std_init": -1.0, "feature_set": "full"},
    "short_ep": {"obs_norm": True, "reward_scale": 100.0, "log_std_init": -1.0, "episode_length": 63},
    "small_net": {"obs_norm": True, "reward_scale": 100.0, "log_std_init": -1.0, "ppo": {"net_arch": (32, 32)}},
    "big_net": {"obs_norm": True, "reward_scale": 100.0, "log_std_init": -1.0, "ppo": {"net_arch": (256, 256)}},
    "ent_reg": {"obs_norm": True, "reward_scale": 100.0, "log_std_init": -1.0, "ppo": {"ent_coef": 0.01}},
    "ensemble3": {"obs_norm": True, "reward_scale": 100.0, "log_std_init": -1.0, "ensemble": 3},
}

#: Keys of a variant that are not ``EnvConfig`` fields.
NON_ENV_KEYS = ("ppo", "ensemble")


def baseline_env(env: Any) -> Any:
    """``env`` with every learning option at the ``EnvConfig`` default: the ``base`` variant, whatever a preset sets."""
    from autotest_lib.config import EnvConfig

    return env.model_copy(update={name: EnvConfig.model_fields[name].default for name in LEARNING_OPTIONS})


def variant_configs(preset: Any, options: dict[str, Any]) -> tuple[Any, Any, int]:
    """A variant's env (over :func:`baseline_env`), PPO (over the preset's) and ensemble size, each validated."""
    from autotest_lib.config import EnvConfig, PPOParams

    env_options = {k: v for k, v in options.items() if k not in NON_ENV_KEYS}
    env = EnvConfig.model_validate({**baseline_env(preset.env).model_dump(), **env_options})
    ppo = PPOParams.model_validate({**preset.ppo.model_dump(), **options.get("ppo", {})})
    members = int(options.get("ensemble", 1))
    if members < 1:
        raise SystemExit(f"ensemble must be at least 1, not {members}")
    return env, ppo, members


def weight_dispersion(weights: np.ndarray) -> tuple[float, float]:
    """Mean over days of the Herfindahl index of the invested ticker weights, and of the largest weight.

    :param weights: ``(T, N)`` ticker weights per day (cash is the rest); all-cash days are left out of the HHI.
    """
    w = np.asarray(weights, dtype=np.float64)
    invested = w.sum(axis=1)
    some = invested > 1e-12
    hhi = ((w[some] / invested[some, None]) ** 2).sum(axis=1)
    return (float(hhi.mean()) if len(hhi) else float("nan")), float(w.max(axis=1).mean())


def t_stat(values: list[float]) -> float:
    """``mean / (std / sqrt(n))`` with the sample std; NaN for fewer than 2 values or no dispersion."""
    x = np.asarray(values, dtype=np.float64)
    if len(x) < 2 or float(x.std(ddof=1)) == 0.0:
        return float("nan")
    return float(x.mean() / (x.std(ddof=1) / math.sqrt(len(x))))


def cutoffs(first: dt.date, weeks: int) -> list[dt.date]:
    """``weeks`` consecutive weekly cutoffs from ``first``; refuses any whose following week leaves 2023."""
    out = [first + dt.timedelta(days=7 * k) for k in range(weeks)]
    if out[-1] + dt.timedelta(days=7) > LAST_DAY + dt.timedelta(days=1):
        raise SystemExit(
            f"the week after cutoff {out[-1]} ends after {LAST_DAY}: tuning never uses 2024; use fewer --weeks or an earlier --first"
        )
    return out


def run_one(variant: str, options: dict[str, Any], cutoff: dt.date, seed: int, steps: int, out: Path) -> dict[str, Any]:
    """Train one scratch model for ``cutoff`` and measure it; cached as JSON under ``out``."""
    path = out / f"{variant}-{cutoff.isoformat()}-{steps}-{seed}.json"
    if path.is_file():
        return json.loads(path.read_text())
    import torch

    torch.set_num_threads(1)
    from autotest_lib.config import load_preset
    from autotest_lib.data import load_market
    from autotest_lib.evaluate.backtest import backtest, policy_from_model
    from autotest_lib.evaluate.metrics import sharpe_ratio
    from autotest_lib.train import TrainSpec, load_model, train

    preset = load_preset("recommended")
    env, ppo, members = variant_configs(preset, options)
    train_end = cutoff - dt.timedelta(weeks=preset.windows.validation_weeks)
    train_start = train_end - dt.timedelta(days=round(365.25 * (preset.windows.train_years or 8.0)))
    fwd_end = cutoff + dt.timedelta(days=7)
    market = load_market(list(TICKERS), start=train_start, cutoff=cutoff, feature_set=env.feature_set)
    started = time.perf_counter()
    models, results = [], []
    with tempfile.TemporaryDirectory() as tmp:
        for member in range(members):
            spec = TrainSpec(
                model_id=f"lq-{variant}-{cutoff}-{member}",
                role="explorer",
                week=cutoff,
                slot=member,
                tickers=TICKERS,
                train_start=train_start,
                train_end=train_end,
                cutoff=cutoff,
                timesteps=steps,
                seed=seed + 1000 * member,
                ppo=ppo,
                env=env,
                checkpoint_every=10**9,
            )
            result = train(spec, f"{tmp}/{member}", market=market)
            results.append(result)
            models.append(load_model(result.bundle_uri))
    wall = time.perf_counter() - started
    policies = [policy_from_model(m) for m in models]

    def policy(obs: np.ndarray) -> np.ndarray:  # one model, or the mean action of the ensemble's members
        return np.mean([p(obs) for p in policies], axis=0)

    later = load_market(list(TICKERS), start=train_end, cutoff=fwd_end, feature_set=env.feature_set)
    bt = backtest(policy, later, env, start=train_end, end=fwd_end)
    days = bt.dates.astype("datetime64[D]")
    val = days < np.datetime64(cutoff)
    hhi, max_w = weight_dispersion(bt.weights[val])
    first_fwd = int(np.argmax(~val))
    order = bt.weights[first_fwd]  # decided at the last close before the cutoff
    idx = [later.index_of(d) for d in days[~val]]
    fwd_growth = np.prod(1.0 + np.asarray(later.returns, dtype=np.float64)[idx], axis=0) - 1.0
    hists = [r.history for r in results]
    row = {
        "variant": variant,
        "cutoff": cutoff.isoformat(),
        "steps": sum(r.cumulative_timesteps for r in results),
        "wall_s": round(wall, 1),
        "ev_last": float(np.mean([h[-1].get("explained_variance", np.nan) for h in hists])),
        "ev_last3": float(np.mean([h.get("explained_variance", np.nan) for hist in hists for h in hist[-3:]])),
        "entropy_loss": float(np.mean([h[-1].get("entropy_loss", np.nan) for h in hists])),
        "val_sharpe": float(sharpe_ratio(bt.returns[val])),
        "val_own1n_sharpe": float(sharpe_ratio(bt.benchmarks["buy_and_hold"].returns[val])),
        "val_turnover": float(bt.turnover[val].mean()),
        "hhi": hhi,
        "max_weight": max_w,
        "order": order.tolist(),
        "fwd_returns": fwd_growth.tolist(),
        "cost_rate": (env.cost_bps + env.slippage_bps) / 1e4,
    }
    path.write_text(json.dumps(row))
    return row


def forward_marks(rows: list[dict[str, Any]]) -> list[Any]:
    """One variant's weekly orders, in cutoff order, marked by the paper ledger's
    :func:`~autotest_lib.paper.ledger.mark_week` (turnover against the previous week's order, cash before the first)."""
    from autotest_lib.paper.ledger import mark_week

    prev: dict[str, float] | None = None
    out = []
    for row in rows:
        weights = dict(zip(TICKERS, row["order"], strict=True))
        returns = dict(zip(TICKERS, row["fwd_returns"], strict=True))
        out.append(mark_week(weights, returns, previous_weights=prev, benchmark=None, cost_bps=1e4 * row["cost_rate"], slippage_bps=0.0))
        prev = weights
    return out


def forward_excess(rows: list[dict[str, Any]]) -> list[float]:
    """Weekly net return minus own 1/N, for one variant's rows in cutoff order (see :func:`forward_marks`)."""
    return [m.net_return - m.own_1n_return for m in forward_marks(rows)]


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--variants", default=",".join(VARIANTS), help=f"comma-separated, from {', '.join(VARIANTS)}")
    ap.add_argument("--first", type=dt.date.fromisoformat, default=dt.date(2023, 6, 4), help="first cutoff (a 2023 date)")
    ap.add_argument("--weeks", type=int, default=4, help="consecutive weekly cutoffs")
    ap.add_argument("--steps", type=int, default=20_000, help="training steps per model (equal for every variant)")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--jobs", type=int, default=1, help="models trained in parallel (one core each)")
    ap.add_argument("--out", type=Path, default=Path("var/bench-learning-quality"))
    args = ap.parse_args(argv)
    names = [v.strip() for v in args.variants.split(",") if v.strip()]
    unknown = [v for v in names if v not in VARIANTS]
    if unknown:
        raise SystemExit(f"unknown variant(s) {unknown}; choose from {', '.join(VARIANTS)}")
    weeks = cutoffs(args.first, args.weeks)
    args.out.mkdir(parents=True, exist_ok=True)
    print(f"{len(names)} variants x {len(weeks)} cutoffs {weeks[0]}..{weeks[-1]}, {args.steps} steps each, tickers {', '.join(TICKERS)}")
    tasks = [(v, VARIANTS[v], c, args.seed + k, args.steps, args.out) for k, c in enumerate(weeks) for v in names]
    if args.jobs > 1:
        os.environ.setdefault("OMP_NUM_THREADS", "1")
        with ProcessPoolExecutor(args.jobs) as pool:
            rows = list(pool.map(run_one, *zip(*tasks, strict=True)))
    else:
        rows = [run_one(*task) for task in tasks]

    table = {}
    base_excess: list[float] | None = None
    header = (
        f"{'variant':<11} {'HHI':>6} {'maxw':>6} {'EV end':>7} {'EV l3':>7} {'entropy':>8} {'valSR':>6} {'own1N SR':>8} "
        f"{'turn/d':>7} {'fwd exc bp/wk':>13} {'t':>6} {'gross':>6} {'turn/wk':>7} {'vs base t':>9} {'s/model':>7}"
    )
    print(header)
    for v in names:
        mine = sorted((r for r in rows if r["variant"] == v), key=lambda r: r["cutoff"])
        marks = forward_marks(mine)
        excess = [m.net_return - m.own_1n_return for m in marks]
        gross = [m.gross_return - m.own_1n_return for m in marks]
        diff_t = float("nan") if base_excess is None else t_stat([a - b for a, b in zip(excess, base_excess, strict=True)])
        if base_excess is None:
            base_excess = excess

        def mean(key: str, rows: list[dict[str, Any]] = mine) -> float:
            return float(np.mean([r[key] for r in rows]))

        table[v] = {
            "hhi": mean("hhi"),
            "max_weight": mean("max_weight"),
            "ev_last": mean("ev_last"),
            "ev_last3": mean("ev_last3"),
            "entropy_loss": mean("entropy_loss"),
            "val_sharpe": mean("val_sharpe"),
            "val_own1n_sharpe": mean("val_own1n_sharpe"),
            "val_turnover": mean("val_turnover"),
            "fwd_excess_bp": 1e4 * float(np.mean(excess)),
            "fwd_excess_t": t_stat(excess),
            "fwd_gross_excess_bp": 1e4 * float(np.mean(gross)),
            "fwd_turnover": float(np.mean([m.turnover for m in marks])),
            "minus_base_t": diff_t,
            "wall_s": mean("wall_s"),
        }
        s = table[v]
        print(
            f"{v:<11} {s['hhi']:6.3f} {s['max_weight']:6.3f} {s['ev_last']:7.3f} {s['ev_last3']:7.3f} {s['entropy_loss']:8.2f} "
            f"{s['val_sharpe']:6.2f} {s['val_own1n_sharpe']:8.2f} {s['val_turnover']:7.3f} {s['fwd_excess_bp']:13.1f} "
            f"{s['fwd_excess_t']:6.2f} {s['fwd_gross_excess_bp']:6.1f} {s['fwd_turnover']:7.3f} {s['minus_base_t']:9.2f} {s['wall_s']:7.0f}"
        )
    print(f"1/N of {len(TICKERS)} tickers: HHI {1 / len(TICKERS):.3f}, max weight {1 / len(TICKERS):.3f}")
    print(json.dumps({"cutoffs": [c.isoformat() for c in weeks], "steps": args.steps, "tickers": list(TICKERS), "variants": table}))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
