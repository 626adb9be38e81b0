"""`python -m src.cli`: the operator's tool for short-cut's secret (push, verify, describe,
rotate, rollback, audit, render, fleet). Exit codes: 0 done, 1 a check failed, 2 usage,
3 an error (printed as one line with its code and hint)."""

from __future__ import annotations

import argparse
import os
import sys
import traceback
from collections.abc import Callable, Sequence
from typing import Any

from src.aws import SecretsClient
from src.cli import secret_commands as sc
from src.cli.output import Output, print_error
from src.errors import SecretsError
from src.logs import masker

Command = Callable[[argparse.Namespace, SecretsClient, Output], int]

EXIT_ERROR = 3


ALLOW_EXTRA = ("--allow-extra", {"action": "store_true", "help": "accept keys the service does not use"})
SECRET_COMMANDS: list[tuple[str, Command, str, str, list[tuple[str, dict[str, Any]]]]] = [
    (
        "push",
        sc.cmd_push,
        "create the secret or put a new version from a JSON file",
        "Validate a JSON file with the service's own rules, then create short-cut/<env>/app "
        "(tags Project, Environment, ManagedBy; default aws/secretsmanager key) or put a new version.",
        [
            ("--file", {"required": True, "help": "the JSON file, or - for stdin"}),
            ALLOW_EXTRA,
            ("--allow-example", {"action": "store_true", "help": "accept the example values (to seed an emulator)"}),
        ],
    ),
    (
        "verify",
        sc.cmd_verify,
        "load the secret as the service does and check every required key",
        "One line per required key, OK or FAIL with the reason. Exit 0 only if all pass. "
        "--as-role reads as the task would: sts:AssumeRole first, then the same checks with those credentials.",
        [("--as-role", {"metavar": "ROLE_ARN", "help": "assume this role (the task role) and read as it would"})],
    ),
    (
        "describe",
        sc.cmd_describe,
        "show the secret's metadata (never its value)",
        "Name, ARN, tags, KMS key, rotation state, dates, and each version with its stages.",
        [],
    ),
    (
        "rotate",
        sc.cmd_rotate,
        "write a new version with one key changed",
        "APP_SECRET_KEY is generated (secrets.token_urlsafe(64)); provider keys are read with "
        "--value-stdin (no echo on a terminal). Every other key is kept.",
        [
            ("--key", {"required": True, "help": "the key to change"}),
            ("--value-stdin", {"action": "store_true", "help": "read the new value from stdin"}),
            ALLOW_EXTRA,
        ],
    ),
    (
        "rollback",
        sc.cmd_rollback,
        "move AWSCURRENT back to the AWSPREVIOUS version",
        "The guide's rollback: the version labelled AWSPREVIOUS becomes AWSCURRENT again.",
        [],
    ),
]


def _common_options(default: Any) -> argparse.ArgumentParser:
    common = argparse.ArgumentParser(add_help=False)
    common.add_argument("--region", default=default, help="AWS region (default: AWS_REGION, then AWS_DEFAULT_REGION)")
    common.add_argument("--json", action="store_true", default=default, help="print one JSON document instead of lines")
    common.add_argument("--debug", action="store_true", default=default, help="print a traceback on error")
    return common


def build_parser() -> argparse.ArgumentParser:
    # The options are accepted before and after the command. The command's copies default to
    # SUPPRESS: a default there would overwrite what was given before the command.
    common = _common_options(argparse.SUPPRESS)
    parser = argparse.ArgumentParser(
        prog="python -m src.cli",
        description="Operate short-cut's secret in AWS Secrets Manager. Honours AWS_ENDPOINT_URL_SECRETS_MANAGER.",
        parents=[_common_options(None)],
    )
    parser.set_defaults(json=False, debug=False)
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    for name, handler, summary, description, extra in SECRET_COMMANDS:
        sub = commands.add_parser(name, parents=[common], help=summary, description=description)
        sc.add_target_options(sub)
        for flag, options in extra:
            sub.add_argument(flag, **options)
        sub.set_defaults(handler=handler)
    _add_offline_commands(commands, common)
    return parser


def _add_offline_commands(
    commands: argparse._SubParsersAction[argparse.ArgumentParser], common: argparse.ArgumentParser
) -> None:
    from src.cli import audit, fleet, render

    audit.add_parser(commands, common)
    render.add_parser(commands, common)
    fleet.add_parser(commands, common)


def print_traceback() -> None:
    """The current traceback, masked like the service's logs: every value the command read is
    registered with the mask as it is read (secret_commands.remember)."""
    print(masker.mask(traceback.format_exc()), file=sys.stderr, end="")


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    out = Output(as_json=args.json)
    try:
        region = args.region or os.environ.get("AWS_REGION") or os.environ.get("AWS_DEFAULT_REGION")
        client = SecretsClient(region)
        code = int(args.handler(args, client, out))
    except SecretsError as error:
        if args.debug:
            print_traceback()
        print_error(error, as_json=args.json)
        return EXIT_ERROR
    except Exception as exc:
        # Unexpected: still one line, no traceback (which could quote data) unless --debug.
        if args.debug:
            print_traceback()
        unexpected = SecretsError("InternalError", type(exc).__name__, hint="Run again with --debug and report it.")
        print_error(unexpected, as_json=args.json)
        return EXIT_ERROR
    out.finish()
    return code
