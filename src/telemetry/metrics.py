"""Secret health as CloudWatch metrics: what the service reports, and when metrics are on.

Contract:
- Metrics: SecretLoadSuccess, SecretLoadFailure, SecretRefreshFailure,
  SecretAgeSeconds, SecretVersionChange, SecretStartupMs, ThrottlingRetries,
  EventSourceFailure, EventSourceBlind, SecretReplicaRead; the
  functions below are the only way the service reports them. Each line is an
  Embedded Metric Format (EMF) document on stdout, written by `src.telemetry.emf` (its
  docstring: one line each, never interleaved, properties an allow-list, and why
  not the `aws-embedded-metrics` package).
- Off unless enabled: on by default in staging and production (`METRICS=off`
  turns it off), off elsewhere unless `METRICS=emf`. Independent of LOG_LEVEL
  and LOG_FORMAT. A metric never raises into the caller.
- ThrottlingRetries comes from botocore's own retry events on the service's client
  (`count_throttling_retries`), not from a wrapper around each call.

The writer's names (`Emitter`, `UNITS`, `safe_code`, the markers, ...) are re-exported
here, so callers keep one import.

(A little over 250 lines: one small function per metric, the catalogue of what the service
reports kept in one place; the EMF writer itself is src.telemetry.emf.)
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable, Mapping
from typing import Any, Protocol, TextIO

from src.errors import ErrorCode, SecretsError
from src.telemetry.emf import (
    DIMENSIONS,
    KNOWN_CODES,
    NAMESPACE,
    PROPERTIES,
    REDACTED,
    SERVICE,
    UNITS,
    UNRECOGNISED,
    Emitter,
    Masker,
    safe_code,
    safe_secret_name,
    safe_version_id,
)

__all__ = [
    "AGE_INTERVAL",
    "DIMENSIONS",
    "ENV_VAR",
    "KNOWN_CODES",
    "NAMESPACE",
    "PROPERTIES",
    "REDACTED",
    "SERVICE",
    "UNITS",
    "UNRECOGNISED",
    "Emitter",
    "Masker",
    "StatusLike",
    "age_ticker",
    "configure",
    "count_throttling_retries",
    "emitter",
    "enabled",
    "enabled_for",
    "environment_dimension",
    "event_source_blind",
    "event_source_failed",
    "load_failed",
    "load_succeeded",
    "refresh_failed",
    "replica_read",
    "report_age",
    "safe_code",
    "safe_secret_name",
    "safe_version_id",
    "secret_age",
    "throttling_retries",
    "version_changed",
]

ENV_VAR = "METRICS"
AGE_INTERVAL = 60.0

log = logging.getLogger("short_cut.metrics")


class StatusLike(Protocol):
    """What the age ticker needs of src.secret.status.SecretStatus."""

    @property
    def loaded(self) -> bool: ...

    @property
    def version_ids(self) -> Mapping[str, str]: ...

    def age_seconds(self) -> float | None: ...


def enabled_for(app_env: str, setting: str | None) -> bool:
    """On by default in staging and production; elsewhere only with METRICS=emf."""
    choice = (setting or "").strip().lower()
    if choice == "emf":
        return True
    if choice == "off":
        return False
    if choice == "":
        return app_env in ("staging", "production")
    raise SecretsError(
        ErrorCode.InvalidConfiguration,
        "METRICS must be emf or off",
        hint="Set METRICS=emf to write CloudWatch EMF metric lines to stdout, METRICS=off to turn them "
        "off, or leave it unset (on in staging and production, off elsewhere).",
    )


def environment_dimension(app_env: str) -> str:
    """The `Environment` dimension: the short name used in secret names and the stack (prod, staging, ...)."""
    return "prod" if app_env == "production" else app_env


_emitter = Emitter(environment="local", enabled=False)


def configure(app_env: str, setting: str | None, *, stream: TextIO | None = None) -> Emitter:
    """Set up the process's emitter from APP_ENV and METRICS; raises SecretsError for a bad METRICS."""
    global _emitter
    _emitter = Emitter(
        environment=environment_dimension(str(app_env)), enabled=enabled_for(str(app_env), setting), stream=stream
    )
    return _emitter


def emitter() -> Emitter:
    return _emitter


def enabled() -> bool:
    return _emitter.enabled


# -- what the service reports ---------------------------------------------------


def load_succeeded(*, startup_ms: float) -> None:
    """The first load succeeded; `startup_ms` is from process start to secrets in place."""
    _emitter.emit({"SecretLoadSuccess": 1, "SecretStartupMs": round(float(startup_ms), 1)})


def load_failed(code: str | SecretsError) -> None:
    """A first-load attempt failed (before the service has any values)."""
    _emitter.emit({"SecretLoadFailure": 1}, error_code=safe_code(code))


def refresh_failed(code: str | SecretsError) -> None:
    """A refresh failed; the last good values keep serving."""
    _emitter.emit({"SecretRefreshFailure": 1}, error_code=safe_code(code))


def version_changed(secret_name: str, version_id: str) -> None:
    """A swap put a new version of `secret_name` in use."""
    _emitter.emit({"SecretVersionChange": 1}, secret_name=secret_name, version_id=version_id)


def replica_read(secret_name: str, region: str, cause: str | None) -> None:
    """A read of `secret_name` (load, refresh or the lost-access check) was served by the replica
    in `region` because the primary failed with `cause` (src.aws.failover): one per such read,
    so its Sum over a period counts tasks still on the replica."""
    properties = {"secret_name": secret_name, "region": region}
    if cause:
        properties["error_code"] = cause
    _emitter.emit({"SecretReplicaRead": 1}, **properties)


def secret_age(age_seconds: float, versions: Mapping[str, str]) -> None:
    """Seconds since the values in use were last confirmed current; one line per secret.

    The secret_name and version_id properties make these lines the fleet's heartbeat:
    `python -m src.cli fleet` reads the newest one per task.
    """
    age = round(max(0.0, float(age_seconds)), 1)
    if not versions:
        _emitter.emit({"SecretAgeSeconds": age})
    for name, version_id in versions.items():
        _emitter.emit({"SecretAgeSeconds": age}, secret_name=name, version_id=version_id)


def event_source_failed(code: str | SecretsError) -> None:
    """A receive from the secret event queue failed; refreshes go on by polling (src.events.source)."""
    _emitter.emit({"EventSourceFailure": 1}, error_code=safe_code(code))


def event_source_blind() -> None:
    """The event path went blind (a full receive of seen messages): once per episode, not per receive.

    Refreshes run on the short fallback interval until it delivers again (src.events.source)."""
    _emitter.emit({"EventSourceBlind": 1}, error_code=safe_code("EventPathBlind"))


def throttling_retries(count: int = 1) -> None:
    """AWS throttled a call and botocore retried it `count` times."""
    if count > 0:
        _emitter.emit({"ThrottlingRetries": count})


def report_age(status: StatusLike) -> None:
    age = status.age_seconds()
    if status.loaded and age is not None:
        secret_age(age, status.version_ids)


async def age_ticker(status: Callable[[], StatusLike], *, interval: float = AGE_INTERVAL) -> None:
    """Report SecretAgeSeconds now and then every `interval` seconds, until cancelled."""
    while True:
        if _emitter.enabled:
            try:
                report_age(status())
            except Exception:
                log.exception("SecretAgeSeconds could not be reported")
        await asyncio.sleep(interval)


# -- throttling retries from botocore -------------------------------------------

_THROTTLED = "short_cut_throttled"


def count_throttling_retries(client: Any, on_retry: Callable[[int], None] | None = None) -> None:
    """Report each retry botocore makes after a throttling error on `client` (idempotent).

    botocore emits `needs-retry.<service>` after every attempt and `request-created.<service>`
    before every attempt, retries included. The first handler marks the request's context
    when the attempt was throttled (by botocore's own ThrottlingErrorDetector, which the
    standard retry mode uses); the second counts the mark when a further attempt is really
    made, so a throttled last attempt or a refused retry quota is not counted.
    """
    from botocore.retries.standard import RetryEventAdapter, ThrottlingErrorDetector

    detector = ThrottlingErrorDetector(RetryEventAdapter())
    report = on_retry or throttling_retries
    service = client.meta.service_model.service_id.hyphenize()

    def after_attempt(**kwargs: Any) -> None:
        request_dict = kwargs.get("request_dict")
        if request_dict is None or kwargs.get("response") is None:
            return
        if detector.is_throttling_error(**kwargs):
            request_dict.setdefault("context", {})[_THROTTLED] = True
        # Returns None: botocore's own retry handler alone decides whether and when to retry.

    def before_attempt(request: Any, **_: Any) -> None:
        context = getattr(request, "context", None)
        if isinstance(context, dict) and context.pop(_THROTTLED, False):
            report(1)

    client.meta.events.register(f"needs-retry.{service}", after_attempt, unique_id=f"short-cut-throttle-mark-{service}")
    client.meta.events.register(
        f"request-created.{service}", before_attempt, unique_id=f"short-cut-throttle-count-{service}"
    )
