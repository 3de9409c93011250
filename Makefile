# AI Factory: `make demo` runs the whole factory headless; `make test` runs the test suite.
SHELL := /bin/bash
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin

export FACTORY_HOME ?= $(CURDIR)/.factory
export FACTORY_DATA ?= $(CURDIR)/factory-data
export DAGSTER_HOME ?= $(FACTORY_HOME)/dagster
export MLFLOW_DISABLE_TELEMETRY := true
export GX_ANALYTICS_ENABLED := False
export DAGSTER_DISABLE_TELEMETRY := true

.PHONY: demo test ui lint bench reset install lock lock-upgrade dagster-home system-deps bench-drift-env bench-drift

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet uv || echo "uv unavailable: installing with pip"

# The pinned, hash-checked versions of requirements.lock first, then the factory itself (editable, built with the
# locked setuptools), so a fresh clone runs what the tests ran.
$(VENV)/.installed: pyproject.toml requirements.lock | $(BIN)/python
	if [ -x $(BIN)/uv ]; then \
		$(BIN)/uv pip install --quiet --python $(BIN)/python --require-hashes -r requirements.lock && \
		$(BIN)/uv pip install --quiet --python $(BIN)/python --no-deps --no-build-isolation -e .; \
	else \
		$(BIN)/pip install --quiet --require-hashes -r requirements.lock && \
		$(BIN)/pip install --quiet --no-deps --no-build-isolation -e .; \
	fi
	touch $@

install: $(VENV)/.installed

# Re-resolve requirements.lock from pyproject.toml: `make lock` keeps the current pins where they still fit (after
# editing the dependencies), `make lock-upgrade` moves every pin to the newest version allowed. Then `make test`.
LOCK := $(BIN)/uv pip compile pyproject.toml --extra dev --universal --python-version 3.11 --generate-hashes --no-strip-extras \
	--quiet -o requirements.lock

lock: | $(BIN)/python
	$(LOCK)

lock-upgrade: | $(BIN)/python
	$(LOCK) --upgrade

dagster-home:
	mkdir -p "$(DAGSTER_HOME)"
	ln -sf "$(CURDIR)/dagster.yaml" "$(DAGSTER_HOME)/dagster.yaml"

demo: install dagster-home  ## run every layer of every use case headless and print a summary
	$(BIN)/factory demo

# Tests start a throwaway PostgreSQL server and drive Chromium from Debian's packages; install them when missing.
system-deps:
	@missing=""; lean=""; \
	ls /usr/lib/postgresql/*/bin/initdb >/dev/null 2>&1 || missing="$$missing postgresql"; \
	command -v chromium >/dev/null 2>&1 || missing="$$missing chromium"; \
	command -v docker-compose >/dev/null 2>&1 || lean="docker-compose"; \
	if [ -n "$$missing$$lean" ]; then \
		echo "installing Debian packages the tests use:$$missing $$lean (PostgreSQL for the source and stack tests,"; \
		echo "Chromium for the browser test, the docker-compose validator for the deploy files: no Docker engine)"; \
		SUDO=$$( [ "$$(id -u)" = 0 ] || echo sudo ); \
		$$SUDO apt-get update -qq; \
		export DEBIAN_FRONTEND=noninteractive; \
		[ -z "$$missing" ] || $$SUDO apt-get install -y -qq $$missing >/dev/null || exit 1; \
		[ -z "$$lean" ] || $$SUDO apt-get install -y -qq --no-install-recommends $$lean >/dev/null || exit 1; \
	fi

test: install system-deps  ## the whole test suite
	$(BIN)/pytest

ui: install dagster-home  ## the Dagster UI on http://127.0.0.1:3000
	$(BIN)/dagster dev -w workspace.yaml -h 127.0.0.1 -p 3000

# The service topology without Docker (what docker-compose runs): PostgreSQL from Debian's packages, an MLflow tracking
# server on it, a Dagster code server, webserver and daemon on the Postgres instance of deploy/dagster.yaml, all on
# 127.0.0.1. Prints the URLs and the environment a client needs; Ctrl-C stops every service. Ports: STACK_ARGS, e.g.
# STACK_ARGS="--webserver-port 3001" (see `python -m factory.stack --help`). Its state (Postgres, MLflow artifacts, the
# factory's warehouse and versions) lives in STACK_HOME, which `make reset` deletes with the rest of FACTORY_HOME.
STACK_HOME ?= $(FACTORY_HOME)/stack
.PHONY: stack
stack: install system-deps  ## Postgres, MLflow server, Dagster code server, webserver and daemon, no Docker
	$(BIN)/python -m factory.stack --state "$(STACK_HOME)" $(STACK_ARGS)

lint: install
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy

# bench/drift.py compares our drift report with Evidently 0.7, which needs pandas < 3 while the factory runs pandas 3:
# Evidently gets an environment of its own (git-ignored), which the benchmark runs as a subprocess.
EVIDENTLY_VENV := bench/.venv-evidently

$(EVIDENTLY_VENV)/.installed:
	$(PYTHON) -m venv $(EVIDENTLY_VENV)
	$(EVIDENTLY_VENV)/bin/pip install --quiet "evidently==0.7.23" "pandas<3" pyarrow
	touch $@

bench-drift-env: $(EVIDENTLY_VENV)/.installed  ## Evidently's environment for bench/drift.py

bench-drift: install bench-drift-env  ## our drift report against Evidently's DataDriftPreset, 1,000,000 rows (~15 min)
	$(BIN)/python bench/drift.py

reset:  ## forget all state (FACTORY_HOME): warehouse, versions, MLflow store, Dagster history; keeps FACTORY_DATA
	rm -rf "$(FACTORY_HOME)"
	@echo "deleted $(FACTORY_HOME): warehouse, dataset versions, MLflow runs and models, Dagster runs, review tasks, reports"
	@echo "kept $(FACTORY_DATA): the inputs (drop folders, annotation and feedback inboxes, gold files)"
