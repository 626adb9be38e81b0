"""infra/iam/operator-policy.json allows every AWS API the operator CLI calls, and no more
than the short-cut resources (issue 21: the operator's permissions for push, rotate,
rollback, verify --as-role, audit --aws and fleet).

The calls are found in the source, not listed by hand: every `<client>.<method>(` and
`get_paginator("<method>")` in src/cli and src/aws.py whose method is an operation of a
service the CLI builds a client for (botocore's own method-to-operation table). A new call
that the policy does not allow fails here.
"""

from __future__ import annotations

import ast
import json
from pathlib import Path
from typing import Any

import botocore.session
import pytest

from tests.support import iam
from tests.support.processes import ROOT

POLICY = ROOT / "infra/iam/operator-policy.json"
SOURCES = [*sorted((ROOT / "src/cli").rglob("*.py")), ROOT / "src/aws.py"]
ACCOUNT = "111122223333"
REGION = "us-east-1"
# botocore's service name -> the IAM prefix of its actions (CloudWatch signs as "monitoring").
SERVICES = {"secretsmanager": "secretsmanager", "sts": "sts", "logs": "logs", "iam": "iam", "cloudwatch": "cloudwatch"}
# "No permissions are required to perform this operation" (STS API reference, GetCallerIdentity).
NEEDS_NO_PERMISSION = {"sts:GetCallerIdentity"}
# Implied by a call's arguments: CreateSecret with Tags also needs secretsmanager:TagResource
# (Secrets Manager API reference, CreateSecret, "Required permissions").
IMPLIED = {"secretsmanager:CreateSecret": ["secretsmanager:TagResource"]}
# What each action is asked on, per environment: the resources the CLI names.
SECRET = "arn:aws:secretsmanager:{region}:{account}:secret:short-cut/{env}/app-AbCdEf"
ROLE = "arn:aws:iam::{account}:role/shortcut-ecs-task-role{suffix}"
LOG_GROUP = "arn:aws:logs:{region}:{account}:log-group:/ecs/short-cut-api{suffix}"
RESOURCES = {
    "secretsmanager:*": SECRET,
    "sts:AssumeRole": ROLE,
    "iam:GetRole": ROLE,
    "iam:GetRolePolicy": ROLE,
    "logs:StartQuery": LOG_GROUP,
    "logs:DescribeLogGroups": "arn:aws:logs:{region}:{account}:log-group:*",
    # GetQueryResults and StopQuery take a query id: no resource-level permissions.
    "logs:GetQueryResults": "*",
    "logs:StopQuery": "*",
    "cloudwatch:DescribeAlarms": "arn:aws:cloudwatch:{region}:{account}:alarm:short-cut-{env}-secret-stale",
}


def operations() -> dict[str, str]:
    """snake_case method -> "prefix:Operation" for the services the CLI uses."""
    session = botocore.session.get_session()
    table: dict[str, str] = {}
    for service, prefix in SERVICES.items():
        model = session.get_service_model(service)
        for operation in model.operation_names:
            method = botocore.xform_name(operation)
            table.setdefault(method, f"{prefix}:{operation}")
    return table


def called_actions(sources: list[Path]) -> dict[str, set[str]]:
    """IAM action -> the files that call it."""
    table = operations()
    found: dict[str, set[str]] = {}
    for path in sources:
        tree = ast.parse(path.read_text(encoding="utf-8"))
        for node in ast.walk(tree):
            if not isinstance(node, ast.Call) or not isinstance(node.func, ast.Attribute):
                continue
            names = [node.func.attr]
            if node.func.attr == "get_paginator" and node.args and isinstance(node.args[0], ast.Constant):
                names = [str(node.args[0].value)]
            for name in names:
                if name in table:
                    found.setdefault(table[name], set()).add(path.name)
    for action, implied in IMPLIED.items():
        if action in found:
            for extra in implied:
                found.setdefault(extra, set()).update(found[action])
    return found


def rendered_policy() -> dict[str, Any]:
    text = POLICY.read_text(encoding="utf-8").replace("<ACCOUNT_ID>", ACCOUNT).replace("<REGION>", REGION)
    assert "<" not in text, "a placeholder other than <ACCOUNT_ID> and <REGION>"
    return dict(json.loads(text))


def resource_for(action: str, env: str) -> str:
    template = RESOURCES.get(action) or RESOURCES.get(action.split(":")[0] + ":*")
    assert template, f"{action}: say which resource the CLI asks it on (RESOURCES)"
    suffix = "" if env == "prod" else f"-{env}"
    return template.format(region=REGION, account=ACCOUNT, env=env, suffix=suffix)


def denied(policy: dict[str, Any], actions: dict[str, set[str]]) -> list[str]:
    return [
        f"{action} on {resource_for(action, env)} (called in {', '.join(sorted(files))})"
        for action, files in sorted(actions.items())
        if action not in NEEDS_NO_PERMISSION
        for env in ("prod", "staging")
        if not iam.allowed(policy, action, resource_for(action, env))
    ]


def test_the_scan_finds_the_calls_each_command_makes() -> None:
    actions = called_actions(SOURCES)
    # push, rotate, rollback, verify; verify --as-role; audit --aws; fleet.
    for expected in [
        "secretsmanager:CreateSecret",
        "secretsmanager:PutSecretValue",
        "secretsmanager:UpdateSecretVersionStage",
        "secretsmanager:GetSecretValue",
        "secretsmanager:DescribeSecret",
        "sts:AssumeRole",
        "iam:GetRole",
        "cloudwatch:DescribeAlarms",
        "logs:StartQuery",
        "logs:GetQueryResults",
    ]:
        assert expected in actions, expected


def test_every_api_the_cli_calls_is_allowed_for_both_environments() -> None:
    assert denied(rendered_policy(), called_actions(SOURCES)) == []


def test_a_call_the_policy_does_not_allow_fails(tmp_path: Path) -> None:
    extra = tmp_path / "new_command.py"
    extra.write_text("def run(client):\n    client.delete_secret(SecretId='short-cut/prod/app')\n")
    problems = denied(rendered_policy(), called_actions([*SOURCES, extra]))
    assert [p.split(" (")[0] for p in problems] == [
        f"secretsmanager:DeleteSecret on {resource_for('secretsmanager:DeleteSecret', env)}"
        for env in ("prod", "staging")
    ]


@pytest.mark.parametrize("removed", ["secretsmanager:TagResource", "logs:StopQuery", "iam:GetRolePolicy"])
def test_removing_an_action_from_the_policy_fails(removed: str) -> None:
    policy = rendered_policy()
    for statement in policy["Statement"]:
        actions = statement["Action"] if isinstance(statement["Action"], list) else [statement["Action"]]
        statement["Action"] = [a for a in actions if a != removed]
    problems = denied(policy, called_actions(SOURCES))
    assert problems and all(p.startswith(removed) for p in problems), problems


def test_the_policy_reaches_no_other_secret_role_or_log_group() -> None:
    policy = rendered_policy()
    other = {
        "secretsmanager:GetSecretValue": f"arn:aws:secretsmanager:{REGION}:{ACCOUNT}:secret:payments/prod/db-AbCdEf",
        "secretsmanager:PutSecretValue": f"arn:aws:secretsmanager:{REGION}:{ACCOUNT}:secret:payments/prod/db-AbCdEf",
        "sts:AssumeRole": f"arn:aws:iam::{ACCOUNT}:role/OrganizationAccountAccessRole",
        "logs:StartQuery": f"arn:aws:logs:{REGION}:{ACCOUNT}:log-group:/aws/lambda/payments",
        "secretsmanager:DeleteSecret": resource_for("secretsmanager:DeleteSecret", "prod"),
        "iam:PutRolePolicy": resource_for("iam:GetRole", "prod"),
    }
    assert [a for a, r in other.items() if iam.allowed(policy, a, r)] == []
