"""Asking the operator's git about a path; None when git is not there to ask."""

from __future__ import annotations

import subprocess
from pathlib import Path


def git_status(args: list[str], cwd: Path) -> int | None:
    """git's exit code for `git <args>` in `cwd`, or None if git could not run."""
    try:
        result = subprocess.run(  # noqa: S603 - fixed arguments, no shell
            ["git", *args],  # noqa: S607 - git from PATH is the operator's git
            cwd=cwd,
            capture_output=True,
            check=False,
            timeout=10,
        )
    except (OSError, subprocess.TimeoutExpired):
        return None
    return result.returncode
