# One Makefile for people and CI alike. `make help` lists the targets.
SHELL := /bin/bash
.DEFAULT_GOAL := help

UV := $(shell command -v uv 2>/dev/null || echo "python3 -m uv")
PYTHON := .venv/bin/python
MANAGE := $(PYTHON) app/manage.py
# collectstatic runs the production settings, which need a key; tests set every other secret.
TEST_ENV := SECRET_KEY=$${SECRET_KEY:-test-only-secret-key-that-is-not-used-anywhere-else}
# What the suite covers today, less a little: a change that drops below it fails `make test`.
COVERAGE_FLOOR := 93

.PHONY: help run test test-contract lint typecheck fmt e2e migrate shell reconcile install

help: ## List the targets
	@grep -E '^[a-z0-9-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  make %-10s %s\n", $$1, $$2}'

.venv/.synced: pyproject.toml uv.lock
	@command -v uv >/dev/null 2>&1 || python3 -m uv --version >/dev/null 2>&1 || python3 -m pip install --quiet uv
	$(UV) sync --frozen
	@touch $@

install: .venv/.synced ## Create the virtualenv with uv and install the locked dependencies

run: .venv/.synced ## Serve the shop on http://127.0.0.1:8000 (SQLite and the Stripe simulator unless .env says otherwise)
	./scripts/run-local.sh

test: .venv/.synced lint ## Lint, then run the test suite with coverage (PostgreSQL when DATABASE_URL points at it)
	$(PYTHON) -m pytest -m "not browser" --cov --cov-report=term --cov-fail-under=$(COVERAGE_FLOOR)

test-contract: .venv/.synced ## The gateway's real Stripe calls against STRIPE_API_BASE (the simulator when unset)
	$(PYTHON) -m pytest -m contract

e2e: .venv/.synced ## Buy through a real browser (Chromium) against gunicorn and the simulator
	@$(TEST_ENV) $(MANAGE) collectstatic --noinput --verbosity 0
	$(PYTHON) -m pytest -m browser

lint: .venv/.synced ## Every static check: ruff, mypy
	$(PYTHON) -m ruff check .
	$(PYTHON) -m ruff format --check .
	@$(MAKE) --no-print-directory typecheck

typecheck: .venv/.synced ## Type-check app/ and stripe_sim/ with mypy and django-stubs
	$(PYTHON) -m mypy

fmt: .venv/.synced ## Fix what ruff can fix and format the code
	$(PYTHON) -m ruff check --fix .
	$(PYTHON) -m ruff format .

migrate: .venv/.synced ## Apply database migrations
	$(MANAGE) migrate

shell: .venv/.synced ## Open a Django shell
	$(MANAGE) shell

reconcile: .venv/.synced ## Settle pending orders whose webhook may have been lost
	$(MANAGE) reconcile_orders
