"""1/N of a model's own tickers: the baseline wherever a model is judged.

A model that cannot beat holding its own tickers at equal weights has added nothing. On a validation window
that bar is the score (annualised Sharpe) of the equal-weight buy-and-hold of the model's tickers, which every
backtest records as its ``buy_and_hold`` benchmark (:data:`~autotest_lib.evaluate.backtest.BUY_AND_HOLD`).
"""

from __future__ import annotations

import datetime as dt
import math
from collections.abc import Mapping
from typing import Any

from autotest_lib.evaluate.backtest import BUY_AND_HOLD

__all__ = ["beats_own_1n", "own_1n_score", "own_1n_scores"]


def own_1n_score(benchmarks: Mapping[str, Any] | None) -> float | None:
    """The own-1/N score in an evaluation's ``benchmarks`` (its buy-and-hold's Sharpe); None when absent or not finite."""
    value = ((benchmarks or {}).get(BUY_AND_HOLD) or {}).get("sharpe")
    return float(value) if isinstance(value, (int, float)) and math.isfinite(value) else None


def beats_own_1n(score: float | None, own: float | None) -> bool:
    """True when ``score`` is above the own-1/N score; a missing score never beats, a missing bar is beaten by any score."""
    if score is None or not math.isfinite(score):
        return False
    return own is None or score > own


def own_1n_scores(store: Any, week: dt.date, window: str = "validation") -> dict[str, float | None]:
    """Each model evaluated in ``week`` over ``window``: its own-1/N score."""
    return {e.model_id: own_1n_score(e.benchmarks) for e in store.evaluations(week=week, window=window)}
