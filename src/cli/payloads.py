"""What the CLI reads before it writes: the `--file` argument of `push`, and the version
`rollback` would make AWSCURRENT.

- `read_payload` never quotes its argument: an operator who pastes the JSON where the path goes
  gets "the path given" back, in every message, hint and --debug traceback (OSErrors become a
  SecretsError with the system's reason only). What it reads is registered with the log mask.
- `check_promotable` judges a version with the rules `push` and `rotate` apply
  (`validate_strict`), so a rollback never promotes a version the service would refuse.
"""

from __future__ import annotations

import sys
from pathlib import Path

from src.aws.client import CURRENT, SecretsClient
from src.cli.git import git_status
from src.cli.target import remember
from src.errors import ErrorCode, SecretsError
from src.secret.payload import require_string, validate_strict


def _git_tracked(path: Path) -> bool:
    return git_status(["ls-files", "--error-unmatch", path.name], path.parent) == 0


# What every message says instead of the --file argument: an operator who pastes the JSON
# where the path goes must not get the keys back on the screen, in --json or in a log.
GIVEN = "the path given (--file)"


def read_payload(file_arg: str) -> str:
    """The file's text. No message, hint or traceback quotes `file_arg`: OSErrors become a
    SecretsError carrying only the system's reason (strerror), never the filename."""
    if file_arg == "-":
        raw = sys.stdin.read()
        remember(raw)
        return raw
    try:
        path = Path(file_arg)
        if not path.is_file():
            raise SecretsError(
                ErrorCode.FileNotFound,
                f"{GIVEN} is not a file",
                hint="Pass the path of the JSON file, or - for stdin.",
            )
        if _git_tracked(path.resolve()):
            raise SecretsError(
                ErrorCode.FileTrackedByGit,
                f"{GIVEN} is tracked by git",
                hint="A file with real keys must never be committed: git rm --cached it, "
                "add it to .gitignore, and rotate the keys.",
            )
        data = path.read_bytes()
    except (OSError, ValueError) as exc:
        # A pasted value as a path: ENAMETOOLONG, or ValueError for a NUL byte. strerror has no filename.
        reason = exc.strerror if isinstance(exc, OSError) and exc.strerror else type(exc).__name__
        raise SecretsError(
            ErrorCode.FileNotFound,
            f"{GIVEN} cannot be read: {reason}",
            hint="Pass the path of the JSON file, or - for stdin.",
        ) from None
    try:
        raw = data.decode("utf-8")
    except UnicodeDecodeError:
        raise SecretsError(ErrorCode.InvalidSecretJSON, f"{GIVEN} is not UTF-8 text") from None
    remember(raw)
    return raw


def check_promotable(client: SecretsClient, name: str, version: str, current: str | None) -> None:
    """The version rollback would make AWSCURRENT passes the rules push and rotate apply (a
    placeholder, a missing key, a bad port refused): a rollback must not promote a version the
    service would refuse to load. Raises before anything is written."""
    fetched = client.get_secret(name, version_id=version, version_stage=None)
    raw = require_string(fetched.secret_string, name, binary=fetched.has_binary)
    remember(raw)
    try:
        validate_strict(raw, name)
    except SecretsError as exc:
        refused = SecretsError(
            ErrorCode.InternalError,
            f"version {version} of {name} would not load: {exc.message}",
            hint=f"Nothing was changed: {CURRENT} is still {current}. Pick another version (describe lists "
            "them), or push a corrected value.",
            secret_name=name,
        )
        refused.code = exc.code
        raise refused from None
