"""`verify --as-role`'s sts:AssumeRole, against botocore's Stubber (moto's STS grants any
AssumeRole, so a refusal must be stubbed as AWS sends it: the code AccessDenied, AssumeRole API
reference, Errors)."""

from __future__ import annotations

import uuid
from typing import Any

import pytest

from src.aws.client import SecretsClient
from src.cli import as_role
from src.errors import SecretsError
from src.telemetry.mask import masker
from tests.unit.cli.helpers import ROLE, TEMPORARY, stubbed

EXPECTED = {"RoleArn": ROLE, "RoleSessionName": "short-cut-verify", "DurationSeconds": 900}


def test_as_role_reports_a_refused_assume_role_with_its_own_hint() -> None:
    sts, stub = stubbed("sts")
    stub.add_client_error("assume_role", service_error_code="AccessDenied", service_message="not authorized")
    with stub, pytest.raises(SecretsError) as caught:
        as_role.assume_role_credentials(ROLE, sts)
    assert caught.value.code == "AssumeRoleDenied"
    assert "trust policy" in caught.value.hint and ROLE in caught.value.message


def test_other_sts_errors_keep_their_code() -> None:
    sts, stub = stubbed("sts")
    stub.add_client_error("assume_role", service_error_code="RegionDisabledException", service_message="off")
    with stub, pytest.raises(SecretsError) as caught:
        as_role.assume_role_credentials(ROLE, sts)
    assert caught.value.code == "RegionDisabledException"


def test_the_credentials_are_kept_for_the_client_and_known_to_the_mask() -> None:
    # Values no other test has registered: the mask is process-wide.
    fresh = {**TEMPORARY, "SecretAccessKey": f"CANARY{uuid.uuid4().hex}", "SessionToken": f"CANARY{uuid.uuid4().hex}"}
    sts, stub = stubbed("sts")
    stub.add_response("assume_role", {"Credentials": fresh}, EXPECTED)
    with stub:
        credentials = as_role.assume_role_credentials(ROLE, sts)
    assert credentials == {k: fresh[k] for k in ("AccessKeyId", "SecretAccessKey", "SessionToken")}  # no Expiration
    assert masker.mask(f"{fresh['SecretAccessKey']} {fresh['SessionToken']}") == "*** ***"


def test_the_client_reads_with_the_roles_credentials_in_the_same_region(monkeypatch: pytest.MonkeyPatch) -> None:
    sts, stub = stubbed("sts")
    stub.add_response("assume_role", {"Credentials": TEMPORARY}, EXPECTED)
    made: list[tuple[str | None, str, Any]] = []
    reader = object()

    def fake_build(region: str | None, *, service: str = "secretsmanager", credentials: Any = None, **_: Any) -> Any:
        made.append((region, service, credentials))
        return sts if service == "sts" else reader

    monkeypatch.setattr("src.aws.client.build_client", fake_build)
    with stub:
        client = as_role.assume_role_client(ROLE, SecretsClient("eu-west-1"))
    assert client.region == "eu-west-1" and client.client is reader
    assert made[0] == ("eu-west-1", "sts", None)
    assert made[1][:2] == ("eu-west-1", "secretsmanager") and made[1][2]["SessionToken"] == TEMPORARY["SessionToken"]
