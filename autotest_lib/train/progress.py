"""Training progress in the task log: every ``interval_s`` seconds one line with steps done/total, steps/s,
ETA, mean episode reward and the latest PPO losses.

The interval comes from ``$AUTOTEST_PROGRESS_INTERVAL_S`` (seconds, default 30). A line looks like::

    progress m-2024-09-01-e0: 12288/40960 steps (30%), 410 steps/s, ETA 1m10s, mean episode reward 0.0123,
    value_loss 0.0120, policy_gradient_loss -0.0031, entropy_loss -5.61
"""

from __future__ import annotations

import logging
import math
import time
from collections.abc import Callable, Mapping

from stable_baselines3.common.callbacks import BaseCallback

from autotest_lib.cluster import env_number

__all__ = ["PROGRESS_INTERVAL_ENV", "ProgressCallback", "format_duration", "progress_interval_s"]

PROGRESS_INTERVAL_ENV = "AUTOTEST_PROGRESS_INTERVAL_S"
DEFAULT_INTERVAL_S = 30.0
#: SB3 logger keys shown in a progress line, as they are named there.
LOSS_KEYS = ("train/value_loss", "train/policy_gradient_loss", "train/entropy_loss")

log = logging.getLogger(__name__)


def progress_interval_s(environ: Mapping[str, str] | None = None) -> float:
    """Seconds between progress lines, from ``$AUTOTEST_PROGRESS_INTERVAL_S`` (a number > 0; default 30)."""
    return env_number(PROGRESS_INTERVAL_ENV, DEFAULT_INTERVAL_S, environ=environ)


def format_duration(seconds: float) -> str:
    """``3725`` -> ``1h02m05s``; ``70`` -> ``1m10s``; ``5`` -> ``5s``."""
    if not math.isfinite(seconds):
        return "unknown"
    s = round(max(seconds, 0.0))
    h, rest = divmod(s, 3600)
    m, s = divmod(rest, 60)
    return f"{h}h{m:02d}m{s:02d}s" if h else f"{m}m{s:02d}s" if m else f"{s}s"


class ProgressCallback(BaseCallback):
    """Logs a progress line every ``interval_s`` seconds of training, and one when training ends.

    :param label: what is trained (the model id), first word of every line.
    :param end_steps: the model's step count when this run is done (its ``num_timesteps`` target).
    :param interval_s: seconds between lines.
    :param logger: where lines go (this module's logger by default: the task log under Airflow).
    :param clock: monotonic seconds (tests pass a fake clock).
    """

    def __init__(
        self,
        label: str,
        end_steps: int,
        interval_s: float = DEFAULT_INTERVAL_S,
        *,
        logger: logging.Logger | None = None,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        super().__init__()
        self.label, self.end_steps, self.interval_s = label, int(end_steps), float(interval_s)
        self._log = logger or log
        self._clock = clock
        self._t0 = self._last = 0.0
        self._steps0 = 0
        self._reward_mean = math.nan

    def _on_training_start(self) -> None:
        self._t0 = self._last = self._clock()
        self._steps0 = int(self.model.num_timesteps)

    def _on_rollout_end(self) -> None:
        episodes = [float(info["r"]) for info in self.model.ep_info_buffer or ()]
        # whole-episode returns when the env reports them, else the mean reward per step of the last rollout
        if episodes:
            self._reward_mean = sum(episodes) / len(episodes)
        elif (buffer := getattr(self.model, "rollout_buffer", None)) is not None:  # on-policy (PPO) models have one
            self._reward_mean = float(buffer.rewards.mean())

    def _on_step(self) -> bool:
        now = self._clock()
        if now - self._last >= self.interval_s:
            self._emit(now)
        return True

    def _on_training_end(self) -> None:
        self._emit(self._clock())

    def line(self, now: float) -> str:
        """The progress line at clock time ``now``."""
        steps = int(self.model.num_timesteps)
        elapsed = now - self._t0
        rate = (steps - self._steps0) / elapsed if elapsed > 0 else math.nan
        left = max(self.end_steps - steps, 0)
        eta = left / rate if rate and rate > 0 else (0.0 if left == 0 else math.nan)
        pct = 100.0 * steps / self.end_steps if self.end_steps else 100.0
        values = self.model.logger.name_to_value
        losses = ", ".join(f"{key.split('/', 1)[1]} {values[key]:.4g}" for key in LOSS_KEYS if key in values)
        return (
            f"progress {self.label}: {steps}/{self.end_steps} steps ({pct:.0f}%), {rate:.0f} steps/s, "
            f"ETA {format_duration(eta)}, mean episode reward {self._reward_mean:.4g}" + (f", {losses}" if losses else "")
        )

    def _emit(self, now: float) -> None:
        self._log.info("%s", self.line(now))
        self._last = now
