"""Backtest a model bundle: verify it, load the prices its spec names for a window, run it deterministically."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

from autotest_lib.evaluate.backtest import BacktestResult, backtest, policy_from_model

__all__ = ["backtest_bundle"]


def backtest_bundle(
    bundle: str | Path,
    *,
    start: dt.date,
    end: dt.date,
    n_trials: int = 1,
    source: str | None = None,
    expected_sha256: str | None = None,
) -> BacktestResult:
    """Backtest the bundle's model over ``[start, end)`` on its own tickers, costs and feature set.

    Prices are loaded with ``cutoff=end`` (plus indicator warm-up before ``start``), so the window sees
    nothing after it.

    :param bundle: path of a bundle directory (sha256-verified; its tensors are loaded, nothing is unpickled).
    :param start: first day of the window.
    :param end: end of the window (exclusive), usually the week's cutoff.
    :param n_trials: number of models compared this week, for the deflated Sharpe ratio.
    :param source: price source (default: the one the model was trained on).
    :param expected_sha256: the registry's hash of the bundle; another bundle is refused.
    """
    from autotest_lib.data import load_market
    from autotest_lib.train import TrainSpec, load_model, verify_bundle

    verified = verify_bundle(bundle, expected_sha256)
    spec = TrainSpec.model_validate(verified.manifest["spec"])
    market = load_market(list(spec.tickers), start=start, cutoff=end, feature_set=spec.env.feature_set, source=source or spec.data_source)
    model = load_model(verified)
    return backtest(policy_from_model(model), market, spec.env, start=start, end=end, n_trials=n_trials)
