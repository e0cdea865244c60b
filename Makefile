# regflow: `make run` serves the embedded pipeline, `make test` runs the whole suite.
# Each bootstraps its own virtualenv in .venv. The deploy tools (the SAM CLI) live apart, in
# .venv-deploy, created by the targets that need them (deploy, destroy, lint-template).

PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
DEPLOY_VENV := .venv-deploy
SAM := $(DEPLOY_VENV)/bin/sam
STACK ?= regflow
# Empty: deploy/deploy.sh takes AWS_REGION, else AWS_DEFAULT_REGION, else the profile's region.
REGION ?= $(AWS_REGION)

.PHONY: run run-postgres build smoke-wheel test-container test test-fast lint lint-template format bench docs docs-build deploy-tools deploy smoke destroy clean delete-local-data

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip

$(VENV)/.local-installed: pyproject.toml src/regflow/__init__.py | $(BIN)/python
	$(BIN)/python -m pip install --quiet -e '.[local]'
	touch $@

$(VENV)/.dev-installed: pyproject.toml src/regflow/__init__.py | $(BIN)/python
	$(BIN)/python -m pip install --quiet -e '.[dev]'
	touch $@ $(VENV)/.local-installed $(VENV)/.postgres-installed

$(DEPLOY_VENV)/.installed: deploy/requirements.txt
	$(PYTHON) -m venv $(DEPLOY_VENV)
	$(DEPLOY_VENV)/bin/python -m pip install --quiet --upgrade pip
	$(DEPLOY_VENV)/bin/python -m pip install --quiet -r deploy/requirements.txt
	touch $@

deploy-tools: $(DEPLOY_VENV)/.installed

# A checkout keeps its data in ./.regflow (an installed regflow: the per-user data directory,
# docs/configuration.md); REGFLOW_DATA_DIR set in the environment wins.
run: $(VENV)/.local-installed
	REGFLOW_DATA_DIR=$${REGFLOW_DATA_DIR:-.regflow} $(BIN)/regflow serve

# Two replicas on one local PostgreSQL cluster (Debian's postgresql; docs/getting-started.md,
# "Running on PostgreSQL") on ports 8010 and 8011. Installs only what it runs: regflow with the
# local and postgres extras, not the development tools.
$(VENV)/.postgres-installed: pyproject.toml src/regflow/__init__.py | $(BIN)/python
	$(BIN)/python -m pip install --quiet -e '.[local,postgres]'
	touch $@ $(VENV)/.local-installed

run-postgres: $(VENV)/.postgres-installed
	tools/run-postgres.sh

# The release artifacts: the sdist and the wheel in dist/ (`python -m build`), their metadata
# checked (`twine check`).
build: $(VENV)/.dev-installed
	rm -rf dist
	$(BIN)/python -m build --outdir dist .
	$(BIN)/python -m twine check --strict dist/*

# build, then install the wheel into a fresh virtualenv outside the clone and drive a sign-up
# through the installed `regflow serve` (CI runs it before the suite).
smoke-wheel: $(VENV)/.dev-installed
	tools/smoke-wheel.sh

# The container image (Containerfile) built from the wheel on a base made here, run, and a
# sign-up driven through it (CI runs it after the suite; needs podman, buildah, mmdebstrap and
# runc, a few minutes).
test-container: $(VENV)/.dev-installed
	tools/test-container.sh

test: $(VENV)/.dev-installed
	$(BIN)/python -m pytest

test-fast: $(VENV)/.dev-installed
	$(BIN)/python -m pytest -m "not browser and not slow"

lint: $(VENV)/.dev-installed
	$(BIN)/ruff check src tests bench
	$(BIN)/ruff format --check src tests bench
	$(BIN)/mypy
	NO_MKDOCS_2_WARNING=1 $(BIN)/mkdocs build --strict --quiet --site-dir build/site

# template.yaml through the SAM CLI's linter and cfn-lint, offline (CI runs this too).
lint-template: $(VENV)/.dev-installed $(DEPLOY_VENV)/.installed
	SAM_CLI_TELEMETRY=0 AWS_DEFAULT_REGION=$(or $(REGION),us-east-1) $(SAM) validate --lint --template template.yaml
	$(BIN)/cfn-lint template.yaml

format: $(VENV)/.dev-installed
	$(BIN)/ruff format src tests bench
	$(BIN)/ruff check --fix src tests bench

# The benchmark suite: results in bench/results/latest.md and .json (< 10 min); the docs'
# Performance page shows latest.md.
bench: $(VENV)/.dev-installed
	$(BIN)/python -m bench.run

# The documentation site (MkDocs, Material theme): `make docs` serves it on
# http://127.0.0.1:8001/ and rebuilds on every change; `make docs-build` builds it into
# build/site and fails on any warning (a broken link or anchor), as CI does in `make lint`.
docs: $(VENV)/.dev-installed
	NO_MKDOCS_2_WARNING=1 $(BIN)/mkdocs serve --dev-addr 127.0.0.1:8001

docs-build: $(VENV)/.dev-installed
	NO_MKDOCS_2_WARNING=1 $(BIN)/mkdocs build --strict --site-dir build/site

# AWS: `make deploy SENDER_EMAIL=... OWNER_EMAIL=...` (see docs/aws.md, "Deploy").
deploy: $(VENV)/.local-installed $(DEPLOY_VENV)/.installed
	STACK=$(STACK) REGION=$(REGION) SAM=$(SAM) deploy/deploy.sh

# After a deploy: register, confirm and check the stack through its public URL with SES's
# mailbox simulator (docs/aws.md, last step); your AWS credentials.
smoke: $(VENV)/.local-installed
	$(BIN)/regflow smoke --stack $(STACK) $(if $(REGION),--region $(REGION))

destroy: $(VENV)/.local-installed $(DEPLOY_VENV)/.installed
	STACK=$(STACK) REGION=$(REGION) SAM=$(SAM) deploy/destroy.sh

# Build and test leftovers only: never the data (.regflow holds the database, the signing key
# and the mailbox; .regflow-pg the local PostgreSQL cluster of `make run-postgres`, which as
# root is in /var/tmp: `tools/run-postgres.sh --cluster-dir`).
clean:
	rm -rf $(VENV) $(DEPLOY_VENV) .aws-sam build dist test-artifacts .pytest_cache .mypy_cache

# Deletes every registration, the signing key (every link sent so far stops working) and the
# local mailbox. Asks first; `make delete-local-data CONFIRM=yes` does not ask.
delete-local-data:
	@if [ "$(CONFIRM)" != "yes" ]; then \
	  printf 'This deletes .regflow and the local PostgreSQL cluster: every registration, the signing key and the mailbox. Type yes: '; \
	  read answer; [ "$$answer" = yes ] || { echo "nothing deleted"; exit 1; }; \
	fi
	rm -rf .regflow .regflow-pg
	if [ -x tools/run-postgres.sh ]; then rm -rf "$$(tools/run-postgres.sh --cluster-dir)"; fi
