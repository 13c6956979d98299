"""The weekly report: one self-contained HTML page with PNG plots that shows how a week went.

>>> from autotest_lib.report import write_weekly_report          # doctest: +SKIP
>>> write_weekly_report(store, dt.date(2024, 9, 8), Path("var/runs/2024-09-08"), load_preset("demo"))
PosixPath('var/runs/2024-09-08/report/index.html')
"""

from autotest_lib.report.regimes import REGIMES_PNG, regime_section
from autotest_lib.report.weekly import DRAWDOWN_PNG, EQUITY_PNG, LINEAGE_PNG, REPORT_DIR, REPORT_HTML, TRAINING_PNG, write_weekly_report

__all__ = [
    "DRAWDOWN_PNG",
    "EQUITY_PNG",
    "LINEAGE_PNG",
    "REGIMES_PNG",
    "REPORT_DIR",
    "REPORT_HTML",
    "TRAINING_PNG",
    "regime_section",
    "write_weekly_report",
]
