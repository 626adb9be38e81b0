"""The deployment rules (src.cli.audit.rules) as offline checks: each applies its rule to
the rendered task definition and the stack's template, and fails with every problem found."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from src.cli.audit.base import DOCKERFILE, TASK, TEMPLATE, Failed, failing
from src.cli.audit.context import Context
from src.cli.audit.rules import (
    CONTAINER_TMP,
    READY_PARAMETER,
    SECRET_TMPFS,
    fargate_size_problems,
    first_deploy_problems,
    grace_period_problems,
    hardening_problems,
    private_dir_problems,
    secret_retention_problems,
    tracing_problems,
)
from src.cli.audit.template import resources
from src.cli.audit.traps import (
    alarm_filter_problems,
    code_key_problems,
    lambda_log_group_problems,
    lambda_log_permission_problems,
    reserved_concurrency_problems,
    rotation_failure_route_problems,
    rotation_step_problems,
    service_name_problems,
    topic_key_problems,
)


def check_fargate_size(ctx: Context) -> str:
    task = ctx.docs[TASK]
    problems = fargate_size_problems(task.get("cpu"), task.get("memory"))
    stack = resources(ctx.template(), "AWS::ECS::TaskDefinition")
    for name, definition in stack.items():
        props = definition.get("Properties", {})
        problems += [f"{TEMPLATE} {name}: {p}" for p in fargate_size_problems(props.get("Cpu"), props.get("Memory"))]
    failing(problems)
    return f"cpu {task['cpu']} with memory {task['memory']} is a Fargate size, here and in the stack"


def check_private_tmp(ctx: Context) -> str:
    dockerfile = ctx.root / DOCKERFILE
    text = dockerfile.read_text(encoding="utf-8") if dockerfile.exists() else None
    failing(private_dir_problems(ctx.docs[TASK], text))
    stack = [
        [m.get("ContainerPath") for m in c.get("MountPoints", [])]
        for d in resources(ctx.template(), "AWS::ECS::TaskDefinition").values()
        for c in d.get("Properties", {}).get("ContainerDefinitions", [])
    ]
    paths = [m.get("containerPath") for m in ctx.container().get("mountPoints", [])]
    if any(mounts != paths for mounts in stack):
        raise Failed(f"{TEMPLATE} mounts {stack}, the task definition {paths}")
    return f"{CONTAINER_TMP} is a bind volume the image declares as VOLUME (writable by a non-root user on Fargate)"


def check_grace_period(ctx: Context) -> str:
    failing(grace_period_problems(ctx.template()))
    return "no HealthCheckGracePeriodSeconds without a load balancer"


def check_secret_retained(ctx: Context) -> str:
    template = ctx.template()
    if not resources(template, "AWS::SecretsManager::Secret"):
        raise Failed(f"{TEMPLATE} creates no secret")
    failing(secret_retention_problems(template))
    return "the stack's secret has DeletionPolicy and UpdateReplacePolicy Retain"


def check_first_deploy(ctx: Context) -> str:
    failing(first_deploy_problems(ctx.template()))
    return f"until {READY_PARAMETER}=true the stack runs 0 tasks and schedules no rotation"


def check_lambda_tracing(ctx: Context) -> str:
    failing(tracing_problems(ctx.template()))
    return "every actively traced Lambda's role may write to X-Ray"


def check_hardening(ctx: Context) -> str:
    failing(hardening_problems(ctx.docs[TASK]))
    return f"every capability dropped; the service-account file on a noexec tmpfs at {SECRET_TMPFS}"


def _template_rule(rule: Callable[[dict[str, Any]], list[str]], holds: str) -> Callable[[Context], str]:
    def check(ctx: Context) -> str:
        failing(rule(ctx.template()))
        return holds

    check.__doc__ = rule.__doc__
    return check


# The traps of a new account and of later updates (src.cli.audit.traps), one check each.
TRAP_CHECKS: list[tuple[str, Callable[[Context], str]]] = [
    ("lambda-concurrency", _template_rule(reserved_concurrency_problems, "no Lambda reserves concurrency")),
    ("lambda-code-key", _template_rule(code_key_problems, "the Lambda's S3 key is content-addressed")),
    (
        "lambda-log-group",
        _template_rule(lambda_log_group_problems, "every Lambda's log group is declared with a retention"),
    ),
    (
        "lambda-log-permissions",
        _template_rule(lambda_log_permission_problems, "each Lambda writes only to its own log group, creating none"),
    ),
    ("service-name", _template_rule(service_name_problems, "the service has a generated name (replaceable)")),
    ("rotation-own-step", _template_rule(rotation_step_problems, "turning rotation on is an update of its own")),
    (
        "alarm-topic-key",
        _template_rule(topic_key_problems, "the alarm topic's key lets CloudWatch and EventBridge publish"),
    ),
    (
        "rotation-failure-route",
        _template_rule(rotation_failure_route_problems, "a failed rotation reaches the alarm topic"),
    ),
    (
        "alarm-metric-filters",
        _template_rule(alarm_filter_problems, "every secret-health alarm watches a metric filter"),
    ),
]
