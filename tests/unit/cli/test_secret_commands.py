"""secret_commands in-process: the compare-and-set of rotate, the as-role read, and masked --debug."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import boto3
import pytest
from botocore.stub import Stubber
from moto import mock_aws

from src import cli
from src.aws import SecretsClient
from src.cli import secret_commands as sc
from src.cli.output import Output
from src.errors import SecretsError
from tests.support.canary import CANARY_VALUES, canary_secret_string, leaked

NAME = "short-cut/prod/app"
ROLE = "arn:aws:iam::123456789012:role/shortcut-ecs-task-role"


@pytest.fixture
def sm(monkeypatch: pytest.MonkeyPatch) -> Iterator[Any]:
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing")
    monkeypatch.setenv("AWS_REGION", "us-east-1")
    with mock_aws():
        yield boto3.client("secretsmanager", region_name="us-east-1")


def args(**values: Any) -> Any:
    defaults = {"env": "prod", "name": NAME, "value_stdin": False, "allow_extra": False, "as_role": None}
    return type("Args", (), {**defaults, **values})()


def test_rotate_does_not_overwrite_a_change_made_while_it_ran(sm: Any) -> None:
    """Another operator promotes a version between our read and our promotion: ours must fail."""
    sm.create_secret(Name=NAME, SecretString=canary_secret_string())
    client = SecretsClient("us-east-1")
    original_put = client.put_value
    theirs: list[str] = []

    def racing_put(name: str, secret_string: str, **kwargs: Any) -> str:
        version = original_put(name, secret_string, **kwargs)
        # The other operator's `rotate --key OPENAI_API_KEY` lands now, as a normal PutSecretValue.
        other = canary_secret_string(OPENAI_API_KEY="sk-CANARY-their-new-key")
        theirs.append(sm.put_secret_value(SecretId=name, SecretString=other)["VersionId"])
        return version

    client.put_value = racing_put  # type: ignore[method-assign]
    out = Output(as_json=True)
    with pytest.raises(SecretsError) as caught:
        sc.cmd_rotate(args(key="APP_SECRET_KEY"), client, out)
    assert caught.value.code == "CurrentVersionMoved" and caught.value.hint
    current = sm.get_secret_value(SecretId=NAME)
    assert current["VersionId"] == theirs[0]
    assert json.loads(current["SecretString"])["OPENAI_API_KEY"] == "sk-CANARY-their-new-key"
    stages = sm.describe_secret(SecretId=NAME)["VersionIdsToStages"]
    assert not any("AWSPENDING" in s for s in stages.values()), stages


def test_rotate_promotes_when_nothing_moved(sm: Any) -> None:
    first = sm.create_secret(Name=NAME, SecretString=canary_secret_string())["VersionId"]
    out = Output(as_json=True)
    assert sc.cmd_rotate(args(key="APP_SECRET_KEY"), SecretsClient("us-east-1"), out) == 0
    assert out.document["previous_version_id"] == first
    stages = sm.describe_secret(SecretId=NAME)["VersionIdsToStages"]
    assert stages[out.document["version_id"]] == ["AWSCURRENT"] and stages[first] == ["AWSPREVIOUS"]


def stubbed(service: str) -> tuple[Any, Stubber]:
    client = boto3.session.Session(aws_access_key_id="x", aws_secret_access_key="x").client(
        service,  # type: ignore[call-overload]
        region_name="us-east-1",
    )
    return client, Stubber(client)


TEMPORARY = {
    "AccessKeyId": "ASIAEXAMPLETEMPORARY",
    "SecretAccessKey": "CANARYtemporarysecretaccesskey",
    "SessionToken": "CANARYsessiontokenvalue",
    "Expiration": "2026-11-29T03:00:00Z",
}


def test_as_role_reports_a_refused_assume_role_with_its_own_hint() -> None:
    sts, stub = stubbed("sts")
    stub.add_client_error("assume_role", service_error_code="AccessDenied", service_message="not authorized")
    with stub, pytest.raises(SecretsError) as caught:
        sc.assume_role_credentials(ROLE, sts)
    assert caught.value.code == "AssumeRoleDenied"
    assert "trust policy" in caught.value.hint and ROLE in caught.value.message


def test_as_role_reports_a_refused_read_with_the_task_role_hint(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """moto does not check resource ARNs in IAM, so the refused read is stubbed as AWS answers it."""
    sts, sts_stub = stubbed("sts")
    sts_stub.add_response("assume_role", {"Credentials": TEMPORARY}, {
        "RoleArn": ROLE, "RoleSessionName": "short-cut-verify", "DurationSeconds": 900,
    })  # fmt: skip
    secrets, sm_stub = stubbed("secretsmanager")
    sm_stub.add_client_error(
        "get_secret_value",
        service_error_code="AccessDeniedException",
        service_message=f"User: {ROLE} is not authorized to perform: secretsmanager:GetSecretValue",
    )
    made: list[Any] = []

    def fake_build(region: str | None, *, service: str = "secretsmanager", credentials: Any = None, **_: Any) -> Any:
        made.append((service, credentials))
        return sts if service == "sts" else secrets

    monkeypatch.setattr("src.aws.build_client", fake_build)
    with sts_stub, sm_stub, pytest.raises(SecretsError) as caught:
        sc.cmd_verify(args(as_role=ROLE), SecretsClient("us-east-1"), Output(as_json=False))
    assert caught.value.code == "AccessDeniedException" and "taskRoleArn" in caught.value.hint
    assert made[1][1]["SessionToken"] == TEMPORARY["SessionToken"]  # the read used the role's credentials
    assert leaked(capsys.readouterr().out) == []


def test_debug_tracebacks_are_masked(
    sm: Any, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    sm.create_secret(Name=NAME, SecretString=canary_secret_string())

    def buggy(secret_string: str | None, *_: Any, **__: Any) -> str:
        raise RuntimeError(f"a bug that quotes {json.loads(secret_string or '{}')['APP_SECRET_KEY']}")

    monkeypatch.setattr(sc, "require_string", buggy)
    code = cli.main(["--debug", "verify", "--name", NAME])
    err = capsys.readouterr().err
    assert code == 3
    assert "RuntimeError: a bug that quotes ***" in err and "Traceback" in err
    assert CANARY_VALUES["APP_SECRET_KEY"] not in err
