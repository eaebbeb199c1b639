# The two commands: `make up` runs the system, `make test` passes the tests. Both bootstrap .venv first.
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed
# The shop once it exists, the example system until then.
MANIFEST ?= $(firstword $(wildcard apps/shop/baton.yaml) apps/hello/baton.yaml)

.PHONY: up down test lint typecheck unit bench bootstrap clean sbom

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

# Supply chain: a CycloneDX SBOM of the environment the tests run in (offline), checked to parse and to name
# every runtime dependency of pyproject.toml. templates/ci/pip-audit.yml audits it in a CI with internet.
SBOM := build/sbom.cdx.json
sbom: $(STAMP)
	@mkdir -p $(dir $(SBOM))
	@$(BIN)/cyclonedx-py environment --pyproject pyproject.toml --of JSON --output-reproducible -o $(SBOM) $(BIN)/python
	@$(BIN)/python scripts/check_sbom.py $(SBOM) pyproject.toml

clean:
	rm -rf $(VENV) .baton .pytest_cache .mypy_cache .ruff_cache
