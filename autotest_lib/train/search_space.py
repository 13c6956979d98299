"""Explorer hyperparameter sampling and PBT-style perturbation over a declared :class:`SearchSpace`.

Both are pure functions of their inputs and a seeded ``numpy.random.Generator``: the same seed gives the
same hyperparameters, so a week's plan is reproducible.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

import numpy as np

from autotest_lib.config import FloatRange, PPOParams, SearchSpace

__all__ = ["SEARCHED", "hyperparameter_diff", "perturb_hyperparameters", "sample_hyperparameters"]

#: PPO fields drawn from the search space; the rest come from the preset's defaults.
SEARCHED = ("learning_rate", "n_steps", "batch_size", "gamma", "gae_lambda", "ent_coef", "clip_range", "net_arch")


def _sample_float(r: FloatRange, rng: np.random.Generator) -> float:
    if r.log:
        return float(math.exp(rng.uniform(math.log(r.low), math.log(r.high))))
    return float(rng.uniform(r.low, r.high))


def _fit_batch(batch_size: int, choices: Sequence[int], rollout: int) -> int:
    """Largest allowed batch size <= rollout (SB3 needs batch_size <= n_steps * n_envs)."""
    if batch_size <= rollout:
        return batch_size
    fitting = [c for c in choices if c <= rollout]
    return max(fitting) if fitting else rollout


def sample_hyperparameters(space: SearchSpace, base: PPOParams, rng: np.random.Generator) -> PPOParams:
    """Draw one explorer's PPO hyperparameters: floats uniform (log-uniform where declared), the rest by choice.

    :param space: the declared search space.
    :param base: defaults for the fields not searched (n_epochs, n_envs, vf_coef, max_grad_norm).
    :param rng: seeded generator; the draw order is fixed, so a seed always gives the same result.
    """
    n_steps = int(rng.choice(space.n_steps))
    batch = int(rng.choice(space.batch_size))
    values: dict[str, Any] = {
        "learning_rate": _sample_float(space.learning_rate, rng),
        "n_steps": n_steps,
        "batch_size": _fit_batch(batch, space.batch_size, n_steps * base.n_envs),
        "gamma": _sample_float(space.gamma, rng),
        "gae_lambda": _sample_float(space.gae_lambda, rng),
        "ent_coef": _sample_float(space.ent_coef, rng),
        "clip_range": _sample_float(space.clip_range, rng),
        "net_arch": tuple(space.net_arch[int(rng.integers(len(space.net_arch)))]),
    }
    return base.model_copy(update=values)


def _neighbour(choices: Sequence[Any], current: Any, up: bool) -> Any:
    """The next choice up or down from ``current`` (clamped at the ends); the nearest one if not listed."""
    ordered = sorted(choices, key=lambda c: np.prod(c) if isinstance(c, tuple) else c)
    if current in ordered:
        i = ordered.index(current)
    else:
        key = np.prod(current) if isinstance(current, tuple) else current
        i = int(np.argmin([abs((np.prod(c) if isinstance(c, tuple) else c) - key) for c in ordered]))
    return ordered[min(max(i + (1 if up else -1), 0), len(ordered) - 1)]


def perturb_hyperparameters(
    params: PPOParams,
    space: SearchSpace,
    rng: np.random.Generator,
    *,
    factors: tuple[float, float] = (0.8, 1.2),
    resample_probability: float = 0.0,
    keep_architecture: bool = True,
) -> PPOParams:
    """PBT explore step: each searched value is multiplied by 0.8 or 1.2 (chosen at random), then clipped.

    Floats are scaled and clipped to their range; ``n_steps`` and ``batch_size`` move to the neighbouring
    choice (down for 0.8, up for 1.2). With probability ``resample_probability`` a value is instead drawn
    afresh from the space (Ray Tune's ``resample_probability``). The network shape is kept by default, since
    the copied weights fix it.

    :param params: the hyperparameters of the member being copied.
    :param space: bounds and choices; every result lies inside it.
    :param rng: seeded generator.
    :param factors: (down, up) multipliers.
    """
    fresh = sample_hyperparameters(space, params, rng) if resample_probability > 0 else None
    out: dict[str, Any] = {}
    for name in SEARCHED:
        if name == "net_arch" and keep_architecture:
            continue
        up = bool(rng.integers(2))
        factor = factors[1] if up else factors[0]
        if fresh is not None and rng.random() < resample_probability:
            out[name] = getattr(fresh, name)
            continue
        current = getattr(params, name)
        spec = getattr(space, name)
        if isinstance(spec, FloatRange):
            out[name] = float(min(max(current * factor, spec.low), spec.high))
        else:
            out[name] = _neighbour(spec, current, up)
    merged = params.model_copy(update=out)
    rollout = merged.n_steps * merged.n_envs
    return merged.model_copy(update={"batch_size": _fit_batch(merged.batch_size, space.batch_size, rollout)})


def hyperparameter_diff(old: PPOParams | None, new: PPOParams, *, learning_rate: tuple[float, float] | None = None) -> dict[str, list[Any]]:
    """``{name: [old, new]}`` for every PPO field that differs; ``learning_rate`` may pass the effective rates."""
    if old is None:
        return {}
    a, b = old.model_dump(mode="json"), new.model_dump(mode="json")
    diff = {k: [a[k], b[k]] for k in b if a.get(k) != b[k]}
    if learning_rate is not None and learning_rate[0] != learning_rate[1]:
        diff["effective_learning_rate"] = [learning_rate[0], learning_rate[1]]
    return diff
