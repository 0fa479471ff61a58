# Two commands for users: `make run` (a single-node chain) and `make test` (lint + the whole suite).
# Every target installs what it needs and skips what is already there.
SHELL := /bin/bash
PY ?= python3
VENV := .venv
BIN := $(VENV)/bin
HOME_DIR ?= .run/node

.PHONY: run test lint build venv cometbft toxiproxy protos localnet clean format bench clients swagger-ui promtool

build: venv cometbft toxiproxy protos swagger-ui

# Swagger UI's assets for the REST gateway's /swagger/ page (abci_app/rest/server.py), pinned by
# abci_app/rest/ui/package-lock.json; reinstalled only when the lock changes. Without npm the page
# answers that its assets are missing; the API itself does not need them.
SWAGGER_UI := abci_app/rest/ui/node_modules/.package-lock.json

$(SWAGGER_UI): abci_app/rest/ui/package-lock.json abci_app/rest/ui/package.json
	@if command -v npm >/dev/null; then \
	  echo "==> npm ci in abci_app/rest/ui (swagger-ui-dist, pinned by package-lock.json)"; \
	  cd abci_app/rest/ui && npm ci --ignore-scripts --no-audit --no-fund --loglevel=error; \
	else echo "==> npm not found: the REST gateway's /swagger/ page will have no assets"; fi

swagger-ui: $(SWAGGER_UI)

$(BIN)/.installed: pyproject.toml
	@echo "==> creating virtualenv $(VENV) and installing pinned dependencies"
	@test -x $(BIN)/python || $(PY) -m venv $(VENV)
	@$(BIN)/pip install --quiet --upgrade pip
	@$(BIN)/pip install --quiet -e '.[dev]'
	@site=$$($(BIN)/python -c 'import sysconfig; print(sysconfig.get_paths()["purelib"])'); \
	  echo "$(CURDIR)/gen" > "$$site/taskmaster_gen.pth"
	@touch $@

venv: $(BIN)/.installed

cometbft:
	@bash scripts/install-cometbft.sh

toxiproxy:  # latency between the multi-host chain's validators where the kernel has no netem
	@bash scripts/install-toxiproxy.sh

protos: venv
	@$(BIN)/python scripts/protos.py

run: build
	@$(BIN)/taskmaster run-dev --home $(HOME_DIR)

lint: build
	@echo "==> ruff check, ruff format --check, mypy"
	@$(BIN)/ruff check abci_app devtools tests benchmarks scripts
	@$(BIN)/ruff format --check abci_app devtools tests benchmarks scripts
	@$(BIN)/mypy

# The standard clients the suite drives against a node (tests/integration/test_cosmos_clients.py):
# cosmpy in its own virtualenv (it needs protobuf<6 and ships its own cosmos.* stubs), cosmjs from
# tests/js's lock file. Each is reinstalled only when its pin file changes; without Node the cosmjs
# test is skipped, saying so.
COSMPY_VENV := .venv-cosmpy

$(COSMPY_VENV)/.installed: tests/clients/cosmpy-requirements.txt
	@echo "==> installing cosmpy (pinned) into $(COSMPY_VENV)"
	@test -x $(COSMPY_VENV)/bin/python || $(PY) -m venv $(COSMPY_VENV)
	@$(COSMPY_VENV)/bin/pip install --quiet -r tests/clients/cosmpy-requirements.txt
	@touch $@

tests/js/node_modules/.package-lock.json: tests/js/package-lock.json tests/js/package.json
	@if command -v npm >/dev/null; then \
	  echo "==> npm ci in tests/js (cosmjs, pinned by package-lock.json)"; \
	  cd tests/js && npm ci --ignore-scripts --no-audit --no-fund --loglevel=error; \
	else echo "==> npm not found: the cosmjs test will be skipped"; fi

clients: $(COSMPY_VENV)/.installed tests/js/node_modules/.package-lock.json

# promtool checks and unit-tests deploy/prometheus/alerts.yml (tests/unit/test_ops_deploy.py); it comes
# with Debian's prometheus package (apt-get needs root, as in CI); without it those tests are skipped.
promtool:
	@command -v promtool >/dev/null || { echo "==> apt-get update && apt-get install prometheus (for promtool)"; \
	  apt-get update -qq >/dev/null; \
	  DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends prometheus >/dev/null \
	  || echo "==> promtool could not be installed: the alert rule tests will be skipped"; }

test: build lint clients promtool
	@echo "==> pytest (unit, property, integration against real CometBFT processes), 2 workers: the chains run"
	@echo "    one at a time in one worker (tests/conftest.py), the CPU-bound tests in the other"
	@$(BIN)/python -m pytest -n 2 --dist loadgroup

format: venv
	@$(BIN)/ruff format abci_app devtools tests benchmarks scripts
	@$(BIN)/ruff check --fix abci_app devtools tests benchmarks scripts

localnet: build
	@bash scripts/localnet.sh up

clean:
	rm -rf gen .run .localnet $(COSMPY_VENV) tests/js/node_modules abci_app/rest/ui/node_modules
