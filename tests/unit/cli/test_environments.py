"""Each environment's resource names: the CLI's (src.cli.environments), the stack's, and
--env's two spellings.

Issue 21: staging and production share one AWS account. Names that are unique per account
(IAM role names, ECS task definition families and service names in a cluster, log group
names, Lambda function names, alarm names, secret names) must differ between the two, or
the second environment's deploy fails or, on the console route, overwrites the first's.
"""

from __future__ import annotations

import argparse
from typing import Any

import pytest

from src.cli import build_parser
from src.cli.environments import CLOUD_ENVS, names_for, short_env
from tests.support import cfn
from tests.support.processes import ROOT

STACK = ROOT / "infra/cloudformation/short-cut.yaml"
# Properties that are not an account-level name of the resource itself.
NOT_A_RESOURCE_NAME = {"MetricName", "DisplayName", "PolicyName"}


def stack_names(env: str) -> dict[tuple[str, str], str]:
    """(logical id, property) -> the name the stack gives, for Environment=env."""
    template = cfn.load(STACK)
    params = {
        "Environment": env,
        "AWS::Region": "us-east-1",
        "AWS::AccountId": "123456789012",
        "AWS::Partition": "aws",
        "AWS::StackName": f"short-cut-{env}",
        "ClusterName": "shared-cluster",
    }
    for name, spec in template.get("Parameters", {}).items():
        params.setdefault(name, str(spec.get("Default", f"<{name}>")))
    conditions = cfn.evaluate_conditions(template, params)
    names: dict[tuple[str, str], str] = {}
    for logical, resource in template["Resources"].items():
        properties: dict[str, Any] = resource.get("Properties", {})
        for key, value in properties.items():
            if not (key.endswith("Name") or key == "Family") or key in NOT_A_RESOURCE_NAME:
                continue
            resolved = cfn.resolve(value, params, conditions)
            if isinstance(resolved, str):  # a generated or referenced name is unique by construction
                names[(logical, key)] = resolved
    return names


def test_the_stack_names_every_environments_resources_apart() -> None:
    prod, staging = stack_names("prod"), stack_names("staging")
    assert prod, "no named resource found: has the template moved?"
    shared = {key: name for key, name in prod.items() if staging.get(key) == name}
    assert shared == {}, f"the same name in prod and staging: {shared}"
    assert set(prod.values()) & set(staging.values()) == set()


@pytest.mark.parametrize("env", CLOUD_ENVS)
def test_the_cli_uses_the_stacks_names(env: str) -> None:
    stack = stack_names(env)
    names = names_for(env)
    assert stack[("AppSecret", "Name")] == names.secret
    assert stack[("TaskRole", "RoleName")] == names.task_role
    assert stack[("TaskDefinition", "Family")] == names.family
    # The stack lets CloudFormation generate the service's name (unique per stack; a fixed
    # name blocks any replacement), so the CLI names no service.
    assert ("Service", "ServiceName") not in stack
    assert not hasattr(names, "service")
    # The inline read policy: one name on every environment's own role, on both routes.
    template = cfn.load(STACK)
    inline = [p["PolicyName"] for p in template["Resources"]["TaskRole"]["Properties"]["Policies"]]
    assert inline == [names.read_policy]
    assert stack[("LogGroup", "LogGroupName")] == names.log_group
    assert stack[("RotationFunction", "FunctionName")] == names.rotation_function
    alarms = [name for (logical, key), name in stack.items() if key == "AlarmName"]
    assert alarms and all(name.startswith(names.alarm_prefix) or env in name for name in alarms)


def test_the_cli_names_nothing_alike_in_two_environments() -> None:
    # Names unique in an account. The inline policy's name is not one: IAM keeps inline
    # policies per role (PutRolePolicy takes RoleName and PolicyName,
    # https://docs.aws.amazon.com/IAM/latest/APIReference/API_PutRolePolicy.html), and the
    # roles differ, so both environments use the stack's one name.
    prod, staging = names_for("prod"), names_for("staging")
    assert set(prod.account_names().values()) & set(staging.account_names().values()) == set()
    assert prod.task_role != staging.task_role
    assert prod.read_policy == staging.read_policy == "ShortCutSecretsReadPolicy"


@pytest.mark.parametrize(
    ("given", "short"),
    [("prod", "prod"), ("production", "prod"), ("PRODUCTION", "prod"), ("staging", "staging"), ("test", "test")],
)
def test_both_spellings_of_an_environment(given: str, short: str) -> None:
    assert short_env(given) == short


def test_an_unknown_environment_is_refused() -> None:
    with pytest.raises(argparse.ArgumentTypeError):
        short_env("qa")


@pytest.mark.parametrize(
    "argv",
    [
        ["push", "--file", "-"],
        ["verify"],
        ["describe"],
        ["rotate", "--key", "APP_SECRET_KEY"],
        ["rollback"],
        ["fleet"],
        ["render", "--account-id", "111122223333", "--image", "r.io/api:1"],
    ],
)
@pytest.mark.parametrize(("given", "short"), [("production", "prod"), ("prod", "prod"), ("staging", "staging")])
def test_every_command_takes_both_spellings(argv: list[str], given: str, short: str) -> None:
    args = build_parser().parse_args([*argv, "--env", given])
    assert args.env == short
