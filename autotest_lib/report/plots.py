"""Equity curves read from saved backtests, and the PNG helpers the static figures share (matplotlib's Agg canvas).

- :func:`curves_from_backtest`: growth of $1 of a model, its own tickers' buy-and-hold and the benchmark;
- :func:`drawdown`: the underwater curve of an equity series;

The report's interactive charts are in :mod:`autotest_lib.report.interactive`.
"""

from __future__ import annotations

import io
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from autotest_lib.evaluate.backtest import BUY_AND_HOLD

__all__ = ["EquityCurve", "curves_from_backtest", "drawdown"]

_DPI = 100


@dataclass(frozen=True)
class EquityCurve:
    """Growth of $1 of one model over its backtest window, with its benchmarks when the CSV had them."""

    model_id: str
    model: pd.Series
    buy_and_hold: pd.Series | None
    benchmark: pd.Series | None

    def total_returns(self) -> tuple[float, float | None, float | None]:
        """Total return over the window of the model, its buy-and-hold and the benchmark."""

        def last(s: pd.Series | None) -> float | None:
            return float(s.iloc[-1] - 1.0) if s is not None and len(s) else None

        return float(self.model.iloc[-1] - 1.0), last(self.buy_and_hold), last(self.benchmark)


def _growth(frame: pd.DataFrame, name: str) -> pd.Series | None:
    """Growth of $1 of series ``name``: its ``<name>_equity`` column, else its compounded ``<name>_return``."""
    equity, returns = ("equity", "return") if name == "" else (f"{name}_equity", f"{name}_return")
    if equity in frame.columns:
        return pd.to_numeric(frame[equity], errors="coerce").ffill()
    if returns in frame.columns:
        return (1.0 + pd.to_numeric(frame[returns], errors="coerce").fillna(0.0)).cumprod()
    return None


def curves_from_backtest(model_id: str, frame: pd.DataFrame, benchmark: str = "SPY") -> EquityCurve:
    """The model, buy-and-hold and benchmark equity of one saved backtest (``BacktestResult.to_frame()``).

    Reads ``equity``, ``buy_and_hold_equity`` and ``<benchmark>_equity`` (each compounded from 1.0), or
    compounds the matching ``*return`` column when an equity column is absent.

    :param model_id: the model the CSV belongs to (for the legend).
    :param frame: the CSV read with its ``date`` index.
    :param benchmark: the market benchmark's ticker (``preset.data.benchmark``).
    :raises ValueError: the frame has neither an ``equity`` nor a ``return`` column, or no rows.
    """
    model = _growth(frame, "")
    if model is None or not len(model):
        raise ValueError(
            f"backtest of {model_id} has no rows or no 'equity' or 'return' column; columns: {', '.join(map(str, frame.columns))}"
        )
    return EquityCurve(model_id=model_id, model=model, buy_and_hold=_growth(frame, BUY_AND_HOLD), benchmark=_growth(frame, benchmark))


def _png(fig: Any) -> bytes:
    from matplotlib.backends.backend_agg import FigureCanvasAgg

    FigureCanvasAgg(fig)
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png", dpi=_DPI, metadata={"Software": None})
    return buffer.getvalue()


def _figure(width: float, height: float) -> Any:
    from matplotlib.figure import Figure

    return Figure(figsize=(width, height), layout="constrained")


def drawdown(equity: pd.Series) -> pd.Series:
    """Underwater curve: ``equity / running peak - 1`` (0 at a new high, -0.1 ten percent below the best so far)."""
    return equity / equity.cummax() - 1.0


def _history_column(history: Sequence[Mapping[str, Any]], key: str) -> tuple[np.ndarray, np.ndarray]:
    """Timesteps and values of ``key`` over the updates that have both as finite numbers."""
    xs, ys = [], []
    for row in history:
        x, y = row.get("timesteps"), row.get(key)
        if isinstance(x, (int, float)) and isinstance(y, (int, float)) and math.isfinite(x) and math.isfinite(y):
            xs.append(float(x))
            ys.append(float(y))
    return np.asarray(xs), np.asarray(ys)
