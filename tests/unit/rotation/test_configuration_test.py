"""The configuration test Secrets Manager runs when rotation is turned on without rotating
(RotationSchedule RotateImmediatelyOnUpdate: false; issue 24 item 6).

RotateSecret API, RotateImmediately: "Secrets Manager tests the rotation configuration by running
the testSecret step of the Lambda rotation function. The test creates an AWSPENDING version of the
secret and then removes it." Only testSecret is invoked (no createSecret). What that version holds
is not documented; moto, whose maintainers check it against AWS, gives it the current value
(getmoto/moto#8547: "we should have the existing value when only invoking the testSecret-step",
after #8504 made a rotation's own AWSPENDING empty until createSecret). Both shapes are tested: a
copy of AWSCURRENT, and an AWSPENDING label with no value. testSecret must pass for a healthy
secret and fail for a broken one in either, or step 4 of the README's deploy fails or lies.
"""

from __future__ import annotations

import json
import uuid
from typing import Any

import pytest

from src.errors import SecretsError
from tests.support.canary import canary_secret_string, leaked
from tests.unit.rotation.test_lambda_function import MISSING_LAMBDA, run


def configuration_test_state(sm: Any, secret_string: str, *, empty_pending: bool = False) -> tuple[str, str]:
    """The secret as Secrets Manager leaves it when it invokes testSecret for the configuration test."""
    arn = sm.create_secret(Name=f"short-cut/prod/app-{uuid.uuid4().hex[:6]}", SecretString=secret_string)["ARN"]
    # moto sets AWSPENDING up (a copy of AWSCURRENT with RotateImmediately false) and turns
    # rotation on before invoking the function; the function does not exist here, so it stops there.
    # moto sets AWSPENDING up and turns rotation on before invoking the function; the function does
    # not exist here, so it stops there. With RotateImmediately false the pending version is a copy
    # of AWSCURRENT; with true it has no value (the other shape: a label with nothing behind it).
    with pytest.raises(sm.exceptions.ResourceNotFoundException):
        sm.rotate_secret(
            SecretId=arn,
            RotationLambdaARN=MISSING_LAMBDA,
            RotationRules={"AutomaticallyAfterDays": 30},
            RotateImmediately=empty_pending,
        )
    stages = sm.describe_secret(SecretId=arn)["VersionIdsToStages"]
    token = next(v for v, s in stages.items() if "AWSPENDING" in s)
    if empty_pending:
        with pytest.raises(sm.exceptions.ResourceNotFoundException):
            sm.get_secret_value(SecretId=arn, VersionId=token, VersionStage="AWSPENDING")
    return arn, token


def current(sm: Any, arn: str) -> tuple[str, str]:
    answer = sm.get_secret_value(SecretId=arn)
    return answer["VersionId"], answer["SecretString"]


@pytest.mark.parametrize("empty_pending", [False, True], ids=["pending-is-a-copy", "pending-has-no-usable-value"])
def test_a_healthy_configuration_passes(sm: Any, empty_pending: bool, caplog: pytest.LogCaptureFixture) -> None:
    arn, token = configuration_test_state(sm, canary_secret_string(), empty_pending=empty_pending)
    before = current(sm, arn)
    run("testSecret", arn, token)
    assert current(sm, arn) == before  # nothing promoted, nothing written
    assert "configuration test" in caplog.text or "is valid" in caplog.text
    assert leaked(caplog.text) == []


@pytest.mark.parametrize("empty_pending", [False, True], ids=["pending-is-a-copy", "pending-has-no-usable-value"])
@pytest.mark.parametrize(
    ("secret", "code"),
    [
        (canary_secret_string(OPENAI_API_KEY="<set with python -m src.cli push>"), "PlaceholderValue"),
        (json.dumps({"APP_SECRET_KEY": "only-one-key-" + "x" * 40}), "MissingRequiredKeys"),
    ],
    ids=["placeholders", "keys-missing"],
)
def test_a_broken_configuration_fails(sm: Any, empty_pending: bool, secret: str, code: str) -> None:
    arn, token = configuration_test_state(sm, secret, empty_pending=empty_pending)
    with pytest.raises(SecretsError) as caught:
        run("testSecret", arn, token)
    assert caught.value.code == code
    assert leaked(str(caught.value)) == []
