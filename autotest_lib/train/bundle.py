"""Model bundles: a directory holding the model's tensors and ``manifest.json``, travelling between tasks.

Nothing in a bundle is ever unpickled. The weights and the optimizer state are tensors in one
``model.safetensors`` file; everything else is plain JSON: the manifest (spec, data window, cutoff, seed,
library versions, network shape, step counts and the sha256 of every other file) is validated by
:class:`Manifest`, and the ``PPO`` is rebuilt from it before the tensors are loaded into it.

The manifest's own sha256 is the bundle's identity; the registry records it when a model is registered, and
a caller that got the path from the registry passes that hash as ``expected_sha256``: a bundle rewritten
after registration (even with a re-hashed manifest) is refused, naming both hashes.

Layout and atomic replacement: ``dest`` is a relative symlink to a sibling version folder
``.<name>.v-<id>`` that never changes once written. A rewrite writes a new version folder, then swaps the
link with one ``rename``, then deletes the old version; a reader resolves the link once and reads one whole
version (it retries if the version it resolved was deleted under it), so it never sees "no bundle" or a mix
of two versions. Leftovers of a crash (``.<name>.tmp-*``, ``.<name>.old-*``, unreferenced versions) are
removed by the next write or removal.

Bundles of format 1 (an SB3 ``model.zip``) still load: only the zip's ``policy.pth`` and
``policy.optimizer.pth`` are read, with ``torch.load(weights_only=True)``, which refuses anything but tensors
and plain containers; SB3's pickled ``data`` entry is never deserialised.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import io
import json
import os
import platform
import shutil
import uuid
import zipfile
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from autotest_lib.errors import BundleError
from autotest_lib.train.spec import Role, TrainSpec

if TYPE_CHECKING:
    from stable_baselines3 import PPO
    from stable_baselines3.common.vec_env import VecEnv

    from autotest_lib.config import PPOParams

__all__ = [
    "MANIFEST",
    "STATE_FILE",
    "Bundle",
    "Manifest",
    "architecture",
    "build_ppo",
    "library_versions",
    "load_model",
    "model_state_bytes",
    "ppo_kwargs",
    "remove_bundle",
    "restore_model_state",
    "sha256_bytes",
    "sha256_file",
    "spec_hash",
    "verify_bundle",
    "write_bundle",
]

MANIFEST = "manifest.json"
STATE_FILE = "model.safetensors"
LEGACY_MODEL_FILE = "model.zip"
FORMAT_VERSION = 2
_SHA256 = r"^[0-9a-f]{64}$"
_READ_ATTEMPTS = 5  # a reader retries when the version it resolved was swapped out while it read


def sha256_bytes(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def sha256_file(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def spec_hash(spec: TrainSpec) -> str:
    """sha256 of the spec's canonical JSON: a checkpoint is only resumed by the spec that wrote it."""
    return sha256_bytes(spec.model_dump_json().encode())


# -- the manifest schema ------------------------------------------------------------------------------------


class ObservationInfo(BaseModel):
    """The observation the network was trained on."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    max_tickers: int = Field(ge=1, description="Ticker slots of the layout.")
    feature_set: str = Field(description="Feature set name.")
    dim: int = Field(ge=1, description="Length of the observation vector.")


class PolicyInfo(BaseModel):
    """What rebuilding the network needs, and the counters SB3 would have pickled."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    net_arch: tuple[int, ...] = Field(min_length=1, description="Hidden layer widths the weights were trained with.")
    n_updates: int = Field(ge=0, description="Gradient steps taken so far (SB3's ``_n_updates``).")
    obs_norm_clip: float | None = Field(
        None, gt=0, description="The policy's observation normaliser clip (statistics are buffers in the weights); null = none."
    )


class EWCInfo(BaseModel):
    """The EWC penalty a continued model trained under (its Fisher statistics are the bundle's ``ewc.npz``)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    weight: float = Field(gt=0, description="Penalty weight.")
    windows: list[tuple[str, str]] = Field(description="Training windows consolidated so far.")


class Manifest(BaseModel):
    """``manifest.json``: plain JSON, checked field by field and for consistency with its own spec."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    format: Literal[1, 2] = Field(description="Bundle format: 2 = safetensors, 1 = legacy SB3 zip (read only).")
    model_id: str = Field(min_length=1)
    role: Role
    parent_id: str | None = None
    parent_sha256: str | None = Field(None, pattern=_SHA256)
    spec: TrainSpec
    spec_sha256: str = Field(pattern=_SHA256)
    cumulative_timesteps: int = Field(ge=0)
    timesteps_added: int = Field(ge=0)
    learning_rate: float = Field(gt=0)
    train_window: tuple[dt.date, dt.date]
    cutoff: dt.date
    seed: int = Field(ge=0)
    wall_time_s: float = Field(ge=0)
    resumed_from_steps: int | None = Field(None, ge=0)
    observation: ObservationInfo
    policy: PolicyInfo | None = Field(None, description="Required from format 2 on.")
    ewc: EWCInfo | None = Field(None, description="Elastic weight consolidation towards the parent, when trained with it.")
    versions: dict[str, str]
    files: dict[str, str]

    @model_validator(mode="after")
    def _consistent(self) -> Manifest:
        s = self.spec
        mismatched = [
            name
            for name, ours, specs in (
                ("model_id", self.model_id, s.model_id),
                ("role", self.role, s.role),
                ("parent_id", self.parent_id, s.parent_id),
                ("seed", self.seed, s.seed),
                ("cutoff", self.cutoff, s.cutoff),
                ("train_window", self.train_window, (s.train_start, s.train_end)),
                ("observation.max_tickers", self.observation.max_tickers, s.env.max_tickers),
            )
            if ours != specs
        ]
        if mismatched:
            raise ValueError(f"{', '.join(mismatched)} disagree(s) with the manifest's own spec")
        if self.timesteps_added > self.cumulative_timesteps:
            raise ValueError(f"timesteps_added={self.timesteps_added} exceeds cumulative_timesteps={self.cumulative_timesteps}")
        if self.format >= 2:
            if self.policy is None:
                raise ValueError("a format-2 manifest needs its 'policy' table (net_arch, n_updates)")
            if spec_hash(s) != self.spec_sha256:
                raise ValueError("spec_sha256 is not the hash of the manifest's spec: the spec was edited")
            rollout = s.ppo.n_steps * s.ppo.n_envs
            if self.timesteps_added >= s.timesteps + rollout:  # fewer is possible: a callback may stop training early
                raise ValueError(f"timesteps_added={self.timesteps_added} exceeds what spec.timesteps={s.timesteps} trains")
            if s.parent_bundle is None and self.cumulative_timesteps != self.timesteps_added:
                raise ValueError(f"a new model has cumulative_timesteps={self.cumulative_timesteps} != timesteps_added")
        for name, digest in self.files.items():
            if "/" in name or name.startswith(".") or name == MANIFEST or len(digest) != 64:
                raise ValueError(f"files table entry {name!r}: {digest!r} is not a file name with a sha256")
        return self


@dataclass(frozen=True)
class Bundle:
    """A verified bundle. ``sha256`` is the manifest's hash: the identity of the whole bundle.

    ``blobs`` holds the verified bytes of every file, read once: loading uses them, never the disk again,
    so a rewrite after verification cannot slip a different file in.
    """

    path: Path
    manifest: dict[str, Any]
    sha256: str
    blobs: Mapping[str, bytes] = field(default_factory=dict, repr=False, compare=False)

    @property
    def uri(self) -> str:
        return str(self.path)

    @property
    def spec(self) -> TrainSpec:
        return TrainSpec.model_validate(self.manifest["spec"])


def library_versions() -> dict[str, str]:
    """Versions that decide whether a bundle loads and behaves the same elsewhere."""
    import gymnasium
    import numpy
    import safetensors
    import stable_baselines3
    import torch

    import autotest_lib

    return {
        "python": platform.python_version(),
        "autotest": autotest_lib.__version__,
        "stable_baselines3": stable_baselines3.__version__,
        "torch": torch.__version__,
        "numpy": numpy.__version__,
        "gymnasium": gymnasium.__version__,
        "safetensors": safetensors.__version__,
    }


# -- tensors in, tensors out --------------------------------------------------------------------------------


def model_state_bytes(model: PPO) -> bytes:
    """The policy's weights and its optimizer's state as one safetensors file (tensors + JSON metadata).

    Tensors: ``policy/<name>`` and ``optimizer/<param index>/<name>``; the optimizer's param groups (learning
    rate, betas, ...) and any non-tensor state ride in the metadata as JSON.
    """
    from safetensors.torch import save

    tensors = {f"policy/{k}": v.detach().cpu().contiguous().clone() for k, v in model.policy.state_dict().items()}
    opt = model.policy.optimizer.state_dict()
    scalars: dict[str, dict[str, Any]] = {}
    for index, state in opt["state"].items():
        for name, value in state.items():
            if hasattr(value, "detach"):
                tensors[f"optimizer/{index}/{name}"] = value.detach().cpu().contiguous().clone()
            else:
                scalars.setdefault(str(index), {})[name] = value
    metadata = {"optimizer_param_groups": json.dumps(opt["param_groups"]), "optimizer_scalars": json.dumps(scalars)}
    return save(tensors, metadata=metadata)


def restore_model_state(model: PPO, data: bytes, where: str) -> None:
    """Load :func:`model_state_bytes` output into ``model`` (same architecture), or raise :class:`BundleError`.

    :param where: the file the bytes came from, for the error message.
    """
    from safetensors import SafetensorError
    from safetensors.torch import load

    try:
        tensors = load(data)
        meta = _safetensors_metadata(data)
        groups = json.loads(meta["optimizer_param_groups"])
        scalars = json.loads(meta.get("optimizer_scalars", "{}"))
    except (SafetensorError, ValueError, KeyError, TypeError, AttributeError) as exc:  # not safetensors, or odd metadata
        raise BundleError(f"{where} is not a safetensors model state ({type(exc).__name__}: {exc}); retrain or restore it") from None
    policy = {k.removeprefix("policy/"): v for k, v in tensors.items() if k.startswith("policy/")}
    state: dict[int, dict[str, Any]] = {}
    for key, value in tensors.items():
        if key.startswith("optimizer/"):
            _, index, name = key.split("/", 2)
            state.setdefault(int(index), {})[name] = value
    for index, values in scalars.items():
        state.setdefault(int(index), {}).update(values)
    for group in groups:
        if isinstance(group.get("betas"), list):
            group["betas"] = tuple(group["betas"])
    try:
        model.policy.load_state_dict(policy, strict=True)
        model.policy.optimizer.load_state_dict({"state": state, "param_groups": groups})
    except (RuntimeError, ValueError, KeyError) as exc:
        first = str(exc).strip().splitlines()[0]
        raise BundleError(f"{where} does not fit the network its manifest describes: {first}") from None


def _safetensors_metadata(data: bytes) -> dict[str, str]:
    """The ``__metadata__`` of a safetensors header: 8 bytes of little-endian length, then JSON."""
    n = int.from_bytes(data[:8], "little")
    return json.loads(data[8 : 8 + n]).get("__metadata__") or {}


def _legacy_state(data: bytes, where: str) -> tuple[dict[str, Any], dict[str, Any], int]:
    """Policy and optimizer state dicts (and ``_n_updates``) from a format-1 SB3 zip, tensors only."""
    import pickle

    import torch

    try:
        with zipfile.ZipFile(io.BytesIO(data)) as zf:
            policy = torch.load(io.BytesIO(zf.read("policy.pth")), map_location="cpu", weights_only=True)
            optimizer = torch.load(io.BytesIO(zf.read("policy.optimizer.pth")), map_location="cpu", weights_only=True)
            try:  # SB3's "data" is JSON whose pickled entries are base64 strings: read a plain int, unpickle nothing
                n_updates = json.loads(zf.read("data")).get("_n_updates", 0)
            except (KeyError, ValueError):
                n_updates = 0
    except (zipfile.BadZipFile, pickle.UnpicklingError, KeyError, RuntimeError, ValueError, EOFError) as exc:
        raise BundleError(
            f"{where} holds more than tensors or is not an SB3 model zip ({type(exc).__name__}: {exc}); refusing to load it"
        ) from None
    return policy, optimizer, int(n_updates) if isinstance(n_updates, int) else 0


# -- building the PPO ---------------------------------------------------------------------------------------


def ppo_kwargs(params: PPOParams, seed: int | None) -> dict[str, Any]:
    """SB3 ``PPO`` keyword arguments for ``params`` and ``seed``."""
    return {
        "learning_rate": params.learning_rate,
        "n_steps": params.n_steps,
        "batch_size": params.batch_size,
        "n_epochs": params.n_epochs,
        "gamma": params.gamma,
        "gae_lambda": params.gae_lambda,
        "ent_coef": params.ent_coef,
        "clip_range": params.clip_range,
        "vf_coef": params.vf_coef,
        "max_grad_norm": params.max_grad_norm,
        "seed": seed,
    }


def build_ppo(
    params: PPOParams,
    *,
    net_arch: tuple[int, ...],
    env: VecEnv | None = None,
    spaces: Any = None,
    policy_extras: Mapping[str, Any] | None = None,
    **overrides: Any,
) -> PPO:
    """A fresh SB3 ``PPO`` (MlpPolicy, CPU) with ``params``' hyperparameters and ``overrides`` on top.

    :param params: PPO hyperparameters.
    :param net_arch: hidden layer widths (a continued model keeps its parent's).
    :param policy_extras: more policy keyword arguments (``autotest_lib.env.normalize.policy_extras``: the
        observation normaliser, the initial log std).
    :param env: the training env; without one, ``spaces`` = ``(observation_space, action_space)`` is needed.
    :param overrides: PPO keyword arguments replacing the ones from ``params`` (e.g. a ``learning_rate`` schedule,
        the ``seed``; without one the model is unseeded).
    """
    from stable_baselines3 import PPO

    kwargs: dict[str, Any] = {**ppo_kwargs(params, None), **overrides}
    common: dict[str, Any] = {"policy_kwargs": {"net_arch": list(net_arch), **(policy_extras or {})}, "device": "cpu", "verbose": 0}
    if env is not None:
        return PPO("MlpPolicy", env, **common, **kwargs)
    model = PPO("MlpPolicy", None, _init_setup_model=False, **common, **kwargs)  # type: ignore[arg-type]
    model.observation_space, model.action_space = spaces
    model.n_envs = 1
    model._setup_model()
    return model


def _spaces(manifest: Manifest) -> tuple[Any, Any]:
    from autotest_lib.env.layout import ObservationLayout
    from autotest_lib.env.portfolio import action_space, observation_space

    m = manifest.observation.max_tickers
    layout = ObservationLayout(m, (manifest.observation.dim - 2 * m - 1) // m)
    if layout.obs_dim != manifest.observation.dim:
        raise BundleError(f"observation dim {manifest.observation.dim} does not fit {m} ticker slots; the manifest is inconsistent")
    return observation_space(layout), action_space(layout)


# -- writing ------------------------------------------------------------------------------------------------


def _sibling(dest: Path, kind: str) -> Path:
    return dest.parent / f".{dest.name}.{kind}-{uuid.uuid4().hex[:12]}"


def clean_stale(dest: Path | str) -> list[Path]:
    """Remove what a crashed write or removal of ``dest`` left behind; return the paths removed.

    Temporary folders (``.<name>.tmp-*``), pre-swap copies (``.<name>.old-*``), half-made links
    (``.<name>.link-*``) and version folders ``dest`` does not point at. Only one writer per bundle folder
    may run (the trainer holds a lock on its folder), so anything not current is garbage.
    """
    dest = Path(dest)
    if not dest.parent.is_dir():
        return []
    current = os.readlink(dest) if dest.is_symlink() else None
    removed = []
    for p in dest.parent.glob(f".{dest.name}.*-*"):
        kind = p.name[len(dest.name) + 2 :].split("-", 1)[0]
        if kind not in ("tmp", "old", "link", "v") or (kind == "v" and p.name == current):
            continue
        if p.is_symlink() or p.is_file():
            p.unlink(missing_ok=True)
        else:
            shutil.rmtree(p, ignore_errors=True)
        removed.append(p)
    return removed


def _normaliser_info(model: PPO) -> dict[str, Any]:
    from autotest_lib.env.normalize import normalizers

    found = normalizers(model)
    return {"obs_norm_clip": found[0].clip} if found else {}


def architecture(bundle: Bundle) -> tuple[tuple[int, ...], dict[str, Any]]:
    """The network a bundle's tensors fit: hidden layer widths and the policy extras (its normaliser, if any).

    Format 1 bundles: their spec's widths and env.
    """
    from autotest_lib.env.normalize import normaliser_kwargs

    manifest = Manifest.model_validate(bundle.manifest)
    if manifest.policy is None:
        env = manifest.spec.env
        return manifest.spec.ppo.net_arch, normaliser_kwargs(env.obs_norm_clip) if env.obs_norm else {}
    clip = manifest.policy.obs_norm_clip
    return manifest.policy.net_arch, normaliser_kwargs(clip) if clip is not None else {}


def write_bundle(dest: Path | str, model: PPO, manifest: Mapping[str, Any], extra_files: Mapping[str, bytes] | None = None) -> Bundle:
    """Save ``model`` and ``manifest`` (plus ``extra_files``) as a bundle at ``dest``, atomically for readers.

    An existing bundle at ``dest`` is replaced as a whole (a retried task rewrites its own bundle).

    :param dest: the bundle path to create (a link to a version folder beside it).
    :param model: the trained SB3 model; its weights and optimizer state are saved as tensors.
    :param manifest: JSON-able facts about the model; ``files``, ``format``, ``versions`` and ``policy`` are added here.
    :param extra_files: more files to include by name, e.g. normaliser statistics.
    :raises BundleError: a bad extra file name, or a manifest :class:`Manifest` rejects.
    """
    dest = Path(dest)
    dest.parent.mkdir(parents=True, exist_ok=True)
    clean_stale(dest)
    blobs = {STATE_FILE: model_state_bytes(model)}
    for name, data in (extra_files or {}).items():
        if "/" in name or name.startswith(".") or name in (MANIFEST, STATE_FILE, LEGACY_MODEL_FILE):
            raise BundleError(f"extra file name {name!r} is not allowed in a bundle")
        blobs[name] = data
    full = {
        **manifest,
        "format": FORMAT_VERSION,
        "versions": library_versions(),
        "policy": {"net_arch": list(model.policy.net_arch), "n_updates": int(getattr(model, "_n_updates", 0)), **_normaliser_info(model)},
        "files": {name: sha256_bytes(data) for name, data in sorted(blobs.items())},
    }
    text = json.dumps(full, indent=2, sort_keys=True, default=str)
    _validate(json.loads(text), dest)
    tmp, version, link = _sibling(dest, "tmp"), _sibling(dest, "v"), _sibling(dest, "link")
    tmp.mkdir()
    try:
        for name, data in {**blobs, MANIFEST: text.encode()}.items():
            with open(tmp / name, "wb") as fh:
                fh.write(data)
                fh.flush()
                os.fsync(fh.fileno())
        os.rename(tmp, version)
        os.symlink(version.name, link)  # relative: a copied home keeps working links
        if dest.exists() and not dest.is_symlink():  # a bundle written before versioned folders: one-off swap
            os.rename(dest, _sibling(dest, "old"))
        os.replace(link, dest)  # the atomic step: readers see the old version or the new one
        _fsync_path(dest.parent)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        if not (dest.is_symlink() and os.readlink(dest) == version.name):
            shutil.rmtree(version, ignore_errors=True)
        link.unlink(missing_ok=True)
        raise
    clean_stale(dest)
    return verify_bundle(dest)


def _fsync_path(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def remove_bundle(path: Path | str, *, within: Path | str | None = None) -> bool:
    """Delete the bundle at ``path`` (the link first, so readers see it gone, then its versions and leftovers).

    :param within: a folder the bundle must lie in (the home); a bundle elsewhere is left alone.
    :return: False when ``within`` refused the deletion, else True.
    """
    path = Path(path)
    if within is not None and not _inside(path, Path(within)):
        return False
    if path.is_symlink():
        path.unlink()
    elif path.is_dir():
        shutil.rmtree(path, ignore_errors=True)
    clean_stale(path)
    return True


def _inside(path: Path, root: Path) -> bool:
    """Whether ``path`` (its folder resolved, the last part as is) lies inside ``root``."""
    where = path.parent.resolve() / path.name
    return where.is_relative_to(root.resolve()) and where != root.resolve()


# -- reading ------------------------------------------------------------------------------------------------


def _validate(raw: Any, where: Path) -> Manifest:
    try:
        return Manifest.model_validate(raw)
    except ValidationError as exc:
        err = exc.errors()[0]
        loc = ".".join(str(p) for p in err["loc"]) or "(manifest)"
        raise BundleError(f"{where / MANIFEST} is not a valid manifest: {loc}: {err['msg']}; refusing to load it") from None


def verify_bundle(path: Path | str, expected_sha256: str | None = None) -> Bundle:
    """Check that ``path`` is a complete bundle whose files match the manifest; return it with its bytes.

    :param path: the bundle (link or folder).
    :param expected_sha256: the manifest hash the registry recorded for this model; a different bundle is refused.
    :raises BundleError: missing folder or manifest, invalid manifest, a missing, extra or altered file, or a
        bundle that is not the one the registry registered.
    """
    path = Path(path)
    for attempt in range(_READ_ATTEMPTS):
        target = path.resolve()
        try:
            return _verify_once(path, target, expected_sha256)
        except (BundleError, OSError):
            if attempt + 1 < _READ_ATTEMPTS and path.resolve() != target:
                continue  # the bundle was swapped while we read it: read the new version
            raise
    raise AssertionError("unreachable")  # pragma: no cover


def _verify_once(path: Path, target: Path, expected_sha256: str | None) -> Bundle:
    try:
        raw_manifest = (target / MANIFEST).read_bytes()
    except (FileNotFoundError, NotADirectoryError):
        raise BundleError(f"{path} is not a model bundle: {MANIFEST} is missing (was the training task completed?)") from None
    sha = sha256_bytes(raw_manifest)
    if expected_sha256 is not None and sha != expected_sha256:
        raise BundleError(
            f"bundle {path} has sha256 {sha} but the registry registered {expected_sha256}: "
            "it was rewritten after registration. Refusing to load it; restore the registered bundle or retrain the model."
        )
    try:
        raw = json.loads(raw_manifest)
    except ValueError as exc:
        raise BundleError(f"{path / MANIFEST} is not JSON: {exc}; refusing to load it") from None
    if not isinstance(raw, dict) or not isinstance(raw.get("files"), dict):
        raise BundleError(f"{path / MANIFEST} has no 'files' table; refusing to load it")
    files: dict[str, Any] = raw["files"]
    present = {p.name for p in target.iterdir() if p.is_file()} - {MANIFEST}
    if missing := sorted(set(files) - present):
        raise BundleError(f"bundle {path} is incomplete: missing {', '.join(missing)}")
    if extra := sorted(present - set(files)):
        raise BundleError(f"bundle {path} holds files its manifest does not list: {', '.join(extra)}; refusing to load")
    blobs = {}
    for name, expected in files.items():
        data = (target / name).read_bytes()
        if sha256_bytes(data) != expected:
            raise BundleError(
                f"bundle {path}: {name} has sha256 {sha256_bytes(data)[:12]}..., manifest says {str(expected)[:12]}...; "
                "the file was altered after it was written. Refusing to load it; retrain or restore the bundle."
            )
        blobs[name] = data
    _validate(raw, path)
    return Bundle(path=path, manifest=raw, sha256=sha, blobs=blobs)


def load_model(bundle: Bundle | Path | str, env: VecEnv | None = None, *, expected_sha256: str | None = None, **overrides: Any) -> PPO:
    """Verify the bundle, rebuild its PPO from the manifest and load its tensors, with ``overrides`` applied.

    Hyperparameters come from the bundle's spec unless overridden (e.g. a new ``learning_rate`` schedule);
    the network shape always comes from the bundle. The optimizer state (Adam moments, and the rate it was
    last stepped at) is the bundle's; SB3 sets the optimizer's rate from the schedule at every update, so a
    continued model really trains at the new rate.

    :param bundle: a verified :class:`Bundle` or a bundle path.
    :param env: the env to train or act in; None builds the spaces from the manifest (enough to predict).
    :param expected_sha256: the registry's hash of the bundle (see :func:`verify_bundle`).
    :param overrides: PPO keyword arguments.
    """
    verified = verify_bundle(bundle, expected_sha256) if not isinstance(bundle, Bundle) else bundle
    if expected_sha256 is not None and verified.sha256 != expected_sha256:
        verified = verify_bundle(verified.path, expected_sha256)
    manifest = Manifest.model_validate(verified.manifest)
    spec = manifest.spec
    spaces = None if env is not None else _spaces(manifest)
    if manifest.format >= 2:
        assert manifest.policy is not None  # the schema requires it from format 2 on
        net_arch, extras = architecture(verified)
        model = build_ppo(spec.ppo, net_arch=net_arch, env=env, spaces=spaces, policy_extras=extras, **{"seed": spec.seed, **overrides})
        restore_model_state(model, verified.blobs[STATE_FILE], str(verified.path / STATE_FILE))
        n_updates = manifest.policy.n_updates
    else:
        where = str(verified.path / LEGACY_MODEL_FILE)
        if LEGACY_MODEL_FILE not in verified.blobs:
            raise BundleError(f"format-1 bundle {verified.path} has no {LEGACY_MODEL_FILE}; retrain the model")
        policy, optimizer, n_updates = _legacy_state(verified.blobs[LEGACY_MODEL_FILE], where)
        net_arch, extras = architecture(verified)
        model = build_ppo(spec.ppo, net_arch=net_arch, env=env, spaces=spaces, policy_extras=extras, **{"seed": spec.seed, **overrides})
        try:
            model.policy.load_state_dict(policy, strict=True)
            model.policy.optimizer.load_state_dict(optimizer)
        except (RuntimeError, ValueError, KeyError) as exc:
            raise BundleError(f"{where} does not fit the network its spec describes: {str(exc).splitlines()[0]}") from None
    model.num_timesteps = manifest.cumulative_timesteps
    model._n_updates = n_updates
    return model
