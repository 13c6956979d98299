"""Prices and causal features: sources, validation, the feature catalogue and :class:`MarketData`.

>>> market = load_market(["AAPL", "MSFT", "V"], start="2015-01-01", cutoff="2024-01-01")  # doctest: +SKIP
>>> market.features.shape                                                                  # doctest: +SKIP
(2264, 3, 19)
"""

from autotest_lib.data.calendar import DEFAULT_CALENDAR, check_fresh, last_session_before, sessions
from autotest_lib.data.features import (
    CLIP,
    FEATURE_CATALOGUE,
    FEATURE_SETS,
    FEATURES,
    FeatureSet,
    FeatureSpec,
    compute_features,
    feature_warmup,
)
from autotest_lib.data.files import FilesSource
from autotest_lib.data.frame import COLUMNS, DateLike, as_day, normalise_prices
from autotest_lib.data.market import MarketData, build_market, load_market
from autotest_lib.data.prices import load_prices
from autotest_lib.data.sources import BundledSource, PriceSource, YFinanceSource, bundled_path, get_source, normalise_yfinance
from autotest_lib.data.sql import SqlSource
from autotest_lib.data.validate import RepairOptions, validate_prices

__all__ = [
    "CLIP",
    "COLUMNS",
    "DEFAULT_CALENDAR",
    "FEATURES",
    "FEATURE_CATALOGUE",
    "FEATURE_SETS",
    "BundledSource",
    "DateLike",
    "FeatureSet",
    "FeatureSpec",
    "FilesSource",
    "MarketData",
    "PriceSource",
    "RepairOptions",
    "SqlSource",
    "YFinanceSource",
    "as_day",
    "build_market",
    "bundled_path",
    "check_fresh",
    "compute_features",
    "feature_warmup",
    "get_source",
    "last_session_before",
    "load_market",
    "load_prices",
    "normalise_prices",
    "normalise_yfinance",
    "sessions",
    "validate_prices",
]
