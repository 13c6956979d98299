"""Plain frozen dataclasses returned by :class:`~autotest_lib.registry.LineageStore`; no ORM object leaves the store.

``to_dict()`` gives a JSON-able dict (dates as ISO strings) for XCom, the CLI's ``--json`` and reports.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
from typing import Any, Self

__all__ = [
    "AncestryStep",
    "ChampionRecord",
    "ChampionStint",
    "EvaluationRecord",
    "EventRecord",
    "ImprovementReport",
    "ImprovementStat",
    "LeaderboardRow",
    "ModelRecord",
    "PaperWeekRecord",
    "TrainingRunRecord",
    "TrendPoint",
    "WeekRecord",
    "jsonable",
]


def jsonable(value: Any) -> Any:
    """``value`` with dataclasses, tuples and dates turned into dicts, lists and ISO strings.

    :param value: a record, a tuple of records, or any nesting of them with plain values.
    """
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return {f.name: jsonable(getattr(value, f.name)) for f in dataclasses.fields(value)}
    if isinstance(value, dict):
        return {str(k): jsonable(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [jsonable(v) for v in value]
    if isinstance(value, (dt.date, dt.datetime)):
        return value.isoformat()
    return value


def _from_column(value: Any) -> Any:
    """A column value as a record holds it: JSON lists as tuples, JSON objects as fresh dicts, timestamps in UTC
    (SQLite returns them naive)."""
    if isinstance(value, list):
        return tuple(value)
    if isinstance(value, dict):
        return dict(value)
    if isinstance(value, dt.datetime) and value.tzinfo is None:
        return value.replace(tzinfo=dt.UTC)
    return value


class _Record:
    def to_dict(self) -> dict[str, Any]:
        """This record as a JSON-able dict."""
        return jsonable(self)

    @classmethod
    def from_row(cls, row: Any) -> Self:
        """The record of an ORM row with the same attribute names (the one row -> record mapper)."""
        assert dataclasses.is_dataclass(cls)
        return cls(**{f.name: _from_column(getattr(row, f.name)) for f in dataclasses.fields(cls)})


@dataclasses.dataclass(frozen=True)
class WeekRecord(_Record):
    """One weekly run: its logical date (``week``), data cutoff, preset, config hash, status and plan."""

    week: dt.date
    cutoff: dt.date
    preset: str
    config_hash: str
    status: str
    plan: dict[str, Any]
    created_at: dt.datetime
    updated_at: dt.datetime


@dataclasses.dataclass(frozen=True)
class ModelRecord(_Record):
    """A model and its place in the family tree (``root_id`` is the first ancestor, ``generation`` 1 for roots)."""

    model_id: str
    role: str
    parent_id: str | None
    root_id: str
    generation: int
    tickers: tuple[str, ...]
    hyperparameters: dict[str, Any]
    cumulative_timesteps: int
    bundle_uri: str | None
    bundle_sha256: str | None
    status: str
    status_reason: str | None
    stage: int | None
    created_week: dt.date
    created_at: dt.datetime
    updated_at: dt.datetime


@dataclasses.dataclass(frozen=True)
class TrainingRunRecord(_Record):
    """Training one model received in one week; ``history`` holds one dict per PPO update."""

    model_id: str
    week: dt.date
    steps_added: int
    base_lr: float
    lr_multiplier: float
    lr_schedule: str
    train_start: dt.date
    train_end: dt.date
    recent_start: dt.date | None
    recent_fraction: float
    wall_time_s: float | None
    history: tuple[dict[str, Any], ...]
    hyperparameter_diff: dict[str, list[Any]]
    created_at: dt.datetime
    updated_at: dt.datetime


@dataclasses.dataclass(frozen=True)
class EvaluationRecord(_Record):
    """A backtest over ``[window_start, window_end)`` named ``window_name``; ``score`` is None when not finite."""

    model_id: str
    week: dt.date
    window_name: str
    window_start: dt.date
    window_end: dt.date
    metrics: dict[str, Any]
    benchmarks: dict[str, Any]
    score: float | None
    n_trials: int
    by_regime: dict[str, Any] | None
    created_at: dt.datetime
    updated_at: dt.datetime


@dataclasses.dataclass(frozen=True)
class ChampionRecord(_Record):
    """The champion of ``week``, the rule that chose it, and the champion of the latest earlier week."""

    week: dt.date
    model_id: str
    rule: str
    score: float | None
    previous_model_id: str | None
    created_at: dt.datetime
    updated_at: dt.datetime


@dataclasses.dataclass(frozen=True)
class EventRecord(_Record):
    """A lineage event; ``model_id`` is None for week-level events, ``round`` orders repeated events (PBT rounds)."""

    week: dt.date
    kind: str
    model_id: str | None
    round: int
    payload: dict[str, Any]
    created_at: dt.datetime
    updated_at: dt.datetime

    @classmethod
    def from_row(cls, row: Any) -> Self:
        record = super().from_row(row)
        return dataclasses.replace(record, model_id=record.model_id or None)  # '' marks a week-level event in the table


@dataclasses.dataclass(frozen=True)
class AncestryStep(_Record):
    """One generation on the path root -> model: the model, its training runs and its evaluations."""

    model: ModelRecord
    training_runs: tuple[TrainingRunRecord, ...]
    evaluations: tuple[EvaluationRecord, ...]


@dataclasses.dataclass(frozen=True)
class LeaderboardRow(_Record):
    """A model's rank by score in one week and window (1 = best)."""

    rank: int
    model_id: str
    role: str
    generation: int
    parent_id: str | None
    status: str
    score: float | None
    n_trials: int
    metrics: dict[str, Any]


@dataclasses.dataclass(frozen=True)
class ChampionStint(_Record):
    """Consecutive champion weeks of one model: ``[from_week .. to_week]`` inclusive, ``weeks_held`` rows."""

    model_id: str
    from_week: dt.date
    to_week: dt.date
    weeks_held: int
    current: bool


@dataclasses.dataclass(frozen=True)
class ImprovementStat(_Record):
    """Children whose score beat their parent's in the same week and window; ``generation`` None = all."""

    generation: int | None
    children: int
    improved: int
    share: float | None


@dataclasses.dataclass(frozen=True)
class ImprovementReport(_Record):
    """:meth:`LineageStore.generation_improvement`: overall and per child generation."""

    window_name: str
    overall: ImprovementStat
    by_generation: tuple[ImprovementStat, ...]


@dataclasses.dataclass(frozen=True)
class TrendPoint(_Record):
    """Best score of a week (and its model), with the change from the previous evaluated week."""

    week: dt.date
    model_id: str
    best_score: float
    change: float | None
    n_models: int


@dataclasses.dataclass(frozen=True)
class PaperWeekRecord(_Record):
    """One week of the paper ledger: the orders placed at cutoff ``week`` marked to market over the following week.

    Returns are simple returns from the last adjusted close before ``week`` (``start_date``) to the last one
    before the next cutoff (``end_date``). ``status`` is ``marked``, or ``gap`` when the week had no orders
    (then ``reason`` says why and every return is None). ``net_return`` is ``gross_return`` less
    (cost + slippage) bps times ``turnover`` against the previous week's target weights. Benchmarks over the
    same days: ``own_1n_return`` (1/N of the order's own tickers at the same gross ``exposure``),
    ``universe_1n_return`` (1/N of the preset's universe, fully invested) and ``benchmark_return`` (the index).
    ``contributions`` is each ticker's weight times its return.
    """

    week: dt.date
    status: str
    reason: str
    model_id: str | None
    start_date: dt.date | None
    end_date: dt.date | None
    gross_return: float | None
    net_return: float | None
    turnover: float | None
    exposure: float | None
    own_1n_return: float | None
    universe_1n_return: float | None
    benchmark_return: float | None
    weights: dict[str, float]
    contributions: dict[str, float]
