"""Deployment environments, the secret naming convention `{project}/{environment}/{kind}`,
and the region: its pattern and where it is read from.

`entrypoint.sh` checks the same allowed values before Python starts; this module
is the Python side's one home for them.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from enum import StrEnum

PROJECT = "short-cut"
DEFAULT_REGION = "us-east-1"
# What an AWS region name looks like; entrypoint.sh checks the same pattern (a test keeps them equal).
# The same text as entrypoint.sh's grep -E pattern (a test keeps them equal): use fullmatch,
# since `$` also matches before a final newline.
REGION_PATTERN = re.compile(r"^[a-z]{2}(-[a-z]+)+-[0-9]+$")
# Where the region comes from, in order: botocore reads AWS_DEFAULT_REGION only, the guide sets AWS_REGION.
REGION_VARIABLES = ("AWS_REGION", "AWS_DEFAULT_REGION")


def region_from(environ: Mapping[str, str]) -> str | None:
    """The region the environment names: AWS_REGION, then AWS_DEFAULT_REGION (empty counts as unset)."""
    for name in REGION_VARIABLES:
        if environ.get(name):
            return environ[name]
    return None


class AppEnv(StrEnum):
    LOCAL = "local"
    DEVELOPMENT = "development"
    TEST = "test"
    STAGING = "staging"
    PRODUCTION = "production"

    @property
    def is_cloud(self) -> bool:
        """Staging and production load from AWS and refuse placeholders."""
        return self in (AppEnv.STAGING, AppEnv.PRODUCTION)

    @property
    def short_name(self) -> str:
        """The name used inside secret names and tags (`prod`, `staging`, ...)."""
        return "prod" if self is AppEnv.PRODUCTION else self.value


# The CLI's --env takes the short names used in secret names.
SHORT_NAMES: dict[str, AppEnv] = {env.short_name: env for env in AppEnv}


def secret_name(short_env: str, kind: str = "app") -> str:
    return f"{PROJECT}/{short_env}/{kind}"


def default_secret_name(env: AppEnv) -> str:
    return secret_name(env.short_name)


def secret_names(explicit: str | None, env: AppEnv) -> tuple[str, ...]:
    """SECRET_NAME (comma-separated, later wins) if set, else the environment's default in staging/production."""
    if explicit and explicit.strip():
        return tuple(name.strip() for name in explicit.split(",") if name.strip())
    return (default_secret_name(env),) if env.is_cloud else ()
