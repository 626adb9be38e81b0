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
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import re
import time
from collections.abc import Callable, Iterable, Mapping
from dataclasses import asdict, dataclass
from datetime import UTC, datetime
from typing import Any

from src.app_env import DEFAULT_REGION
from src.cli.output import Output
from src.cli.render import CLOUD_ENVS
from src.errors import SecretsError

LOG_GROUPS = {"prod": "/ecs/short-cut-api", "staging": "/ecs/short-cut-api-staging"}
DEFAULT_SINCE = "1h"
DEFAULT_TIMEOUT = 60.0
DEFAULT_ACTIVE_WITHIN = 180.0  # three SecretAgeSeconds heartbeats
POLL_INTERVAL = 1.0
MAX_ROWS = 10_000  # the most GetQueryResults returns

# Newest report per (task stream, secret). `dedup` keeps the first row in sort order
# (https://docs.aws.amazon.com/AmazonCloudWatch/latest/logs/CWL_QuerySyntax-Dedup.html).
# The same filtering and dedup is repeated on the client, so an engine that ignores
# them (moto) still yields the right answer.
QUERY = (
    "fields @timestamp, @logStream, @message, secret_name, version_id, task_arn"
    " | filter ispresent(secret_name) and ispresent(version_id)"
    " | sort @timestamp desc"
    " | dedup @logStream, secret_name"
    f" | limit {MAX_ROWS}"
)
# GetQueryResults statuses (https://docs.aws.amazon.com/AmazonCloudWatchLogs/latest/APIReference/API_GetQueryResults.html).
RUNNING = {"Scheduled", "Running"}
FAILED = {"Failed", "Cancelled", "Timeout", "Unknown"}

_SINCE = re.compile(r"([1-9][0-9]*)([smhd])")
_UNIT_SECONDS = {"s": 1, "m": 60, "h": 3600, "d": 86400}
_MAX_SINCE = 14 * 86400


def _hint_access(log_group: str) -> str:
    return (
        "Your AWS identity may not run Logs Insights queries on the service's log group: allow "
        f"logs:StartQuery and logs:GetQueryResults on arn:aws:logs:<region>:<account>:log-group:{log_group} "
        "(and logs:StopQuery on *), as in the README's fleet policy."
    )


FLEET_HINTS: dict[str, Callable[[str], str]] = {
    "AccessDeniedException": _hint_access,
    "ResourceNotFoundException": lambda group: (
        f"The log group {group} does not exist in this region: check --env, --region and --log-group "
        "(the stack creates /ecs/short-cut-api for prod and /ecs/short-cut-api-staging for staging)."
    ),
    "LimitExceededException": lambda _group: (
        "Too many Logs Insights queries are running in this account (30 at most): wait a minute and run fleet again."
    ),
    "MalformedQueryException": lambda _group: (
        "CloudWatch Logs refused fleet's query: run again with --debug and report it."
    ),
    "InvalidParameterException": lambda _group: "CloudWatch Logs refused a parameter: check --since and --log-group.",
    "QueryTimeout": lambda _group: (
        "The Logs Insights query did not complete in time: narrow --since or raise --timeout."
    ),
    "QueryFailed": lambda _group: "The Logs Insights query ended without results: run fleet again; narrow --since.",
    "EndpointUnreachable": lambda _group: (
        "CloudWatch Logs could not be reached: check the network, --region, "
        "and AWS_ENDPOINT_URL_CLOUDWATCH_LOGS if set."
    ),
    "Timeout": lambda _group: "CloudWatch Logs did not answer in time: check the network path and run fleet again.",
}


def parse_since(text: str) -> int:
    """'90s', '15m', '1h', '2d' -> seconds (at most 14 days)."""
    match = _SINCE.fullmatch(text.strip())
    if not match:
        raise SecretsError(
            "InvalidArgument",
            f"--since {text!r} is not a duration",
            hint="Use a number and a unit: 90s, 15m, 1h or 2d.",
        )
    seconds = int(match.group(1)) * _UNIT_SECONDS[match.group(2)]
    if seconds > _MAX_SINCE:
        raise SecretsError("InvalidArgument", "--since is longer than 14 days", hint="Use at most 14d.")
    return seconds


@dataclass(frozen=True)
class Report:
    """A task's newest report for one secret."""

    task: str  # the task id (last segment of the awslogs stream)
    log_stream: str
    secret_name: str
    version_id: str
    seen_at: datetime
    task_arn: str | None = None


def parse_timestamp(text: str) -> datetime:
    """Logs Insights returns 'YYYY-MM-DD HH:MM:SS.mmm' (UTC); moto returns epoch milliseconds."""
    text = text.strip()
    if text.isdigit():
        return datetime.fromtimestamp(int(text) / 1000, tz=UTC)
    return datetime.strptime(text, "%Y-%m-%d %H:%M:%S.%f").replace(tzinfo=UTC)


def _row_fields(row: Iterable[Mapping[str, str]]) -> dict[str, str]:
    return {str(cell.get("field")): str(cell.get("value", "")) for cell in row if cell.get("field")}


def reports_from_rows(rows: Iterable[Iterable[Mapping[str, str]]]) -> list[Report]:
    """Rows of GetQueryResults -> the newest report per (task stream, secret)."""
    candidates: list[Report] = []
    for row in rows:
        fields = _row_fields(row)
        if not fields.get("secret_name") or not fields.get("version_id"):
            # An engine that does not extract JSON fields (moto): read them from the message.
            try:
                message = json.loads(fields.get("@message", ""))
            except ValueError:
                continue
            if not isinstance(message, dict):
                continue
            for key in ("secret_name", "version_id", "task_arn"):
                if isinstance(message.get(key), str) and not fields.get(key):
                    fields[key] = message[key]
        stream, name, version = fields.get("@logStream"), fields.get("secret_name"), fields.get("version_id")
        if not stream or not name or not version or not fields.get("@timestamp"):
            continue
        try:
            seen_at = parse_timestamp(fields["@timestamp"])
        except ValueError:
            continue
        candidates.append(
            Report(
                task=stream.rsplit("/", 1)[-1],
                log_stream=stream,
                secret_name=name,
                version_id=version,
                seen_at=seen_at,
                task_arn=fields.get("task_arn") or None,
            )
        )
    newest: dict[tuple[str, str], Report] = {}
    for report in sorted(candidates, key=lambda r: r.seen_at, reverse=True):
        newest.setdefault((report.log_stream, report.secret_name), report)
    return sorted(newest.values(), key=lambda r: (r.secret_name, r.task))


def _logs_error(exc: SecretsError, log_group: str) -> SecretsError:
    hint = FLEET_HINTS.get(exc.code)
    return SecretsError(exc.code, exc.message, hint=hint(log_group) if hint else exc.hint)


def run_query(
    logs: Any,
    log_group: str,
    *,
    start: int,
    end: int,
    timeout: float = DEFAULT_TIMEOUT,
    poll: float = POLL_INTERVAL,
    sleep: Callable[[float], None] = time.sleep,
    clock: Callable[[], float] = time.monotonic,
) -> list[Any]:
    """StartQuery, then GetQueryResults until Complete; the result rows. Raises SecretsError."""
    from src.aws import aws_errors

    try:
        with aws_errors():
            query_id = logs.start_query(logGroupName=log_group, startTime=start, endTime=end, queryString=QUERY)[
                "queryId"
            ]
        deadline = clock() + timeout
        while True:
            with aws_errors():
                response = logs.get_query_results(queryId=query_id)
            status = str(response.get("status", "Unknown"))
            if status == "Complete":
                return list(response.get("results", []))
            if status in FAILED:
                raise SecretsError("QueryFailed", f"the Logs Insights query ended with status {status}")
            if clock() >= deadline:
                _stop(logs, query_id)
                raise SecretsError("QueryTimeout", f"the Logs Insights query was still {status} after {timeout:g}s")
            sleep(poll)
    except SecretsError as exc:
        raise _logs_error(exc, log_group) from None


def _stop(logs: Any, query_id: str) -> None:
    """Free the query's slot (30 concurrent per account); best effort, StopQuery may not be allowed."""
    # The timeout is what the operator needs to hear about, not a failed StopQuery.
    with contextlib.suppress(Exception):
        logs.stop_query(queryId=query_id)


@dataclass
class Verdict:
    current: dict[str, str]  # secret name -> the version every task should serve
    source: str  # "AWSCURRENT" or "newest reported"
    active: list[Report]
    silent: list[Report]
    behind: list[Report]

    @property
    def converged(self) -> bool:
        return bool(self.active) and not self.behind


def judge(
    reports: list[Report],
    *,
    now: datetime,
    active_within: float,
    current_version: Callable[[str], str] | None,
) -> Verdict:
    current: dict[str, str] = {}
    source = "AWSCURRENT"
    for name in sorted({r.secret_name for r in reports}):
        version = None
        if current_version is not None:
            try:
                version = current_version(name)
            except SecretsError:
                version = None
        if version is None:
            source = "newest reported"
            version = max((r for r in reports if r.secret_name == name), key=lambda r: r.seen_at).version_id
        current[name] = version
    active = [r for r in reports if active_within <= 0 or (now - r.seen_at).total_seconds() <= active_within]
    silent = [r for r in reports if r not in active]
    behind = [r for r in active if r.version_id != current[r.secret_name]]
    return Verdict(current, source, active, silent, behind)


def _ago(now: datetime, moment: datetime) -> str:
    seconds = max(0, int((now - moment).total_seconds()))
    if seconds < 120:
        return f"{seconds}s ago"
    if seconds < 7200:
        return f"{seconds // 60}m ago"
    return f"{seconds // 3600}h ago"


def _iso(moment: datetime) -> str:
    return moment.strftime("%Y-%m-%dT%H:%M:%SZ")


def print_fleet(
    out: Output, verdict: Verdict, *, log_group: str, since: str, now: datetime, active_within: float
) -> None:
    rows = sorted(verdict.active + verdict.silent, key=lambda r: (r.secret_name, r.task))
    out.line(f"fleet: {log_group}, reports from the last {since}")
    if rows:
        out.line(f"{'TASK':<34} {'SECRET':<24} {'VERSION':<38} LAST REPORT")
    for report in rows:
        state = (
            "silent (stopped?)"
            if report in verdict.silent
            else ("current" if report.version_id == verdict.current[report.secret_name] else "BEHIND")
        )
        out.line(
            f"{report.task:<34} {report.secret_name:<24} {report.version_id:<38} "
            f"{_iso(report.seen_at)} ({_ago(now, report.seen_at)}) {state}"
        )
    for name, version in sorted(verdict.current.items()):
        out.line(f"current: {name} {version} ({verdict.source})")
    if not rows:
        out.line(
            f"fleet: no task reported a version in the last {since}: is the service running, "
            "and does it log to this group?"
        )
    elif not verdict.active:
        out.line(
            f"fleet: no task reported in the last {active_within:g}s: the per-minute reports come from the "
            "SecretAgeSeconds metric lines (METRICS must not be off); use --active-within 0 to judge every task."
        )
    elif verdict.behind:
        out.line(
            f"fleet: {len({r.task for r in verdict.behind})} of {len({r.task for r in verdict.active})} "
            "reporting tasks are NOT on the current version; wait for their next refresh before revoking old keys."
        )
    else:
        out.line(f"fleet: all {len({r.task for r in verdict.active})} reporting tasks serve the current version.")
    out.set(
        log_group=log_group,
        since=since,
        current=verdict.current,
        current_source=verdict.source,
        converged=verdict.converged,
        tasks=[{**asdict(r), "seen_at": _iso(r.seen_at), "active": r in verdict.active} for r in rows],
    )


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


def logs_client(region: str) -> Any:
    """A CloudWatch Logs client with standard retries; honours AWS_ENDPOINT_URL_CLOUDWATCH_LOGS."""
    import botocore.session
    from botocore.config import Config

    from src.aws import aws_errors

    config = Config(
        region_name=region, connect_timeout=5, read_timeout=30, retries={"mode": "standard", "total_max_attempts": 5}
    )
    with aws_errors():
        return botocore.session.get_session().create_client("logs", config=config)


def cmd_fleet(args: argparse.Namespace, _client: object, out: Output) -> int:
    from src.aws import SecretsClient

    region = args.region or os.environ.get("AWS_REGION") or os.environ.get("AWS_DEFAULT_REGION") or DEFAULT_REGION
    log_group = args.log_group or LOG_GROUPS[args.env]
    secrets = SecretsClient(region)
    try:
        logs = logs_client(region)
    except SecretsError as exc:
        raise _logs_error(exc, log_group) from None
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
