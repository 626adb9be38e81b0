"""Logging: JSON lines (for CloudWatch awslogs) or readable text, and a filter
that masks every loaded secret value as defence in depth.

Code never logs a value on purpose; the mask catches one that slips through a
message, its arguments or a traceback.
"""

from __future__ import annotations

import json
import logging
import re
import sys
import threading
from collections.abc import Iterable

# python-json-logger: a maintained JSON formatter that keeps `extra=` fields as keys.
from pythonjsonlogger.json import JsonFormatter

MASK = "***"
# Values shorter than this are not masked: masking "1" or "true" would garble every line.
MIN_MASKED_LENGTH = 4
LOGGERS = ("uvicorn", "uvicorn.error", "uvicorn.access")
# botocore's DEBUG output includes whole response bodies, the secret among them.
QUIET_LOGGERS = ("botocore", "boto3", "urllib3", "s3transfer")
# Service-account fields that are public or fixed, not worth masking everywhere.
PUBLIC_SA_FIELDS = frozenset({"type", "auth_uri", "token_uri", "auth_provider_x509_cert_url", "universe_domain"})


class SecretMasker(logging.Filter):
    """Replaces any registered value in a record's message and traceback."""

    def __init__(self) -> None:
        super().__init__()
        self._values: tuple[str, ...] = ()
        # One alternation of every value: a single C-level scan per record.
        self._pattern: re.Pattern[str] | None = None
        self._lock = threading.Lock()

    def __repr__(self) -> str:
        return f"SecretMasker(count={len(self._values)})"

    def register(self, values: Iterable[str]) -> None:
        fresh: set[str] = set()
        for value in values:
            fresh.update(v for v in _fragments(value) if len(v) >= MIN_MASKED_LENGTH)
        with self._lock:
            # Longest first, so a value containing another is masked whole.
            self._values = tuple(sorted(set(self._values) | fresh, key=len, reverse=True))
            self._pattern = re.compile("|".join(map(re.escape, self._values))) if self._values else None

    def mask(self, text: str) -> str:
        pattern = self._pattern
        if pattern is None or not pattern.search(text):
            return text
        return pattern.sub(MASK, text)

    def filter(self, record: logging.LogRecord) -> bool:
        if self._pattern is None:
            return True
        # Format once here; the formatter then reuses the message as it is.
        record.msg, record.args = self.mask(record.getMessage()), None
        if record.exc_info and not record.exc_text:
            record.exc_text = logging.Formatter().formatException(record.exc_info)
        if record.exc_text:
            record.exc_text = self.mask(record.exc_text)
        for key in record.__dict__.keys() - _STANDARD_ATTRS:
            value = record.__dict__[key]
            if isinstance(value, str):
                record.__dict__[key] = self.mask(value)
        return True


def _fragments(value: str) -> list[str]:
    """The value, and for the service-account JSON also each field and each PEM line."""
    parts = [value]
    if value.startswith("{"):
        try:
            data = json.loads(value)
        except ValueError:
            return parts
        if isinstance(data, dict):
            for name, field in data.items():
                if isinstance(field, str) and name not in PUBLIC_SA_FIELDS:
                    parts.append(field)
                    parts.extend(line for line in field.splitlines() if "-----" not in line)
    return parts


_STANDARD_ATTRS = frozenset(logging.LogRecord("", 0, "", 0, "", None, None).__dict__) | {"message", "asctime"}
masker = SecretMasker()


def configure_logging(*, json_lines: bool, level: str = "INFO") -> None:
    """Route the root and uvicorn loggers through one stdout handler."""
    handler = logging.StreamHandler(sys.stdout)
    if json_lines:
        handler.setFormatter(
            JsonFormatter(
                "%(asctime)s %(levelname)s %(name)s %(message)s",
                rename_fields={"asctime": "time", "levelname": "level", "name": "logger"},
            )
        )
    else:
        handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)-7s %(name)s: %(message)s"))
    handler.addFilter(masker)
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level.upper() if level.upper() in logging.getLevelNamesMapping() else "INFO")
    for name in LOGGERS:
        logger = logging.getLogger(name)
        logger.handlers[:] = []
        logger.propagate = True
    for name in QUIET_LOGGERS:
        logging.getLogger(name).setLevel(logging.INFO)
