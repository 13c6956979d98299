# AUTOTEST image: Airflow 3.3 + autotest_lib + the DAGs, one image for every Airflow component.
# Built by docker-compose.yaml (`docker compose build`); see docs/DEPLOY.md.
FROM python:3.11-slim

# CPU-only torch: requirements.txt pins torch==2.13.0, and this index serves 2.13.0+cpu (which satisfies the
# pin); from PyPI alone pip would pull the multi-GB CUDA build.
ARG TORCH_INDEX_URL=https://download.pytorch.org/whl/cpu
ARG AIRFLOW_UID=50000

ENV PYTHONUNBUFFERED=1 \
    PYTHONDONTWRITEBYTECODE=1 \
    PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    AIRFLOW_HOME=/opt/airflow \
    AIRFLOW__CORE__DAGS_FOLDER=/opt/autotest/dags \
    AIRFLOW__CORE__PLUGINS_FOLDER=/opt/autotest/plugins \
    AIRFLOW__CORE__LOAD_EXAMPLES=False \
    AUTOTEST_INCLUDE_DIR=/opt/autotest/include \
    AUTOTEST_HOME=/data/autotest \
    AUTOTEST_PRICE_CACHE=/data/autotest/cache/yfinance

# Dependencies first, so a code change does not reinstall torch and Airflow.
COPY requirements.txt /tmp/requirements.txt
RUN pip install --extra-index-url "${TORCH_INDEX_URL}" -r /tmp/requirements.txt \
 && python -c "import torch, sys; sys.exit(f'CUDA torch was installed: {torch.__version__}' if torch.version.cuda else 0)"

# The project: library (editable install, so include/ stays next to it), DAGs, the UI plugin (the AUTOTEST
# page the api-server serves), configs and bundled prices.
WORKDIR /opt/autotest
COPY pyproject.toml README.md ./
COPY autotest_lib ./autotest_lib
COPY include ./include
COPY dags ./dags
COPY plugins ./plugins
RUN pip install --no-deps -e . \
 && python -c "import autotest_lib, airflow.providers.postgres" \
 && AIRFLOW__CORE__EXECUTOR=CeleryExecutor python -c "from airflow.executors.executor_loader import ExecutorLoader; \
ExecutorLoader.import_default_executor_cls()"
# ^ loads the executor class itself: importing airflow.providers.celery alone passed with celery 5.7, whose
#   missing celery.backends.database.retry only broke the scheduler and workers at start.

# Non-root user; group 0 so the image also runs under an arbitrary uid. The directories below are where the
# compose file mounts its named volumes: Docker copies their ownership into a fresh volume.
RUN useradd --uid "${AIRFLOW_UID}" --gid 0 --home-dir /home/airflow --create-home --shell /bin/bash airflow \
 && mkdir -p "${AIRFLOW_HOME}/logs" "${AIRFLOW_HOME}/auth" "${AUTOTEST_HOME}" \
 && chown -R "${AIRFLOW_UID}:0" "${AIRFLOW_HOME}" "${AUTOTEST_HOME}" \
 && chmod -R g+rwX "${AIRFLOW_HOME}" "${AUTOTEST_HOME}"

USER ${AIRFLOW_UID}
WORKDIR ${AIRFLOW_HOME}
EXPOSE 8080 8793
CMD ["airflow", "version"]
