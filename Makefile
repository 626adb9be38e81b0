# Two commands for a newcomer: `make run` and `make test`. Both set themselves up.
SHELL := /bin/bash
PYTHON ?= python3
VENV ?= .venv
BIN := $(CURDIR)/$(VENV)/bin
STAMP := $(VENV)/.installed-$(shell cat requirements-api.txt requirements-dev.txt | cksum | cut -d' ' -f1)

.PHONY: help venv run test unit e2e lint format clean

help:
	@echo "make run    - start the service in local mode on port 8000 (.env defaults, no AWS)"
	@echo "make test   - lint, then every test"
	@echo "make lint   - ruff, mypy, shellcheck"

$(STAMP): requirements-api.txt requirements-dev.txt
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -r requirements-dev.txt
	rm -f $(VENV)/.installed-*
	touch $@

venv: $(STAMP)

.env:
	cp .env.example .env

run: $(STAMP) .env
	PATH="$(BIN):$$PATH" ./entrypoint.sh

lint: $(STAMP)
	$(BIN)/ruff check src tests
	$(BIN)/ruff format --check src tests
	$(BIN)/mypy
	$(BIN)/shellcheck entrypoint.sh .ci/run

format: $(STAMP)
	$(BIN)/ruff format src tests
	$(BIN)/ruff check --fix src tests

unit: $(STAMP)
	$(BIN)/python -m pytest tests/unit

e2e: $(STAMP)
	$(BIN)/python -m pytest tests/e2e

test: lint
	PATH="$(BIN):$$PATH" $(BIN)/python -m pytest

clean:
	rm -rf $(VENV) .mypy_cache .ruff_cache .pytest_cache
