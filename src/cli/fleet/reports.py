"""Reading the query's rows: each task's newest report of the version it serves, one per
(task, secret name as reported). A task is identified by its awslogs stream
(`ecs/short-cut-api/<task-id>`).

A report is a version line (`event=secret_version`) or a SecretAgeSeconds metric line,
or any line that carries `secret_name` or `version_id`. A report missing either field
is kept with the field as None: `verdict` counts it as unknown, never as current.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime

from src.aws.task_metadata import EVENT

# The fields of a report, as the service's JSON lines and EMF lines write them.
REPORT_FIELDS = ("secret_name", "version_id", "task_arn", "event", "SecretAgeSeconds")


@dataclass(frozen=True)
class Report:
    """A task's newest report for one secret name (as the task wrote it)."""

    task: str  # the task id (last segment of the awslogs stream)
    log_stream: str
    secret_name: str | None
    version_id: str | None
    seen_at: datetime
    task_arn: str | None = None


def parse_timestamp(text: str) -> datetime:
    """Logs Insights returns 'YYYY-MM-DD HH:MM:SS.mmm' (UTC); moto returns epoch milliseconds."""
    text = text.strip()
    if text.isascii() and text.isdigit():  # ASCII only: isdigit() also takes "١٧٠٠..."
        return datetime.fromtimestamp(int(text) / 1000, tz=UTC)
    return datetime.strptime(text, "%Y-%m-%d %H:%M:%S.%f").replace(tzinfo=UTC)


def _row_fields(row: Iterable[Mapping[str, str]]) -> dict[str, str]:
    return {str(cell.get("field")): str(cell.get("value", "")) for cell in row if cell.get("field")}


def _with_message_fields(fields: dict[str, str]) -> dict[str, str]:
    """An engine that does not extract JSON fields (moto): read them from the message."""
    try:
        message = json.loads(fields.get("@message", ""))
    except ValueError:
        return fields
    if not isinstance(message, dict):
        return fields
    for key in REPORT_FIELDS:
        value = message.get(key)
        if value is not None and not fields.get(key):
            fields[key] = str(value)
    return fields


def is_report(fields: Mapping[str, str]) -> bool:
    """The query's filter, repeated here for an engine that ignores it (moto)."""
    return (
        fields.get("event") == EVENT
        or bool(fields.get("SecretAgeSeconds"))
        or bool(fields.get("secret_name"))
        or bool(fields.get("version_id"))
    )


def reports_from_rows(rows: Iterable[Iterable[Mapping[str, str]]]) -> list[Report]:
    """Rows of GetQueryResults -> the newest report per (task stream, secret name as reported)."""
    candidates: list[Report] = []
    for row in rows:
        fields = _with_message_fields(_row_fields(row))
        stream = fields.get("@logStream")
        if not stream or not fields.get("@timestamp") or not is_report(fields):
            continue
        try:
            seen_at = parse_timestamp(fields["@timestamp"])
        except ValueError:
            continue
        candidates.append(
            Report(
                task=stream.rsplit("/", 1)[-1],
                log_stream=stream,
                secret_name=fields.get("secret_name") or None,
                version_id=fields.get("version_id") or None,
                seen_at=seen_at,
                task_arn=fields.get("task_arn") or None,
            )
        )
    newest: dict[tuple[str, str | None], Report] = {}
    for report in sorted(candidates, key=lambda r: r.seen_at, reverse=True):
        newest.setdefault((report.log_stream, report.secret_name), report)
    return sorted(newest.values(), key=lambda r: (r.secret_name or "", r.task))
