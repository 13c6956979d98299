"""Typed configuration: presets for the weekly compute split, PPO defaults, search space, env and data.

A preset is a YAML file under ``include/config/`` validated by :class:`Preset`. Every field carries its
meaning in its description, so ``Preset.model_json_schema()`` doubles as the reference. A bad value fails
with :class:`~autotest_lib.errors.ConfigError` naming the field and the value.

>>> print(budget_split(load_preset("recommended")).table())   # doctest: +SKIP
"""

from __future__ import annotations

import datetime as dt
import json
import os
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from autotest_lib.errors import ConfigError, redact
from autotest_lib.kinds import Role

__all__ = [
    "CONTINUOUS_STAGES",
    "BudgetSplit",
    "BuiltinSourceConfig",
    "ColumnMap",
    "ContinuousConfig",
    "CurriculumConfig",
    "CurriculumStage",
    "DataConfig",
    "EnvConfig",
    "FilesSourceConfig",
    "FloatRange",
    "PBTConfig",
    "PPOParams",
    "Preset",
    "PromotionRule",
    "RegimeConfig",
    "RoleBudget",
    "SearchSpace",
    "SqlSourceConfig",
    "ValidationConfig",
    "WindowConfig",
    "budget_split",
    "deployment_source",
    "include_dir",
    "list_presets",
    "load_preset",
    "run_preset",
    "scaled",
    "source_config",
    "source_spec",
]


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class PPOParams(_Strict):
    """Hyperparameters handed to ``stable_baselines3.PPO`` (plus the number of parallel env copies)."""

    learning_rate: float = Field(3e-4, gt=0, lt=1, description="Base Adam learning rate before multiplier and schedule.")
    n_steps: int = Field(256, ge=8, description="Steps per env copy per rollout; rollout size is n_steps * n_envs.")
    batch_size: int = Field(1024, ge=8, description="Minibatch size for each gradient step.")
    n_epochs: int = Field(5, ge=1, le=50, description="Passes over each rollout.")
    gamma: float = Field(0.99, gt=0, le=1, description="Discount factor.")
    gae_lambda: float = Field(0.95, gt=0, le=1, description="GAE bias/variance trade-off.")
    ent_coef: float = Field(0.001, ge=0, lt=1, description="Entropy bonus coefficient.")
    clip_range: float = Field(0.2, gt=0, lt=1, description="PPO policy ratio clip.")
    vf_coef: float = Field(0.5, ge=0, description="Value loss coefficient.")
    max_grad_norm: float = Field(0.5, gt=0, description="Gradient clipping norm.")
    net_arch: tuple[int, ...] = Field((64, 64), min_length=1, description="Hidden layer widths of policy and value nets.")
    n_envs: int = Field(16, ge=1, le=1024, description="Parallel env copies in the batched VecEnv.")

    @model_validator(mode="after")
    def _batch_fits_rollout(self) -> PPOParams:
        rollout = self.n_steps * self.n_envs
        if self.batch_size > rollout:
            raise ValueError(f"batch_size={self.batch_size} exceeds the rollout n_steps*n_envs={rollout}")
        return self


class FloatRange(_Strict):
    """A closed interval sampled uniformly, or log-uniformly when ``log`` is true."""

    low: float = Field(description="Lower bound (inclusive).")
    high: float = Field(description="Upper bound (inclusive).")
    log: bool = Field(False, description="Sample log-uniformly (for rates and coefficients).")

    @model_validator(mode="after")
    def _ordered(self) -> FloatRange:
        if not self.low <= self.high:
            raise ValueError(f"low={self.low} must be <= high={self.high}")
        if self.log and self.low <= 0:
            raise ValueError(f"log range needs low > 0, got {self.low}")
        return self


class SearchSpace(_Strict):
    """Where explorer hyperparameters are drawn from, and the bounds PBT mutations are clipped to."""

    learning_rate: FloatRange = Field(FloatRange(low=5e-5, high=1e-3, log=True), description="Learning rate range.")
    n_steps: tuple[int, ...] = Field((128, 256, 512), min_length=1, description="Rollout lengths to choose from.")
    batch_size: tuple[int, ...] = Field((256, 512, 1024), min_length=1, description="Minibatch sizes to choose from.")
    gamma: FloatRange = Field(FloatRange(low=0.95, high=0.999), description="Discount range.")
    gae_lambda: FloatRange = Field(FloatRange(low=0.9, high=0.99), description="GAE lambda range.")
    ent_coef: FloatRange = Field(FloatRange(low=1e-5, high=1e-2, log=True), description="Entropy coefficient range.")
    clip_range: FloatRange = Field(FloatRange(low=0.1, high=0.3), description="Clip range.")
    net_arch: tuple[tuple[int, ...], ...] = Field(
        ((64, 64), (128, 128), (256, 256)), min_length=1, description="Network shapes to choose from."
    )


class RoleBudget(_Strict):
    """How many models of one role a week trains, for how long, at which learning rate."""

    count: int = Field(ge=0, description="Number of models of this role per week.")
    timesteps: int = Field(ge=0, description="Environment steps added per model this week.")
    lr_multiplier: float = Field(1.0, gt=0, le=10, description="Factor applied to the model's base learning rate.")
    lr_schedule: Literal["linear", "constant"] = Field("linear", description="'linear' decays to 0 over the run; 'constant' keeps it.")
    ewc_weight: float = Field(
        0.0,
        description="Elastic weight consolidation for continued models: penalty (weight/2) * sum F * (theta - theta_parent)^2, "
        "F the diagonal Fisher information on the parent's training window (0 = off; explorers ignore it).",
    )

    @field_validator("ewc_weight")
    @classmethod
    def _ewc_not_negative(cls, value: float) -> float:
        if not value >= 0:
            raise ValueError(f"an EWC weight must be >= 0 (0 turns EWC off); set it to 0 or a positive weight such as 100, not {value}")
        return value

    @property
    def total(self) -> int:
        return self.count * self.timesteps


class EnvConfig(_Strict):
    """The trading environment: universe width, costs, episodes and risk terms."""

    max_tickers: int = Field(30, ge=1, le=64, description="Width of the fixed observation layout (ticker slots).")
    feature_set: Literal["simple", "rich", "full"] = Field("rich", description="Named feature set placed in the fixed layout.")
    episode_length: int = Field(252, ge=5, description="Trading days per training episode.")
    cost_bps: float = Field(5.0, ge=0, le=1000, description="Commission in basis points of traded notional.")
    slippage_bps: float = Field(5.0, ge=0, le=1000, description="Slippage in basis points of traded notional.")
    action_scale: float = Field(5.0, gt=0, description="Actions in [-1, 1] are scaled by this before the softmax into weights.")
    max_weight: float = Field(1.0, gt=0, le=1, description="Cap on any single ticker's weight (excess goes to cash).")
    max_gross: float = Field(1.0, gt=0, le=1, description="Cap on the sum of ticker weights (the rest is cash).")
    risk_penalty: float = Field(0.0, ge=0, description="Reward penalty per unit increase of drawdown (0 = off).")
    reward_mode: Literal["log", "excess_log"] = Field(
        "log",
        description="log: log net growth; excess_log: minus the log growth of 1/N of the model's own tradable tickers that day.",
    )
    reward_scale: float = Field(1.0, gt=0, le=10_000, description="Rewards are multiplied by this (a scale the value function can fit).")
    turnover_penalty_bps: float = Field(
        0.0, ge=0, le=1000, description="Reward-only penalty in bps per unit turnover, on top of the costs paid (0 = off)."
    )
    obs_norm: bool = Field(False, description="Normalise observations with running mean/var, updated in training, frozen otherwise.")
    obs_norm_clip: float = Field(10.0, gt=0, description="Normalised observations are clipped to [-clip, clip].")
    log_std_init: float = Field(0.0, ge=-5, le=2, description="Initial log std of the Gaussian policy (lower = actions carry conviction).")


class ColumnMap(_Strict):
    """Which column of the user's data holds each field (names as they appear in the file or table)."""

    date: str = Field("date", description="Column with the trading day.")
    ticker: str | None = Field("ticker", description="Column with the symbol; null (or absent from a file) = the file name is the ticker.")
    open: str = Field("open", description="Opening price column.")
    high: str = Field("high", description="High price column.")
    low: str = Field("low", description="Low price column.")
    close: str = Field("close", description="Closing price column (split-adjusted).")
    adj_close: str | None = Field(
        "adj_close", description="Split- and dividend-adjusted close; null when the vendor has none (see missing_adj_close)."
    )
    volume: str = Field("volume", description="Volume column.")


class ValidationConfig(_Strict):
    """How loaded prices are checked and which repairs are allowed (``autotest_lib.data.RepairOptions``)."""

    dedupe: bool = Field(False, description="Drop duplicate (ticker, date) rows, keeping the last.")
    ffill_limit: int = Field(0, ge=0, description="Fill gaps of up to N trading days with a flat bar (0 = never).")
    stale_limit: int = Field(5, ge=0, description="Most consecutive days a close may repeat (0 = no check).")
    jump_limit: float = Field(
        3.0, ge=0, description="Largest one-day move (factor, either way) against the market before it is a jump; 0 = no check."
    )
    jump_sigmas: float = Field(50.0, gt=0, description="... and in units of the ticker's own robust daily scale.")
    repair_spikes: bool = Field(False, description="Replace one-day spikes with the previous bar (warned) instead of failing.")

    @model_validator(mode="after")
    def _jump(self) -> ValidationConfig:
        if 0 < self.jump_limit <= 1:
            raise ValueError(f"jump_limit={self.jump_limit}: must be 0 (off) or > 1")
        return self


class BuiltinSourceConfig(_Strict):
    """The bundled sample or Yahoo, with validation settings other than the defaults."""

    kind: Literal["bundled", "yfinance"] = Field(description="Source kind.")
    validation: ValidationConfig = Field(ValidationConfig(), description="Checks and allowed repairs.")


class _UserSource(_Strict):
    validation: ValidationConfig = Field(ValidationConfig(), description="Checks and allowed repairs.")
    columns: ColumnMap = Field(ColumnMap(), description="Column mapping onto date/ticker/open/high/low/close/adj_close/volume.")
    date_format: str = Field(
        "%Y-%m-%d", min_length=1, description="strftime format of text dates (e.g. '%d/%m/%Y', '%Y%m%d'); 'ISO8601' for ISO strings."
    )
    missing_adj_close: Literal["use_close", "refuse"] = Field(
        "use_close",
        description="No adjusted close: 'use_close' (warn once per load; splits and dividends then show up as returns) or 'refuse'.",
    )
    calendar: str = Field("XNYS", min_length=1, description="exchange-calendars code of the market the prices trade on.")


class FilesSourceConfig(_UserSource):
    """Prices from the user's files: a folder with one file per ticker, or one long file (CSV or Parquet, gzip or not)."""

    kind: Literal["files"] = Field("files", description="Source kind.")
    path: str = Field(min_length=1, description="Folder of <TICKER>.csv[.gz]/.parquet files, or one long file; ~ and $VARS expand.")
    format: Literal["auto", "csv", "parquet"] = Field("auto", description="File format; 'auto' goes by the file suffix.")


class SqlSourceConfig(_UserSource):
    """Prices from a table or a query on a SQLAlchemy URL; the cutoff is applied in the query."""

    kind: Literal["sql"] = Field("sql", description="Source kind.")
    url: str | None = Field(None, description="SQLAlchemy URL; prefer url_env so no password lands in configs or the registry.")
    url_env: str | None = Field(None, description="Environment variable holding the SQLAlchemy URL.")
    table: str | None = Field(None, description="Table (optionally schema.table) in long layout.")
    query: str | None = Field(
        None, description="SELECT that uses the bind parameter :cutoff (rows dated before it); may use :start and :tickers."
    )

    @model_validator(mode="after")
    def _one_of(self) -> SqlSourceConfig:
        if (self.url is None) == (self.url_env is None):
            raise ValueError("give exactly one of url or url_env")
        if (self.table is None) == (self.query is None):
            raise ValueError("give exactly one of table or query")
        if self.query is not None and ":cutoff" not in self.query:
            raise ValueError(
                "query must filter with the bind parameter :cutoff (e.g. WHERE day < :cutoff) so no row on or after it is read"
            )
        if self.columns.ticker is None:
            raise ValueError("columns.ticker is required for a SQL source (one table holds every ticker)")
        return self


SOURCE_NAMES = ("bundled", "yfinance")


SourceConfig = BuiltinSourceConfig | FilesSourceConfig | SqlSourceConfig


def source_config(spec: str | Mapping[str, Any]) -> SourceConfig | None:
    """The typed config of a user source given as a mapping or its JSON text; ``None`` for a built-in name.

    :param spec: ``"bundled"``, ``"yfinance"``, a mapping with ``kind: bundled|yfinance|files|sql`` (the first
        two to change ``validation``), or that mapping as JSON.
    :raises ConfigError: an unknown name or kind, or a field that fails validation.
    """
    if isinstance(spec, str):
        text = spec.strip()
        if not text.startswith("{"):
            if text in SOURCE_NAMES:
                return None
            raise ConfigError(f"data.source={spec!r}: use 'bundled', 'yfinance', or a mapping with kind: files or kind: sql")
        try:
            spec = json.loads(text)
        except json.JSONDecodeError as exc:
            raise ConfigError(f"data.source is not valid JSON ({exc}); give a mapping with kind: files or kind: sql") from None
    if not isinstance(spec, Mapping):
        raise ConfigError(f"data.source={spec!r}: use 'bundled', 'yfinance', or a mapping with kind: files or kind: sql")
    kinds: dict[str, type[SourceConfig]] = {
        "bundled": BuiltinSourceConfig,
        "yfinance": BuiltinSourceConfig,
        "files": FilesSourceConfig,
        "sql": SqlSourceConfig,
    }
    kind = spec.get("kind")
    if kind not in kinds:
        raise ConfigError(f"data.source.kind={kind!r}: use one of {', '.join(kinds)}")
    try:
        return kinds[kind].model_validate(dict(spec))
    except ValidationError as exc:
        problems = [
            f"{'.'.join(['data.source', *(str(p) for p in err['loc'])])}: {str(err['msg']).removeprefix('Value error, ')}"
            for err in exc.errors()
        ]
        raise ConfigError(redact("; ".join(problems))) from None


def source_spec(spec: str | Mapping[str, Any]) -> str:
    """A source as the one string every loader takes: a built-in name, or the validated config as compact JSON.

    :param spec: see :func:`source_config`.
    :raises ConfigError: see :func:`source_config`.
    """
    cfg = source_config(spec)
    if cfg is None:
        return str(spec).strip()
    if isinstance(cfg, BuiltinSourceConfig) and cfg.validation == ValidationConfig():
        return cfg.kind
    return json.dumps(cfg.model_dump(mode="json"), sort_keys=True, separators=(",", ":"))


class DataConfig(_Strict):
    """Where prices come from and which tickers models may trade."""

    source: str = Field(
        "bundled",
        description=(
            "Price source: 'bundled' (offline sample), 'yfinance', or a mapping with kind: files (FilesSourceConfig) or "
            "kind: sql (SqlSourceConfig); a mapping is stored as its JSON text, the form every loader takes."
        ),
    )
    universe: tuple[str, ...] = Field(min_length=1, description="Tickers explorers draw their sets from.")
    tickers_per_model: tuple[int, int] = Field((5, 10), description="Inclusive (min, max) tickers per explorer.")
    benchmark: str = Field("SPY", description="Index ETF used as benchmark and for regime features.")
    earliest: str = Field("2005-01-03", description="No price before this date is loaded.")

    @field_validator("source", mode="before")
    @classmethod
    def _source(cls, value: Any) -> str:
        try:
            return source_spec(value)
        except ConfigError as exc:
            raise ValueError(str(exc)) from None

    @field_validator("earliest")
    @classmethod
    def _earliest_is_a_date(cls, value: str) -> str:
        try:
            dt.date.fromisoformat(value)
        except ValueError:
            raise ValueError(f"earliest={value!r} is not a date: write it as YYYY-MM-DD, e.g. earliest: 2005-01-03") from None
        return value

    @field_validator("universe")
    @classmethod
    def _distinct_tickers(cls, value: tuple[str, ...]) -> tuple[str, ...]:
        repeated = sorted({t for t in value if value.count(t) > 1})
        if repeated:
            raise ValueError(f"universe lists {', '.join(repeated)} more than once; list each ticker once")
        return value

    @model_validator(mode="after")
    def _sizes(self) -> DataConfig:
        lo, hi = self.tickers_per_model
        if not 1 <= lo <= hi <= len(self.universe):
            raise ValueError(
                f"tickers_per_model={self.tickers_per_model} must satisfy 1 <= min <= max <= {len(self.universe)} (universe size)"
            )
        return self


class WindowConfig(_Strict):
    """Rolling windows, all derived from the week's cutoff."""

    train_years: float | None = Field(8.0, gt=0, description="Trailing training window in years; null = expanding from data.earliest.")
    validation_weeks: int = Field(26, ge=4, description="Validation window: the last N weeks before the cutoff (never trained on).")
    recent_weeks: int = Field(104, ge=4, description="'Recent' part of a continued model's data mix.")
    recent_fraction: float = Field(0.7, ge=0, le=1, description="Share of continued training episodes drawn from the recent window.")


class PBTConfig(_Strict):
    """Population-based training (DeepMind PBT, as in Ray Tune's scheduler), kept from week to week."""

    population: int = Field(20, ge=2, description="Members trained side by side.")
    interval_steps: int = Field(500_000, ge=1, description="Steps each member trains between two evaluations (one round).")
    rounds_per_run: int = Field(4, ge=1, description="Rounds one DAG run performs.")
    quantile: float = Field(0.2, gt=0, le=0.5, description="Bottom share replaced by copies of the top share.")
    perturb_factors: tuple[float, float] = Field((0.8, 1.2), description="Multipliers applied to each copied hyperparameter.")
    resample_probability: float = Field(0.0, ge=0, le=1, description="Chance a hyperparameter is redrawn instead of perturbed.")
    burn_in_rounds: int = Field(0, ge=0, description="Rounds before the first exploit/explore step.")


class PromotionRule(_Strict):
    """Evidence a model needs on the validation window to move to the next curriculum stage."""

    min_sharpe: float = Field(0.5, description="Validation Sharpe at least this.")
    beat_buy_and_hold: bool = Field(True, description="And above equal-weight buy-and-hold of its tickers.")


class CurriculumStage(_Strict):
    """One step of the curriculum: what the environment looks like there."""

    name: str = Field(description="Short name shown in the registry and report.")
    tickers: tuple[int, int] = Field(description="Inclusive (min, max) tickers a model trades at this stage.")
    feature_set: Literal["simple", "rich", "full"] = Field(description="Feature set of the observation.")
    max_weight: float = Field(1.0, gt=0, le=1, description="Per-ticker weight cap.")
    max_gross: float = Field(1.0, gt=0, le=1, description="Cap on total invested weight.")
    risk_penalty: float = Field(0.0, ge=0, description="Drawdown penalty in the reward.")
    promotion: PromotionRule = Field(PromotionRule(), description="Rule to move on to the next stage.")

    @model_validator(mode="after")
    def _ticker_range(self) -> CurriculumStage:
        lo, hi = self.tickers
        if not 1 <= lo <= hi:
            raise ValueError(f"stage {self.name!r}: tickers={self.tickers} must satisfy 1 <= min <= max")
        return self


def _default_stages() -> tuple[CurriculumStage, ...]:
    return (
        CurriculumStage(name="single", tickers=(1, 1), feature_set="simple"),
        CurriculumStage(name="several", tickers=(3, 5), feature_set="rich"),
        CurriculumStage(name="portfolio", tickers=(10, 30), feature_set="rich", max_weight=0.2, max_gross=0.95, risk_penalty=0.5),
        CurriculumStage(name="multi_timeframe", tickers=(10, 30), feature_set="full", max_weight=0.2, max_gross=0.95, risk_penalty=0.5),
    )


class CurriculumConfig(_Strict):
    """Progressive difficulty: single stock -> several -> risk-constrained portfolio -> multi-timeframe + regimes."""

    explorer_share: float = Field(0.0, ge=0, le=1, description="Share of the explorer slots given to curriculum models (0 = off).")
    stages: tuple[CurriculumStage, ...] = Field(default_factory=_default_stages, min_length=1, description="Stages in order.")

    @model_validator(mode="after")
    def _growing(self) -> CurriculumConfig:
        # a promoted model keeps its tickers and adds some: each stage must hold at least as many as the one before
        for i, (a, b) in enumerate(zip(self.stages, self.stages[1:], strict=False), start=1):
            if b.tickers[1] < a.tickers[1]:
                raise ValueError(
                    f"stages[{i}] {b.name!r} allows at most {b.tickers[1]} tickers, fewer than stages[{i - 1}] {a.name!r} "
                    f"({a.tickers[1]}); a promotion keeps its tickers, so the maximum may not shrink"
                )
        return self


class RegimeConfig(_Strict):
    """Causal market regime detection on the benchmark index, and regime-aware model selection."""

    trend_window: int = Field(200, ge=5, description="Bull when the index closes above its N-day moving average.")
    vol_window: int = Field(21, ge=2, description="Realised volatility window in days.")
    vol_lookback: int = Field(252, ge=20, description="High volatility when it exceeds its trailing N-day median.")
    min_evidence_days: int = Field(20, ge=1, description="Days in a regime a model needs before it can be picked for it.")
    switch_margin: float = Field(
        0.0,
        ge=0,
        le=10,
        description=(
            "Keep the tickers the paper account holds (the best model on exactly last week's tickers) unless the pick's "
            "validation Sharpe beats that model's by more than this; switching tickers turns over the whole account "
            "(0 = always take the pick)."
        ),
    )


CONTINUOUS_STAGES = ("explorers", "refiners", "champion", "backtests", "paper")
WEEK_HOURS = 7 * 24


class ContinuousConfig(_Strict):
    """The continuous week: when each stage may start, in hours after the week's anchor (default the cutoff,
    Sunday 02:00 UTC). Every stage still uses only data before the cutoff; only the compute is spread out."""

    explorers: float = Field(24, description="Hours after the anchor the explorers start (Monday).")
    refiners: float = Field(48, description="Hours after the anchor the refiners start (Tuesday).")
    champion: float = Field(72, description="Hours after the anchor the champion slots start (Wednesday).")
    backtests: float = Field(96, description="Hours after the anchor backtests and selection start (Thursday-Friday).")
    paper: float = Field(144, description="Hours after the anchor paper-trade orders and the report are prepared (Saturday).")

    @model_validator(mode="after")
    def _fits_the_week(self) -> ContinuousConfig:
        previous = 0.0
        for name in CONTINUOUS_STAGES:
            hours = getattr(self, name)
            if not previous <= hours < WEEK_HOURS:
                raise ValueError(
                    f"{name}={hours:g} hours: the stages must fit in the week in order (0 <= explorers <= refiners <= champion "
                    f"<= backtests <= paper < {WEEK_HOURS}); set {name} between {previous:g} and {WEEK_HOURS - 1}"
                )
            previous = hours
        return self


class Preset(_Strict):
    """One weekly configuration: the compute split and everything the week's tasks need."""

    name: str = Field(description="Preset name, e.g. 'recommended'.")
    description: str = Field("", description="One line for humans.")
    explorers: RoleBudget = Field(description="New models with sampled hyperparameters and ticker sets.")
    refiners: RoleBudget = Field(description="Last week's top models continued.")
    champion: RoleBudget = Field(
        description="The top ``count`` models of all time continued, one per lineage: slot 0 is the current champion, slots "
        "1.. the best-scoring models of other lineages (the plan's 1-2 elite models)."
    )
    ppo: PPOParams = Field(PPOParams(), description="Default PPO hyperparameters (explorers sample around the search space).")
    search_space: SearchSpace = Field(SearchSpace(), description="Explorer sampling space and PBT clip bounds.")
    env: EnvConfig = Field(EnvConfig(), description="Trading environment.")
    data: DataConfig = Field(description="Price source and universe.")
    windows: WindowConfig = Field(WindowConfig(), description="Training/validation windows.")
    checkpoint_every: int = Field(100_000, ge=1, description="Save a resumable checkpoint every N steps.")
    keep_top_n: int = Field(5, ge=1, description="Bundles kept in the archive.")
    rollback_threshold: float = Field(0.10, ge=0, le=1, description="Roll back a continued model scoring this much worse than its parent.")
    champion_min_dsr: float = Field(
        0.5, ge=0, le=1, description="A challenger must reach this deflated Sharpe (probability) to take the champion's place."
    )
    champion_must_beat_own_1n: bool = Field(
        False, description="A challenger must also beat 1/N of its own tickers (equal-weight buy-and-hold) on the validation window."
    )
    orders_fallback_universe_1n: bool = Field(
        False, description="When no model of the week beats 1/N of its own tickers on validation, the orders are 1/N of the universe."
    )
    seed: int = Field(0, ge=0, description="Base seed; each week and slot derive their own from it.")
    pbt: PBTConfig = Field(PBTConfig(), description="Population-based training (the autotest_pbt DAG).")
    curriculum: CurriculumConfig = Field(CurriculumConfig(), description="Curriculum stages and their share of explorers.")
    regimes: RegimeConfig = Field(RegimeConfig(), description="Regime detection and regime-aware paper-trade selection.")
    schedule: Literal["sunday", "continuous"] = Field(
        "sunday", description="'sunday': the whole week in one batch after the cutoff; 'continuous': stages spread over the week."
    )
    continuous: ContinuousConfig = Field(ContinuousConfig(), description="Stage start times of the continuous week.")

    @model_validator(mode="after")
    def _roles_fit(self) -> Preset:
        """A week has explorers; refiners continue at most as many models as explorers bring; search-space batches fit."""
        if self.explorers.count < 1:
            raise ValueError(
                "explorers.count=0: a week needs at least one explorer (week 1 has nothing to refine); set explorers.count >= 1"
            )
        if self.refiners.count > self.explorers.count:
            raise ValueError(
                f"refiners.count={self.refiners.count} exceeds explorers.count={self.explorers.count}: refiners continue last week's "
                f"top models, so at most {self.explorers.count} can be planned; lower refiners.count or raise explorers.count"
            )
        smallest_rollout = min(self.search_space.n_steps) * self.ppo.n_envs
        if min(self.search_space.batch_size) > smallest_rollout:
            raise ValueError(
                f"search_space.batch_size={list(self.search_space.batch_size)}: every choice exceeds the smallest rollout "
                f"min(search_space.n_steps) * ppo.n_envs = {smallest_rollout}; add a batch size <= {smallest_rollout}"
            )
        return self

    @model_validator(mode="after")
    def _curriculum_fits(self) -> Preset:
        """With the curriculum on, every stage's ticker counts fit the observation width and the universe."""
        if self.curriculum.explorer_share <= 0:
            return self
        room = min(self.env.max_tickers, len(self.data.universe))
        for i, stage in enumerate(self.curriculum.stages):
            if stage.tickers[1] > room:
                raise ValueError(
                    f"curriculum.stages[{i}] {stage.name!r}: tickers={stage.tickers} exceeds min(env.max_tickers="
                    f"{self.env.max_tickers}, universe size={len(self.data.universe)}) = {room}; lower the stage's maximum"
                )
        return self

    @property
    def total_timesteps(self) -> int:
        return self.explorers.total + self.refiners.total + self.champion.total


@dataclass(frozen=True)
class BudgetSplit:
    """Steps per role for one preset. ``table()`` renders it for logs and the report."""

    preset: str
    rows: tuple[tuple[str, int, int, int], ...]  # role, count, steps each, total

    @property
    def total(self) -> int:
        return sum(r[3] for r in self.rows)

    def shares(self) -> dict[str, float]:
        return {role: (tot / self.total if self.total else 0.0) for role, _, _, tot in self.rows}

    def table(self) -> str:
        lines = [f"preset {self.preset}: {_steps(self.total)} steps/week"]
        for role, count, each, tot in self.rows:
            share = tot / self.total if self.total else 0.0
            lines.append(f"  {role:<9} {count:>3} x {_steps(each):>6} = {_steps(tot):>6}  {share:6.1%}")
        return "\n".join(lines)

    def as_dict(self) -> dict[str, Any]:
        return {
            "preset": self.preset,
            "total": self.total,
            "roles": [
                {"role": r, "count": c, "timesteps": e, "total": t, "share": t / self.total if self.total else 0.0}
                for r, c, e, t in self.rows
            ],
        }


def _steps(n: int) -> str:
    if n >= 1_000_000:
        return f"{n / 1e6:g}M"
    if n >= 1_000:
        return f"{n / 1e3:g}k"
    return str(n)


def budget_split(preset: Preset) -> BudgetSplit:
    """Steps per role: ``recommended`` gives 22.5M / 10M / 3M = 63.4% / 28.2% / 8.5%."""
    rows = tuple(
        (role, b.count, b.timesteps, b.total)
        for role, b in ((Role.EXPLORER, preset.explorers), (Role.REFINER, preset.refiners), (Role.CHAMPION, preset.champion))
    )
    return BudgetSplit(preset=preset.name, rows=rows)


def include_dir() -> Path:
    """The ``include/`` folder (configs, bundled prices); ``AUTOTEST_INCLUDE_DIR`` overrides it."""
    env = os.environ.get("AUTOTEST_INCLUDE_DIR")
    return Path(env) if env else Path(__file__).resolve().parents[1] / "include"


def list_presets() -> list[str]:
    return sorted(p.stem for p in (include_dir() / "config").glob("*.yaml"))


def _deep_merge(base: dict[str, Any], over: Mapping[str, Any]) -> dict[str, Any]:
    out = dict(base)
    for key, value in over.items():
        if isinstance(value, Mapping) and isinstance(out.get(key), dict):
            out[key] = _deep_merge(out[key], value)
        else:
            out[key] = value
    return out


def _format_validation(source: str, exc: ValidationError) -> str:
    parts = []
    for err in exc.errors():
        msg = str(err["msg"]).removeprefix("Value error, ")
        if err["loc"]:
            parts.append(f"{'.'.join(str(p) for p in err['loc'])}={err.get('input')!r}: {msg}")
        else:  # a rule across fields: its message names them; the whole input would bury it
            parts.append(msg)
    return redact(f"invalid config {source}: " + "; ".join(parts))


DATA_SOURCE_ENV = "AUTOTEST_DATA_SOURCE"


def deployment_source() -> str | dict[str, Any] | None:
    """The deployment's price source from ``$AUTOTEST_DATA_SOURCE``, or ``None`` when unset.

    The value is a source name (``bundled``, ``yfinance``), a JSON mapping (``{"kind": "files", ...}``), or the
    path of a YAML/JSON file holding that mapping. It replaces every preset's ``data.source``; explicit
    overrides passed to :func:`load_preset` still win.

    :raises ConfigError: the file is missing or not a mapping.
    """
    value = os.environ.get(DATA_SOURCE_ENV, "").strip()
    if not value:
        return None
    if value.endswith((".yaml", ".yml", ".json")):
        path = Path(value).expanduser()
        if not path.is_file():
            raise ConfigError(f"{DATA_SOURCE_ENV}={value!r}: no such file; point it at a YAML file with kind: files|sql, or unset it")
        try:
            loaded = yaml.safe_load(path.read_text())
        except yaml.YAMLError as exc:
            raise ConfigError(f"{DATA_SOURCE_ENV}: {path} is not valid YAML/JSON ({exc})") from None
        if not isinstance(loaded, dict):
            raise ConfigError(f"{DATA_SOURCE_ENV}: {path} must hold a mapping with kind: files or kind: sql")
        return loaded
    return value


def load_preset(name_or_path: str | os.PathLike[str], overrides: Mapping[str, Any] | None = None) -> Preset:
    """Load a preset by name (``include/config/NAME.yaml``) or path, then apply nested ``overrides``.

    :param name_or_path: a preset name from :func:`list_presets`, or a path to a YAML file.
    :param overrides: nested mapping merged over the file, e.g. ``{"explorers": {"count": 2}}``.
        ``$AUTOTEST_DATA_SOURCE`` (see :func:`deployment_source`) sets ``data.source`` before them.
    :raises ConfigError: unknown preset, unreadable YAML, or a field that fails validation.
    """
    path = Path(name_or_path)
    if path.suffix not in (".yaml", ".yml"):
        path = include_dir() / "config" / f"{name_or_path}.yaml"
    if not path.is_file():
        raise ConfigError(f"unknown preset {str(name_or_path)!r}: no file {path}; available: {', '.join(list_presets())}")
    try:
        raw = yaml.safe_load(path.read_text()) or {}
    except yaml.YAMLError as exc:
        raise ConfigError(f"{path} is not valid YAML: {exc}") from exc
    if not isinstance(raw, dict):
        raise ConfigError(f"{path} must hold a mapping at the top level, got {type(raw).__name__}")
    deployed = deployment_source()
    if deployed is not None:
        raw = _deep_merge(raw, {"data": {"source": deployed}})
    if overrides:
        raw = _deep_merge(raw, overrides)
    try:
        return Preset.model_validate(raw)
    except ValidationError as exc:
        raise ConfigError(_format_validation(str(path), exc)) from None


def scaled(preset: Preset, factor: float) -> Preset:
    """The preset with every role's timesteps multiplied by ``factor`` (the DAG's ``timesteps_scale``)."""
    if factor <= 0:
        raise ConfigError(f"timesteps_scale={factor!r}: must be > 0")
    update = {
        role: getattr(preset, role).model_copy(update={"timesteps": max(1, round(getattr(preset, role).timesteps * factor))})
        for role in ("explorers", "refiners", "champion")
    }
    return preset.model_copy(update=update)


def run_preset(name: str, *, seed: int, tickers: Sequence[str] | None = None, timesteps_scale: float = 1.0) -> Preset:
    """The preset a DAG run uses: ``name`` with the run's params applied.

    - ``seed`` replaces the preset's seed;
    - ``tickers`` (when given) replaces the universe; ``tickers_per_model`` and, when the curriculum is on,
      every stage's ticker range shrink to fit it;
    - ``timesteps_scale`` multiplies every role's timesteps (see :func:`scaled`).
    """
    overrides: dict[str, Any] = {"seed": seed}
    if tickers:
        n = len(tickers)
        base = load_preset(name)
        lo, hi = base.data.tickers_per_model
        overrides["data"] = {"universe": list(tickers), "tickers_per_model": [min(lo, n), min(hi, n)]}
        if base.curriculum.explorer_share > 0:  # curriculum stages shrink to the overridden universe too
            overrides["curriculum"] = {
                "stages": [
                    s.model_dump(mode="json") | {"tickers": [min(s.tickers[0], n), min(s.tickers[1], n)]} for s in base.curriculum.stages
                ]
            }
    preset = load_preset(name, overrides)
    return scaled(preset, float(timesteps_scale)) if timesteps_scale != 1 else preset
