#!/usr/bin/env bash
# Install into a venv for the make targets, creating the venv if it is missing: with uv (pinned by
# the Makefile's UV_VERSION, installed once into TOOLS_DIR by pip) when it can be installed, with pip
# otherwise. It says which one ran. The arguments after the venv are the installer's, the same for
# both (-r FILE, --require-hashes, --no-deps, -e .).
#
#   scripts/install.sh VENV ARGUMENTS...    e.g. scripts/install.sh .venv --require-hashes --no-deps -r requirements-api.lock
#   scripts/install.sh --uv                 only install uv (make lock); exit 1 if it cannot be
#
# Environment: PYTHON (the interpreter a new venv is made from, default python3), UV_VERSION,
# TOOLS_DIR (default .venv-tools). uv reads the plain PyPI index (or UV_INDEX_URL), not pip's
# configuration; pip reads its own.
set -euo pipefail

python=${PYTHON:-python3}
tools=${TOOLS_DIR:-.venv-tools}
version=${UV_VERSION:?UV_VERSION is not set (the Makefile pins it)}
uv="$tools/bin/uv"
failed="$tools/.uv-failed-$version"

have_uv() {
    [ -x "$uv" ] && [ "$("$uv" --version 2>/dev/null | cut -d' ' -f2)" = "$version" ]
}

# uv's wheel holds one static binary: pip --target puts it in $tools/bin without a venv of its own.
# A failure is remembered (make clean forgets it), so each target does not wait for it again.
if ! have_uv && [ ! -e "$failed" ]; then
    rm -rf "$tools"
    if ! "$python" -m pip install -qq --no-deps --only-binary :all: --root-user-action ignore \
        --target "$tools" "uv==$version" || ! have_uv; then
        rm -rf "$tools"
        mkdir -p "$tools"
        touch "$failed"
    fi
fi

if [ "${1:-}" = --uv ]; then
    have_uv || { echo "install: uv $version could not be installed with $python -m pip" >&2; exit 1; }
    exit 0
fi

venv=${1:?usage: scripts/install.sh VENV ARGUMENTS...}
shift
if have_uv; then
    echo "install into $venv with uv $version: $*"
    [ -x "$venv/bin/python" ] || "$uv" venv --quiet --python "$python" "$venv"
    "$uv" pip install --quiet --python "$venv/bin/python" "$@"
else
    echo "install into $venv with pip (uv $version could not be installed): $*"
    [ -x "$venv/bin/python" ] || "$python" -m venv "$venv"
    # A venv that uv made has no pip of its own.
    "$venv/bin/python" -m pip --version >/dev/null 2>&1 || "$venv/bin/python" -m ensurepip --upgrade >/dev/null
    "$venv/bin/python" -m pip install --quiet "$@"
fi
