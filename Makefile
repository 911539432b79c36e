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
	$(BIN)/python -m pip install --quiet -e ".[test,lint,docs]"
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
	$(BIN)/mypy fiko_billing

docs: $(STAMP)
	$(BIN)/sphinx-build -W --keep-going -b html docs docs/_build/html

demo: $(STAMP)
	cd example_project && $(abspath $(BIN))/python manage.py migrate --noinput
	cd example_project && $(abspath $(BIN))/python manage.py load_demo_catalogue
	@echo
	@echo "  fiko-billing demo: http://127.0.0.1:8000/billing/  (login: demo / demo)"
	@echo
	cd example_project && $(abspath $(BIN))/python manage.py runserver 127.0.0.1:8000

clean:
	rm -rf $(VENV) .tox build dist docs/_build .pytest_cache .mypy_cache .ruff_cache
