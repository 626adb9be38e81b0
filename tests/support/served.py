"""Served-version records as the service writes them: through `served_version.emit` and the
service's own log formatter (JSON or text, wrapped in the mask as production wraps it)."""

from __future__ import annotations

import io
import logging
from collections.abc import Callable

from src.telemetry import served_version
from src.telemetry.logs import MaskedStreamHandler, MaskingFormatter, formatter
from src.telemetry.mask import masker
from src.telemetry.served_version import ServedVersion


def record(
    name: str,
    version: str | None,
    *,
    error_code: str | None = None,
    reason: served_version.Reason = "heartbeat",
    task_arn: str | None = None,
    region: str | None = "us-east-1",
) -> ServedVersion:
    return ServedVersion(
        secret_name=name,
        version_id=version,
        task_arn=task_arn,
        status="ok" if error_code is None else "failing",
        error_code=error_code,
        reason="failure" if error_code and reason == "heartbeat" else reason,
        region=region,
    )


def logged(emit: Callable[[], object], *, json_lines: bool = True) -> str:
    """What `emit()` (a callable writing log lines) writes through the service's formatter."""
    buffer = io.StringIO()
    handler = MaskedStreamHandler(buffer, json_lines=json_lines)
    handler.setFormatter(MaskingFormatter(formatter(json_lines=json_lines), masker, json_lines=json_lines))
    root = logging.getLogger()
    saved = (root.handlers[:], root.level)
    root.handlers[:] = [handler]
    root.setLevel(logging.INFO)
    try:
        emit()
    finally:
        root.handlers[:], level = saved
        root.setLevel(level)
    return buffer.getvalue()


def line(rec: ServedVersion, *, json_lines: bool = True) -> str:
    """One record's line, exactly as the service writes it."""
    text = logged(lambda: served_version.emit(rec), json_lines=json_lines).strip()
    assert "\n" not in text
    return text
