"""What every command on the app secret shares: its registration (the common options, then
which secret it works on: --env, --name), and registering each payload it reads with the
log mask, so that a --debug traceback cannot show a credential.

The mask follows the service's rule (`src.loading.masking.log_mask`): credentials (the API keys,
APP_SECRET_KEY, the service account's private_key, its PEM lines and private_key_id) and,
since the CLI cannot know the service's SECRETS_EXTRA_KEYS, every key the service does not
know; never identifiers (the project id, the Milvus host), and never the secret's name."""

from __future__ import annotations

import argparse
import contextlib
from collections.abc import Callable
from typing import TYPE_CHECKING

from src.app_env import secret_name
from src.cli.environments import add_env_option
from src.errors import SecretsError
from src.secret.payload import KNOWN_KEYS, parse_secret
from src.telemetry.mask import masker

if TYPE_CHECKING:
    from src.aws.client import SecretsClient
    from src.cli.output import Output

    Handler = Callable[[argparse.Namespace, SecretsClient, Output], int]


def target(args: argparse.Namespace) -> str:
    """The secret the command works on; its name is never masked where it occurs."""
    name = str(args.name or secret_name(args.env))
    masker.protect(name)
    return name


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
    from src.loading.masking import credential_groups  # the service's rule; imported late, the CLI starts fast

    with contextlib.suppress(SecretsError):
        values = parse_secret(raw).values
        groups, lines = credential_groups([values], extra=frozenset(values) - KNOWN_KEYS)
        masker.add(groups, lines=lines)
