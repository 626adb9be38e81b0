"""Which environment a command works on, and the name of every resource an environment owns.

`--env` takes the names `APP_ENV` uses (`production`, `staging`, ...) as well as the short
ones used in secret names (`prod`, ...); both mean the same environment.

Staging and production can share one AWS account, so each names its resources apart. The
rule is the stack's (infra/cloudformation/short-cut.yaml): production keeps the plain
names, every other environment appends `-<env>`; the secret is `short-cut/<env>/app`. The
task role's inline read policy is `ShortCutSecretsReadPolicy` in every environment: an
inline policy belongs to its role, and the roles already differ. The
CLI's defaults (`fleet`'s log group, the secret every command targets), `render` and
`audit --aws` take their names from here, and tests/unit/cli/test_environments.py holds the stack to the same
names.
"""

from __future__ import annotations

import argparse
from dataclasses import asdict, dataclass

from src.app_env import SHORT_NAMES, AppEnv, secret_name

CLOUD_ENVS = ("prod", "staging")


def short_env(text: str) -> str:
    """An --env value, `production` or `prod` alike, as the short name (`prod`)."""
    value = text.strip().lower()
    if value in SHORT_NAMES:
        return value
    try:
        return AppEnv(value).short_name
    except ValueError:
        names = sorted({*SHORT_NAMES, *(env.value for env in AppEnv)})
        raise argparse.ArgumentTypeError(f"{text!r} is not an environment: use one of {', '.join(names)}") from None


def add_env_option(parser: argparse.ArgumentParser, *, cloud_only: bool = False) -> None:
    choices = CLOUD_ENVS if cloud_only else tuple(sorted(SHORT_NAMES))
    long_names = ", ".join(f"{SHORT_NAMES[c].value}" for c in choices if SHORT_NAMES[c].value != c)
    parser.add_argument(
        "--env",
        default="prod",
        type=short_env,
        choices=choices,
        help=f"environment: {', '.join(choices)}, also {long_names} (default: prod)",
    )


@dataclass(frozen=True)
class EnvironmentNames:
    """Every name an environment's resources take in an account."""

    suffix: str  # what production's names get appended: "" for prod, "-<env>" otherwise
    secret: str
    task_role: str
    execution_role: str
    read_policy: str  # an inline policy of task_role: its name is per role, so it need not differ
    family: str
    log_group: str
    rotation_function: str
    alarm_prefix: str

    def as_dict(self) -> dict[str, str]:
        """The names alone (not the suffix)."""
        return {key: value for key, value in asdict(self).items() if key != "suffix"}

    def account_names(self) -> dict[str, str]:
        """The names that are unique in an account, so must differ between environments: all but
        the inline policy's, which IAM scopes to its role (PutRolePolicy takes RoleName and PolicyName)."""
        return {key: value for key, value in self.as_dict().items() if key != "read_policy"}


def names_for(env: str) -> EnvironmentNames:
    """The resource names of environment `env` (a short name: prod, staging)."""
    suffix = "" if env == "prod" else f"-{env}"
    return EnvironmentNames(
        suffix=suffix,
        secret=secret_name(env),
        task_role=f"shortcut-ecs-task-role{suffix}",
        # The console's default execution role (AmazonECSTaskExecutionRolePolicy only) for prod.
        execution_role=f"ecsTaskExecutionRole{suffix}",
        # The stack's name on every environment's own role (one rule for both routes).
        read_policy="ShortCutSecretsReadPolicy",
        family=f"short-cut-api{suffix}",
        log_group=f"/ecs/short-cut-api{suffix}",
        rotation_function=f"shortcut-secret-rotation{suffix}",
        alarm_prefix=f"short-cut-{env}-",
    )
