"""A PBT clone really trains with its mutated hyperparameters (the restored-checkpoint trap), and starts from
the winner's weights and optimizer state. Tiny PPO on the bundled real prices, through the same spec the
``autotest_pbt`` DAG's training task builds."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator
from pathlib import Path

import pytest
import torch
from stable_baselines3.common.callbacks import BaseCallback

from autotest_lib.config import load_preset
from autotest_lib.pbt.population import MemberPlan, RoundPlan, member_id
from autotest_lib.runs import WeekContext, week_windows
from autotest_lib.tasks.pbt import member_spec
from autotest_lib.train import load_model, train

PRESET = load_preset("demo")
CUTOFF = dt.date(2024, 9, 8)
RUN = WeekContext(cutoff=CUTOFF, preset="demo", windows=week_windows(CUTOFF, PRESET), home=Path("var"))
TICKERS = ("AAPL", "JPM", "KO")
WINNER = PRESET.ppo.model_copy(update={"learning_rate": 3e-4, "clip_range": 0.2, "ent_coef": 1e-3})
# the explore step's x1.2 / x0.8 / x1.2 of the winner's values
MUTATED = WINNER.model_copy(update={"learning_rate": 3.6e-4, "clip_range": 0.16, "ent_coef": 1.2e-3})


class Probe(BaseCallback):
    """Reads what the model really uses: at the start (as loaded) and after each PPO update."""

    def __init__(self) -> None:
        super().__init__()
        self.loaded: dict = {}
        self.after_update: list[dict] = []

    def _on_training_start(self) -> None:
        opt = self.model.policy.optimizer
        self._start_updates = self.model._n_updates
        self.loaded = {
            "lr": opt.param_groups[0]["lr"],
            "weights": {k: v.clone() for k, v in self.model.policy.state_dict().items()},
            "adam_exp_avg": [opt.state[p]["exp_avg"].clone() for p in opt.param_groups[0]["params"] if p in opt.state],
        }

    def _read(self) -> None:
        if self.model._n_updates > self._start_updates + len(self.after_update):
            progress = self.model._current_progress_remaining
            self.after_update.append(
                {
                    "lr": self.model.policy.optimizer.param_groups[0]["lr"],
                    "clip_range": self.model.clip_range(progress),
                    "ent_coef": self.model.ent_coef,
                    "logged_clip": self.model.logger.name_to_value.get("train/clip_range"),
                }
            )

    def _on_rollout_start(self) -> None:
        self._read()

    def _on_training_end(self) -> None:
        self._read()

    def _on_step(self) -> bool:
        return True


def _member(slot: int, rnd: int, params, parent: str | None = None) -> MemberPlan:
    return MemberPlan(slot=slot, model_id=member_id("t", slot, rnd), parent_id=parent, hyperparameters=params, seed=7 + slot)


@pytest.fixture(scope="module")
def winner(tmp_path_factory) -> Iterator[Path]:
    threads = torch.get_num_threads()
    torch.set_num_threads(1)  # tiny nets: extra threads only contend on a busy machine
    member = _member(3, 1, WINNER)
    plan = RoundPlan(population="t", round=1, tickers=TICKERS, members=(member,))
    spec = member_spec(RUN, PRESET, plan, member, None)
    assert spec.lr_schedule == "constant" and spec.parent_bundle is None and spec.role == "pbt"
    yield Path(train(spec, tmp_path_factory.mktemp("winner")).bundle_uri)
    torch.set_num_threads(threads)


def test_clone_starts_from_the_winner_and_trains_with_the_mutated_hyperparameters(winner: Path, tmp_path: Path) -> None:
    clone = _member(5, 2, MUTATED, parent=member_id("t", 3, 1))
    plan = RoundPlan(population="t", round=2, tickers=TICKERS, members=(clone,))
    spec = member_spec(RUN, PRESET, plan, clone, str(winner))
    one_update = MUTATED.n_steps * MUTATED.n_envs
    spec = spec.model_copy(update={"timesteps": one_update})
    probe = Probe()
    result = train(spec, tmp_path, callback=probe)

    # a copy: the winner's weights and Adam state, and the trap itself: the restored optimizer holds the OLD rate
    source = load_model(winner)
    assert all(torch.equal(probe.loaded["weights"][k], v) for k, v in source.policy.state_dict().items())
    src_opt = source.policy.optimizer
    src_avg = [src_opt.state[p]["exp_avg"] for p in src_opt.param_groups[0]["params"] if p in src_opt.state]
    assert src_avg and len(src_avg) == len(probe.loaded["adam_exp_avg"])
    assert all(torch.equal(a, b) for a, b in zip(src_avg, probe.loaded["adam_exp_avg"], strict=True))
    assert probe.loaded["lr"] == pytest.approx(WINNER.learning_rate, rel=1e-12)

    # after its first update the clone's optimizer, clip range and entropy coefficient are the mutated ones
    assert len(probe.after_update) == 1, probe.after_update
    seen = probe.after_update[0]
    assert seen["lr"] == pytest.approx(MUTATED.learning_rate, rel=1e-12)
    assert seen["clip_range"] == pytest.approx(MUTATED.clip_range, rel=1e-12)
    assert seen["logged_clip"] == pytest.approx(MUTATED.clip_range, rel=1e-12)
    assert seen["ent_coef"] == pytest.approx(MUTATED.ent_coef, rel=1e-12)
    assert result.history[-1]["learning_rate"] == pytest.approx(MUTATED.learning_rate, rel=1e-12)

    # the bundle says so too, and the steps add up from the winner's
    reloaded = load_model(result.bundle_uri)
    assert reloaded.ent_coef == pytest.approx(MUTATED.ent_coef) and reloaded.clip_range(1.0) == pytest.approx(MUTATED.clip_range)
    assert result.cumulative_timesteps == PRESET.pbt.interval_steps + one_update
    assert result.parent_id == member_id("t", 3, 1)
    assert {"ent_coef", "clip_range", "learning_rate"} <= result.hyperparameter_diff.keys()
