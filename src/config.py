"""Settings, and the one config instance the app reads.

`Settings` reads the process environment, then `.env` (pydantic-settings keeps
that order, so a loaded secret in `os.environ` wins over `.env`). Nothing
builds the app's config at import time: `update_config_from_env()` does, after
the secrets are in, and `get_config()` returns the instance in use. Swapping is
one reference assignment, so a reader sees the old or the new config, never a mix.
"""

from __future__ import annotations

import os
import threading
from collections.abc import Callable

from pydantic import Field, SecretStr, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from src.app_env import AppEnv, default_secret_name


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_file=".env", env_file_encoding="utf-8", extra="ignore")

    app_env: AppEnv = AppEnv.LOCAL
    aws_region: str | None = Field(default=None, validation_alias="AWS_REGION")
    aws_default_region: str | None = Field(default=None, validation_alias="AWS_DEFAULT_REGION")
    secret_name: str | None = None
    secrets_connect_timeout: float = Field(default=2.0, gt=0)
    secrets_read_timeout: float = Field(default=5.0, gt=0)
    secrets_max_attempts: int = Field(default=3, ge=1, le=10)
    secrets_retry_max_backoff: float = Field(default=30.0, gt=0)
    log_level: str = "INFO"
    log_format: str | None = None

    openai_api_key: SecretStr | None = None
    pinecone_api_key: SecretStr | None = None
    gcp_project_id: str | None = None
    google_application_credentials: str | None = None
    app_secret_key: SecretStr | None = None
    milvus_host: str | None = None
    milvus_port: int = Field(default=19530, ge=1, le=65535)

    @field_validator("app_env", mode="before")
    @classmethod
    def _lower_env(cls, value: object) -> object:
        return value.strip().lower() if isinstance(value, str) else value

    @property
    def region(self) -> str | None:
        return self.aws_region or self.aws_default_region

    @property
    def secret_names(self) -> tuple[str, ...]:
        """Explicit SECRET_NAME (comma-separated), else the environment's default in staging/production."""
        if self.secret_name and self.secret_name.strip():
            return tuple(name.strip() for name in self.secret_name.split(",") if name.strip())
        return (default_secret_name(self.app_env),) if self.app_env.is_cloud else ()

    @property
    def json_logs(self) -> bool:
        if self.log_format:
            return self.log_format.strip().lower() == "json"
        return self.app_env.is_cloud


def env_file_path() -> str:
    """`.env` in the working directory, or the file named by ENV_FILE (tests point it elsewhere)."""
    return os.environ.get("ENV_FILE", ".env")


def load_settings() -> Settings:
    return Settings(_env_file=env_file_path())


_config: Settings | None = None
_lock = threading.Lock()


def update_config_from_env(factory: Callable[[], Settings] = load_settings) -> Settings:
    """Re-read the settings from the environment into the one config instance."""
    global _config
    fresh = factory()
    with _lock:
        _config = fresh
    return fresh


def get_config() -> Settings:
    """The config in use; built on first call if `update_config_from_env()` has not run yet."""
    config = _config
    return config if config is not None else update_config_from_env()
