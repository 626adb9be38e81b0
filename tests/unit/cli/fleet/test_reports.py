"""Reading Logs Insights rows into each task's newest report: AWS's extracted fields and
timestamps, and moto's rows, whose fields must be read from the message."""

from __future__ import annotations

import json
from datetime import timedelta
from typing import Any

import pytest

from src.cli.fleet.reports import parse_timestamp, reports_from_rows
from tests.support.served import line, record
from tests.unit.cli.test_fleet import NAME, NEW, NOW, OLD, TASK_A, TASK_B, aws_row


def test_aws_rows_are_read_from_their_fields() -> None:
    reports = reports_from_rows([aws_row(TASK_B, OLD, 40), aws_row(TASK_A, NEW, 30)])
    assert [(r.task, r.log_stream, r.secret_name, r.version_id) for r in reports] == [
        (TASK_A, f"ecs/short-cut-api/{TASK_A}", NAME, NEW),
        (TASK_B, f"ecs/short-cut-api/{TASK_B}", NAME, OLD),
    ]
    assert reports[0].seen_at == NOW - timedelta(seconds=30)


@pytest.mark.parametrize(
    ("text", "expected"),
    [("2026-05-01 11:59:30.000", NOW - timedelta(seconds=30)), (str(int(NOW.timestamp() * 1000)), NOW)],
)
def test_both_timestamp_forms_are_utc(text: str, expected: Any) -> None:
    assert parse_timestamp(text) == expected


def test_rows_without_a_usable_time_or_stream_are_skipped() -> None:
    no_time = [cell for cell in aws_row(TASK_A, NEW, 1) if cell["field"] != "@timestamp"]
    bad_time = [{**c, "value": "yesterday"} if c["field"] == "@timestamp" else c for c in aws_row(TASK_A, NEW, 1)]
    no_stream = [cell for cell in aws_row(TASK_B, NEW, 1) if cell["field"] != "@logStream"]
    assert reports_from_rows([no_time, bad_time, no_stream, aws_row(TASK_B, OLD, 2)]) == reports_from_rows(
        [aws_row(TASK_B, OLD, 2)]
    )


def test_moto_shaped_rows_are_read_from_the_message_and_deduplicated() -> None:
    def moto_row(task: str, message: dict[str, Any] | str, seconds_ago: int) -> list[dict[str, str]]:
        millis = int((NOW - timedelta(seconds=seconds_ago)).timestamp() * 1000)
        text = message if isinstance(message, str) else json.dumps(message)
        return [
            {"field": "@ptr", "value": "x"},
            {"field": "@timestamp", "value": str(millis)},
            {"field": "@logStream", "value": f"ecs/short-cut-api/{task}"},
            {"field": "@message", "value": text},
        ]

    emf = {"_aws": {}, "SecretAgeSeconds": 12, "secret_name": NAME, "version_id": NEW}
    old = line(record(NAME, OLD, task_arn="arn:aws:ecs:us-east-1:123456789012:task/c/x"))
    rows = [
        moto_row(TASK_A, emf, 10),  # an EMF line with both fields: not a record
        moto_row(TASK_A, line(record(NAME, NEW)), 300),
        moto_row(TASK_A, old, 400),  # older: the dedup keeps the newer record
        moto_row(TASK_B, old, 20),
        moto_row(TASK_B, {"message": "secrets loaded"}, 5),
        moto_row(TASK_B, "INFO plain text line", 1),
    ]
    reports = reports_from_rows(rows)
    assert [(r.task, r.version_id, int((NOW - r.seen_at).total_seconds())) for r in reports] == [
        (TASK_A, NEW, 300),
        (TASK_B, OLD, 20),
    ]
    assert reports[1].task_arn == "arn:aws:ecs:us-east-1:123456789012:task/c/x"
    assert (reports[1].status, reports[1].reason, reports[1].region) == ("ok", "heartbeat", "us-east-1")
