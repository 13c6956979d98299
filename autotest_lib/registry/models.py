"""SQLAlchemy 2 typed tables of the lineage registry. Internal: :class:`LineageStore` returns dataclasses instead.

Every table is keyed by its natural key, so a retried Airflow task that writes the same ``model_id`` /
``(model_id, week)`` / ``week`` again updates one row instead of adding a second. The schema changes only
through Alembic revisions in ``migrations/versions``; a test checks these classes and the migrations agree.
"""

from __future__ import annotations

import datetime as dt
from typing import Any, ClassVar

import sqlalchemy as sa
from sqlalchemy.dialects import postgresql
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

from autotest_lib.kinds import ModelStatus, PaperStatus, Role, WeekStatus

__all__ = [
    "MODEL_STATUSES",
    "PAPER_STATUSES",
    "ROLES",
    "WEEK_STATUSES",
    "Base",
    "ChampionRow",
    "EvaluationRow",
    "LineageEventRow",
    "ModelRow",
    "PaperWeekRow",
    "TrainingRunRow",
    "WeekRow",
]

ROLES: tuple[str, ...] = tuple(r.value for r in Role)
"""How a model came to be (:class:`~autotest_lib.kinds.Role`)."""
MODEL_STATUSES: tuple[str, ...] = tuple(s.value for s in ModelStatus)
"""Life cycle of a model (:class:`~autotest_lib.kinds.ModelStatus`)."""
WEEK_STATUSES: tuple[str, ...] = tuple(s.value for s in WeekStatus)
"""Life cycle of a weekly run (:class:`~autotest_lib.kinds.WeekStatus`)."""
PAPER_STATUSES: tuple[str, ...] = tuple(s.value for s in PaperStatus)
"""A paper-ledger week (:class:`~autotest_lib.kinds.PaperStatus`)."""

JSONType = sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), "postgresql")
MODEL_ID = sa.String(128)

_NAMING = {
    "ix": "ix_%(table_name)s_%(column_0_N_name)s",
    "uq": "uq_%(table_name)s_%(column_0_N_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


def _in(column: str, values: tuple[str, ...]) -> str:
    return f"{column} IN ({', '.join(repr(v) for v in values)})"


class Base(DeclarativeBase):
    """Declarative base with a constraint naming convention (stable names for Alembic and SQLite batch mode)."""

    metadata = sa.MetaData(naming_convention=_NAMING)
    type_annotation_map: ClassVar[dict[Any, Any]] = {dict[str, Any]: JSONType, list[Any]: JSONType}


class _Timestamps:
    created_at: Mapped[dt.datetime] = mapped_column(sa.DateTime(timezone=True))
    updated_at: Mapped[dt.datetime] = mapped_column(sa.DateTime(timezone=True))


class WeekRow(_Timestamps, Base):
    """One weekly run, keyed by its logical date."""

    __tablename__ = "weeks"
    __table_args__ = (sa.CheckConstraint(_in("status", WEEK_STATUSES), name="status"),)

    week: Mapped[dt.date] = mapped_column(sa.Date, primary_key=True)
    cutoff: Mapped[dt.date] = mapped_column(sa.Date)
    preset: Mapped[str] = mapped_column(sa.Text)
    config_hash: Mapped[str] = mapped_column(sa.String(128))
    status: Mapped[str] = mapped_column(sa.String(16))
    plan: Mapped[dict[str, Any]] = mapped_column(JSONType)


class ModelRow(_Timestamps, Base):
    """One trained (or planned) model; a continuation is a new model whose ``parent_id`` is the model continued."""

    __tablename__ = "models"
    __table_args__ = (
        sa.CheckConstraint(_in("role", ROLES), name="role"),
        sa.CheckConstraint(_in("status", MODEL_STATUSES), name="status"),
        sa.CheckConstraint("generation >= 1", name="generation"),
        sa.Index(None, "status", "role"),
    )

    model_id: Mapped[str] = mapped_column(MODEL_ID, primary_key=True)
    role: Mapped[str] = mapped_column(sa.String(16))
    parent_id: Mapped[str | None] = mapped_column(MODEL_ID, sa.ForeignKey("models.model_id"), index=True)
    root_id: Mapped[str] = mapped_column(MODEL_ID, index=True)
    generation: Mapped[int] = mapped_column(sa.Integer)
    tickers: Mapped[list[Any]] = mapped_column(JSONType)
    hyperparameters: Mapped[dict[str, Any]] = mapped_column(JSONType)
    cumulative_timesteps: Mapped[int] = mapped_column(sa.BigInteger)
    bundle_uri: Mapped[str | None] = mapped_column(sa.Text)
    bundle_sha256: Mapped[str | None] = mapped_column(sa.String(64))
    status: Mapped[str] = mapped_column(sa.String(16))
    status_reason: Mapped[str | None] = mapped_column(sa.Text)
    stage: Mapped[int | None] = mapped_column(sa.Integer)
    created_week: Mapped[dt.date] = mapped_column(sa.Date, index=True)


class TrainingRunRow(_Timestamps, Base):
    """The training a model received in one week (one row per model and week)."""

    __tablename__ = "training_runs"

    model_id: Mapped[str] = mapped_column(MODEL_ID, sa.ForeignKey("models.model_id", ondelete="CASCADE"), primary_key=True)
    week: Mapped[dt.date] = mapped_column(sa.Date, primary_key=True)
    steps_added: Mapped[int] = mapped_column(sa.BigInteger)
    base_lr: Mapped[float] = mapped_column(sa.Float)
    lr_multiplier: Mapped[float] = mapped_column(sa.Float)
    lr_schedule: Mapped[str] = mapped_column(sa.String(16))
    train_start: Mapped[dt.date] = mapped_column(sa.Date)
    train_end: Mapped[dt.date] = mapped_column(sa.Date)
    recent_start: Mapped[dt.date | None] = mapped_column(sa.Date)
    recent_fraction: Mapped[float] = mapped_column(sa.Float)
    wall_time_s: Mapped[float | None] = mapped_column(sa.Float)
    history: Mapped[list[Any]] = mapped_column(JSONType)
    hyperparameter_diff: Mapped[dict[str, Any]] = mapped_column(JSONType)


class EvaluationRow(_Timestamps, Base):
    """A backtest of one model over one named window (``validation``, ``test``, ...) in one week."""

    __tablename__ = "evaluations"
    __table_args__ = (sa.Index(None, "week", "window_name", "score"),)

    model_id: Mapped[str] = mapped_column(MODEL_ID, sa.ForeignKey("models.model_id", ondelete="CASCADE"), primary_key=True)
    week: Mapped[dt.date] = mapped_column(sa.Date, primary_key=True)
    window_name: Mapped[str] = mapped_column(sa.String(64), primary_key=True)
    window_start: Mapped[dt.date] = mapped_column(sa.Date)
    window_end: Mapped[dt.date] = mapped_column(sa.Date)
    metrics: Mapped[dict[str, Any]] = mapped_column(JSONType)
    benchmarks: Mapped[dict[str, Any]] = mapped_column(JSONType)
    score: Mapped[float | None] = mapped_column(sa.Float)
    n_trials: Mapped[int] = mapped_column(sa.Integer)
    by_regime: Mapped[dict[str, Any] | None] = mapped_column(JSONType)


class ChampionRow(_Timestamps, Base):
    """The champion chosen in one week, and the one it replaced (or kept)."""

    __tablename__ = "champion_history"

    week: Mapped[dt.date] = mapped_column(sa.Date, primary_key=True)
    model_id: Mapped[str] = mapped_column(MODEL_ID, sa.ForeignKey("models.model_id"), index=True)
    rule: Mapped[str] = mapped_column(sa.Text)
    score: Mapped[float | None] = mapped_column(sa.Float)
    previous_model_id: Mapped[str | None] = mapped_column(MODEL_ID, sa.ForeignKey("models.model_id"))


class LineageEventRow(_Timestamps, Base):
    """A generic lineage event (rollback, PBT exploit, promotion, archive prune); ``model_id`` '' = week-level."""

    __tablename__ = "lineage_events"
    __table_args__ = (sa.Index(None, "model_id"),)

    week: Mapped[dt.date] = mapped_column(sa.Date, primary_key=True)
    kind: Mapped[str] = mapped_column(sa.String(64), primary_key=True)
    model_id: Mapped[str] = mapped_column(MODEL_ID, primary_key=True)
    round: Mapped[int] = mapped_column(sa.Integer, primary_key=True)
    payload: Mapped[dict[str, Any]] = mapped_column(JSONType)


class PaperWeekRow(_Timestamps, Base):
    """One week of the paper ledger, keyed by the cutoff whose orders it marks (or the gap where there were none)."""

    __tablename__ = "paper_ledger"
    __table_args__ = (sa.CheckConstraint(_in("status", PAPER_STATUSES), name="status"),)

    week: Mapped[dt.date] = mapped_column(sa.Date, primary_key=True)
    status: Mapped[str] = mapped_column(sa.String(16))
    reason: Mapped[str] = mapped_column(sa.Text)
    model_id: Mapped[str | None] = mapped_column(MODEL_ID)
    start_date: Mapped[dt.date | None] = mapped_column(sa.Date)
    end_date: Mapped[dt.date | None] = mapped_column(sa.Date)
    gross_return: Mapped[float | None] = mapped_column(sa.Float)
    net_return: Mapped[float | None] = mapped_column(sa.Float)
    turnover: Mapped[float | None] = mapped_column(sa.Float)
    exposure: Mapped[float | None] = mapped_column(sa.Float)
    own_1n_return: Mapped[float | None] = mapped_column(sa.Float)
    universe_1n_return: Mapped[float | None] = mapped_column(sa.Float)
    benchmark_return: Mapped[float | None] = mapped_column(sa.Float)
    weights: Mapped[dict[str, Any]] = mapped_column(JSONType)
    contributions: Mapped[dict[str, Any]] = mapped_column(JSONType)
