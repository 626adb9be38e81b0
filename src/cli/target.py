"""What every command on the app secret shares: its registration (the common options, then
which secret it works on: --env, --name), and registering each payload it reads with the
log mask, so that a --debug traceback cannot show a value."""

from __future__ import annotations

import argparse
import contextlib
from collections.abc import Callable
from typing import TYPE_CHECKING

from src.app_env import secret_name
from src.cli.environments import add_env_option
from src.errors import SecretsError
from src.logs import masker
from src.payload import parse_secret

if TYPE_CHECKING:
    from src.aws import SecretsClient
    from src.cli.output import Output

    Handler = Callable[[argparse.Namespace, SecretsClient, Output], int]


def target(args: argparse.Namespace) -> str:
    return str(args.name or secret_name(args.env))


def add_target_options(parser: argparse.ArgumentParser) -> None:
    add_env_option(parser)
    parser.add_argument("--name", help="secret name (default: short-cut/<env>/app)")


def add_secret_command(
    commands: argparse._SubParsersAction[argparse.ArgumentParser],
    common: argparse.ArgumentParser,
    name: str,
    handler: Handler,
    *,
    summary: str,
    description: str,
) -> argparse.ArgumentParser:
    """Register a command on the app secret; the caller adds the command's own options."""
    parser = commands.add_parser(name, parents=[common], help=summary, description=description)
    add_target_options(parser)
    parser.set_defaults(handler=handler)
    return parser


def remember(raw: str | None) -> None:
    """Register a payload's values with the mask, so that --debug tracebacks cannot show them."""
    with contextlib.suppress(SecretsError):
        masker.register(parse_secret(raw).values.values())
