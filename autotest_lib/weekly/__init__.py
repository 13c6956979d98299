"""One week of the pipeline: windows from the cutoff, the plan, the selection, and the task functions."""

from autotest_lib.weekly.plan import WeekPlan, plan_week
from autotest_lib.weekly.select import champion_decision, rollback_decisions, select_week
from autotest_lib.weekly.windows import WeekWindows, last_completed_week, week_windows

__all__ = [
    "WeekPlan",
    "WeekWindows",
    "champion_decision",
    "last_completed_week",
    "plan_week",
    "rollback_decisions",
    "select_week",
    "week_windows",
]
