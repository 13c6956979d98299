"""Training: continuation LR and step counts, checkpoint resume, determinism, bundle integrity.

Tiny PPO runs (a few thousand steps) on the bundled real prices.
"""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path

import numpy as np
import pytest
import torch
from stable_baselines3.common.callbacks import BaseCallback
from tiny_specs import PRESET, Crash, tiny_spec

from autotest_lib.errors import BundleError
from autotest_lib.train import RunLinearSchedule, TrainSpec, load_model, train, verify_bundle

make_spec = tiny_spec


@pytest.fixture(scope="module")
def parent(tmp_path_factory) -> Path:
    return Path(train(make_spec(), tmp_path_factory.mktemp("parent")).bundle_uri)


class OptimizerLR(BaseCallback):
    """Reads the learning rate the optimizer really uses, after each update."""

    def __init__(self) -> None:
        super().__init__()
        self.rates: list[float] = []
        self.clip: list[float] = []

    def _on_step(self) -> bool:
        return True

    def _on_training_start(self) -> None:
        # a loaded model carries its parent's optimizer state (and last rate) until its first update here
        self._updates_at_start = self.model._n_updates

    def _on_rollout_start(self) -> None:
        if self.model._n_updates > self._updates_at_start:
            self.rates.append(self.model.policy.optimizer.param_groups[0]["lr"])
            self.clip.append(self.model.clip_range(self.model._current_progress_remaining))


def test_continuation_uses_base_lr_times_multiplier_and_adds_steps(parent: Path, tmp_path: Path) -> None:
    parent_manifest = verify_bundle(parent).manifest
    assert parent_manifest["cumulative_timesteps"] == 1024
    child = make_spec(
        model_id="t-refiner-00",
        role="refiner",
        parent_id="t-explorer-00",
        parent_bundle=str(parent),
        lr_schedule="constant",
        lr_multiplier=0.5,
        recent_start=dt.date(2023, 1, 3),
        recent_fraction=0.7,
        timesteps=1536,
    )
    probe = OptimizerLR()
    result = train(child, tmp_path, callback=probe)
    expected = PRESET.ppo.learning_rate * 0.5
    assert probe.rates, "no PPO update was observed"
    assert all(r == pytest.approx(expected, rel=1e-12) for r in probe.rates)
    assert result.cumulative_timesteps == 1024 + 1536
    assert result.timesteps_added == 1536
    assert verify_bundle(result.bundle_uri).manifest["parent_sha256"] == verify_bundle(parent).sha256
    assert result.hyperparameter_diff == {"effective_learning_rate": [PRESET.ppo.learning_rate, expected]}
    # the history also says so, update by update
    assert {round(h["learning_rate"], 12) for h in result.history} == {round(expected, 12)}


def test_continuation_weights_start_from_parent(parent: Path) -> None:
    a = load_model(parent).policy.state_dict()
    b = load_model(parent, learning_rate=1e-5).policy.state_dict()
    assert all(torch.equal(a[k], b[k]) for k in a)


def test_history_has_one_row_per_update(tmp_path: Path) -> None:
    result = train(make_spec(timesteps=1024), tmp_path)
    rollout = PRESET.ppo.n_steps * PRESET.ppo.n_envs
    assert len(result.history) == 1024 // rollout
    keys = {"value_loss", "policy_gradient_loss", "entropy_loss", "explained_variance", "approx_kl", "clip_fraction", "learning_rate"}
    for row in result.history:
        assert keys <= row.keys()
        assert all(np.isfinite(row[k]) for k in keys)
    # linear decay: each update trains at a lower rate than the previous one
    rates = [row["learning_rate"] for row in result.history]
    assert rates == sorted(rates, reverse=True) and rates[0] < PRESET.ppo.learning_rate


def test_killed_run_resumes_from_checkpoint(tmp_path: Path) -> None:
    spec = make_spec(timesteps=2048, checkpoint_every=512)
    with pytest.raises(KeyboardInterrupt):
        train(spec, tmp_path, callback=Crash(after=1300))
    ckpts = sorted((tmp_path / "checkpoints").glob("ckpt-*.safetensors"))
    assert ckpts, "no checkpoint was written before the kill"
    assert not (tmp_path / "bundle").exists()
    result = train(spec, tmp_path)
    assert result.resumed_from_steps == 1024
    assert result.cumulative_timesteps == 2048
    assert [h["n_updates"] for h in result.history] == sorted({h["n_updates"] for h in result.history})
    assert len(result.history) == 2048 // (PRESET.ppo.n_steps * PRESET.ppo.n_envs)
    assert not (tmp_path / "checkpoints").exists()


def test_checkpoint_of_another_spec_is_not_resumed(tmp_path: Path) -> None:
    with pytest.raises(KeyboardInterrupt):
        train(make_spec(timesteps=2048), tmp_path, callback=Crash(after=1300))
    result = train(make_spec(timesteps=2048, seed=99), tmp_path)
    assert result.resumed_from_steps is None


def test_same_spec_same_seed_identical_weights(tmp_path: Path) -> None:
    spec = make_spec(timesteps=1024)
    a = load_model(train(spec, tmp_path / "a").bundle_uri).policy.state_dict()
    b = load_model(train(spec, tmp_path / "b").bundle_uri).policy.state_dict()
    c = load_model(train(make_spec(timesteps=1024, seed=4), tmp_path / "c").bundle_uri).policy.state_dict()
    assert all(torch.equal(a[k], b[k]) for k in a)
    assert not all(torch.equal(a[k], c[k]) for k in a)


def test_retry_after_success_returns_the_same_bundle(tmp_path: Path) -> None:
    first = train(make_spec(), tmp_path)
    again = train(make_spec(), tmp_path)
    assert again.bundle_sha256 == first.bundle_sha256
    assert again.history == first.history


def test_tampered_bundle_is_refused(parent: Path, tmp_path: Path) -> None:
    import shutil

    copy = tmp_path / "copy"
    shutil.copytree(parent, copy)
    data = bytearray((copy / "model.safetensors").read_bytes())
    data[len(data) // 2] ^= 0xFF
    (copy / "model.safetensors").write_bytes(bytes(data))
    with pytest.raises(BundleError, match="altered"):
        load_model(copy)

    shutil.rmtree(copy)
    shutil.copytree(parent, copy)
    (copy / "evil.pkl").write_bytes(b"x")
    with pytest.raises(BundleError, match="does not list"):
        verify_bundle(copy)

    (copy / "evil.pkl").unlink()
    (copy / "manifest.json").unlink()
    with pytest.raises(BundleError, match=r"manifest\.json is missing"):
        verify_bundle(copy)


def test_manifest_records_provenance(parent: Path) -> None:
    m = verify_bundle(parent).manifest
    assert m["cutoff"] == "2024-09-08" and m["train_window"] == ["2020-01-02", "2024-06-01"]
    assert m["seed"] == 3 and set(m["files"]) == {"model.safetensors", "history.json"}
    assert {"torch", "stable_baselines3", "numpy", "python"} <= m["versions"].keys()
    assert TrainSpec.model_validate(m["spec"]) == make_spec()
    assert json.loads((parent / "history.json").read_text())


def test_run_linear_schedule_decays_over_this_run_only() -> None:
    s = RunLinearSchedule(1e-3, start_steps=1000, end_steps=3000)
    # SB3 gives progress_remaining = 1 - n / end_steps
    assert s(1 - 1000 / 3000) == pytest.approx(1e-3)
    assert s(1 - 2000 / 3000) == pytest.approx(5e-4)
    assert s(1 - 3000 / 3000) == pytest.approx(0.0)
    assert s(1 - 3200 / 3000) == 0.0  # overshoot clipped


def test_spec_rejects_inconsistent_windows() -> None:
    with pytest.raises(ValueError, match="train_start < train_end <= cutoff"):
        make_spec(train_end=dt.date(2024, 10, 1))
    with pytest.raises(ValueError, match="parent_bundle is required"):
        make_spec(role="refiner")
