"""A stubbed CloudWatch Logs client for the CLI's unit tests (in-process moto's `sm` is in
tests/unit/conftest.py)."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import botocore.session
import pytest
from botocore.stub import Stubber


@pytest.fixture(scope="module")
def logs_client() -> Any:
    # Loading the service model takes most of a second: one client per module, a fresh Stubber per test.
    return botocore.session.get_session().create_client(
        "logs", region_name="us-east-1", aws_access_key_id="testing", aws_secret_access_key="testing"
    )


@pytest.fixture
def logs(logs_client: Any) -> Iterator[tuple[Any, Stubber]]:
    """The Logs client and its Stubber; every queued answer must have been used."""
    with Stubber(logs_client) as stubber:
        yield logs_client, stubber
        stubber.assert_no_pending_responses()
