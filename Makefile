# fundarb developer commands. `make help` lists them.
PY      ?= python3
VENV    ?= .venv
BIN     := $(VENV)/bin
STAMP   := $(VENV)/.installed

.DEFAULT_GOAL := help
.PHONY: help install fmt lint typecheck test test-unit up down status demo bench clean

help: ## list the targets
	@grep -E '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  %-10s %s\n", $$1, $$2}'

$(STAMP): pyproject.toml
	$(PY) -m venv $(VENV)
	$(BIN)/pip install -q --upgrade pip
	$(BIN)/pip install -q -e ".[dev]"
	@touch $(STAMP)

install: $(STAMP) ## create .venv and install fundarb with dev tools

fmt: $(STAMP) ## format and auto-fix
	$(BIN)/ruff format .
	$(BIN)/ruff check --fix .

lint: $(STAMP) ## ruff + import contracts (DESIGN §3 dependency rule)
	$(BIN)/ruff check .
	$(BIN)/lint-imports --no-cache

typecheck: $(STAMP) ## mypy on every package (strict on schemas/ and projections/)
	$(BIN)/mypy schemas projections infra producers consumers streams bench

test: $(STAMP) ## the whole suite (starts a local broker if FUNDARB_BOOTSTRAP is unset)
	$(BIN)/pytest

test-unit: $(STAMP) ## pure tests only, seconds
	$(BIN)/pytest -m unit

up: $(STAMP) ## start the local Kafka broker (jars from Maven Central, no Docker)
	$(BIN)/fundarb infra up

down: $(STAMP) ## stop the local Kafka broker
	$(BIN)/fundarb infra down

status: $(STAMP) ## is the broker up and does a round trip work
	$(BIN)/fundarb infra status

demo: $(STAMP) ## the main job: backtest the bundled real data (starts and stops a local broker)
	$(BIN)/fundarb backtest --config config/strategy.toml --out runs/demo

bench: $(STAMP) ## run every benchmark on one broker; table in bench/results/<date>.md
	$(BIN)/fundarb bench

clean: ## remove caches (keeps .fundarb jars and data)
	rm -rf .pytest_cache .mypy_cache .ruff_cache .hypothesis
