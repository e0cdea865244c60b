# regflow: `make run` serves the embedded pipeline, `make test` runs the whole suite.
# Each bootstraps its own virtualenv in .venv.

PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STACK ?= regflow
REGION ?= $(or $(AWS_REGION),us-east-1)

.PHONY: run test test-fast lint format bench deploy destroy clean

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip

$(VENV)/.local-installed: pyproject.toml | $(BIN)/python
	$(BIN)/python -m pip install --quiet -e '.[local]'
	touch $@

$(VENV)/.dev-installed: pyproject.toml | $(BIN)/python
	$(BIN)/python -m pip install --quiet -e '.[dev]'
	touch $@ $(VENV)/.local-installed

run: $(VENV)/.local-installed
	$(BIN)/regflow serve

test: $(VENV)/.dev-installed
	$(BIN)/python -m pytest

test-fast: $(VENV)/.dev-installed
	$(BIN)/python -m pytest -m "not browser and not slow"

lint: $(VENV)/.dev-installed
	$(BIN)/ruff check src tests bench
	$(BIN)/ruff format --check src tests bench
	$(BIN)/mypy

format: $(VENV)/.dev-installed
	$(BIN)/ruff format src tests bench
	$(BIN)/ruff check --fix src tests bench

# The benchmark suite (issue 5): results in bench/results/latest.md and .json (< 10 min).
bench: $(VENV)/.dev-installed
	$(BIN)/python -m bench.run

# AWS: `make deploy SENDER_EMAIL=... OWNER_EMAIL=...` (see README, "Deploy to AWS").
deploy: $(VENV)/.dev-installed
	STACK=$(STACK) REGION=$(REGION) deploy/deploy.sh

destroy: $(VENV)/.dev-installed
	STACK=$(STACK) REGION=$(REGION) deploy/destroy.sh

clean:
	rm -rf $(VENV) .regflow .aws-sam build test-artifacts .pytest_cache .mypy_cache
