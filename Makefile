# The two commands: `make up` runs the system, `make test` passes the tests. Both bootstrap .venv first.
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed
# The shop once it exists, the example system until then.
MANIFEST ?= $(firstword $(wildcard apps/shop/baton.yaml) apps/hello/baton.yaml)

.PHONY: up down test lint typecheck unit bench bootstrap clean

$(STAMP): pyproject.toml constraints.txt
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	@$(BIN)/python -m pip install -q --upgrade pip
	@$(BIN)/python -m pip install -q -c constraints.txt -e '.[dev]'
	@touch $(STAMP)

bootstrap: $(STAMP)

up: $(STAMP)
	@$(BIN)/baton up --detach -f $(MANIFEST)

down: $(STAMP)
	@$(BIN)/baton down -f $(MANIFEST)

lint: $(STAMP)
	$(BIN)/ruff check src tests apps bench
	$(BIN)/ruff format --check src tests apps bench

typecheck: $(STAMP)
	$(BIN)/mypy

test: $(STAMP) lint typecheck
	$(BIN)/pytest

unit: $(STAMP)
	$(BIN)/pytest tests/unit

bench: $(STAMP)
	@for b in bench/*.py; do echo "== $$b"; $(BIN)/python $$b --quick || exit 1; done

clean:
	rm -rf $(VENV) .baton .pytest_cache .mypy_cache .ruff_cache
