#!/usr/bin/env bash
# A 3-week backfill of the demo preset through a real local scheduler + api-server + dag-processor, then the
# lineage it produced (generations 1 -> 2 -> 3). Usage: scripts/backfill_demo.sh [FROM] [TO]
# FROM/TO are logical dates: a run's logical date is its week's start, its cutoff the week's end (a Sunday).
# Defaults give the weeks with cutoffs 2024-08-18, 2024-08-25 and 2024-09-01.
set -euo pipefail
cd "$(dirname "$0")/.."
FROM="${1:-2024-08-11}"
TO="${2:-2024-08-26}"
export AUTOTEST_HOME="${AUTOTEST_HOME:-$PWD/var/backfill}"
export AIRFLOW__API__PORT="${AIRFLOW__API__PORT:-8080}"
export AIRFLOW__CORE__EXECUTION_API_SERVER_URL="http://localhost:${AIRFLOW__API__PORT}/execution/"
# Four Airflow processes write its metadata at once: SQLite locks up under that, so use the local PostgreSQL
# when one answers (a fresh database per run), unless AIRFLOW__DATABASE__SQL_ALCHEMY_CONN names one already.
if [ -z "${AIRFLOW__DATABASE__SQL_ALCHEMY_CONN:-}" ] && pg_isready -h 127.0.0.1 -p 5432 -q 2>/dev/null; then
  meta_db="autotest_backfill_meta_$(date +%s)"
  psql -h 127.0.0.1 -U postgres -d postgres -qc "CREATE DATABASE $meta_db" >/dev/null
  export AIRFLOW__DATABASE__SQL_ALCHEMY_CONN="postgresql+psycopg2://postgres@127.0.0.1:5432/$meta_db"
  echo "== Airflow metadata in PostgreSQL database $meta_db"
fi
source scripts/airflow_env.sh
LOGS="$AUTOTEST_HOME/services"
mkdir -p "$LOGS"

pids=()
stop() {
  # scheduler first (it hangs if the api-server goes first), then the rest; each runs in its own process group
  for pid in "${pids[@]}"; do kill -TERM -- "-$pid" 2>/dev/null || true; sleep 1; done
  wait 2>/dev/null || true
}
trap stop EXIT

airflow db migrate >/dev/null
airflow pools set autotest_training "$(nproc)" "AUTOTEST PPO training slots" >/dev/null
echo "== starting scheduler, dag-processor and api-server (logs in $LOGS)"
# the bundled prices end in 2024-09: keep the scheduler from also starting this week's live run on them
AIRFLOW__SCHEDULER__USE_JOB_SCHEDULE=False setsid airflow scheduler >"$LOGS/scheduler.log" 2>&1 & pids+=($!)
setsid airflow dag-processor >"$LOGS/dag-processor.log" 2>&1 & pids+=($!)
setsid airflow api-server --port "$AIRFLOW__API__PORT" >"$LOGS/api-server.log" 2>&1 & pids+=($!)
for _ in $(seq 1 90); do
  curl -sf "http://localhost:${AIRFLOW__API__PORT}/api/v2/monitor/health" >/dev/null 2>&1 && break
  sleep 2
done
airflow dags reserialize >/dev/null 2>&1 || true
for _ in $(seq 1 60); do airflow dags list -o plain 2>/dev/null | grep -q autotest_weekly && break; sleep 2; done
airflow dags unpause autotest_weekly >/dev/null

echo "== backfill $FROM .. $TO (one run at a time: each week continues the one before)"
airflow backfill create --dag-id autotest_weekly --from-date "$FROM" --to-date "$TO" --max-active-runs 1 \
  --dag-run-conf '{"preset": "demo"}'
deadline=$(( $(date +%s) + ${BACKFILL_TIMEOUT_S:-1500} ))
while :; do
  states=$(airflow dags list-runs autotest_weekly -o json 2>/dev/null | python -c '
import json, sys
rows = [line for line in sys.stdin if line.startswith("[")]  # skip warnings printed before the JSON
runs = [r for r in (json.loads(rows[-1]) if rows else []) if r["run_id"].startswith("backfill__")]
print(" ".join(sorted(r["state"] for r in runs)) or "none")')
  echo "   runs: $states"
  case "$states" in *failed*) echo "a backfill run failed; see $LOGS and $AIRFLOW_HOME/logs" >&2; exit 1 ;; esac
  if [ "$states" != "none" ] && ! grep -qE "queued|running" <<<"$states" && [ "$(wc -w <<<"$states")" -ge 3 ]; then break; fi
  [ "$(date +%s)" -lt "$deadline" ] || { echo "backfill did not finish in time" >&2; exit 1; }
  sleep 15
done

echo "== lineage"
autotest models
last=$(autotest models --json | python -c 'import json,sys; m=max(json.load(sys.stdin), key=lambda m:(m["generation"], m["model_id"])); print(m["model_id"])')
autotest lineage "$last"
autotest champions
