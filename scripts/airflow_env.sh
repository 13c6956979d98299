# Source me: the environment every local Airflow command of this project uses.
# Everything lives under $AUTOTEST_HOME (default ./var): Airflow's home and SQLite metadata DB, the lineage
# DB (unless AUTOTEST_DB_URL names PostgreSQL), week outputs, the model archive.
_root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
export AUTOTEST_HOME="${AUTOTEST_HOME:-$_root/var}"
export AIRFLOW_HOME="${AIRFLOW_HOME:-$AUTOTEST_HOME/airflow}"
export AIRFLOW__CORE__DAGS_FOLDER="${AIRFLOW__CORE__DAGS_FOLDER:-$_root/dags}"
# the AUTOTEST page of the UI (plugins/autotest_plugin.py), served by the api-server
export AIRFLOW__CORE__PLUGINS_FOLDER="${AIRFLOW__CORE__PLUGINS_FOLDER:-$_root/plugins}"
export AIRFLOW__CORE__LOAD_EXAMPLES=False
export AIRFLOW__CORE__PARALLELISM="${AIRFLOW__CORE__PARALLELISM:-4}"
# one training task per core (the autotest_training pool): torch threads inside a task would only contend
export OMP_NUM_THREADS="${OMP_NUM_THREADS:-1}"
export AIRFLOW__DAG_PROCESSOR__REFRESH_INTERVAL="${AIRFLOW__DAG_PROCESSOR__REFRESH_INTERVAL:-30}"
export AIRFLOW__CORE__EXECUTION_API_SERVER_URL="${AIRFLOW__CORE__EXECUTION_API_SERVER_URL:-http://localhost:8080/execution/}"
mkdir -p "$AIRFLOW_HOME"
if [ -z "${AIRFLOW__API_AUTH__JWT_SECRET:-}" ]; then
  # one secret shared by every component of this home, kept across runs
  [ -s "$AIRFLOW_HOME/.jwt_secret" ] || python -c 'import secrets; print(secrets.token_hex(48))' > "$AIRFLOW_HOME/.jwt_secret"
  AIRFLOW__API_AUTH__JWT_SECRET="$(cat "$AIRFLOW_HOME/.jwt_secret")"
  export AIRFLOW__API_AUTH__JWT_SECRET
fi
unset _root
