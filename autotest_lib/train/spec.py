"""What to train: one :class:`TrainSpec` per model per week, JSON-able so it can travel through XCom."""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

from autotest_lib.config import EnvConfig, PPOParams, Preset, RoleBudget
from autotest_lib.kinds import Role

__all__ = ["Role", "TrainSpec", "build_spec"]


class TrainSpec(BaseModel):
    """Everything needed to train (or continue) one model, reproducibly.

    Dates are half-open: training uses days ``train_start <= d < train_end``; nothing on or after ``cutoff``
    is ever loaded. ``train_end`` is the start of the validation window, so validation is never trained on.
    """

    model_config = ConfigDict(extra="forbid", frozen=True)

    model_id: str = Field(min_length=1, description="Unique id, stable for (week, role, slot): a retry rewrites the same model.")
    role: Role = Field(description="explorer (new), refiner (last week's top, continued), champion (best ever, continued), pbt.")
    week: dt.date = Field(description="The week's logical date; keys the registry rows.")
    slot: int = Field(ge=0, description="Position within the role for this week.")
    tickers: tuple[str, ...] = Field(min_length=1, description="Tickers the model trades, in slot order.")
    train_start: dt.date = Field(description="First training day (inclusive).")
    train_end: dt.date = Field(description="End of training (exclusive) = validation start.")
    cutoff: dt.date = Field(description="Point in time: no data on or after this date exists for this run.")
    recent_start: dt.date | None = Field(None, description="Start of the 'recent' part of the data mix (continuations).")
    recent_fraction: float = Field(0.0, ge=0, le=1, description="Share of episodes started inside [recent_start, train_end).")
    timesteps: int = Field(gt=0, description="Environment steps to add in this run.")
    seed: int = Field(ge=0, description="Seeds torch, numpy and the env copies.")
    ppo: PPOParams = Field(description="PPO hyperparameters; learning_rate is the model's base rate.")
    lr_schedule: Literal["linear", "constant"] = Field("linear", description="linear: decays to 0 over this run; constant: fixed.")
    lr_multiplier: float = Field(1.0, gt=0, description="Applied to ppo.learning_rate for this run.")
    env: EnvConfig = Field(description="Environment settings (costs, layout width, feature set).")
    data_source: str = Field("bundled", description="Price source name (see autotest_lib.data).")
    parent_id: str | None = Field(None, description="Model this one continues (None for a new model).")
    parent_bundle: str | None = Field(None, description="Path of the parent's bundle directory.")
    parent_sha256: str | None = Field(
        None,
        pattern=r"^[0-9a-f]{64}$",
        description="The parent bundle's sha256 as the registry recorded it; another parent bundle is refused.",
    )
    checkpoint_every: int = Field(100_000, ge=1, description="Checkpoint period in steps, for resumable retries.")
    ewc_weight: float = Field(0.0, ge=0, description="EWC penalty weight towards the parent (0 = off; continued models only).")

    @model_validator(mode="after")
    def _consistent(self) -> TrainSpec:
        if not self.train_start < self.train_end <= self.cutoff:
            raise ValueError(f"need train_start < train_end <= cutoff, got {self.train_start} / {self.train_end} / {self.cutoff}")
        if (self.parent_id is None) != (self.parent_bundle is None):
            raise ValueError("parent_id and parent_bundle go together")
        if self.role in (Role.REFINER, Role.CHAMPION) and self.parent_bundle is None:
            raise ValueError(f"role {self.role!r} continues a model: parent_bundle is required")
        if self.ewc_weight > 0 and self.parent_bundle is None:
            raise ValueError(f"ewc_weight={self.ewc_weight} needs a parent to consolidate towards; set it to 0 for a new model")
        if self.recent_fraction > 0 and self.recent_start is None:
            raise ValueError("recent_fraction > 0 needs recent_start")
        if self.recent_start is not None and not self.train_start <= self.recent_start < self.train_end:
            raise ValueError(f"recent_start={self.recent_start} must lie in [{self.train_start}, {self.train_end})")
        if len(self.tickers) > self.env.max_tickers:
            raise ValueError(f"{len(self.tickers)} tickers exceed env.max_tickers={self.env.max_tickers}")
        if len(set(self.tickers)) != len(self.tickers):
            raise ValueError(f"duplicate tickers in {self.tickers}")
        return self

    @property
    def learning_rate(self) -> float:
        """The rate this run starts at: base rate x multiplier."""
        return self.ppo.learning_rate * self.lr_multiplier


def build_spec(
    preset: Preset,
    budget: RoleBudget,
    *,
    model_id: str,
    role: Role,
    week: dt.date,
    slot: int,
    seed: int,
    tickers: Sequence[str],
    ppo: PPOParams,
    train_start: dt.date,
    train_end: dt.date,
    cutoff: dt.date,
    env: EnvConfig | None = None,
    parent_id: str | None = None,
    parent_bundle: str | None = None,
    parent_sha256: str | None = None,
    recent_start: dt.date | None = None,
) -> TrainSpec:
    """The one way a week, its curriculum and PBT make a :class:`TrainSpec`.

    The preset gives what every model of a run shares (price source, checkpoint period, the env unless one is
    given, the recent share of the data mix); the role's ``budget`` gives steps and learning-rate schedule, and
    EWC for a continued refiner or champion (explorers and PBT members ignore it).

    :param preset: the run's preset.
    :param budget: the role's budget (timesteps, ``lr_schedule``, ``lr_multiplier``, ``ewc_weight``).
    :param model_id: the model's id.
    :param role: its role.
    :param week: the week's logical date.
    :param slot: its position within the role.
    :param seed: its training seed.
    :param tickers: tickers in slot order.
    :param ppo: its hyperparameters.
    :param train_start: first training day.
    :param train_end: end of training (exclusive) = validation start.
    :param cutoff: the week's cutoff.
    :param env: its env (default ``preset.env``), e.g. the parent's or a curriculum stage's.
    :param parent_id: the model it continues (None for a new model).
    :param parent_bundle: the parent's bundle directory.
    :param parent_sha256: the registry's hash of the parent's bundle; the trainer refuses another bundle.
    :param recent_start: start of the recent part of the data mix; given, ``preset.windows.recent_fraction``
        of episodes start there.
    """
    continued = parent_bundle is not None
    return TrainSpec(
        model_id=model_id,
        role=role,
        week=week,
        slot=slot,
        tickers=tuple(tickers),
        train_start=train_start,
        train_end=train_end,
        cutoff=cutoff,
        recent_start=recent_start,
        recent_fraction=preset.windows.recent_fraction if recent_start is not None else 0.0,
        timesteps=budget.timesteps,
        seed=seed,
        ppo=ppo,
        lr_schedule=budget.lr_schedule,
        lr_multiplier=budget.lr_multiplier,
        env=env or preset.env,
        data_source=preset.data.source,
        parent_id=parent_id,
        parent_bundle=parent_bundle,
        parent_sha256=parent_sha256,
        checkpoint_every=preset.checkpoint_every,
        ewc_weight=budget.ewc_weight if continued and role in (Role.REFINER, Role.CHAMPION) else 0.0,
    )
