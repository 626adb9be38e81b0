"""What the in-process tests of the secret commands share: the parsed arguments a command
receives, and botocore clients with a Stubber for answers moto cannot give."""

from __future__ import annotations

from typing import Any

import boto3
from botocore.stub import Stubber

NAME = "short-cut/prod/app"
ROLE = "arn:aws:iam::123456789012:role/shortcut-ecs-task-role"
TEMPORARY = {
    "AccessKeyId": "ASIAEXAMPLETEMPORARY",
    "SecretAccessKey": "CANARYtemporarysecretaccesskey",
    "SessionToken": "CANARYsessiontokenvalue",
    "Expiration": "2026-11-29T03:00:00Z",
}


def args(**values: Any) -> Any:
    """The argparse namespace of a secret command, with its defaults."""
    defaults = {
        "env": "prod",
        "name": NAME,
        "value_stdin": False,
        "allow_extra": False,
        "allow_example": False,
        "as_role": None,
        "to_version": None,
        # Confirmation is tested on its own (test_confirm.py); here production writes go ahead.
        "yes": True,
    }
    return type("Args", (), {**defaults, **values})()


def stubbed(service: str) -> tuple[Any, Stubber]:
    client = boto3.session.Session(aws_access_key_id="x", aws_secret_access_key="x").client(
        service,  # type: ignore[call-overload]
        region_name="us-east-1",
    )
    return client, Stubber(client)
