"""infra/iam/operator-policy.json allows every AWS API the operator CLI calls, and no more
than the short-cut resources (issue 21: the operator's permissions for push, rotate,
rollback, verify --as-role, audit --aws and fleet).

The calls are found in the source, not listed by hand: every `<client>.<method>(` and
`get_paginator("<method>")` in src/cli and src/aws/client.py whose method is an operation of a
service the CLI builds a client for (botocore's own method-to-operation table). The services
are found in the source too: the first argument of every `.client(`, `.create_client(` and
`build_client(..., service=)` call. A client of a service this file does not know (no IAM
prefix in SERVICES), or whose service cannot be read from the source, fails here, and so does
a new call that the policy does not allow.
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
SOURCES = [*sorted((ROOT / "src/cli").rglob("*.py")), ROOT / "src/aws/client.py"]
ACCOUNT = "111122223333"
REGION = "us-east-1"
# botocore's service name -> the IAM prefix of its actions (Service Authorization Reference).
SERVICES = {
    "secretsmanager": "secretsmanager",
    "sts": "sts",
    "logs": "logs",
    "iam": "iam",
    "cloudwatch": "cloudwatch",
    "lambda": "lambda",
    "sns": "sns",
    "kms": "kms",
    "events": "events",
    "cloudtrail": "cloudtrail",
    "ecr": "ecr",
    "ec2": "ec2",
}
# Calls that build a client; the service is the first argument or the `service` keyword.
CLIENT_FACTORIES = {"client", "create_client", "build_client"}
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
    # audit --aws: the stack (README: --stack-name short-cut-<env>) names its topic and rule
    # <stack>-<logical id>-<suffix>; the rotation function is named by the template.
    "lambda:GetFunctionConfiguration": "arn:aws:lambda:{region}:{account}:function:shortcut-secret-rotation{suffix}",
    "lambda:GetFunctionConcurrency": "arn:aws:lambda:{region}:{account}:function:shortcut-secret-rotation{suffix}",
    # "Actions, resources, and condition keys for AWS Lambda": GetAccountSettings has no resource type.
    "lambda:GetAccountSettings": "*",
    "sns:GetTopicAttributes": "arn:aws:sns:{region}:{account}:short-cut-{env}-AlarmTopic-AbCdEf",
    "kms:DescribeKey": "arn:aws:kms:{region}:{account}:key/1234abcd-12ab-34cd-56ef-1234567890ab",
    "kms:GetKeyPolicy": "arn:aws:kms:{region}:{account}:key/1234abcd-12ab-34cd-56ef-1234567890ab",
    "events:ListRuleNamesByTarget": "arn:aws:events:{region}:{account}:rule/short-cut-{env}-RotationFailedRule-AbCdEf",
    "events:DescribeRule": "arn:aws:events:{region}:{account}:rule/short-cut-{env}-RotationFailedRule-AbCdEf",
    # Issue 28: the trail check, the rule's FailedInvocations and the registry's scanning. DescribeTrails,
    # GetMetricStatistics and GetRegistryScanningConfiguration have no resource type (Service Authorization
    # Reference); a trail may live in another Region (multi-Region) or account (an organization trail).
    "cloudtrail:DescribeTrails": "*",
    "cloudtrail:GetTrailStatus": "arn:aws:cloudtrail:eu-central-1:999988887777:trail/org-trail",
    "cloudtrail:GetEventSelectors": "arn:aws:cloudtrail:{region}:{account}:trail/management",
    "cloudwatch:GetMetricStatistics": "*",
    "ecr:GetRegistryScanningConfiguration": "*",
    # "Actions, resources, and condition keys for Amazon EC2": Describe* actions take no resource type.
    "ec2:DescribeSubnets": "*",
}


def _strings(node: ast.AST | None) -> set[str] | None:
    """The string constants of a constant, a tuple/list of them, or a Literal[...] annotation."""
    if isinstance(node, ast.Constant) and isinstance(node.value, str):
        return {node.value}
    if isinstance(node, ast.Tuple | ast.List):
        parts = [_strings(e) for e in node.elts]
        return set().union(*parts) if parts and all(p is not None for p in parts) else None  # type: ignore[arg-type]
    if isinstance(node, ast.Subscript) and isinstance(node.value, ast.Name) and node.value.id == "Literal":
        return _strings(node.slice)
    return None


def _resolve(name: str, scopes: list[ast.AST]) -> set[str] | None:
    """The strings a variable can hold: a Literal-annotated parameter, a loop or comprehension over a
    tuple of constants, or a variable assigned one; innermost scope first."""
    for scope in reversed(scopes):
        for node in ast.walk(scope):
            if isinstance(node, ast.arg) and node.arg == name:
                return _strings(node.annotation)
            target = node.target if isinstance(node, ast.comprehension | ast.For) else None
            if isinstance(node, ast.comprehension | ast.For) and isinstance(target, ast.Name) and target.id == name:
                iterated = node.iter
                return _resolve(iterated.id, scopes) if isinstance(iterated, ast.Name) else _strings(iterated)
            if isinstance(node, ast.Assign) and any(isinstance(t, ast.Name) and t.id == name for t in node.targets):
                return _strings(node.value)
    return None


def client_services(sources: list[Path]) -> dict[str, set[str]]:
    """botocore service name -> the files that build a client for it (`None` key: unreadable)."""
    found: dict[str, set[str]] = {}

    def visit(node: ast.AST, scopes: list[ast.AST], path: Path) -> None:
        if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef):
            scopes = [*scopes, node]
        if isinstance(node, ast.Call):
            func = node.func
            factory = func.attr if isinstance(func, ast.Attribute) else func.id if isinstance(func, ast.Name) else ""
            if factory in CLIENT_FACTORIES:
                keyword = next((k.value for k in node.keywords if k.arg == "service"), None)
                argument = keyword if keyword is not None else (node.args[0] if node.args else None)
                if factory == "build_client":
                    # build_client's first argument is the region; its service defaults to secretsmanager.
                    argument = keyword
                    names = _strings(argument) if argument is not None else {"secretsmanager"}
                elif isinstance(argument, ast.Name):
                    names = _resolve(argument.id, scopes)
                else:
                    names = _strings(argument)
                for name in names if names is not None else {f"<unreadable: {ast.unparse(node)}>"}:
                    found.setdefault(name, set()).add(f"{path.name}:{node.lineno}")
        for child in ast.iter_child_nodes(node):
            visit(child, scopes, path)

    for path in sources:
        tree = ast.parse(path.read_text(encoding="utf-8"))
        visit(tree, [tree], path)
    return found


def operations(services: set[str] | None = None) -> dict[str, str]:
    """snake_case method -> "prefix:Operation" for the services the CLI uses."""
    session = botocore.session.get_session()
    table: dict[str, str] = {}
    for service in sorted(services if services is not None else client_services(SOURCES)):
        prefix = SERVICES[service]
        model = session.get_service_model(service)
        for operation in model.operation_names:
            method = botocore.xform_name(operation)
            table.setdefault(method, f"{prefix}:{operation}")
    return table


def called_actions(sources: list[Path]) -> dict[str, set[str]]:
    """IAM action -> the files that call it.

    A method two services share (CloudTrail Lake's start_query and CloudWatch Logs' start_query) is
    read as the service whose client the same file builds; when the file builds neither, as both."""
    services = client_services(sources)
    unknown = sorted(set(services) - set(SERVICES))
    assert not unknown, f"clients of services with no IAM prefix in SERVICES: {unknown} ({services})"
    tables = {service: operations({service}) for service in services}
    found: dict[str, set[str]] = {}
    for path in sources:
        here = {s for s, places in services.items() if any(p.split(":")[0] == path.name for p in places)}
        tree = ast.parse(path.read_text(encoding="utf-8"))
        for node in ast.walk(tree):
            if not isinstance(node, ast.Call) or not isinstance(node.func, ast.Attribute):
                continue
            names = [node.func.attr]
            if node.func.attr == "get_paginator" and node.args and isinstance(node.args[0], ast.Constant):
                names = [str(node.args[0].value)]
            for name in names:
                owners = [s for s in sorted(tables) if name in tables[s]]
                chosen = [s for s in owners if s in here] or owners
                for service in chosen:
                    found.setdefault(tables[service][name], set()).add(path.name)
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
        "secretsmanager:ListSecretVersionIds",
        "cloudtrail:DescribeTrails",
        "cloudtrail:GetTrailStatus",
        "cloudtrail:GetEventSelectors",
        "cloudwatch:GetMetricStatistics",
        "ecr:GetRegistryScanningConfiguration",
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


@pytest.mark.parametrize(
    "removed",
    [
        "secretsmanager:TagResource",
        "logs:StopQuery",
        "iam:GetRolePolicy",
        "lambda:GetAccountSettings",
        "kms:GetKeyPolicy",
    ],
)
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
        "lambda:GetFunctionConfiguration": f"arn:aws:lambda:{REGION}:{ACCOUNT}:function:payments-handler",
        "lambda:UpdateFunctionCode": resource_for("lambda:GetFunctionConfiguration", "prod"),
        "sns:GetTopicAttributes": f"arn:aws:sns:{REGION}:{ACCOUNT}:payments-alerts",
        "sns:Publish": resource_for("sns:GetTopicAttributes", "prod"),
        "kms:ScheduleKeyDeletion": resource_for("kms:DescribeKey", "prod"),
        "events:DescribeRule": f"arn:aws:events:{REGION}:{ACCOUNT}:rule/payments-nightly",
        "events:PutRule": resource_for("events:DescribeRule", "prod"),
    }
    assert [a for a, r in other.items() if iam.allowed(policy, a, r)] == []


def test_the_scan_finds_every_client_the_cli_builds() -> None:
    services = client_services(SOURCES)
    # audit --aws reads the rotation Lambda, the alarm topic, its key and the EventBridge rule too.
    assert {"secretsmanager", "sts", "logs", "iam", "cloudwatch", "lambda", "sns", "kms", "events"} <= set(services)


@pytest.mark.parametrize(
    "source",
    [
        "def run(session):\n    return session.client('s3')\n",
        "def run(session):\n    return session.create_client('dynamodb', config=None)\n",
        "NAMES = ('logs', 'ssm')\ndef run(session):\n    return [session.client(n) for n in NAMES]\n",
        "def run(session, name):\n    return session.client(name)\n",
    ],
)
def test_a_client_of_a_service_the_scan_does_not_know_fails(tmp_path: Path, source: str) -> None:
    extra = tmp_path / "new_command.py"
    extra.write_text(source)
    with pytest.raises(AssertionError, match="no IAM prefix in SERVICES"):
        called_actions([*SOURCES, extra])
