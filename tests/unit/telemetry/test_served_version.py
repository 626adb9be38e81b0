"""The served-version record's contract: what the service writes (`served_version.emit`, through
the service's real log formatter in JSON and in text mode, masked as in production) is what
`fleet` reads (src.cli.fleet.reports, which goes through the same `parse_line`), field for field.
And no other line, whatever fields it carries, reads as a record."""

from __future__ import annotations

import json
import logging
from dataclasses import replace
from datetime import UTC, datetime

import pytest

from src.cli.fleet.reports import report_of
from src.telemetry import served_version
from src.telemetry.served_version import RecordError, ServedVersion, parse_line
from tests.support.served import line, logged, record

NAME = "short-cut/prod/app"
VERSION = "22222222-2222-4222-8222-222222222222"
ARN = "arn:aws:ecs:us-east-1:123456789012:task/short-cut/158d1c8083dd49d6b527399fd6414f5c"
STREAM = "ecs/short-cut-api/158d1c8083dd49d6b527399fd6414f5c"
SEEN = datetime(2026, 5, 1, tzinfo=UTC)

RECORDS = [
    record(NAME, VERSION, reason="start", task_arn=ARN),
    record(NAME, VERSION, reason="refresh"),
    record(NAME, VERSION, error_code="MissingRequiredKeys", task_arn=ARN),
    record(NAME, None, error_code="AccessDeniedException", region=None),
    record(NAME, VERSION, reason="heartbeat", region="eu-west-1"),
]


@pytest.mark.parametrize("json_lines", [True, False], ids=["json", "text"])
@pytest.mark.parametrize("rec", RECORDS)
def test_what_the_service_writes_fleet_reads_back(rec: ServedVersion, json_lines: bool) -> None:
    text = line(rec, json_lines=json_lines)
    assert parse_line(text) == rec
    report = report_of(STREAM, SEEN, text)
    assert report is not None and not report.invalid
    assert (report.secret_name, report.version_id, report.task_arn) == (rec.secret_name, rec.version_id, rec.task_arn)
    assert (report.status, report.error_code, report.reason, report.region) == (
        rec.status,
        rec.error_code,
        rec.reason,
        rec.region,
    )
    assert report.task == "158d1c8083dd49d6b527399fd6414f5c"


def test_the_json_line_carries_the_record_as_top_level_keys() -> None:
    document = json.loads(line(RECORDS[2]))
    assert document["logger"] == served_version.LOGGER and document["level"] == "INFO"
    assert {k: document[k] for k in RECORDS[2].fields()} == RECORDS[2].fields()
    assert document["schema"] == served_version.SCHEMA == 1 and document["event"] == "served_version"


@pytest.mark.parametrize("json_lines", [True, False], ids=["json", "text"])
def test_lines_of_other_loggers_are_never_records_whatever_they_carry(json_lines: bool) -> None:
    fields = RECORDS[0].fields()
    events = logging.getLogger("short_cut.events")

    def others() -> None:
        events.info("secret event: %s AWSCURRENT -> %s; refreshing now", NAME, VERSION, extra=fields)
        events.info("%s %s", served_version.EVENT, RECORDS[0].to_json())  # the record's very message
        logging.getLogger("short_cut.secrets").warning("x", extra={"secret_name": NAME, "version_id": VERSION})

    written = logged(others, json_lines=json_lines).splitlines()
    assert len(written) == 3
    assert [parse_line(text) for text in written] == [None, None, None]
    assert [report_of(STREAM, SEEN, text) for text in written] == [None, None, None]


@pytest.mark.parametrize(
    "change",
    [
        {"schema": 2},
        {"schema": True},
        {"status": "current"},
        {"reason": "swap"},
        {"version_id": 7},
        {"secret_name": None},
        {"error_code": None, "status": "failing"},
        {"error_code": "X", "status": "ok"},
    ],
)
def test_a_line_that_claims_to_be_a_record_but_is_not_valid_is_refused(change: dict[str, object]) -> None:
    document = {**json.loads(line(RECORDS[2])), **change}
    with pytest.raises(RecordError):
        parse_line(json.dumps(document))
    report = report_of(STREAM, SEEN, json.dumps(document))
    assert report is not None and report.invalid and report.status is None


def test_a_missing_field_is_refused() -> None:
    document = json.loads(line(RECORDS[0]))
    del document["region"]
    with pytest.raises(RecordError, match="region"):
        parse_line(json.dumps(document))


def test_the_record_is_frozen_and_checks_itself() -> None:
    with pytest.raises(AttributeError):
        RECORDS[0].version_id = "x"  # type: ignore[misc]
    with pytest.raises(RecordError):
        replace(RECORDS[0], status="failing")  # failing without a code


def test_the_record_is_written_whatever_log_level_says() -> None:
    # LOG_LEVEL=ERROR: fleet must still see the task (no record would make it "silent").
    root = logging.getLogger()

    def at_error_level() -> None:
        root.setLevel(logging.ERROR)
        served_version.emit(RECORDS[0])
        logging.getLogger("short_cut.secrets").info("an INFO line the level hides")

    lines = logged(at_error_level).splitlines()
    assert [parse_line(text) for text in lines] == [RECORDS[0]]
