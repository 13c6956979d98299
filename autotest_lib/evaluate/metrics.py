"""Performance metrics of a series of daily simple returns, each written as its formula.

Every function takes a 1-D array of simple returns ``r_1 .. r_n`` (``0.01`` = +1 %), one per trading day,
and is pure numpy (the normal distribution comes from the standard library's ``statistics.NormalDist``).

Conventions, shared by every function here:

- **Missing days**: non-finite entries (NaN, inf) are dropped first, so ``n`` counts the finite days.
- **Annualisation**: ``periods_per_year = 252``; the risk-free rate is 0.
- **Undefined values are NaN**: a ratio whose denominator is zero (no dispersion, no downside, no drawdown),
  or a statistic with too few days, returns ``nan``, as empyrical does. Quantities that are well defined on
  an empty or flat series keep their value: ``total_return([]) = 0``, ``max_drawdown([]) = 0``,
  ``annual_volatility(constant) = 0``.
- :func:`compute_metrics` is the JSON-facing summary: there every NaN becomes ``0.0`` ("no measurable
  edge"), so a model that sits in cash scores exactly 0 and never wins a ranking by an undefined ratio.

The Sharpe ratios fed to the probabilistic and deflated Sharpe ratios are *per period* (not annualised):
``sharpe_ratio(r, periods_per_year=1)``.

References: Bailey & López de Prado (2012), "The Sharpe Ratio Efficient Frontier", J. of Risk 15(2);
Bailey & López de Prado (2014), "The Deflated Sharpe Ratio", J. of Portfolio Management 40(5).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from statistics import NormalDist

import numpy as np
from numpy.typing import ArrayLike

__all__ = [
    "EULER_GAMMA",
    "PERIODS_PER_YEAR",
    "annual_volatility",
    "cagr",
    "calmar_ratio",
    "compute_metrics",
    "deflated_sharpe_ratio",
    "drawdown_series",
    "equity_curve",
    "expected_max_sharpe",
    "max_drawdown",
    "mean_turnover",
    "probabilistic_sharpe_ratio",
    "sharpe_ratio",
    "sortino_ratio",
    "total_return",
    "win_rate",
]

PERIODS_PER_YEAR = 252
EULER_GAMMA = 0.5772156649015329  # Euler–Mascheroni constant γ
_N = NormalDist()  # standard normal: Φ = _N.cdf, Φ⁻¹ = _N.inv_cdf


def _clean(returns: ArrayLike) -> np.ndarray:
    """The finite entries of ``returns`` as a 1-D float64 array."""
    r = np.asarray(returns, dtype=np.float64)
    if r.ndim != 1:
        raise ValueError(f"returns must be a 1-D array of daily returns, got shape {r.shape}; pass one series at a time")
    return r[np.isfinite(r)]


def _is_flat(r: np.ndarray) -> bool:
    """True when every value is identical (the sample std is then 0, whatever rounding leaves behind)."""
    return r.size == 0 or bool(r.max() == r.min())


def equity_curve(returns: ArrayLike) -> np.ndarray:
    """Compounded wealth including the starting 1.0: ``E_0 = 1``, ``E_t = Π_{i≤t} (1 + r_i)``; length ``n + 1``.

    :param returns: daily simple returns.
    """
    r = _clean(returns)
    return np.concatenate(([1.0], np.cumprod(1.0 + r)))


def drawdown_series(returns: ArrayLike) -> np.ndarray:
    """``DD_t = E_t / max_{s≤t} E_s − 1`` (≤ 0) over the equity curve including ``E_0 = 1``; length ``n + 1``.

    :param returns: daily simple returns.
    """
    equity = equity_curve(returns)
    return equity / np.maximum.accumulate(equity) - 1.0


def total_return(returns: ArrayLike) -> float:
    """``TR = Π (1 + r_t) − 1``; 0 for an empty series.

    :param returns: daily simple returns.
    """
    r = _clean(returns)
    return float(np.prod(1.0 + r) - 1.0)


def cagr(returns: ArrayLike, periods_per_year: int = PERIODS_PER_YEAR) -> float:
    """Compound annual growth rate ``CAGR = (1 + TR)^(P / n) − 1`` with ``P = periods_per_year``.

    ``nan`` for an empty series (zero years); ``−1`` once the equity has hit 0.

    :param returns: daily simple returns.
    :param periods_per_year: trading days per year.
    """
    r = _clean(returns)
    if r.size == 0:
        return math.nan
    growth = float(np.prod(1.0 + r))
    if growth <= 0.0:
        return -1.0
    return growth ** (periods_per_year / r.size) - 1.0


def annual_volatility(returns: ArrayLike, periods_per_year: int = PERIODS_PER_YEAR) -> float:
    """``σ_ann = std(r, ddof=1) · √P``; 0 for a constant series, ``nan`` with fewer than 2 days.

    :param returns: daily simple returns.
    :param periods_per_year: trading days per year.
    """
    r = _clean(returns)
    if r.size < 2:
        return math.nan
    if _is_flat(r):
        return 0.0
    return float(np.std(r, ddof=1) * math.sqrt(periods_per_year))


def sharpe_ratio(returns: ArrayLike, periods_per_year: int = PERIODS_PER_YEAR) -> float:
    """``SR = mean(r) / std(r, ddof=1) · √P`` (risk-free 0).

    ``nan`` with fewer than 2 days or zero dispersion (a constant series, e.g. all cash). Pass
    ``periods_per_year=1`` for the per-period Sharpe used by the PSR/DSR.

    :param returns: daily simple returns.
    :param periods_per_year: trading days per year; 1 gives the non-annualised ratio.
    """
    r = _clean(returns)
    if r.size < 2 or _is_flat(r):
        return math.nan
    return float(r.mean() / np.std(r, ddof=1) * math.sqrt(periods_per_year))


def sortino_ratio(returns: ArrayLike, periods_per_year: int = PERIODS_PER_YEAR) -> float:
    """``Sortino = mean(r) · P / DD_ann`` with downside deviation ``DD_ann = √(mean(min(r, 0)²)) · √P``.

    The downside deviation averages over *all* days (empyrical's definition, target 0). ``nan`` with fewer
    than 2 days or no losing day.

    :param returns: daily simple returns.
    :param periods_per_year: trading days per year.
    """
    r = _clean(returns)
    if r.size < 2:
        return math.nan
    downside = math.sqrt(float(np.mean(np.minimum(r, 0.0) ** 2))) * math.sqrt(periods_per_year)
    if downside == 0.0:
        return math.nan
    return float(r.mean() * periods_per_year / downside)


def max_drawdown(returns: ArrayLike) -> float:
    """``MDD = min_t DD_t`` (≤ 0, e.g. −0.25 for a 25 % peak-to-trough fall), see :func:`drawdown_series`.

    0 for an empty or never-falling series, since the curve starts at ``E_0 = 1``.

    :param returns: daily simple returns.
    """
    return float(drawdown_series(returns).min())


def calmar_ratio(returns: ArrayLike, periods_per_year: int = PERIODS_PER_YEAR) -> float:
    """``Calmar = CAGR / |MDD|``; ``nan`` when there is no drawdown.

    :param returns: daily simple returns.
    :param periods_per_year: trading days per year.
    """
    mdd = max_drawdown(returns)
    if mdd >= 0.0:
        return math.nan
    return cagr(returns, periods_per_year) / abs(mdd)


def win_rate(returns: ArrayLike) -> float:
    """``#{r_t > 0} / #{r_t ≠ 0}``: the share of winning days among days that moved; ``nan`` if none moved.

    :param returns: daily simple returns.
    """
    r = _clean(returns)
    moved = int(np.count_nonzero(r))
    if moved == 0:
        return math.nan
    return int(np.count_nonzero(r > 0.0)) / moved


def mean_turnover(turnover: ArrayLike) -> float:
    """``mean(τ_t)``: average daily turnover (traded notional over portfolio value); ``nan`` if empty.

    :param turnover: daily turnover series, as reported by the env.
    """
    tau = _clean(turnover)
    if tau.size == 0:
        return math.nan
    return float(tau.mean())


def _skew_kurtosis(r: np.ndarray) -> tuple[float, float]:
    """Sample skewness ``γ3 = m3 / m2^1.5`` and (non-excess) kurtosis ``γ4 = m4 / m2²`` from central moments."""
    d = r - r.mean()
    m2 = float(np.mean(d**2))
    return float(np.mean(d**3)) / m2**1.5, float(np.mean(d**4)) / m2**2


def probabilistic_sharpe_ratio(returns: ArrayLike, sr_benchmark: float = 0.0) -> float:
    """Probability that the true Sharpe exceeds ``SR*`` (Bailey & López de Prado 2012):

    ``PSR(SR*) = Φ( (SR − SR*) · √(n − 1) / √(1 − γ3·SR + (γ4 − 1)/4 · SR²) )``

    with ``SR`` the *per-period* Sharpe (``sharpe_ratio(r, periods_per_year=1)``), ``γ3`` the skewness and
    ``γ4`` the non-excess kurtosis (3 for a normal) of the returns. ``nan`` with fewer than 2 days or zero
    dispersion.

    :param returns: daily simple returns.
    :param sr_benchmark: ``SR*``, per period (divide an annual Sharpe by √252).
    """
    r = _clean(returns)
    sr = sharpe_ratio(r, periods_per_year=1)
    if math.isnan(sr):
        return math.nan
    g3, g4 = _skew_kurtosis(r)
    # By Pearson's inequality γ4 ≥ 1 + γ3², so this is ≥ 0; it is 0 only for a two-point distribution.
    var = 1.0 - g3 * sr + (g4 - 1.0) / 4.0 * sr**2
    if not var > 0.0:
        return math.nan
    return _N.cdf((sr - sr_benchmark) * math.sqrt(r.size - 1) / math.sqrt(var))


def expected_max_sharpe(n_trials: int, sr_variance: float) -> float:
    """Expected maximum of ``N`` independent zero-mean Sharpe estimates with variance ``V`` (Bailey & López de Prado 2014):

    ``E[max SR] ≈ √V · ( (1 − γ) · Φ⁻¹(1 − 1/N) + γ · Φ⁻¹(1 − 1/(N·e)) )``,  ``γ`` = Euler–Mascheroni.

    ``N = 1`` gives 0 (a single trial selects nothing), so the DSR of one trial is ``PSR(0)``.

    :param n_trials: ``N ≥ 1``, the number of models (strategies) tried.
    :param sr_variance: ``V ≥ 0``, the variance across trials of their per-period Sharpe ratios.
    :raises ValueError: ``n_trials < 1`` or a negative/non-finite variance.
    """
    if n_trials < 1:
        raise ValueError(f"n_trials={n_trials}: at least one trial is needed")
    if not (math.isfinite(sr_variance) and sr_variance >= 0.0):
        raise ValueError(f"sr_variance={sr_variance}: must be a finite variance >= 0")
    if n_trials == 1:
        return 0.0
    g = EULER_GAMMA
    return math.sqrt(sr_variance) * ((1.0 - g) * _N.inv_cdf(1.0 - 1.0 / n_trials) + g * _N.inv_cdf(1.0 - 1.0 / (n_trials * math.e)))


def _trial_variance(trial_sharpes: Sequence[float] | ArrayLike) -> float:
    s = _clean(trial_sharpes)
    if s.size < 2:
        raise ValueError(f"trial_sharpes has {s.size} finite value(s): at least 2 are needed for their variance")
    return float(np.var(s, ddof=1))


def deflated_sharpe_ratio(
    returns: ArrayLike,
    n_trials: int = 1,
    sr_variance: float | None = None,
    *,
    trial_sharpes: Sequence[float] | ArrayLike | None = None,
) -> float:
    """PSR against the best Sharpe that luck alone would give over ``N`` trials (Bailey & López de Prado 2014):

    ``DSR = PSR(SR*)``  with  ``SR* = E[max SR]`` from :func:`expected_max_sharpe` ``(N, V)``.

    ``V`` is ``sr_variance`` if given, else the sample variance (ddof=1) of ``trial_sharpes``, the per-period
    Sharpe ratios of every model compared. With ``n_trials = 1``, ``SR* = 0`` and ``DSR = PSR(0)``.

    :param returns: daily simple returns of the selected model.
    :param n_trials: ``N``, how many models were tried (the count is the caller's; ``trial_sharpes`` only gives ``V``).
    :param sr_variance: ``V``, variance of the trials' per-period Sharpe ratios.
    :param trial_sharpes: per-period Sharpe ratios of the trials, used for ``V`` when ``sr_variance`` is None.
    :raises ValueError: ``n_trials > 1`` with neither ``sr_variance`` nor at least 2 ``trial_sharpes``.
    """
    if n_trials > 1 and sr_variance is None:
        if trial_sharpes is None:
            raise ValueError(f"n_trials={n_trials} needs sr_variance or trial_sharpes to deflate the Sharpe ratio")
        sr_variance = _trial_variance(trial_sharpes)
    sr_star = expected_max_sharpe(n_trials, 0.0 if sr_variance is None else sr_variance)
    return probabilistic_sharpe_ratio(returns, sr_benchmark=sr_star)


def _finite_or_zero(x: float) -> float:
    return float(x) if math.isfinite(x) else 0.0


def compute_metrics(
    returns: ArrayLike,
    *,
    turnover: ArrayLike | None = None,
    n_trials: int = 1,
    trial_sharpes: Sequence[float] | ArrayLike | None = None,
) -> dict[str, float]:
    """Every metric of one return series as a JSON-safe dict with stable keys.

    Keys: ``total_return, cagr, annual_volatility, sharpe, sortino, max_drawdown, calmar, win_rate, turnover,
    psr, dsr`` (floats; any undefined value, NaN or inf, is reported as ``0.0``; ``turnover`` is 0.0 when no
    series is given) and ``n_days, n_trials`` (ints). ``psr`` is ``PSR(0)``; ``dsr`` deflates it for
    ``n_trials`` using the variance of ``trial_sharpes``. With ``n_trials > 1`` and no ``trial_sharpes`` the
    deflation is unknown, so ``dsr`` is undefined (0.0) until recomputed with :func:`deflated_sharpe_ratio`
    once every trial's Sharpe is known.

    :param returns: daily simple net returns.
    :param turnover: daily turnover series, or None.
    :param n_trials: number of models tried, for the deflated Sharpe ratio.
    :param trial_sharpes: per-period Sharpe ratios of those models (see :func:`deflated_sharpe_ratio`).
    :raises ValueError: ``n_trials < 1``, or fewer than 2 finite ``trial_sharpes``.
    """
    r = _clean(returns)
    raw = {
        "total_return": total_return(r),
        "cagr": cagr(r),
        "annual_volatility": annual_volatility(r),
        "sharpe": sharpe_ratio(r),
        "sortino": sortino_ratio(r),
        "max_drawdown": max_drawdown(r),
        "calmar": calmar_ratio(r),
        "win_rate": win_rate(r),
        "turnover": math.nan if turnover is None else mean_turnover(turnover),
        "psr": probabilistic_sharpe_ratio(r),
        "dsr": math.nan if n_trials > 1 and trial_sharpes is None else deflated_sharpe_ratio(r, n_trials, trial_sharpes=trial_sharpes),
    }
    out: dict[str, float] = {key: _finite_or_zero(value) for key, value in raw.items()}
    out["n_days"] = int(r.size)
    out["n_trials"] = int(n_trials)
    return out
