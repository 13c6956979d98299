"""Elastic weight consolidation (Kirkpatrick et al. 2017) for continued models, online form (Schwarz et al. 2018).

A continued model trains on the new window with the PPO loss plus

    penalty(theta) = (weight / 2) * sum_i F_i * (theta_i - theta*_i)^2

where ``theta*`` are the parent's parameters and ``F`` the diagonal Fisher information of the parent's
policy on the *parent's* training window:

    F_i = E_{s ~ parent's window, a ~ pi*(.|s)} [ (d log pi*(a|s) / d theta_i)^2 ]

estimated from ``n_samples`` states visited by the parent's policy on that window, one gradient per state.
Online EWC keeps older windows: a parent that was itself trained with EWC carries its consolidated Fisher in
its bundle, and the child's is that plus the parent's own, ``F = F_parent_bundle + F_parent_window``. The
child's bundle stores ``F`` and ``theta*`` as plain float arrays (``ewc.npz``, loaded with
``allow_pickle=False``), so a child of a child keeps every window it consolidated. Only the policy's
parameters get Fisher mass (the log-likelihood does not depend on the value head, which refits freely).

**How it reaches PPO (composition).** SB3's ``PPO.train`` computes its loss, calls ``backward``, clips the
gradient norm and steps ``policy.optimizer``. The penalty's gradient ``weight * F * (theta - theta*)`` is
added to each parameter's ``.grad`` in a step pre-hook registered on that optimizer
(``Optimizer.register_step_pre_hook``): no subclass of ``PPO``, no copy of its ``train`` loop, and the
hook survives learning-rate updates (SB3 changes the param groups' rates, not the optimizer). The gradient is
added after PPO's clipping, so the consolidation force is not scaled down by a large PPO gradient.
"""

from __future__ import annotations

import io
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np

from autotest_lib.errors import BundleError

if TYPE_CHECKING:
    from stable_baselines3 import PPO
    from stable_baselines3.common.vec_env import VecEnv

__all__ = ["EWC_FILE", "EWCState", "attach_ewc", "estimate_fisher", "ewc_penalty"]

EWC_FILE = "ewc.npz"
"""Bundle file holding the consolidated Fisher (``fisher/<param>``) and anchor (``anchor/<param>``) arrays."""

HISTORY_KEY = "train/ewc_penalty"


@dataclass(frozen=True)
class EWCState:
    """Diagonal Fisher ``fisher`` and anchor parameters ``anchor`` (by parameter name), and the windows consolidated."""

    fisher: dict[str, np.ndarray]
    anchor: dict[str, np.ndarray]
    windows: tuple[tuple[str, str], ...] = ()

    def to_bytes(self) -> bytes:
        """``.npz`` of float32 arrays only (nothing pickled)."""
        arrays = {f"fisher/{k}": v.astype(np.float32) for k, v in self.fisher.items()}
        arrays |= {f"anchor/{k}": v.astype(np.float32) for k, v in self.anchor.items()}
        arrays["windows"] = np.array([d for w in self.windows for d in w], dtype="U10")
        buf = io.BytesIO()
        np.savez(buf, **arrays)  # type: ignore[arg-type]  # numpy's stub types **kwds as its allow_pickle
        return buf.getvalue()

    @classmethod
    def from_bytes(cls, data: bytes, source: str = EWC_FILE) -> EWCState:
        try:
            with np.load(io.BytesIO(data), allow_pickle=False) as npz:
                fisher = {k.removeprefix("fisher/"): npz[k] for k in npz.files if k.startswith("fisher/")}
                anchor = {k.removeprefix("anchor/"): npz[k] for k in npz.files if k.startswith("anchor/")}
                flat = [str(d) for d in npz["windows"]] if "windows" in npz.files else []
        except (ValueError, OSError) as exc:
            raise BundleError(f"{source} is not a readable EWC array file: {exc}") from None
        if set(fisher) != set(anchor):
            raise BundleError(f"{source}: Fisher and anchor name different parameters; retrain the parent")
        return cls(fisher, anchor, tuple(zip(flat[::2], flat[1::2], strict=True)))

    def merged_with(self, other: EWCState) -> EWCState:
        """Online EWC: Fisher summed over both, anchor taken from ``other`` (the newer parent)."""
        fisher = {k: other.fisher[k] + self.fisher[k] if k in self.fisher else other.fisher[k] for k in other.fisher}
        return EWCState(fisher, other.anchor, self.windows + other.windows)


def policy_parameters(model: PPO) -> dict[str, Any]:
    """The named trainable parameters of the policy network (what the Fisher is taken over)."""
    return {name: p for name, p in model.policy.named_parameters() if p.requires_grad}


def estimate_fisher(model: PPO, env: VecEnv, *, n_samples: int = 256, seed: int = 0, window: tuple[str, str] = ("", "")) -> EWCState:
    """Diagonal Fisher of ``model``'s policy over states it visits in ``env`` (the parent's training window).

    :param model: the parent, loaded.
    :param env: the VecEnv over the parent's training window.
    :param n_samples: states (one gradient each) to average over.
    :param seed: seeds the env and the sampled actions.
    :param window: the window's ``(start, end)`` ISO dates, recorded with the state.
    """
    import torch

    policy: Any = model.policy  # an ActorCriticPolicy: one Box observation, one Gaussian action distribution
    params = policy_parameters(model)
    fisher = {k: torch.zeros_like(p) for k, p in params.items()}
    env.seed(seed)
    obs: Any = env.reset()
    generator = torch.Generator().manual_seed(seed)
    seen = 0
    was_training = policy.training
    policy.set_training_mode(False)
    while seen < n_samples:
        obs_t, _ = policy.obs_to_tensor(obs)
        for i in range(obs_t.shape[0]):
            if seen >= n_samples:
                break
            dist = policy.get_distribution(obs_t[i : i + 1])
            with torch.no_grad():
                mean = dist.distribution.mean
                action = mean + dist.distribution.stddev * torch.randn(mean.shape, generator=generator)
            policy.zero_grad(set_to_none=True)
            dist.log_prob(action).sum().backward()
            for k, p in params.items():
                if p.grad is not None:
                    fisher[k] += p.grad.detach() ** 2
            seen += 1
        with torch.no_grad():
            actions, _ = model.predict(obs, deterministic=False)
        obs, _, _, _ = env.step(actions)
    policy.zero_grad(set_to_none=True)
    policy.set_training_mode(was_training)
    return EWCState(
        fisher={k: (v / seen).numpy().copy() for k, v in fisher.items()},
        anchor={k: p.detach().numpy().copy() for k, p in params.items()},
        windows=(window,),
    )


def ewc_penalty(model: PPO, state: EWCState, weight: float) -> float:
    """``(weight / 2) * sum F (theta - theta*)^2`` at the model's current parameters."""
    import torch

    total = 0.0
    with torch.no_grad():
        for k, p in policy_parameters(model).items():
            if k in state.fisher:
                d = p - torch.as_tensor(state.anchor[k])
                total += float((torch.as_tensor(state.fisher[k]) * d * d).sum())
    return 0.5 * weight * total


def attach_ewc(model: PPO, state: EWCState, weight: float) -> Any:
    """Add the EWC gradient to every optimizer step of ``model`` (a hook on ``policy.optimizer``); returns its handle.

    :raises BundleError: the state's parameters do not match the model's (another architecture).
    """
    import torch

    params = policy_parameters(model)
    mismatch = [k for k in state.fisher if k not in params or tuple(params[k].shape) != state.fisher[k].shape]
    if mismatch:
        raise BundleError(f"EWC state does not fit the model: parameters {', '.join(mismatch[:3])} differ; continue without EWC (weight 0)")
    terms = [(params[k], torch.as_tensor(state.fisher[k]), torch.as_tensor(state.anchor[k])) for k in state.fisher]

    def add_penalty_gradient(optimizer: Any, args: Any, kwargs: Any) -> None:
        penalty = 0.0
        with torch.no_grad():
            for p, f, a in terms:
                d = p - a
                g = weight * f * d
                p.grad = g if p.grad is None else p.grad.add_(g)
                penalty += float((f * d * d).sum())
        model.logger.record(HISTORY_KEY, 0.5 * weight * penalty)

    return model.policy.optimizer.register_step_pre_hook(add_penalty_gradient)
