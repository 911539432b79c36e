# The two commands of the README's Quick start: `make demo` and `make test`.
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
PYTEST_ARGS ?=

.PHONY: help venv test test-postgres lint types docs demo clean

help:
	@echo "make test      create $(VENV) if missing, install, run the test suite"
	@echo "make demo      run the example project at http://127.0.0.1:8000/"
	@echo "make lint      ruff;  make types: mypy;  make docs: build the docs"

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)

$(STAMP): $(BIN)/python pyproject.toml
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e ".[test,lint,docs,browser]"
	@touch $(STAMP)

venv: $(STAMP)

# pytest exits 5 when it collected no test: a run that tests nothing fails.
test: $(STAMP)
	$(BIN)/python -m pytest $(PYTEST_ARGS)

test-postgres: $(STAMP)
	DATABASE_URL=$${DATABASE_URL:-postgres://postgres@127.0.0.1:5432/test} $(BIN)/python -m pytest $(PYTEST_ARGS)

lint: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

types: $(STAMP)
	$(BIN)/mypy fiko_billing benchmarks scripts

docs: $(STAMP)
	$(BIN)/sphinx-build -W --keep-going -b html docs docs/_build/html

# The example project against the bundled Stripe emulator; Ctrl-C stops both.
# DEMO_PORT and EMULATOR_PORT choose the ports; DEMO_ARGS=--reset starts afresh.
DEMO_PORT ?= 8000
EMULATOR_PORT ?= 12111
DEMO_ARGS ?=

demo: $(STAMP)
	DEMO_PORT=$(DEMO_PORT) EMULATOR_PORT=$(EMULATOR_PORT) $(BIN)/python scripts/demo.py $(DEMO_ARGS)

clean:
	rm -rf $(VENV) .tox build dist docs/_build .pytest_cache .mypy_cache .ruff_cache
