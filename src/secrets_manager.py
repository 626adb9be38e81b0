"""Secret bootstrap: `bootstrap_secrets()`, the status it reports, and background retries.

One load is: fetch every secret (AWS) or read the environment (local), validate
the whole, then apply it and rebuild the config. Validation comes first, so a
bad payload changes nothing. The status is an immutable snapshot, replaced
whole; `/health` renders it and never computes it.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from pathlib import Path
from types import MappingProxyType
from typing import Any

from pydantic import ValidationError

from src.aws import SecretsClient
from src.config import Settings, env_file_path, load_settings, update_config_from_env
from src.environment import EnvironmentApplier
from src.errors import SecretsError
from src.logs import SecretMasker, masker
from src.payload import KNOWN_KEYS, ParsedSecret, SecretBundle, build_bundle, parse_secret, parse_values

log = logging.getLogger("short_cut.secrets")

SOURCE_AWS = "aws-secrets-manager"
SOURCE_ENVIRONMENT = "environment"


def _now() -> datetime:
    return datetime.now(UTC)


@dataclass(frozen=True)
class SecretStatus:
    """What the last load and the last attempt found: names and ids only, never values."""

    loaded: bool = False
    source: str = SOURCE_ENVIRONMENT
    secret_names: tuple[str, ...] = ()
    version_ids: Mapping[str, str] = field(default_factory=dict)
    keys: tuple[str, ...] = ()
    missing: tuple[str, ...] = ()
    overridden: tuple[str, ...] = ()
    warnings: tuple[str, ...] = ()
    loaded_at: datetime | None = None
    error: SecretsError | None = None
    attempts: int = 0
    timings_ms: Mapping[str, float] = field(default_factory=dict)

    def public(self) -> dict[str, Any]:
        return {
            "loaded": self.loaded,
            "source": self.source,
            "secret_names": list(self.secret_names),
            "version_ids": dict(self.version_ids),
            "keys": list(self.keys),
            "missing": list(self.missing),
            "overridden": list(self.overridden),
            "warnings": list(self.warnings),
            "loaded_at": self.loaded_at.isoformat() if self.loaded_at else None,
            "error": self.error.to_dict() if self.error else None,
        }


ClientFactory = Callable[[Settings], SecretsClient]


def default_client_factory(settings: Settings) -> SecretsClient:
    return SecretsClient(
        settings.region,
        connect_timeout=settings.secrets_connect_timeout,
        read_timeout=settings.secrets_read_timeout,
        max_attempts=settings.secrets_max_attempts,
    )


def _dotenv_values() -> dict[str, str]:
    path = env_file_path()
    if not Path(path).is_file():
        return {}
    from dotenv import dotenv_values

    return {k: v for k, v in dotenv_values(path).items() if v is not None}


class SecretsBootstrapper:
    """Loads secrets into the process and keeps the status; safe to call from any thread."""

    def __init__(
        self,
        *,
        client_factory: ClientFactory = default_client_factory,
        applier: EnvironmentApplier | None = None,
        log_masker: SecretMasker = masker,
        config_factory: Callable[[], Settings] = load_settings,
    ) -> None:
        self._client_factory = client_factory
        self._client: SecretsClient | None = None
        self._applier = applier or EnvironmentApplier()
        self._masker = log_masker
        self._config_factory = config_factory
        self._status = SecretStatus()
        self._lock = threading.Lock()
        self._retry_task: asyncio.Task[None] | None = None

    def __repr__(self) -> str:
        return f"SecretsBootstrapper(loaded={self._status.loaded})"

    @property
    def status(self) -> SecretStatus:
        return self._status

    @property
    def applier(self) -> EnvironmentApplier:
        return self._applier

    def client(self, settings: Settings) -> SecretsClient:
        if self._client is None:
            self._client = self._client_factory(settings)
        return self._client

    def load(self, settings: Settings | None = None) -> SecretStatus:
        """Fetch, validate, apply, rebuild the config. Raises `SecretsError`; the status records it."""
        with self._lock:
            started = time.perf_counter()
            attempts = self._status.attempts + 1
            try:
                settings = settings or self._read_settings()
                names = settings.secret_names
                timings: dict[str, float] = {}
                if names:
                    bundle, versions = self._fetch_bundle(settings, names, timings)
                    source = SOURCE_AWS
                else:
                    bundle, versions, source = self._environment_bundle(settings), {}, SOURCE_ENVIRONMENT
                self._masker.register(bundle.values.values())
                applied = self._applier.apply(bundle.values)
                self._rebuild_config()
            except SecretsError as error:
                self._status = replace(self._status, error=error, attempts=attempts)
                log.warning(
                    "secrets not loaded: %s",
                    error,
                    extra={"error_code": error.code, "hint": error.hint, "secret_name": error.secret_name},
                )
                raise
            timings["total"] = (time.perf_counter() - started) * 1000
            overridden = applied.overridden if source == SOURCE_AWS else ()
            self._status = SecretStatus(
                loaded=True,
                source=source,
                secret_names=names,
                version_ids=MappingProxyType(versions),
                keys=bundle.keys,
                missing=bundle.missing,
                overridden=overridden,
                warnings=bundle.warnings,
                loaded_at=_now(),
                attempts=attempts,
                timings_ms=MappingProxyType({k: round(v, 2) for k, v in timings.items()}),
            )
        for collision in bundle.collisions:
            log.warning("secret key overridden by a later secret: %s", collision)
        for key in overridden:
            log.warning("environment variable %s set before bootstrap wins over the secret", key)
        for warning in bundle.warnings:
            log.warning("secret warning: %s", warning)
        log.info(
            "secrets loaded: source=%s secret_names=%s version_ids=%s key_count=%d",
            source,
            ",".join(names) or "-",
            ",".join(f"{n}={v}" for n, v in versions.items()) or "-",
            len(bundle.keys),
            extra={
                "secret_names": list(names),
                "version_ids": versions,
                "key_count": len(bundle.keys),
                "source": source,
            },
        )
        return self._status

    def _read_settings(self) -> Settings:
        try:
            return self._config_factory()
        except ValidationError as exc:
            raise _settings_error(exc) from None

    def _rebuild_config(self) -> None:
        try:
            update_config_from_env(self._config_factory)
        except ValidationError as exc:
            raise _settings_error(exc) from None

    def _fetch_bundle(
        self, settings: Settings, names: tuple[str, ...], timings: dict[str, float]
    ) -> tuple[SecretBundle, dict[str, str]]:
        if not settings.region:
            raise SecretsError("MissingRegion", "AWS_REGION is not set")
        t0 = time.perf_counter()
        client = self.client(settings)
        _ = client.client
        timings["client"] = (time.perf_counter() - t0) * 1000
        parts: list[tuple[str, ParsedSecret]] = []
        versions: dict[str, str] = {}
        t1 = time.perf_counter()
        for name in names:
            fetched = client.get_secret(name)
            if fetched.secret_string is None:
                raise SecretsError(
                    "InvalidSecretJSON",
                    "the secret is stored as SecretBinary; store it as a SecretString JSON object",
                    secret_name=name,
                )
            parts.append((name, parse_secret(fetched.secret_string, secret_name=name)))
            versions[name] = fetched.version_id
        timings["fetch"] = (time.perf_counter() - t1) * 1000
        return build_bundle(parts, strict=settings.app_env.is_cloud), versions

    def _environment_bundle(self, settings: Settings) -> SecretBundle:
        values = _dotenv_values()
        values.update(self._applier.original)
        known = {key: value for key, value in values.items() if key in KNOWN_KEYS}
        return build_bundle([(SOURCE_ENVIRONMENT, parse_values(known))], strict=settings.app_env.is_cloud)

    async def start(self, settings: Settings | None = None) -> SecretStatus:
        """First load now; on failure keep serving not-ready and retry in the background."""
        try:
            return await asyncio.to_thread(self.load, settings)
        except SecretsError:
            max_backoff = (settings or self._read_settings()).secrets_retry_max_backoff
            self._retry_task = asyncio.create_task(self._retry(settings, max_backoff), name="secrets-retry")
            return self._status

    async def _retry(self, settings: Settings | None, max_backoff: float) -> None:
        # tenacity: a maintained retry library whose full-jitter exponential wait
        # keeps a fleet of failing tasks from retrying in lockstep.
        from tenacity import AsyncRetrying, retry_if_exception_type, wait_random_exponential

        retrying = AsyncRetrying(
            wait=wait_random_exponential(multiplier=0.5, max=max_backoff),
            retry=retry_if_exception_type(SecretsError),
            reraise=True,
        )
        async for attempt in retrying:
            with attempt:
                await asyncio.to_thread(self.load, settings)

    async def stop(self) -> None:
        task, self._retry_task = self._retry_task, None
        if task is not None:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError, SecretsError):
                await task
        self._applier.cleanup()


def _settings_error(exc: ValidationError) -> SecretsError:
    # pydantic's own message quotes the input; name the fields only.
    fields = sorted({".".join(str(p) for p in err["loc"]).upper() for err in exc.errors()})
    return SecretsError("InvalidConfiguration", f"invalid setting(s): {', '.join(fields)}")


_default = SecretsBootstrapper()


def get_bootstrapper() -> SecretsBootstrapper:
    return _default


def bootstrap_secrets(settings: Settings | None = None) -> SecretStatus:
    """Load the application secret into `os.environ` and the config; raise `SecretsError` on failure."""
    return _default.load(settings)
