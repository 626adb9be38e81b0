# Two commands for a newcomer: `make run` and `make test`. Both set themselves up.
SHELL := /bin/bash
PYTHON ?= python3
VENV ?= .venv
BIN := $(CURDIR)/$(VENV)/bin
STAMP := $(VENV)/.installed-$(shell cat requirements-api.txt requirements-dev.txt | cksum | cut -d' ' -f1)
INFRA_VENV := .venv-infra
INFRA_STAMP := $(INFRA_VENV)/.installed-$(shell cksum < requirements-infra.txt | cut -d' ' -f1)
LAMBDA_ZIP := build/short-cut-rotation.zip
LAMBDA_FILES := src/__init__.py src/errors.py src/payload.py src/payload_keys.py src/payload_values.py src/payload_json.py \
	src/aws.py src/aws_errors.py src/botocore_session.py src/rotation/__init__.py src/rotation/lambda_function.py

.PHONY: help venv infra-venv run test unit e2e lint format lambda lock container-test apt-container apt-test bench reliability clean

# `make help` prints the `## ` text after each target, so a target and its description sit together.
help: ## list the targets
	@awk -F ':.*## ' '/^[a-z][a-z0-9-]*:.*## / { printf "make %-15s %s\n", $$1, $$2 }' $(MAKEFILE_LIST)

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

venv: $(STAMP) ## create .venv and install requirements-dev.txt (again when a requirements file changes)
infra-venv: $(INFRA_STAMP) ## create .venv-infra for the infra tests (checkov, cfn-lint, AWS CLI, ...)

# The image installs requirements-api.lock with --require-hashes: every package, transitive
# ones too, pinned and hashed. uv (pinned) resolves it in its own venv, not the project's.
# --universal keeps markers for every platform and Python >= 3.11 (the stand-in base is
# Debian's 3.11, the real base python:3.12-slim). tests/lockfile checks the lock against the pins
# (not tests/build: pytest's default norecursedirs skips any folder named build).
TOOLS_VENV := .venv-tools
UV_VERSION := 0.13.8
UV_STAMP := $(TOOLS_VENV)/.uv-$(UV_VERSION)
$(UV_STAMP):
	test -x $(TOOLS_VENV)/bin/python || $(PYTHON) -m venv $(TOOLS_VENV)
	$(TOOLS_VENV)/bin/python -m pip install --quiet uv==$(UV_VERSION)
	rm -f $(TOOLS_VENV)/.uv-*
	touch $@

lock: $(UV_STAMP) ## regenerate the hashed requirements-api.lock from requirements-api.txt (uv)
	$(TOOLS_VENV)/bin/uv pip compile --quiet --universal --python-version 3.11 --generate-hashes \
		--custom-compile-command "make lock" --output-file requirements-api.lock requirements-api.txt
	@echo "wrote requirements-api.lock"

.env:
	cp .env.example .env

run: $(STAMP) .env ## start the service in local mode on port 8000 via ./entrypoint.sh (no AWS; copies .env.example to .env if missing)
	PATH="$(BIN):$$PATH" ./entrypoint.sh

lint: $(STAMP) ## ruff check and format check, mypy, shellcheck, hadolint
	$(BIN)/ruff check src tests bench
	$(BIN)/ruff format --check src tests bench
	$(BIN)/mypy
	$(BIN)/shellcheck entrypoint.sh .ci/run tests/container/build-standin-base.sh
	$(BIN)/hadolint Dockerfile tests/container/moto-standin.Containerfile

format: $(STAMP) ## ruff format, then ruff check --fix (rewrites files)
	$(BIN)/ruff format src tests bench
	$(BIN)/ruff check --fix src tests bench

lambda: $(LAMBDA_FILES) ## zip the rotation Lambda's files (LAMBDA_FILES) into build/short-cut-rotation.zip (LAMBDA_ZIP)
	mkdir -p build
	rm -f $(LAMBDA_ZIP)
	$(PYTHON) -c 'import sys, zipfile; z = zipfile.ZipFile(sys.argv[1], "w", zipfile.ZIP_DEFLATED); [z.write(f, f) for f in sys.argv[2:]]; z.close()' $(LAMBDA_ZIP) $(LAMBDA_FILES)
	@echo "wrote $(LAMBDA_ZIP)"

unit: $(STAMP) ## pytest tests/unit only
	$(BIN)/python -m pytest tests/unit

e2e: $(STAMP) $(INFRA_STAMP) ## pytest tests/e2e only (moto_server and ./entrypoint.sh as subprocesses)
	PATH="$(BIN):$$PATH" $(BIN)/python -m pytest tests/e2e

# Debian packages a suite needs, installed with apt-get when missing (CI runs as root on a clean
# machine). A package counts as present when its name is a command on PATH or dpkg has it
# (uidmap installs newuidmap, no command of its own name).
# wrk drives the load in the benchmark smoke test and the reliability suite; git is for the CLI's e2e tests.
APT_PACKAGES_test := wrk git
# podman with runc (crun fails on cgroups here), debootstrap for the stand-in base image.
APT_PACKAGES_container := podman runc debootstrap catatonit uidmap

apt-test: ## install the Debian packages the test, bench and reliability runs need (wrk, git) if missing
apt-container: ## install podman, runc, debootstrap, catatonit and uidmap if missing
apt-test apt-container: apt-%:
	@missing=""; for p in $(APT_PACKAGES_$*); do \
		command -v $$p >/dev/null 2>&1 || dpkg -s $$p >/dev/null 2>&1 || missing="$$missing $$p"; \
	done; \
	if [ -n "$$missing" ]; then \
		echo "installing$$missing"; \
		apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq $$missing >/dev/null; \
	fi

test: lint $(INFRA_STAMP) apt-test ## lint, then every test except tests/container and tests/reliability
	PATH="$(BIN):$$PATH" $(BIN)/python -m pytest --ignore=tests/container --ignore=tests/reliability

bench: $(STAMP) apt-test ## short-cut against reference apps: ratios and targets (minutes)
	PATH="$(BIN):$$PATH" $(BIN)/python bench/run.py

reliability: $(STAMP) apt-test ## faults, bad input, load and a leak hunt (tests/reliability), with a report table
	PATH="$(BIN):$$PATH" $(BIN)/python -m pytest tests/reliability -q --report-table

# The stand-in base (debootstrap, minutes on a new machine) is built before pytest starts, and
# image builds inside fixtures get a longer per-test timeout than the 120 s of pyproject.toml.
container-test: $(STAMP) apt-container ## build the Dockerfile with podman and run it, plain and as the ECS task definition says (tests/container)
	sh tests/container/build-standin-base.sh
	PATH="$(BIN):$$PATH" $(BIN)/python -m pytest tests/container --timeout 600

clean: ## remove the venvs, build/ and the tool caches
	rm -rf $(VENV) $(INFRA_VENV) $(TOOLS_VENV) build .mypy_cache .ruff_cache .pytest_cache
