"""fleet's verdict on its own: which version is current, which tasks count, which are behind.
tests/unit/cli/test_fleet.py checks the printed table and JSON through the whole command."""

from __future__ import annotations

import json
from datetime import timedelta

import pytest

from src.cli.fleet.reports import Report
from src.cli.fleet.verdict import judge
from tests.unit.cli.test_fleet import NAME, NEW, NOW, OLD, TASK_A, TASK_B


def report(task: str, version: str, seconds_ago: float, name: str = NAME) -> Report:
    return Report(task, f"ecs/short-cut-api/{task}", name, version, NOW - timedelta(seconds=seconds_ago))


def test_awscurrent_is_the_reference_and_a_task_on_another_version_is_behind() -> None:
    a, b = report(TASK_A, NEW, 10), report(TASK_B, OLD, 20)
    verdict = judge([a, b], now=NOW, active_within=180, current={NAME: NEW})
    assert verdict.current == {NAME: NEW}
    assert verdict.behind == [b] and not verdict.converged


@pytest.mark.parametrize(
    ("name", "version"),
    [("***/prod/app", NEW), ("Redacted", NEW), ("short-cut/prod/app-other", NEW), (None, NEW), (NAME, None)],
)
def test_a_report_not_tied_to_a_target_is_unknown_even_on_the_right_version(
    name: str | None, version: str | None
) -> None:
    odd = Report(TASK_B, f"ecs/short-cut-api/{TASK_B}", name, version, NOW - timedelta(seconds=5))
    verdict = judge([report(TASK_A, NEW, 10), odd], now=NOW, active_within=180, current={NAME: NEW})
    assert verdict.unknown == [odd] and verdict.state(odd) == "UNKNOWN" and not verdict.converged


def test_silent_tasks_are_left_out_unless_active_within_is_zero() -> None:
    stopped = report(TASK_B, OLD, 1200)
    verdict = judge([report(TASK_A, NEW, 10), stopped], now=NOW, active_within=180, current={NAME: NEW})
    assert verdict.silent == [stopped] and verdict.converged
    verdict = judge([report(TASK_A, NEW, 10), stopped], now=NOW, active_within=0, current={NAME: NEW})
    assert verdict.silent == [] and verdict.behind == [stopped]


def test_no_active_report_is_not_converged() -> None:
    verdict = judge([report(TASK_A, NEW, 1200)], now=NOW, active_within=180, current={NAME: NEW})
    assert verdict.active == [] and not verdict.converged
    assert not judge([], now=NOW, active_within=180, current={NAME: NEW}).converged


def test_each_secret_has_its_own_reference() -> None:
    other = "short-cut/prod/other"
    reports = [report(TASK_A, NEW, 10), report(TASK_A, OLD, 10, name=other)]
    verdict = judge(reports, now=NOW, active_within=180, current={NAME: NEW, other: OLD})
    assert verdict.current == {NAME: NEW, other: OLD} and verdict.converged


def test_a_target_secret_no_task_reports_is_not_converged() -> None:
    """Review: every task on app's AWSCURRENT but none reporting db is not a pass for db."""
    db = "short-cut/prod/db"
    verdict = judge([report(TASK_A, NEW, 10)], now=NOW, active_within=180, current={NAME: NEW, db: OLD})
    assert not verdict.converged and verdict.unreported == [db]
    # A report of db that went silent does not count either.
    quiet = [report(TASK_A, NEW, 10), report(TASK_B, OLD, 900, name=db)]
    verdict = judge(quiet, now=NOW, active_within=180, current={NAME: NEW, db: OLD})
    assert not verdict.converged and verdict.unreported == [db]
    # Once a recent task reports db on its AWSCURRENT, both targets are served.
    served = [report(TASK_A, NEW, 10), report(TASK_A, OLD, 10, name=db)]
    verdict = judge(served, now=NOW, active_within=180, current={NAME: NEW, db: OLD})
    assert verdict.converged and verdict.unreported == []


def test_a_task_on_the_replica_is_current_and_named_as_on_the_replica(capsys: pytest.CaptureFixture[str]) -> None:
    """Issue 31: operators see from fleet which tasks read the secret from the failover Region. The
    version id is the same in both Regions, so such a task is current (the runbook may go on)."""
    from dataclasses import replace

    from src.cli.fleet.verdict import print_fleet
    from src.cli.output import Output

    primary = replace(report(TASK_A, NEW, 10), region="us-east-1", status="ok")
    replica = replace(report(TASK_B, NEW, 10), region="us-west-2", status="ok")
    verdict = judge([primary, replica], now=NOW, active_within=180, current={NAME: NEW})
    assert verdict.converged
    out = Output(as_json=False)
    print_fleet(out, verdict, log_group="g", since="10m", now=NOW, active_within=180, primary_region="us-east-1")
    text = capsys.readouterr().out
    (row_b,) = [line for line in text.splitlines() if line.startswith(TASK_B)]
    (row_a,) = [line for line in text.splitlines() if line.startswith(TASK_A)]
    assert row_b.endswith("current (read from the replica in us-west-2)") and row_a.endswith("current")
    assert "1 task(s) read the secret from its replica" in text
    document = Output(as_json=True)
    print_fleet(document, verdict, log_group="g", since="10m", now=NOW, active_within=180, primary_region="us-east-1")
    document.finish()
    tasks = {t["task"]: t["on_replica"] for t in json.loads(capsys.readouterr().out)["tasks"]}
    assert tasks == {TASK_A: False, TASK_B: True}
