"""Secret health as CloudWatch metrics: Embedded Metric Format (EMF) lines on stdout.

Contract:
- Each metric event is one JSON object on one line of stdout, written whole while
  holding the lock of the stdout logging handler, so it never interleaves with a
  log line. The `awslogs` driver ships it; CloudWatch Logs extracts the metric
  (no API call, no IAM permission, no agent).
- Namespace `ShortCut`; dimensions exactly `Service` and `Environment`.
- Metrics: SecretLoadSuccess, SecretLoadFailure, SecretRefreshFailure,
  SecretAgeSeconds, SecretVersionChange, SecretStartupMs, ThrottlingRetries.
- Properties (searchable, not dimensions) are a fixed allow-list: `error_code`
  (a code string), `secret_name` (a name, never an ARN) and `version_id`. A
  property that does not look like what it claims to be, that carries an ARN or a
  12-digit account id, or that the log masker knows as a secret value, is
  replaced by a marker before anything is written.
- Off unless enabled: on by default in staging and production (`METRICS=off`
  turns it off), off elsewhere unless `METRICS=emf`. Independent of LOG_LEVEL
  and LOG_FORMAT. A metric never raises into the caller.

Why a small writer and not the `aws-embedded-metrics` package: on Fargate that
package detects no ECS environment and sends to a CloudWatch agent on TCP 25888
(which this task does not run) unless AWS_EMF_ENVIRONMENT=Local is set; it probes
the EC2 instance metadata first; its API is async; it pulls in aiohttp (15 MB
installed, about 0.5 s of import on this machine). Going through the JSON logger
would tie metrics to LOG_LEVEL and LOG_FORMAT (text mode is not JSON at all).
"""

from __future__ import annotations

import asyncio
import json
import logging
import math
import re
import sys
import threading
import time
from collections.abc import Callable, Mapping
from typing import Any, Protocol, TextIO

from src.errors import HINTS, SecretsError

NAMESPACE = "ShortCut"
SERVICE = "short-cut-api"
DIMENSIONS = ("Service", "Environment")
ENV_VAR = "METRICS"
AGE_INTERVAL = 60.0

# Every metric short-cut emits, with its CloudWatch unit.
UNITS: dict[str, str] = {
    "SecretLoadSuccess": "Count",
    "SecretLoadFailure": "Count",
    "SecretRefreshFailure": "Count",
    "SecretAgeSeconds": "Seconds",
    "SecretVersionChange": "Count",
    "SecretStartupMs": "Milliseconds",
    "ThrottlingRetries": "Count",
}
PROPERTIES = frozenset({"error_code", "secret_name", "version_id"})

# Markers written instead of a property that failed its check.
REDACTED = "Redacted"
UNRECOGNISED = "Unrecognised"

# Codes this project knows, plus AWS codes with no hint of ours that a caller may report.
KNOWN_CODES = frozenset(HINTS) | {
    "InternalError",
    "ExpiredTokenException",
    "UnrecognizedClientException",
    "InvalidSignatureException",
    "ServiceUnavailable",
}
# An unknown code must still look like one: CamelCase letters only. Secret values
# (keys, tokens, PEM lines) almost always hold digits or punctuation.
_CODE = re.compile(r"[A-Z][A-Za-z]{2,47}")
# Secrets Manager names: 1-512 of these characters.
_SECRET_NAME = re.compile(r"[A-Za-z0-9/_+=.@-]{1,512}")
# Version ids are UUIDs, or a ClientRequestToken: 32-64 characters of these.
_VERSION_ID = re.compile(r"[A-Za-z0-9-]{32,64}")
_ACCOUNT_ID = re.compile(r"(?<![0-9])[0-9]{12}(?![0-9])")
_SECRET_ARN = re.compile(r"arn:aws[a-z-]*:secretsmanager:[^:]*:[^:]*:secret:(?P<name>.+)")

log = logging.getLogger("short_cut.metrics")


class Masker(Protocol):
    def mask(self, text: str) -> str: ...


class StatusLike(Protocol):
    """What the age ticker needs of src.secrets_manager.SecretStatus."""

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
        "InvalidConfiguration",
        "METRICS must be emf or off",
        hint="Set METRICS=emf to write CloudWatch EMF metric lines to stdout, METRICS=off to turn them "
        "off, or leave it unset (on in staging and production, off elsewhere).",
    )


def environment_dimension(app_env: str) -> str:
    """The `Environment` dimension: the short name used in secret names and the stack (prod, staging, ...)."""
    return "prod" if app_env == "production" else app_env


# -- property checks ------------------------------------------------------------


def safe_code(code: str | SecretsError) -> str:
    text = code.code if isinstance(code, SecretsError) else str(code)
    if text in KNOWN_CODES or _CODE.fullmatch(text):
        return text
    return UNRECOGNISED


def safe_secret_name(name: str) -> str:
    arn = _SECRET_ARN.fullmatch(name)
    if arn:
        # Someone set SECRET_NAME to an ARN: keep the name, drop the account id.
        name = arn.group("name")
    if not _SECRET_NAME.fullmatch(name) or _ACCOUNT_ID.search(name) or name.lower().startswith("arn:"):
        return REDACTED
    return name


def safe_version_id(version_id: str) -> str:
    if not _VERSION_ID.fullmatch(version_id) or "arn" in version_id.lower():
        return REDACTED
    return version_id


_CHECKS: dict[str, Callable[[str], str]] = {
    "error_code": safe_code,
    "secret_name": safe_secret_name,
    "version_id": safe_version_id,
}


# -- the writer -----------------------------------------------------------------

_fallback_lock = threading.RLock()


def _stream_lock(stream: TextIO) -> Any:
    """The lock of the logging handler that writes to `stream`, so lines never interleave."""
    for handler in logging.getLogger().handlers:
        if isinstance(handler, logging.StreamHandler) and handler.stream is stream and handler.lock is not None:
            return handler.lock
    return _fallback_lock


def _default_masker() -> Masker:
    from src.logs import masker

    return masker


class Emitter:
    """Renders and writes EMF documents; does nothing at all when disabled."""

    def __init__(
        self,
        *,
        environment: str,
        enabled: bool,
        service: str = SERVICE,
        stream: TextIO | None = None,
        masker: Masker | None = None,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.enabled = enabled
        self.environment = environment
        self.service = service
        self._stream = stream
        self._masker = masker
        self._clock = clock

    def __repr__(self) -> str:
        return f"Emitter(enabled={self.enabled}, environment={self.environment!r})"

    def render(self, values: Mapping[str, float], properties: Mapping[str, str] | None = None) -> dict[str, Any]:
        """One EMF document. Raises ValueError for an unknown metric or property, or a non-finite value."""
        if not values:
            raise ValueError("an EMF document needs at least one metric")
        document: dict[str, Any] = {
            "_aws": {
                "Timestamp": int(self._clock() * 1000),
                "CloudWatchMetrics": [
                    {
                        "Namespace": NAMESPACE,
                        "Dimensions": [list(DIMENSIONS)],
                        "Metrics": [{"Name": name, "Unit": UNITS[name]} for name in values if name in UNITS],
                    }
                ],
            },
            "Service": self.service,
            "Environment": self.environment,
        }
        for name, value in values.items():
            if name not in UNITS:
                raise ValueError(f"unknown metric {name!r}")
            if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
                raise ValueError(f"metric {name} needs a finite number")
            document[name] = value
        masker = self._masker or _default_masker()
        for key, raw in (properties or {}).items():
            if key not in PROPERTIES:
                raise ValueError(f"property {key!r} is not on the allow-list")
            checked = _CHECKS[key](str(raw))
            # Defence in depth: a value the service loaded never reaches a metric line.
            document[key] = REDACTED if masker.mask(checked) != checked else checked
        return document

    def emit(self, values: Mapping[str, float], **properties: str) -> None:
        if not self.enabled:
            return
        try:
            line = json.dumps(self.render(values, properties), separators=(",", ":"), allow_nan=False)
        except ValueError as exc:
            log.warning("metric dropped: %s", exc)
            return
        stream = self._stream or sys.stdout
        lock = _stream_lock(stream)
        try:
            with lock:
                stream.write(line + "\n")
                stream.flush()
        except (OSError, ValueError):
            # stdout closed or broken: metrics must never take the service down.
            return


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
