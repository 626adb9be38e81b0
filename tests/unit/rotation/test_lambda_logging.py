"""The rotation Lambda writes no value at any log level (issue 19, item 5): a canary hunt over all
four steps with the runtime's application log level at DEBUG (in-process moto).

With advanced logging controls, Lambda passes the function's application log level to the
Python runtime in AWS_LAMBDA_LOG_LEVEL and the runtime sets the root logger to it ("Lambda
sets the application log level in the runtime using the AWS_LAMBDA_LOG_LEVEL environment
variable", https://docs.aws.amazon.com/lambda/latest/dg/monitoring-cloudwatchlogs-advanced.html
and https://docs.aws.amazon.com/lambda/latest/dg/python-logging.html). At DEBUG, botocore
logs whole request and response bodies: the secret, private key included.
"""

from __future__ import annotations

import io
import json
import logging
from collections.abc import Iterator
from typing import Any

import pytest

from src.rotation import lambda_function as rotation
from tests.support.canary import CANARY_PRIVATE_KEY, leaked
from tests.unit.rotation.test_lambda_function import start_rotation

QUIET = ("botocore", "boto3", "urllib3")
STEPS = ("createSecret", "setSecret", "testSecret", "finishSecret")


@pytest.fixture
def runtime_at_debug(monkeypatch: pytest.MonkeyPatch) -> Iterator[io.StringIO]:
    """The root logger as the Python runtime leaves it at DEBUG: one handler, every record, args rendered."""
    monkeypatch.setenv("AWS_LAMBDA_LOG_LEVEL", "DEBUG")
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    handler.setFormatter(logging.Formatter("[%(levelname)s]\t%(name)s\t%(message)s"))
    root = logging.getLogger()
    saved = {name: logging.getLogger(name).level for name in QUIET}
    root.handlers[:] = [handler]
    root.setLevel(logging.DEBUG)
    # Whatever set these loggers' levels before the call (the runtime, boto3.set_stream_logger):
    for name in QUIET:
        logging.getLogger(name).setLevel(logging.DEBUG)
    yield stream
    for name, level in saved.items():
        logging.getLogger(name).setLevel(level)


def test_all_four_steps_at_debug_write_no_value(sm: Any, runtime_at_debug: io.StringIO) -> None:
    arn, token, _ = start_rotation(sm)
    runtime_at_debug.seek(0)
    runtime_at_debug.truncate()  # the test's own set-up calls are not the Lambda's
    for step in STEPS:
        # client=None: the handler builds its own client, as in the Lambda runtime.
        rotation.lambda_handler({"Step": step, "SecretId": arn, "ClientRequestToken": token}, None)
    output = runtime_at_debug.getvalue()
    new_key = json.loads(sm.get_secret_value(SecretId=arn)["SecretString"])["APP_SECRET_KEY"]
    assert "finishSecret: moved AWSCURRENT" in output  # the hunt saw the Lambda's own lines
    assert new_key not in output and leaked(output) == [], output[:3000]
    assert CANARY_PRIVATE_KEY.splitlines()[1] not in output
    for name in QUIET:
        assert not logging.getLogger(name).isEnabledFor(logging.INFO), name
