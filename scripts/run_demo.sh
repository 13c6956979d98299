#!/usr/bin/env bash
# `make run`: one week of the weekly DAG, in-process with `airflow dags test`, on embedded defaults:
# SQLite lineage under ./var, the bundled real prices, the demo preset. Usage: run_demo.sh [DATE] [PRESET]
# DATE is the week's cutoff (a Sunday; another day means the Sunday before it).
set -euo pipefail
cd "$(dirname "$0")/.."
DATE="${1:-2024-09-08}"
PRESET="${2:-demo}"
source scripts/airflow_env.sh

echo "== AUTOTEST weekly run: cutoff $DATE, preset $PRESET, home $AUTOTEST_HOME"
airflow db migrate >/dev/null
airflow pools set autotest_training "$(nproc)" "AUTOTEST PPO training slots (one per core)" >/dev/null
start=$(date +%s)
airflow dags test autotest_weekly "${DATE}T02:00:00+00:00" -c "{\"preset\": \"$PRESET\"}" > "$AUTOTEST_HOME/last_run.log" 2>&1 || {
  echo "== the DAG run failed; the last lines of $AUTOTEST_HOME/last_run.log:" >&2
  tail -n 40 "$AUTOTEST_HOME/last_run.log" >&2
  exit 1
}
# `airflow dags test` exits 0 even when a task failed: read the task states it logged
if grep -q "new_state=failed" "$AUTOTEST_HOME/last_run.log"; then
  echo "== a task failed (after its retries); errors in $AUTOTEST_HOME/last_run.log:" >&2
  grep -E "^[A-Za-z_.]+(Error|Exception): " "$AUTOTEST_HOME/last_run.log" | sort | uniq -c | head -n 10 >&2
  exit 1
fi
echo "== finished in $(( $(date +%s) - start ))s (log: $AUTOTEST_HOME/last_run.log)"
autotest week "$DATE"
