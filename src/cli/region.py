"""Which AWS Region a command works in: one rule for every command, here and nowhere else.

`--region`, then `AWS_REGION`, then `AWS_DEFAULT_REGION` (an empty variable counts as unset; the
order of src.app_env.REGION_VARIABLES, which the service reads too). No Region at all is an
error (MissingRegion), never a silent us-east-1: `render` would otherwise write another Region's
ARNs and `awslogs-region`. The command says which Region it used and where that came from
(`src.cli.main`: a note on stderr, or `region` and `region_source` in the --json document).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from src.app_env import REGION_VARIABLES
from src.errors import ErrorCode, SecretsError

FLAG = "--region"


@dataclass(frozen=True)
class Region:
    name: str
    source: str  # "--region", "AWS_REGION" or "AWS_DEFAULT_REGION"

    def __str__(self) -> str:
        return f"{self.name} (from {self.source})"


def resolve_region(flag: str | None, environ: Mapping[str, str]) -> Region:
    """The Region a command uses, and where it came from; MissingRegion when none is set."""
    if flag:
        return Region(flag, FLAG)
    for variable in REGION_VARIABLES:
        if environ.get(variable):
            return Region(environ[variable], variable)
    raise SecretsError(
        ErrorCode.MissingRegion,
        f"no AWS Region: none of {FLAG}, {', '.join(REGION_VARIABLES)} is set",
        hint=f"Pass {FLAG} (for example {FLAG} us-east-1) or set AWS_REGION.",
    )
