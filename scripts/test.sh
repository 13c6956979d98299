#!/usr/bin/env bash
# Run pytest against a real PostgreSQL: start the local server if it is down, create a fresh database.
# Extra arguments go to pytest. AUTOTEST_TEST_PG_URL may point at another server (database must exist).
set -euo pipefail
cd "$(dirname "$0")/.."

if [ -z "${AUTOTEST_TEST_PG_URL:-}" ]; then
  if ! pg_isready -h 127.0.0.1 -p 5432 -q 2>/dev/null; then
    echo "test.sh: PostgreSQL is not answering on 127.0.0.1:5432; starting it" >&2
    if ls /etc/postgresql >/dev/null 2>&1; then
      pg_ctlcluster --skip-systemctl-redirect "$(ls /etc/postgresql | head -n1)" main start || true
    fi
    for _ in $(seq 1 30); do pg_isready -h 127.0.0.1 -p 5432 -q && break; sleep 1; done
  fi
  pg_isready -h 127.0.0.1 -p 5432 -q || { echo "test.sh: PostgreSQL did not start; set AUTOTEST_TEST_PG_URL" >&2; exit 2; }
  db="autotest_test_$$_$(date +%s)"
  psql -h 127.0.0.1 -U postgres -d postgres -qc "CREATE DATABASE $db" >/dev/null
  trap 'psql -h 127.0.0.1 -U postgres -d postgres -qc "DROP DATABASE IF EXISTS $db WITH (FORCE)" >/dev/null 2>&1 || true' EXIT
  export AUTOTEST_TEST_PG_URL="postgresql+psycopg2://postgres@127.0.0.1:5432/$db"
fi

# the Celery cluster test needs Redis on 127.0.0.1:6379 (its broker); start it like the machine does if it is down
if command -v redis-cli >/dev/null 2>&1 && ! redis-cli -h 127.0.0.1 -p 6379 ping >/dev/null 2>&1; then
  echo "test.sh: Redis is not answering on 127.0.0.1:6379; starting it" >&2
  mkdir -p /var/lib/redis /var/log/redis 2>/dev/null || true
  redis-server --daemonize yes --bind 127.0.0.1 --port 6379 --save "" --appendonly no --dir /var/lib/redis \
    --logfile /var/log/redis/ci.log || true
  for _ in $(seq 1 20); do redis-cli -h 127.0.0.1 -p 6379 ping >/dev/null 2>&1 && break; sleep 0.5; done
fi

export AIRFLOW__CORE__LOAD_EXAMPLES=False
export PYTHONHASHSEED=0
# tiny test networks: torch's intra-op threads only contend with each other (one PBT dags test: 71 s -> 17 s)
export OMP_NUM_THREADS="${OMP_NUM_THREADS:-1}"
# the project's venv unless a Python is named (make puts .venv/bin first on PATH anyway)
PY="${PYTHON:-$( [ -x .venv/bin/python ] && echo .venv/bin/python || echo python )}"
export PATH="$(dirname "$(command -v "$PY")"):$PATH"
"$PY" -m pytest "$@"
