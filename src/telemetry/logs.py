"""Logging: JSON lines (for CloudWatch awslogs) or readable text, and a mask over the
credentials the service loaded, as defence in depth.

Code never logs a value on purpose; the mask catches a credential that slips through a
message, its arguments, an `extra` field (nested or not), a traceback or a stack.
It is applied to the final rendered line, whatever the formatter put in it, so no
formatter (python-json-logger re-renders exc_info and stack_info itself) can go
around it. A value is masked in each form a formatter may write it: as it is,
JSON-escaped (ASCII or not) and as Python's repr escapes it.

The mask itself (what is masked and in which forms) is src.telemetry.mask; this module
applies it to the final rendered line.
"""

from __future__ import annotations

import json
import logging
import os
import re
import sys
import threading
from pathlib import Path
from types import TracebackType
from typing import Any

# python-json-logger: a maintained JSON formatter that keeps `extra=` fields as keys.
from pythonjsonlogger.json import JsonFormatter

from src.telemetry import mask as masks

LOGGERS = ("uvicorn", "uvicorn.error", "uvicorn.access")
# The routes of src.web.health: their successful answers are not access-logged (see SuccessfulProbeFilter).
PROBE_PATHS = frozenset({"/health", "/health/live"})
# botocore's DEBUG output includes whole response bodies, the secret among them.
QUIET_LOGGERS = ("botocore", "boto3", "urllib3", "s3transfer")
# Fields uvicorn adds to its records for its own coloured console: never part of a JSON line.
DROPPED_FIELDS = ("color_message",)


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

    def __init__(self, inner: logging.Formatter, mask: masks.SecretMasker, *, json_lines: bool) -> None:
        super().__init__()
        self._inner = inner
        self._mask = mask.mask_json if json_lines else mask.mask

    def format(self, record: logging.LogRecord) -> str:
        return self._mask(self._inner.format(record))


# An ANSI escape sequence (CSI, or a lone ESC and one character): terminal styling, not log data.
_ANSI = re.compile(r"\x1b(?:\[[0-?]*[ -/]*[@-~]|[@-Z\\-_])")


class JsonLinesFormatter(JsonFormatter):
    """python-json-logger's formatter, less uvicorn's `color_message` field and any ANSI escape
    code in a top-level string (uvicorn styles its messages for a terminal; a JSON line is data)."""

    def process_log_record(self, log_data: dict[str, Any]) -> dict[str, Any]:
        for name in DROPPED_FIELDS:
            log_data.pop(name, None)
        for key, value in log_data.items():
            if isinstance(value, str) and "\x1b" in value:
                log_data[key] = _ANSI.sub("", value)
        return log_data


def formatter(*, json_lines: bool) -> logging.Formatter:
    """The unmasked formatter of each mode (tests wrap it as production does)."""
    if json_lines:
        return JsonLinesFormatter(
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
    handler.setFormatter(MaskingFormatter(formatter(json_lines=json_lines), masks.masker, json_lines=json_lines))
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
