"""The served-version record as the service writes it (SecretsBootstrapper.report_served), read
back with fleet's reader; and the failure line, which names the secret and what is still served.
In-process moto; every line goes through the service's real formatter, in both log formats."""

from __future__ import annotations

import contextlib
import json
import logging
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import boto3
import pytest
from moto import mock_aws

from src.cli.fleet.reports import reports_from_rows
from src.cli.fleet.verdict import FAILING, judge
from src.config import Settings
from src.errors import SecretsError
from src.loading.environment import EnvironmentApplier
from src.secrets_manager import SecretsBootstrapper
from src.telemetry.mask import SecretMasker
from src.telemetry.served_version import ServedVersion, parse_line
from tests.support.canary import canary_payload, canary_secret_string, leaked
from tests.support.served import logged

NAME = "short-cut/prod/app"
STREAM = "ecs/short-cut-api/158d1c8083dd49d6b527399fd6414f5c"
FORMATS = pytest.mark.parametrize("json_lines", [True, False], ids=["json", "text"])


@pytest.fixture
def aws(monkeypatch: pytest.MonkeyPatch) -> Iterator[Any]:
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing")
    with mock_aws():
        yield boto3.client("secretsmanager", region_name="us-east-1")


@pytest.fixture
def boot(tmp_path: Path) -> Iterator[SecretsBootstrapper]:
    bootstrapper = SecretsBootstrapper(applier=EnvironmentApplier(temp_root=str(tmp_path)), log_masker=SecretMasker())
    yield bootstrapper
    bootstrapper.applier.cleanup()


def production() -> Settings:
    return Settings(app_env="production", aws_region="us-east-1")


def records(text: str) -> list[ServedVersion]:
    return [r for r in (parse_line(t) for t in text.splitlines()) if r is not None]


def rows(text: str) -> list[list[dict[str, str]]]:
    """The lines as Logs Insights would return them, one millisecond apart."""
    start = datetime(2026, 5, 1, tzinfo=UTC)
    return [
        [
            {"field": "@timestamp", "value": str(int((start + timedelta(milliseconds=i)).timestamp() * 1000))},
            {"field": "@logStream", "value": STREAM},
            {"field": "@message", "value": t},
        ]
        for i, t in enumerate(text.splitlines())
    ]


def step(action: Callable[[], object]) -> None:
    with contextlib.suppress(SecretsError):
        action()


@FORMATS
def test_a_record_after_every_commit_failure_and_recovery(
    aws: Any, boot: SecretsBootstrapper, json_lines: bool
) -> None:
    first = aws.create_secret(Name=NAME, SecretString=canary_secret_string())["VersionId"]
    settings = production()
    text = logged(lambda: boot.load(settings), json_lines=json_lines)
    assert [(r.reason, r.version_id, r.status, r.error_code, r.region) for r in records(text)] == [
        ("start", first, "ok", None, "us-east-1")
    ]

    # A version missing a required key: the failure names the secret, the code and what is still served.
    payload = canary_payload()
    del payload["OPENAI_API_KEY"]
    aws.put_secret_value(SecretId=NAME, SecretString=json.dumps(payload))
    text = logged(lambda: step(lambda: boot.refresh(settings)), json_lines=json_lines)
    assert [(r.reason, r.secret_name, r.version_id, r.status, r.error_code) for r in records(text)] == [
        ("failure", NAME, first, "failing", "MissingRequiredKeys")
    ]
    warning = next(t for t in text.splitlines() if "refresh failed" in t)
    assert f"secrets refresh failed for {NAME}, still serving {NAME}={first}" in warning
    if json_lines:
        fields = json.loads(warning)
        assert (fields["secret_name"], fields["served_version_id"], fields["error_code"]) == (
            NAME,
            first,
            "MissingRequiredKeys",
        )
        assert fields["served_version_ids"] == {NAME: first}

    # The heartbeat says the same until it is fixed.
    text = logged(lambda: boot.report_served("heartbeat"), json_lines=json_lines)
    assert [(r.reason, r.version_id, r.error_code) for r in records(text)] == [
        ("heartbeat", first, "MissingRequiredKeys")
    ]

    third = aws.put_secret_value(SecretId=NAME, SecretString=canary_secret_string(APP_SECRET_KEY="CANARYnext-1"))[
        "VersionId"
    ]

    def refresh_and_commit() -> None:
        prepared = boot.refresh(settings)
        assert prepared is not None
        boot.commit(prepared)

    text = logged(refresh_and_commit, json_lines=json_lines)
    assert [(r.reason, r.version_id, r.status) for r in records(text)] == [("refresh", third, "ok")]
    assert leaked(text) == []


@FORMATS
def test_an_announcement_then_a_failure_is_failing_in_fleet(
    aws: Any, boot: SecretsBootstrapper, json_lines: bool
) -> None:
    # The case: the event source announces V2, the refresh of V2 fails (a placeholder);
    # the newest record says the task serves V1 and fails, and fleet never calls it current.
    first = aws.create_secret(Name=NAME, SecretString=canary_secret_string())["VersionId"]
    settings = production()
    boot.load(settings)
    second = aws.put_secret_value(SecretId=NAME, SecretString=canary_secret_string(OPENAI_API_KEY="<your-key>"))[
        "VersionId"
    ]

    def announce_then_fail() -> None:
        logging.getLogger("short_cut.events").info(
            "secret event: %s AWSCURRENT -> %s; refreshing now",
            NAME,
            second,
            extra={"event_secret_name": NAME, "event_version_id": second, "event_source": "sqs"},
        )
        step(lambda: boot.refresh(settings))

    text = logged(announce_then_fail, json_lines=json_lines)
    reports = reports_from_rows(rows(text))
    assert [(r.version_id, r.status) for r in reports] == [(first, "failing")]
    verdict = judge(reports, now=reports[0].seen_at, active_within=0, current={NAME: first})
    assert not verdict.converged and verdict.state(reports[0]) == FAILING


@FORMATS
def test_a_failed_first_load_names_the_secret_and_serves_nothing(
    aws: Any, boot: SecretsBootstrapper, json_lines: bool
) -> None:
    text = logged(lambda: step(lambda: boot.load(production())), json_lines=json_lines)
    assert [(r.secret_name, r.version_id, r.status, r.error_code) for r in records(text)] == [
        (NAME, None, "failing", "ResourceNotFoundException")
    ]
    warning = next(t for t in text.splitlines() if "not loaded" in t)
    assert f"secrets not loaded from {NAME}, serving nothing yet" in warning
    if json_lines:
        assert json.loads(warning)["secret_name"] == NAME


def test_a_failure_the_error_does_not_name_still_names_the_configured_secret(
    aws: Any, boot: SecretsBootstrapper
) -> None:
    aws.create_secret(Name=NAME, SecretString=canary_secret_string())
    boot.load(production())
    aws.put_secret_value(SecretId=NAME, SecretString=canary_secret_string(MILVUS_PORT="0"))  # a config refusal
    text = logged(lambda: step(lambda: boot.refresh(production())), json_lines=True)
    warning = json.loads(next(t for t in text.splitlines() if "refresh failed" in t))
    assert warning["secret_name"] == NAME and warning["served_version_id"] is not None


def test_local_mode_writes_no_record(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    for key, value in canary_payload().items():
        monkeypatch.setenv(key, value if isinstance(value, str) else json.dumps(value))
    boot = SecretsBootstrapper(applier=EnvironmentApplier(temp_root=str(tmp_path)), log_masker=SecretMasker())
    try:
        text = logged(lambda: boot.load(Settings(app_env="local")))
        text += logged(lambda: boot.report_served("heartbeat"))
    finally:
        boot.applier.cleanup()
    assert records(text) == []
