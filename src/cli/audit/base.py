"""What every audit check shares: its result (PASS, FAIL or SKIP with the reason), the
exception a check raises to fail with a reason, and the files the checks read."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from src.cli.environments import names_for

TRUST = "infra/iam/ecs-task-trust-policy.json"
READ = "infra/iam/secrets-read-policy.json"
TASK = "infra/ecs/task-definition.json"
EXAMPLE = "infra/iam/secret-structure-example.json"
TEMPLATE = "infra/cloudformation/short-cut.yaml"
DOCKERFILE = "Dockerfile"
# The repository's files hold production's names (render derives the others'); the live
# checks take the audited environment's names from src.cli.environments.names_for.
LOG_GROUP = names_for("prod").log_group
TASK_ROLE = names_for("prod").task_role


@dataclass
class Result:
    name: str
    status: str  # PASS, FAIL, SKIP
    reason: str


class Failed(Exception):
    """A check's failure reason."""


def failing(problems: list[str]) -> None:
    """Fail with every problem a rule found, if it found any."""
    if problems:
        raise Failed("; ".join(problems))


def as_list(value: Any) -> list[Any]:
    """IAM and CloudFormation accept one item or a list of them."""
    return value if isinstance(value, list) else [value]
