# One Makefile for people and CI alike. `make help` lists the targets.
SHELL := /bin/bash
.DEFAULT_GOAL := help

UV := $(shell command -v uv 2>/dev/null || echo "python3 -m uv")
PYTHON := .venv/bin/python
MANAGE := $(PYTHON) app/manage.py
# Tests set every secret they use; this key only lets Django start under pytest.
TEST_ENV := SECRET_KEY=$${SECRET_KEY:-test-only-secret-key-that-is-not-used-anywhere-else}

# The container stack. COMPOSE_FILE picks the files, as docker compose itself reads it:
# COMPOSE_FILE=docker-compose.yml:docker-compose.prod.yml make up runs the production overlay.
COMPOSE ?= docker compose
UP_TIMEOUT_SECONDS ?= 300
GIT_REVISION ?= $(shell git rev-parse --short HEAD 2>/dev/null || echo dev)
CONTAINER_TESTS := $(if $(findstring docker-compose.prod.yml,$(COMPOSE_FILE)),containers_prod,containers)
SHELL_SCRIPTS := .ci/run $(wildcard .ci/with-docker .ci/offline-images .ci/containers) \
	$(wildcard scripts/*.sh deploy/*.sh .ci/images/*/*.sh)
DOCKERFILES := Dockerfile $(wildcard .ci/images/*/Dockerfile)
COMPOSE_FILES := docker-compose.yml docker-compose.prod.yml $(wildcard .ci/compose.ci.yml)
# Placeholders that let `config` check the production overlay; never used to run anything.
PROD_CHECK_ENV := SECRET_KEY=check ALLOWED_HOSTS=shop.example.com \
	CSRF_TRUSTED_ORIGINS=https://shop.example.com POSTGRES_PASSWORD=check \
	STRIPE_SECRET_KEY=sk_test_check STRIPE_WEBHOOK_SECRET=whsec_check TLS_CERT_DIR=/nonexistent

.PHONY: help install run test e2e lint fmt migrate shell reconcile \
	up down logs ps prod-config createsuperuser test-containers

help: ## List the targets
	@grep -E '^[a-z0-9-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  make %-16s %s\n", $$1, $$2}'

.venv/.synced: pyproject.toml uv.lock
	@command -v uv >/dev/null 2>&1 || python3 -m uv --version >/dev/null 2>&1 || python3 -m pip install --quiet uv
	$(UV) sync --frozen
	@touch $@

install: .venv/.synced ## Create the virtualenv with uv and install the locked dependencies

run: .venv/.synced ## Serve the shop on http://127.0.0.1:8000 (SQLite and the Stripe simulator unless .env says otherwise)
	./scripts/run-local.sh

test: .venv/.synced lint ## Lint, then run the test suite (PostgreSQL when DATABASE_URL points at it)
	@$(TEST_ENV) $(MANAGE) collectstatic --noinput --verbosity 0
	$(TEST_ENV) $(PYTHON) -m pytest -m "not browser and not containers and not containers_prod"

e2e: .venv/.synced ## Buy through a real browser (Chromium) against gunicorn and the simulator
	@$(TEST_ENV) $(MANAGE) collectstatic --noinput --verbosity 0
	$(TEST_ENV) $(PYTHON) -m pytest -m browser

lint: .venv/.synced ## Check the code and the infrastructure files (ruff, hadolint, shellcheck, compose, nginx)
	$(PYTHON) -m ruff check .
	$(PYTHON) -m ruff format --check .
	.venv/bin/hadolint --failure-threshold warning $(DOCKERFILES)
	.venv/bin/shellcheck $(SHELL_SCRIPTS)
	.venv/bin/docker-compose -f docker-compose.yml config --quiet
	$(PROD_CHECK_ENV) .venv/bin/docker-compose -f docker-compose.yml -f docker-compose.prod.yml config --quiet
	.venv/bin/check-jsonschema --builtin-schema vendor.compose-spec $(COMPOSE_FILES)
	./scripts/check-nginx.sh

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
	GIT_REVISION=$(GIT_REVISION) $(COMPOSE) up --build --detach --wait --wait-timeout $(UP_TIMEOUT_SECONDS)
	@echo "The shop is up: http://$$($(COMPOSE) port nginx 8080)"

down: ## Stop the container stack (the database volume is kept)
	$(COMPOSE) down --remove-orphans

logs: ## Show the stack's recent logs (ARGS=--follow to keep reading)
	$(COMPOSE) logs --tail=200 $(ARGS)

ps: ## List the stack's containers and their health
	$(COMPOSE) ps --all

prod-config: ## Print the merged production configuration (refuses while a required secret is missing)
	$(COMPOSE) -f docker-compose.yml -f docker-compose.prod.yml config

createsuperuser: ## Create an admin user inside the running stack
	$(COMPOSE) exec web python manage.py createsuperuser

test-containers: .venv/.synced ## Test the running stack through nginx, after make up (the overlay's own tests when COMPOSE_FILE names it)
	$(TEST_ENV) $(PYTHON) -m pytest -m $(CONTAINER_TESTS)
