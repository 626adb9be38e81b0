# Two commands for a newcomer: `make run` and `make test`. Both set themselves up.
SHELL := /bin/bash
PYTHON ?= python3
VENV ?= .venv
BIN := $(CURDIR)/$(VENV)/bin
STAMP := $(VENV)/.installed-$(shell cat requirements-api.txt requirements-dev.txt | cksum | cut -d' ' -f1)
INFRA_VENV := .venv-infra
INFRA_STAMP := $(INFRA_VENV)/.installed-$(shell cksum < requirements-infra.txt | cut -d' ' -f1)
LAMBDA_ZIP := build/short-cut-rotation.zip
LAMBDA_FILES := src/__init__.py src/errors.py src/payload.py src/aws.py src/rotation/__init__.py src/rotation/lambda_function.py

.PHONY: help venv infra-venv run test unit e2e lint format lambda lock container-test apt-container apt-test bench reliability clean

help:
	@echo "make run     - start the service in local mode on port 8000 (.env defaults, no AWS)"
	@echo "make test    - lint, then every test"
	@echo "make lint    - ruff, mypy, shellcheck"
	@echo "make lambda  - package the rotation Lambda as $(LAMBDA_ZIP)"
	@echo "make lock    - refresh requirements-api.lock (hashed) from requirements-api.txt"
	@echo "make container-test - build the Dockerfile with podman and run it (installs podman)"
	@echo "make bench   - short-cut against reference apps, ratios and targets (minutes)"
	@echo "make reliability - faults, bad input, load and a leak hunt, with a report table"

$(STAMP): requirements-api.txt requirements-dev.txt
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet -r requirements-dev.txt
	rm -f $(VENV)/.installed-*
	touch $@

# checkov and the AWS CLI pin boto3 versions that clash with the service's: own venv.
$(INFRA_STAMP): requirements-infra.txt
	test -x $(INFRA_VENV)/bin/python || $(PYTHON) -m venv $(INFRA_VENV)
	$(INFRA_VENV)/bin/python -m pip install --quiet -r requirements-infra.txt
	rm -f $(INFRA_VENV)/.installed-*
	touch $@

venv: $(STAMP)
infra-venv: $(INFRA_STAMP)

# The image installs requirements-api.lock with --require-hashes: every package, transitive
# ones too, pinned and hashed. uv (pinned) resolves it in its own venv, not the project's.
# --universal keeps markers for every platform and Python >= 3.11 (the stand-in base is
# Debian's 3.11, the real base python:3.12-slim). tests/build checks the lock against the pins.
TOOLS_VENV := .venv-tools
UV_VERSION := 0.13.8
UV_STAMP := $(TOOLS_VENV)/.uv-$(UV_VERSION)
$(UV_STAMP):
	test -x $(TOOLS_VENV)/bin/python || $(PYTHON) -m venv $(TOOLS_VENV)
	$(TOOLS_VENV)/bin/python -m pip install --quiet uv==$(UV_VERSION)
	rm -f $(TOOLS_VENV)/.uv-*
	touch $@

lock: $(UV_STAMP)
	$(TOOLS_VENV)/bin/uv pip compile --quiet --universal --python-version 3.11 --generate-hashes \
		--custom-compile-command "make lock" --output-file requirements-api.lock requirements-api.txt
	@echo "wrote requirements-api.lock"

.env:
	cp .env.example .env

run: $(STAMP) .env
	PATH="$(BIN):$$PATH" ./entrypoint.sh

lint: $(STAMP)
	$(BIN)/ruff check src tests bench
	$(BIN)/ruff format --check src tests bench
	$(BIN)/mypy
	$(BIN)/shellcheck entrypoint.sh .ci/run tests/container/build-standin-base.sh
	$(BIN)/hadolint Dockerfile tests/container/moto-standin.Containerfile

format: $(STAMP)
	$(BIN)/ruff format src tests bench
	$(BIN)/ruff check --fix src tests bench

lambda: $(LAMBDA_FILES)
	mkdir -p build
	rm -f $(LAMBDA_ZIP)
	$(PYTHON) -c 'import sys, zipfile; z = zipfile.ZipFile(sys.argv[1], "w", zipfile.ZIP_DEFLATED); [z.write(f, f) for f in sys.argv[2:]]; z.close()' $(LAMBDA_ZIP) $(LAMBDA_FILES)
	@echo "wrote $(LAMBDA_ZIP)"

unit: $(STAMP)
	$(BIN)/python -m pytest tests/unit

e2e: $(STAMP) $(INFRA_STAMP)
	PATH="$(BIN):$$PATH" $(BIN)/python -m pytest tests/e2e

# wrk drives the load in the benchmark smoke test and the reliability suite.
TEST_TOOLS := wrk git
apt-test:
	@missing=""; for p in $(TEST_TOOLS); do command -v $$p >/dev/null 2>&1 || missing="$$missing $$p"; done; \
	if [ -n "$$missing" ]; then \
		echo "installing$$missing"; \
		apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq $$missing >/dev/null; \
	fi

test: lint $(INFRA_STAMP) apt-test
	PATH="$(BIN):$$PATH" $(BIN)/python -m pytest --ignore=tests/container --ignore=tests/reliability

bench: $(STAMP) apt-test
	PATH="$(BIN):$$PATH" $(BIN)/python bench/run.py

reliability: $(STAMP) apt-test
	PATH="$(BIN):$$PATH" $(BIN)/python -m pytest tests/reliability -q --report-table

# podman with runc (crun fails on cgroups here), debootstrap for the stand-in base image.
CONTAINER_TOOLS := podman runc debootstrap catatonit uidmap
apt-container:
	@missing=""; for p in $(CONTAINER_TOOLS); do dpkg -s $$p >/dev/null 2>&1 || missing="$$missing $$p"; done; \
	if [ -n "$$missing" ]; then \
		echo "installing$$missing"; \
		apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq $$missing >/dev/null; \
	fi

# The stand-in base (debootstrap, minutes on a new machine) is built before pytest starts, and
# image builds inside fixtures get a longer per-test timeout than the 120 s of pyproject.toml.
container-test: $(STAMP) apt-container
	sh tests/container/build-standin-base.sh
	PATH="$(BIN):$$PATH" $(BIN)/python -m pytest tests/container --timeout 600

clean:
	rm -rf $(VENV) $(INFRA_VENV) $(TOOLS_VENV) build .mypy_cache .ruff_cache .pytest_cache
