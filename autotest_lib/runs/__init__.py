"""A DAG run's week: its context and files (:class:`WeekContext`, :class:`WeekPaths`), its date windows,
the lineage store it writes to (``store.py``: one per process), and (``records.py``) what the weekly and PBT
DAGs record the same way. Importing the package itself stays light (no SQLAlchemy, pandas or torch).

Sits between the building blocks (registry, data, train, evaluate, regime) and the pipelines that use them
(``weekly``, ``pbt``), so neither pipeline imports the other for shared plumbing.
"""

from autotest_lib.runs.context import WeekContext, WeekPaths, autotest_home, run_cutoff
from autotest_lib.runs.windows import WeekWindows, last_completed_week, week_windows

__all__ = [
    "WeekContext",
    "WeekPaths",
    "WeekWindows",
    "autotest_home",
    "last_completed_week",
    "run_cutoff",
    "week_windows",
]
