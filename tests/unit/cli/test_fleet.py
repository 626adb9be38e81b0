"""`fleet`: the Logs Insights round trip (botocore Stubber), the verdict, errors with hints.

moto's Logs Insights runs StartQuery/GetQueryResults but understands only `fields`, `sort`
and `limit` (moto/logs/logs_query/query_parser.py): `filter`, `dedup` and field extraction
from JSON are ignored. So the AWS-shaped answers here come from the Stubber, and
tests/e2e/test_fleet.py covers the same path over HTTP against moto_server.
"""

from __future__ import annotations

import argparse
import json
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from botocore.stub import Stubber

from src.cli import fleet
from src.cli.fleet.query import QUERY
from src.cli.output import Output
from src.errors import ErrorCode, SecretsError
from tests.support.canary import CANARY_VALUES, leaked
from tests.support.served import line, record

NOW = datetime(2026, 5, 1, 12, 0, 0, tzinfo=UTC)
OLD = "11111111-1111-4111-8111-111111111111"
NEW = "22222222-2222-4222-8222-222222222222"
NAME = "short-cut/prod/app"
TASK_A = "158d1c8083dd49d6b527399fd6414f5c"
TASK_B = "2a9e1c8083dd49d6b527399fd6414f00"
TASK_C = "3c0e1c8083dd49d6b527399fd6414f11"


def aws_row(
    task: str, version: str, seconds_ago: float, *, name: str = NAME, error_code: str | None = None
) -> list[dict[str, str]]:
    """A row as Logs Insights returns it for a served-version record the service wrote (its JSON
    line as @message), '%Y-%m-%d %H:%M:%S.%f' UTC times."""
    moment = NOW - timedelta(seconds=seconds_ago)
    return message_row(task, line(record(name, version, error_code=error_code)), moment)


def message_row(task: str, message: str, moment: datetime) -> list[dict[str, str]]:
    return [
        {"field": "@timestamp", "value": moment.strftime("%Y-%m-%d %H:%M:%S.%f")[:-3]},
        {"field": "@logStream", "value": f"ecs/short-cut-api/{task}"},
        {"field": "@message", "value": message},
        {"field": "record_secret", "value": "x"},
        {"field": "@ptr", "value": "CmAKJgoi"},
    ]


def expect_query(
    stubber: Stubber, *answers: dict[str, Any], group: str = "/ecs/short-cut-api", since: int = 3600
) -> None:
    end = int(NOW.timestamp())
    stubber.add_response(
        "start_query",
        {"queryId": "q-1"},
        {"logGroupName": group, "startTime": end - since, "endTime": end, "queryString": QUERY},
    )
    for answer in answers:
        stubber.add_response("get_query_results", answer, {"queryId": "q-1"})


def run(client: Any, out: Output, current: str | None = NEW, **options: Any) -> int:
    def current_version(name: str) -> str:
        if current is None:
            raise SecretsError(ErrorCode.AccessDeniedException, "not allowed to describe")
        if name != NAME:
            raise SecretsError(ErrorCode.ResourceNotFoundException, f"no secret {name}")
        return current

    settings: dict[str, Any] = {
        "log_group": "/ecs/short-cut-api",
        "since": "1h",
        "targets": [NAME],
        "current_version": current_version,
    }
    settings.update(options)
    return fleet.fleet(client, out=out, now=lambda: NOW, sleep=lambda _s: None, **settings)


def test_every_task_on_awscurrent_passes(logs: tuple[Any, Stubber], capsys: pytest.CaptureFixture[str]) -> None:
    client, stubber = logs
    expect_query(
        stubber,
        {"status": "Running", "results": []},
        {"status": "Complete", "results": [aws_row(TASK_A, NEW, 30), aws_row(TASK_B, NEW, 50)]},
    )
    assert run(client, Output(as_json=False)) == 0
    out = capsys.readouterr().out
    assert f"{TASK_A:<34} {NAME:<24} {NEW:<38} 2026-05-01T11:59:30Z (30s ago) current" in out
    assert f"AWSCURRENT: {NAME} {NEW}" in out
    assert "fleet: all 2 reporting tasks serve AWSCURRENT." in out


def test_a_task_behind_fails_and_is_named(logs: tuple[Any, Stubber], capsys: pytest.CaptureFixture[str]) -> None:
    client, stubber = logs
    rows = [aws_row(TASK_A, NEW, 30), aws_row(TASK_B, OLD, 40)]
    expect_query(stubber, {"status": "Complete", "results": rows})
    out = Output(as_json=True)
    assert run(client, out) == 1
    out.finish()
    document = json.loads(capsys.readouterr().out)
    assert document["converged"] is False
    assert document["current"] == {NAME: NEW}
    assert {(t["task"], t["version_id"], t["active"]) for t in document["tasks"]} == {
        (TASK_A, NEW, True),
        (TASK_B, OLD, True),
    }


def test_a_silent_task_is_listed_but_not_judged(logs: tuple[Any, Stubber], capsys: pytest.CaptureFixture[str]) -> None:
    client, stubber = logs
    # Task B stopped 20 minutes ago still on the old version: the deployment replaced it.
    expect_query(stubber, {"status": "Complete", "results": [aws_row(TASK_A, NEW, 30), aws_row(TASK_B, OLD, 1200)]})
    assert run(client, Output(as_json=False)) == 0
    out = capsys.readouterr().out
    assert "(20m ago) silent (stopped?)" in out
    assert "all 1 reporting tasks serve AWSCURRENT" in out


def test_no_recent_report_is_not_a_pass(logs: tuple[Any, Stubber], capsys: pytest.CaptureFixture[str]) -> None:
    client, stubber = logs
    expect_query(stubber, {"status": "Complete", "results": [aws_row(TASK_A, NEW, 1200)]})
    assert run(client, Output(as_json=False)) == 1
    assert "every running task writes a served-version heartbeat each minute" in capsys.readouterr().out


def test_active_within_zero_judges_every_task(logs: tuple[Any, Stubber], capsys: pytest.CaptureFixture[str]) -> None:
    client, stubber = logs
    expect_query(stubber, {"status": "Complete", "results": [aws_row(TASK_A, NEW, 1200), aws_row(TASK_B, OLD, 1300)]})
    assert run(client, Output(as_json=False), active_within=0) == 1
    assert "1 of 2 reporting tasks are NOT on AWSCURRENT" in capsys.readouterr().out


def test_no_report_at_all(logs: tuple[Any, Stubber], capsys: pytest.CaptureFixture[str]) -> None:
    client, stubber = logs
    expect_query(stubber, {"status": "Complete", "results": []})
    assert run(client, Output(as_json=False)) == 1
    assert "no task reported a version in the last 1h" in capsys.readouterr().out


def test_without_describe_fleet_refuses_to_guess(logs: tuple[Any, Stubber]) -> None:
    # Before: the newest reported version stood in for AWSCURRENT, so a fleet that all
    # lagged behind a rotation was "converged". No query is run without the reference.
    client, _stubber = logs
    with pytest.raises(SecretsError) as caught:
        run(client, Output(as_json=False), current=None)
    assert caught.value.code == "AccessDeniedException"
    assert "secretsmanager:DescribeSecret" in caught.value.hint and NAME in caught.value.hint


@pytest.mark.parametrize(
    "masked",
    [
        "***/prod/app",  # the log mask rewrote a word of the name (issue 19)
        "Redacted",  # the EMF writer's placeholder for a name it will not write
        "short-cut/staging/app",  # a task pointed at another secret
    ],
)
def test_reports_that_cannot_be_tied_to_the_secret_are_unknown_not_current(
    logs: tuple[Any, Stubber], capsys: pytest.CaptureFixture[str], masked: str
) -> None:
    # The case: every task reports a name fleet cannot tie to the target, all on
    # the old version, while AWSCURRENT has moved on. Before: "all 2 reporting tasks serve
    # the current version", exit 0.
    client, stubber = logs
    rows = [aws_row(TASK_A, OLD, 30, name=masked), aws_row(TASK_B, OLD, 40, name=masked)]
    expect_query(stubber, {"status": "Complete", "results": rows})
    out = Output(as_json=True)
    assert run(client, out) == 1
    out.finish()
    document = json.loads(capsys.readouterr().out)
    assert document["converged"] is False
    assert document["current"] == {NAME: NEW}
    assert {t["state"] for t in document["tasks"]} == {"UNKNOWN"}


def test_a_record_missing_a_field_or_of_another_schema_is_unknown(
    logs: tuple[Any, Stubber], capsys: pytest.CaptureFixture[str]
) -> None:
    client, stubber = logs
    good = json.loads(line(record(NAME, NEW)))
    no_version = {k: v for k, v in good.items() if k != "version_id"}
    newer_schema = {**good, "schema": 2}
    rows = [
        aws_row(TASK_A, NEW, 10),
        message_row(TASK_B, json.dumps(no_version), NOW - timedelta(seconds=20)),
        message_row(TASK_C, json.dumps(newer_schema), NOW - timedelta(seconds=20)),
    ]
    expect_query(stubber, {"status": "Complete", "results": rows})
    assert run(client, Output(as_json=False)) == 1
    out = capsys.readouterr().out
    assert f"{TASK_B:<34} {'(none)':<24} {'(none)':<38}" in out and "UNKNOWN" in out
    assert "2 of 3 reporting tasks report a version that cannot be tied to short-cut/prod/app" in out


def test_lines_that_only_carry_the_fields_are_not_reports(
    logs: tuple[Any, Stubber], capsys: pytest.CaptureFixture[str]
) -> None:
    # Issue 27: the event source's announcement ("AWSCURRENT -> V2; refreshing now") carried
    # secret_name and version_id=V2 and counted as the task's newest report, though the refresh
    # then failed. No line but the record is a report, whatever fields it carries.
    client, stubber = logs
    newer = NOW - timedelta(seconds=5)
    incidental = [
        {"secret_name": NAME, "version_id": NEW, "message": "secret event: AWSCURRENT -> new"},
        {"event": "served_version", "secret_name": NAME, "version_id": NEW, "logger": "short_cut.events"},
        {"_aws": {}, "SecretAgeSeconds": 3, "secret_name": NAME, "version_id": NEW},
    ]
    rows = [message_row(TASK_A, json.dumps(fields), newer) for fields in incidental]
    rows.append(aws_row(TASK_A, OLD, 30))
    expect_query(stubber, {"status": "Complete", "results": rows})
    out = Output(as_json=True)
    assert run(client, out) == 1
    out.finish()
    document = json.loads(capsys.readouterr().out)
    assert [(t["task"], t["version_id"], t["state"]) for t in document["tasks"]] == [(TASK_A, OLD, "BEHIND")]


def test_a_failing_task_is_never_current_even_on_awscurrent(
    logs: tuple[Any, Stubber], capsys: pytest.CaptureFixture[str]
) -> None:
    client, stubber = logs
    rows = [aws_row(TASK_A, NEW, 10), aws_row(TASK_B, NEW, 5, error_code="MissingRequiredKeys")]
    expect_query(stubber, {"status": "Complete", "results": rows})
    assert run(client, Output(as_json=False)) == 1
    out = capsys.readouterr().out
    assert f"serving {NEW}, failing with MissingRequiredKeys" in out
    assert "1 of 2 reporting tasks are failing to refresh" in out


def test_one_unknown_task_among_current_ones_is_not_converged(
    logs: tuple[Any, Stubber], capsys: pytest.CaptureFixture[str]
) -> None:
    client, stubber = logs
    rows = [aws_row(TASK_A, NEW, 10), aws_row(TASK_B, NEW, 15, name="***/prod/app")]
    expect_query(stubber, {"status": "Complete", "results": rows})
    assert run(client, Output(as_json=False)) == 1
    assert "1 of 2 reporting tasks report a version that cannot be tied" in capsys.readouterr().out


def test_wait_polls_until_converged(logs: tuple[Any, Stubber], capsys: pytest.CaptureFixture[str]) -> None:
    client, stubber = logs
    behind = {"status": "Complete", "results": [aws_row(TASK_A, NEW, 30), aws_row(TASK_B, OLD, 40)]}
    done = {"status": "Complete", "results": [aws_row(TASK_A, NEW, 30), aws_row(TASK_B, NEW, 5)]}
    expect_query(stubber, behind)
    expect_query(stubber, behind)
    expect_query(stubber, done)
    slept: list[float] = []
    clock = iter(range(0, 1000, 10))
    code = fleet.fleet(
        client, out=Output(as_json=False), now=lambda: NOW, sleep=slept.append, clock=lambda: float(next(clock)),
        log_group="/ecs/short-cut-api", since="1h", targets=[NAME], current_version=lambda _n: NEW,
        wait=600, poll=20,
    )  # fmt: skip
    assert code == 0 and slept == [20, 20]
    captured = capsys.readouterr()
    assert captured.err.count("fleet: not converged (1 behind, 0 unknown)") == 2
    assert "all 2 reporting tasks serve AWSCURRENT" in captured.out


def test_wait_times_out_non_zero(logs: tuple[Any, Stubber], capsys: pytest.CaptureFixture[str]) -> None:
    client, stubber = logs
    behind = {"status": "Complete", "results": [aws_row(TASK_A, NEW, 30), aws_row(TASK_B, OLD, 40)]}
    for _ in range(4):
        expect_query(stubber, behind)
    slept: list[float] = []
    clock = iter([0.0, 0.0, 20.0, 40.0, 45.0])
    code = fleet.fleet(
        client, out=Output(as_json=False), now=lambda: NOW, sleep=slept.append, clock=lambda: next(clock),
        log_group="/ecs/short-cut-api", since="1h", targets=[NAME], current_version=lambda _n: NEW,
        wait=45, poll=20,
    )  # fmt: skip
    # Looks at 0 s, 20 s and 40 s, sleeps only the 5 s left, looks a last time at 45 s, gives up.
    assert code == 1 and slept == [20, 20, 5]
    assert "not converged after --wait 45s" in capsys.readouterr().out


def test_wait_reads_awscurrent_again_before_each_query(logs: tuple[Any, Stubber]) -> None:
    # A rotation during the wait moves the goal: tasks on the version that was current
    # when the wait began are not converged any more.
    client, stubber = logs
    on_new = {"status": "Complete", "results": [aws_row(TASK_A, NEW, 30)]}
    expect_query(stubber, on_new)
    expect_query(stubber, on_new)
    answers = iter([OLD, OLD, NEW, NEW])  # read before and after each query
    seen: list[str] = []

    def current_version(_name: str) -> str:
        seen.append(next(answers))
        return seen[-1]

    clock = iter([0.0, 0.0, 10.0])
    code = fleet.fleet(
        client, out=Output(as_json=False), now=lambda: NOW, sleep=lambda _s: None, clock=lambda: next(clock),
        log_group="/ecs/short-cut-api", since="1h", targets=[NAME], current_version=current_version,
        wait=60, poll=10,
    )  # fmt: skip
    assert code == 0 and seen == [OLD, OLD, NEW, NEW]


def test_awscurrent_that_moves_during_the_query_is_not_a_pass(
    logs: tuple[Any, Stubber], capsys: pytest.CaptureFixture[str]
) -> None:
    # Review: AWSCURRENT read only before the query. A rotation finishing while the query
    # runs left every task on the old goal and fleet passed (the runbook then revokes a key).
    client, stubber = logs
    expect_query(stubber, {"status": "Complete", "results": [aws_row(TASK_A, OLD, 30), aws_row(TASK_B, OLD, 40)]})
    answers = iter([OLD, NEW])
    out = Output(as_json=True)
    code = fleet.fleet(
        client, out=out, now=lambda: NOW, sleep=lambda _s: None,
        log_group="/ecs/short-cut-api", since="1h", targets=[NAME], current_version=lambda _n: next(answers),
    )  # fmt: skip
    out.finish()
    document = json.loads(capsys.readouterr().out)
    assert code == 1 and document["converged"] is False
    assert document["moved"] == [NAME] and document["current"] == {NAME: NEW}


def test_wait_polls_again_when_awscurrent_moved_during_the_query(
    logs: tuple[Any, Stubber], capsys: pytest.CaptureFixture[str]
) -> None:
    client, stubber = logs
    # First look: every task on OLD, but AWSCURRENT became NEW while the query ran (even a
    # task already on NEW would not pass: the goal was not one version for the whole query).
    expect_query(stubber, {"status": "Complete", "results": [aws_row(TASK_A, NEW, 30), aws_row(TASK_B, NEW, 40)]})
    expect_query(stubber, {"status": "Complete", "results": [aws_row(TASK_A, NEW, 5), aws_row(TASK_B, NEW, 8)]})
    answers = iter([OLD, NEW, NEW, NEW])
    clock = iter([0.0, 0.0, 10.0])
    code = fleet.fleet(
        client, out=Output(as_json=False), now=lambda: NOW, sleep=lambda _s: None, clock=lambda: next(clock),
        log_group="/ecs/short-cut-api", since="1h", targets=[NAME], current_version=lambda _n: next(answers),
        wait=60, poll=10,
    )  # fmt: skip
    captured = capsys.readouterr()
    assert code == 0
    assert f"fleet: not converged (AWSCURRENT of {NAME} moved during the query)" in captured.err


def test_silent_tasks_are_counted_in_the_output(logs: tuple[Any, Stubber], capsys: pytest.CaptureFixture[str]) -> None:
    client, stubber = logs
    rows = [aws_row(TASK_A, NEW, 30), aws_row(TASK_B, OLD, 1200), aws_row("3c0ffee0dd49d6b527399fd6414f0011", OLD, 900)]
    expect_query(stubber, {"status": "Complete", "results": rows})
    out = Output(as_json=True)
    assert run(client, out) == 0
    out.finish()
    document = json.loads(capsys.readouterr().out)
    assert document["silent_tasks"] == 2 and document["unreported"] == []
    expect_query(stubber, {"status": "Complete", "results": rows})
    assert run(client, Output(as_json=False)) == 0
    assert "fleet: 2 task(s) left out as silent (no report in the last 180s" in capsys.readouterr().out


def test_only_ids_are_printed_never_the_message(logs: tuple[Any, Stubber], capsys: pytest.CaptureFixture[str]) -> None:
    client, stubber = logs
    row = aws_row(TASK_A, NEW, 5)
    row[2] = {"field": "@message", "value": json.dumps({"secret_name": NAME, "note": CANARY_VALUES["OPENAI_API_KEY"]})}
    expect_query(stubber, {"status": "Complete", "results": [row]})
    run(client, Output(as_json=False))
    captured = capsys.readouterr()
    assert leaked(captured.out, captured.err) == []


def test_access_denied_names_the_permissions(logs: tuple[Any, Stubber]) -> None:
    client, stubber = logs
    stubber.add_client_error(
        "start_query", "AccessDeniedException", "User is not authorized to perform: logs:StartQuery", 400
    )
    with pytest.raises(SecretsError) as caught:
        run(client, Output(as_json=False))
    assert caught.value.code == "AccessDeniedException"
    assert "logs:StartQuery" in caught.value.hint and "logs:GetQueryResults" in caught.value.hint
    assert "log-group:/ecs/short-cut-api" in caught.value.hint


def test_a_missing_log_group_says_which(logs: tuple[Any, Stubber]) -> None:
    client, stubber = logs
    stubber.add_client_error("start_query", "ResourceNotFoundException", "Log group does not exist", 400)
    with pytest.raises(SecretsError) as caught:
        run(client, Output(as_json=False), log_group="/ecs/short-cut-api-staging")
    assert caught.value.code == "ResourceNotFoundException"
    assert "/ecs/short-cut-api-staging does not exist" in caught.value.hint


@pytest.mark.parametrize("status", ["Failed", "Cancelled", "Timeout"])
def test_a_failed_query_is_an_error(logs: tuple[Any, Stubber], status: str) -> None:
    client, stubber = logs
    expect_query(stubber, {"status": status, "results": []})
    with pytest.raises(SecretsError) as caught:
        run(client, Output(as_json=False))
    assert caught.value.code == "QueryFailed" and status in caught.value.message


@pytest.mark.parametrize(("text", "seconds"), [("90s", 90), ("15m", 900), ("1h", 3600), ("2d", 172800)])
def test_since_durations(text: str, seconds: int) -> None:
    assert fleet.parse_since(text) == seconds


@pytest.mark.parametrize("text", ["", "1", "h", "1w", "-1h", "0h", "15d"])
def test_bad_since_is_an_argument_error(text: str) -> None:
    with pytest.raises(SecretsError) as caught:
        fleet.parse_since(text)
    assert caught.value.code == "InvalidArgument" and caught.value.hint


def test_the_parser_defaults() -> None:
    common = argparse.ArgumentParser(add_help=False)
    common.add_argument("--region")
    parser = argparse.ArgumentParser()
    fleet.add_parser(parser.add_subparsers(dest="command"), common)
    args = parser.parse_args(["fleet"])
    assert (args.env, args.since, args.log_group, args.active_within, args.timeout) == ("prod", "1h", None, 180.0, 60.0)
    assert (args.name, args.wait, args.poll) == (None, 0.0, 15.0)
    assert args.handler is fleet.cmd_fleet
    args = parser.parse_args(["fleet", "--env", "staging", "--since", "15m", "--active-within", "0"])
    assert fleet.LOG_GROUPS[args.env] == "/ecs/short-cut-api-staging"
    args = parser.parse_args(["fleet", "--env", "production", "--wait", "600", "--name", "a", "--name", "b"])
    assert (args.env, args.wait, args.name) == ("prod", 600.0, ["a", "b"])
