"""Deployment rules AWS enforces (or that break a first deploy) and no linter here checks.

Each rule holds for the repository's files and is shown to fail on a broken copy. The
rules are `audit`'s own module-level functions, so the CLI and these tests cannot drift.
"""

from __future__ import annotations

import json
import shutil
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from src.cli.audit import (
    FARGATE_SIZES,
    READY_PARAMETER,
    dockerfile_volumes,
    evaluate_conditions,
    fargate_size_problems,
    first_deploy_parameters,
    first_deploy_problems,
    grace_period_problems,
    private_dir_problems,
    resources,
    secret_retention_problems,
    tracing_problems,
)
from src.cli.audit.traps import ROTATION_PARAMETER
from tests.support import cfn
from tests.support.processes import ROOT
from tests.support.repo_copy import copy_audited_files

STACK = "infra/cloudformation/short-cut.yaml"
TASK = "infra/ecs/task-definition.json"


@pytest.fixture
def repo(tmp_path: Path) -> Path:
    copy = copy_audited_files(tmp_path)
    shutil.copy2(ROOT / "Dockerfile", copy / "Dockerfile")
    return copy


def replace(path: Path, old: str, new: str) -> None:
    text = path.read_text()
    assert old in text, old
    path.write_text(text.replace(old, new))


def replace_all(path: Path, *pairs: tuple[str, str]) -> None:
    for old, new in pairs:
        replace(path, old, new)


def template(root: Path) -> dict[str, Any]:
    return cfn.load(root / STACK)


def task(root: Path) -> dict[str, Any]:
    return dict(json.loads((root / TASK).read_text()))


# --- HealthCheckGracePeriodSeconds needs LoadBalancers ----------------------------------
# ECS answered "InvalidParameterException: Health check grace period is only valid for
# services configured to use load balancers" (cfn-lint issue #3612, which cfn-lint does not
# check; terraform-provider-aws #31104). Newer ECS API docs say the grace period also covers
# container health checks; either way the container healthCheck's startPeriod covers start-up.


def test_no_grace_period_without_a_load_balancer() -> None:
    assert grace_period_problems(template(ROOT)) == []


def test_grace_period_rule_fails_on_a_broken_copy(repo: Path) -> None:
    # The grace period set whether or not the optional load balancer exists.
    replace(
        repo / STACK,
        "HealthCheckGracePeriodSeconds: !If [WithLoadBalancer, 60, !Ref AWS::NoValue]",
        "HealthCheckGracePeriodSeconds: 60",
    )
    assert grace_period_problems(template(repo)) == ["Service: HealthCheckGracePeriodSeconds without LoadBalancers"]


# --- TracingConfig Active needs X-Ray permissions on the role ---------------------------
# Lambda refuses the function: "The provided execution role does not have permissions to call
# PutTraceSegments on XRAY" (serverless/serverless #6931, coinbase/fenrir #1). The Lambda guide
# ("Visualize Lambda function invocations using AWS X-Ray") names xray:PutTraceSegments and
# xray:PutTelemetryRecords (AWSXRayDaemonWriteAccess); X-Ray has no resource-level permissions.


def test_traced_lambda_role_may_write_to_xray() -> None:
    stack = template(ROOT)
    assert resources(stack, "AWS::Lambda::Function")["RotationFunction"]["Properties"]["TracingConfig"] == {
        "Mode": "Active"
    }
    assert tracing_problems(stack) == []


@pytest.mark.parametrize("action", ["xray:PutTraceSegments", "xray:PutTelemetryRecords"])
def test_tracing_rule_fails_on_a_broken_copy(repo: Path, action: str) -> None:
    replace(repo / STACK, f"                  - {action}\n", "")
    assert tracing_problems(template(repo)) == [f"RotationFunction: tracing is Active but RotationRole lacks {action}"]


def test_a_managed_xray_policy_also_satisfies_the_tracing_rule(repo: Path) -> None:
    replace(repo / STACK, "                  - xray:PutTraceSegments\n", "")
    replace(
        repo / STACK,
        "      Policies:\n        - PolicyName: ShortCutSecretRotationPolicy\n",
        "      ManagedPolicyArns:\n"
        "        - !Sub arn:${AWS::Partition}:iam::aws:policy/AWSXRayDaemonWriteAccess\n"
        "      Policies:\n        - PolicyName: ShortCutSecretRotationPolicy\n",
    )
    assert tracing_problems(template(repo)) == []


# --- The secret created in the stack is retained ----------------------------------------
# Without a DeletionPolicy CloudFormation deletes the resource when the stack is deleted or the
# resource removed; UpdateReplacePolicy covers a replacing update ("DeletionPolicy attribute",
# "UpdateReplacePolicy attribute", CloudFormation template reference). The secret holds the
# pushed values: a rollback or a stack deletion must not take them.


def test_the_secret_is_retained() -> None:
    stack = template(ROOT)
    assert stack["Resources"]["AppSecret"]["DeletionPolicy"] == "Retain"
    assert stack["Resources"]["AppSecret"]["UpdateReplacePolicy"] == "Retain"
    assert secret_retention_problems(stack) == []


@pytest.mark.parametrize(
    ("line", "problem"),
    [
        ("    DeletionPolicy: Retain\n", "AppSecret: DeletionPolicy is Delete, not Retain"),
        ("    UpdateReplacePolicy: Retain\n", "AppSecret: UpdateReplacePolicy is Delete, not Retain"),
    ],
)
def test_retention_rule_fails_on_a_broken_copy(repo: Path, line: str, problem: str) -> None:
    replace(repo / STACK, line, "")
    assert secret_retention_problems(template(repo)) == [problem]


# --- The first deploy neither runs tasks nor rotates placeholders -----------------------
# A RotationSchedule rotates at once unless RotateImmediatelyOnUpdate is false
# (AWS::SecretsManager::RotationSchedule; aws-cdk #25652: "by default, the secret will be
# rotated immediately"); with false, Secrets Manager still runs the Lambda's testSecret on a
# pending version (RotateSecret API, RotateImmediately), which our Lambda refuses on
# placeholders. So the schedule exists only once SecretReady=true, and tasks likewise: on
# placeholders they fail the /health check until the circuit breaker rolls the stack back.


def test_the_first_deploy_runs_no_task_and_schedules_no_rotation() -> None:
    stack = template(ROOT)
    assert first_deploy_problems(stack) == []
    params = first_deploy_parameters(stack)
    assert params[READY_PARAMETER] == "false" and params["DesiredCount"] == "2"
    conditions = evaluate_conditions(stack, params)
    service = cfn.resolve(stack["Resources"]["Service"]["Properties"], params, conditions)
    assert service["DesiredCount"] == 0
    assert conditions["WithRotation"] is True  # the Lambda is created, only the schedule waits
    assert conditions[stack["Resources"]["RotationSchedule"]["Condition"]] is False


def test_once_the_secret_is_ready_the_service_scales_and_rotation_waits_for_its_schedule() -> None:
    stack = template(ROOT)
    params = {**first_deploy_parameters(stack), READY_PARAMETER: "true"}
    conditions = evaluate_conditions(stack, params)
    service = cfn.resolve(stack["Resources"]["Service"]["Properties"], params, conditions)
    assert service["DesiredCount"] == "2"
    schedule = stack["Resources"]["RotationSchedule"]
    # Scaling up does not turn rotation on (issue 24 item 8): that is an update of its own.
    assert conditions[schedule["Condition"]] is False
    conditions = evaluate_conditions(stack, {**params, ROTATION_PARAMETER: "true"})
    assert conditions[schedule["Condition"]] is True
    assert schedule["Properties"]["RotateImmediatelyOnUpdate"] is False


FIRST_DEPLOY_BREAKS: list[tuple[str, str, str]] = [
    ("DesiredCount: !If [IsSecretReady, !Ref DesiredCount, 0]", "DesiredCount: !Ref DesiredCount", "Service"),
    ("      RotateImmediatelyOnUpdate: false\n", "", "RotateImmediatelyOnUpdate"),
    ("Condition: WithRotationSchedule", "Condition: WithRotation", "created by the first deploy"),
    ('Default: "false"', 'Default: "true"', "Service"),
]


@pytest.mark.parametrize(("old", "new", "expected"), FIRST_DEPLOY_BREAKS)
def test_first_deploy_rule_fails_on_a_broken_copy(repo: Path, old: str, new: str, expected: str) -> None:
    replace(repo / STACK, old, new)
    problems = first_deploy_problems(template(repo))
    assert any(expected in p for p in problems), problems


# --- Fargate's cpu/memory pairs --------------------------------------------------------
# "Troubleshoot Amazon ECS task definition invalid CPU or memory errors" (task-cpu-memory-error.html):
# RegisterTaskDefinition answers "Invalid 'cpu' setting for task" outside this table.


def test_the_task_size_is_a_fargate_size() -> None:
    definition = task(ROOT)
    assert fargate_size_problems(definition["cpu"], definition["memory"]) == []
    props = template(ROOT)["Resources"]["TaskDefinition"]["Properties"]
    assert fargate_size_problems(props["Cpu"], props["Memory"]) == []


@pytest.mark.parametrize(
    ("cpu", "memory", "ok"),
    [
        ("256", "512", True),
        ("256", "4096", False),
        ("512", "4096", True),
        ("512", "5120", False),
        ("1 vCPU", "8GB", True),
        ("1024", "1024", False),
        ("2048", "16384", True),
        ("2048", "16896", False),
        ("4096", "30720", True),
        ("8192", "20480", True),
        ("8192", "18432", False),
        ("16384", "122880", True),
        ("384", "1024", False),
        ("0.5 vCPU", "1 GB", True),
    ],
)
def test_fargate_table(cpu: str, memory: str, ok: bool) -> None:
    assert (fargate_size_problems(cpu, memory) == []) is ok
    assert sorted(FARGATE_SIZES) == [256, 512, 1024, 2048, 4096, 8192, 16384]


def test_fargate_size_rule_fails_on_a_broken_copy(repo: Path) -> None:
    replace(repo / TASK, '"memory": "1024"', '"memory": "8192"')
    assert fargate_size_problems(task(repo)["cpu"], task(repo)["memory"]) != []


# --- A non-root task on a read-only root has a writable private directory --------------
# On Fargate 1.4+ a bind volume without a host path is owned by root, mode 0755, unless the
# image declares VOLUME at the same absolute path ("Use bind mounts with Amazon ECS",
# bind-mount considerations; containers-roadmap #938 and #863). A tmpfs is fine if the user may
# write to it: ECS supports LinuxParameters.tmpfs on Fargate since 2026-01 (containers-roadmap
# #736). podman's --read-only adds a tmpfs at /tmp by itself (--read-only-tmpfs), which is how
# this hid from the container tests.


def test_the_private_directory_is_writable_on_fargate() -> None:
    definition = task(ROOT)
    assert "/tmp" in dockerfile_volumes((ROOT / "Dockerfile").read_text())
    assert private_dir_problems(definition, (ROOT / "Dockerfile").read_text()) == []
    # The volume stays: without it ECS mounts nothing at /tmp and the read-only root refuses writes.
    assert definition["volumes"] == [{"name": "tmp"}]


@pytest.mark.parametrize(
    "break_it",
    [
        lambda r: replace(r / "Dockerfile", 'VOLUME ["/tmp"]', "# no volume"),
        lambda r: replace(r / TASK, '"containerPath": "/tmp"', '"containerPath": "/scratch"'),
        # The task's tmpfs moved to /tmp and owned by root (mode 0700): user 10001 cannot write.
        lambda r: replace_all(
            r / TASK,
            ('"containerPath": "/run/short-cut"', '"containerPath": "/tmp"'),
            ('"mode=1777"', '"mode=0700"'),
        ),
    ],
    ids=["no-volume-in-image", "nothing-at-tmp", "root-only-tmpfs"],
)
def test_private_directory_rule_fails_on_a_broken_copy(repo: Path, break_it: Callable[[Path], None]) -> None:
    break_it(repo)
    dockerfile = (repo / "Dockerfile").read_text()
    definition = task(repo)
    tmpfs = definition["containerDefinitions"][0]["linuxParameters"].get("tmpfs", [])
    if any(m["containerPath"] == "/tmp" for m in tmpfs):
        definition["containerDefinitions"][0]["mountPoints"] = []
    assert private_dir_problems(definition, dockerfile) != []


def test_a_root_task_or_a_writable_root_needs_no_volume() -> None:
    definition = task(ROOT)
    container = definition["containerDefinitions"][0]
    container["mountPoints"] = []
    assert private_dir_problems(definition, "") != []
    assert private_dir_problems({**definition, "containerDefinitions": [{**container, "user": "0"}]}, "") == []
    writable = {**container, "readonlyRootFilesystem": False}
    assert private_dir_problems({**definition, "containerDefinitions": [writable]}, "") == []


def test_dockerfile_volumes_reads_only_the_last_stage() -> None:
    text = 'FROM a AS build\nVOLUME ["/build"]\nFROM b\nRUN true \\\n    && true\nVOLUME /tmp /var/x\n# VOLUME /c\n'
    assert dockerfile_volumes(text) == {"/tmp", "/var/x"}
