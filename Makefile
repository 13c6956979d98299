# The two commands of the README contract: `make run` and `make test`. Both set themselves up.
SHELL := /bin/bash
PYTHON ?= $(shell command -v python3.11 || command -v python3)
VENV ?= .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed-$(shell cat requirements.txt requirements-dev.txt pyproject.toml | cksum | cut -d' ' -f1)
PRESET ?= demo
DATE ?= 2024-09-08

.PHONY: setup run test lint bench backfill-demo cluster cluster-stop clean

$(STAMP): requirements.txt requirements-dev.txt pyproject.toml
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --disable-pip-version-check -r requirements-dev.txt
	$(BIN)/pip install --quiet --disable-pip-version-check --no-deps --no-build-isolation -e .
	@rm -f $(VENV)/.installed-*; touch $@

setup: $(STAMP)

## run: the weekly DAG once, in-process, on embedded defaults (SQLite lineage, bundled prices, demo preset)
run: setup
	PATH="$(abspath $(BIN)):$$PATH" scripts/run_demo.sh "$(DATE)" "$(PRESET)"

## test: the whole suite (unit, PostgreSQL integration, DAG end to end, compose); starts PostgreSQL if down
test: setup
	PATH="$(abspath $(BIN)):$$PATH" scripts/test.sh

## lint: ruff (lint and format) and mypy (types of autotest_lib and dags; settings in pyproject.toml)
lint: setup
	$(BIN)/ruff check autotest_lib dags plugins tests bench scripts
	$(BIN)/ruff format --check autotest_lib dags plugins tests bench scripts
	$(BIN)/mypy

## bench: throughput/memory figures and the learning curve of the preset's PPO defaults
bench: setup
	$(BIN)/python bench/throughput.py
	$(BIN)/python bench/learning_curve.py

## backfill-demo: 3 demo weeks through a local scheduler + api-server, then the lineage (generations 1 -> 2 -> 3)
backfill-demo: setup
	PATH="$(abspath $(BIN)):$$PATH" scripts/backfill_demo.sh

## cluster: the CeleryExecutor deployment on this host (api-server, scheduler, dag-processor, triggerer, N workers)
## settings from the environment, e.g. make cluster AUTOTEST_CLUSTER_WORKERS=4 AUTOTEST_API_PORT=8081 (docs/DEPLOY.md)
cluster: setup
	PATH="$(abspath $(BIN)):$$PATH" scripts/cluster.sh start

cluster-stop:
	PATH="$(abspath $(BIN)):$$PATH" scripts/cluster.sh stop

clean:
	rm -rf var .pytest_cache
