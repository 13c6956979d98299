"""Elastic weight consolidation: Fisher on the parent's window, the penalty in PPO's updates, online carry-over in bundles."""

from __future__ import annotations

import datetime as dt
import io
from pathlib import Path

import numpy as np
import pytest

from autotest_lib.config import load_preset
from autotest_lib.train import TrainSpec, load_model, train, verify_bundle
from autotest_lib.train.ewc import EWC_FILE, EWCState, ewc_penalty, policy_parameters

DEMO = load_preset("demo")
PPO_TINY = DEMO.ppo.model_copy(update={"n_steps": 64, "batch_size": 128, "n_envs": 2, "n_epochs": 2, "learning_rate": 3e-3})


def spec(model_id: str, *, start: dt.date, end: dt.date, parent: str | None = None, ewc: float = 0.0, steps: int = 512) -> TrainSpec:
    return TrainSpec(
        model_id=model_id,
        role="refiner" if parent else "explorer",
        week=dt.date(2024, 1, 7),
        slot=0,
        tickers=("AAPL", "JPM", "KO"),
        train_start=start,
        train_end=end,
        cutoff=dt.date(2024, 1, 7),
        timesteps=steps,
        seed=5,
        ppo=PPO_TINY,
        env=DEMO.env,
        parent_id=parent and "parent",
        parent_bundle=parent,
        checkpoint_every=100_000,
        ewc_weight=ewc,
    )


@pytest.fixture(scope="module")
def parent(tmp_path_factory) -> str:
    return train(spec("p", start=dt.date(2016, 1, 4), end=dt.date(2019, 1, 2)), tmp_path_factory.mktemp("p")).bundle_uri


def _distance(bundle: str, anchor: str) -> float:
    a = {k: p.detach().numpy() for k, p in policy_parameters(load_model(anchor)).items()}
    b = {k: p.detach().numpy() for k, p in policy_parameters(load_model(bundle)).items()}
    return float(sum(np.sum((b[k] - a[k]) ** 2) for k in a if "value" not in k))


def test_state_round_trips_as_plain_arrays_and_merges_online() -> None:
    state = EWCState({"w": np.ones(3, np.float32)}, {"w": np.zeros(3, np.float32)}, (("2016-01-04", "2019-01-02"),))
    data = state.to_bytes()
    with np.load(io.BytesIO(data), allow_pickle=False) as npz:  # no object arrays: loads without pickle
        assert sorted(npz.files) == ["anchor/w", "fisher/w", "windows"]
    back = EWCState.from_bytes(data)
    assert back.windows == state.windows and np.array_equal(back.fisher["w"], state.fisher["w"])
    newer = EWCState({"w": np.full(3, 2.0, np.float32)}, {"w": np.full(3, 5.0, np.float32)}, (("2019-01-02", "2022-01-03"),))
    merged = back.merged_with(newer)
    assert merged.fisher["w"].tolist() == [3.0, 3.0, 3.0] and merged.anchor["w"].tolist() == [5.0, 5.0, 5.0]
    assert merged.windows == (("2016-01-04", "2019-01-02"), ("2019-01-02", "2022-01-03"))


def test_ewc_keeps_the_child_near_its_parent_and_a_grandchild_keeps_both_windows(parent, tmp_path: Path) -> None:
    new = {"start": dt.date(2019, 1, 2), "end": dt.date(2022, 1, 3)}
    free = train(spec("free", parent=parent, **new), tmp_path / "free")
    held = train(spec("held", parent=parent, ewc=1e4, **new), tmp_path / "held")
    assert EWC_FILE not in verify_bundle(free.bundle_uri).manifest["files"]
    manifest = verify_bundle(held.bundle_uri).manifest
    assert manifest["ewc"] == {"weight": 1e4, "windows": [["2016-01-04", "2019-01-02"]]}
    state = EWCState.from_bytes(Path(held.bundle_uri, EWC_FILE).read_bytes())
    assert sum(float(f.sum()) for f in state.fisher.values()) > 0
    # the penalty is in the training history, and it held the policy nearer the parent than free continuation
    assert all(row["ewc_penalty"] >= 0 for row in held.history) and any(row["ewc_penalty"] > 0 for row in held.history)
    assert "ewc_penalty" not in free.history[0]
    assert _distance(held.bundle_uri, parent) < 0.5 * _distance(free.bundle_uri, parent)
    assert ewc_penalty(load_model(held.bundle_uri), state, 1e4) > 0

    grand = train(spec("grand", parent=held.bundle_uri, ewc=1e4, start=dt.date(2020, 1, 2), end=dt.date(2023, 1, 3)), tmp_path / "grand")
    g = EWCState.from_bytes(Path(grand.bundle_uri, EWC_FILE).read_bytes())
    assert g.windows == (("2016-01-04", "2019-01-02"), ("2019-01-02", "2022-01-03"))
    assert all(np.all(g.fisher[k] >= state.fisher[k] - 1e-12) for k in state.fisher)  # the grandparent's importance stays


def test_ewc_needs_a_parent() -> None:
    with pytest.raises(ValueError, match=r"ewc_weight=1\.0 needs a parent.*set it to 0"):
        spec("x", start=dt.date(2016, 1, 4), end=dt.date(2019, 1, 2), ewc=1.0)
