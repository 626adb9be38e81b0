# Two commands for a newcomer: `make run` and `make test`. Both set themselves up.
SHELL := /bin/bash
PYTHON ?= python3
VENV ?= .venv
BIN := $(CURDIR)/$(VENV)/bin
# .venv is built in layers, each with a stamp named by the checksum of its files and of the
# layers under it, so a changed file reinstalls its layer and those above it:
#   RUN_STAMP  the runtime from requirements-api.lock, hashed, as the image installs it  (make run)
#   CLI_STAMP  + requirements-cli.txt and the project itself (-e .): .venv/bin/short-cut (make cli)
#   STAMP      + requirements-dev.txt: the test and lint tools                           (make venv, test, lint, ...)
RUN_STAMP := $(VENV)/.runtime-$(shell cat requirements-api.lock | cksum | cut -d' ' -f1)
CLI_STAMP := $(VENV)/.cli-$(shell cat requirements-api.lock requirements-cli.txt pyproject.toml | cksum | cut -d' ' -f1)
STAMP := $(VENV)/.installed-$(shell cat requirements-api.lock requirements-cli.txt pyproject.toml requirements-api.txt requirements-dev.txt | cksum | cut -d' ' -f1)
# uv (pinned) creates the venvs and installs into them, and locks requirements-api.lock.
TOOLS_VENV := .venv-tools
UV_VERSION := 0.13.8
UV := $(TOOLS_VENV)/bin/uv
INFRA_VENV := .venv-infra
INFRA_STAMP := $(INFRA_VENV)/.installed-$(shell cksum < requirements-infra.txt | cut -d' ' -f1)
LAMBDA_ZIP := build/short-cut-rotation.zip
LAMBDA_FILES := src/__init__.py src/errors.py src/secret/__init__.py src/secret/payload.py src/secret/keys.py src/secret/values.py src/secret/json_object.py \
	src/aws/__init__.py src/aws/client.py src/aws/errors.py src/aws/botocore_session.py src/rotation/__init__.py src/rotation/lambda_function.py

.PHONY: help venv cli infra-venv docs run test unit e2e lint format lambda lock container-test apt-container apt-test bench reliability image image-tag push-image clean

# `make help` prints the `## ` text after each target, so a target and its description sit together.
help: ## list the targets
	@awk -F ':.*## ' '/^[a-z][a-z0-9-]*:.*## / { printf "make %-15s %s\n", $$1, $$2 }' $(MAKEFILE_LIST)

# scripts/install.sh installs with uv (UV_VERSION, in .venv-tools) or, if uv cannot be installed,
# with pip, and says which. A layer that is installed again takes the stamps above it away.
INSTALL = PYTHON="$(PYTHON)" UV_VERSION="$(UV_VERSION)" TOOLS_DIR="$(TOOLS_VENV)" scripts/install.sh

$(RUN_STAMP): requirements-api.lock
	$(INSTALL) $(VENV) --require-hashes --no-deps -r requirements-api.lock
	rm -f $(VENV)/.runtime-* $(VENV)/.cli-* $(VENV)/.installed-*
	touch $@

# PyYAML for `short-cut audit`; the project editable and without dependencies gives the console script.
$(CLI_STAMP): $(RUN_STAMP) requirements-cli.txt pyproject.toml
	$(INSTALL) $(VENV) -r requirements-cli.txt
	$(INSTALL) $(VENV) --no-deps -e .
	rm -f $(VENV)/.cli-* $(VENV)/.installed-*
	touch $@

$(STAMP): $(CLI_STAMP) requirements-api.txt requirements-dev.txt
	$(INSTALL) $(VENV) -r requirements-dev.txt
	rm -f $(VENV)/.installed-*
	touch $@

# checkov and the AWS CLI pin boto3 versions that clash with the service's: own venv.
$(INFRA_STAMP): requirements-infra.txt
	$(INSTALL) $(INFRA_VENV) -r requirements-infra.txt
	rm -f $(INFRA_VENV)/.installed-*
	touch $@

# The documentation site (mkdocs.yml, docs/): MkDocs and Material in a venv of their own, so their
# pins never meet the service's. --strict turns every warning into a failure; mkdocs.yml's
# validation makes a broken link, a missing anchor and a page outside the nav warnings. Not
# --quiet: it hides the warnings from the count --strict fails on (tests/docs/test_site.py).
DOCS_VENV := .venv-docs
DOCS_STAMP := $(DOCS_VENV)/.installed-$(shell cksum < requirements-docs.txt | cut -d' ' -f1)
$(DOCS_STAMP): requirements-docs.txt
	$(INSTALL) $(DOCS_VENV) -r requirements-docs.txt
	rm -f $(DOCS_VENV)/.installed-*
	touch $@

docs: $(DOCS_STAMP) ## build the documentation site (docs/, mkdocs.yml) into site/ in strict mode
	NO_MKDOCS_2_WARNING=1 $(DOCS_VENV)/bin/mkdocs build --strict

venv: $(STAMP) ## create .venv with the runtime, the CLI and requirements-dev.txt (again when a requirements file changes)
cli: $(CLI_STAMP) ## the runtime plus the console script .venv/bin/short-cut and its PyYAML (no test tools)
infra-venv: $(INFRA_STAMP) ## create .venv-infra for the infra tests (checkov, cfn-lint, AWS CLI, ...)

# The image installs requirements-api.lock with --require-hashes: every package, transitive
# ones too, pinned and hashed. uv (pinned) resolves it in its own venv, not the project's.
# --universal keeps markers for every platform and Python >= 3.11 (the stand-in base is
# Debian's 3.11, the real base python:3.12-slim). tests/lockfile checks the lock against the pins
# (not tests/build: pytest's default norecursedirs skips any folder named build).
lock: ## regenerate the hashed requirements-api.lock from requirements-api.txt (uv)
	$(INSTALL) --uv
	$(UV) pip compile --quiet --universal --python-version 3.11 --generate-hashes \
		--custom-compile-command "make lock" --output-file requirements-api.lock requirements-api.txt
	@echo "wrote requirements-api.lock"

.env:
	cp .env.example .env

run: $(RUN_STAMP) .env ## start the service in local mode on port 8000 via ./entrypoint.sh (installs only the runtime; no AWS; copies .env.example to .env if missing)
	PATH="$(BIN):$$PATH" ./entrypoint.sh

lint: $(STAMP) ## ruff check and format check, mypy, shellcheck, hadolint
	$(BIN)/ruff check src tests bench tools scripts
	$(BIN)/ruff format --check src tests bench tools scripts
	$(BIN)/mypy
	$(BIN)/lint-imports --no-cache
	$(BIN)/shellcheck entrypoint.sh .ci/run scripts/install.sh scripts/first-run.sh tests/container/build-standin-base.sh
	$(BIN)/hadolint Dockerfile tests/container/moto-standin.Containerfile

format: $(STAMP) ## ruff format, then ruff check --fix (rewrites files)
	$(BIN)/ruff format src tests bench scripts
	$(BIN)/ruff check --fix src tests bench scripts

# The zip is reproducible (fixed dates and modes), so its key can be its content's sha256: the
# stack's RotationCodeKey changes exactly when the code does, and CloudFormation deploys it.
# scripts/lambda_zip.py writes it (entries 0644, dated 1980) and prints the key; `@` keeps the long
# file list off the terminal.
lambda: $(LAMBDA_FILES) scripts/lambda_zip.py ## zip the rotation Lambda's files into build/short-cut-rotation.zip (LAMBDA_ZIP); print its S3 key
	@$(PYTHON) scripts/lambda_zip.py $(LAMBDA_ZIP) $(LAMBDA_FILES)

unit: $(STAMP) ## pytest tests/unit only
	$(BIN)/python -m pytest tests/unit

e2e: $(STAMP) $(INFRA_STAMP) ## pytest tests/e2e only (moto_server and ./entrypoint.sh as subprocesses)
	PATH="$(BIN):$$PATH" $(BIN)/python -m pytest tests/e2e

# Debian packages a suite needs, installed with apt-get when missing (CI runs as root on a clean
# machine). A package counts as present when its name is a command on PATH or dpkg has it
# (uidmap installs newuidmap, no command of its own name).
# wrk drives the load in the benchmark smoke test and the reliability suite; git is for the CLI's e2e tests;
# podman because tests/docs reads the README's compose blocks with `podman-compose config`, which
# fails without a `podman` command (no container is run), and runc in the same apt call: Debian's
# podman depends on "crun | runc", and podman alone would bring crun, which fails here (below).
APT_PACKAGES_test := wrk git podman runc
# podman with runc (crun fails on cgroups here), debootstrap for the stand-in base image,
# docker-registry for a loopback registry that `make push-image` pushes to in the tests.
APT_PACKAGES_container := podman runc debootstrap catatonit uidmap docker-registry

apt-test: ## install the Debian packages the test, bench and reliability runs need (wrk, git, podman) if missing
apt-container: ## install podman, runc, debootstrap, catatonit, uidmap and docker-registry if missing
apt-test apt-container: apt-%:
	@missing=""; for p in $(APT_PACKAGES_$*); do \
		command -v $$p >/dev/null 2>&1 || dpkg -s $$p >/dev/null 2>&1 || missing="$$missing $$p"; \
	done; \
	if [ -n "$$missing" ]; then \
		echo "installing$$missing"; \
		apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq $$missing >/dev/null; \
	fi

# The tests mostly wait on subprocesses and sockets: TEST_WORKERS pytest-xdist processes, each
# test file on one worker (--dist loadfile), so a module's fixtures (moto_server, a built zip)
# are made once and tests that share a fixed path (build/ of make lambda) never run at once.
# Files go out in collection order (--no-loadscope-reorder), not largest first: the longest
# single tests (tests/bench, tests/docs, tests/e2e) start early instead of ending the run alone.
TEST_WORKERS ?= 2
test: lint docs $(INFRA_STAMP) apt-test ## lint, the docs site (strict), then every test except tests/container and tests/reliability (TEST_WORKERS=2 processes)
	PATH="$(BIN):$$PATH" $(BIN)/python -m pytest -n $(TEST_WORKERS) --dist loadfile --no-loadscope-reorder --ignore=tests/container --ignore=tests/reliability

bench: $(STAMP) apt-test ## short-cut against reference apps: ratios and targets (minutes)
	PATH="$(BIN):$$PATH" $(BIN)/python bench/run.py

reliability: $(STAMP) apt-test ## faults, bad input, load and a leak hunt (tests/reliability), with a report table
	PATH="$(BIN):$$PATH" $(BIN)/python -m pytest tests/reliability -q --report-table

# The stand-in base (debootstrap, minutes on a new machine) is built before pytest starts, and
# image builds inside fixtures get a longer per-test timeout than the 120 s of pyproject.toml.
# The project's containers run with runc: Debian's podman takes crun whenever crun is installed
# (apt picks it for "crun | runc" when podman comes alone), and crun fails in this sandbox ("cgroups
# in hybrid mode not supported, drop all controllers from cgroupv2"). CONTAINERS_CONF replaces the
# system's containers.conf for these targets only; a developer's own `make image` keeps theirs.
container-test bench: export CONTAINERS_CONF := $(CURDIR)/tests/container/containers.conf

container-test: $(STAMP) apt-container ## build the Dockerfile with podman and run it, plain and as the ECS task definition says (tests/container)
	sh tests/container/build-standin-base.sh
	PATH="$(BIN):$$PATH" $(BIN)/python -m pytest tests/container --timeout 600

# The image for ECR. podman when it is installed (docker's CLI may be there without a daemon),
# else docker; CONTAINER_TOOL=docker chooses. podman builds in docker format: the OCI format has
# no HEALTHCHECK and podman drops it with only a warning (containers/buildah#2388, "HEALTHCHECK is
# not supported for OCI image format and will be ignored"). The platform is the task
# definition's runtimePlatform (X86_64), whatever the builder's CPU.
CONTAINER_TOOL ?= $(if $(shell command -v podman 2>/dev/null),podman,docker)
IMAGE_NAME ?= short-cut-api
IMAGE_PLATFORM ?= linux/amd64
IMAGE_BUILD_FLAGS ?=
# The tag is the commit. When the files the image is built from differ from it, the tag gets
# -dirty, and push-image refuses the tree: ECR tags are immutable, and a tag must name code that
# anyone can check out. Which files: exactly the build context .dockerignore lets through, plus the
# Dockerfile and .dockerignore (tools/image_tree.py, which compares their bytes and modes with the
# commit, so a skip-worktree or assume-unchanged file cannot hide). It prints "clean" or
# "dirty: ..."; anything else, its failing included, counts as dirty.
# IMAGE_TAG is taken from the command line only (make image IMAGE_TAG=...), never from the
# environment, where a CI job's IMAGE_TAG=latest would replace the commit. `override`: no
# command-line or environment value (IMAGE_TAG_VALUE=<sha>, make -e) can replace what is computed.
IMAGE_FILES := Dockerfile .dockerignore requirements-api.lock entrypoint.sh src
override IMAGE_COMMIT = $(shell git rev-parse --short=12 HEAD 2>/dev/null)
override IMAGE_TREE = $(shell $(PYTHON) tools/image_tree.py 2>/dev/null)
ifeq ($(origin IMAGE_TAG),command line)
override IMAGE_TAG_VALUE = $(IMAGE_TAG)
else
override IMAGE_TAG_VALUE = $(IMAGE_COMMIT)$(if $(filter-out clean,$(IMAGE_TREE))$(if $(IMAGE_TREE),,unknown),-dirty)
endif
# Where to push: ECR_REPO_URI, or AWS_ACCOUNT_ID and AWS_REGION (and REPO, default short-cut-api).
REPO ?= short-cut-api
AWS_REGION ?= $(AWS_DEFAULT_REGION)
ECR_REPO_URI ?= $(if $(AWS_ACCOUNT_ID),$(if $(AWS_REGION),$(AWS_ACCOUNT_ID).dkr.ecr.$(AWS_REGION).amazonaws.com/$(REPO)))
ECR_REGISTRY = $(firstword $(subst /, ,$(ECR_REPO_URI)))
# An ECR host names its region (<account>.dkr.ecr.<region>.amazonaws.com); any other, AWS_REGION.
ECR_REGION = $(if $(findstring .dkr.ecr.,$(ECR_REGISTRY)),$(word 4,$(subst ., ,$(ECR_REGISTRY))),$(AWS_REGION))
# The recipes read these from their environment ("$$IMAGE_TAG"), never spliced into the command
# text, so no value (a tag with a quote or a semicolon, IMAGE_PLATFORM='linux/amd64; touch X')
# can become shell syntax; `override`, so a command-line IMAGE_REF or PUSH_TREE cannot stand in.
image push-image: override export IMAGE_TAG_VALUE := $(IMAGE_TAG_VALUE)
image push-image: override export IMAGE_REF = $(IMAGE_NAME):$(IMAGE_TAG_VALUE)
image push-image: override export IMAGE_TOOL = $(CONTAINER_TOOL)
# $(value ...): taken as text, so an environment value's $(shell ...) is not run by make either.
image push-image: override export BUILD_PLATFORM = $(value IMAGE_PLATFORM)
image push-image: override export BUILD_FLAGS = $(value IMAGE_BUILD_FLAGS)
push-image: override export PUSH_TREE = $(IMAGE_TREE)
push-image: override export PUSH_REPO = $(ECR_REPO_URI)
push-image: override export PUSH_REGISTRY = $(ECR_REGISTRY)
push-image: override export PUSH_REGION = $(ECR_REGION)
# An OCI platform: os/arch[/variant], as podman and docker take it.
IMAGE_PLATFORM_PATTERN := ^[a-z0-9]+/[a-z0-9_]+(/[a-z0-9]+)?$$
# A registry tag: [A-Za-z0-9_][A-Za-z0-9_.-]{0,127} (the OCI distribution spec), never latest.
IMAGE_TAG_PATTERN := ^[A-Za-z0-9_][A-Za-z0-9_.-]{0,127}$$

image-tag: ## print the tag make image would use (the commit, -dirty if the image's files differ from it)
	@echo "$(IMAGE_TAG_VALUE)"

image: ## build the image (podman or docker, CONTAINER_TOOL) as short-cut-api:<commit>, -dirty if its files changed
	@case "$$IMAGE_TAG_VALUE" in ""|-dirty) echo "image: no commit to tag with (not a git checkout?): pass IMAGE_TAG=..." >&2; exit 2;; esac
	@printf '%s\n' "$$IMAGE_TAG_VALUE" | grep -Eqx '$(IMAGE_TAG_PATTERN)' && [ "$$IMAGE_TAG_VALUE" != latest ] \
		|| { echo "image: IMAGE_TAG must match $(IMAGE_TAG_PATTERN) and not be latest (a release must name its code)" >&2; exit 2; }
	@printf '%s\n' "$$BUILD_PLATFORM" | grep -Eqx '$(IMAGE_PLATFORM_PATTERN)' \
		|| { echo "image: IMAGE_PLATFORM must be an os/arch platform such as linux/amd64" >&2; exit 2; }
	@# IMAGE_BUILD_FLAGS: split into words from the environment, never parsed as shell (no ; $$() or globs).
	set -f; "$$IMAGE_TOOL" build $(if $(filter podman,$(notdir $(CONTAINER_TOOL))),--format docker) \
		--platform "$$BUILD_PLATFORM" $$BUILD_FLAGS -t "$$IMAGE_REF" .
	@echo "built $$IMAGE_REF"

push-image: ## build, log in to ECR (aws ecr get-login-password), push, print the stack's ImageUri (ECR_REPO_URI, or AWS_ACCOUNT_ID + AWS_REGION)
	@test -n "$$PUSH_REPO$(AWS_REGION)" -o -z "$(AWS_ACCOUNT_ID)" || { echo "push-image: AWS_REGION is not set (nor AWS_DEFAULT_REGION): set AWS_REGION=<region>, the registry's" >&2; exit 2; }
	@test -n "$$PUSH_REPO" || { echo "push-image: set ECR_REPO_URI=<account>.dkr.ecr.<region>.amazonaws.com/$(REPO), or AWS_ACCOUNT_ID and AWS_REGION" >&2; exit 2; }
	@printf '%s\n' "$$PUSH_REPO" | grep -Eqx '[a-z0-9.-]+(:[0-9]+)?(/[a-z0-9._-]+)+' \
		|| { echo "push-image: ECR_REPO_URI is not a repository URI (<registry>/<repository>, lower case)" >&2; exit 2; }
	@test -n "$$PUSH_REGION" || { echo "push-image: set AWS_REGION (the registry's region)" >&2; exit 2; }
	@case "$$IMAGE_TAG_VALUE" in *-dirty) echo "push-image: refusing $$IMAGE_TAG_VALUE: the image's files differ from the commit ($$PUSH_TREE); commit them first (ECR tags are immutable)" >&2; exit 2;; esac
	@test "$$PUSH_TREE" = clean || { echo "push-image: refusing $$IMAGE_TAG_VALUE: the image's files differ from the commit ($$PUSH_TREE); a pushed tag must name committed code" >&2; exit 2; }
	$(MAKE) --no-print-directory image
	set -o pipefail; aws ecr get-login-password --region "$$PUSH_REGION" \
		| "$$IMAGE_TOOL" login --username AWS --password-stdin "$$PUSH_REGISTRY"
	"$$IMAGE_TOOL" tag "$$IMAGE_REF" "$$PUSH_REPO:$$IMAGE_TAG_VALUE"
	"$$IMAGE_TOOL" push "$$PUSH_REPO:$$IMAGE_TAG_VALUE"
	@echo "ImageUri=$$PUSH_REPO:$$IMAGE_TAG_VALUE"

clean: ## remove the venvs, build/, site/ and the tool caches
	rm -rf $(VENV) $(INFRA_VENV) $(TOOLS_VENV) $(DOCS_VENV) site build .mypy_cache .ruff_cache .pytest_cache
