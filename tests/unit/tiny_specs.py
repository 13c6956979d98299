"""A tiny training spec on bundled real prices and a callback that kills a run, shared by the unit tests that train
(imported as ``tiny_specs``: pytest puts this folder on ``sys.path`` when it collects the tests beside it)."""

from __future__ import annotations

import datetime as dt
from typing import Any

from stable_baselines3.common.callbacks import BaseCallback

from autotest_lib.config import load_preset
from autotest_lib.train import TrainSpec

PRESET = load_preset("demo")


def tiny_spec(**update: Any) -> TrainSpec:
    """A 1,024-step demo-preset explorer on AAPL, JPM and KO (2020-01-02 .. 2024-06-01, cutoff 2024-09-08); ``update``
    replaces any field."""
    base: dict[str, Any] = dict(
        model_id="t-explorer-00",
        role="explorer",
        week=dt.date(2024, 9, 8),
        slot=0,
        tickers=("AAPL", "JPM", "KO"),
        train_start=dt.date(2020, 1, 2),
        train_end=dt.date(2024, 6, 1),
        cutoff=dt.date(2024, 9, 8),
        timesteps=1024,
        seed=3,
        ppo=PRESET.ppo,
        env=PRESET.env,
        checkpoint_every=512,
    )
    base.update(update)
    return TrainSpec(**base)


class Crash(BaseCallback):
    """Kills the run once ``after`` steps are done, as a worker dying mid-task would."""

    def __init__(self, after: int) -> None:
        super().__init__()
        self.after = after

    def _on_step(self) -> bool:
        if self.num_timesteps >= self.after:
            raise KeyboardInterrupt("simulated kill")
        return True
