"""`short-cut` (the console script; also `python -m src.cli`): the operator's tool for
short-cut's secret (push, verify, describe, rotate, rollback, audit, render, fleet).
Exit codes: 0 done, 1 a check failed (verify, fleet, audit), 2 usage, 3 an error (printed
as one line with its code and hint; also a production write not confirmed), 130 when
interrupted (Ctrl-C).

Every command module registers its own commands with `add_parser(commands, common)`:
the parser, its options and `handler`, the function `main` calls with the parsed
arguments, a Secrets Manager client and the output.
"""

from __future__ import annotations

import argparse
import os
import sys
import traceback
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, Any, TypeAlias, cast

from src.cli.missing import dependency_missing
from src.errors import ErrorCode, SecretsError

try:
    from src.app_env import region_from
    from src.aws.client import SecretsClient
    from src.cli import audit, fleet, render, rotate_commands, secret_commands
    from src.cli.help import Parser
    from src.cli.output import Output, print_error
    from src.cli.region import Region, resolve_region
    from src.telemetry.mask import masker
except ModuleNotFoundError as missing:  # outside the venv: one line, not a traceback
    if (missing.name or "src").partition(".")[0] == "src":
        raise  # our own module: a bug, not an install
    dependency_missing(missing)

if TYPE_CHECKING:
    # Generic only in typeshed: argparse's class cannot be subscripted at run time.
    Subcommands: TypeAlias = argparse._SubParsersAction[argparse.ArgumentParser]

EXIT_ERROR = 3
EXIT_INTERRUPTED = 130  # 128 + SIGINT, as a shell reports a command stopped by Ctrl-C
CONSOLE_SCRIPT = "short-cut"

# In the order --help lists them.
REGISTRARS: tuple[Callable[[Subcommands, argparse.ArgumentParser], None], ...] = (
    secret_commands.add_parser,
    rotate_commands.add_parser,
    audit.add_parser,
    render.add_parser,
    fleet.add_parser,
)


def _common_options(default: Any) -> argparse.ArgumentParser:
    common = argparse.ArgumentParser(add_help=False)
    common.add_argument(
        "--region", default=default, help="AWS Region (else AWS_REGION, then AWS_DEFAULT_REGION; said on stderr)"
    )
    common.add_argument("--json", action="store_true", default=default, help="print one JSON document instead of lines")
    common.add_argument("--debug", action="store_true", default=default, help="print a traceback on error")
    return common


def build_parser() -> argparse.ArgumentParser:
    # The options are accepted before and after the command. The command's copies default to
    # SUPPRESS: a default there would overwrite what was given before the command.
    common = _common_options(argparse.SUPPRESS)
    parser = Parser(
        # The console script (.venv/bin/short-cut, from pyproject's [project.scripts]) or the module.
        prog=CONSOLE_SCRIPT if os.path.basename(sys.argv[0]) == CONSOLE_SCRIPT else "python -m src.cli",
        description="Operate short-cut's secret in AWS Secrets Manager. Honours AWS_ENDPOINT_URL (every "
        "service) and the per-service AWS_ENDPOINT_URL_<SERVICE> settings.",
        parents=[_common_options(None)],
    )
    parser.set_defaults(json=False, debug=False)
    # Subcommands are Parsers too (src.cli.help: no word broken across lines); the registrars see ArgumentParsers.
    subparsers = parser.add_subparsers(dest="command", required=True, metavar="COMMAND", parser_class=Parser)
    commands = cast("Subcommands", subparsers)
    for register in REGISTRARS:
        register(commands, common)
    return parser


def print_traceback() -> None:
    """The current traceback, masked like the service's logs: every value the command read is
    registered with the mask as it is read (src.cli.target.remember). An OSError's filenames are
    dropped first: a path argument may be a pasted value (`push --file '{"OPENAI_API_KEY":...}'`)."""
    exc = sys.exc_info()[1]
    if exc is not None:
        _drop_filenames(exc)
        text = "".join(traceback.format_exception(exc))
    else:
        text = traceback.format_exc()
    print(masker.mask(text), file=sys.stderr, end="")


def _drop_filenames(exc: BaseException) -> None:
    seen: set[int] = set()
    current: BaseException | None = exc
    while current is not None and id(current) not in seen:
        seen.add(id(current))
        # Replaced, not set to None: OSError's text would then read "None -> None".
        if isinstance(current, OSError) and current.filename is not None:
            current.filename = "<the path given>"
        if isinstance(current, OSError) and current.filename2 is not None:
            current.filename2 = "<the path given>"
        current = current.__cause__ or current.__context__


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    out = Output(as_json=args.json)
    region: Region | None = None
    try:
        region = resolve_region(args.region, os.environ)
        args.region = region.name
        client = SecretsClient(region.name)
        code = int(args.handler(args, client, out))
    except SecretsError as error:
        if args.debug:
            print_traceback()
        print_error(
            error,
            as_json=args.json,
            region=region.name if region else args.region or region_from(os.environ),
            said=str(region) if region else None,
        )
        return EXIT_ERROR
    except KeyboardInterrupt:
        # No traceback: rotate has already taken its AWSPENDING label off (its finally).
        print("interrupted", file=sys.stderr)
        return EXIT_INTERRUPTED
    except Exception as exc:
        # Unexpected: still one line, no traceback (which could quote data) unless --debug.
        if args.debug:
            print_traceback()
        unexpected = SecretsError(
            ErrorCode.InternalError, type(exc).__name__, hint="Run again with --debug and report it."
        )
        print_error(unexpected, as_json=args.json)
        return EXIT_ERROR
    say_region(out, region)
    out.finish()
    return code


def say_region(out: Output, region: Region | None) -> None:
    """Which Region the command used and why: in the document with --json, else a note on stderr."""
    if region is None:
        return
    if out.as_json:
        out.set(region=region.name, region_source=region.source)
    else:
        out.note(f"region: {region}")
