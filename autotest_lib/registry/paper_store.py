"""The paper ledger's part of :class:`~autotest_lib.registry.LineageStore`: write a week, read the record."""

from __future__ import annotations

import datetime as dt
import math
from collections.abc import Callable, Mapping, Sequence
from contextlib import AbstractContextManager
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from autotest_lib.registry.models import PAPER_STATUSES, Base, PaperWeekRow
from autotest_lib.registry.records import PaperWeekRecord

__all__ = ["PaperLedgerStore"]


def _finite(value: float | None) -> float | None:
    """None for a missing or non-finite number (a week without prices stores NULL, never NaN)."""
    return None if value is None or not math.isfinite(float(value)) else float(value)


class PaperLedgerStore:
    """Mixed into :class:`~autotest_lib.registry.LineageStore`; uses its sessions and upsert."""

    _session: Callable[[], AbstractContextManager[Session]]
    _upsert: Callable[[Session, type[Base], Sequence[str], dict[str, Any]], None]

    def upsert_paper_week(
        self,
        week: dt.date,
        *,
        status: str,
        reason: str,
        model_id: str | None = None,
        start_date: dt.date | None = None,
        end_date: dt.date | None = None,
        gross_return: float | None = None,
        net_return: float | None = None,
        turnover: float | None = None,
        exposure: float | None = None,
        own_1n_return: float | None = None,
        universe_1n_return: float | None = None,
        benchmark_return: float | None = None,
        weights: Mapping[str, float] | None = None,
        contributions: Mapping[str, float] | None = None,
    ) -> PaperWeekRecord:
        """Insert or rewrite the ledger row of ``week`` (the cutoff whose orders it marks): idempotent.

        :param week: the cutoff the orders were placed at.
        :param status: ``marked``, or ``gap`` for a week without orders.
        :param reason: the rule that picked the model (marked) or why there were no orders (gap).
        Other parameters: the fields of :class:`~autotest_lib.registry.PaperWeekRecord`.
        """
        if status not in PAPER_STATUSES:
            raise ValueError(f"status={status!r} is not one of {', '.join(PAPER_STATUSES)}")
        values = {
            "week": week,
            "status": status,
            "reason": reason,
            "model_id": model_id,
            "start_date": start_date,
            "end_date": end_date,
            "gross_return": _finite(gross_return),
            "net_return": _finite(net_return),
            "turnover": _finite(turnover),
            "exposure": _finite(exposure),
            "own_1n_return": _finite(own_1n_return),
            "universe_1n_return": _finite(universe_1n_return),
            "benchmark_return": _finite(benchmark_return),
            "weights": {str(k): float(v) for k, v in (weights or {}).items()},
            "contributions": {str(k): float(v) for k, v in (contributions or {}).items()},
        }
        with self._session() as session:
            self._upsert(session, PaperWeekRow, ("week",), values)
            return _paper_record(session.get(PaperWeekRow, week, populate_existing=True))

    def paper_ledger(self, *, before: dt.date | None = None) -> tuple[PaperWeekRecord, ...]:
        """The forward track record: every ledger week (marked or gap), oldest first.

        :param before: only weeks strictly before this cutoff.
        """
        query = select(PaperWeekRow).order_by(PaperWeekRow.week)
        if before is not None:
            query = query.where(PaperWeekRow.week < before)
        with self._session() as session:
            return tuple(_paper_record(r) for r in session.scalars(query))


def _paper_record(r: PaperWeekRow | None) -> PaperWeekRecord:
    if r is None:  # pragma: no cover - the row was just written in the same transaction
        raise RuntimeError("the paper ledger row written a moment ago is gone")
    return PaperWeekRecord.from_row(r)
