"""Settings: secret names per environment, SecretStr, and the one swappable config."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from pydantic import ValidationError

from src import config
from src.app_env import AppEnv, region_from
from src.config import (
    Settings,
    get_config,
    load_settings,
    settings_error,
    settings_from_environ,
    update_config_from_env,
)


@pytest.mark.parametrize(
    ("env", "explicit", "expected"),
    [
        ("production", None, ("short-cut/prod/app",)),
        ("staging", None, ("short-cut/staging/app",)),
        ("local", None, ()),
        ("test", None, ()),
        ("local", "my/secret", ("my/secret",)),
        ("production", " a/one , b/two ,", ("a/one", "b/two")),
    ],
)
def test_secret_names(env: str, explicit: str | None, expected: tuple[str, ...]) -> None:
    assert Settings(app_env=env, secret_name=explicit).secret_names == expected


def test_region_falls_back_to_default_region(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("AWS_DEFAULT_REGION", "eu-west-1")
    assert Settings().region == "eu-west-1"
    monkeypatch.setenv("AWS_REGION", "us-east-1")
    assert Settings().region == "us-east-1"


def test_app_env_is_case_insensitive(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("APP_ENV", "Production")
    assert Settings().app_env is AppEnv.PRODUCTION


def test_secrets_are_secretstr_and_never_in_repr(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("OPENAI_API_KEY", "sk-CANARYrepr")
    settings = Settings()
    assert settings.openai_api_key is not None
    assert settings.openai_api_key.get_secret_value() == "sk-CANARYrepr"
    assert "CANARY" not in repr(settings) and "CANARY" not in str(settings.model_dump())


def test_environment_wins_over_env_file(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    env_file = tmp_path / ".env"
    env_file.write_text("MILVUS_HOST=from-file\nGCP_PROJECT_ID=file-project\n")
    monkeypatch.setenv("ENV_FILE", str(env_file))
    monkeypatch.setenv("MILVUS_HOST", "from-env")
    settings = config.load_settings()
    assert settings.milvus_host == "from-env"
    assert settings.gcp_project_id == "file-project"


def test_update_config_swaps_the_one_instance(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("MILVUS_HOST", "first")
    first = update_config_from_env()
    assert get_config() is first
    monkeypatch.setenv("MILVUS_HOST", "second")
    second = update_config_from_env()
    assert get_config() is second and second.milvus_host == "second"
    assert first.milvus_host == "first"


@pytest.mark.parametrize(("value", "json_logs"), [("production", True), ("staging", True), ("local", False)])
def test_json_logs_in_cloud_environments(value: str, json_logs: bool) -> None:
    assert Settings(app_env=value).json_logs is json_logs
    assert Settings(app_env=value, log_format="text").json_logs is False


# -- one schema (issue 14, item 3) --------------------------------------------------------


@pytest.mark.parametrize(
    ("given", "level"), [("DEBUG", "debug"), (" Warning ", "warning"), ("trace", "trace"), ("", "info")]
)
def test_log_level_is_a_case_insensitive_literal(monkeypatch: pytest.MonkeyPatch, given: str, level: str) -> None:
    monkeypatch.setenv("LOG_LEVEL", given)
    assert config.load_settings().log_level == level


@pytest.mark.parametrize(
    ("name", "value"),
    [("LOG_LEVEL", "loud"), ("LOG_FORMAT", "xml"), ("LOG_LEVEL", "info debug"), ("HEALTH_ACCESS_LOG", "sometimes")],
)
def test_log_settings_outside_their_literal_are_refused(monkeypatch: pytest.MonkeyPatch, name: str, value: str) -> None:
    monkeypatch.setenv(name, value)
    with pytest.raises(ValidationError) as caught:
        config.load_settings()
    error = config.settings_error(caught.value)
    assert error.code == "InvalidConfiguration" and name in error.message and value not in error.message


@pytest.mark.parametrize(("value", "json_logs"), [("JSON", True), (" text ", False), ("", True)])
def test_log_format_is_case_insensitive_and_empty_means_the_default(
    monkeypatch: pytest.MonkeyPatch, value: str, json_logs: bool
) -> None:
    monkeypatch.setenv("APP_ENV", "production")
    monkeypatch.setenv("LOG_FORMAT", value)
    assert config.load_settings().json_logs is json_logs


@pytest.mark.parametrize(("value", "expected"), [("ALL", "all"), (" failures ", "failures"), ("", "failures")])
def test_health_access_log_is_case_insensitive_and_empty_means_failures(
    monkeypatch: pytest.MonkeyPatch, value: str, expected: str
) -> None:
    monkeypatch.setenv("HEALTH_ACCESS_LOG", value)
    assert config.load_settings().health_access_log == expected


def test_an_empty_region_falls_back_too(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("AWS_REGION", "")
    monkeypatch.setenv("AWS_DEFAULT_REGION", "eu-west-1")
    assert Settings().region == "eu-west-1" == region_from(os.environ)


def test_settings_error_blames_the_secret_only_for_its_own_keys(tmp_path: Path) -> None:
    environ = {"ENV_FILE": str(tmp_path / "absent.env"), "MILVUS_PORT": "CANARY-port", "SECRETS_READ_TIMEOUT": "-1"}
    with pytest.raises(ValidationError) as caught:
        settings_from_environ(environ)
    from_secret = config.settings_error(caught.value, secret_keys=["MILVUS_PORT"])
    assert from_secret.code == "InvalidSecretValue" and "MILVUS_PORT" in from_secret.message
    own = config.settings_error(caught.value)
    assert own.code == "InvalidConfiguration"
    assert "MILVUS_PORT" in own.message and "SECRETS_READ_TIMEOUT" in own.message
    assert "CANARY" not in from_secret.message + own.message


def test_the_candidate_reads_the_env_file_its_environment_names(tmp_path: Path) -> None:
    env_file = tmp_path / "candidate.env"
    env_file.write_text("MILVUS_HOST=from-candidate-file\n")
    assert config.env_file_path({}) == config.ENV_FILE == ".env"
    assert settings_from_environ({"ENV_FILE": str(env_file)}).milvus_host == "from-candidate-file"
    assert settings_from_environ({"ENV_FILE": str(env_file), "MILVUS_HOST": "env"}).milvus_host == "env"


@pytest.mark.parametrize(
    ("name", "value"),
    [
        ("SECRETS_PREVIOUS_KEY_GRACE", "inf"),
        ("SECRETS_PREVIOUS_KEY_GRACE", "1e12"),
        ("SECRETS_REFRESH_INTERVAL", "1e12"),
        ("SECRETS_REFRESH_INTERVAL", "nan"),
        ("SECRETS_MAX_STALENESS", "inf"),
        ("SECRETS_RETRY_MAX_BACKOFF", "inf"),
        ("SECRETS_READ_TIMEOUT", "1e9"),
    ],
)
def test_durations_are_finite_and_bounded(monkeypatch: pytest.MonkeyPatch, name: str, value: str) -> None:
    """`inf` used to pass, and then overflowed the previous key's expiry inside a commit, after
    the environment had changed (found in review)."""
    monkeypatch.setenv(name, value)
    with pytest.raises(ValidationError):
        load_settings()


@pytest.mark.parametrize(
    ("name", "value"),
    [
        ("SECRETS_READ_TIMEOUT", "600"),
        ("SECRETS_REFRESH_INTERVAL", "172800"),
        ("SECRETS_MAX_STALENESS", "5184000"),
        ("SECRETS_RETRY_MAX_BACKOFF", "7200"),
        ("SECRETS_PREVIOUS_KEY_GRACE", "172800"),
    ],
)
def test_long_but_finite_durations_still_load(monkeypatch: pytest.MonkeyPatch, name: str, value: str) -> None:
    """The bounds stop overflow, not operators: values a task definition may reasonably hold load."""
    monkeypatch.setenv(name, value)
    assert getattr(load_settings(), name.lower()) == float(value)


@pytest.mark.parametrize("value", ["-1", "1.5", "twelve", "1e9"])
def test_secrets_verify_every_is_a_bounded_count(monkeypatch: pytest.MonkeyPatch, value: str) -> None:
    monkeypatch.setenv("SECRETS_VERIFY_EVERY", value)
    with pytest.raises(ValidationError) as caught:
        load_settings()
    assert value not in str(settings_error(caught.value)) and "SECRETS_VERIFY_EVERY" in str(
        settings_error(caught.value)
    )


def test_secrets_verify_every_defaults_to_an_hour_of_refreshes(monkeypatch: pytest.MonkeyPatch) -> None:
    settings = Settings(app_env="production")
    assert settings.secrets_verify_every == 12
    assert settings.secrets_verify_every * settings.refresh_interval == 3600
    monkeypatch.setenv("SECRETS_VERIFY_EVERY", "0")
    assert load_settings().secrets_verify_every == 0


def test_failover_region_empty_means_none_and_a_region_is_kept(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("AWS_REGION", "us-east-1")
    monkeypatch.setenv("SECRETS_FAILOVER_REGION", "  ")
    assert Settings().secrets_failover_region is None
    monkeypatch.setenv("SECRETS_FAILOVER_REGION", " us-west-2 ")
    assert Settings().secrets_failover_region == "us-west-2"


@pytest.mark.parametrize("value", ["us-west", "US-WEST-2", "us-west-2\nx", "https://example.com", "us-east-1"])
def test_failover_region_must_be_another_region_name(monkeypatch: pytest.MonkeyPatch, value: str) -> None:
    monkeypatch.setenv("AWS_REGION", "us-east-1")
    monkeypatch.setenv("SECRETS_FAILOVER_REGION", value)
    with pytest.raises(ValidationError) as caught:
        Settings()
    error = config.settings_error(caught.value)
    assert error.code == "InvalidConfiguration" and "SECRETS_FAILOVER_REGION" in error.message
    assert value.strip() not in error.message
