"""Logging: JSON lines (for CloudWatch awslogs) or readable text, and a mask over
every loaded secret value as defence in depth.

Code never logs a value on purpose; the mask catches one that slips through a
message, its arguments, an `extra` field (nested or not), a traceback or a stack.
It is applied to the final rendered line, whatever the formatter put in it, so no
formatter (python-json-logger re-renders exc_info and stack_info itself) can go
around it. A value is masked in each form a formatter may write it: as it is,
JSON-escaped (ASCII or not) and as Python's repr escapes it.
"""

from __future__ import annotations

import json
import logging
import re
import sys
import threading
from collections.abc import Iterable
from types import TracebackType

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


class SecretMasker:
    """Replaces any registered value, in any of its rendered forms, in a text or a JSON line."""

    def __init__(self) -> None:
        self._values: tuple[str, ...] = ()
        self._json_values: tuple[str, ...] = ()
        # One alternation of every form: a single C-level scan per line.
        self._pattern: re.Pattern[str] | None = None
        self._json_pattern: re.Pattern[str] | None = None
        self._lock = threading.Lock()

    def __repr__(self) -> str:
        return f"SecretMasker(count={len(self._values)})"

    def register(self, values: Iterable[str]) -> None:
        text_forms: set[str] = set()
        json_forms: set[str] = set()
        for value in values:
            for fragment in _fragments(value):
                for form in (fragment, repr(fragment)[1:-1]):
                    escaped = _json_escaped(form)
                    text_forms.add(form)
                    text_forms.update(escaped)
                    json_forms.update(escaped)
        with self._lock:
            self._values = _longest_first(set(self._values) | text_forms)
            self._json_values = _longest_first(set(self._json_values) | json_forms)
            self._pattern = _alternation(self._values)
            self._json_pattern = _alternation(self._json_values)

    def mask(self, text: str) -> str:
        """Every form, anywhere: for plain text (the text log format, the CLI's tracebacks)."""
        return _sub(self._pattern, text)

    def mask_json(self, line: str) -> str:
        """JSON-escaped forms only, which hold no bare quote: a match lies inside one string
        literal, so the line stays valid JSON (CloudWatch Logs Insights parses it)."""
        return _sub(self._json_pattern, line)


def _json_escaped(form: str) -> set[str]:
    return {json.dumps(form)[1:-1], json.dumps(form, ensure_ascii=False)[1:-1]}


def _longest_first(forms: set[str]) -> tuple[str, ...]:
    # Longest first, so a value containing another is masked whole; short ones not at all.
    return tuple(sorted((f for f in forms if len(f) >= MIN_MASKED_LENGTH), key=len, reverse=True))


def _alternation(forms: tuple[str, ...]) -> re.Pattern[str] | None:
    return re.compile("|".join(map(re.escape, forms))) if forms else None


def _sub(pattern: re.Pattern[str] | None, text: str) -> str:
    if pattern is None or not pattern.search(text):
        return text
    return pattern.sub(MASK, text)


class MaskingFormatter(logging.Formatter):
    """Wraps the real formatter and masks the line it produced: the last step before output."""

    def __init__(self, inner: logging.Formatter, mask: SecretMasker, *, json_lines: bool) -> None:
        super().__init__()
        self._inner = inner
        self._mask = mask.mask_json if json_lines else mask.mask

    def format(self, record: logging.LogRecord) -> str:
        return self._mask(self._inner.format(record))


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


masker = SecretMasker()


def formatter(*, json_lines: bool) -> logging.Formatter:
    """The unmasked formatter of each mode (tests wrap it as production does)."""
    if json_lines:
        return JsonFormatter(
            "%(asctime)s %(levelname)s %(name)s %(message)s",
            rename_fields={"asctime": "time", "levelname": "level", "name": "logger"},
        )
    return logging.Formatter("%(asctime)s %(levelname)-7s %(name)s: %(message)s")


def _log_uncaught(exc_type: type[BaseException], exc: BaseException, tb: TracebackType | None) -> None:
    logging.getLogger("short_cut.uncaught").critical("uncaught exception", exc_info=(exc_type, exc, tb))


def _log_thread_uncaught(args: threading.ExceptHookArgs) -> None:
    if args.exc_value is not None:
        logging.getLogger("short_cut.uncaught").error(
            "uncaught exception in thread %s",
            args.thread.name if args.thread else "?",
            exc_info=(args.exc_type, args.exc_value, args.exc_traceback),
        )


def configure_logging(*, json_lines: bool, level: str = "INFO") -> None:
    """Route the root and uvicorn loggers through one stdout handler."""
    handler = logging.StreamHandler(sys.stdout)
    handler.setFormatter(MaskingFormatter(formatter(json_lines=json_lines), masker, json_lines=json_lines))
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level.upper() if level.upper() in logging.getLevelNamesMapping() else "INFO")
    for name in LOGGERS:
        logger = logging.getLogger(name)
        logger.handlers[:] = []
        logger.propagate = True
    for name in QUIET_LOGGERS:
        logging.getLogger(name).setLevel(logging.INFO)
    # Python prints uncaught tracebacks straight to stderr, past the mask: route them through it.
    sys.excepthook = _log_uncaught
    threading.excepthook = _log_thread_uncaught
