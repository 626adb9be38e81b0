"""Settings, and the one config instance the app reads.

`Settings` reads the process environment, then `.env` (pydantic-settings keeps
that order, so a loaded secret in `os.environ` wins over `.env`). It is the one
schema of the service's configuration: enumerations are `Literal`s (LOG_LEVEL,
LOG_FORMAT, HEALTH_DETAILS, METRICS) that `entrypoint.sh` and the CLI check
against too, and the region and the `.env` name are read in one place. Nothing
builds the app's config at import time: `update_config_from_env()` does, after
the secrets are in, and `get_config()` returns the instance in use. Swapping is
one reference assignment, so a reader sees the old or the new config, never a mix.

(Over 250 lines: it is the one settings schema, a table of fields with their validators; splitting
it would give the service two places to read its configuration from.)
"""

from __future__ import annotations

import os
import re
import threading
from collections.abc import Callable, Iterable, Mapping
from contextvars import ContextVar
from datetime import UTC, datetime, timedelta
from typing import Literal

from pydantic import Field, SecretStr, ValidationError, field_validator, model_validator
from pydantic_core import PydanticCustomError, PydanticUseDefault
from pydantic_settings import BaseSettings, EnvSettingsSource, PydanticBaseSettingsSource, SettingsConfigDict
from pydantic_settings.sources.utils import parse_env_vars

from src.app_env import REGION_PATTERN, REGION_VARIABLES, AppEnv, region_from, secret_names
from src.aws.client import DEFAULT_CONNECT_TIMEOUT, DEFAULT_MAX_ATTEMPTS, DEFAULT_READ_TIMEOUT
from src.errors import ErrorCode, SecretsError

# The `.env` file read after the environment, unless ENV_FILE names another (tests do).
ENV_FILE = ".env"
ENV_FILE_VARIABLE = "ENV_FILE"

# uvicorn's levels, lower case as entrypoint.sh passes them (a test keeps the two lists equal).
LogLevel = Literal["critical", "error", "warning", "info", "debug", "trace"]
LogFormat = Literal["json", "text"]
DEFAULT_LOG_LEVEL: LogLevel = "info"
# Connection timeouts (seconds), which entrypoint.sh passes to uvicorn (a test keeps the two equal).
# KEEP_ALIVE_TIMEOUT outlasts the load balancer's idle timeout (the stack sets the ALB's to 60 s):
# an ALB reusing a connection the service has just closed answers 502 (ELB guide, "Connection
# idle timeout"). REQUEST_HEAD_TIMEOUT bounds reading a request head (src.web.http_protocol).
DEFAULT_KEEP_ALIVE_TIMEOUT = 65
MAX_KEEP_ALIVE_TIMEOUT = 4000  # the ALB's own idle timeout is at most 4000 s
DEFAULT_REQUEST_HEAD_TIMEOUT = 10.0
MAX_REQUEST_HEAD_TIMEOUT = 30.0


def request_head_timeout_from(text: str | None, default: float = DEFAULT_REQUEST_HEAD_TIMEOUT) -> float:
    """REQUEST_HEAD_TIMEOUT as seconds: unset or empty gives `default`; else a decimal number of
    ASCII digits over 0 and at most 30, or ValueError."""
    if text is None or not text.strip():
        return default
    value = text.strip()
    if not re.fullmatch(r"[0-9]+(?:\.[0-9]+)?", value) or not 0 < float(value) <= MAX_REQUEST_HEAD_TIMEOUT:
        raise ValueError(f"REQUEST_HEAD_TIMEOUT must be seconds over 0 and at most {MAX_REQUEST_HEAD_TIMEOUT:g}")
    return float(value)


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_file=ENV_FILE, env_file_encoding="utf-8", extra="ignore")

    app_env: AppEnv = AppEnv.LOCAL
    aws_region: str | None = Field(default=None, validation_alias=REGION_VARIABLES[0])
    aws_default_region: str | None = Field(default=None, validation_alias=REGION_VARIABLES[1])
    secret_name: str | None = None
    # Every duration is finite and bounded: `inf` or 1e12 would overflow the datetime arithmetic
    # of a swap (the previous key's expiry) or of the next refresh, after the environment changed.
    secrets_connect_timeout: float = Field(default=DEFAULT_CONNECT_TIMEOUT, gt=0, le=3600, allow_inf_nan=False)
    secrets_read_timeout: float = Field(default=DEFAULT_READ_TIMEOUT, gt=0, le=3600, allow_inf_nan=False)
    secrets_max_attempts: int = Field(default=DEFAULT_MAX_ATTEMPTS, ge=1, le=10)
    secrets_retry_max_backoff: float = Field(default=30.0, gt=0, le=86400, allow_inf_nan=False)
    # None: 300 s in staging/production, off elsewhere. 0: off. At most 30 days.
    secrets_refresh_interval: float | None = Field(default=None, ge=0, le=2592000, allow_inf_nan=False)
    # Every Nth refresh with no new version also reads the version in use (GetSecretValue), so a
    # task notices lost access (read permission, resource policy, KMS key) within N intervals:
    # 12 x 300 s = 1 h. 0: never (DescribeSecret only, which needs no kms:Decrypt).
    secrets_verify_every: int = Field(default=12, ge=0, le=100000)
    # At most a year.
    secrets_max_staleness: float = Field(default=86400.0, gt=0, le=31536000, allow_inf_nan=False)
    secrets_previous_key_grace: float = Field(default=300.0, ge=0, le=2592000, allow_inf_nan=False)
    # Comma list of keys beyond the guide's seven that the secret may put into os.environ.
    # Set in the task definition, never in the secret (SECRETS_* keys are forbidden there).
    secrets_extra_keys: str | None = None
    # The SQS queue of `Secret Label Updated` events (src.events.source); None: polling only.
    secrets_events_queue_url: str | None = None
    # While the event path is blind (src.events.source), refresh this often instead (seconds).
    secrets_events_fallback_interval: float = Field(default=10.0, ge=1, le=3600, allow_inf_nan=False)
    # The Region of the secret's replica (src.aws.failover); None: no failover. Reads go there only
    # when the primary answers 5xx, is unreachable or times out, or stays throttled.
    secrets_failover_region: str | None = None
    log_level: LogLevel = DEFAULT_LOG_LEVEL
    # None: JSON lines in staging/production, text elsewhere.
    log_format: LogFormat | None = None
    # None: full for loopback peers, minimal for others in staging/production; full elsewhere.
    health_details: Literal["full", "minimal"] | None = None
    # None: CloudWatch EMF metric lines in staging/production, none elsewhere.
    metrics: Literal["emf", "off"] | None = None
    # failures: uvicorn's access line for /health and /health/live only when the answer is 400 or over.
    health_access_log: Literal["failures", "all"] = "failures"
    # Read by entrypoint.sh (uvicorn's --timeout-keep-alive) and src.web.http_protocol; here to be
    # checked and documented with the rest. Whole seconds for uvicorn's option.
    keep_alive_timeout: int = Field(default=DEFAULT_KEEP_ALIVE_TIMEOUT, ge=1, le=MAX_KEEP_ALIVE_TIMEOUT)
    request_head_timeout: float = Field(
        default=DEFAULT_REQUEST_HEAD_TIMEOUT, gt=0, le=MAX_REQUEST_HEAD_TIMEOUT, allow_inf_nan=False
    )

    openai_api_key: SecretStr | None = None
    pinecone_api_key: SecretStr | None = None
    gcp_project_id: str | None = None
    google_application_credentials: str | None = None
    app_secret_key: SecretStr | None = None
    # Kept after a rotation for one refresh interval plus the grace period, so
    # signatures made with the old key still verify; see accepted_app_secret_keys().
    app_secret_key_previous: SecretStr | None = None
    app_secret_key_previous_expires_at: datetime | None = None
    milvus_host: str | None = None
    milvus_port: int = Field(default=19530, ge=1, le=65535)

    @field_validator("health_details", "metrics", "log_format", "health_access_log", "log_level", mode="before")
    @classmethod
    def _lower_choice(cls, value: object) -> object:
        # Case-insensitive (LOG_LEVEL as uvicorn's --log-level); empty means unset, as entrypoint.sh reads it.
        if isinstance(value, str):
            value = value.strip().lower()
            if not value:
                raise PydanticUseDefault()
        return value

    @field_validator("secrets_events_queue_url", mode="before")
    @classmethod
    def _queue_url(cls, value: object) -> object:
        # Empty means unset (polling only); anything else must be an SQS queue URL botocore can call.
        if isinstance(value, str):
            value = value.strip()
            if not value:
                raise PydanticUseDefault()
            if not value.startswith(("https://", "http://")) or "/" not in value.split("://", 1)[1].rstrip("/"):
                raise ValueError("must be a queue URL (https://sqs.<region>.amazonaws.com/<account>/<name>)")
        return value

    @field_validator("secrets_failover_region", mode="before")
    @classmethod
    def _failover_region(cls, value: object) -> object:
        # Empty means no failover; anything else is a Region name, checked as AWS_REGION is.
        if isinstance(value, str):
            value = value.strip()
            if not value:
                raise PydanticUseDefault()
            if not REGION_PATTERN.fullmatch(value):
                raise ValueError("must be an AWS Region name (for example us-west-2)")
        return value

    @model_validator(mode="after")
    def _failover_elsewhere(self) -> Settings:
        # A replica lives in another Region: the same one would only read the primary twice.
        if self.secrets_failover_region and self.secrets_failover_region == self.region:
            raise PydanticCustomError(FAILOVER_SAME_REGION, "SECRETS_FAILOVER_REGION must differ from AWS_REGION")
        return self

    @model_validator(mode="after")
    def _events_need_a_poll(self) -> Settings:
        # The event source only speeds refreshes up (best-effort events, a queue that can fail):
        # without the timed refresh, a dead source would leave the task on old values with
        # /health ok. So an event queue needs a refresh interval over 0.
        if self.secrets_events_queue_url and self.secret_names and self.refresh_interval <= 0:
            raise PydanticCustomError(EVENTS_WITHOUT_POLL, "an event queue needs a refresh interval over 0")
        return self

    @field_validator("app_env", mode="before")
    @classmethod
    def _lower_env(cls, value: object) -> object:
        return value.strip().lower() if isinstance(value, str) else value

    @property
    def region(self) -> str | None:
        values = (self.aws_region, self.aws_default_region)
        return region_from({name: value for name, value in zip(REGION_VARIABLES, values, strict=True) if value})

    @property
    def secret_names(self) -> tuple[str, ...]:
        """Explicit SECRET_NAME (comma-separated), else the environment's default in staging/production."""
        return secret_names(self.secret_name, self.app_env)

    @property
    def refresh_interval(self) -> float:
        if self.secrets_refresh_interval is not None:
            return self.secrets_refresh_interval
        return 300.0 if self.app_env.is_cloud else 0.0

    def accepted_app_secret_keys(self, now: datetime | None = None) -> list[SecretStr]:
        """The current signing key, then the previous one while its grace period lasts."""
        keys = [self.app_secret_key] if self.app_secret_key else []
        previous, expires = self.app_secret_key_previous, self.app_secret_key_previous_expires_at
        if previous is not None and (expires is None or (now or datetime.now(UTC)) < expires):
            keys.append(previous)
        return keys

    def health_full_for(self, loopback: bool) -> bool:
        """Whether /health may show names, versions and messages to this peer."""
        if self.health_details is not None:
            return self.health_details == "full"
        return loopback or not self.app_env.is_cloud

    @property
    def json_logs(self) -> bool:
        if self.log_format is not None:
            return self.log_format == "json"
        return self.app_env.is_cloud


def env_file_path(environ: Mapping[str, str] | None = None) -> str:
    """`.env` in the working directory, or the file named by ENV_FILE (tests point it elsewhere)."""
    return (os.environ if environ is None else environ).get(ENV_FILE_VARIABLE, ENV_FILE)


def load_settings() -> Settings:
    return Settings(_env_file=env_file_path())


FAILOVER_SAME_REGION = "failover_same_region"
FAILOVER_HINT = (
    "SECRETS_FAILOVER_REGION names the Region of the secret's replica, which is never the task's own "
    "Region (AWS_REGION): set it to the stack's ReplicaRegion, or leave it empty for no failover."
)
EVENTS_WITHOUT_POLL = "events_without_poll"
EVENTS_HINT = (
    "SECRETS_EVENTS_QUEUE_URL only speeds refreshes up: the timed refresh is the fallback when an event is "
    "lost or the queue fails. Set SECRETS_REFRESH_INTERVAL above 0 (300 is the staging/production default), "
    "or unset SECRETS_EVENTS_QUEUE_URL."
)


def settings_error(exc: ValidationError, *, secret_keys: Iterable[str] = ()) -> SecretsError:
    """A config validation failure as an error naming fields, never values.

    A field whose value came from the secret is the secret's fault (InvalidSecretValue);
    any other is the service's own setting (InvalidConfiguration).
    """
    # pydantic's own message quotes the input; name the fields only.
    errors = exc.errors()
    fields = sorted({".".join(str(p) for p in err["loc"]).upper() for err in errors} - {""})
    if any(err["type"] == FAILOVER_SAME_REGION for err in errors):
        named = ", ".join(sorted({*fields, "SECRETS_FAILOVER_REGION"}))
        return SecretsError(ErrorCode.InvalidConfiguration, f"invalid setting(s): {named}").with_hint(FAILOVER_HINT)
    if any(err["type"] == EVENTS_WITHOUT_POLL for err in errors):
        named = ", ".join(sorted({*fields, "SECRETS_EVENTS_QUEUE_URL", "SECRETS_REFRESH_INTERVAL"}))
        return SecretsError(ErrorCode.InvalidConfiguration, f"invalid setting(s): {named}").with_hint(EVENTS_HINT)
    from_secret = [f for f in fields if f in set(secret_keys)]
    if from_secret:
        return SecretsError(
            ErrorCode.InvalidSecretValue, f"the config refuses the secret's value of {', '.join(from_secret)}"
        )
    return SecretsError(ErrorCode.InvalidConfiguration, f"invalid setting(s): {', '.join(fields)}")


class _MappingEnvSource(EnvSettingsSource):
    """pydantic-settings' environment source, reading a given mapping instead of os.environ."""

    def __init__(self, settings_cls: type[BaseSettings], environ: Mapping[str, str]) -> None:
        self._mapping = dict(environ)
        super().__init__(settings_cls)

    def _load_env_vars(self) -> Mapping[str, str | None]:
        return parse_env_vars(self._mapping, self.case_sensitive, self.env_ignore_empty, self.env_parse_none_str)


_candidate_environ: ContextVar[Mapping[str, str]] = ContextVar("candidate_environ")


class _CandidateSettings(Settings):
    """Settings whose environment is `_candidate_environ` rather than os.environ."""

    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],
        init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource,
        dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        environ = _MappingEnvSource(settings_cls, _candidate_environ.get())
        return init_settings, environ, dotenv_settings, file_secret_settings


def settings_from_environ(environ: Mapping[str, str]) -> Settings:
    """The Settings that `load_settings()` would build if os.environ were `environ`.

    Used to validate a candidate secret version before anything is applied: the same
    fields, the same `.env` fallback, the same validators. Raises pydantic's ValidationError.
    """
    token = _candidate_environ.set(environ)
    try:
        candidate = _CandidateSettings(_env_file=env_file_path(environ))
    finally:
        _candidate_environ.reset(token)
    # Back to the plain class, already validated: no one downstream sees the subclass.
    return Settings.model_construct(_fields_set=candidate.model_fields_set, **dict(candidate))


_config: Settings | None = None
_lock = threading.Lock()


def _carry_previous_key(old: Settings | None, fresh: Settings) -> Settings:
    if old is None or fresh.app_secret_key_previous is not None:
        return fresh
    now = datetime.now(UTC)
    if old.app_secret_key and fresh.app_secret_key and old.app_secret_key != fresh.app_secret_key:
        keep = timedelta(seconds=fresh.refresh_interval + fresh.secrets_previous_key_grace)
        return fresh.model_copy(
            update={"app_secret_key_previous": old.app_secret_key, "app_secret_key_previous_expires_at": now + keep}
        )
    expires = old.app_secret_key_previous_expires_at
    if old.app_secret_key == fresh.app_secret_key and old.app_secret_key_previous and expires and now < expires:
        carried = {
            "app_secret_key_previous": old.app_secret_key_previous,
            "app_secret_key_previous_expires_at": expires,
        }
        return fresh.model_copy(update=carried)
    return fresh


def carried_previous_key() -> str | None:
    """The previous APP_SECRET_KEY the config in use still accepts (not yet expired), if any:
    the log mask keeps masking it for as long as it is carried, whatever swaps came since."""
    config = _config
    if config is None:
        return None
    previous = config.app_secret_key_previous
    if previous is None or previous not in config.accepted_app_secret_keys():
        return None
    return previous.get_secret_value()


def install_config(fresh: Settings) -> Settings:
    """Make an already validated Settings the one config instance. Cannot fail.

    A changed APP_SECRET_KEY keeps the old one as app_secret_key_previous for a while.
    """
    global _config
    with _lock:
        fresh = _carry_previous_key(_config, fresh)
        _config = fresh
    return fresh


def update_config_from_env(factory: Callable[[], Settings] = load_settings) -> Settings:
    """Re-read the settings from the environment into the one config instance."""
    return install_config(factory())


def get_config() -> Settings:
    """The config in use; built on first call if `update_config_from_env()` has not run yet."""
    config = _config
    return config if config is not None else update_config_from_env()
