"""The lineage store: one class that owns the engine and sessions and returns frozen dataclasses.

Every write is an ``INSERT .. ON CONFLICT DO UPDATE`` on the row's natural key (``model_id``,
``(model_id, week)``, ``(model_id, week, window)``, ``week``, ``(week, kind, model_id, round)``), so a retried
Airflow task, or two copies of one racing each other, leave exactly one row with the last values written.

>>> store = LineageStore("sqlite:///var/lineage.sqlite")              # doctest: +SKIP
>>> store.upsert_model("2024-09-08-explorer-00", role="explorer", created_week="2024-09-08",
...                    tickers=("AAPL", "MSFT"), hyperparameters={"learning_rate": 3e-4})
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import math
import os
from collections.abc import Iterable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from pathlib import Path, PurePosixPath
from typing import Any, cast

from sqlalchemy import CursorResult, Result, select, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Session, sessionmaker

from autotest_lib.kinds import ModelStatus
from autotest_lib.registry import queries, records
from autotest_lib.registry.db import make_engine, mask_url, resolve_db_url
from autotest_lib.registry.errors import RegistryError, UnknownModelError, UnknownWeekError
from autotest_lib.registry.migrate import assert_schema_current
from autotest_lib.registry.models import (
    MODEL_STATUSES,
    ROLES,
    WEEK_STATUSES,
    Base,
    ChampionRow,
    EvaluationRow,
    LineageEventRow,
    ModelRow,
    TrainingRunRow,
    WeekRow,
)
from autotest_lib.registry.paper_store import PaperLedgerStore

__all__ = ["DateLike", "LineageStore", "as_date", "diff_hyperparameters"]

DateLike = dt.date | str
"""A date, a datetime (its date is used) or an ISO ``YYYY-MM-DD`` string (as it arrives through XCom)."""


def as_date(value: DateLike, name: str = "date") -> dt.date:
    """``value`` as a :class:`datetime.date`.

    :param value: a date, a datetime (e.g. Airflow's logical date) or an ISO string ``YYYY-MM-DD``.
    :param name: the argument's name, for the error message.
    :raises ValueError: not a date.
    """
    if isinstance(value, dt.datetime):
        return value.date()
    if isinstance(value, dt.date):
        return value
    if isinstance(value, str):
        for parse in (dt.date.fromisoformat, lambda text: dt.datetime.fromisoformat(text).date()):
            try:
                return parse(value.strip())
            except ValueError:
                pass
    raise ValueError(f"{name}={value!r} is not a date; pass a datetime.date or 'YYYY-MM-DD'")


def diff_hyperparameters(old: Mapping[str, Any], new: Mapping[str, Any]) -> dict[str, list[Any]]:
    """Hyperparameters that differ between a parent (``old``) and its child (``new``): ``{name: [old, new]}``.

    A name missing on one side shows as None there.

    :param old: the parent's hyperparameters.
    :param new: the child's hyperparameters.
    """
    diff: dict[str, list[Any]] = {}
    for name in sorted(set(old) | set(new)):
        before, after = _plain(old.get(name)), _plain(new.get(name))
        if before != after:
            diff[name] = [before, after]
    return diff


def _plain(value: Any) -> Any:
    """Tuples as lists, so a JSON round trip does not make equal values look different."""
    if isinstance(value, (list, tuple)):
        return [_plain(v) for v in value]
    if isinstance(value, Mapping):
        return {k: _plain(v) for k, v in value.items()}
    return value


def _finite(value: float | None) -> float | None:
    if value is None:
        return None
    value = float(value)
    return value if math.isfinite(value) else None


def _now() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


def _check_lengths(row: type[Base], values: Mapping[str, Any]) -> None:
    """Refuse strings longer than their column on every backend (SQLite would store them, PostgreSQL would not)."""
    columns = row.__table__.c
    for name, value in values.items():
        length = getattr(columns[name].type, "length", None)
        if length and isinstance(value, str) and len(value) > length:
            raise ValueError(f"{row.__tablename__}.{name} holds at most {length} characters, got {len(value)}: {value[:60]!r}")


def _rowcount(result: Result[Any]) -> int:
    """Rows an UPDATE matched (an UPDATE's result is a cursor result)."""
    return cast("CursorResult[Any]", result).rowcount


def _check(value: str, allowed: tuple[str, ...], name: str) -> str:
    if value not in allowed:
        raise ValueError(f"{name}={value!r} is not one of {', '.join(allowed)}")
    return value


class LineageStore(PaperLedgerStore):
    """Read and write the lineage registry; every method runs in its own short transaction.

    The database must already be at the Alembic head (``autotest db upgrade``); the store never creates tables.
    Safe to share between threads; each process opens its own.

    :param url: SQLAlchemy URL; None resolves it with :func:`~autotest_lib.registry.db.resolve_db_url`.
    :param check_schema: raise :class:`~autotest_lib.registry.errors.SchemaError` now if the database is not at head.
    :param home: the ``AUTOTEST_HOME`` bundle paths are relative to (default: ``$AUTOTEST_HOME``, else ``./var``).
        A bundle path inside the home is stored relative to it and read back absolute under the current home,
        so a copied home (or a home mounted elsewhere) finds its own bundles; rows with absolute paths written
        before this convention are read as they are.
    :param engine_kwargs: extra arguments for :func:`sqlalchemy.create_engine` (e.g. ``pool_size``).
    """

    def __init__(self, url: str | None = None, *, check_schema: bool = True, home: str | Path | None = None, **engine_kwargs: Any) -> None:
        self.url = resolve_db_url(url)
        self.home = Path(home if home is not None else os.environ.get("AUTOTEST_HOME") or "var").resolve()
        self._engine = make_engine(self.url, create=False, **engine_kwargs)
        self._sessions = sessionmaker(self._engine, expire_on_commit=False)
        if check_schema:
            try:
                assert_schema_current(self._engine)
            except BaseException:
                self._engine.dispose()
                raise

    # -- plumbing -----------------------------------------------------------------------------------------

    @property
    def dialect(self) -> str:
        """``postgresql`` or ``sqlite``."""
        return self._engine.dialect.name

    def close(self) -> None:
        """Close pooled connections."""
        self._engine.dispose()

    def __enter__(self) -> LineageStore:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def __repr__(self) -> str:
        return f"LineageStore({mask_url(self.url)!r})"

    def _stored_uri(self, uri: str | None) -> str | None:
        """``uri`` as the row keeps it: relative (POSIX) when it lies inside the home, else unchanged."""
        if uri is None or "://" in uri or not os.path.isabs(uri):
            return uri
        path = Path(os.path.normpath(uri))
        return PurePosixPath(*path.relative_to(self.home).parts).as_posix() if path.is_relative_to(self.home) and path != self.home else uri

    def _model(self, row: ModelRow) -> records.ModelRecord:
        """The record of ``row`` with a relative bundle path made absolute under this store's home."""
        record = records.ModelRecord.from_row(row)
        uri = record.bundle_uri
        if uri is None or "://" in uri or os.path.isabs(uri):
            return record
        return dataclasses.replace(record, bundle_uri=str(self.home / uri))

    @contextmanager
    def _session(self) -> Iterator[Session]:
        with self._sessions.begin() as session:
            yield session

    def _upsert(self, session: Session, row: type[Base], key: Sequence[str], values: dict[str, Any]) -> None:
        """``INSERT .. ON CONFLICT (key) DO UPDATE`` every given column but ``created_at``."""
        _check_lengths(row, values)
        now = _now()
        values = {**values, "created_at": now, "updated_at": now}
        if self.dialect == "postgresql":
            stmt: postgresql.Insert | sqlite.Insert = postgresql.insert(row).values(values)
        elif self.dialect == "sqlite":
            stmt = sqlite.insert(row).values(values)
        else:
            raise RegistryError(f"the lineage store supports postgresql and sqlite, not {self.dialect!r}")
        changes = {name: stmt.excluded[name] for name in values if name not in key and name != "created_at"}
        session.execute(stmt.on_conflict_do_update(index_elements=list(key), set_=changes))

    @staticmethod
    def _get(session: Session, row: type[Any], key: Any) -> Any:
        return session.get(row, key, populate_existing=True)

    def _require_model(self, session: Session, model_id: str, what: str = "model") -> ModelRow:
        model = self._get(session, ModelRow, model_id)
        if model is None:
            raise UnknownModelError(f"{what} {model_id!r} is not registered in {mask_url(self.url)}")
        return model

    # -- weeks --------------------------------------------------------------------------------------------

    def upsert_week(
        self,
        week: DateLike,
        *,
        cutoff: DateLike,
        preset: str,
        config_hash: str,
        plan: Mapping[str, Any] | None = None,
        status: str = ModelStatus.PLANNED,
    ) -> records.WeekRecord:
        """Create or rewrite the row of one weekly run.

        :param week: the run's logical date (natural key).
        :param cutoff: exclusive data cutoff of the run.
        :param preset: preset name.
        :param config_hash: hash of the resolved config, to spot a week rerun with different settings.
        :param plan: the week's plan (model ids, roles, parents), JSON-able.
        :param status: one of :data:`~autotest_lib.registry.models.WEEK_STATUSES`.
        """
        values = {
            "week": as_date(week, "week"),
            "cutoff": as_date(cutoff, "cutoff"),
            "preset": preset,
            "config_hash": config_hash,
            "status": _check(status, WEEK_STATUSES, "status"),
            "plan": dict(plan or {}),
        }
        with self._session() as session:
            self._upsert(session, WeekRow, ("week",), values)
            return records.WeekRecord.from_row(self._get(session, WeekRow, values["week"]))

    def get_week(self, week: DateLike) -> records.WeekRecord | None:
        """The week's row, None if it was never planned.

        :param week: logical date.
        """
        with self._session() as session:
            row = self._get(session, WeekRow, as_date(week, "week"))
            return records.WeekRecord.from_row(row) if row is not None else None

    def list_weeks(self) -> tuple[records.WeekRecord, ...]:
        """All weeks, oldest first."""
        with self._session() as session:
            return tuple(records.WeekRecord.from_row(r) for r in session.scalars(select(WeekRow).order_by(WeekRow.week)))

    def set_week_status(self, week: DateLike, status: str) -> records.WeekRecord:
        """Move a week to ``status``.

        :param week: logical date.
        :param status: one of :data:`~autotest_lib.registry.models.WEEK_STATUSES`.
        :raises UnknownWeekError: the week has no row.
        """
        day = as_date(week, "week")
        _check(status, WEEK_STATUSES, "status")
        with self._session() as session:
            done = session.execute(update(WeekRow).where(WeekRow.week == day).values(status=status, updated_at=_now()))
            if _rowcount(done) == 0:
                raise UnknownWeekError(f"week {day} is not registered; upsert_week() it first")
            return records.WeekRecord.from_row(self._get(session, WeekRow, day))

    # -- models -------------------------------------------------------------------------------------------

    def upsert_model(
        self,
        model_id: str,
        *,
        role: str,
        created_week: DateLike,
        tickers: Sequence[str],
        hyperparameters: Mapping[str, Any],
        parent_id: str | None = None,
        root_id: str | None = None,
        generation: int | None = None,
        cumulative_timesteps: int | None = None,
        bundle_uri: str | None = None,
        bundle_sha256: str | None = None,
        status: str = ModelStatus.PLANNED,
        status_reason: str | None = None,
        stage: int | None = None,
    ) -> records.ModelRecord:
        """Insert a model, or rewrite every field of it (same ``model_id``: a retried task); family fields default from the parent.

        A rewrite is complete: a field not given takes its default again (use :meth:`set_model_status` and
        :meth:`set_model_bundle` to change one aspect of an existing model).

        With a parent: ``generation = parent.generation + 1``, ``root_id = parent.root_id`` and
        ``cumulative_timesteps = parent.cumulative_timesteps`` unless given. Without: generation 1 (a new model is the
        first generation of its family), its own root.

        :param model_id: natural key, deterministic per (week, role, slot).
        :param role: one of :data:`~autotest_lib.registry.models.ROLES`.
        :param created_week: the week that created (trained) it.
        :param tickers: tickers in slot order.
        :param hyperparameters: PPO hyperparameters, JSON-able.
        :param parent_id: the model it continues or was copied from; must be registered.
        :param root_id: override the computed root.
        :param generation: override the computed generation.
        :param cumulative_timesteps: steps trained over its whole ancestry.
        :param bundle_uri: where its bundle lives, once trained.
        :param bundle_sha256: sha256 of the bundle manifest.
        :param status: one of :data:`~autotest_lib.registry.models.MODEL_STATUSES`.
        :param status_reason: why it has that status (free text).
        :param stage: curriculum stage, when curricula are used.
        :raises UnknownModelError: ``parent_id`` is not registered.
        """
        _check(role, ROLES, "role")
        _check(status, MODEL_STATUSES, "status")
        if not model_id:
            raise ValueError("model_id must be a non-empty string")
        with self._session() as session:
            if parent_id is not None:
                if parent_id == model_id:
                    raise RegistryError(f"model {model_id!r} cannot be its own parent")
                parent = self._get(session, ModelRow, parent_id)
                if parent is None:
                    raise UnknownModelError(f"parent {parent_id!r} of model {model_id!r} is not registered; upsert the parent first")
                root = root_id or parent.root_id
                gen = parent.generation + 1 if generation is None else generation
                steps = parent.cumulative_timesteps if cumulative_timesteps is None else cumulative_timesteps
            else:
                root, gen, steps = root_id or model_id, 1 if generation is None else generation, cumulative_timesteps or 0
            values = {
                "model_id": model_id,
                "role": role,
                "parent_id": parent_id,
                "root_id": root,
                "generation": int(gen),
                "tickers": list(tickers),
                "hyperparameters": dict(hyperparameters),
                "cumulative_timesteps": int(steps),
                "bundle_uri": self._stored_uri(bundle_uri),
                "bundle_sha256": bundle_sha256,
                "status": status,
                "status_reason": status_reason,
                "stage": stage,
                "created_week": as_date(created_week, "created_week"),
            }
            self._upsert(session, ModelRow, ("model_id",), values)
            return self._model(self._get(session, ModelRow, model_id))

    def get_model(self, model_id: str) -> records.ModelRecord | None:
        """The model, None if unknown.

        :param model_id: model id.
        """
        with self._session() as session:
            row = self._get(session, ModelRow, model_id)
            return self._model(row) if row is not None else None

    def require_model(self, model_id: str) -> records.ModelRecord:
        """The model, which the caller knows is registered.

        :raises UnknownModelError: it is not.
        """
        model = self.get_model(model_id)
        if model is None:
            raise UnknownModelError(f"model {model_id!r} is not registered in {mask_url(self.url)}")
        return model

    def list_models(
        self,
        *,
        status: str | Iterable[str] | None = None,
        role: str | None = None,
        week: DateLike | None = None,
        root_id: str | None = None,
    ) -> tuple[records.ModelRecord, ...]:
        """Models matching every filter given, by created week then id.

        :param status: one status or several.
        :param role: one role.
        :param week: the week that created them.
        :param root_id: members of one family tree.
        """
        query = select(ModelRow).order_by(ModelRow.created_week, ModelRow.model_id)
        if status is not None:
            statuses = [status] if isinstance(status, str) else list(status)
            for s in statuses:
                _check(s, MODEL_STATUSES, "status")
            query = query.where(ModelRow.status.in_(statuses))
        if role is not None:
            query = query.where(ModelRow.role == _check(role, ROLES, "role"))
        if week is not None:
            query = query.where(ModelRow.created_week == as_date(week, "week"))
        if root_id is not None:
            query = query.where(ModelRow.root_id == root_id)
        with self._session() as session:
            return tuple(self._model(r) for r in session.scalars(query))

    def set_model_status(self, model_id: str, status: str, reason: str | None = None) -> records.ModelRecord:
        """Move a model to ``status`` (archived, retired, rolled_back, ...), recording why.

        :param model_id: model id.
        :param status: one of :data:`~autotest_lib.registry.models.MODEL_STATUSES`.
        :param reason: free text, e.g. ``"validation score 12% below parent"``.
        :raises UnknownModelError: unknown model.
        """
        _check(status, MODEL_STATUSES, "status")
        return self._update_model(model_id, status=status, status_reason=reason)

    def set_model_bundle(
        self, model_id: str, *, bundle_uri: str, bundle_sha256: str, cumulative_timesteps: int, status: str = ModelStatus.ACTIVE
    ) -> records.ModelRecord:
        """Record the trained bundle of a model and make it ``active``.

        :param model_id: model id.
        :param bundle_uri: bundle location (path or URI).
        :param bundle_sha256: sha256 of the bundle manifest.
        :param cumulative_timesteps: steps over its whole ancestry, this week's run included.
        :param status: new status, ``active`` by default.
        :raises UnknownModelError: unknown model.
        """
        _check(status, MODEL_STATUSES, "status")
        return self._update_model(
            model_id,
            bundle_uri=self._stored_uri(bundle_uri),
            bundle_sha256=bundle_sha256,
            cumulative_timesteps=int(cumulative_timesteps),
            status=status,
        )

    def _update_model(self, model_id: str, **values: Any) -> records.ModelRecord:
        _check_lengths(ModelRow, values)
        with self._session() as session:
            done = session.execute(update(ModelRow).where(ModelRow.model_id == model_id).values(**values, updated_at=_now()))
            if _rowcount(done) == 0:
                raise UnknownModelError(f"model {model_id!r} is not registered in {mask_url(self.url)}")
            return self._model(self._get(session, ModelRow, model_id))

    # -- training runs ------------------------------------------------------------------------------------

    def record_training_run(
        self,
        model_id: str,
        week: DateLike,
        *,
        steps_added: int,
        base_lr: float,
        train_start: DateLike,
        train_end: DateLike,
        lr_multiplier: float = 1.0,
        lr_schedule: str = "linear",
        recent_start: DateLike | None = None,
        recent_fraction: float = 0.0,
        wall_time_s: float | None = None,
        history: Sequence[Mapping[str, Any]] = (),
        hyperparameter_diff: Mapping[str, Sequence[Any]] | None = None,
    ) -> records.TrainingRunRecord:
        """Insert or rewrite the training run of ``model_id`` in ``week``.

        :param model_id: the model trained (registered).
        :param week: logical date of the run.
        :param steps_added: environment steps trained this week.
        :param base_lr: the model's base learning rate.
        :param train_start: first training day (inclusive).
        :param train_end: end of training (exclusive).
        :param lr_multiplier: multiplier applied to ``base_lr`` this week.
        :param lr_schedule: ``linear`` or ``constant``.
        :param recent_start: start of the recent part of the data mix.
        :param recent_fraction: share of episodes started in the recent part.
        :param wall_time_s: training wall time.
        :param history: one dict per PPO update (value_loss, policy_gradient_loss, entropy_loss,
            explained_variance, approx_kl, clip_fraction, timesteps).
        :param hyperparameter_diff: ``{name: [old, new]}`` vs the parent; None computes it from the registry.
        :raises UnknownModelError: unknown model.
        """
        with self._session() as session:
            model = self._require_model(session, model_id)
            if hyperparameter_diff is None:
                parent = self._get(session, ModelRow, model.parent_id) if model.parent_id else None
                diff = diff_hyperparameters(parent.hyperparameters, model.hyperparameters) if parent is not None else {}
            else:
                diff = {k: list(v) for k, v in hyperparameter_diff.items()}
            values = {
                "model_id": model_id,
                "week": as_date(week, "week"),
                "steps_added": int(steps_added),
                "base_lr": float(base_lr),
                "lr_multiplier": float(lr_multiplier),
                "lr_schedule": lr_schedule,
                "train_start": as_date(train_start, "train_start"),
                "train_end": as_date(train_end, "train_end"),
                "recent_start": as_date(recent_start, "recent_start") if recent_start is not None else None,
                "recent_fraction": float(recent_fraction),
                "wall_time_s": _finite(wall_time_s),
                "history": [dict(h) for h in history],
                "hyperparameter_diff": diff,
            }
            self._upsert(session, TrainingRunRow, ("model_id", "week"), values)
            return records.TrainingRunRecord.from_row(self._get(session, TrainingRunRow, (model_id, values["week"])))

    def training_runs(self, model_id: str | None = None, *, week: DateLike | None = None) -> tuple[records.TrainingRunRecord, ...]:
        """Training runs, by week then model.

        :param model_id: of one model.
        :param week: of one week.
        """
        query = select(TrainingRunRow).order_by(TrainingRunRow.week, TrainingRunRow.model_id)
        if model_id is not None:
            query = query.where(TrainingRunRow.model_id == model_id)
        if week is not None:
            query = query.where(TrainingRunRow.week == as_date(week, "week"))
        with self._session() as session:
            return tuple(records.TrainingRunRecord.from_row(r) for r in session.scalars(query))

    # -- evaluations --------------------------------------------------------------------------------------

    def record_evaluation(
        self,
        model_id: str,
        week: DateLike,
        window: str,
        *,
        window_start: DateLike,
        window_end: DateLike,
        metrics: Mapping[str, Any],
        score: float | None,
        benchmarks: Mapping[str, Any] | None = None,
        n_trials: int = 1,
        by_regime: Mapping[str, Any] | None = None,
    ) -> records.EvaluationRecord:
        """Insert or rewrite the evaluation of ``model_id`` over ``window`` in ``week``.

        :param model_id: the model evaluated (registered).
        :param week: logical date of the run.
        :param window: window name, e.g. ``validation``.
        :param window_start: first day of the window (inclusive).
        :param window_end: end of the window (exclusive).
        :param metrics: metric name -> value (NaN/inf are stored as null).
        :param score: the ranking score; NaN/inf are stored as None (ranked last).
        :param benchmarks: benchmark name -> metrics.
        :param n_trials: models tried to get this one (for the deflated Sharpe ratio).
        :param by_regime: metrics per market regime, when computed.
        :raises UnknownModelError: unknown model.
        """
        values = {
            "model_id": model_id,
            "week": as_date(week, "week"),
            "window_name": window,
            "window_start": as_date(window_start, "window_start"),
            "window_end": as_date(window_end, "window_end"),
            "metrics": dict(metrics),
            "benchmarks": dict(benchmarks or {}),
            "score": _finite(score),
            "n_trials": int(n_trials),
            "by_regime": dict(by_regime) if by_regime is not None else None,
        }
        with self._session() as session:
            self._require_model(session, model_id)
            self._upsert(session, EvaluationRow, ("model_id", "week", "window_name"), values)
            return records.EvaluationRecord.from_row(self._get(session, EvaluationRow, (model_id, values["week"], window)))

    def evaluations(
        self, model_id: str | None = None, *, week: DateLike | None = None, window: str | None = None
    ) -> tuple[records.EvaluationRecord, ...]:
        """Evaluations matching every filter given, by week, window, model.

        :param model_id: of one model.
        :param week: of one week.
        :param window: of one window name.
        """
        query = select(EvaluationRow).order_by(EvaluationRow.week, EvaluationRow.window_name, EvaluationRow.model_id)
        if model_id is not None:
            query = query.where(EvaluationRow.model_id == model_id)
        if week is not None:
            query = query.where(EvaluationRow.week == as_date(week, "week"))
        if window is not None:
            query = query.where(EvaluationRow.window_name == window)
        with self._session() as session:
            return tuple(records.EvaluationRecord.from_row(r) for r in session.scalars(query))

    # -- champion -----------------------------------------------------------------------------------------

    def set_champion(self, week: DateLike, model_id: str, *, rule: str, score: float | None = None) -> records.ChampionRecord:
        """Record ``model_id`` as the champion of ``week`` (rewrites that week's row on retry).

        ``previous_model_id`` is the champion of the latest earlier week; the next later week, if one was
        recorded already (backfill), gets this model as its previous champion.

        :param week: logical date.
        :param model_id: the champion (registered).
        :param rule: how it was chosen, e.g. ``best_validation`` or ``kept``.
        :param score: its score under that rule.
        :raises UnknownModelError: unknown model.
        """
        day = as_date(week, "week")
        with self._session() as session:
            self._require_model(session, model_id, "champion")
            previous = session.scalar(select(ChampionRow.model_id).where(ChampionRow.week < day).order_by(ChampionRow.week.desc()).limit(1))
            values = {"week": day, "model_id": model_id, "rule": rule, "score": _finite(score), "previous_model_id": previous}
            self._upsert(session, ChampionRow, ("week",), values)
            following = session.scalar(select(ChampionRow.week).where(ChampionRow.week > day).order_by(ChampionRow.week).limit(1))
            if following is not None:
                session.execute(update(ChampionRow).where(ChampionRow.week == following).values(previous_model_id=model_id))
            return records.ChampionRecord.from_row(self._get(session, ChampionRow, day))

    def champion_history(self) -> tuple[records.ChampionRecord, ...]:
        """Every week's champion, oldest first."""
        with self._session() as session:
            return tuple(records.ChampionRecord.from_row(r) for r in session.scalars(select(ChampionRow).order_by(ChampionRow.week)))

    def current_champion(self, before_week: DateLike | None = None) -> records.ChampionRecord | None:
        """The latest champion, or the latest one chosen strictly before ``before_week``; None if there is none.

        :param before_week: exclusive bound, e.g. this week's logical date to get last week's champion.
        """
        query = select(ChampionRow).order_by(ChampionRow.week.desc()).limit(1)
        if before_week is not None:
            query = query.where(ChampionRow.week < as_date(before_week, "before_week"))
        with self._session() as session:
            row = session.scalar(query)
            return records.ChampionRecord.from_row(row) if row is not None else None

    # -- events -------------------------------------------------------------------------------------------

    def record_event(
        self, week: DateLike, kind: str, *, model_id: str | None = None, round: int = 0, payload: Mapping[str, Any] | None = None
    ) -> records.EventRecord:
        """Insert or rewrite a lineage event keyed by ``(week, kind, model_id, round)``.

        :param week: logical date.
        :param kind: e.g. ``rollback``, ``exploit``, ``promotion``, ``archive_prune``.
        :param model_id: the model concerned; None for a week-level event.
        :param round: repeat counter within the week (PBT round), 0 by default.
        :param payload: details, JSON-able.
        """
        if not kind:
            raise ValueError("kind must be a non-empty string")
        values = {
            "week": as_date(week, "week"),
            "kind": kind,
            "model_id": model_id or "",
            "round": int(round),
            "payload": dict(payload or {}),
        }
        with self._session() as session:
            self._upsert(session, LineageEventRow, ("week", "kind", "model_id", "round"), values)
            return records.EventRecord.from_row(
                self._get(session, LineageEventRow, (values["week"], kind, values["model_id"], values["round"]))
            )

    def events(
        self, *, kind: str | None = None, model_id: str | None = None, week: DateLike | None = None
    ) -> tuple[records.EventRecord, ...]:
        """Events matching every filter given, by week, kind, model, round.

        :param kind: event kind.
        :param model_id: the model concerned.
        :param week: logical date.
        """
        query = select(LineageEventRow).order_by(
            LineageEventRow.week, LineageEventRow.kind, LineageEventRow.model_id, LineageEventRow.round
        )
        if kind is not None:
            query = query.where(LineageEventRow.kind == kind)
        if model_id is not None:
            query = query.where(LineageEventRow.model_id == model_id)
        if week is not None:
            query = query.where(LineageEventRow.week == as_date(week, "week"))
        with self._session() as session:
            return tuple(records.EventRecord.from_row(r) for r in session.scalars(query))

    # -- analyses (the queries live in registry/queries.py) ---------------------------------------------------

    def ancestry(self, model_id: str) -> tuple[records.AncestryStep, ...]:
        """The path root -> ``model_id``, each generation with its training runs and evaluations.

        :param model_id: the youngest model of the path.
        :raises UnknownModelError: unknown model.
        """
        with self._session() as session:
            return queries.ancestry(session, self._require_model(session, model_id), self._model)

    def latest_evaluated_week(self, window: str = "validation") -> dt.date | None:
        """The most recent week with an evaluation over ``window``.

        :param window: window name.
        """
        with self._session() as session:
            return queries.latest_evaluated_week(session, window)

    def leaderboard(
        self, week: DateLike | None = None, window: str = "validation", limit: int | None = None
    ) -> tuple[records.LeaderboardRow, ...]:
        """Models evaluated in ``week`` over ``window``, best score first (None scores last, then by id).

        :param week: logical date; None = the latest evaluated week.
        :param window: window name.
        :param limit: keep only the first ``limit`` rows.
        """
        day = as_date(week, "week") if week is not None else self.latest_evaluated_week(window)
        if day is None:
            return ()
        with self._session() as session:
            return queries.leaderboard(session, day, window, limit)

    def champion_longevity(self) -> tuple[records.ChampionStint, ...]:
        """Champion stints: consecutive recorded weeks held by one model, oldest first."""
        return queries.champion_longevity(self.champion_history())

    def generation_improvement(self, window: str = "validation") -> records.ImprovementReport:
        """Share of children scoring above their parent in the same week and window, overall and per generation.

        :param window: window name.
        """
        with self._session() as session:
            return queries.generation_improvement(session, window)

    def weekly_trend(self, window: str = "validation") -> tuple[records.TrendPoint, ...]:
        """Best score per evaluated week (and its model) with the change from the previous evaluated week.

        :param window: window name.
        """
        with self._session() as session:
            return queries.weekly_trend(session, window)
