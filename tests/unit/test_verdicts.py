"""Thresholds and convergence verdicts: the plan's rules, as pure functions."""

from __future__ import annotations

import math

import pytest

from autotest_lib.evaluate.verdicts import (
    convergence_verdict,
    drawdown_label,
    metric_labels,
    sharpe_label,
    verdict_text,
    win_rate_label,
)


@pytest.mark.parametrize(
    ("value", "label", "ok"),
    [(2.5, "excellent", True), (2.0, "good", True), (1.01, "good", True), (1.0, "weak", False), (-0.3, "weak", False)],
)
def test_sharpe_label(value, label, ok) -> None:
    assert (sharpe_label(value).label, sharpe_label(value).ok) == (label, ok)


@pytest.mark.parametrize(
    ("value", "label", "ok"),
    [(-0.05, "good", True), (0.099, "good", True), (-0.10, "acceptable", True), (-0.199, "acceptable", True), (-0.20, "deep", False)],
)
def test_drawdown_label(value, label, ok) -> None:
    assert (drawdown_label(value).label, drawdown_label(value).ok) == (label, ok)


@pytest.mark.parametrize(
    ("value", "label", "ok"), [(0.61, "good", True), (0.60, "baseline", True), (0.51, "baseline", True), (0.5, "below baseline", False)]
)
def test_win_rate_label(value, label, ok) -> None:
    assert (win_rate_label(value).label, win_rate_label(value).ok) == (label, ok)


def test_missing_values_are_not_flagged_and_text_marks_failures() -> None:
    labels = metric_labels({"sharpe": math.nan, "max_drawdown": -0.3, "win_rate": 0.55})
    assert labels["sharpe"].label == "n/a" and labels["sharpe"].ok is None
    assert verdict_text(labels) == "Sharpe n/a, DD deep!, win rate baseline"


def _history(n: int, value, policy, entropy, ev) -> list[dict]:
    return [
        {"value_loss": value(i), "policy_gradient_loss": policy(i), "entropy_loss": -entropy(i), "explained_variance": ev(i)}
        for i in range(n)
    ]


def test_a_converging_history_passes_every_check() -> None:
    h = _history(
        30,
        value=lambda i: 1.0 / (1 + i) ** 2 + 0.01,  # falls fast, then flat
        policy=lambda i: -0.01 * (0.5**i) + (0.0001 if i % 2 else -0.0001),
        entropy=lambda i: 5.0 - 0.05 * i,
        ev=lambda i: min(0.95, 0.1 + 0.05 * i),
    )
    v = convergence_verdict(h)
    assert not v.flagged and v.text() == "converging"
    assert [c.ok for c in v.checks] == [True, True, True, True]


def test_a_diverging_history_is_flagged_with_the_failed_checks() -> None:
    h = _history(30, value=lambda i: 0.1 * i, policy=lambda i: 0.0, entropy=lambda i: 5.0 + 0.1 * i, ev=lambda i: 0.5 - 0.02 * i)
    v = convergence_verdict(h)
    assert v.flagged
    assert v.failed == ("value loss stabilised", "entropy falling", "explained variance rising")
    assert v.text() == "check: value loss stabilised, entropy falling, explained variance rising"
    assert v.as_dict()["flagged"] is True


def test_a_short_history_is_not_judged() -> None:
    v = convergence_verdict(_history(3, lambda i: i, lambda i: i, lambda i: i, lambda i: i))
    assert not v.flagged and all(c.ok is None for c in v.checks) and "too short" in v.text()
    assert convergence_verdict([]).checks[0].ok is None
