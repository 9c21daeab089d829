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

.PHONY: help run test test-contract coverage-report lint typecheck lint-workflows audit fmt e2e \
	playwright-chromium migrate shell reconcile install

help: ## List the targets
	@grep -E '^[a-z0-9-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  make %-20s %s\n", $$1, $$2}'

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

coverage-report: .venv/.synced ## The last test run's coverage as a Markdown table
	@$(PYTHON) -m coverage report --format=markdown

e2e: .venv/.synced ## Buy through a real browser (Chromium) against gunicorn and the simulator
	PATH="$(CURDIR)/.venv/bin:$$PATH" $(PYTHON) -m pytest -m browser

# Where no distribution Chromium exists (GitHub's Ubuntu runners), Playwright's own build is
# linked into the virtualenv as `chromium`, which `make e2e` finds first on its PATH.
playwright-chromium: .venv/.synced ## Install Playwright's Chromium as `chromium` (for hosts without Debian's)
	$(PYTHON) -m playwright install --with-deps chromium
	ln -sf "$$($(PYTHON) scripts/playwright-chromium-path.py)" .venv/bin/chromium

lint: .venv/.synced ## Every static check: ruff, mypy, the workflow files
	$(PYTHON) -m ruff check .
	$(PYTHON) -m ruff format --check .
	@$(MAKE) --no-print-directory typecheck
	@$(MAKE) --no-print-directory lint-workflows

typecheck: .venv/.synced ## Type-check app/ and stripe_sim/ with mypy and django-stubs
	$(PYTHON) -m mypy

lint-workflows: .venv/.synced ## Validate the GitHub workflows, dependabot and pre-commit configs
	.venv/bin/check-jsonschema --builtin-schema vendor.github-workflows $(WORKFLOWS)
	.venv/bin/check-jsonschema --builtin-schema vendor.dependabot .github/dependabot.yml
	.venv/bin/actionlint -shellcheck=.venv/bin/shellcheck $(WORKFLOWS)
	.venv/bin/zizmor --offline --min-severity=medium --collect=workflows,dependabot .
	.venv/bin/pre-commit validate-config .pre-commit-config.yaml

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
