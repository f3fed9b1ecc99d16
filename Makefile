# leadflow: `make run` serves the demo, `make test` runs every test, `make ci` is what CI runs.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
TEST_STAMP := $(VENV)/.installed-test

.PHONY: run init serve test lint typecheck ci bench clean

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip

$(STAMP): pyproject.toml | $(BIN)/python
	$(BIN)/python -m pip install --quiet -e .
	touch $@

$(TEST_STAMP): pyproject.toml $(STAMP)
	$(BIN)/python -m pip install --quiet -e '.[test]'
	touch $@

run: $(STAMP)
	$(BIN)/leadflow init
	$(BIN)/leadflow worker & worker=$$!; $(BIN)/leadflow scheduler & scheduler=$$!; \
	  trap 'kill $$worker $$scheduler 2>/dev/null; wait $$worker $$scheduler' EXIT INT TERM; $(BIN)/leadflow serve

init: $(STAMP)
	$(BIN)/leadflow init

serve: $(STAMP)
	$(BIN)/leadflow serve

lint: $(TEST_STAMP)
	$(BIN)/ruff check src tests bench
	$(BIN)/ruff format --check src/leadflow/domain src/leadflow/playbook

typecheck: $(TEST_STAMP)
	$(BIN)/mypy --strict src/leadflow/domain src/leadflow/playbook

test: $(TEST_STAMP) lint typecheck
	$(BIN)/python -m pytest

ci:
	bash scripts/ci.sh

bench: $(STAMP)
	@for script in bench/*.py; do echo "== $$script"; $(BIN)/python $$script || exit 1; done

clean:
	rm -rf $(VENV) *.egg-info src/*.egg-info .pytest_cache .mypy_cache .ruff_cache
