"""How the service's lines reach CloudWatch Logs, and what the stale alarm makes of a lost one
(issue 28 item 4).

- "Default log driver mode" (Amazon ECS developer guide, account settings): on 2025-06-25 ECS
  changed the default delivery mode of a container's log driver from blocking to non-blocking;
  a container definition without `mode` gets the account's `defaultLogDriverMode`. In
  non-blocking mode lines wait in a buffer of `max-buffer-size` ("LogConfiguration", ECS API
  reference) and are dropped when it is full (docker's logging overview: "When non-blocking is
  set, if the log buffer fills up, log messages will be lost"). So both task definitions say
  which mode they use, and the buffer, rather than inherit an account setting.
- A dropped `SecretAgeSeconds` line must not page: the stale alarm treats missing data as
  breaching once tasks should run, so it needs M of N ("Evaluating an alarm", CloudWatch user
  guide: DatapointsToAlarm out of EvaluationPeriods), where one missing period alone stays OK.
"""

from __future__ import annotations

import json
from typing import Any

import pytest

from tests.infra.test_deploy_rules import template
from tests.support.processes import ROOT

TASK = ROOT / "infra/ecs/task-definition.json"


def _stack_options() -> dict[str, Any]:
    container = template(ROOT)["Resources"]["TaskDefinition"]["Properties"]["ContainerDefinitions"][0]
    return dict(container["LogConfiguration"]["Options"])


def _task_options() -> dict[str, Any]:
    task = json.loads(TASK.read_text(encoding="utf-8"))
    return dict(task["containerDefinitions"][0]["logConfiguration"]["options"])


@pytest.mark.parametrize("options", [_stack_options, _task_options], ids=["stack", "task-definition.json"])
def test_awslogs_mode_and_buffer_are_explicit(options: Any) -> None:
    found = options()
    assert found.get("mode") in ("blocking", "non-blocking"), found
    if found["mode"] == "non-blocking":
        assert str(found.get("max-buffer-size", "")).endswith("m"), found


def test_both_routes_deliver_logs_the_same_way() -> None:
    stack, task = _stack_options(), _task_options()
    assert (stack["mode"], stack["max-buffer-size"]) == (task["mode"], task["max-buffer-size"])


def alarms(datapoints: list[float | None], *, evaluation_periods: int, to_alarm: int, threshold: float) -> bool:
    """CloudWatch's M-of-N over the last N periods, missing data (None) treated as breaching."""
    window = datapoints[-evaluation_periods:]
    breaching = sum(1 for d in window if d is None or d > threshold)
    return breaching >= to_alarm


def test_the_stale_alarm_tolerates_one_lost_datapoint() -> None:
    props = template(ROOT)["Resources"]["SecretAgeAlarm"]["Properties"]
    n, m, threshold = props["EvaluationPeriods"], props.get("DatapointsToAlarm", props["EvaluationPeriods"]), 43200
    assert props["Threshold"] == threshold
    fresh = 60.0
    # One period whose age lines were all dropped: no alarm.
    assert not alarms([fresh, None, fresh], evaluation_periods=n, to_alarm=m, threshold=threshold)
    assert not alarms([fresh, fresh, None], evaluation_periods=n, to_alarm=m, threshold=threshold)
    # Two silent periods (no task logs), or values really stale: alarm.
    assert alarms([fresh, None, None], evaluation_periods=n, to_alarm=m, threshold=threshold)
    assert alarms([fresh, 50000.0, 50000.0], evaluation_periods=n, to_alarm=m, threshold=threshold)
    assert 1 < m < n + 1
