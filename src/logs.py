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
import os
import re
import sys
import threading
from collections.abc import Iterable
from pathlib import Path
from types import TracebackType
from typing import Any

# python-json-logger: a maintained JSON formatter that keeps `extra=` fields as keys.
from pythonjsonlogger.json import JsonFormatter

MASK = "***"
# Values shorter than this are not masked: masking "1" or "true" would garble every line.
MIN_MASKED_LENGTH = 4
LOGGERS = ("uvicorn", "uvicorn.error", "uvicorn.access")
# The routes of src.health: their successful answers are not access-logged (see SuccessfulProbeFilter).
PROBE_PATHS = frozenset({"/health", "/health/live"})
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
        """JSON-escaped forms, inside string literals only, so the line stays valid JSON
        (CloudWatch Logs Insights parses it): a value such as `true` or a port never touches a
        number or a literal, and a string the mask would leave broken is masked whole."""
        pattern = self._json_pattern
        if pattern is None or not pattern.search(line):
            return line
        return _JSON_STRING.sub(lambda m: _mask_string_token(pattern, m.group(0)), line)


_JSON_STRING = re.compile(r'"(?:[^"\\]|\\.)*"')


def _mask_string_token(pattern: re.Pattern[str], token: str) -> str:
    masked = pattern.sub(MASK, token)
    if masked == token:
        return token
    try:
        json.loads(masked)
    except ValueError:
        # A match began inside an escape sequence (the "n" of "\n..."): mask the whole string.
        return json.dumps(MASK)
    return masked


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


class MaskedStreamHandler(logging.StreamHandler):  # type: ignore[type-arg]
    """A stream handler whose error path does not print the record's raw arguments.

    logging's default handleError writes the failing record's message and args to stderr,
    past the mask (a `%d` given a secret string would print the secret).
    """

    def __init__(self, stream: Any, *, json_lines: bool) -> None:
        super().__init__(stream)
        self._json_lines = json_lines

    def handleError(self, record: logging.LogRecord) -> None:
        text = f"a log record of {record.name} could not be formatted (its arguments are not shown)"
        line = json.dumps({"level": "ERROR", "logger": "short_cut.logs", "message": text}) if self._json_lines else text
        try:
            self.stream.write(line + self.terminator)
            self.flush()
        except Exception:  # noqa: S110 - nowhere left to report it
            pass


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


class SuccessfulProbeFilter(logging.Filter):
    """Drops uvicorn's access line for a health probe that succeeded (HEALTH_ACCESS_LOG=failures).

    ECS, the load balancer and the container health check each ask every few seconds: a
    line per probe would be most of the log (and of its CloudWatch bill) and say nothing.
    A probe answered 400 or over (a 503 while the secrets are not loaded) is still logged.
    """

    def filter(self, record: logging.LogRecord) -> bool:
        # uvicorn's access record: (client, method, path with query, HTTP version, status).
        args = record.args
        if isinstance(args, tuple) and len(args) == 5 and args[2] in PROBE_PATHS and isinstance(args[4], int):
            return args[4] >= 400
        return True


def configure_logging(*, json_lines: bool, level: str = "INFO", probe_access_log: str = "failures") -> None:
    """Route the root and uvicorn loggers through one stdout handler.

    `probe_access_log`: "failures" logs a health probe's access line only when it failed, "all" every one.
    """
    handler = MaskedStreamHandler(sys.stdout, json_lines=json_lines)
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
    access = logging.getLogger("uvicorn.access")
    access.filters[:] = [f for f in access.filters if not isinstance(f, SuccessfulProbeFilter)]
    if probe_access_log != "all":
        access.addFilter(SuccessfulProbeFilter())
    # Python prints uncaught tracebacks straight to stderr, past the mask: route them through it.
    sys.excepthook = _log_uncaught
    threading.excepthook = _log_thread_uncaught


def process_age_ms() -> float | None:
    """Milliseconds since this process started (Linux), to show where start-up time goes."""
    try:
        fields = Path("/proc/self/stat").read_text().rsplit(")", 1)[1].split()
        started = int(fields[19]) / os.sysconf("SC_CLK_TCK")
        uptime = float(Path("/proc/uptime").read_text().split()[0])
    except (OSError, ValueError, IndexError):
        return None
    return round((uptime - started) * 1000, 1)
