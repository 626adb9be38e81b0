"""The CloudWatch Logs Insights side of `fleet`: one query over the service's log group
(logs:StartQuery, then logs:GetQueryResults until Complete or the timeout, logs:StopQuery
on a timeout), and AWS errors turned into fleet's own hints."""

from __future__ import annotations

import contextlib
import time
from collections.abc import Callable
from typing import Any

from src.aws.client import aws_errors
from src.aws.errors import LOGS
from src.errors import ErrorCode, SecretsError

DEFAULT_TIMEOUT = 60.0
POLL_INTERVAL = 1.0
MAX_ROWS = 10_000  # the most GetQueryResults returns

# Newest report per (task stream, secret name). `dedup` keeps the first row in sort order
# and keeps every row whose field is null ("Null values are not considered duplicates",
# https://docs.aws.amazon.com/AmazonCloudWatch/latest/logs/CWL_QuerySyntax-Dedup.html), so
# a report without a name is deduplicated on a coalesced key instead. Reports missing a
# field are kept on purpose: fleet counts them as unknown, never as current.
# The same filtering and dedup is repeated on the client (reports.py), so an engine that
# ignores them (moto) still yields the right answer.
QUERY = (
    "fields @timestamp, @logStream, @message, secret_name, version_id, task_arn,"
    ' coalesce(secret_name, "-") as report_secret'
    ' | filter event = "secret_version" or ispresent(SecretAgeSeconds)'
    " or ispresent(secret_name) or ispresent(version_id)"
    " | sort @timestamp desc"
    " | dedup @logStream, report_secret"
    f" | limit {MAX_ROWS}"
)
# GetQueryResults statuses (https://docs.aws.amazon.com/AmazonCloudWatchLogs/latest/APIReference/API_GetQueryResults.html).
RUNNING = {"Scheduled", "Running"}
FAILED = {"Failed", "Cancelled", "Timeout", "Unknown"}


def _hint_access(log_group: str) -> str:
    return (
        "Your AWS identity may not run Logs Insights queries on the service's log group: allow "
        f"logs:StartQuery and logs:GetQueryResults on the log group {log_group} (arn:aws:logs:*:*:log-group:"
        f"{log_group}, or with the Region and account in place of the wildcards) and logs:StopQuery on *, as "
        "in the README's fleet policy."
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
        "and AWS_ENDPOINT_URL_CLOUDWATCH_LOGS or AWS_ENDPOINT_URL if set."
    ),
    "Timeout": lambda _group: "CloudWatch Logs did not answer in time: check the network path and run fleet again.",
}


def logs_error(exc: SecretsError, log_group: str) -> SecretsError:
    hint = FLEET_HINTS.get(exc.code)
    return exc.with_hint(hint(log_group)) if hint else exc


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
    try:
        with aws_errors(service=LOGS):
            query_id = logs.start_query(logGroupName=log_group, startTime=start, endTime=end, queryString=QUERY)[
                "queryId"
            ]
        deadline = clock() + timeout
        while True:
            with aws_errors(service=LOGS):
                response = logs.get_query_results(queryId=query_id)
            status = str(response.get("status", "Unknown"))
            if status == "Complete":
                return list(response.get("results", []))
            if status in FAILED:
                raise SecretsError(ErrorCode.QueryFailed, f"the Logs Insights query ended with status {status}")
            if clock() >= deadline:
                _stop(logs, query_id)
                raise SecretsError(
                    ErrorCode.QueryTimeout, f"the Logs Insights query was still {status} after {timeout:g}s"
                )
            sleep(poll)
    except SecretsError as exc:
        raise logs_error(exc, log_group) from None


def _stop(logs: Any, query_id: str) -> None:
    """Free the query's slot (30 concurrent per account); best effort, StopQuery may not be allowed."""
    # The timeout is what the operator needs to hear about, not a failed StopQuery.
    with contextlib.suppress(Exception):
        logs.stop_query(queryId=query_id)


def logs_client(region: str) -> Any:
    """A CloudWatch Logs client with standard retries; honours AWS_ENDPOINT_URL_CLOUDWATCH_LOGS
    and AWS_ENDPOINT_URL (botocore's service-specific, then global, endpoint setting)."""
    import botocore.session
    from botocore.config import Config

    config = Config(
        region_name=region, connect_timeout=5, read_timeout=30, retries={"mode": "standard", "total_max_attempts": 5}
    )
    with aws_errors(service=LOGS):
        return botocore.session.get_session().create_client("logs", config=config)
