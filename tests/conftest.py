"""Fixtures shared by every test folder."""

from __future__ import annotations

import logging
import os
from collections.abc import Iterator

import pytest

from tests.support import canary, moto_aws

# In-process moto behaves as AWS where the tests rely on it (deprecated secret versions).
moto_aws.patch()


@pytest.fixture
def canary_values() -> dict[str, object]:
    return canary.canary_payload()


@pytest.fixture(autouse=True)
def _isolated_process_env(monkeypatch: pytest.MonkeyPatch, tmp_path_factory: pytest.TempPathFactory) -> Iterator[None]:
    """No developer .env or AWS profile reaches a test; os.environ is restored after each."""
    saved = dict(os.environ)
    monkeypatch.setenv("ENV_FILE", str(tmp_path_factory.getbasetemp() / "no-such.env"))
    for key in list(os.environ):
        if key.startswith("AWS_") or key in ("APP_ENV", "SECRET_NAME", "GOOGLE_APPLICATION_CREDENTIALS"):
            monkeypatch.delenv(key, raising=False)
    root = logging.getLogger()
    handlers, level = root.handlers[:], root.level
    yield
    root.handlers[:] = handlers
    root.setLevel(level)
    os.environ.clear()
    os.environ.update(saved)
