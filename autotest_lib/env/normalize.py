"""Observation scaling inside the policy: running mean/variance per observation entry, saved with the weights.

With ``EnvConfig.obs_norm`` the policy's features extractor is an :class:`ObsNormalizer`: it maps an observation
``x`` to ``clip((x - mean) / sqrt(var + eps), -clip, clip)`` before both the actor and the critic. Its
statistics are torch buffers, so they travel in the policy's ``state_dict`` (tensors only) wherever the
weights go, and every ``predict`` (validation, backtests, paper orders) uses them as they are: nothing but
:class:`NormalizerCallback` ever changes them.

During training the callback folds every observation the rollout collects into a pending batch and merges
it into the statistics when the next rollout starts, i.e. after the PPO update that used the rollout: the
observations of one rollout and its update all see the same statistics. At the start of a new model's first
run the statistics are seeded from the training window's observation rows (features and masks of every
day), so the very first rollout is already scaled.

The statistics are also written to the bundle as ``obs_norm.json`` (plain numbers) and loaded back into a
continued model with :func:`restore_stats`, so a continued model starts from its parent's scaling.
"""

from __future__ import annotations

import json
from typing import TYPE_CHECKING, Any

import gymnasium as gym
import numpy as np
import torch
from stable_baselines3.common.callbacks import BaseCallback
from stable_baselines3.common.torch_layers import BaseFeaturesExtractor

from autotest_lib.errors import BundleError

if TYPE_CHECKING:
    from stable_baselines3.common.base_class import BaseAlgorithm

    from autotest_lib.config import EnvConfig

__all__ = [
    "STATS_FILE",
    "NormalizerCallback",
    "ObsNormalizer",
    "normaliser_kwargs",
    "normalizers",
    "policy_extras",
    "restore_stats",
    "stats_json",
]

STATS_FILE = "obs_norm.json"
_EPS = 1e-8


class ObsNormalizer(BaseFeaturesExtractor):
    """Features extractor that standardises the observation with running statistics (buffers).

    :param observation_space: the env's flat ``Box``.
    :param clip: normalised values are clipped to ``[-clip, clip]``.
    """

    mean: torch.Tensor
    var: torch.Tensor
    count: torch.Tensor

    def __init__(self, observation_space: gym.spaces.Box, clip: float = 10.0) -> None:
        dim = int(np.prod(observation_space.shape))
        super().__init__(observation_space, features_dim=dim)
        self.clip = float(clip)
        self.register_buffer("mean", torch.zeros(dim, dtype=torch.float64))
        self.register_buffer("var", torch.ones(dim, dtype=torch.float64))
        self.register_buffer("count", torch.zeros((), dtype=torch.float64))

    def forward(self, observations: torch.Tensor) -> torch.Tensor:
        x = observations.flatten(start_dim=1).float()
        scaled = (x - self.mean.float()) / torch.sqrt(self.var.float() + _EPS)
        return scaled.clamp(-self.clip, self.clip)

    @torch.no_grad()
    def update(self, batch: np.ndarray) -> None:
        """Merge a batch ``(n, dim)`` of raw observations into the statistics (parallel Welford update)."""
        batch = np.asarray(batch, dtype=np.float64).reshape(len(batch), -1)
        if len(batch) == 0:
            return
        n_b = float(len(batch))
        mean_b = batch.mean(axis=0)
        var_b = batch.var(axis=0)
        n_a = float(self.count)
        mean_a = self.mean.numpy()
        var_a = self.var.numpy() if n_a > 0 else np.zeros_like(mean_b)
        total = n_a + n_b
        delta = mean_b - mean_a
        mean = mean_a + delta * n_b / total
        m2 = var_a * n_a + var_b * n_b + delta**2 * n_a * n_b / total
        self.mean.copy_(torch.from_numpy(mean))
        self.var.copy_(torch.from_numpy(m2 / total))
        self.count.fill_(total)

    def stats(self) -> dict[str, Any]:
        """The statistics as plain numbers: ``{"mean": [...], "var": [...], "count": n, "clip": c}``."""
        return {"mean": self.mean.tolist(), "var": self.var.tolist(), "count": float(self.count), "clip": self.clip}

    def load_stats(self, stats: dict[str, Any], where: str) -> None:
        """Set the statistics from :meth:`stats` output; ``where`` names the source in errors."""
        mean = np.asarray(stats.get("mean", ()), dtype=np.float64)
        var = np.asarray(stats.get("var", ()), dtype=np.float64)
        if mean.shape != tuple(self.mean.shape) or var.shape != tuple(self.var.shape):
            raise BundleError(
                f"{where}: normaliser statistics have {mean.shape[0] if mean.ndim else 0} entries, the policy observes "
                f"{self.mean.shape[0]}; the bundle belongs to a different observation layout"
            )
        if not (np.isfinite(mean).all() and np.isfinite(var).all() and (var >= 0).all()):
            raise BundleError(f"{where}: normaliser statistics hold NaN/inf or a negative variance; retrain or restore the bundle")
        self.mean.copy_(torch.from_numpy(mean))
        self.var.copy_(torch.from_numpy(var))
        self.count.fill_(float(stats.get("count", 0.0)))


def normaliser_kwargs(clip: float) -> dict[str, Any]:
    """Policy keyword arguments that put an :class:`ObsNormalizer` with ``clip`` in front of actor and critic."""
    return {"features_extractor_class": ObsNormalizer, "features_extractor_kwargs": {"clip": float(clip)}}


def policy_extras(config: EnvConfig) -> dict[str, Any]:
    """Policy keyword arguments a new model's env settings ask for (none with the defaults: the plain MLP policy)."""
    extras: dict[str, Any] = normaliser_kwargs(config.obs_norm_clip) if config.obs_norm else {}
    if config.log_std_init != 0.0:
        extras["log_std_init"] = config.log_std_init
    return extras


def normalizers(model: BaseAlgorithm) -> list[ObsNormalizer]:
    """The model's :class:`ObsNormalizer` modules (one when actor and critic share the extractor, else two)."""
    return [m for m in model.policy.modules() if isinstance(m, ObsNormalizer)]


def stats_json(model: BaseAlgorithm) -> bytes | None:
    """``obs_norm.json`` for the bundle, or None when the model has no normaliser."""
    found = normalizers(model)
    return json.dumps(found[0].stats()).encode() if found else None


def restore_stats(model: BaseAlgorithm, files: dict[str, bytes] | Any, where: str) -> bool:
    """Load ``obs_norm.json`` (bytes under :data:`STATS_FILE` in ``files``, or a bundle folder) into ``model``.

    :returns: True when statistics were loaded, False when the model or the bundle has none.
    """
    found = normalizers(model)
    if isinstance(files, dict):
        raw = files.get(STATS_FILE)
    else:
        path = files / STATS_FILE
        raw = path.read_bytes() if path.is_file() else None
    if not found or raw is None:
        return False
    try:
        stats = json.loads(raw)
    except ValueError as exc:
        raise BundleError(f"{where}/{STATS_FILE} is not JSON ({exc}); retrain or restore the bundle") from None
    for norm in found:
        norm.load_stats(stats, f"{where}/{STATS_FILE}")
    return True


class NormalizerCallback(BaseCallback):
    """Keeps a model's :class:`ObsNormalizer` statistics current during ``learn`` (and only then).

    :param seed_rows: observation rows to seed empty statistics with at training start (e.g. the training
        window's rows of ``MarketTables.static_obs``); None = start from the first rollout's observations.
    """

    def __init__(self, seed_rows: np.ndarray | None = None) -> None:
        super().__init__()
        self._seed_rows = seed_rows
        self._pending: list[np.ndarray] = []

    def _on_training_start(self) -> None:
        for norm in normalizers(self.model):
            if float(norm.count) == 0.0:
                rows = self._seed_rows if self._seed_rows is not None else np.asarray(self.model._last_obs)
                norm.update(rows)

    def _on_step(self) -> bool:
        obs = self.locals.get("new_obs")
        if obs is not None:
            self._pending.append(np.array(obs, dtype=np.float64, copy=True))
        return True

    def _on_rollout_start(self) -> None:
        """Merge the previous rollout's observations, now that its update is done (never after the last one)."""
        if not self._pending:
            return
        batch = np.concatenate(self._pending)
        self._pending = []
        for norm in normalizers(self.model):
            norm.update(batch)
