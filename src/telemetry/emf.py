"""The Embedded Metric Format (EMF) writer: one checked JSON document per line on stdout.

Contract:
- `Emitter.render` builds one EMF document: namespace `ShortCut`, dimensions exactly
  `Service` and `Environment`, only the metrics in `UNITS` (each a finite number).
- `Emitter.emit` writes it as one line, whole, while holding the lock of the stdout
  logging handler, so it never interleaves with a log line. The `awslogs` driver
  ships it; CloudWatch Logs extracts the metric (no API call, no IAM permission, no agent).
  A disabled emitter does nothing; an enabled one never raises into the caller.
- Properties (searchable, not dimensions) are a fixed allow-list: `error_code`
  (a code string), `secret_name` (a name, never an ARN), `version_id` and `region`
  (an AWS Region name). A
  property that does not look like what it claims to be, that carries an ARN or a
  12-digit account id, or that the log masker knows as a secret value, is
  replaced by a marker before anything is written.

This module knows nothing of the service's settings or of which events it reports:
`src.telemetry.metrics` owns those.

Why a small writer and not the `aws-embedded-metrics` package: on Fargate that
package detects no ECS environment and sends to a CloudWatch agent on TCP 25888
(which this task does not run) unless AWS_EMF_ENVIRONMENT=Local is set; it probes
the EC2 instance metadata first; its API is async; it pulls in aiohttp (15 MB
installed, about 0.5 s of import on this machine). Going through the JSON logger
would tie metrics to LOG_LEVEL and LOG_FORMAT (text mode is not JSON at all).
"""

from __future__ import annotations

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

# Every metric short-cut emits, with its CloudWatch unit.
UNITS: dict[str, str] = {
    "SecretLoadSuccess": "Count",
    "SecretLoadFailure": "Count",
    "SecretRefreshFailure": "Count",
    "SecretAgeSeconds": "Seconds",
    "SecretVersionChange": "Count",
    "SecretStartupMs": "Milliseconds",
    "ThrottlingRetries": "Count",
    "EventSourceFailure": "Count",
    "EventSourceBlind": "Count",
    "SecretReplicaRead": "Count",
}
PROPERTIES = frozenset({"error_code", "secret_name", "version_id", "region"})

# Markers written instead of a property that failed its check.
REDACTED = "Redacted"
UNRECOGNISED = "Unrecognised"

# Codes this project knows, plus AWS codes with no hint of ours that a caller may report.
KNOWN_CODES = frozenset(HINTS) | {
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
# An AWS Region name (src.app_env.REGION_PATTERN's shape).
_REGION = re.compile(r"[a-z]{2}(-[a-z]+)+-[0-9]+")
_ACCOUNT_ID = re.compile(r"(?<![0-9])[0-9]{12}(?![0-9])")
_SECRET_ARN = re.compile(r"arn:aws[a-z-]*:secretsmanager:[^:]*:[^:]*:secret:(?P<name>.+)")

log = logging.getLogger("short_cut.metrics")


class Masker(Protocol):
    def mask(self, text: str) -> str: ...


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


def safe_region(region: str) -> str:
    return region if _REGION.fullmatch(region) else REDACTED


_CHECKS: dict[str, Callable[[str], str]] = {
    "error_code": safe_code,
    "region": safe_region,
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
    from src.telemetry.mask import masker

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
