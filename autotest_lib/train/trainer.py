"""``train(spec, work_dir)``: build or continue one SB3 PPO model, checkpointed, and write its bundle.

Composition, not inheritance: this module builds a ``PPO`` with the spec's hyperparameters (or rebuilds the
parent's network from its bundle and loads its tensors, at the new rate), attaches two callbacks (training history, checkpoints) and
calls ``learn``. A task killed part-way and retried with the same spec and ``work_dir`` resumes from its
latest checkpoint; the cumulative step count comes out right either way.

Layout of ``work_dir`` (one folder per model per week)::

    work_dir/bundle             the finished bundle (model.safetensors, history.json, manifest.json): a link
                                to its version folder work_dir/.bundle.v-<id> (see autotest_lib.train.bundle)
    work_dir/checkpoints/       ckpt-<steps>.safetensors + .json while training; removed once the bundle exists
    work_dir/.train.lock        held (fcntl) by the one process training this folder

Checkpoints are tensors only, like bundles; the JSON sidecar (written last) holds the step counts, the
history so far and the sha256 of the tensors. A checkpoint that fails its hash or does not load is skipped
with a warning in the log, and the run resumes from the previous good one or starts clean.
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import logging
import os
import shutil
import socket
import time
from collections.abc import Callable, Iterator, Mapping
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from autotest_lib.config import PPOParams
from autotest_lib.errors import BundleError
from autotest_lib.train.bundle import (
    Bundle,
    architecture,
    build_ppo,
    clean_stale,
    load_model,
    model_state_bytes,
    ppo_kwargs,
    restore_model_state,
    sha256_bytes,
    spec_hash,
    verify_bundle,
    write_bundle,
)
from autotest_lib.train.ewc import EWC_FILE, EWCState, attach_ewc, estimate_fisher
from autotest_lib.train.search_space import hyperparameter_diff
from autotest_lib.train.spec import TrainSpec

if TYPE_CHECKING:
    from stable_baselines3 import PPO
    from stable_baselines3.common.callbacks import BaseCallback
    from stable_baselines3.common.vec_env import VecEnv

    from autotest_lib.data import MarketData

__all__ = ["RunLinearSchedule", "TrainResult", "make_vec_env", "spec_hash", "train"]

log = logging.getLogger(__name__)
LOCK_FILE = ".train.lock"

#: SB3 logger keys recorded per PPO update, and the names they get in the training history.
HISTORY_KEYS = {
    "train/value_loss": "value_loss",
    "train/policy_gradient_loss": "policy_gradient_loss",
    "train/entropy_loss": "entropy_loss",
    "train/explained_variance": "explained_variance",
    "train/approx_kl": "approx_kl",
    "train/clip_fraction": "clip_fraction",
    "train/learning_rate": "learning_rate",
    "train/loss": "loss",
    "train/ewc_penalty": "ewc_penalty",
}


class RunLinearSchedule:
    """Learning rate decaying linearly from ``lr`` to 0 over *this run's* steps, not the model's lifetime.

    SB3 passes ``progress_remaining = 1 - n / N`` where ``N`` is the step count the run ends at. For a run
    that starts at ``n0`` (a continued model, or a resumed checkpoint) the fraction done is
    ``(n - n0) / (N - n0)`` and ``lr_t = lr * (1 - fraction_done)``, clipped at 0 (SB3 may overshoot ``N``
    by part of a rollout).
    """

    def __init__(self, lr: float, start_steps: int, end_steps: int) -> None:
        self.lr, self.start_steps, self.end_steps = float(lr), int(start_steps), int(end_steps)

    def __call__(self, progress_remaining: float) -> float:
        steps = (1.0 - progress_remaining) * self.end_steps
        done = (steps - self.start_steps) / max(self.end_steps - self.start_steps, 1)
        return self.lr * min(max(1.0 - done, 0.0), 1.0)

    def __repr__(self) -> str:
        return f"RunLinearSchedule(lr={self.lr}, start_steps={self.start_steps}, end_steps={self.end_steps})"


@dataclass(frozen=True)
class TrainResult:
    """What one training run produced. ``summary()`` is the small JSON that travels through XCom."""

    model_id: str
    role: str
    parent_id: str | None
    bundle_uri: str
    bundle_sha256: str
    timesteps_added: int
    cumulative_timesteps: int
    learning_rate: float
    wall_time_s: float
    resumed_from_steps: int | None
    hyperparameters: dict[str, Any]
    hyperparameter_diff: dict[str, list[Any]]
    history: list[dict[str, float]] = field(repr=False)

    def summary(self) -> dict[str, Any]:
        out = asdict(self)
        out.pop("history")
        return out


def make_vec_env(spec: TrainSpec, market: MarketData | None = None) -> VecEnv:
    """The batched training env over ``[train_start, train_end)`` with the spec's recent/history mix."""
    # deliberately lazy: data (pandas, SQLAlchemy) and env (SB3's VecEnv) stay out of ``import autotest_lib.train``,
    # which TrainSpec and the pure PBT step (train.search_space) need without them
    from autotest_lib.data import load_market
    from autotest_lib.env import BatchedPortfolioVecEnv

    if market is None:
        market = load_market(
            list(spec.tickers), start=spec.train_start, cutoff=spec.train_end, feature_set=spec.env.feature_set, source=spec.data_source
        )
    return BatchedPortfolioVecEnv(
        market,
        spec.env,
        spec.ppo.n_envs,
        start=spec.train_start,
        end=spec.train_end,
        recent_start=spec.recent_start,
        recent_fraction=spec.recent_fraction,
        seed=spec.seed,
    )


def _callbacks_base() -> type[BaseCallback]:
    from stable_baselines3.common.callbacks import BaseCallback

    return BaseCallback


def _make_history_callback(history: list[dict[str, float]]) -> BaseCallback:
    """Records SB3's per-update training statistics (and the rollout's mean reward) into ``history``.

    PPO logs ``train/*`` right after each update; they stay in ``logger.name_to_value`` until the logs are
    dumped after the next rollout, so they are read when the next rollout starts (before a checkpoint is
    saved there) and once more when training ends.
    """

    class HistoryCallback(_callbacks_base()):  # type: ignore[misc]
        def __init__(self) -> None:
            super().__init__()
            self._last_update = -1
            self._reward_mean = float("nan")

        def _capture(self) -> None:
            n_updates = int(getattr(self.model, "_n_updates", 0))
            values = self.model.logger.name_to_value
            if n_updates == self._last_update or "train/value_loss" not in values:
                return
            row = {"timesteps": float(self.model.num_timesteps), "n_updates": float(n_updates), "reward_mean": self._reward_mean}
            row.update({short: float(values[key]) for key, short in HISTORY_KEYS.items() if key in values})
            history.append(row)
            self._last_update = n_updates

        def _on_step(self) -> bool:
            return True

        def _on_rollout_start(self) -> None:
            self._capture()

        def _on_rollout_end(self) -> None:
            self._reward_mean = float(self.model.rollout_buffer.rewards.mean())

        def _on_training_end(self) -> None:
            self._capture()

    return HistoryCallback()


def _make_checkpoint_callback(ckpt_dir: Path, every: int, spec_digest: str, history: list[dict[str, float]]) -> BaseCallback:
    """Saves ``ckpt-<steps>.safetensors`` (+ a JSON sidecar with the history so far) every ``every`` steps.

    Saved at rollout start, i.e. right after an update, so a resumed run repeats no update.
    """

    class CheckpointCallback(_callbacks_base()):  # type: ignore[misc]
        def __init__(self) -> None:
            super().__init__()
            self._last_saved = -1

        def _on_step(self) -> bool:
            return True

        def _on_training_start(self) -> None:
            self._last_saved = self.model.num_timesteps

        def _on_rollout_start(self) -> None:
            steps = self.model.num_timesteps
            if steps - self._last_saved >= every:
                save_checkpoint(ckpt_dir, self.model, spec_digest, history)
                self._last_saved = steps

    return CheckpointCallback()


class CheckpointMeta(BaseModel):
    """The JSON sidecar of ``ckpt-<steps>.safetensors``: written last, it marks the checkpoint complete."""

    model_config = ConfigDict(extra="forbid")

    steps: int = Field(ge=0)
    n_updates: int = Field(ge=0)
    spec_sha256: str = Field(pattern=r"^[0-9a-f]{64}$")
    state_sha256: str = Field(pattern=r"^[0-9a-f]{64}$")
    history: list[dict[str, float]]


def save_checkpoint(ckpt_dir: Path, model: PPO, spec_digest: str, history: list[dict[str, float]]) -> Path:
    """Write ``ckpt-<steps>.safetensors`` and its sidecar atomically (temporary names, then rename)."""
    ckpt_dir.mkdir(parents=True, exist_ok=True)
    steps = int(model.num_timesteps)
    stem = ckpt_dir / f"ckpt-{steps:012d}"
    state = model_state_bytes(model)
    meta = CheckpointMeta(
        steps=steps, n_updates=int(model._n_updates), spec_sha256=spec_digest, state_sha256=sha256_bytes(state), history=history
    )
    tmp_state, tmp_json = ckpt_dir / f".tmp-{steps}.safetensors", ckpt_dir / f".tmp-{steps}.json"
    tmp_state.write_bytes(state)
    tmp_json.write_text(meta.model_dump_json())
    os.replace(tmp_state, stem.with_suffix(".safetensors"))
    os.replace(tmp_json, stem.with_suffix(".json"))  # the sidecar last: it marks the checkpoint complete
    return stem.with_suffix(".safetensors")


def _resume(
    ckpt_dir: Path, spec_digest: str, build: Callable[[], PPO], started_from: str
) -> tuple[PPO, CheckpointMeta] | tuple[None, None]:
    """The model restored from the newest good checkpoint of this same spec, or ``(None, None)``.

    A checkpoint whose sidecar is unreadable, whose tensors fail their hash or do not load into the network
    is skipped with a warning; when none is usable the run starts clean (from ``started_from``), and says so.

    :param build: makes a fresh model of the right shape to load a checkpoint into.
    """
    if not ckpt_dir.is_dir():
        return None, None
    skipped = 0
    for sidecar in sorted(ckpt_dir.glob("ckpt-*.json"), reverse=True):
        state_path = sidecar.with_suffix(".safetensors")
        try:
            meta = CheckpointMeta.model_validate_json(sidecar.read_bytes())
            if meta.spec_sha256 != spec_digest:
                continue  # another spec's checkpoint: never resumed
            state = state_path.read_bytes()
            if (actual := sha256_bytes(state)) != meta.state_sha256:
                raise BundleError(f"{state_path.name} has sha256 {actual[:12]}..., its sidecar says {meta.state_sha256[:12]}...")
            model = build()
            restore_model_state(model, state, str(state_path))
        except (ValidationError, OSError, BundleError) as exc:
            skipped += 1
            reason = str(exc).strip().splitlines()[0]
            log.warning(
                "checkpoint %s is corrupt or unreadable (%s); falling back to the previous checkpoint", sidecar.with_suffix(""), reason
            )
            continue
        model.num_timesteps, model._n_updates = meta.steps, meta.n_updates
        if skipped:
            log.warning("resuming from %s after skipping %d corrupt checkpoint(s)", state_path, skipped)
        return model, meta
    if skipped:
        log.warning("no usable checkpoint in %s (%d corrupt): starting clean from %s", ckpt_dir, skipped, started_from)
    return None, None


@contextlib.contextmanager
def training_lock(work_dir: Path) -> Iterator[None]:
    """Hold an exclusive ``fcntl`` lock on ``work_dir`` while training it; a second trainer fails at once.

    The kernel drops the lock when the holder dies (even by ``kill -9``), so a retry never waits on a ghost.

    :raises BundleError: another process (named in the lock file) is training this folder.
    """
    work_dir.mkdir(parents=True, exist_ok=True)
    path = work_dir / LOCK_FILE
    fh = open(path, "a+")  # noqa: SIM115 - held open for the whole training
    try:
        try:
            fcntl.flock(fh, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            fh.seek(0)
            holder = fh.read().strip() or "another process"
            raise BundleError(
                f"{work_dir} is already being trained by {holder} (lock {path}); two trainers on one folder would overwrite "
                "each other's checkpoints and bundle. Wait for that run to finish, or stop it first."
            ) from None
        fh.seek(0)
        fh.truncate()
        fh.write(f"pid {os.getpid()} on {socket.gethostname()}\n")
        fh.flush()
        yield
    finally:
        fh.close()  # closing releases the lock


def _ppo_kwargs(spec: TrainSpec, lr: Callable[[float], float] | float) -> dict[str, Any]:
    """PPO's keyword arguments from the spec: a new model is built with them, a continued one (whose
    architecture stays the parent's) is rebuilt with them before its tensors are loaded."""
    return {**ppo_kwargs(spec.ppo, spec.seed), "learning_rate": lr}


def _new_model(
    spec: TrainSpec,
    env: VecEnv,
    lr: Callable[[float], float] | float,
    net_arch: tuple[int, ...] | None = None,
    extras: Mapping[str, Any] | None = None,
) -> PPO:
    """A new PPO with the spec's hyperparameters and seed, at rate ``lr``, with ``net_arch`` and the policy
    ``extras`` (default the spec's: its widths, and the normaliser and log std its env asks for)."""
    from autotest_lib.env.normalize import policy_extras

    return build_ppo(
        spec.ppo,
        net_arch=net_arch or spec.ppo.net_arch,
        env=env,
        policy_extras=policy_extras(spec.env) if extras is None else extras,
        **_ppo_kwargs(spec, lr),
    )


def train(
    spec: TrainSpec,
    work_dir: Path | str,
    *,
    market: MarketData | None = None,
    callback: BaseCallback | None = None,
) -> TrainResult:
    """Train a new model or continue ``spec.parent_bundle`` by ``spec.timesteps`` steps; write the bundle.

    :param spec: what to train; the same spec, data and seed on CPU give identical weights.
    :param work_dir: this model's folder for this week; checkpoints and the bundle go here. A retry with
        the same spec and folder resumes from the latest checkpoint, and returns the bundle if it is done.
    :param market: prices for the training window, if already loaded (else loaded from ``spec``).
    :param callback: an extra SB3 callback (e.g. for progress or tests).
    """

    work_dir = Path(work_dir)
    with training_lock(work_dir):
        return _train_locked(spec, work_dir, market, callback)


def _train_locked(spec: TrainSpec, work_dir: Path, market: MarketData | None, callback: BaseCallback | None) -> TrainResult:
    import torch
    from stable_baselines3.common.utils import set_random_seed

    bundle_dir, ckpt_dir = work_dir / "bundle", work_dir / "checkpoints"
    for leftover in clean_stale(bundle_dir):
        log.warning("removed %s, left behind by an interrupted bundle write", leftover)
    digest = spec_hash(spec)
    if (done := _finished_bundle(bundle_dir, digest)) is not None:
        return _result_from_bundle(done, wall_time_s=0.0)

    started = time.perf_counter()
    set_random_seed(spec.seed)
    torch.use_deterministic_algorithms(True, warn_only=True)
    env = make_vec_env(spec, market)
    try:
        bundle, wall = _train_in(env, spec, digest, bundle_dir, ckpt_dir, started, callback)
    finally:
        env.close()
    shutil.rmtree(ckpt_dir, ignore_errors=True)
    return _result_from_bundle(bundle, wall_time_s=wall)


def _train_in(
    env: VecEnv, spec: TrainSpec, digest: str, bundle_dir: Path, ckpt_dir: Path, started: float, callback: BaseCallback | None
) -> tuple[Bundle, float]:
    """Build, resume or continue the model in ``env``, train it to the spec's steps and write its bundle."""
    from stable_baselines3.common.callbacks import CallbackList

    from autotest_lib.env.normalize import STATS_FILE, policy_extras, stats_json

    parent = verify_bundle(spec.parent_bundle, spec.parent_sha256) if spec.parent_bundle else None
    start_steps = int(parent.manifest["cumulative_timesteps"]) if parent else 0
    end_steps = start_steps + spec.timesteps
    lr: Callable[[float], float] | float = (
        RunLinearSchedule(spec.learning_rate, start_steps, end_steps) if spec.lr_schedule == "linear" else spec.learning_rate
    )
    # a continued model keeps its parent's network; every hyperparameter (and the rate) is this spec's
    net_arch, extras = architecture(parent) if parent is not None else (spec.ppo.net_arch, policy_extras(spec.env))

    def fresh() -> PPO:
        return _new_model(spec, env, lr, net_arch, extras)

    history: list[dict[str, float]] = []
    restored, resumed = _resume(ckpt_dir, digest, fresh, f"parent {parent.path}" if parent else "scratch")
    if restored is not None and resumed is not None:
        model = restored
        history.extend(resumed.history)
        log.info("%s: resumed from checkpoint at step %d", spec.model_id, int(resumed.steps))
    elif parent is not None:
        model = load_model(parent, env=env, **_ppo_kwargs(spec, lr))
    else:
        model = fresh()
    model.set_random_seed(spec.seed)
    ewc = _ewc_state(spec, parent) if spec.ewc_weight > 0 and parent is not None else None
    if ewc is not None:
        attach_ewc(model, ewc, spec.ewc_weight)
    learn_extras = _learn_extras(model, env, parent if resumed is None else None)

    remaining = end_steps - int(model.num_timesteps)
    if remaining > 0:
        # deliberately lazy: progress subclasses SB3's BaseCallback
        from autotest_lib.train.progress import ProgressCallback, progress_interval_s

        callbacks = [
            _make_history_callback(history),
            _make_checkpoint_callback(ckpt_dir, spec.checkpoint_every, digest, history),
            ProgressCallback(spec.model_id, end_steps, progress_interval_s()),
            *learn_extras,
        ]
        if callback is not None:
            callbacks.append(callback)
        model.learn(total_timesteps=remaining, reset_num_timesteps=False, callback=CallbackList(callbacks))
    wall = time.perf_counter() - started

    manifest = {
        "model_id": spec.model_id,
        "role": spec.role,
        "parent_id": spec.parent_id,
        "parent_sha256": parent.sha256 if parent else None,
        "spec": spec.model_dump(mode="json"),
        "spec_sha256": digest,
        "cumulative_timesteps": int(model.num_timesteps),
        "timesteps_added": int(model.num_timesteps) - start_steps,
        "learning_rate": spec.learning_rate,
        "train_window": [spec.train_start.isoformat(), spec.train_end.isoformat()],
        "cutoff": spec.cutoff.isoformat(),
        "seed": spec.seed,
        "wall_time_s": round(wall, 3),
        "resumed_from_steps": resumed.steps if resumed else None,
        "observation": {
            "max_tickers": spec.env.max_tickers,
            "feature_set": spec.env.feature_set,
            "dim": int((env.observation_space.shape or (0,))[0]),
        },
    }
    extra = {"history.json": json.dumps(history).encode()}
    if (stats := stats_json(model)) is not None:
        extra[STATS_FILE] = stats
    if ewc is not None:
        manifest["ewc"] = {"weight": spec.ewc_weight, "windows": [list(w) for w in ewc.windows]}
        extra[EWC_FILE] = ewc.to_bytes()
    bundle = write_bundle(bundle_dir, model, manifest, extra)
    return bundle, wall


def _ewc_state(spec: TrainSpec, parent: Bundle) -> Any:
    """EWC towards ``parent``: its Fisher on its own training window, plus what its bundle consolidated before."""
    parent_spec = TrainSpec.model_validate(parent.manifest["spec"])
    env = make_vec_env(parent_spec)
    try:
        model = load_model(parent, env=env)
        window = (parent_spec.train_start.isoformat(), parent_spec.train_end.isoformat())
        state = estimate_fisher(model, env, seed=spec.seed, window=window)
    finally:
        env.close()
    if EWC_FILE in parent.blobs:  # online EWC: the parent's own consolidation carries over (its verified bytes)
        state = EWCState.from_bytes(parent.blobs[EWC_FILE], str(parent.path / EWC_FILE)).merged_with(state)
    return state


def _learn_extras(model: PPO, env: VecEnv, parent: Bundle | None) -> list[BaseCallback]:
    """The observation normaliser's hook: a model just loaded from ``parent`` takes its parent's statistics
    (a resumed checkpoint keeps its own); one with a normaliser keeps it current during ``learn`` (seeded from
    the training window's observation rows when empty)."""
    from autotest_lib.env.normalize import NormalizerCallback, normalizers, restore_stats

    if parent is not None:
        restore_stats(model, dict(parent.blobs), str(parent.path))
    if not normalizers(model):
        return []
    tables = getattr(env, "tables", None)
    sampler = getattr(env, "sampler", None)
    rows = None if tables is None or sampler is None else tables.static_obs[sampler.i0 : sampler.i1]
    return [NormalizerCallback(rows)]


def _finished_bundle(bundle_dir: Path, digest: str) -> Bundle | None:
    """The bundle already written by this same spec (an idempotent retry), else None."""
    if not (bundle_dir / "manifest.json").is_file():
        return None
    bundle = verify_bundle(bundle_dir)
    return bundle if bundle.manifest.get("spec_sha256") == digest else None


def _result_from_bundle(bundle: Bundle, *, wall_time_s: float) -> TrainResult:
    m = bundle.manifest
    spec = TrainSpec.model_validate(m["spec"])
    parent_params = None
    parent_lr = None
    if spec.parent_bundle:
        try:
            parent_spec = TrainSpec.model_validate(verify_bundle(spec.parent_bundle).manifest["spec"])
            parent_params, parent_lr = parent_spec.ppo, parent_spec.learning_rate
        except BundleError:  # the parent may have been pruned from the archive since; the diff is then unknown
            parent_params = None
    history = json.loads((bundle.path / "history.json").read_text())
    return TrainResult(
        model_id=m["model_id"],
        role=m["role"],
        parent_id=m["parent_id"],
        bundle_uri=bundle.uri,
        bundle_sha256=bundle.sha256,
        timesteps_added=int(m["timesteps_added"]),
        cumulative_timesteps=int(m["cumulative_timesteps"]),
        learning_rate=float(m["learning_rate"]),
        wall_time_s=wall_time_s or float(m.get("wall_time_s", 0.0)),
        resumed_from_steps=m.get("resumed_from_steps"),
        hyperparameters=PPOParams.model_validate(m["spec"]["ppo"]).model_dump(mode="json"),
        hyperparameter_diff=hyperparameter_diff(
            parent_params, spec.ppo, learning_rate=(parent_lr, spec.learning_rate) if parent_lr is not None else None
        ),
        history=history,
    )
