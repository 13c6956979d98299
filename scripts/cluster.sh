#!/usr/bin/env bash
# A local CeleryExecutor deployment: api-server, scheduler, dag-processor, triggerer and N Celery workers on
# this host, Redis as broker, PostgreSQL for Airflow's metadata (also the Celery result backend) and for the
# lineage. Usage: scripts/cluster.sh start|stop|status|start-worker N (make cluster / make cluster-stop).
# Settings (workers, ports, Redis, databases) come from the environment: see scripts/cluster_env.sh.
# Every process runs in its own process group, its PID in $AUTOTEST_HOME/cluster/<name>.pid; stop ends them.
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/cluster_env.sh
STATE="$AUTOTEST_HOME/cluster"
mkdir -p "$STATE"

die() { echo "cluster.sh: $*" >&2; exit 1; }

validate() {
  local var
  for var in AUTOTEST_CLUSTER_WORKERS AUTOTEST_WORKER_CONCURRENCY; do
    [[ "${!var}" =~ ^[1-9][0-9]*$ ]] || die "$var=${!var} is not a positive integer (allowed: 1, 2, ...)"
  done
  for var in AUTOTEST_API_PORT AUTOTEST_WORKER_LOG_PORT AUTOTEST_TRIGGERER_LOG_PORT; do
    [[ "${!var}" =~ ^[0-9]+$ ]] && [ "${!var}" -ge 1024 ] && [ "${!var}" -le 65535 ] \
      || die "$var=${!var} is not a port number (allowed: 1024-65535)"
  done
  case "$AUTOTEST_REDIS_URL" in redis://*|rediss://*) ;; *) die "AUTOTEST_REDIS_URL must start with redis:// or rediss:// (got a ${AUTOTEST_REDIS_URL%%:*} URL)";; esac
}

alive() { [ -s "$1" ] && kill -0 "$(cat "$1")" 2>/dev/null; }

launch() {  # launch NAME COMMAND...: in its own session (process group), output in NAME.log
  local name="$1"; shift
  alive "$STATE/$name.pid" && die "$name is already running (PID $(cat "$STATE/$name.pid")); scripts/cluster.sh stop first"
  setsid "$@" >"$STATE/$name.log" 2>&1 < /dev/null &
  echo $! >"$STATE/$name.pid"
}

ensure_db() {  # create a PostgreSQL database named by a URL if the server lacks it (local trust setups)
  local url="$1" name admin
  name="${url##*/}"; name="${name%%\?*}"
  admin="${url%/*}/postgres"; admin="${admin/+psycopg2/}"
  if ! psql "$admin" -tAc "SELECT 1 FROM pg_database WHERE datname = '$name'" 2>/dev/null | grep -q 1; then
    psql "$admin" -qc "CREATE DATABASE \"$name\"" >/dev/null || die "cannot create database $name on ${admin%/*}; create it or set its URL"
  fi
}

start_worker() {  # worker i: Celery name wi@host, task_instance.hostname wi.<fqdn>, log server port base + i - 1
  local i="$1"
  [[ "$i" =~ ^[1-9][0-9]*$ ]] || die "start-worker takes a worker number 1, 2, ... (got '$i')"
  AUTOTEST_WORKER_NAME="w$i" AIRFLOW__LOGGING__WORKER_LOG_SERVER_PORT=$((AUTOTEST_WORKER_LOG_PORT + i - 1)) \
    launch "worker-$i" airflow celery worker --celery-hostname "w$i@%h" \
    --concurrency "$AUTOTEST_WORKER_CONCURRENCY" --without-mingle --without-gossip
}

start() {
  validate
  ensure_db "$AIRFLOW__DATABASE__SQL_ALCHEMY_CONN"
  case "$AUTOTEST_DB_URL" in postgresql*) ensure_db "${AUTOTEST_DB_URL%%\?*}";; esac
  if [ ! -s "$AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_PASSWORDS_FILE" ]; then
    python -c 'import json, secrets, sys; json.dump({"admin": secrets.token_urlsafe(12)}, open(sys.argv[1], "w"))' \
      "$AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_PASSWORDS_FILE"
  fi
  AIRFLOW__CORE__EXECUTOR=CeleryExecutor python -c \
    'from airflow.executors.executor_loader import ExecutorLoader; ExecutorLoader.import_default_executor_cls()' 2>/dev/null \
    || die "the CeleryExecutor does not load: pip install -r requirements.txt (pins celery and kombu)"
  airflow db migrate >"$STATE/migrate.log" 2>&1 || die "airflow db migrate failed; see $STATE/migrate.log"
  airflow pools set autotest_training "$AUTOTEST_TRAINING_SLOTS" "AUTOTEST PPO training slots" >/dev/null
  autotest db upgrade >/dev/null

  launch api-server airflow api-server --port "$AUTOTEST_API_PORT"
  launch scheduler airflow scheduler
  launch dag-processor airflow dag-processor
  launch triggerer airflow triggerer
  local i
  for i in $(seq 1 "$AUTOTEST_CLUSTER_WORKERS"); do start_worker "$i"; done
  for _ in $(seq 1 90); do
    curl -sf "http://localhost:$AUTOTEST_API_PORT/api/v2/monitor/health" >/dev/null 2>&1 && break
    alive "$STATE/api-server.pid" || die "the api-server exited; see $STATE/api-server.log"
    sleep 2
  done
  curl -sf "http://localhost:$AUTOTEST_API_PORT/api/v2/monitor/health" >/dev/null || die "the api-server does not answer; see $STATE/api-server.log"
  echo "cluster: UI http://localhost:$AUTOTEST_API_PORT (admin / $(python -c 'import json, sys; print(json.load(open(sys.argv[1]))["admin"])' "$AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_PASSWORDS_FILE")),"
  echo "cluster: $AUTOTEST_CLUSTER_WORKERS workers x $AUTOTEST_WORKER_CONCURRENCY slots, logs in $STATE; stop with make cluster-stop"
}

descendants() {  # every process below PID (a task runs in a process group of its own, under the worker's)
  local child
  for child in $(ps -o pid= --ppid "$1" 2>/dev/null); do echo "$child"; descendants "$child"; done
}

stop() {
  # scheduler first (it hangs if the api-server goes first), then the rest at once; TERM, then KILL whatever
  # is left after 10 s, process groups and their descendants (a worker's running tasks among them)
  local names=() name pid pids=()
  [ -s "$STATE/scheduler.pid" ] && names+=(scheduler)
  for name in triggerer dag-processor $(cd "$STATE" && ls worker-*.pid 2>/dev/null | sed 's/\.pid$//') api-server; do
    [ -s "$STATE/$name.pid" ] && names+=("$name")
  done
  for name in "${names[@]}"; do
    pid="$(cat "$STATE/$name.pid")"
    pids+=("$pid" $(descendants "$pid"))
    kill -TERM -- "-$pid" 2>/dev/null || true
    if [ "$name" = scheduler ]; then
      for _ in $(seq 1 20); do kill -0 -- "-$pid" 2>/dev/null || break; sleep 0.5; done
    fi
  done
  for _ in $(seq 1 20); do
    local left=0
    for pid in "${pids[@]}"; do kill -0 "$pid" 2>/dev/null && left=1; done
    [ "$left" = 0 ] && break
    sleep 0.5
  done
  for name in "${names[@]}"; do
    pid="$(cat "$STATE/$name.pid")"
    pids+=($(descendants "$pid"))
    kill -KILL -- "-$pid" 2>/dev/null || true
    rm -f "$STATE/$name.pid"
  done
  for pid in "${pids[@]}"; do kill -KILL "$pid" 2>/dev/null || true; done
}

status() {
  local pidfile
  for pidfile in "$STATE"/*.pid; do
    [ -e "$pidfile" ] || { echo "cluster: not running"; return 0; }
    if alive "$pidfile"; then echo "$(basename "$pidfile" .pid): running (PID $(cat "$pidfile"))"
    else echo "$(basename "$pidfile" .pid): exited (see $STATE/$(basename "$pidfile" .pid).log)"; fi
  done
}

case "${1:-}" in
  start) start ;;
  stop) stop ;;
  status) status ;;
  start-worker) validate; start_worker "${2:-}" ;;  # (re)start one worker, e.g. after it was lost
  *) die "usage: scripts/cluster.sh start|stop|status|start-worker N (got '${1:-}')" ;;
esac
