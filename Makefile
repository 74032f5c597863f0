# burst-compute: `make run` runs the example job on a local AWS endpoint; `make test` runs every test.
SHELL := /bin/bash
.DEFAULT_GOAL := help

# Python 3.12, the Lambda runtime's version (pyenv installs are found too); override with PYTHON=...
# (a pyenv shim may exist without working, so each candidate must run)
PYTHON ?= $(shell for p in python3.12 $$HOME/.pyenv/versions/3.12*/bin/python3.12; do \
            $$p -c 'import sys; assert sys.version_info[:2] == (3, 12)' >/dev/null 2>&1 \
            && { command -v $$p; break; }; done)
VENV := .venv
BIN := $(abspath $(VENV))/bin
export PATH := $(BIN):$(PATH)
export SLS_TELEMETRY_DISABLED := 1
export BURST_PYTHON := $(BIN)/python
PYTEST_ARGS ?=

.PHONY: help setup lint typecheck test test-fast run bench lock clean

help:
	@echo "make run    - set up, start the local AWS endpoint, deploy, run the example job, stop"
	@echo "make test   - set up and run linters, type checker and the whole test suite"
	@echo "make bench  - run the benchmarks (results in bench/results/)"

$(VENV)/.installed: requirements.txt requirements-dev.txt constraints.txt pyproject.toml
	@if [ -z "$(PYTHON)" ]; then \
	  echo "error: Python 3.12 not found (the Lambda runtime's version). Install it or run make PYTHON=/path/to/python3.12" >&2; \
	  exit 2; fi
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -c constraints.txt -r requirements-dev.txt
	$(BIN)/python -m pip install --quiet --no-deps -e .
	@touch $@

node_modules/.installed: package.json package-lock.json
	@command -v npm >/dev/null || { echo "error: npm not found: install Node.js 20 or later" >&2; exit 2; }
	npm ci --no-audit --no-fund --loglevel=error
	@touch $@

setup: $(VENV)/.installed node_modules/.installed

lint: setup
	ruff check burst_core handlers burst_client tests examples bench
	ruff format --check burst_core handlers burst_client tests examples bench

typecheck: setup
	mypy burst_core handlers burst_client bench

test: setup lint typecheck
	python -m pytest -q $(PYTEST_ARGS)

run: setup
	python -m burst_client.demo

bench: setup
	python -m pip install --quiet -c constraints.txt -r requirements-bench.txt
	python -m bench

lock: setup
	python -m pip install --quiet -r requirements-bench.txt
	python -m pip freeze --exclude-editable | grep -v '^-e' > constraints.txt

clean:
	rm -rf $(VENV) node_modules .serverless .mypy_cache .ruff_cache .pytest_cache
