"""Model bundles: a directory holding ``model.zip`` and ``manifest.json`` that travels between tasks.

The manifest records the spec, data window, cutoff, seed, library versions and the sha256 of every other
file. It is written last into a temporary sibling folder that is then renamed into place, so a reader sees
a whole bundle or none. SB3 zips hold pickles: :func:`verify_bundle` checks every hash before anything is
unpickled, and a tampered bundle raises :class:`~autotest_lib.errors.BundleError`.
"""

from __future__ import annotations

import hashlib
import json
import os
import platform
import shutil
import uuid
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from autotest_lib.errors import BundleError

if TYPE_CHECKING:
    from stable_baselines3 import PPO
    from stable_baselines3.common.vec_env import VecEnv

__all__ = ["MANIFEST", "MODEL_FILE", "Bundle", "library_versions", "load_model", "sha256_file", "verify_bundle", "write_bundle"]

MANIFEST = "manifest.json"
MODEL_FILE = "model.zip"
FORMAT_VERSION = 1


@dataclass(frozen=True)
class Bundle:
    """A verified bundle on disk. ``sha256`` is the manifest's hash: the identity of the whole bundle."""

    path: Path
    manifest: dict[str, Any]
    sha256: str

    @property
    def uri(self) -> str:
        return str(self.path)


def sha256_file(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def library_versions() -> dict[str, str]:
    """Versions that decide whether a bundle loads and behaves the same elsewhere."""
    import gymnasium
    import numpy
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
    }


def write_bundle(dest: Path | str, model: PPO, manifest: Mapping[str, Any], extra_files: Mapping[str, bytes] | None = None) -> Bundle:
    """Save ``model`` and ``manifest`` (plus ``extra_files``) as a bundle at ``dest``, atomically.

    An existing bundle at ``dest`` is replaced as a whole (a retried task rewrites its own bundle).

    :param dest: the bundle directory to create.
    :param model: the trained SB3 model.
    :param manifest: JSON-able facts about the model; ``files``, ``format`` and ``versions`` are added here.
    :param extra_files: more files to include by name, e.g. normaliser statistics.
    """
    dest = Path(dest)
    dest.parent.mkdir(parents=True, exist_ok=True)
    tmp = dest.parent / f".{dest.name}.tmp-{uuid.uuid4().hex[:8]}"
    tmp.mkdir()
    try:
        model.save(tmp / MODEL_FILE)
        for name, data in (extra_files or {}).items():
            if "/" in name or name in (MANIFEST, MODEL_FILE):
                raise BundleError(f"extra file name {name!r} is not allowed in a bundle")
            (tmp / name).write_bytes(data)
        files = {p.name: sha256_file(p) for p in sorted(tmp.iterdir())}
        full = {**manifest, "format": FORMAT_VERSION, "versions": library_versions(), "files": files}
        (tmp / MANIFEST).write_text(json.dumps(full, indent=2, sort_keys=True, default=str))
        _fsync_dir(tmp)
        old = None
        if dest.exists():
            old = dest.parent / f".{dest.name}.old-{uuid.uuid4().hex[:8]}"
            os.rename(dest, old)
        os.rename(tmp, dest)
        if old is not None:
            shutil.rmtree(old, ignore_errors=True)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    return verify_bundle(dest)


def _fsync_dir(path: Path) -> None:
    for p in path.iterdir():
        with open(p, "rb") as fh:
            os.fsync(fh.fileno())


def verify_bundle(path: Path | str) -> Bundle:
    """Check that ``path`` is a complete bundle whose files match the manifest's sha256; return it.

    :raises BundleError: missing folder or manifest, unreadable manifest, a missing, extra or altered file.
    """
    path = Path(path)
    manifest_path = path / MANIFEST
    if not manifest_path.is_file():
        raise BundleError(f"{path} is not a model bundle: {MANIFEST} is missing (was the training task completed?)")
    try:
        manifest = json.loads(manifest_path.read_text())
        files: dict[str, str] = manifest["files"]
    except (ValueError, KeyError, TypeError) as exc:
        raise BundleError(f"{manifest_path} is unreadable or has no 'files' table: {exc}") from None
    present = {p.name for p in path.iterdir() if p.is_file()} - {MANIFEST}
    if missing := sorted(set(files) - present):
        raise BundleError(f"bundle {path} is incomplete: missing {', '.join(missing)}")
    if extra := sorted(present - set(files)):
        raise BundleError(f"bundle {path} holds files its manifest does not list: {', '.join(extra)}; refusing to load")
    for name, expected in files.items():
        actual = sha256_file(path / name)
        if actual != expected:
            raise BundleError(
                f"bundle {path}: {name} has sha256 {actual[:12]}..., manifest says {expected[:12]}...; "
                "the file was altered after it was written. Refusing to unpickle it; retrain or restore the bundle."
            )
    return Bundle(path=path, manifest=manifest, sha256=sha256_file(manifest_path))


def load_model(bundle: Bundle | Path | str, env: VecEnv | None = None, **overrides: Any) -> PPO:
    """Verify the bundle, then load its PPO with ``overrides`` applied (e.g. a new ``learning_rate``).

    SB3 rebuilds the learning-rate and clip-range schedules from the overrides, so a continued model really
    trains at the new rate (the optimizer's rate is set from the schedule at every update).
    """
    from stable_baselines3 import PPO

    verified = bundle if isinstance(bundle, Bundle) else verify_bundle(bundle)
    return PPO.load(verified.path / MODEL_FILE, env=env, device="cpu", **overrides)
