"""The CLI's answer when its own packages are not installed (a system python outside the
project's venv): one DependencyMissing line, exit 3, never a ModuleNotFoundError traceback.

Standard library and src.errors only, so it imports wherever Python does.
"""

from __future__ import annotations

import json
import sys
from typing import NoReturn

from src.errors import ErrorCode, SecretsError

EXIT_ERROR = 3


def dependency_missing(exc: ModuleNotFoundError) -> NoReturn:
    missing = SecretsError(
        ErrorCode.DependencyMissing,
        f"the Python package {exc.name or 'of a requirement'} is not installed for {sys.executable}",
        hint="Run the CLI from the project's venv: make venv, then .venv/bin/short-cut "
        "(or .venv/bin/python -m src.cli).",
    )
    if "--json" in sys.argv[1:]:
        print(json.dumps({"error": missing.to_dict()}), file=sys.stderr)
    else:
        print(f"error: {missing.code}: {missing.message} (hint: {missing.hint})", file=sys.stderr)
    raise SystemExit(EXIT_ERROR)
