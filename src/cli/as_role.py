"""`verify --as-role`: read the secret as the task would, with the task role's temporary
credentials from sts:AssumeRole (the guide's step 5-3).

The credentials go only into a client: never printed, logged or written, and the mask
knows them, for --debug.
"""

from __future__ import annotations

from typing import Any

from src.aws import client as aws_client
from src.aws.client import SecretsClient, aws_errors
from src.aws.errors import STS
from src.errors import ErrorCode, SecretsError
from src.telemetry.mask import masker

SESSION_NAME = "short-cut-verify"
# The shortest session STS grants (AssumeRole API reference, DurationSeconds): verify needs seconds.
DURATION_SECONDS = 900


def assume_role_credentials(role_arn: str, sts: Any) -> dict[str, str]:
    """The role's AccessKeyId, SecretAccessKey and SessionToken; a refusal is AssumeRoleDenied."""
    try:
        with aws_errors(service=STS):
            answer = sts.assume_role(RoleArn=role_arn, RoleSessionName=SESSION_NAME, DurationSeconds=DURATION_SECONDS)
    except SecretsError as exc:
        # STS spells it AccessDenied, Secrets Manager AccessDeniedException.
        if exc.code in ("AccessDenied", ErrorCode.AccessDeniedException):
            raise SecretsError(
                ErrorCode.AssumeRoleDenied,
                f"sts:AssumeRole on {role_arn} was refused",
                hint="Your identity may not assume the task role: its trust policy allows only "
                "ecs-tasks.amazonaws.com. Add a temporary trust statement for your principal (and remove it "
                "after), or run verify inside a task with ECS Exec.",
            ) from None
        raise
    credentials = {k: str(v) for k, v in answer["Credentials"].items() if k != "Expiration"}
    masker.register([credentials["SecretAccessKey"], credentials["SessionToken"]])
    return credentials


def assume_role_client(role_arn: str, client: SecretsClient) -> SecretsClient:
    """A Secrets Manager client holding the role's temporary credentials."""
    # Looked up on the module at call time, so a test can replace build_client.
    credentials = assume_role_credentials(role_arn, aws_client.build_client(client.region, service="sts"))
    return SecretsClient(client.region, client=aws_client.build_client(client.region, credentials=credentials))
