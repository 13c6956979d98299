"""Throughput of the trading env and of PPO training on it, on one CPU core.

Prints one line per figure, then (last line) one JSON object with at least ``env_steps_per_s``,
``train_steps_per_s``, ``null_env_steps_per_s``, ``train_vs_null_ratio`` and ``peak_rss_mb``.

- ``env_steps_per_s``: ``BatchedPortfolioVecEnv`` alone, 64 copies, the 30 Dow tickers of the bundled prices,
  random actions generated beforehand; each copy's step counts as one. Compared with one ``PortfolioEnv``
  and a ``DummyVecEnv`` of 64 of them.
- Rates are per CPU-second of this process (``time.process_time``): everything runs on one thread, so on an
  idle core this equals wall time, and on a shared machine it is much less skewed by neighbours. Wall-clock
  figures are reported too, under ``wall``.
- ``null_env_steps_per_s``: SB3 PPO with the ``recommended`` preset's hyperparameters on a VecEnv of the
  same shapes that does nothing: the ceiling set by PPO itself.
- ``train_steps_per_s``: the same PPO on the real batched env; ``train_vs_null_ratio`` is the share of the
  ceiling kept (goal >= 0.85), so the env costs at most 15% of training time. ``env_share_of_train_time``
  measures that share directly (CPU time inside the env's ``step_wait`` over the training time), which is
  steadier than the ratio of two separately timed rates.

    .venv/bin/python bench/throughput.py            # ~1-2 minutes
    .venv/bin/python bench/throughput.py --quick    # ~20 seconds
"""

from __future__ import annotations

import argparse
import json
import platform
import resource
import sys
import time
from collections.abc import Callable
from typing import Any

import numpy as np
import torch
from stable_baselines3 import PPO
from stable_baselines3.common.vec_env import DummyVecEnv, VecEnv

from autotest_lib.config import EnvConfig, PPOParams, load_preset
from autotest_lib.data import MarketData, load_market
from autotest_lib.env import BatchedPortfolioVecEnv, PortfolioEnv

__all__ = ["NullVecEnv", "build_ppo", "main"]


class NullVecEnv(VecEnv):
    """A VecEnv with the real env's spaces whose step costs almost nothing (fixed obs, zero reward, never done).

    :param like: the VecEnv whose observation/action spaces and ``num_envs`` to copy.
    """

    def __init__(self, like: VecEnv) -> None:
        self.render_mode = None
        super().__init__(like.num_envs, like.observation_space, like.action_space)
        rng = np.random.default_rng(0)
        self._obs = rng.standard_normal((like.num_envs, *like.observation_space.shape)).astype(np.float32)
        self._rew = np.zeros(like.num_envs, dtype=np.float32)
        self._done = np.zeros(like.num_envs, dtype=bool)

    def reset(self) -> np.ndarray:
        return self._obs.copy()

    def step_async(self, actions: np.ndarray) -> None:
        pass

    def step_wait(self) -> tuple[np.ndarray, np.ndarray, np.ndarray, list[dict[str, Any]]]:
        return self._obs.copy(), self._rew.copy(), self._done.copy(), [{} for _ in range(self.num_envs)]

    def close(self) -> None:
        pass

    def get_attr(self, attr_name: str, indices: Any = None) -> list[Any]:
        return [getattr(self, attr_name) for _ in self._get_indices(indices)]

    def set_attr(self, attr_name: str, value: Any, indices: Any = None) -> None:
        setattr(self, attr_name, value)

    def env_method(self, method_name: str, *args: Any, indices: Any = None, **kwargs: Any) -> list[Any]:
        return [getattr(self, method_name)(*args, **kwargs) for _ in self._get_indices(indices)]

    def env_is_wrapped(self, wrapper_class: type, indices: Any = None) -> list[bool]:
        return [False for _ in self._get_indices(indices)]


def build_ppo(venv: VecEnv, ppo: PPOParams, seed: int = 0) -> PPO:
    """The PPO the weekly job trains (preset hyperparameters, CPU). Swap for the library's train() later.

    :param venv: the VecEnv to train on (``ppo.n_envs`` copies).
    :param ppo: the preset's PPO hyperparameters.
    :param seed: seeds torch, numpy and the env copies.
    """
    return PPO(
        "MlpPolicy",
        venv,
        learning_rate=ppo.learning_rate,
        n_steps=ppo.n_steps,
        batch_size=ppo.batch_size,
        n_epochs=ppo.n_epochs,
        gamma=ppo.gamma,
        gae_lambda=ppo.gae_lambda,
        ent_coef=ppo.ent_coef,
        clip_range=ppo.clip_range,
        vf_coef=ppo.vf_coef,
        max_grad_norm=ppo.max_grad_norm,
        policy_kwargs={"net_arch": list(ppo.net_arch)},
        device="cpu",
        seed=seed,
        verbose=0,
    )


def _clocks() -> tuple[float, float]:
    return time.process_time(), time.perf_counter()


def _per_s(units: float, since: tuple[float, float]) -> tuple[float, float]:
    """``units`` per CPU-second of this process and per wall-second since ``since``."""
    cpu, wall = _clocks()
    return units / max(cpu - since[0], 1e-9), units / max(wall - since[1], 1e-9)


def _rate(step: Callable[[int], None], per_call: int, seconds: float) -> tuple[float, float]:
    """Calls ``step(k)`` for about ``seconds`` of CPU time after a warm-up; ``per_call`` units per (CPU, wall) second."""
    for k in range(50):
        step(k)
    calls, since = 0, _clocks()
    while time.process_time() - since[0] < seconds:
        for _ in range(100):
            step(calls)
            calls += 1
    return _per_s(calls * per_call, since)


def _single_rate(market: MarketData, cfg: EnvConfig, actions: np.ndarray, seconds: float) -> tuple[float, float]:
    env = PortfolioEnv(market, cfg, seed=0)
    env.reset()

    def step(k: int) -> None:
        *_, terminated, truncated, _ = env.step(actions[k % len(actions)])
        if terminated or truncated:
            env.reset()

    return _rate(step, 1, seconds)


def _train_rate(venv: VecEnv, ppo: PPOParams, timesteps: int) -> tuple[float, float, float]:
    """PPO steps per (CPU, wall) second over ``timesteps`` after a warm-up, and the CPU share spent in ``step_wait``."""
    model = build_ppo(venv, ppo)
    warmup = ppo.n_steps * ppo.n_envs
    model.learn(warmup)  # first rollout and update: allocations and first-call costs stay out of the figure
    inner, spent = venv.step_wait, [0.0]

    def timed_step_wait() -> Any:
        start = time.process_time()
        result = inner()
        spent[0] += time.process_time() - start
        return result

    venv.step_wait = timed_step_wait  # type: ignore[method-assign]
    try:
        since = _clocks()
        model.learn(timesteps, reset_num_timesteps=False)
        cpu, wall = _per_s(model.num_timesteps - warmup, since)
    finally:
        venv.step_wait = inner  # type: ignore[method-assign]
    return cpu, wall, spent[0] * cpu / (model.num_timesteps - warmup)


def main(argv: list[str] | None = None) -> dict[str, Any]:
    """Run the benchmark, print the figures and the JSON line; return the figures.

    :param argv: command-line arguments (``--quick``, ``--timesteps``, ``--seconds``).
    """
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="shorter run (~20 s) for CI and smoke checks")
    parser.add_argument("--timesteps", type=int, default=None, help="PPO steps per training measurement (split over the rounds)")
    parser.add_argument("--seconds", type=float, default=None, help="seconds per env measurement")
    args = parser.parse_args(argv)
    seconds = args.seconds or (1.0 if args.quick else 3.0)
    timesteps = args.timesteps or (16_384 if args.quick else 98_304)
    rounds = 1 if args.quick else 3
    torch.set_num_threads(1)

    preset = load_preset("recommended")
    cfg, ppo = preset.env, preset.ppo
    tickers = list(preset.data.universe)
    market = load_market(tickers, cutoff="2025-01-01", feature_set=cfg.feature_set)
    n_envs = 64
    rng = np.random.default_rng(0)
    actions = rng.uniform(-1, 1, (256, n_envs, cfg.max_tickers + 1)).astype(np.float32)
    out: dict[str, Any] = {"tickers": len(tickers), "days": market.n_dates, "n_envs_bench": n_envs}

    wall: dict[str, float] = {}

    def record(key: str, rates: tuple[float, float], label: str) -> None:
        out[key], wall[key] = rates
        print(f"{label:<44} {out[key]:>12,.0f} steps/s   (wall clock: {wall[key]:>12,.0f})", flush=True)

    batched = BatchedPortfolioVecEnv(market, cfg, n_envs, seed=0)
    batched.reset()
    out["obs_dim"] = int(batched.observation_space.shape[0])
    record("env_steps_per_s", _rate(lambda k: batched.step(actions[k & 255]), n_envs, seconds), f"BatchedPortfolioVecEnv, {n_envs} copies:")
    record("single_env_steps_per_s", _single_rate(market, cfg, actions[:, 0], seconds), "one PortfolioEnv:")
    dummy = DummyVecEnv([lambda i=i: PortfolioEnv(market, cfg, seed=i) for i in range(n_envs)])
    dummy.reset()
    dummy_rate = _rate(lambda k: dummy.step(actions[k & 255]), n_envs, seconds)
    record("dummy_vec_env_steps_per_s", dummy_rate, f"DummyVecEnv of {n_envs} PortfolioEnv:")
    dummy.close()
    out["batched_vs_dummy"] = out["env_steps_per_s"] / out["dummy_vec_env_steps_per_s"]

    # null and real rounds alternate and each keeps its best round, so a busy neighbour skews the ratio less
    train_env = BatchedPortfolioVecEnv(market, cfg, ppo.n_envs, seed=0)
    null_env = NullVecEnv(train_env)
    null_rates, train_rates, env_shares = [], [], []
    for r in range(rounds):
        null_cpu, null_wall, _ = _train_rate(null_env, ppo, timesteps // rounds)
        train_cpu, train_wall, share = _train_rate(train_env, ppo, timesteps // rounds)
        null_rates.append((null_cpu, null_wall))
        train_rates.append((train_cpu, train_wall))
        env_shares.append(share)
        print(f"PPO round {r + 1}/{rounds}: null env {null_cpu:>8,.0f} steps/s, real env {train_cpu:>8,.0f} ({share:.1%} env)", flush=True)
    record("null_env_steps_per_s", max(null_rates), f"PPO ({ppo.n_envs} copies) on a null env:")
    record("train_steps_per_s", max(train_rates), f"PPO ({ppo.n_envs} copies) on the batched env:")
    # the env's own share of training time: a noise-free complement to the ratio of two noisy rates
    out["env_share_of_train_time"] = min(env_shares)
    out["train_vs_null_ratio"] = out["train_steps_per_s"] / out["null_env_steps_per_s"]
    wall["train_vs_null_ratio"] = wall["train_steps_per_s"] / wall["null_env_steps_per_s"]
    out["ppo"] = {"n_envs": ppo.n_envs, "n_steps": ppo.n_steps, "batch_size": ppo.batch_size, "n_epochs": ppo.n_epochs}
    out["ppo"]["net_arch"] = list(ppo.net_arch)
    out["ppo_timesteps"] = timesteps
    out["ppo_rounds"] = rounds
    out["peak_rss_mb"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / (1024.0 if sys.platform != "darwin" else 1024.0**2)
    out["python"] = platform.python_version()
    out["torch_threads"] = torch.get_num_threads()
    out["clock"] = "process CPU time (single-threaded, so equal to wall time on an idle core); wall-clock figures under 'wall'"
    out["wall"] = {k: round(v, 4) for k, v in wall.items()}
    print(f"train / null: {out['train_vs_null_ratio']:.3f}   env share of training: {out['env_share_of_train_time']:.1%}", end="")
    print(f"   peak RSS: {out['peak_rss_mb']:.0f} MB")
    print(json.dumps({k: round(v, 4) if isinstance(v, float) else v for k, v in out.items()}))
    return out


if __name__ == "__main__":
    main()
