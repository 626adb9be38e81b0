"""The CloudWatch Logs Insights side of `fleet`: one query over the service's log group
(logs:StartQuery, then logs:GetQueryResults until Complete or the timeout, logs:StopQuery
on a timeout), and AWS errors turned into fleet's own hints."""

from __future__ import annotations

import contextlib
import re
import time
from collections.abc import Callable
from typing import Any

from src.aws.client import aws_errors
from src.aws.errors import LOGS
from src.errors import ErrorCode, SecretsError
from src.telemetry.served_version import EVENT, LOGGER

DEFAULT_TIMEOUT = 60.0
POLL_INTERVAL = 1.0
MAX_ROWS = 10_000  # the most GetQueryResults returns

# Newest served-version record (src.telemetry.served_version) per (task stream, secret name).
# The filter admits only the record's lines: a JSON line whose top-level `logger` and `event`
# are the record's (only the record's writer sets both), or a text line that starts exactly as
# the text formatter starts the record's line. `dedup` keeps the first row in sort order and
# keeps every row whose field is null ("Null values are not considered duplicates",
# https://docs.aws.amazon.com/AmazonCloudWatch/latest/logs/CWL_QuerySyntax-Dedup.html); a text
# line has no extracted `secret_name`, so its key is coalesced to "-" (one per stream: a task
# with several secrets in text mode shows fewer rows, never a wrong one).
# The same filtering and dedup is repeated on the client (reports.py, through the schema
# module's parse_line), so an engine that ignores them (moto) still yields the right answer.
QUERY = (
    'fields @timestamp, @logStream, @message, coalesce(secret_name, "-") as record_secret'
    f' | filter (logger = "{LOGGER}" and event = "{EVENT}")'
    f" or @message like /^[0-9-]+ [0-9:,]+ INFO {{4}}{re.escape(LOGGER)}: {EVENT} \\{{/"
    " | sort @timestamp desc"
    " | dedup @logStream, record_secret"
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
