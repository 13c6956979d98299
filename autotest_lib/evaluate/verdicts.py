"""Verdicts: what a metric value or a training history means against the plan's thresholds. Pure functions.

Performance (validation window, annualised Sharpe, max drawdown as a negative fraction, share of up days):

==============  ==========================  =========================
metric          label                       rule
==============  ==========================  =========================
Sharpe          excellent / good / weak     > 2 / > 1 / otherwise
max drawdown    good / acceptable / deep    |MDD| < 10% / < 20% / otherwise
win rate        good / baseline / below     > 60% / > 50% / otherwise
==============  ==========================  =========================

"weak", "deep" and "below" are flagged (``ok`` false). A missing or non-finite value is labelled "n/a" and
not flagged.

Convergence (one PPO training history, one row per update; SB3 logs ``entropy_loss = -entropy``): the history
is split into thirds (first, middle, last) and

- **value loss stabilised** and **policy loss stabilised**: ``|mean(last) - mean(middle)| <= 0.25 * range``
  (range = max - min over the whole run): the level no longer moves by much of what it moved overall;
- **entropy falling**: ``mean(entropy, last) < mean(entropy, first)``: the policy grows more decided;
- **explained variance rising toward 1**: ``mean(EV, last) > mean(EV, first)`` or ``mean(EV, last) >= 0.9``.

A check that fails flags the model; fewer than :data:`MIN_UPDATES` updates give "too short to judge".
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

__all__ = [
    "MIN_UPDATES",
    "THRESHOLDS",
    "ConvergenceCheck",
    "ConvergenceVerdict",
    "MetricLabel",
    "convergence_verdict",
    "drawdown_label",
    "metric_labels",
    "sharpe_label",
    "verdict_text",
    "win_rate_label",
]

SHARPE_GOOD, SHARPE_EXCELLENT = 1.0, 2.0
DRAWDOWN_ACCEPTABLE, DRAWDOWN_GOOD = 0.20, 0.10
WIN_RATE_BASELINE, WIN_RATE_GOOD = 0.50, 0.60
STABLE_TOLERANCE = 0.25
EV_NEAR_ONE = 0.9
MIN_UPDATES = 6
THRESHOLDS = (
    "verdict: Sharpe > 1 good, > 2 excellent; max drawdown < 20% acceptable, < 10% good; win rate > 50% baseline, > 60% good "
    "(! = misses its bar)"
)


@dataclass(frozen=True)
class MetricLabel:
    """``label`` of ``metric`` at ``value``; ``ok`` False flags it, None when there is no value."""

    metric: str
    value: float | None
    label: str
    ok: bool | None
    rule: str


def _finite(x: Any) -> float | None:
    try:
        v = float(x)
    except (TypeError, ValueError):
        return None
    return v if math.isfinite(v) else None


def _banded(metric: str, value: Any, rule: str, bands: Sequence[tuple[float, str]], worst: str, *, below: bool = False) -> MetricLabel:
    """The first band whose bar ``value`` clears (``value > bar``, or ``value < bar`` when ``below``), else ``worst`` (flagged)."""
    v = _finite(value)
    if v is None:
        return MetricLabel(metric, None, "n/a", None, rule)
    x = abs(v) if below else v
    for bar, label in bands:
        if (x < bar) if below else (x > bar):
            return MetricLabel(metric, v, label, True, rule)
    return MetricLabel(metric, v, worst, False, rule)


def sharpe_label(value: Any) -> MetricLabel:
    """excellent > 2, good > 1, else weak (flagged)."""
    rule = f"Sharpe > {SHARPE_GOOD:g} good, > {SHARPE_EXCELLENT:g} excellent"
    return _banded("sharpe", value, rule, ((SHARPE_EXCELLENT, "excellent"), (SHARPE_GOOD, "good")), "weak")


def drawdown_label(value: Any) -> MetricLabel:
    """|MDD| < 10% good, < 20% acceptable, else deep (flagged). Accepts -0.15 or 0.15 for a 15% fall."""
    rule = f"max drawdown < {DRAWDOWN_ACCEPTABLE:.0%} acceptable, < {DRAWDOWN_GOOD:.0%} good"
    return _banded("max_drawdown", value, rule, ((DRAWDOWN_GOOD, "good"), (DRAWDOWN_ACCEPTABLE, "acceptable")), "deep", below=True)


def win_rate_label(value: Any) -> MetricLabel:
    """> 60% good, > 50% baseline, else below baseline (flagged)."""
    rule = f"win rate > {WIN_RATE_BASELINE:.0%} baseline, > {WIN_RATE_GOOD:.0%} good"
    return _banded("win_rate", value, rule, ((WIN_RATE_GOOD, "good"), (WIN_RATE_BASELINE, "baseline")), "below baseline")


def metric_labels(metrics: Mapping[str, Any]) -> dict[str, MetricLabel]:
    """The three labels of one evaluation's metrics (keys ``sharpe``, ``max_drawdown``, ``win_rate``)."""
    return {
        "sharpe": sharpe_label(metrics.get("sharpe")),
        "max_drawdown": drawdown_label(metrics.get("max_drawdown")),
        "win_rate": win_rate_label(metrics.get("win_rate")),
    }


def verdict_text(labels: Mapping[str, MetricLabel]) -> str:
    """``Sharpe good, DD acceptable, win rate below baseline!`` (a ``!`` marks a flagged label)."""
    short = {"sharpe": "Sharpe", "max_drawdown": "DD", "win_rate": "win rate"}
    return ", ".join(f"{short.get(k, k)} {lab.label}{'!' if lab.ok is False else ''}" for k, lab in labels.items())


@dataclass(frozen=True)
class ConvergenceCheck:
    """One convergence expectation: ``ok`` None when it cannot be judged (too short, or not logged)."""

    name: str
    ok: bool | None
    detail: str


@dataclass(frozen=True)
class ConvergenceVerdict:
    """All checks of one history; ``flagged`` when any check failed."""

    checks: tuple[ConvergenceCheck, ...]

    @property
    def flagged(self) -> bool:
        return any(c.ok is False for c in self.checks)

    @property
    def failed(self) -> tuple[str, ...]:
        return tuple(c.name for c in self.checks if c.ok is False)

    def text(self) -> str:
        if all(c.ok is None for c in self.checks):
            return self.checks[0].detail if self.checks else "no history"
        return "converging" if not self.flagged else "check: " + ", ".join(self.failed)

    def as_dict(self) -> dict[str, Any]:
        return {"flagged": self.flagged, "text": self.text(), "checks": [c.__dict__ for c in self.checks]}


def _thirds(values: Sequence[float]) -> tuple[float, float, float, float]:
    n = len(values)
    k = n // 3
    first, middle, last = values[:k], values[k : n - k], values[n - k :]
    mean = lambda xs: sum(xs) / len(xs)  # noqa: E731
    return mean(first), mean(middle), mean(last), max(values) - min(values)


def _series(history: Sequence[Mapping[str, Any]], key: str) -> list[float]:
    return [v for row in history if (v := _finite(row.get(key))) is not None]


def _stabilised(name: str, values: list[float]) -> ConvergenceCheck:
    _first, middle, last, spread = _thirds(values)
    moved = abs(last - middle)
    ok = moved <= STABLE_TOLERANCE * spread or spread == 0
    return ConvergenceCheck(
        name, ok, f"last third moved {moved:.4g} from the middle third (tolerance {STABLE_TOLERANCE:g} x range {spread:.4g})"
    )


def convergence_verdict(history: Sequence[Mapping[str, Any]]) -> ConvergenceVerdict:
    """Judge one training history (rows with ``value_loss``, ``policy_gradient_loss``, ``entropy_loss``, ``explained_variance``)."""
    names = ("value loss stabilised", "policy loss stabilised", "entropy falling", "explained variance rising")
    keys = ("value_loss", "policy_gradient_loss", "entropy_loss", "explained_variance")
    checks = []
    for name, key in zip(names, keys, strict=True):
        values = _series(history, key)
        if len(values) < MIN_UPDATES:
            checks.append(ConvergenceCheck(name, None, f"too short to judge ({len(values)} updates < {MIN_UPDATES})"))
        elif key in ("value_loss", "policy_gradient_loss"):
            checks.append(_stabilised(name, values))
        elif key == "entropy_loss":
            first, _mid, last, _ = _thirds([-v for v in values])
            checks.append(ConvergenceCheck(name, last < first, f"entropy {first:.4g} (first third) -> {last:.4g} (last third)"))
        else:
            first, _mid, last, _ = _thirds(values)
            ok = last > first or last >= EV_NEAR_ONE
            checks.append(ConvergenceCheck(name, ok, f"explained variance {first:.3f} (first third) -> {last:.3f} (last third)"))
    return ConvergenceVerdict(tuple(checks))
