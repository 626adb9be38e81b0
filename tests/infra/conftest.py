"""Infra tests: rendered documents, and the checkers from .venv-infra (installed by make)."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import pytest

from src.cli.render import render_all, values_for
from tests.support.processes import ROOT

ACCOUNT = "111122223333"
REGION = "us-east-1"
IMAGE = "registry.invalid/short-cut-api:1.0.0"


def infra_bin(tool: str) -> Path:
    """A tool from the infra venv; its absence is a failure, not a skip (make test installs it)."""
    path = Path(os.environ.get("INFRA_BIN", ROOT / ".venv-infra" / "bin")) / tool
    assert path.exists(), f"{path} is missing: run `make infra-venv` (make test does)"
    return path


@pytest.fixture(scope="session")
def rendered() -> dict[str, Any]:
    return render_all(values_for(account_id=ACCOUNT, region=REGION, env="prod", image=IMAGE))
