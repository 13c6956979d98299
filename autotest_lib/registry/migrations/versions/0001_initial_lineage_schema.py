"""Initial lineage schema: weeks, models, training_runs, evaluations, champion_history, lineage_events.

Revision ID: 0001
Revises:
Create Date: 2026-11-26
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = "0001"
down_revision: str | Sequence[str] | None = None
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

# JSON on SQLite, JSONB on PostgreSQL (indexable, compact); spelled out here so the revision never changes
# when the ORM does.
JSON = sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), "postgresql")


def upgrade() -> None:
    op.create_table(
        "lineage_events",
        sa.Column("week", sa.Date(), nullable=False),
        sa.Column("kind", sa.String(length=64), nullable=False),
        sa.Column("model_id", sa.String(length=128), nullable=False),
        sa.Column("round", sa.Integer(), nullable=False),
        sa.Column("payload", JSON, nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("week", "kind", "model_id", "round", name=op.f("pk_lineage_events")),
    )
    op.create_index(op.f("ix_lineage_events_model_id"), "lineage_events", ["model_id"], unique=False)
    op.create_table(
        "models",
        sa.Column("model_id", sa.String(length=128), nullable=False),
        sa.Column("role", sa.String(length=16), nullable=False),
        sa.Column("parent_id", sa.String(length=128), nullable=True),
        sa.Column("root_id", sa.String(length=128), nullable=False),
        sa.Column("generation", sa.Integer(), nullable=False),
        sa.Column("tickers", JSON, nullable=False),
        sa.Column("hyperparameters", JSON, nullable=False),
        sa.Column("cumulative_timesteps", sa.BigInteger(), nullable=False),
        sa.Column("bundle_uri", sa.Text(), nullable=True),
        sa.Column("bundle_sha256", sa.String(length=64), nullable=True),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("status_reason", sa.Text(), nullable=True),
        sa.Column("stage", sa.Integer(), nullable=True),
        sa.Column("created_week", sa.Date(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.CheckConstraint("role IN ('explorer', 'refiner', 'champion', 'pbt')", name=op.f("ck_models_role")),
        sa.CheckConstraint(
            "status IN ('planned', 'active', 'archived', 'retired', 'rolled_back', 'failed')", name=op.f("ck_models_status")
        ),
        sa.CheckConstraint("generation >= 1", name=op.f("ck_models_generation")),
        sa.ForeignKeyConstraint(["parent_id"], ["models.model_id"], name=op.f("fk_models_parent_id_models")),
        sa.PrimaryKeyConstraint("model_id", name=op.f("pk_models")),
    )
    op.create_index(op.f("ix_models_created_week"), "models", ["created_week"], unique=False)
    op.create_index(op.f("ix_models_parent_id"), "models", ["parent_id"], unique=False)
    op.create_index(op.f("ix_models_root_id"), "models", ["root_id"], unique=False)
    op.create_index(op.f("ix_models_status_role"), "models", ["status", "role"], unique=False)
    op.create_table(
        "weeks",
        sa.Column("week", sa.Date(), nullable=False),
        sa.Column("cutoff", sa.Date(), nullable=False),
        sa.Column("preset", sa.Text(), nullable=False),
        sa.Column("config_hash", sa.String(length=128), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("plan", JSON, nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.CheckConstraint("status IN ('planned', 'running', 'done', 'failed')", name=op.f("ck_weeks_status")),
        sa.PrimaryKeyConstraint("week", name=op.f("pk_weeks")),
    )
    op.create_table(
        "champion_history",
        sa.Column("week", sa.Date(), nullable=False),
        sa.Column("model_id", sa.String(length=128), nullable=False),
        sa.Column("rule", sa.Text(), nullable=False),
        sa.Column("score", sa.Float(), nullable=True),
        sa.Column("previous_model_id", sa.String(length=128), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(["model_id"], ["models.model_id"], name=op.f("fk_champion_history_model_id_models")),
        sa.ForeignKeyConstraint(["previous_model_id"], ["models.model_id"], name=op.f("fk_champion_history_previous_model_id_models")),
        sa.PrimaryKeyConstraint("week", name=op.f("pk_champion_history")),
    )
    op.create_index(op.f("ix_champion_history_model_id"), "champion_history", ["model_id"], unique=False)
    op.create_table(
        "evaluations",
        sa.Column("model_id", sa.String(length=128), nullable=False),
        sa.Column("week", sa.Date(), nullable=False),
        sa.Column("window_name", sa.String(length=64), nullable=False),
        sa.Column("window_start", sa.Date(), nullable=False),
        sa.Column("window_end", sa.Date(), nullable=False),
        sa.Column("metrics", JSON, nullable=False),
        sa.Column("benchmarks", JSON, nullable=False),
        sa.Column("score", sa.Float(), nullable=True),
        sa.Column("n_trials", sa.Integer(), nullable=False),
        sa.Column("by_regime", JSON, nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(["model_id"], ["models.model_id"], name=op.f("fk_evaluations_model_id_models"), ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("model_id", "week", "window_name", name=op.f("pk_evaluations")),
    )
    op.create_index(op.f("ix_evaluations_week_window_name_score"), "evaluations", ["week", "window_name", "score"], unique=False)
    op.create_table(
        "training_runs",
        sa.Column("model_id", sa.String(length=128), nullable=False),
        sa.Column("week", sa.Date(), nullable=False),
        sa.Column("steps_added", sa.BigInteger(), nullable=False),
        sa.Column("base_lr", sa.Float(), nullable=False),
        sa.Column("lr_multiplier", sa.Float(), nullable=False),
        sa.Column("lr_schedule", sa.String(length=16), nullable=False),
        sa.Column("train_start", sa.Date(), nullable=False),
        sa.Column("train_end", sa.Date(), nullable=False),
        sa.Column("recent_start", sa.Date(), nullable=True),
        sa.Column("recent_fraction", sa.Float(), nullable=False),
        sa.Column("wall_time_s", sa.Float(), nullable=True),
        sa.Column("history", JSON, nullable=False),
        sa.Column("hyperparameter_diff", JSON, nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(["model_id"], ["models.model_id"], name=op.f("fk_training_runs_model_id_models"), ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("model_id", "week", name=op.f("pk_training_runs")),
    )


def downgrade() -> None:
    op.drop_table("training_runs")
    op.drop_index(op.f("ix_evaluations_week_window_name_score"), table_name="evaluations")
    op.drop_table("evaluations")
    op.drop_index(op.f("ix_champion_history_model_id"), table_name="champion_history")
    op.drop_table("champion_history")
    op.drop_table("weeks")
    op.drop_index(op.f("ix_models_status_role"), table_name="models")
    op.drop_index(op.f("ix_models_root_id"), table_name="models")
    op.drop_index(op.f("ix_models_parent_id"), table_name="models")
    op.drop_index(op.f("ix_models_created_week"), table_name="models")
    op.drop_table("models")
    op.drop_index(op.f("ix_lineage_events_model_id"), table_name="lineage_events")
    op.drop_table("lineage_events")
