"""In-process moto and a stubbed CloudWatch Logs client for the CLI's unit tests
(the e2e tests use moto_server over HTTP)."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import boto3
import botocore.session
import pytest
from botocore.stub import Stubber
from moto import mock_aws


@pytest.fixture
def sm(monkeypatch: pytest.MonkeyPatch) -> Iterator[Any]:
    """A Secrets Manager client on in-process moto; SecretsClient("us-east-1") reaches the same moto."""
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing")
    monkeypatch.setenv("AWS_REGION", "us-east-1")
    with mock_aws():
        yield boto3.client("secretsmanager", region_name="us-east-1")


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
