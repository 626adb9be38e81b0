"""`python -m src.cli fleet` over HTTP against moto_server's CloudWatch Logs and Secrets Manager.

The log events are the lines the service's own code writes: served-version records
(src.telemetry.served_version) through the JSON logger of src.telemetry.logs, and, to show they
are not reports, SecretAgeSeconds EMF lines from src.telemetry.metrics. They go in with
PutLogEvents, as the awslogs driver sends them. (tests/reliability/test_oracle.py ships real
services' lines the same way.)

How far moto goes (5.2.5): StartQuery and GetQueryResults work over HTTP, the query
completes at once, the time window is applied, a missing log group is
ResourceNotFoundException, and `fields` (@timestamp, @logStream, @message), `sort` and
`limit` are honoured. `filter`, `dedup` and JSON field extraction are ignored
(moto/logs/logs_query/query_parser.py), so fleet's client-side filter and dedup do the
work here; their AWS-side behaviour is covered with the Stubber in tests/unit/cli/test_fleet.py.

AWSCURRENT comes from moto_server's DescribeSecret (VersionIdsToStages), as from AWS
(https://docs.aws.amazon.com/secretsmanager/latest/apireference/API_DescribeSecret.html).
"""

from __future__ import annotations

import contextlib
import io
import json
import subprocess
import time
import uuid
from collections.abc import Iterator
from typing import Any

import pytest

from src.aws import task_metadata
from src.telemetry import metrics
from src.telemetry.served_version import Reason
from tests.e2e.conftest import moto_client
from tests.support.canary import canary_secret_string, leaked
from tests.support.emf import emf_lines
from tests.support.processes import BIN, DUMMY_CREDENTIALS, ROOT, clean_environment
from tests.support.served import line, record

REGION = "us-east-1"
TASK_A = "158d1c8083dd49d6b527399fd6414f5c"
TASK_B = "2a9e1c8083dd49d6b527399fd6414f00"


@pytest.fixture
def logs(moto_url: str) -> Any:
    return moto_client("logs", moto_url)


@pytest.fixture
def group(logs: Any) -> Iterator[str]:
    name = f"/ecs/short-cut-api-e2e-{uuid.uuid4().hex[:8]}"
    logs.create_log_group(logGroupName=name)
    yield name
    logs.delete_log_group(logGroupName=name)


def fleet_env(moto_url: str) -> dict[str, str]:
    # One switch: botocore's global AWS_ENDPOINT_URL reaches CloudWatch Logs and Secrets Manager alike.
    return clean_environment(AWS_REGION=REGION, AWS_ENDPOINT_URL=moto_url, **DUMMY_CREDENTIALS)


def fleet(moto_url: str, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [str(BIN / "python"), "-m", "src.cli", "fleet", *args],
        cwd=ROOT, env=fleet_env(moto_url), capture_output=True, text=True, timeout=60, check=False,
    )  # fmt: skip


@pytest.fixture(autouse=True)
def _outside_ecs(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """The lines are made here, outside ECS: no metadata endpoint, no cached ARN."""
    monkeypatch.delenv(task_metadata.ENV_VAR, raising=False)
    task_metadata.reset()
    yield
    task_metadata.reset()


def masked(line: str, word: str) -> str:
    """The line as a log mask that also hid `word` wrote it (issue 19: a project id equal to a
    word of the secret's name turned `secret_name` into `***/...`)."""
    return line.replace(word, "***")


def version_line(secret_name: str, version_id: str, *, reason: Reason = "refresh") -> str:
    """The served-version record a task writes after a commit, through the service's JSON log format."""
    text = line(record(secret_name, version_id, reason=reason))
    assert json.loads(text)["version_id"] == version_id
    return text


def age_line(secret_name: str, version_id: str) -> str:
    """A heartbeat record (every minute, whatever METRICS says)."""
    return version_line(secret_name, version_id, reason="heartbeat")


def emf_age_line(secret_name: str, version_id: str) -> str:
    """The SecretAgeSeconds EMF line: it carries both fields, and is not a report."""
    stream = io.StringIO()
    metrics.Emitter(environment="prod", enabled=True, stream=stream).emit(
        {"SecretAgeSeconds": 30.0}, secret_name=secret_name, version_id=version_id
    )
    text = stream.getvalue().strip()
    assert len(emf_lines(text)) == 1
    return text


def put(logs: Any, group: str, task: str, *events: tuple[float, str]) -> None:
    stream = f"ecs/short-cut-api/{task}"
    with contextlib.suppress(logs.exceptions.ResourceAlreadyExistsException):
        logs.create_log_stream(logGroupName=group, logStreamName=stream)
    now_ms = int(time.time() * 1000)
    logs.put_log_events(
        logGroupName=group,
        logStreamName=stream,
        logEvents=[{"timestamp": now_ms - int(ago * 1000), "message": text} for ago, text in events],
    )


def test_fleet_follows_a_rotation_task_by_task(moto_url: str, sm: Any, logs: Any, group: str) -> None:
    name = f"short-cut/prod/app-fleet-{uuid.uuid4().hex[:8]}"
    old = sm.create_secret(Name=name, SecretString=canary_secret_string())["VersionId"]
    new = sm.put_secret_value(SecretId=name, SecretString=canary_secret_string(APP_SECRET_KEY="CANARYrotated-1"))[
        "VersionId"
    ]
    put(logs, group, TASK_A, (600, version_line(name, old)), (20, version_line(name, new)))
    put(logs, group, TASK_B, (600, version_line(name, old)), (30, age_line(name, old)))
    # Outside the one-hour window: must not count.
    put(logs, group, "0000000000000000000000000000dead", (7200, age_line(name, old)))
    put(logs, group, TASK_B, (15, '{"level": "INFO", "message": "secrets loaded"}'), (10, "plain text"))
    # Lines with both fields that are not records (the EMF age line) never count.
    put(logs, group, TASK_B, (8, emf_age_line(name, new)))

    behind = fleet(moto_url, "--log-group", group, "--name", name, "--json")
    assert behind.returncode == 1, behind.stderr
    document = json.loads(behind.stdout)
    assert document["current"] == {name: new} and document["current_source"] == "AWSCURRENT"
    assert {(t["task"], t["version_id"]) for t in document["tasks"]} == {(TASK_A, new), (TASK_B, old)}
    assert document["converged"] is False

    put(logs, group, TASK_B, (5, age_line(name, new)))
    done = fleet(moto_url, "--log-group", group, "--name", name)
    assert done.returncode == 0, done.stdout + done.stderr
    assert "all 2 reporting tasks serve AWSCURRENT" in done.stdout
    assert f"AWSCURRENT: {name} {new}" in done.stdout
    assert leaked(behind.stdout, behind.stderr, done.stdout, done.stderr) == []


def test_a_missing_secret_is_an_error_not_a_guess(moto_url: str, group: str) -> None:
    result = fleet(moto_url, "--log-group", group, "--name", f"short-cut/prod/none-{uuid.uuid4().hex[:8]}")
    assert result.returncode == 3
    assert result.stderr.startswith("error: ResourceNotFoundException:")
    assert "secretsmanager:DescribeSecret" in result.stderr


def test_a_missing_log_group_is_an_error_with_a_hint(moto_url: str, sm: Any) -> None:
    name = f"short-cut/prod/app-nogroup-{uuid.uuid4().hex[:8]}"
    sm.create_secret(Name=name, SecretString=canary_secret_string())
    result = fleet(moto_url, "--log-group", f"/ecs/none-{uuid.uuid4().hex[:8]}", "--name", name)
    assert result.returncode == 3
    assert result.stderr.startswith("error: ResourceNotFoundException:")
    assert "does not exist in this region" in result.stderr


def test_masked_names_are_unknown_while_awscurrent_moved_on(moto_url: str, sm: Any, logs: Any, group: str) -> None:
    # The case over HTTP: both tasks report the old version under a masked name; the
    # secret's AWSCURRENT is the new one. Before: "all 2 reporting tasks serve the current
    # version", exit 0.
    word = uuid.uuid4().hex[:8]
    name = f"short-cut/prod/app-{word}"
    old = sm.create_secret(Name=name, SecretString=canary_secret_string())["VersionId"]
    sm.put_secret_value(SecretId=name, SecretString=canary_secret_string(APP_SECRET_KEY="CANARYrotated-2"))
    put(logs, group, TASK_A, (20, masked(version_line(name, old), word)))
    put(logs, group, TASK_B, (30, masked(age_line(name, old), word)))
    result = fleet(moto_url, "--log-group", group, "--name", name, "--json")
    assert result.returncode == 1, result.stdout + result.stderr
    document = json.loads(result.stdout)
    assert document["converged"] is False
    assert {(t["task"], t["secret_name"], t["state"]) for t in document["tasks"]} == {
        (TASK_A, "short-cut/prod/app-***", "UNKNOWN"),
        (TASK_B, "short-cut/prod/app-***", "UNKNOWN"),
    }
    assert leaked(result.stdout, result.stderr) == []


def test_fleet_wait_returns_once_the_tasks_catch_up(moto_url: str, sm: Any, logs: Any, group: str) -> None:
    name = f"short-cut/prod/app-wait-{uuid.uuid4().hex[:8]}"
    old = sm.create_secret(Name=name, SecretString=canary_secret_string())["VersionId"]
    new = sm.put_secret_value(SecretId=name, SecretString=canary_secret_string(APP_SECRET_KEY="CANARYrotated-3"))[
        "VersionId"
    ]
    put(logs, group, TASK_A, (20, age_line(name, new)))
    put(logs, group, TASK_B, (20, age_line(name, old)))
    args = ["--log-group", group, "--name", name, "--wait", "30", "--poll", "1"]
    with subprocess.Popen(
        [str(BIN / "python"), "-m", "src.cli", "fleet", *args],
        cwd=ROOT, env=fleet_env(moto_url), stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    ) as waiting:  # fmt: skip
        try:
            assert waiting.stderr is not None
            first = waiting.stderr.readline()  # the first look found task B behind
            assert "not converged (1 behind, 0 unknown)" in first, first
            put(logs, group, TASK_B, (0, version_line(name, new)))
            out, err = waiting.communicate(timeout=30)
        finally:
            waiting.kill()
    assert waiting.returncode == 0, out + err
    assert "all 2 reporting tasks serve AWSCURRENT" in out


def test_fleet_wait_times_out_non_zero(moto_url: str, sm: Any, logs: Any, group: str) -> None:
    name = f"short-cut/prod/app-late-{uuid.uuid4().hex[:8]}"
    old = sm.create_secret(Name=name, SecretString=canary_secret_string())["VersionId"]
    sm.put_secret_value(SecretId=name, SecretString=canary_secret_string(APP_SECRET_KEY="CANARYrotated-4"))
    put(logs, group, TASK_A, (20, age_line(name, old)))
    started = time.monotonic()
    result = fleet(moto_url, "--log-group", group, "--name", name, "--wait", "2", "--poll", "1")
    assert result.returncode == 1, result.stdout + result.stderr
    assert 2 <= time.monotonic() - started < 30
    assert "not converged after --wait 2s" in result.stdout
    assert result.stderr.count("fleet: not converged") >= 2
