# The README's two commands: `make demo` and `make test`. Both install what is missing first.
SHELL := /bin/bash
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
FORGE := node_modules/@foundry-rs/forge-linux-amd64/bin/forge

.PHONY: setup build demo test lint layers typecheck pytest forge-test bench clean

setup: $(VENV)/.installed node_modules/.installed build

$(VENV)/.installed: pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e ".[dev]"
	# gmx-python-ng ships GMX's v2.1 ABIs; only its wheel is read (tests/chain/gmx/test_abi_fidelity.py): its
	# dependencies (pandas, an older ruff) are not installed
	$(BIN)/pip download --quiet --no-deps gmx-python-ng==1.0.1 -d $(VENV)/wheels
	touch $@

node_modules/.installed: package.json package-lock.json
	npm ci --no-audit --no-fund --loglevel=error
	touch $@

build: node_modules/.installed
	$(FORGE) build --quiet
	FOUNDRY_PROFILE=harness $(FORGE) build --quiet
	FOUNDRY_PROFILE=aave $(FORGE) build --quiet  # Aave v3.6 for the replica; cached, ~20 s cold
	FOUNDRY_PROFILE=gmx $(FORGE) build --quiet  # the GMX V2 stand-in for the Arbitrum replica; ~30 s cold
	FOUNDRY_PROFILE=chainlink $(FORGE) build --quiet  # Chainlink's AggregatorProxy for the replica's feeds

demo: setup
	$(BIN)/defibots demo

lint: $(VENV)/.installed
	$(BIN)/ruff check src tests scripts
	$(BIN)/ruff format --check src tests scripts

typecheck: $(VENV)/.installed
	$(BIN)/mypy

layers: $(VENV)/.installed
	$(BIN)/lint-imports --no-cache --no-logo

pytest: setup
	$(BIN)/pytest -q -n 2 --dist loadfile  # one worker per core; a module's tests stay on one worker

forge-test: setup
	$(BIN)/defibots devnet exec -- $(FORGE) test
	FOUNDRY_PROFILE=gmx $(FORGE) test

test: setup lint typecheck layers pytest forge-test

bench: setup
	$(BIN)/python scripts/bench_devnet.py
	$(BIN)/python scripts/bench_amm.py
	$(BIN)/python scripts/bench_watcher.py
	$(BIN)/python scripts/bench_aave.py
	$(BIN)/python scripts/bench_cex.py
	$(BIN)/python scripts/bench_mempool.py
	$(BIN)/python scripts/bench_bundles.py
	$(BIN)/python scripts/bench_liquidations.py
	$(BIN)/python scripts/bench_gas.py
	$(BIN)/python scripts/bench_executor.py

clean:
	rm -rf $(VENV) node_modules out cache out-harness cache-harness out-aave cache-aave out-gmx cache-gmx out-chainlink cache-chainlink .defibots
