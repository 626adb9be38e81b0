"""Settings: secret names per environment, SecretStr, and the one swappable config."""

from __future__ import annotations

from pathlib import Path

import pytest

from src import config
from src.app_env import AppEnv
from src.config import Settings, get_config, update_config_from_env


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
