"""`python -m src.cli`: the operator's tool for short-cut's secret (push, verify, describe,
rotate, rollback, audit, render). Exit codes: 0 done, 1 a check failed, 2 usage,
3 an error (printed as one line with its code and hint)."""

from __future__ import annotations

import argparse
import os
import traceback
from collections.abc import Callable, Sequence

from src.aws import SecretsClient
from src.cli import secret_commands as sc
from src.cli.output import Output, print_error
from src.errors import SecretsError

Command = Callable[[argparse.Namespace, SecretsClient, Output], int]

EXIT_ERROR = 3


def build_parser() -> argparse.ArgumentParser:
    common = argparse.ArgumentParser(add_help=False)
    common.add_argument("--region", default=None, help="AWS region (default: AWS_REGION, then AWS_DEFAULT_REGION)")
    common.add_argument("--json", action="store_true", help="print one JSON document instead of lines")
    common.add_argument("--debug", action="store_true", help="print a traceback on error")

    parser = argparse.ArgumentParser(
        prog="python -m src.cli",
        description="Operate short-cut's secret in AWS Secrets Manager. Honours AWS_ENDPOINT_URL_SECRETS_MANAGER.",
        parents=[common],
    )
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    push = commands.add_parser(
        "push",
        parents=[common],
        help="create the secret or put a new version from a JSON file",
        description="Validate a JSON file with the service's own rules, then create short-cut/<env>/app "
        "(tags Project, Environment, ManagedBy; default aws/secretsmanager key) or put a new version.",
    )
    sc.add_target_options(push)
    push.add_argument("--file", required=True, help="the JSON file, or - for stdin")
    push.add_argument("--allow-extra", action="store_true", help="accept keys the service does not use")
    push.set_defaults(handler=sc.cmd_push)

    verify = commands.add_parser(
        "verify",
        parents=[common],
        help="load the secret as the service does and check every required key",
        description="One line per required key, OK or FAIL with the reason. Exit 0 only if all pass.",
    )
    sc.add_target_options(verify)
    verify.set_defaults(handler=sc.cmd_verify)

    describe = commands.add_parser(
        "describe",
        parents=[common],
        help="show the secret's metadata (never its value)",
        description="Name, ARN, tags, KMS key, rotation state, dates, and each version with its stages.",
    )
    sc.add_target_options(describe)
    describe.set_defaults(handler=sc.cmd_describe)

    rotate = commands.add_parser(
        "rotate",
        parents=[common],
        help="write a new version with one key changed",
        description="APP_SECRET_KEY is generated (secrets.token_urlsafe(64)); provider keys are read with "
        "--value-stdin (no echo on a terminal). Every other key is kept.",
    )
    sc.add_target_options(rotate)
    rotate.add_argument("--key", required=True, help="the key to change")
    rotate.add_argument("--value-stdin", action="store_true", help="read the new value from stdin")
    rotate.add_argument("--allow-extra", action="store_true", help="allow a key the service does not use")
    rotate.set_defaults(handler=sc.cmd_rotate)

    rollback = commands.add_parser(
        "rollback",
        parents=[common],
        help="move AWSCURRENT back to the AWSPREVIOUS version",
        description="The guide's rollback: the version labelled AWSPREVIOUS becomes AWSCURRENT again.",
    )
    sc.add_target_options(rollback)
    rollback.set_defaults(handler=sc.cmd_rollback)

    _add_offline_commands(commands, common)
    return parser


def _add_offline_commands(
    commands: argparse._SubParsersAction[argparse.ArgumentParser], common: argparse.ArgumentParser
) -> None:
    from src.cli import audit, render

    audit.add_parser(commands, common)
    render.add_parser(commands, common)


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    out = Output(as_json=args.json)
    try:
        region = args.region or os.environ.get("AWS_REGION") or os.environ.get("AWS_DEFAULT_REGION")
        client = SecretsClient(region)
        code = int(args.handler(args, client, out))
    except SecretsError as error:
        if args.debug:
            traceback.print_exc()
        print_error(error, as_json=args.json)
        return EXIT_ERROR
    except Exception as exc:
        # Unexpected: still one line, no traceback (which could quote data) unless --debug.
        if args.debug:
            traceback.print_exc()
        unexpected = SecretsError("InternalError", type(exc).__name__, hint="Run again with --debug and report it.")
        print_error(unexpected, as_json=args.json)
        return EXIT_ERROR
    out.finish()
    return code
