"""Infra tests: rendered documents, and the checkers from .venv-infra (installed by make)."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from src.cli.render import render_all, values_for
from tests.support.processes import ROOT, moto_client_kwargs, running_moto

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


@pytest.fixture(scope="module")
def aws(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, str]]:
    """boto3 client arguments for a moto_server of this module's own (its state is the module's)."""
    with running_moto(tmp_path_factory.mktemp("moto")) as url:
        yield moto_client_kwargs(url, REGION)
