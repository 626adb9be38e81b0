"""Asking before a write to production (`push`, `rotate`, `rollback`).

On a terminal the command says what it is about to do and waits for `yes`. Without a
terminal (a script, CI, a pipe with no controlling terminal) it needs `--yes`, so nothing
writes to production by accident. The question goes to the controlling terminal
(/dev/tty) when stdin carries data (`push --file -`, `rotate --value-stdin`), so the
payload is never mistaken for the answer. Other environments are never asked.

Production is `--env prod` (or `production`); with `--name`, a secret whose name has a
`prod` or `production` segment, in any case (`short-cut/prod/app`, `team/prod/x`,
`short-cut/production/app`): both spellings --env and APP_ENV take. A `--name` given as an
ARN is judged on the name inside it: the `arn:...:secret:` prefix and the 6-character suffix
Secrets Manager adds (`-AbCdEf`) come off first, so `arn:...:secret:team/prod-AbCdEf` is
`team/prod`. Asking once too often costs a keystroke; writing production silently is what
this guards against.
"""

from __future__ import annotations

import argparse
import contextlib
import re
import sys
from collections.abc import Iterator
from typing import TextIO

from src.app_env import AppEnv
from src.cli.environments import names_for
from src.errors import ErrorCode, SecretsError

PRODUCTION = "prod"
# Path segments that name production: the short name and APP_ENV's value.
PRODUCTION_SEGMENTS = frozenset({PRODUCTION, AppEnv.PRODUCTION.value})
# A secret's ARN: arn:<partition>:secretsmanager:<region>:<account>:secret:<name>-<6 characters>
# (Secrets Manager user guide, "Secret ARN"; a partial ARN has no suffix).
_SECRET_ARN = re.compile(
    r"arn:aws[a-z-]*:secretsmanager:[^:]*:[^:]*:secret:(?P<name>.+?)(?:-[A-Za-z0-9]{6})?", re.ASCII
)


def secret_name_of(name: str) -> str:
    """The secret's name: `name` itself, or the name inside an ARN."""
    found = _SECRET_ARN.fullmatch(name)
    return found.group("name") if found else name


def add_yes_option(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--yes", action="store_true", help="write to production without asking (scripts, CI)")


def is_production(args: argparse.Namespace, name: str) -> bool:
    if getattr(args, "name", None):
        # Both the name as given and the name inside an ARN: asking once too often is cheap.
        return any(_production_name(each) for each in {name, secret_name_of(name)})
    return bool(args.env == PRODUCTION)


def _production_name(name: str) -> bool:
    segments = {segment.lower() for segment in name.split("/")}
    return name == names_for(PRODUCTION).secret or bool(segments & PRODUCTION_SEGMENTS)


@contextlib.contextmanager
def _terminal(stdin_is_data: bool) -> Iterator[tuple[TextIO, TextIO] | None]:
    """(input, output) of the operator's terminal, or None when there is none."""
    if not stdin_is_data and sys.stdin.isatty():
        yield sys.stdin, sys.stderr
        return
    try:
        tty = open("/dev/tty", "r+", encoding="utf-8")  # noqa: SIM115 - closed below
    except OSError:
        yield None
        return
    with tty:
        yield tty, tty


def confirm_write(args: argparse.Namespace, name: str, action: str, *, stdin_is_data: bool = False) -> None:
    """Return if the write may go ahead; raise ConfirmationRequired otherwise."""
    if not is_production(args, name) or getattr(args, "yes", False):
        return
    with _terminal(stdin_is_data) as terminal:
        if terminal is None:
            raise SecretsError(
                ErrorCode.ConfirmationRequired,
                f"{action}: a write to production ({name}) needs --yes when there is no terminal to ask on",
                secret_name=name,
            )
        reader, writer = terminal
        writer.write(f"{action}\nThis writes to production ({name}). Type yes to go on: ")
        writer.flush()
        answer = reader.readline().strip().lower()
    if answer not in ("yes", "y"):
        raise SecretsError(
            ErrorCode.ConfirmationRequired,
            f"not confirmed (answer {answer[:10]!r}): nothing was written to {name}",
            secret_name=name,
        )
