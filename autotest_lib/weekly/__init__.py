"""One week of the pipeline: the plan and the selection (windows re-exported from :mod:`autotest_lib.runs`;
the DAG's task functions are in :mod:`autotest_lib.tasks.weekly`)."""

from autotest_lib.runs.windows import WeekWindows, last_completed_week, week_windows
from autotest_lib.weekly.plan import WeekPlan, plan_week
from autotest_lib.weekly.select import champion_decision, rollback_decisions, select_week

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
