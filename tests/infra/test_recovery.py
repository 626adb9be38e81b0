"""The recovery path after a failed first deploy (README, Deploying: "If the first deploy fails";
issue 24 item 2), as far as the emulator goes, over HTTP on moto_server.

AWS: a stack whose creation failed is ROLLBACK_COMPLETE and cannot be updated (serverless/serverless
#5630); the retained secret blocks a new stack's secret of the same name; a forced DeleteSecret
finishes in the background ("DeleteSecret", Secrets Manager API: "the secret ... might still be
visible for a short time"). moto 5.2 never reaches ROLLBACK_COMPLETE (a failing resource leaves the
stack CREATE_IN_PROGRESS), so the stack half is: delete, then the same stack name creates again;
the secret half is each step of the README with the answers the emulator gives.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from typing import Any

import boto3
import pytest

from tests.support.processes import moto_client_kwargs, running_moto

REGION = "us-east-1"
NAME = "short-cut/prod/app"
PLACEHOLDERS = '{"OPENAI_API_KEY": "<set with python -m src.cli push>"}'


@pytest.fixture(scope="module")
def clients(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, Any]]:
    with running_moto(tmp_path_factory.mktemp("moto")) as url:
        kwargs = moto_client_kwargs(url, REGION)
        yield {s: boto3.client(s, **kwargs) for s in ("secretsmanager", "cloudformation")}  # type: ignore[call-overload]


def gone(sm: Any, timeout: float = 30) -> bool:
    """README step 4: wait until DescribeSecret answers ResourceNotFoundException."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            sm.describe_secret(SecretId=NAME)
        except sm.exceptions.ResourceNotFoundException:
            return True
        time.sleep(0.5)
    return False


def test_the_retained_secret_blocks_a_new_one_until_force_deleted(clients: dict[str, Any]) -> None:
    sm = clients["secretsmanager"]
    sm.create_secret(Name=NAME, SecretString=PLACEHOLDERS)  # what the failed stack left behind
    with pytest.raises(sm.exceptions.ResourceExistsException):
        sm.create_secret(Name=NAME, SecretString=PLACEHOLDERS)
    # A deletion with a recovery window keeps the name taken for 7-30 days: not the way back.
    sm.delete_secret(SecretId=NAME, RecoveryWindowInDays=7)
    with pytest.raises(sm.exceptions.ClientError):
        sm.create_secret(Name=NAME, SecretString=PLACEHOLDERS)
    sm.restore_secret(SecretId=NAME)
    # README step 3: force-delete the placeholder secret; step 4: wait until it is gone.
    sm.delete_secret(SecretId=NAME, ForceDeleteWithoutRecovery=True)
    assert gone(sm)
    assert sm.create_secret(Name=NAME, SecretString=PLACEHOLDERS)["Name"] == NAME
    sm.delete_secret(SecretId=NAME, ForceDeleteWithoutRecovery=True)


def test_a_deleted_stack_name_can_be_created_again(clients: dict[str, Any]) -> None:
    cloudformation = clients["cloudformation"]
    template = '{"Resources": {"Topic": {"Type": "AWS::SNS::Topic"}}}'
    cloudformation.create_stack(StackName="short-cut-prod-recovery", TemplateBody=template)
    cloudformation.get_waiter("stack_create_complete").wait(
        StackName="short-cut-prod-recovery", WaiterConfig={"Delay": 1}
    )
    cloudformation.delete_stack(StackName="short-cut-prod-recovery")
    cloudformation.get_waiter("stack_delete_complete").wait(
        StackName="short-cut-prod-recovery", WaiterConfig={"Delay": 1}
    )
    cloudformation.create_stack(StackName="short-cut-prod-recovery", TemplateBody=template)
    cloudformation.get_waiter("stack_create_complete").wait(
        StackName="short-cut-prod-recovery", WaiterConfig={"Delay": 1}
    )
