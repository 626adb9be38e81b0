"""bootstrap: fetch, validate, apply as one step; the status; background recovery. In-process moto."""

from __future__ import annotations

import json
import logging
import os
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import boto3
import pytest
from moto import mock_aws

from src import secrets_manager
from src.config import Settings, get_config
from src.errors import SecretsError
from src.loading.environment import EnvironmentApplier
from src.secret.keys import REQUIRED_KEYS
from src.secrets_manager import SecretsBootstrapper
from src.telemetry.mask import SecretMasker
from tests.support.canary import CANARY_VALUES, canary_payload, canary_secret_string, leaked

NAME = "short-cut/prod/app"


@pytest.fixture
def aws(monkeypatch: pytest.MonkeyPatch) -> Iterator[Any]:
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing")
    with mock_aws():
        yield boto3.client("secretsmanager", region_name="us-east-1")


def production(**extra: Any) -> Settings:
    return Settings(app_env="production", aws_region="us-east-1", **extra)


@pytest.fixture
def boot(tmp_path: Path) -> Iterator[SecretsBootstrapper]:
    bootstrapper = SecretsBootstrapper(applier=EnvironmentApplier(temp_root=str(tmp_path)), log_masker=SecretMasker())
    yield bootstrapper
    bootstrapper.applier.cleanup()


def test_load_applies_everything_and_reports(aws: Any, boot: SecretsBootstrapper) -> None:
    version = aws.create_secret(Name=NAME, SecretString=canary_secret_string())["VersionId"]
    status = boot.load(production())
    assert status.loaded and status.error is None
    assert status.version_ids == {NAME: version}
    assert status.source == "aws-secrets-manager"
    assert set(status.keys) == set(canary_payload())
    assert os.environ["OPENAI_API_KEY"] == CANARY_VALUES["OPENAI_API_KEY"]
    assert "GOOGLE_APPLICATION_CREDENTIALS_JSON" not in os.environ
    config = get_config()
    assert config.openai_api_key is not None
    assert config.openai_api_key.get_secret_value() == CANARY_VALUES["OPENAI_API_KEY"]
    assert config.milvus_port == 47913
    assert config.google_application_credentials == os.environ["GOOGLE_APPLICATION_CREDENTIALS"]
    assert {"client", "fetch", "prepare", "commit"} <= set(status.timings_ms)
    assert leaked(repr(status), json.dumps(status.full()), repr(boot)) == []


def test_bad_payload_changes_nothing(aws: Any, boot: SecretsBootstrapper, tmp_path: Path) -> None:
    aws.create_secret(Name=NAME, SecretString=canary_secret_string(LD_PRELOAD="/x.so"))
    before = dict(os.environ)
    with pytest.raises(SecretsError) as caught:
        boot.load(production())
    assert caught.value.code == "ForbiddenKey"
    assert dict(os.environ) == before
    assert list(tmp_path.iterdir()) == []
    assert boot.status.loaded is False
    assert boot.status.error is caught.value
    assert boot.status.attempts == 1


def test_failed_reload_keeps_the_last_good_values(aws: Any, boot: SecretsBootstrapper) -> None:
    aws.create_secret(Name=NAME, SecretString=canary_secret_string())
    good = boot.load(production())
    aws.put_secret_value(SecretId=NAME, SecretString="[]")
    with pytest.raises(SecretsError):
        boot.load(production())
    assert os.environ["APP_SECRET_KEY"] == CANARY_VALUES["APP_SECRET_KEY"]
    assert boot.status.loaded and boot.status.version_ids == good.version_ids
    assert boot.status.error is not None and boot.status.error.code == "InvalidSecretJSON"


def test_missing_region_is_a_clear_error(boot: SecretsBootstrapper) -> None:
    with pytest.raises(SecretsError) as caught:
        boot.load(Settings(app_env="production"))
    assert caught.value.code == "MissingRegion"


def test_binary_secret_is_refused(aws: Any, boot: SecretsBootstrapper) -> None:
    aws.create_secret(Name=NAME, SecretBinary=canary_secret_string().encode())
    with pytest.raises(SecretsError) as caught:
        boot.load(production())
    assert caught.value.code == "InvalidSecretJSON"
    assert "SecretString" in caught.value.message


def test_local_mode_makes_no_aws_call(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    def no_client(_: Settings) -> Any:
        raise AssertionError("local mode must not build an AWS client")

    env_file = tmp_path / "dev.env"
    env_file.write_text("OPENAI_API_KEY=sk-dev-key\nMILVUS_HOST=localhost\n")
    monkeypatch.setenv("ENV_FILE", str(env_file))
    boot = SecretsBootstrapper(client_factory=no_client, applier=EnvironmentApplier(temp_root=str(tmp_path)))
    status = boot.load(Settings(app_env="local"))
    assert status.source == "environment" and status.loaded
    assert "OPENAI_API_KEY" in status.keys and "PINECONE_API_KEY" in status.missing
    assert os.environ["OPENAI_API_KEY"] == "sk-dev-key"


def test_local_mode_with_explicit_secret_name_uses_aws_leniently(aws: Any, boot: SecretsBootstrapper) -> None:
    aws.create_secret(Name="dev/secret", SecretString=json.dumps({"OPENAI_API_KEY": "changeme"}))
    status = boot.load(Settings(app_env="local", aws_region="us-east-1", secret_name="dev/secret"))
    assert status.source == "aws-secrets-manager"
    assert "OPENAI_API_KEY holds a placeholder value" in status.warnings


def test_invalid_setting_names_the_field_not_the_value(
    monkeypatch: pytest.MonkeyPatch, boot: SecretsBootstrapper
) -> None:
    monkeypatch.setenv("SECRETS_READ_TIMEOUT", "CANARYslow")
    with pytest.raises(SecretsError) as caught:
        boot.load()
    assert caught.value.code == "InvalidConfiguration"
    assert "SECRETS_READ_TIMEOUT" in caught.value.message
    assert leaked(str(caught.value)) == []


def test_refresh_without_change_calls_describe_only(aws: Any, boot: SecretsBootstrapper) -> None:
    aws.create_secret(Name=NAME, SecretString=canary_secret_string())
    settings = production()
    first = boot.load(settings)
    calls: list[str] = []
    client = boot.client(settings)
    original_get = client.get_secret

    def counting_get(name: str, **kwargs: Any) -> Any:
        calls.append(name)
        return original_get(name, **kwargs)

    client.get_secret = counting_get  # type: ignore[method-assign]
    assert boot.refresh(settings) is None
    assert calls == []
    status = boot.status
    assert status.version_ids == first.version_ids
    assert status.last_refresh_at is not None
    assert status.verified_at is not None and first.verified_at is not None
    assert status.verified_at >= first.verified_at


def test_refresh_with_change_validates_before_anything_changes(aws: Any, boot: SecretsBootstrapper) -> None:
    aws.create_secret(Name=NAME, SecretString=canary_secret_string())
    settings = production()
    boot.load(settings)
    rotated = canary_secret_string(APP_SECRET_KEY="rotated-key-1")
    new_version = aws.put_secret_value(SecretId=NAME, SecretString=rotated)["VersionId"]
    prepared = boot.refresh(settings)
    assert prepared is not None
    assert os.environ["APP_SECRET_KEY"] == CANARY_VALUES["APP_SECRET_KEY"]  # not swapped yet
    swapped: list[str] = []
    boot.on_swap(lambda status: swapped.append(status.version_ids[NAME]))
    boot.commit(prepared)
    assert os.environ["APP_SECRET_KEY"] == "rotated-key-1"
    assert swapped == [new_version]
    config = get_config()
    assert [k.get_secret_value() for k in config.accepted_app_secret_keys()] == [
        "rotated-key-1",
        CANARY_VALUES["APP_SECRET_KEY"],
    ]


def test_failed_refresh_is_recorded_and_keeps_values(aws: Any, boot: SecretsBootstrapper) -> None:
    aws.create_secret(Name=NAME, SecretString=canary_secret_string())
    settings = production()
    good = boot.load(settings)
    aws.put_secret_value(SecretId=NAME, SecretString=canary_secret_string(MILVUS_PORT="0"))
    with pytest.raises(SecretsError):
        prepared = boot.refresh(settings)
    assert boot.status.error is not None and boot.status.error.code == "InvalidSecretValue"
    assert boot.status.version_ids == good.version_ids
    assert os.environ["MILVUS_PORT"] == CANARY_VALUES["MILVUS_PORT"]
    # Fixed: a later refresh recovers.
    aws.put_secret_value(SecretId=NAME, SecretString=canary_secret_string(MILVUS_PORT="19530"))
    prepared = boot.refresh(settings)
    assert prepared is not None
    boot.commit(prepared)
    assert boot.status.error is None
    assert os.environ["MILVUS_PORT"] == "19530"


def test_a_failing_swap_callback_does_not_break_the_swap(aws: Any, boot: SecretsBootstrapper) -> None:
    aws.create_secret(Name=NAME, SecretString=canary_secret_string())

    def broken(_: object) -> None:
        raise RuntimeError("boom")

    boot.on_swap(broken)
    assert boot.load(production()).loaded


# -- all or nothing, including the typed config (issue 11, item 3) ----------------------


def snapshot(boot: SecretsBootstrapper) -> tuple[dict[str, str], str | None, Any]:
    path = os.environ.get("GOOGLE_APPLICATION_CREDENTIALS")
    content = Path(path).read_text() if path and Path(path).exists() else None
    return dict(os.environ), content, get_config().model_dump()


@pytest.mark.parametrize("port", ["٣٣", "１２３", "1²"], ids=["arabic-indic digits", "fullwidth digits", "superscript"])
def test_a_version_the_config_refuses_changes_nothing(aws: Any, boot: SecretsBootstrapper, port: str) -> None:
    aws.create_secret(Name=NAME, SecretString=canary_secret_string())
    settings = production()
    good = boot.load(settings)
    before = snapshot(boot)
    rotated = canary_secret_string(MILVUS_PORT=port, APP_SECRET_KEY="CANARY-next-key-0000")
    aws.put_secret_value(SecretId=NAME, SecretString=rotated)
    with pytest.raises(SecretsError) as caught:
        boot.refresh(settings)  # prepare builds the typed config, so the refusal comes before any commit
    assert caught.value.code == "InvalidSecretValue"
    assert "MILVUS_PORT" in caught.value.message and leaked(str(caught.value)) == []
    assert snapshot(boot) == before
    assert boot.status.version_ids == good.version_ids and boot.status.error is caught.value


def test_prepare_builds_the_settings_from_the_candidate_not_the_process(aws: Any, boot: SecretsBootstrapper) -> None:
    aws.create_secret(Name=NAME, SecretString=canary_secret_string())
    settings = production()
    boot.load(settings)
    aws.put_secret_value(SecretId=NAME, SecretString=canary_secret_string(MILVUS_PORT="12345"))
    prepared = boot.refresh(settings)
    assert prepared is not None
    assert prepared.settings.milvus_port == 12345
    assert get_config().milvus_port == 47913 and os.environ["MILVUS_PORT"] == "47913"
    boot.commit(prepared)
    assert get_config().milvus_port == 12345
    assert get_config().google_application_credentials == os.environ["GOOGLE_APPLICATION_CREDENTIALS"]


def test_an_unexpected_exception_in_a_refresh_is_recorded_not_ok(aws: Any, boot: SecretsBootstrapper) -> None:
    aws.create_secret(Name=NAME, SecretString=canary_secret_string())
    settings = production()
    boot.load(settings)
    client = boot.client(settings)

    def broken(name: str) -> str:
        raise ZeroDivisionError("CANARY in a bug")

    client.current_version = broken  # type: ignore[method-assign]
    with pytest.raises(SecretsError) as caught:
        boot.refresh(settings)
    assert caught.value.code == "InternalError" and "ZeroDivisionError" in caught.value.message
    assert boot.status.error is caught.value and leaked(str(caught.value)) == []


def test_an_unexpected_exception_at_the_first_load_is_recorded(aws: Any, boot: SecretsBootstrapper) -> None:
    def broken_factory(_: Settings) -> Any:
        raise LookupError("unexpected")

    broken = SecretsBootstrapper(client_factory=broken_factory, applier=boot.applier, log_masker=SecretMasker())
    with pytest.raises(SecretsError) as caught:
        broken.load(production())
    assert caught.value.code == "InternalError"
    assert broken.status.error is caught.value and broken.status.attempts == 1


# -- the allow-list (issue 11, item 4) ---------------------------------------------------


def test_keys_outside_the_allow_list_are_reported_not_applied(
    aws: Any, boot: SecretsBootstrapper, caplog: pytest.LogCaptureFixture
) -> None:
    aws.create_secret(Name=NAME, SecretString=canary_secret_string(SENTRY_DSN="https://CANARY@s/1", FEATURE_X="on"))
    status = boot.load(production())
    assert status.ignored == ("FEATURE_X", "SENTRY_DSN") and status.error is None
    assert "SENTRY_DSN" not in os.environ and "FEATURE_X" not in os.environ
    assert "SENTRY_DSN" not in status.keys
    assert any("ignored" in r.getMessage() and "SENTRY_DSN" in r.getMessage() for r in caplog.records)
    assert status.full()["ignored"] == ["FEATURE_X", "SENTRY_DSN"]


def test_secrets_extra_keys_from_the_task_definition_are_applied(aws: Any, boot: SecretsBootstrapper) -> None:
    aws.create_secret(Name=NAME, SecretString=canary_secret_string(SENTRY_DSN="https://CANARY@s/1"))
    status = boot.load(production(secrets_extra_keys="SENTRY_DSN"))
    assert os.environ["SENTRY_DSN"] == "https://CANARY@s/1" and status.ignored == ()


def test_app_secret_key_previous_is_never_taken_from_a_secret(aws: Any, boot: SecretsBootstrapper) -> None:
    aws.create_secret(Name=NAME, SecretString=canary_secret_string(APP_SECRET_KEY_PREVIOUS="CANARYforever"))
    with pytest.raises(SecretsError) as caught:
        boot.load(production())
    assert caught.value.code == "ForbiddenKey"
    assert "APP_SECRET_KEY_PREVIOUS" not in os.environ
    with pytest.raises(SecretsError) as extra:
        boot.load(production(secrets_extra_keys="APP_SECRET_KEY_PREVIOUS"))
    assert extra.value.code == "InvalidConfiguration"


def test_service_account_file_failure_changes_nothing(aws: Any, tmp_path: Path) -> None:
    aws.create_secret(Name=NAME, SecretString=canary_secret_string())
    applier = EnvironmentApplier(temp_root=str(tmp_path / "missing"))
    boot = SecretsBootstrapper(applier=applier, log_masker=SecretMasker())
    before = dict(os.environ)
    with pytest.raises(SecretsError) as caught:
        boot.load(production())
    assert caught.value.code == "ServiceAccountFile"
    assert dict(os.environ) == before and boot.status.loaded is False


# -- a running task notices that it lost access (issue 20, item 1) -------------------------------
#
# DescribeSecret needs secretsmanager:DescribeSecret only and returns no value, so it needs no
# kms:Decrypt; GetSecretValue needs secretsmanager:GetSecretValue, and Secrets Manager calls KMS
# Decrypt to answer it ("Secrets Manager calls the Decrypt operation in response to the
# GetSecretValue operation": https://docs.aws.amazon.com/secretsmanager/latest/userguide/security-encryption.html;
# GetSecretValue, "Required permissions": https://docs.aws.amazon.com/secretsmanager/latest/apireference/API_GetSecretValue.html;
# DescribeSecret: https://docs.aws.amazon.com/secretsmanager/latest/apireference/API_DescribeSecret.html).
# So a removed read permission, a denying resource policy or a disabled key fails GetSecretValue
# while DescribeSecret still answers: AccessDeniedException (HTTP 400, "Access to KMS is not allowed"
# when kms:Decrypt is denied: https://repost.aws/knowledge-center/secrets-manager-cross-account-key),
# DecryptionFailure ("can't decrypt the protected secret text using the provided KMS key",
# https://docs.aws.amazon.com/secretsmanager/latest/apireference/CommonErrors.html), or KMS's own
# KMSInvalidStateException for a key disabled or pending deletion
# (https://docs.aws.amazon.com/kms/latest/developerguide/key-state.html).

ARN = "arn:aws:secretsmanager:us-east-1:123456789012:secret:short-cut/prod/app-AbCdEf"
SERVED = "a1b2c3d4-0000-4000-8000-000000000001"


def stubbed(tmp_path: Path) -> tuple[SecretsBootstrapper, Any]:
    """A bootstrapper on a botocore client whose answers are queued with Stubber."""
    from botocore.stub import Stubber

    from src.aws.client import SecretsClient

    client = boto3.client(
        "secretsmanager", region_name="us-east-1", aws_access_key_id="testing", aws_secret_access_key="testing"
    )
    stubber = Stubber(client)
    stubber.activate()
    secrets = SecretsClient("us-east-1", client=client)
    boot = SecretsBootstrapper(
        client_factory=lambda _: secrets,
        applier=EnvironmentApplier(temp_root=str(tmp_path)),
        log_masker=SecretMasker(),
    )
    return boot, stubber


def expect_get(stubber: Any, **params: str) -> None:
    response = {"ARN": ARN, "Name": NAME, "VersionId": SERVED, "SecretString": canary_secret_string()}
    stubber.add_response("get_secret_value", response, {"SecretId": NAME, **params})


def expect_describe(stubber: Any) -> None:
    response = {"ARN": ARN, "Name": NAME, "VersionIdsToStages": {SERVED: ["AWSCURRENT"]}}
    stubber.add_response("describe_secret", response, {"SecretId": NAME})


def test_every_nth_unchanged_refresh_reads_the_version_in_use(tmp_path: Path) -> None:
    boot, stubber = stubbed(tmp_path)
    settings = production(secrets_verify_every=3)
    expect_get(stubber, VersionStage="AWSCURRENT")
    boot.load(settings)
    for _ in range(2):  # two refreshes: DescribeSecret only
        expect_describe(stubber)
    expect_describe(stubber)  # the third: DescribeSecret, then GetSecretValue of the served version id
    expect_get(stubber, VersionId=SERVED)
    expect_describe(stubber)  # the count starts again
    for _ in range(4):
        assert boot.refresh(settings) is None
    stubber.assert_no_pending_responses()
    assert boot.status.error is None and boot.status.version_ids == {NAME: SERVED}


def test_fetching_a_new_version_counts_as_the_read_and_restarts_the_count(tmp_path: Path) -> None:
    """A refresh that fetches a new version has just read what will be in use: the next verify
    read is SECRETS_VERIFY_EVERY unchanged refreshes after it, not sooner."""
    boot, stubber = stubbed(tmp_path)
    settings = production(secrets_verify_every=3)
    expect_get(stubber, VersionStage="AWSCURRENT")
    boot.load(settings)
    expect_describe(stubber)
    expect_describe(stubber)
    new = "a1b2c3d4-0000-4000-8000-000000000002"
    moved = {"ARN": ARN, "Name": NAME, "VersionIdsToStages": {new: ["AWSCURRENT"], SERVED: ["AWSPREVIOUS"]}}
    stubber.add_response("describe_secret", moved, {"SecretId": NAME})  # the third: a new version
    fetched = {"ARN": ARN, "Name": NAME, "VersionId": new, "SecretString": canary_secret_string()}
    stubber.add_response("get_secret_value", fetched, {"SecretId": NAME, "VersionStage": "AWSCURRENT"})
    for _ in range(2):  # two unchanged refreshes after it: DescribeSecret only, no verify read
        stubber.add_response("describe_secret", moved, {"SecretId": NAME})
    assert boot.refresh(settings) is None and boot.refresh(settings) is None
    prepared = boot.refresh(settings)
    assert prepared is not None
    boot.commit(prepared)
    assert boot.refresh(settings) is None and boot.refresh(settings) is None
    stubber.assert_no_pending_responses()
    assert boot.status.error is None and boot.status.version_ids == {NAME: new}
    boot.applier.cleanup()


def test_verify_every_zero_never_reads(tmp_path: Path) -> None:
    boot, stubber = stubbed(tmp_path)
    settings = production(secrets_verify_every=0)
    expect_get(stubber, VersionStage="AWSCURRENT")
    boot.load(settings)
    for _ in range(30):
        expect_describe(stubber)
        assert boot.refresh(settings) is None
    stubber.assert_no_pending_responses()


@pytest.mark.parametrize(
    ("code", "message"),
    [
        ("AccessDeniedException", "User: arn:aws:sts::123456789012:assumed-role/r/t is not authorized"),
        ("AccessDeniedException", "Access to KMS is not allowed"),
        ("KMSInvalidStateException", "arn:aws:kms:us-east-1:123456789012:key/k is disabled."),
        ("DecryptionFailure", "Secrets Manager can't decrypt the protected secret text using the provided KMS key."),
    ],
)
def test_lost_read_access_is_noticed_while_describe_answers(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, code: str, message: str
) -> None:
    from src.telemetry import metrics

    fired: list[str] = []
    monkeypatch.setattr(metrics, "refresh_failed", lambda error: fired.append(str(getattr(error, "code", error))))
    boot, stubber = stubbed(tmp_path)
    settings = production(secrets_verify_every=2)
    expect_get(stubber, VersionStage="AWSCURRENT")
    loaded = boot.load(settings)
    before = snapshot(boot)
    expect_describe(stubber)
    assert boot.refresh(settings) is None
    # Access is gone: DescribeSecret still answers, GetSecretValue is refused.
    for _ in range(2):
        expect_describe(stubber)
        stubber.add_client_error(
            "get_secret_value", service_error_code=code, service_message=message, http_status_code=400
        )
    for attempt in range(2):  # and a plain DescribeSecret never clears it: every later refresh reads again
        with pytest.raises(SecretsError) as caught:
            boot.refresh(settings)
        error = caught.value
        assert error.code == code and boot.status.error is error, attempt
        assert error.secret_name == NAME and SERVED in error.message
        assert "DescribeSecret" in error.hint and "GetSecretValue" in error.hint
    assert fired == [code, code]
    assert boot.status.loaded and boot.status.version_ids == loaded.version_ids
    assert snapshot(boot) == before  # the values in use are kept
    # Access restored: the next refresh reads the version again, and the status is ok.
    expect_describe(stubber)
    expect_get(stubber, VersionId=SERVED)
    assert boot.refresh(settings) is None
    assert boot.status.error is None
    stubber.assert_no_pending_responses()
    assert leaked(str(error), repr(error), json.dumps(boot.status.full())) == []


def test_a_failed_first_load_names_the_source_the_secret_and_the_region(aws: Any, boot: SecretsBootstrapper) -> None:
    """Issue 27: it said "source":"environment","secret_names":[] and a hint ending in an unfilled <name>."""
    settings = production(secret_name=NAME)
    with pytest.raises(SecretsError) as caught:
        boot.load(settings)
    full = boot.status.full()
    assert (full["source"], full["secret_names"], full["region"]) == ("aws-secrets-manager", [NAME], "us-east-1")
    error = full["error"]
    assert error["code"] == "ResourceNotFoundException" and caught.value.hint == error["hint"]
    assert f"describe-secret --secret-id {NAME})" in error["hint"] and "<" not in error["hint"]
    assert boot.status.error is caught.value  # the error raised is the one recorded
    minimal = boot.status.minimal()
    assert minimal == {"loaded": False, "age_seconds": None, "error": {"code": "ResourceNotFoundException"}}


# -- the guide's check by hand: python -m src.secrets_manager (issue 32 §4) --------------


def checked(
    boot: SecretsBootstrapper, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> tuple[int, str, str]:
    monkeypatch.setattr(secrets_manager, "_default", boot)
    code = secrets_manager.check(production())
    out, err = capsys.readouterr()
    return code, out, err


def test_the_check_prints_names_never_values(
    aws: Any, boot: SecretsBootstrapper, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    version = aws.create_secret(Name=NAME, SecretString=canary_secret_string())["VersionId"]
    code, out, err = checked(boot, monkeypatch, capsys)
    assert code == 0, err
    lines = out.splitlines()
    assert lines[0] == f"loaded {NAME} (aws-secrets-manager)"
    assert f"version {NAME} {version}" in lines
    assert [line.split() for line in lines if line.startswith("OK")] == [["OK", k] for k in REQUIRED_KEYS]
    assert leaked(out, err) == []


def test_a_failed_check_is_one_line_with_its_code_and_hint(
    aws: Any, boot: SecretsBootstrapper, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    # A handler of the caller's on the root logger (a test before this one, an embedding app) is set
    # aside while the check runs: the failure is one line all the same, and the handler comes back.
    other = logging.StreamHandler(sys.stderr)
    logging.getLogger().addHandler(other)
    try:
        code, out, err = checked(boot, monkeypatch, capsys)  # no secret in the account
        assert other in logging.getLogger().handlers
    finally:
        logging.getLogger().removeHandler(other)
    assert (code, out) == (3, "")
    [line] = err.splitlines()
    assert line.startswith("error: ResourceNotFoundException: ") and "(hint: " in line


def test_a_bug_in_the_check_is_one_line_not_a_traceback(
    aws: Any, boot: SecretsBootstrapper, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    aws.create_secret(Name=NAME, SecretString=canary_secret_string())

    def broken(*_: Any, **__: Any) -> Any:
        raise ZeroDivisionError(f"a bug holding {CANARY_VALUES['OPENAI_API_KEY']}")

    monkeypatch.setattr(boot._loader, "prepare", broken)
    code, out, err = checked(boot, monkeypatch, capsys)
    assert (code, out) == (3, "")
    assert "Traceback" not in err and leaked(err) == []
    assert err.splitlines()[-1].startswith("error: InternalError: ZeroDivisionError in the secrets loader (hint: ")
