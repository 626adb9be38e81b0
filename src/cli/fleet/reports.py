"""Reading the query's rows: each task's newest served-version record, one per (task, secret
name as recorded). A task is identified by its awslogs stream (`ecs/short-cut-api/<task-id>`).

A report is a served-version record and nothing else: each row's @message goes through
`src.telemetry.served_version.parse_line`, the schema module the service writes with. Any
other line, whatever fields it carries (`secret_name`, `version_id`, an EMF line, the event
source's announcement), is not a report. A line that claims to be a record but does not hold a
valid one of the schema fleet knows is kept as an invalid report: `verdict` counts it as
UNKNOWN, never as current.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime

from src.telemetry.served_version import RecordError, ServedVersion, parse_line


@dataclass(frozen=True)
class Report:
    """A task's newest served-version record for one secret name (as the task wrote it)."""

    task: str  # the task id (last segment of the awslogs stream)
    log_stream: str
    secret_name: str | None
    version_id: str | None
    seen_at: datetime
    task_arn: str | None = None
    status: str | None = None  # "ok" or "failing"; None for an invalid record
    error_code: str | None = None
    reason: str | None = None
    region: str | None = None
    invalid: bool = False  # claimed to be a record, but not a valid one of the schema

    @property
    def failing(self) -> bool:
        return self.status == "failing"


def parse_timestamp(text: str) -> datetime:
    """Logs Insights returns 'YYYY-MM-DD HH:MM:SS.mmm' (UTC); moto returns epoch milliseconds."""
    text = text.strip()
    if text.isascii() and text.isdigit():  # ASCII only: isdigit() also takes "١٧٠٠..."
        return datetime.fromtimestamp(int(text) / 1000, tz=UTC)
    return datetime.strptime(text, "%Y-%m-%d %H:%M:%S.%f").replace(tzinfo=UTC)


def _row_fields(row: Iterable[Mapping[str, str]]) -> dict[str, str]:
    return {str(cell.get("field")): str(cell.get("value", "")) for cell in row if cell.get("field")}


def report_of(stream: str, seen_at: datetime, message: str) -> Report | None:
    """One row's report: its record, an invalid report, or None when the line is not a record."""
    task = stream.rsplit("/", 1)[-1]
    try:
        record: ServedVersion | None = parse_line(message)
    except RecordError:
        return Report(task, stream, None, None, seen_at, invalid=True)
    if record is None:
        return None
    return Report(
        task=task,
        log_stream=stream,
        secret_name=record.secret_name,
        version_id=record.version_id,
        seen_at=seen_at,
        task_arn=record.task_arn,
        status=record.status,
        error_code=record.error_code,
        reason=record.reason,
        region=record.region,
    )


def reports_from_rows(rows: Iterable[Iterable[Mapping[str, str]]]) -> list[Report]:
    """Rows of GetQueryResults -> the newest report per (task stream, secret name as recorded)."""
    candidates: list[Report] = []
    for row in rows:
        fields = _row_fields(row)
        stream = fields.get("@logStream")
        if not stream or not fields.get("@timestamp"):
            continue
        try:
            seen_at = parse_timestamp(fields["@timestamp"])
        except ValueError:
            continue
        report = report_of(stream, seen_at, fields.get("@message", ""))
        if report is not None:
            candidates.append(report)
    newest: dict[tuple[str, str | None], Report] = {}
    for report in sorted(candidates, key=lambda r: r.seen_at, reverse=True):
        newest.setdefault((report.log_stream, report.secret_name), report)
    return sorted(newest.values(), key=lambda r: (r.secret_name or "", r.task))
