"""AUTOTEST: weekly retraining of a population of PPO trading models that keeps what works.

The library is split by pipeline step: ``data`` (prices and causal features), ``env`` (vectorised trading
environment), ``train`` (PPO explorers, refiners, champion), ``evaluate`` (backtests and metrics),
``registry`` (lineage in PostgreSQL or SQLite). ``config`` holds the typed presets.
"""

__version__ = "0.1.0"
