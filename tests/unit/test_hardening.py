"""Hardening corpus: tampered bundles and checkpoints, recovery after crashes, secrets in errors, homes that
stay inside themselves, CLI errors. Each case asserts the exact outcome: a clear error naming the problem, or
correct handling, and no partial writes. Tiny PPO runs on the bundled real prices; a real database.
"""

from __future__ import annotations

import io
import json
import logging
import os
import pickle
import shutil
import subprocess
import sys
import threading
import zipfile
from pathlib import Path

import pytest
import torch
from tiny_specs import PRESET, tiny_spec

from autotest_lib.config import load_preset
from autotest_lib.errors import BundleError
from autotest_lib.train import TrainSpec, load_model, train, verify_bundle
from autotest_lib.train.bundle import MANIFEST, STATE_FILE, Manifest, remove_bundle, sha256_file, write_bundle


def make_spec(**update) -> TrainSpec:
    return tiny_spec(**{"model_id": "h-explorer-00", "seed": 5, **update})


@pytest.fixture(scope="module")
def parent(tmp_path_factory) -> Path:
    return Path(train(make_spec(), tmp_path_factory.mktemp("parent")).bundle_uri)


class WritesMarker:
    """A pickle that creates ``path`` if anything ever unpickles it."""

    def __init__(self, path: Path) -> None:
        self.path = path

    def __reduce__(self):
        return (open, (str(self.path), "w"))


def payload(marker: Path) -> bytes:
    return pickle.dumps(WritesMarker(marker))


def rehash(bundle: Path, **manifest_changes) -> str:
    """Re-hash every file into the manifest (as an attacker with write access would); return the new bundle hash."""
    manifest = json.loads((bundle / MANIFEST).read_text())
    manifest.update(manifest_changes)
    manifest["files"] = {p.name: sha256_file(p) for p in bundle.iterdir() if p.is_file() and p.name != MANIFEST}
    (bundle / MANIFEST).write_text(json.dumps(manifest, indent=2, sort_keys=True))
    return sha256_file(bundle / MANIFEST)


def copy_of(bundle: Path, dest: Path) -> Path:
    shutil.copytree(bundle, dest)  # follows the link: a plain folder holding one version
    return dest


# -- item 1: nothing from a bundle or a checkpoint is ever unpickled -----------------------------------------


@pytest.mark.filterwarnings("ignore:Detected pickle protocol:UserWarning")  # torch's weights-only loader reading the payload
def test_pickle_in_a_rehashed_bundle_never_runs(parent: Path, tmp_path: Path) -> None:
    registered = verify_bundle(parent).sha256
    marker = tmp_path / "PWNED"
    evil = copy_of(parent, tmp_path / "evil")
    (evil / STATE_FILE).write_bytes(payload(marker))
    forged = rehash(evil)
    assert verify_bundle(evil).sha256 == forged  # self-consistent: only the registry's hash can tell
    with pytest.raises(BundleError, match=f"has sha256 {forged} but the registry registered {registered}"):
        load_model(evil, expected_sha256=registered)
    with pytest.raises(BundleError, match=r"model\.safetensors is not a safetensors model state"):
        load_model(evil)  # even without the anchor: tensors only
    # the legacy name too: an SB3-style model.zip whose pickles would run under PPO.load
    (evil / STATE_FILE).unlink()
    zbuf = io.BytesIO()
    with zipfile.ZipFile(zbuf, "w") as zf:
        zf.writestr("data", json.dumps({"policy_class": {":serialized:": payload(marker).hex()}, "_n_updates": 4}))
        zf.writestr("policy.pth", payload(marker))
        zf.writestr("policy.optimizer.pth", payload(marker))
    (evil / "model.zip").write_bytes(zbuf.getvalue())
    rehash(evil, format=1, policy=None)
    with pytest.raises(BundleError, match=r"model\.zip holds more than tensors"):
        load_model(evil)
    assert not marker.exists(), "the payload ran"


def test_legacy_sb3_bundle_loads_its_tensors_without_unpickling(parent: Path, tmp_path: Path) -> None:
    """A format-1 bundle (SB3 model.zip) keeps working: its state dicts are read weights-only."""
    model = load_model(parent)
    legacy = copy_of(parent, tmp_path / "legacy")
    (legacy / STATE_FILE).unlink()
    model.save(legacy / "model.zip")
    rehash(legacy, format=1, policy=None)
    again = load_model(legacy)
    a, b = model.policy.state_dict(), again.policy.state_dict()
    assert a.keys() == b.keys() and all(torch.equal(a[k], b[k]) for k in a)
    assert again.num_timesteps == model.num_timesteps and again._n_updates == model._n_updates > 0


@pytest.mark.parametrize(
    ("change", "why"),
    [
        ({"cumulative_timesteps": 1_000_000_000}, "a new model has cumulative_timesteps=1000000000"),
        ({"timesteps_added": 10**9, "cumulative_timesteps": 10**9}, "timesteps_added=1000000000 exceeds what spec.timesteps=1024 trains"),
        ({"spec": "tickers"}, "spec_sha256 is not the hash of the manifest's spec"),
        ({"model_id": "someone-else"}, "model_id disagree"),
        ({"seed": "3; rm -rf /"}, r"is not a valid manifest: seed: Input should be a valid integer"),
        ({"files": "model.safetensors"}, "has no 'files' table; refusing to load it"),
    ],
)
def test_edited_manifest_is_refused(parent: Path, tmp_path: Path, change: dict, why: str) -> None:
    registered = verify_bundle(parent).sha256
    edited = copy_of(parent, tmp_path / "edited")
    manifest = json.loads((edited / MANIFEST).read_text())
    if change.get("spec") == "tickers":
        manifest["spec"]["tickers"] = ["MSFT", "KO", "WMT"]
    else:
        manifest.update(change)
    (edited / MANIFEST).write_text(json.dumps(manifest))
    new_hash = sha256_file(edited / MANIFEST)
    with pytest.raises(BundleError, match=f"{new_hash} but the registry registered {registered}"):
        verify_bundle(edited, registered)
    with pytest.raises(BundleError, match=why):
        load_model(edited)


def test_registered_parent_with_another_hash_is_not_continued(parent: Path, tmp_path: Path) -> None:
    registered = verify_bundle(parent).sha256
    other = copy_of(parent, tmp_path / "other")
    forged = rehash(other, wall_time_s=0.5)
    spec = make_spec(model_id="h-refiner-00", role="refiner", parent_id="h-explorer-00", parent_bundle=str(other), parent_sha256=registered)
    with pytest.raises(BundleError, match=f"{forged} but the registry registered {registered}"):
        train(spec, tmp_path / "child")
    assert not (tmp_path / "child" / "bundle").exists() and not (tmp_path / "child" / "checkpoints").exists()


def test_continuation_from_a_bundle_keeps_weights_optimizer_and_counts(parent: Path, tmp_path: Path) -> None:
    src = load_model(parent)
    assert src.num_timesteps == verify_bundle(parent).manifest["cumulative_timesteps"] and src._n_updates > 0
    spec = make_spec(
        model_id="h-refiner-00",
        role="refiner",
        parent_id="h-explorer-00",
        parent_bundle=str(parent),
        parent_sha256=verify_bundle(parent).sha256,
    )
    result = train(spec, tmp_path / "child")
    child = verify_bundle(result.bundle_uri)
    assert result.cumulative_timesteps == src.num_timesteps + 1024
    assert child.manifest["policy"]["n_updates"] == src._n_updates + PRESET.ppo.n_epochs * 1024 // (PRESET.ppo.n_steps * PRESET.ppo.n_envs)
    assert child.manifest["parent_sha256"] == verify_bundle(parent).sha256
    opt = load_model(child).policy.optimizer
    assert all(opt.state[p]["exp_avg"].abs().sum() > 0 for p in opt.param_groups[0]["params"])


# -- item 9: recovery -----------------------------------------------------------------------------------------


class Crash:
    """An SB3 callback factory: kills the run once ``after`` steps are done."""

    @staticmethod
    def after(steps: int):
        from stable_baselines3.common.callbacks import BaseCallback

        class _Crash(BaseCallback):
            def _on_step(self) -> bool:
                if self.num_timesteps >= steps:
                    raise KeyboardInterrupt("simulated kill")
                return True

        return _Crash()


def test_corrupt_checkpoint_falls_back_to_the_previous_one(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    marker = tmp_path / "PWNED"
    spec = make_spec(timesteps=2048, checkpoint_every=256)
    with pytest.raises(KeyboardInterrupt):
        train(spec, tmp_path / "w", callback=Crash.after(1300))
    ckpts = sorted((tmp_path / "w" / "checkpoints").glob("ckpt-*.safetensors"))
    assert [int(p.stem.split("-")[1]) for p in ckpts] == [512, 1024]
    # the newest is a pickle with a matching hash in its sidecar; it must not run, and the older one is used
    newest = ckpts[-1]
    newest.write_bytes(payload(marker))
    sidecar = json.loads(newest.with_suffix(".json").read_text())
    sidecar["state_sha256"] = sha256_file(newest)
    newest.with_suffix(".json").write_text(json.dumps(sidecar))
    with caplog.at_level(logging.WARNING, logger="autotest_lib.train.trainer"):
        result = train(spec, tmp_path / "w")
    assert not marker.exists()
    assert result.resumed_from_steps == 512 and result.cumulative_timesteps == 2048
    assert "ckpt-000000001024 is corrupt or unreadable" in caplog.text and "falling back to the previous checkpoint" in caplog.text


def test_all_checkpoints_corrupt_starts_clean_and_says_so(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    spec = make_spec(timesteps=2048, checkpoint_every=512)
    with pytest.raises(KeyboardInterrupt):
        train(spec, tmp_path / "w", callback=Crash.after(1300))
    for p in (tmp_path / "w" / "checkpoints").glob("ckpt-*.safetensors"):
        data = bytearray(p.read_bytes())
        data[-3] ^= 0xFF
        p.write_bytes(bytes(data))
    with caplog.at_level(logging.WARNING, logger="autotest_lib.train.trainer"):
        result = train(spec, tmp_path / "w")
    assert result.resumed_from_steps is None and result.cumulative_timesteps == 2048
    assert "has sha256" in caplog.text and "no usable checkpoint" in caplog.text and "starting clean from scratch" in caplog.text


def test_crash_leftovers_are_removed(parent: Path, tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    work = tmp_path / "w"
    work.mkdir()
    for name in (".bundle.tmp-0123abcd", ".bundle.old-4567ef01", ".bundle.v-deadbeef0000"):
        shutil.copytree(parent, work / name)
    (work / ".bundle.link-99").symlink_to(".bundle.v-deadbeef0000")
    with caplog.at_level(logging.WARNING, logger="autotest_lib.train.trainer"):
        result = train(make_spec(), work)
    left = sorted(p.name for p in work.iterdir() if p.name.startswith(".bundle."))
    assert left == [os.readlink(work / "bundle")], left
    assert caplog.text.count("left behind by an interrupted bundle write") == 4
    remove_bundle(result.bundle_uri)
    assert sorted(p.name for p in work.iterdir()) == [".train.lock"]


def test_reader_racing_a_rewrite_always_sees_one_whole_bundle(parent: Path, tmp_path: Path) -> None:
    model = load_model(parent)
    manifest = verify_bundle(parent).manifest
    facts = {k: v for k, v in manifest.items() if k not in ("format", "versions", "policy", "files")}
    dest = tmp_path / "bundle"
    write_bundle(dest, model, facts, {"history.json": b"[]"})
    stop, errors, writes = threading.Event(), [], [0]

    def rewrite() -> None:
        while not stop.is_set():
            write_bundle(dest, model, facts, {"history.json": json.dumps([{"n": writes[0]}]).encode()})
            writes[0] += 1

    writer = threading.Thread(target=rewrite)
    writer.start()
    try:
        reads = 0
        while reads < 400 or writes[0] < 40:
            try:
                b = verify_bundle(dest)
                assert json.loads(b.blobs["history.json"]) is not None
            except BundleError as exc:
                errors.append(str(exc))
            reads += 1
    finally:
        stop.set()
        writer.join()
    assert errors == [] and writes[0] >= 40


def test_a_second_trainer_on_the_same_folder_is_refused(tmp_path: Path) -> None:
    work = tmp_path / "w"
    holder = subprocess.Popen(
        [
            sys.executable,
            "-c",
            "import sys, time; from pathlib import Path; from autotest_lib.train.trainer import training_lock\n"
            "with training_lock(Path(sys.argv[1])):\n    print('locked', flush=True); time.sleep(60)",
            str(work),
        ],
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert holder.stdout.readline().strip() == "locked"
        with pytest.raises(BundleError, match=rf"{work} is already being trained by pid {holder.pid} on .*Wait for that run"):
            train(make_spec(), work)
        assert not (work / "bundle").exists() and not (work / "checkpoints").exists()
    finally:
        holder.kill()
        holder.wait()
    assert train(make_spec(), work).cumulative_timesteps == 1024  # the kernel dropped the dead holder's lock


def test_manifest_schema_accepts_what_training_writes(parent: Path) -> None:
    m = Manifest.model_validate(verify_bundle(parent).manifest)
    assert m.format == 2 and m.policy is not None and m.policy.net_arch == tuple(PRESET.ppo.net_arch)


# -- item 3: no secret in an error; item 8: one-line CLI errors, readers create nothing -----------------------

SECRET = "hunter2-S3cret"


def run_cli(tmp_path: Path, *argv: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess:
    """``autotest ARGV`` in a fresh process (all of its output captured), in an empty folder and home."""
    full_env = {k: v for k, v in os.environ.items() if k not in ("AUTOTEST_DB_URL", "AIRFLOW_CONN_AUTOTEST_LINEAGE")}
    full_env.update({"AUTOTEST_HOME": str(tmp_path / "home"), **(env or {})})
    cwd = tmp_path / "cwd"
    cwd.mkdir(exist_ok=True)
    return subprocess.run(
        [sys.executable, "-m", "autotest_lib.cli", *argv], cwd=cwd, env=full_env, capture_output=True, text=True, timeout=120
    )


def assert_one_line_error(proc: subprocess.CompletedProcess, expected: str) -> None:
    assert proc.returncode == 2, proc.stderr
    assert "Traceback" not in proc.stderr and proc.stdout == ""
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("autotest: error: "), proc.stderr
    assert expected in lines[0], lines[0]


@pytest.mark.parametrize(
    ("argv", "env", "expected"),
    [
        (["models", "--db", f"postgresql://bob:{SECRET}@[::1"], {}, "is not a valid URL; write it as postgresql://"),
        (["models", "--db", f"bob:{SECRET}@localhost/lineage"], {}, "'***@localhost/lineage' is not a valid URL"),
        (["db", "upgrade", "--db", f"bob:{SECRET}@db"], {}, "'***@db' is not a valid URL"),
        (["models"], {"AUTOTEST_DB_URL": f"postgres//bob:{SECRET}@db:5432/x"}, "is not a valid URL"),
        (["leaderboard"], {"AIRFLOW_CONN_AUTOTEST_LINEAGE": f"bob:{SECRET}@db:5432"}, "'***@db:5432' is not a valid URL"),
        (
            ["models", "--db", f"mysql://bob:{SECRET}@localhost/lineage"],
            {},
            "mysql://bob:***@localhost/lineage is 'mysql'; the lineage store runs on",
        ),
        (
            ["week", "2024-09-08", "--db", f"postgresql://bob:{SECRET}@127.0.0.1:5432/nosuch"],
            {},
            "postgresql+psycopg2://bob:***@127.0.0.1:5432/nosuch refused",
        ),
    ],
)
def test_failing_commands_never_print_the_password(tmp_path: Path, argv: list[str], env: dict[str, str], expected: str) -> None:
    proc = run_cli(tmp_path, *argv, env=env)
    assert SECRET not in proc.stdout + proc.stderr
    assert_one_line_error(proc, expected)
    assert not (tmp_path / "home").exists() and list((tmp_path / "cwd").iterdir()) == []


def test_redact_masks_every_credential_form() -> None:
    from autotest_lib.errors import redact
    from autotest_lib.registry.db import mask_url, normalise_db_url

    text = f"a postgres://u:{SECRET}@h/d, b postgresql://u:p@{SECRET}@h/d, c host=h password={SECRET} user=u"
    assert SECRET not in redact(text) and redact(text).count("***") == 3
    assert SECRET not in mask_url(f"not a url u:{SECRET}@h")
    with pytest.raises(Exception) as info:
        normalise_db_url(f"u:{SECRET}@h")
    assert SECRET not in str(info.value)


def test_read_only_commands_create_no_database(tmp_path: Path) -> None:
    new = tmp_path / "new" / "dir" / "lineage.sqlite"
    for argv in (["models"], ["leaderboard"], ["lineage", "x"], ["champions"], ["db", "current"], ["db", "check"]):
        proc = run_cli(tmp_path, *argv, "--db", f"sqlite:///{new}")
        assert_one_line_error(proc, f"lineage database {new} does not exist (nothing was created); create it with `autotest db upgrade")
    proc = run_cli(tmp_path, "db", "upgrade", "nosuchrev", "--db", f"sqlite:///{new}")
    assert_one_line_error(
        proc, "unknown schema revision 'nosuchrev' (Can't locate revision identified by 'nosuchrev'); use head, base or one of: "
    )
    assert not (tmp_path / "new").exists()


def test_db_at_a_file_that_is_not_a_database(tmp_path: Path) -> None:
    csv = tmp_path / "prices.csv"
    csv.write_text("date,close\n2024-01-02,1.0\n")
    for argv in (["models"], ["db", "upgrade"]):
        assert_one_line_error(run_cli(tmp_path, *argv, "--db", f"sqlite:///{csv}"), f"{csv} is not a SQLite database; point --db")
    assert csv.read_text() == "date,close\n2024-01-02,1.0\n"


def test_negative_limit_is_refused(lineage_url: str, tmp_path: Path) -> None:
    proc = run_cli(tmp_path, "leaderboard", "--limit", "-1", "--db", lineage_url)
    assert_one_line_error(proc, "--limit -1 is not a number of rows; give a positive count, e.g. --limit 10")


# -- item 7: a home never touches files outside itself ----------------------------------------------------------


def test_bundle_paths_are_stored_relative_to_the_home(lineage_url: str, tmp_path: Path) -> None:
    from sqlalchemy import text

    from autotest_lib.registry import LineageStore, make_engine

    home = tmp_path / "home"
    with LineageStore(lineage_url, home=home) as store:
        store.upsert_model("m1", role="explorer", created_week="2024-09-08", tickers=["AAPL"], hyperparameters={})
        store.upsert_model("m2", role="explorer", created_week="2024-09-08", tickers=["AAPL"], hyperparameters={})
        inside = store.set_model_bundle("m1", bundle_uri=str(home / "archive" / "m1"), bundle_sha256="a" * 64, cumulative_timesteps=1)
        outside = store.set_model_bundle("m2", bundle_uri="/elsewhere/m2", bundle_sha256="b" * 64, cumulative_timesteps=1)
    assert inside.bundle_uri == str(home / "archive" / "m1") and outside.bundle_uri == "/elsewhere/m2"
    engine = make_engine(lineage_url)
    try:
        with engine.connect() as conn:
            rows = dict(conn.execute(text("SELECT model_id, bundle_uri FROM models WHERE model_id IN ('m1', 'm2')")).all())
    finally:
        engine.dispose()
    assert rows == {"m1": "archive/m1", "m2": "/elsewhere/m2"}
    with LineageStore(lineage_url, home=tmp_path / "copy") as store:  # the same rows, served to a copied home
        assert store.get_model("m1").bundle_uri == str(tmp_path / "copy" / "archive" / "m1")


def test_a_copied_home_deletes_only_its_own_bundles(parent: Path, tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    from types import SimpleNamespace

    from autotest_lib.weekly.select import _delete_bundles

    original = tmp_path / "original"
    bundle = verify_bundle(parent)
    facts = {k: v for k, v in bundle.manifest.items() if k not in ("format", "versions", "policy", "files")}
    for mid in ("a", "b"):
        write_bundle(original / "runs" / "2024-09-08" / "models" / mid / "bundle", load_model(bundle), facts, {"history.json": b"[]"})
        shutil.copytree(original / "runs" / "2024-09-08" / "models" / mid / "bundle", original / "archive" / mid)
    copy = tmp_path / "copy"
    shutil.copytree(original, copy, symlinks=True)
    # "a" read from a relative row resolves into the copy; "b" is an old absolute row still naming the original
    a = SimpleNamespace(model_id="a", bundle_uri=str(copy / "runs" / "2024-09-08" / "models" / "a" / "bundle"))
    b = SimpleNamespace(model_id="b", bundle_uri=str(original / "runs" / "2024-09-08" / "models" / "b" / "bundle"))
    with caplog.at_level(logging.WARNING, logger="autotest_lib.weekly.select"):
        _delete_bundles(a, copy / "archive")
        _delete_bundles(b, copy / "archive")
    assert not Path(a.bundle_uri).exists() and not (copy / "archive" / "a").exists() and not (copy / "archive" / "b").exists()
    assert [p.name for p in Path(a.bundle_uri).parent.iterdir()] == []  # its version folder went too
    for mid in ("a", "b"):  # the original home is untouched
        verify_bundle(original / "runs" / "2024-09-08" / "models" / mid / "bundle")
        verify_bundle(original / "archive" / mid)
    assert f"kept b's bundle {b.bundle_uri}: it lies outside this home {copy}" in caplog.text


@pytest.mark.parametrize(
    ("override", "expected"),
    [
        ({"data": {"earliest": "yesterday"}}, "data.earliest='yesterday': earliest='yesterday' is not a date: write it as YYYY-MM-DD"),
        ({"explorers": {"count": 0}}, "explorers.count=0: a week needs at least one explorer"),
        (
            {"data": {"universe": ["AAPL", "KO", "AAPL", "JPM", "KO", "WMT"]}},
            "universe lists AAPL, KO more than once",
        ),
        ({"refiners": {"count": 4}}, "refiners.count=4 exceeds explorers.count=3: refiners continue last week's top models"),
        ({"search_space": {"batch_size": [4096]}}, "search_space.batch_size=[4096]: every choice exceeds the smallest rollout"),
        ({"ppo": {"batch_size": 4096}}, "batch_size=4096 exceeds the rollout n_steps*n_envs=512"),
    ],
)
def test_preset_errors_name_the_field_and_the_fix(override: dict, expected: str) -> None:
    from autotest_lib.errors import ConfigError

    with pytest.raises(ConfigError) as err:
        load_preset("demo", override)
    message = str(err.value)
    assert expected in message and "\n" not in message
    assert "'description'" not in message  # a rule across fields names them, not the whole preset
