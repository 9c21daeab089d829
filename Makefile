# One Makefile for people and CI alike. `make help` lists the targets.
SHELL := /bin/bash
.DEFAULT_GOAL := help

UV := $(shell command -v uv 2>/dev/null || echo "python3 -m uv")
PYTHON := .venv/bin/python
MANAGE := $(PYTHON) app/manage.py
# What the suite covers today, less a little: a change that drops below it fails `make test`.
COVERAGE_FLOOR := 93
WORKFLOWS := $(wildcard .github/workflows/*.yml)
AUDIT_REQUIREMENTS := var/audit-requirements.txt

# The container stack. COMPOSE_FILE picks the files, as docker compose itself reads it:
# COMPOSE_FILE=docker-compose.yml:docker-compose.prod.yml make up runs the production overlay.
COMPOSE ?= docker compose
UP_TIMEOUT_SECONDS ?= 300
# Secrets for the local stack and `make run` wherever .env leaves them empty: random, made once
# per checkout, git-ignored (docker-compose.yml and scripts/run-local.sh read LOCAL_*).
LOCAL_SECRETS := var/local-secrets.env
-include $(LOCAL_SECRETS)
export LOCAL_SECRET_KEY LOCAL_STRIPE_WEBHOOK_SECRET
# Web replicas behind the one nginx: WEB_REPLICAS=3 make up.
WEB_REPLICAS ?= 1
GIT_REVISION ?= $(shell git rev-parse --short HEAD 2>/dev/null || echo dev)
CONTAINER_TESTS := $(if $(findstring docker-compose.prod.yml,$(COMPOSE_FILE)),containers_prod,containers)
SHELL_SCRIPTS := .ci/run $(wildcard .ci/with-docker .ci/offline-images .ci/containers) \
	$(wildcard scripts/*.sh deploy/*.sh nginx/*.sh .ci/images/*/*.sh)
DOCKERFILES := Dockerfile $(wildcard .ci/images/*/Dockerfile)
COMPOSE_FILES := docker-compose.yml docker-compose.prod.yml $(wildcard .ci/compose.ci.yml)
# Placeholders that let `config` check the production overlay; never used to run anything.
PROD_CHECK_ENV := SECRET_KEY=check ALLOWED_HOSTS=shop.example.com \
	CSRF_TRUSTED_ORIGINS=https://shop.example.com POSTGRES_PASSWORD=check \
	STRIPE_SECRET_KEY=sk_test_check STRIPE_WEBHOOK_SECRET=whsec_check TLS_CERT_DIR=/nonexistent

.PHONY: help install run check test test-contract coverage-report e2e playwright-chromium \
	lint typecheck lint-workflows lint-infra lint-k8s audit fmt migrate shell reconcile \
	up down logs ps deploy rollback backup backups restore prod-config createsuperuser test-containers test-replicas test-stack bench

$(LOCAL_SECRETS):
	@./scripts/local-secrets.sh $@

help: ## List the targets
	@grep -hE '^[a-z0-9-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  make %-20s %s\n", $$1, $$2}'

.venv/.synced: pyproject.toml uv.lock
	@command -v uv >/dev/null 2>&1 || python3 -m uv --version >/dev/null 2>&1 || python3 -m pip install --quiet uv
	$(UV) sync --frozen
	@touch $@

install: .venv/.synced ## Create the virtualenv with uv and install the locked dependencies

run: .venv/.synced ## Serve the shop on http://127.0.0.1:8000 (SQLite and the Stripe simulator unless .env says otherwise)
	./scripts/run-local.sh

check: .venv/.synced ## Lint, then test: what `.ci/run` runs (as make lint and make test) before the browser and the containers
	@$(MAKE) --no-print-directory lint
	@$(MAKE) --no-print-directory test

test: .venv/.synced ## Run the test suite with coverage, without the linters (PostgreSQL when DATABASE_URL points at it)
	$(PYTHON) -m pytest -m "not browser and not containers and not containers_prod and not containers_replicas" \
		--cov --cov-report=term --cov-fail-under=$(COVERAGE_FLOOR)

# A benchmark, not a test: figures and ratios from one run, under 3 minutes. BENCH_ARGS="--grid
# 2x4,4x4" compares gunicorn workers x threads instead; BENCH_ARGS=--profile profiles the page;
# BENCH_ARGS="--compare [REV]" runs it on REV (the previous commit) and here, side by side.
bench: .venv/.synced ## Measure the storefront through nginx, gunicorn and PostgreSQL (needs nginx and wrk)
	$(PYTHON) -m bench $(BENCH_ARGS)

test-contract: .venv/.synced ## The gateway's real Stripe calls against STRIPE_API_BASE (the simulator when unset)
	$(PYTHON) -m pytest -m contract

coverage-report: .venv/.synced ## The last test run's coverage as a Markdown table
	@$(PYTHON) -m coverage report --format=markdown

e2e: .venv/.synced ## Buy through a real browser (Chromium) against gunicorn and the simulator
	PATH="$(CURDIR)/.venv/bin:$$PATH" $(PYTHON) -m pytest -m browser

# Where no distribution Chromium exists (GitHub's Ubuntu runners), Playwright's own build is
# linked into the virtualenv as `chromium`, which `make e2e` finds first on its PATH.
playwright-chromium: .venv/.synced ## Install Playwright's Chromium as `chromium` (for hosts without Debian's)
	$(PYTHON) -m playwright install --with-deps chromium
	ln -sf "$$($(PYTHON) scripts/playwright-chromium-path.py)" .venv/bin/chromium

# The README stays an evening's read; depth goes to docs/, deploy/, bench/ and .ci/ READMEs.
README_MAX_LINES := 200

lint: .venv/.synced ## Every static check: ruff, mypy, the workflows, the infrastructure files, the README's length
	@test "$$(wc -l < README.md)" -le $(README_MAX_LINES) || \
		{ echo "README.md is over $(README_MAX_LINES) lines: move the depth to docs/" >&2; exit 1; }
	$(PYTHON) -m ruff check .
	$(PYTHON) -m ruff format --check .
	@$(MAKE) --no-print-directory typecheck
	@$(MAKE) --no-print-directory lint-workflows
	@$(MAKE) --no-print-directory lint-infra
	@$(MAKE) --no-print-directory lint-k8s

typecheck: .venv/.synced ## Type-check app/ and stripe_sim/ with mypy and django-stubs
	$(PYTHON) -m mypy

lint-workflows: .venv/.synced ## Validate the GitHub workflows, dependabot and pre-commit configs
	.venv/bin/check-jsonschema --builtin-schema vendor.github-workflows $(WORKFLOWS)
	.venv/bin/check-jsonschema --builtin-schema vendor.dependabot .github/dependabot.yml
	.venv/bin/actionlint -shellcheck=.venv/bin/shellcheck $(WORKFLOWS)
	.venv/bin/zizmor --offline --min-severity=medium --collect=workflows,dependabot .
	.venv/bin/pre-commit validate-config .pre-commit-config.yaml

lint-infra: .venv/.synced ## Check the Dockerfiles, shell scripts, compose files and nginx config (needs nginx)
	.venv/bin/hadolint --failure-threshold warning $(DOCKERFILES)
	.venv/bin/shellcheck $(SHELL_SCRIPTS)
	.venv/bin/docker-compose -f docker-compose.yml config --quiet
	$(PROD_CHECK_ENV) .venv/bin/docker-compose -f docker-compose.yml -f docker-compose.prod.yml config --quiet
	.venv/bin/check-jsonschema --builtin-schema vendor.compose-spec $(COMPOSE_FILES)
	./scripts/check-nginx.sh

# kustomize's output, rendered without kustomize, against the Kubernetes API's schemas (the
# version is in the script); then checkov on it, offline: from its own locked virtualenv (it pins
# packaging<24, which pytest cannot share), without its update check or check metadata download.
lint-k8s: .venv/.synced ## Validate deploy/k8s against Kubernetes' schemas and scan it with checkov
	$(PYTHON) scripts/check-k8s.py deploy/k8s var/k8s-rendered
	UV_PROJECT_ENVIRONMENT=var/k8s-scan-venv $(UV) sync --frozen --only-group k8s-scan --quiet
	CKV_SKIP_PACKAGE_UPDATE_CHECK=true var/k8s-scan-venv/bin/checkov --quiet --compact \
		--skip-download --framework kubernetes --directory var/k8s-rendered

# Needs a vulnerability database (PyPI's JSON API), which CI on GitHub reaches; it refuses to
# pass when it could not check a package (--strict), so an unreachable database fails loudly.
audit: .venv/.synced ## Check every locked dependency for known vulnerabilities (pip-audit)
	$(UV) export --frozen --no-emit-project --quiet --output-file $(AUDIT_REQUIREMENTS)
	.venv/bin/pip-audit --strict --disable-pip --require-hashes --progress-spinner off \
		--requirement $(AUDIT_REQUIREMENTS)

fmt: .venv/.synced ## Fix what ruff can fix and format the code
	$(PYTHON) -m ruff check --fix .
	$(PYTHON) -m ruff format .

migrate: .venv/.synced ## Apply database migrations
	$(MANAGE) migrate

shell: .venv/.synced ## Open a Django shell
	$(MANAGE) shell

reconcile: .venv/.synced ## Settle pending orders whose webhook may have been lost
	$(MANAGE) reconcile_orders

up: ## Build the image, start the container stack, wait until it is healthy and print its URL
	GIT_REVISION=$(GIT_REVISION) $(COMPOSE) up --build --detach --wait --wait-timeout $(UP_TIMEOUT_SECONDS) \
		--scale web=$(WEB_REPLICAS)
	@echo "The shop is up: http://$$($(COMPOSE) port nginx 8080)"

down: ## Stop the container stack (the database volume is kept)
	$(COMPOSE) down --remove-orphans

logs: ## Show the stack's recent logs (ARGS=--follow to keep reading)
	$(COMPOSE) logs --tail=200 $(ARGS)

ps: ## List the stack's containers and their health
	$(COMPOSE) ps --all

deploy: ## Release the code to the running stack with no failed request (new replicas, then the old stopped)
	COMPOSE="$(COMPOSE)" GIT_REVISION=$(GIT_REVISION) UP_TIMEOUT_SECONDS=$(UP_TIMEOUT_SECONDS) \
		./scripts/deploy.sh

rollback: ## Serve the image the last make deploy replaced again, the same way (no build, no migration)
	COMPOSE="$(COMPOSE)" UP_TIMEOUT_SECONDS=$(UP_TIMEOUT_SECONDS) ./scripts/deploy.sh --rollback

backup: ## Dump the running stack's database into backups/ (pg_dump's custom format, named by UTC time)
	COMPOSE="$(COMPOSE)" ./scripts/backup.sh create

backups: ## List the dumps in backups/, oldest first
	./scripts/backup.sh list

restore: ## Put the newest dump (or BACKUP=<file>) back into the running stack; asks first unless YES=1
	COMPOSE="$(COMPOSE)" BACKUP="$(BACKUP)" YES="$(YES)" UP_TIMEOUT_SECONDS=$(UP_TIMEOUT_SECONDS) \
		./scripts/backup.sh restore

prod-config: ## Print the merged production configuration (refuses while a required secret is missing)
	$(COMPOSE) -f docker-compose.yml -f docker-compose.prod.yml config

createsuperuser: ## Create an admin user inside the running stack
	$(COMPOSE) exec web python manage.py createsuperuser

test-containers: .venv/.synced ## Test the running stack through nginx, after make up (the overlay's own tests when COMPOSE_FILE names it)
	$(PYTHON) -m pytest -m $(CONTAINER_TESTS)

test-replicas: .venv/.synced ## Test a running stack of several web replicas (after WEB_REPLICAS=3 make up)
	$(PYTHON) -m pytest -m containers_replicas -rP

test-stack: .venv/.synced ## Boot the local stack, then the production overlay, and test each (needs Docker; a compose project of its own, removed afterwards)
	./scripts/test-stack.sh
