"""The four rotation steps, driven the way Secrets Manager drives them, each run twice (in-process moto)."""

from __future__ import annotations

import json
import uuid
from typing import Any

import pytest

from src.aws.client import SecretsClient
from src.errors import SecretsError
from src.rotation import lambda_function as rotation
from tests.support.canary import CANARY_VALUES, canary_payload, canary_secret_string, leaked

MISSING_LAMBDA = "arn:aws:lambda:us-east-1:123456789012:function:shortcut-secret-rotation"


def start_rotation(sm: Any, secret_string: str | None = None) -> tuple[str, str, str]:
    """A fresh secret (see the emulator's quirks), then the state Secrets Manager sets up before createSecret."""
    name = f"short-cut/prod/app-{uuid.uuid4().hex[:6]}"
    arn = sm.create_secret(Name=name, SecretString=secret_string or canary_secret_string())["ARN"]
    original = sm.describe_secret(SecretId=arn)
    current = next(v for v, s in original["VersionIdsToStages"].items() if "AWSCURRENT" in s)
    with pytest.raises(sm.exceptions.ResourceNotFoundException):
        sm.rotate_secret(SecretId=arn, RotationLambdaARN=MISSING_LAMBDA, RotationRules={"AutomaticallyAfterDays": 30})
    stages = sm.describe_secret(SecretId=arn)["VersionIdsToStages"]
    token = next(v for v, s in stages.items() if "AWSPENDING" in s)
    return arn, token, current


def run(step: str, arn: str, token: str) -> None:
    event = {"Step": step, "SecretId": arn, "ClientRequestToken": token}
    rotation.lambda_handler(event, None, client=SecretsClient("us-east-1"))


def value(sm: Any, arn: str, **which: str) -> dict[str, Any]:
    return dict(json.loads(sm.get_secret_value(SecretId=arn, **which)["SecretString"]))


def test_full_rotation_each_step_twice(sm: Any, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level("DEBUG", logger="short_cut")
    arn, token, old = start_rotation(sm)
    for step in ("createSecret", "createSecret"):
        run(step, arn, token)
    pending = value(sm, arn, VersionId=token, VersionStage="AWSPENDING")
    first_key = pending["APP_SECRET_KEY"]
    assert first_key != CANARY_VALUES["APP_SECRET_KEY"]
    assert len(first_key) >= 86  # token_urlsafe(64)
    assert {k: v for k, v in pending.items() if k != "APP_SECRET_KEY"} == {
        k: v for k, v in canary_payload().items() if k != "APP_SECRET_KEY"
    }
    for step in ("setSecret", "setSecret", "testSecret", "testSecret", "finishSecret", "finishSecret"):
        run(step, arn, token)
    stages = sm.describe_secret(SecretId=arn)["VersionIdsToStages"]
    assert "AWSCURRENT" in stages[token]
    assert "AWSPREVIOUS" in stages[old]
    assert value(sm, arn, VersionStage="AWSCURRENT")["APP_SECRET_KEY"] == first_key
    assert value(sm, arn, VersionId=old)["APP_SECRET_KEY"] == CANARY_VALUES["APP_SECRET_KEY"]
    ours = "\n".join(r.getMessage() for r in caplog.records if r.name.startswith("short_cut"))
    assert "finishSecret: moved AWSCURRENT" in ours
    assert first_key not in ours
    assert leaked(ours) == []


def test_token_already_current_returns_without_change(sm: Any) -> None:
    arn, _, current = start_rotation(sm)
    run("createSecret", arn, current)  # AWSCURRENT: nothing to do
    assert value(sm, arn, VersionStage="AWSCURRENT") == canary_payload()


def test_unknown_token_is_an_error(sm: Any) -> None:
    arn, _, _ = start_rotation(sm)
    with pytest.raises(SecretsError) as caught:
        run("createSecret", arn, str(uuid.uuid4()))
    assert caught.value.code == "UnknownVersion"


def test_token_not_pending_is_an_error(sm: Any) -> None:
    arn, token, old = start_rotation(sm)
    for step in ("createSecret", "setSecret", "testSecret", "finishSecret"):
        run(step, arn, token)
    # The old version is now AWSPREVIOUS: neither current nor pending.
    with pytest.raises(SecretsError) as caught:
        run("testSecret", arn, old)
    assert caught.value.code == "VersionNotPending"


def test_rotation_not_enabled_is_an_error(sm: Any) -> None:
    arn = sm.create_secret(Name=f"short-cut/prod/app-{uuid.uuid4().hex[:6]}", SecretString=canary_secret_string())[
        "ARN"
    ]
    token = next(iter(sm.describe_secret(SecretId=arn)["VersionIdsToStages"]))
    with pytest.raises(SecretsError) as caught:
        run("createSecret", arn, token)
    assert caught.value.code == "RotationNotEnabled"


def test_unknown_step_is_an_error(sm: Any) -> None:
    arn, token, _ = start_rotation(sm)
    with pytest.raises(SecretsError) as caught:
        run("dropSecret", arn, token)
    assert caught.value.code == "InvalidRotationStep"


def test_invalid_current_secret_is_not_rotated(sm: Any) -> None:
    arn, token, _ = start_rotation(sm, canary_secret_string(MILVUS_PORT="0"))
    with pytest.raises(SecretsError) as caught:
        run("createSecret", arn, token)
    assert caught.value.code == "InvalidSecretValue"
    with pytest.raises(sm.exceptions.ResourceNotFoundException):
        sm.get_secret_value(SecretId=arn, VersionId=token, VersionStage="AWSPENDING")


def test_test_secret_refuses_a_bad_pending_value(sm: Any) -> None:
    arn, token, _ = start_rotation(sm)
    sm.put_secret_value(
        SecretId=arn, ClientRequestToken=token, SecretString=json.dumps({"A": "1"}), VersionStages=["AWSPENDING"]
    )
    with pytest.raises(SecretsError) as caught:
        run("testSecret", arn, token)
    assert caught.value.code == "MissingRequiredKeys"


def test_test_secret_refuses_a_stale_copy_after_an_operator_rotated_a_provider_key(sm: Any) -> None:
    """createSecret copied AWSCURRENT; an operator then rotated OPENAI_API_KEY; a retried
    finishSecret would restore the old provider key. testSecret must stop the rotation."""
    arn, token, _ = start_rotation(sm)
    run("createSecret", arn, token)
    operator = sm.put_secret_value(SecretId=arn, SecretString=canary_secret_string(OPENAI_API_KEY="sk-CANARY-new"))
    with pytest.raises(SecretsError) as caught:
        run("testSecret", arn, token)
    assert caught.value.code == "StaleRotation" and "OPENAI_API_KEY" in caught.value.message
    assert "APP_SECRET_KEY" not in caught.value.message and leaked(str(caught.value)) == []
    assert caught.value.hint and "cancel-rotate-secret" in caught.value.hint
    current = sm.get_secret_value(SecretId=arn)
    assert current["VersionId"] == operator["VersionId"]


def test_finish_secret_refuses_a_version_pushed_after_test_secret(sm: Any) -> None:
    """testSecret passed; then an operator pushes a new provider key; finishSecret must not
    promote the copy that would put the old key back (it re-checks against AWSCURRENT now)."""
    arn, token, _ = start_rotation(sm)
    run("createSecret", arn, token)
    run("testSecret", arn, token)
    pushed = sm.put_secret_value(SecretId=arn, SecretString=canary_secret_string(OPENAI_API_KEY="sk-CANARY-pushed"))
    with pytest.raises(SecretsError) as caught:
        run("finishSecret", arn, token)
    assert caught.value.code == "StaleRotation"
    current = sm.get_secret_value(SecretId=arn, VersionStage="AWSCURRENT")
    assert current["VersionId"] == pushed["VersionId"]
    assert json.loads(current["SecretString"])["OPENAI_API_KEY"] == "sk-CANARY-pushed"
