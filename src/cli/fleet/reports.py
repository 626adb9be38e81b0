"""Reading the query's rows: each task's newest report of the version it serves, one per
(task, secret). A task is identified by its awslogs stream (`ecs/short-cut-api/<task-id>`)."""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime


@dataclass(frozen=True)
class Report:
    """A task's newest report for one secret."""

    task: str  # the task id (last segment of the awslogs stream)
    log_stream: str
    secret_name: str
    version_id: str
    seen_at: datetime
    task_arn: str | None = None


def parse_timestamp(text: str) -> datetime:
    """Logs Insights returns 'YYYY-MM-DD HH:MM:SS.mmm' (UTC); moto returns epoch milliseconds."""
    text = text.strip()
    if text.isdigit():
        return datetime.fromtimestamp(int(text) / 1000, tz=UTC)
    return datetime.strptime(text, "%Y-%m-%d %H:%M:%S.%f").replace(tzinfo=UTC)


def _row_fields(row: Iterable[Mapping[str, str]]) -> dict[str, str]:
    return {str(cell.get("field")): str(cell.get("value", "")) for cell in row if cell.get("field")}


def reports_from_rows(rows: Iterable[Iterable[Mapping[str, str]]]) -> list[Report]:
    """Rows of GetQueryResults -> the newest report per (task stream, secret)."""
    candidates: list[Report] = []
    for row in rows:
        fields = _row_fields(row)
        if not fields.get("secret_name") or not fields.get("version_id"):
            # An engine that does not extract JSON fields (moto): read them from the message.
            try:
                message = json.loads(fields.get("@message", ""))
            except ValueError:
                continue
            if not isinstance(message, dict):
                continue
            for key in ("secret_name", "version_id", "task_arn"):
                if isinstance(message.get(key), str) and not fields.get(key):
                    fields[key] = message[key]
        stream, name, version = fields.get("@logStream"), fields.get("secret_name"), fields.get("version_id")
        if not stream or not name or not version or not fields.get("@timestamp"):
            continue
        try:
            seen_at = parse_timestamp(fields["@timestamp"])
        except ValueError:
            continue
        candidates.append(
            Report(
                task=stream.rsplit("/", 1)[-1],
                log_stream=stream,
                secret_name=name,
                version_id=version,
                seen_at=seen_at,
                task_arn=fields.get("task_arn") or None,
            )
        )
    newest: dict[tuple[str, str], Report] = {}
    for report in sorted(candidates, key=lambda r: r.seen_at, reverse=True):
        newest.setdefault((report.log_stream, report.secret_name), report)
    return sorted(newest.values(), key=lambda r: (r.secret_name, r.task))
