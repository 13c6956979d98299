# Source me: the environment of the local CeleryExecutor deployment (scripts/cluster.sh). Every Airflow
# command against the cluster (airflow dags ..., autotest trigger ...) needs it:
#   source scripts/cluster_env.sh && autotest trigger --week 2024-09-01
# Each value below can be set beforehand to override it; docs/DEPLOY.md explains them.
_root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
export AUTOTEST_HOME="${AUTOTEST_HOME:-$_root/var/cluster}"
export AUTOTEST_CLUSTER_WORKERS="${AUTOTEST_CLUSTER_WORKERS:-2}"          # Celery workers on this host
export AUTOTEST_WORKER_CONCURRENCY="${AUTOTEST_WORKER_CONCURRENCY:-1}"    # task slots per worker
export AUTOTEST_API_PORT="${AUTOTEST_API_PORT:-8080}"                     # UI + REST + execution API
export AUTOTEST_WORKER_LOG_PORT="${AUTOTEST_WORKER_LOG_PORT:-8793}"       # worker i serves its logs on this + i - 1
export AUTOTEST_TRIGGERER_LOG_PORT="${AUTOTEST_TRIGGERER_LOG_PORT:-8794}"
export AUTOTEST_REDIS_URL="${AUTOTEST_REDIS_URL:-redis://127.0.0.1:6379/0}"
export AUTOTEST_PG="${AUTOTEST_PG:-postgresql+psycopg2://postgres@127.0.0.1:5432}"  # server for the two databases below
export AUTOTEST_META_DB="${AUTOTEST_META_DB:-autotest_airflow}"
export AUTOTEST_DB_URL="${AUTOTEST_DB_URL:-$AUTOTEST_PG/autotest_lineage}"
_slots=1  # workers x concurrency (scripts/cluster.sh rejects values that are not positive integers)
if [[ "$AUTOTEST_CLUSTER_WORKERS$AUTOTEST_WORKER_CONCURRENCY" =~ ^[0-9]+$ ]]; then
  _slots=$((AUTOTEST_CLUSTER_WORKERS * AUTOTEST_WORKER_CONCURRENCY))
fi
# Training slots the weekly plan budgets with (its wall-time estimate); the pool autotest_training gets as many.
export AUTOTEST_TRAINING_SLOTS="${AUTOTEST_TRAINING_SLOTS:-$_slots}"

# tasks the scheduler hands to Celery at once: every worker slot, at least 4
export AIRFLOW__CORE__PARALLELISM="${AIRFLOW__CORE__PARALLELISM:-$(( _slots > 4 ? _slots : 4 ))}"
export AIRFLOW__API__PORT="$AUTOTEST_API_PORT"
export AIRFLOW__CORE__EXECUTOR=CeleryExecutor
export AIRFLOW__DATABASE__SQL_ALCHEMY_CONN="${AIRFLOW__DATABASE__SQL_ALCHEMY_CONN:-$AUTOTEST_PG/$AUTOTEST_META_DB}"
export AIRFLOW__CELERY__BROKER_URL="$AUTOTEST_REDIS_URL"
export AIRFLOW__CELERY__RESULT_BACKEND="db+${AIRFLOW__DATABASE__SQL_ALCHEMY_CONN/+psycopg2/}"
export AIRFLOW__CELERY__WORKER_CONCURRENCY="$AUTOTEST_WORKER_CONCURRENCY"
# the api-server as the workers reach it (another host's workers: http://main.example:PORT)
export AUTOTEST_API_URL="${AUTOTEST_API_URL:-http://localhost:${AUTOTEST_API_PORT}}"
export AIRFLOW__CORE__EXECUTION_API_SERVER_URL="$AUTOTEST_API_URL/execution/"
export AIRFLOW__CORE__HOSTNAME_CALLABLE=autotest_lib.cluster.worker_hostname
# A lost worker costs about heartbeat timeout (45 s) + detection (10-20 s) + retry delay (30-60 s) ~ 2 minutes:
# tasks are acked when they start and no worker prefetches (autotest_lib.cluster), so the broker never
# re-delivers a running task, and visibility_timeout only brings back a message whose worker died between
# taking it and starting it.
export AIRFLOW__SCHEDULER__TASK_INSTANCE_HEARTBEAT_TIMEOUT="${AIRFLOW__SCHEDULER__TASK_INSTANCE_HEARTBEAT_TIMEOUT:-45}"
export AIRFLOW__SCHEDULER__TASK_INSTANCE_HEARTBEAT_TIMEOUT_DETECTION_INTERVAL=10
export AIRFLOW__CELERY__TASK_ACKS_LATE=False
export AIRFLOW__CELERY__CELERY_CONFIG_OPTIONS=autotest_lib.cluster.CELERY_CONFIG
export AIRFLOW__CELERY_BROKER_TRANSPORT_OPTIONS__VISIBILITY_TIMEOUT="${AIRFLOW__CELERY_BROKER_TRANSPORT_OPTIONS__VISIBILITY_TIMEOUT:-120}"
export AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_USERS="${AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_USERS:-admin:admin}"
export AIRFLOW__LOGGING__TRIGGER_LOG_SERVER_PORT="$AUTOTEST_TRIGGERER_LOG_PORT"

source "$_root/scripts/airflow_env.sh"   # AIRFLOW_HOME, DAGs folder, JWT secret kept under AIRFLOW_HOME
export AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_PASSWORDS_FILE="$AIRFLOW_HOME/passwords.json"
# the secrets every component must share, generated once per AIRFLOW_HOME
for _var in AIRFLOW__CORE__FERNET_KEY AIRFLOW__API__SECRET_KEY; do
  if [ -z "${!_var:-}" ]; then
    _file="$AIRFLOW_HOME/.${_var,,}"
    [ -s "$_file" ] || python -c 'import base64, os; print(base64.urlsafe_b64encode(os.urandom(32)).decode())' > "$_file"
    export "$_var=$(cat "$_file")"
  fi
done
unset _root _var _file _slots
