"""`fleet`: which version of the secret each ECS task last reported, from CloudWatch Logs.

Runs one CloudWatch Logs Insights query (logs:StartQuery, then logs:GetQueryResults
until Complete or --timeout) over the service's log group and time window. A
task is identified by its awslogs stream (`ecs/short-cut-api/<task-id>`). Its
reports are the version lines of src.task_metadata (every start and swap) and the
SecretAgeSeconds metric lines (every minute, while metrics are on), both of which
carry `secret_name` and `version_id`.

Each task's newest report is compared with the secret's AWSCURRENT version
(DescribeSecret; if that is not allowed, the newest version any task reported).
Tasks silent for longer than --active-within are listed but left out of the
verdict (a stopped task stays in the window). Exit 0 when every reporting task
serves the current version, 1 when one does not or none reports, 3 on an error.

Parts: `query` (Logs Insights), `reports` (rows to each task's newest report) and
`verdict` (the judgement and what is printed); this module is the command.
"""

from __future__ import annotations

import argparse
import os
import re
import time
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

from src.app_env import DEFAULT_REGION, region_from
from src.aws import SecretsClient
from src.cli.fleet.query import DEFAULT_TIMEOUT, logs_client, logs_error, run_query
from src.cli.fleet.reports import reports_from_rows
from src.cli.fleet.verdict import judge, print_fleet
from src.cli.output import Output
from src.cli.render import CLOUD_ENVS
from src.errors import ErrorCode, SecretsError

LOG_GROUPS = {"prod": "/ecs/short-cut-api", "staging": "/ecs/short-cut-api-staging"}
DEFAULT_SINCE = "1h"
DEFAULT_ACTIVE_WITHIN = 180.0  # three SecretAgeSeconds heartbeats

_SINCE = re.compile(r"([1-9][0-9]*)([smhd])")
_UNIT_SECONDS = {"s": 1, "m": 60, "h": 3600, "d": 86400}
_MAX_SINCE = 14 * 86400


def parse_since(text: str) -> int:
    """'90s', '15m', '1h', '2d' -> seconds (at most 14 days)."""
    match = _SINCE.fullmatch(text.strip())
    if not match:
        raise SecretsError(
            ErrorCode.InvalidArgument,
            f"--since {text!r} is not a duration",
            hint="Use a number and a unit: 90s, 15m, 1h or 2d.",
        )
    seconds = int(match.group(1)) * _UNIT_SECONDS[match.group(2)]
    if seconds > _MAX_SINCE:
        raise SecretsError(ErrorCode.InvalidArgument, "--since is longer than 14 days", hint="Use at most 14d.")
    return seconds


def fleet(
    logs: Any,
    *,
    log_group: str,
    since: str,
    active_within: float = DEFAULT_ACTIVE_WITHIN,
    timeout: float = DEFAULT_TIMEOUT,
    current_version: Callable[[str], str] | None,
    out: Output,
    now: datetime | None = None,
    sleep: Callable[[float], None] = time.sleep,
) -> int:
    seconds = parse_since(since)
    moment = now or datetime.now(UTC)
    end = int(moment.timestamp())
    rows = run_query(logs, log_group, start=end - seconds, end=end, timeout=timeout, sleep=sleep)
    verdict = judge(reports_from_rows(rows), now=moment, active_within=active_within, current_version=current_version)
    print_fleet(out, verdict, log_group=log_group, since=since, now=moment, active_within=active_within)
    return 0 if verdict.converged else 1


def cmd_fleet(args: argparse.Namespace, _client: object, out: Output) -> int:
    region = args.region or region_from(os.environ) or DEFAULT_REGION
    log_group = args.log_group or LOG_GROUPS[args.env]
    secrets = SecretsClient(region)
    try:
        logs = logs_client(region)
    except SecretsError as exc:
        raise logs_error(exc, log_group) from None
    return fleet(
        logs,
        log_group=log_group,
        since=args.since,
        active_within=args.active_within,
        timeout=args.timeout,
        current_version=secrets.current_version,
        out=out,
    )


def add_parser(commands: argparse._SubParsersAction[argparse.ArgumentParser], common: argparse.ArgumentParser) -> None:
    parser = commands.add_parser(
        "fleet",
        parents=[common],
        help="which secret version each ECS task last reported (CloudWatch Logs Insights)",
        description="Queries the service's log group for each task's newest version report and says whether "
        "every reporting task serves the secret's AWSCURRENT version. Needs logs:StartQuery and "
        "logs:GetQueryResults on the log group. Honours AWS_ENDPOINT_URL_CLOUDWATCH_LOGS.",
    )
    parser.add_argument("--env", default="prod", choices=CLOUD_ENVS, help="environment (default prod)")
    parser.add_argument("--since", default=DEFAULT_SINCE, help="time window, e.g. 15m, 1h, 2d (default 1h)")
    parser.add_argument("--log-group", default=None, help="log group (default /ecs/short-cut-api[-staging])")
    parser.add_argument(
        "--active-within",
        type=float,
        default=DEFAULT_ACTIVE_WITHIN,
        help="seconds since its last report for a task to count as running (default 180; 0 counts every task)",
    )
    parser.add_argument(
        "--timeout", type=float, default=DEFAULT_TIMEOUT, help="seconds to wait for the query (default 60)"
    )
    parser.set_defaults(handler=cmd_fleet)
