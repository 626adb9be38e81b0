"""The ECS service is created after the task role's queue policy (issue 28 item 8).

CloudFormation creates resources in parallel unless one depends on another ("DependsOn
attribute": a Ref or Fn::GetAtt is an implicit dependency). The role's inline policy
TaskRoleSecretEventsPolicy is a resource of its own, so without an order the first tasks can
start before they may sqs:ReceiveMessage, and their event source reports AccessDenied. DependsOn
cannot name a resource whose Condition may be false (cfn-lint E3005, the policy exists only with
EventRefresh), so the service holds a Ref to it under the same condition, as it does for the
listener (aws/serverless-application-model#653).
"""

from __future__ import annotations

from typing import Any

from tests.infra.test_deploy_rules import template
from tests.support.processes import ROOT


def _refs(value: Any) -> set[str]:
    if isinstance(value, dict):
        found = {str(value["Ref"])} if set(value) == {"Ref"} else set()
        return found.union(*(_refs(v) for v in value.values()))
    if isinstance(value, list):
        return set().union(*(_refs(v) for v in value)) if value else set()
    return set()


def test_the_service_waits_for_the_task_roles_queue_policy() -> None:
    resources = template(ROOT)["Resources"]
    service = resources["Service"]
    depends = service.get("DependsOn", [])
    depends = [depends] if isinstance(depends, str) else depends
    assert "TaskRoleSecretEventsPolicy" in depends or "TaskRoleSecretEventsPolicy" in _refs(service["Properties"])
    assert resources["TaskRoleSecretEventsPolicy"]["Condition"] == "WithEventRefresh"
    tag = next(t for t in service["Properties"]["Tags"] if t["Key"] == "SecretEventsPolicy")
    assert tag["Value"] == {"Fn::If": ["WithEventRefresh", {"Ref": "TaskRoleSecretEventsPolicy"}, "none"]}
