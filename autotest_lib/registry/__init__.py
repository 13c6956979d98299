"""Lineage registry: which model came from which, how it was trained, how it scored, who was champion.

SQLAlchemy 2 models in PostgreSQL (or embedded SQLite), schema managed by Alembic revisions shipped in this
package. :class:`LineageStore` is the only way in: it owns sessions and returns frozen dataclasses.

>>> from autotest_lib.registry import LineageStore, upgrade      # doctest: +SKIP
>>> upgrade()                        # alembic upgrade head on resolve_db_url()
>>> store = LineageStore()
>>> store.leaderboard("2024-09-08")[0].model_id
"""

from autotest_lib.kinds import EventKind, ModelStatus, PickKind, Role, WeekStatus
from autotest_lib.registry.db import (
    AIRFLOW_CONN_ID,
    DB_URL_ENV,
    default_sqlite_url,
    make_engine,
    mask_url,
    normalise_db_url,
    resolve_db_url,
)
from autotest_lib.registry.errors import RegistryError, SchemaError, UnknownModelError, UnknownWeekError
from autotest_lib.registry.migrate import current_revision, downgrade, head_revision, schema_diff, upgrade
from autotest_lib.registry.models import MODEL_STATUSES, ROLES, WEEK_STATUSES
from autotest_lib.registry.records import (
    AncestryStep,
    ChampionRecord,
    ChampionStint,
    EvaluationRecord,
    EventRecord,
    ImprovementReport,
    ImprovementStat,
    LeaderboardRow,
    ModelRecord,
    PaperWeekRecord,
    TrainingRunRecord,
    TrendPoint,
    WeekRecord,
    jsonable,
)
from autotest_lib.registry.store import LineageStore, as_date, diff_hyperparameters

__all__ = [
    "AIRFLOW_CONN_ID",
    "DB_URL_ENV",
    "MODEL_STATUSES",
    "ROLES",
    "WEEK_STATUSES",
    "AncestryStep",
    "ChampionRecord",
    "ChampionStint",
    "EvaluationRecord",
    "EventKind",
    "EventRecord",
    "ImprovementReport",
    "ImprovementStat",
    "LeaderboardRow",
    "LineageStore",
    "ModelRecord",
    "ModelStatus",
    "PaperWeekRecord",
    "PickKind",
    "RegistryError",
    "Role",
    "SchemaError",
    "TrainingRunRecord",
    "TrendPoint",
    "UnknownModelError",
    "UnknownWeekError",
    "WeekRecord",
    "WeekStatus",
    "as_date",
    "current_revision",
    "default_sqlite_url",
    "diff_hyperparameters",
    "downgrade",
    "head_revision",
    "jsonable",
    "make_engine",
    "mask_url",
    "normalise_db_url",
    "resolve_db_url",
    "schema_diff",
    "upgrade",
]
