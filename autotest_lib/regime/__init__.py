"""Market regimes: a causal detector on the index, per-regime evaluation, and regime-aware model selection.

- ``detector.py``: :func:`detect_regimes` labels every day bull/bear x high/low volatility by documented
  rules; :func:`current_regime` is the regime the coming week trades in.
- ``breakdown.py``: :func:`regime_breakdown` splits a backtest's days by regime (stored as ``evaluations.by_regime``).
- ``select.py``: :func:`choose_by_regime` picks the best model in the current regime with enough evidence,
  else the champion, and says which rule fired.
"""

from autotest_lib.regime.breakdown import BREAKDOWN_METRICS, attribute_days, regime_breakdown
from autotest_lib.regime.detector import (
    REGIMES,
    UNKNOWN,
    CurrentRegime,
    current_regime,
    detect_regimes,
    history_start,
    index_closes,
    regime_labels,
    regime_warmup,
    window_labels,
)
from autotest_lib.regime.select import RULE_FALLBACK, RULE_REGIME, RegimeChoice, choose_by_regime

__all__ = [
    "BREAKDOWN_METRICS",
    "REGIMES",
    "RULE_FALLBACK",
    "RULE_REGIME",
    "UNKNOWN",
    "CurrentRegime",
    "RegimeChoice",
    "attribute_days",
    "choose_by_regime",
    "current_regime",
    "detect_regimes",
    "history_start",
    "index_closes",
    "regime_breakdown",
    "regime_labels",
    "regime_warmup",
    "window_labels",
]
