"""`fleet`: which version of the secret each ECS task last reported, from CloudWatch Logs,
judged against the secret's AWSCURRENT version as Secrets Manager states it.

Runs one CloudWatch Logs Insights query (logs:StartQuery, then logs:GetQueryResults
until Complete or --timeout) over the service's log group and time window. A
task is identified by its awslogs stream (`ecs/short-cut-api/<task-id>`). Its
reports are its served-version records (src.telemetry.served_version: after every commit,
after every failed load or refresh, and a heartbeat every minute) and nothing else.

The target secrets are --name (repeatable) or the environment's `short-cut/<env>/app`.
AWSCURRENT of every target is read before the query and again after it
(secretsmanager:DescribeSecret); a refusal is an error (exit 3), never a guess, and a
version that moved in between (a rotation finished during the query) is not converged,
judged against the newer one (under --wait, fleet looks again). Each task's newest report is current, BEHIND,
FAILING ("serving X, failing with CODE": never current, even when X is AWSCURRENT), or
UNKNOWN when it cannot be tied to a target (a wrong or redacted name, an invalid record).
Fleet judges only tasks that report: tasks silent for longer than --active-within are
listed, counted ("N task(s) left out as silent") and left out of the verdict (a stopped
task stays in the window). Exit 0 only
when every target secret has a recent report and every recent report is current; 1
otherwise; 3 on an error. `--wait SECONDS` runs the query
again every --poll seconds until that holds (exit 0) or the time is up (exit 1).

Parts: `query` (Logs Insights), `reports` (rows to each task's newest report) and
`verdict` (the judgement and what is printed); this module is the command.
"""

from __future__ import annotations

import argparse
import math
import os
import re
import time
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

from src.aws.client import SecretsClient
from src.cli.environments import CLOUD_ENVS, add_env_option, names_for
from src.cli.fleet.query import DEFAULT_TIMEOUT, logs_client, logs_error, run_query
from src.cli.fleet.reports import reports_from_rows
from src.cli.fleet.verdict import Verdict, judge, print_fleet
from src.cli.output import Output
from src.cli.region import resolve_region
from src.errors import ErrorCode, SecretsError

LOG_GROUPS = {env: names_for(env).log_group for env in CLOUD_ENVS}
DEFAULT_SINCE = "1h"
DEFAULT_ACTIVE_WITHIN = 180.0  # three served-version heartbeats
DEFAULT_POLL = 15.0  # between two queries under --wait: a task refreshes every 300 s by default

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


def current_versions(names: list[str], current_version: Callable[[str], str]) -> dict[str, str]:
    """AWSCURRENT of every target secret, from Secrets Manager; a refusal is fleet's error."""
    current: dict[str, str] = {}
    for name in names:
        try:
            current[name] = current_version(name)
        except SecretsError as exc:
            if exc.code in ("AccessDeniedException", "ResourceNotFoundException"):
                raise exc.with_hint(
                    f"fleet compares each task with AWSCURRENT of {name}, read with secretsmanager:DescribeSecret: "
                    "check --env, --name and --region, and that your identity may describe the secret."
                ) from None
            raise
    return current


def fleet(
    logs: Any,
    *,
    log_group: str,
    since: str,
    targets: list[str],
    current_version: Callable[[str], str],
    active_within: float = DEFAULT_ACTIVE_WITHIN,
    timeout: float = DEFAULT_TIMEOUT,
    wait: float = 0.0,
    poll: float = DEFAULT_POLL,
    out: Output,
    now: Callable[[], datetime] = lambda: datetime.now(UTC),
    sleep: Callable[[float], None] = time.sleep,
    clock: Callable[[], float] = time.monotonic,
    primary_region: str | None = None,
) -> int:
    """One judgement, or (wait > 0) judgements every `poll` seconds until converged or `wait` is up.

    AWSCURRENT is read again before every query: a rotation during the wait moves the goal.
    """
    seconds = parse_since(since)
    if wait < 0 or poll <= 0:
        raise SecretsError(ErrorCode.InvalidArgument, "--wait must be 0 or more and --poll more than 0")
    deadline = clock() + wait
    while True:
        before = current_versions(targets, current_version)
        moment = now()
        # Rounded up: a record written in the current second is inside the window.
        end = math.ceil(moment.timestamp())
        rows = run_query(logs, log_group, start=end - seconds, end=end, timeout=timeout, sleep=sleep)
        # Read again: a rotation that finished during the query moved the goal, and tasks
        # on the old version must not pass (the runbook revokes the old key after a pass).
        current = current_versions(targets, current_version)
        moved = [name for name in targets if current[name] != before[name]]
        verdict = judge(reports_from_rows(rows), now=moment, active_within=active_within, current=current, moved=moved)
        left = deadline - clock()
        if verdict.converged or left <= 0:
            break
        out.note(f"fleet: not converged ({_why(verdict)}); next look in {min(poll, left):g}s, {left:.0f}s left")
        sleep(min(poll, left))
    print_fleet(
        out,
        verdict,
        log_group=log_group,
        since=since,
        now=moment,
        active_within=active_within,
        primary_region=primary_region,
    )
    if wait > 0 and not verdict.converged:
        out.line(f"fleet: not converged after --wait {wait:g}s.")
    out.set(waited=wait > 0)
    return 0 if verdict.converged else 1


def _why(verdict: Verdict) -> str:
    if verdict.moved:
        return f"AWSCURRENT of {', '.join(verdict.moved)} moved during the query"
    if verdict.unreported:
        return f"no recent report of {', '.join(verdict.unreported)}"
    if not verdict.active:
        return "no recent report"
    failing = f", {len(verdict.failing)} failing" if verdict.failing else ""
    return f"{len(verdict.behind)} behind, {len(verdict.unknown)} unknown{failing}"


def cmd_fleet(args: argparse.Namespace, _client: object, out: Output) -> int:
    region = resolve_region(args.region, os.environ).name
    log_group = args.log_group or LOG_GROUPS[args.env]
    targets = args.name or [names_for(args.env).secret]
    secrets = SecretsClient(region)
    try:
        logs = logs_client(region)
    except SecretsError as exc:
        raise logs_error(exc, log_group) from None
    return fleet(
        logs,
        log_group=log_group,
        since=args.since,
        targets=targets,
        current_version=secrets.current_version,
        active_within=args.active_within,
        timeout=args.timeout,
        wait=args.wait,
        poll=args.poll,
        out=out,
        primary_region=region,
    )


def add_parser(commands: argparse._SubParsersAction[argparse.ArgumentParser], common: argparse.ArgumentParser) -> None:
    parser = commands.add_parser(
        "fleet",
        parents=[common],
        help="which secret version each ECS task last reported (CloudWatch Logs Insights)",
        description="Queries the service's log group for each task's newest version report and says whether "
        "every reporting task serves the secret's AWSCURRENT version. Needs logs:StartQuery and "
        "logs:GetQueryResults on the log group and secretsmanager:DescribeSecret on the secret. Honours "
        "AWS_ENDPOINT_URL (and AWS_ENDPOINT_URL_CLOUDWATCH_LOGS, AWS_ENDPOINT_URL_SECRETS_MANAGER).",
    )
    add_env_option(parser, cloud_only=True)
    parser.add_argument(
        "--name",
        action="append",
        help="a secret the tasks serve; repeat for several (default: short-cut/<env>/app)",
    )
    parser.add_argument("--since", default=DEFAULT_SINCE, help="time window, e.g. 15m, 1h, 2d (default: 1h)")
    parser.add_argument(
        "--log-group",
        default=None,
        help="log group (default: /ecs/short-cut-api, /ecs/short-cut-api-staging for staging)",
    )
    parser.add_argument(
        "--active-within",
        type=float,
        default=DEFAULT_ACTIVE_WITHIN,
        help="seconds since its last report for a task to count as running; 0 counts every task (default: 180)",
    )
    parser.add_argument(
        "--timeout", type=float, default=DEFAULT_TIMEOUT, help="seconds to wait for the query (default: 60)"
    )
    parser.add_argument(
        "--wait",
        type=float,
        default=0.0,
        metavar="SECONDS",
        help="query again until every reporting task serves AWSCURRENT, or exit 1 when SECONDS pass "
        "(default: 0, query once)",
    )
    parser.add_argument(
        "--poll", type=float, default=DEFAULT_POLL, help="seconds between two queries under --wait (default: 15)"
    )
    parser.set_defaults(handler=cmd_fleet)
