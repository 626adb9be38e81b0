"""fleet's Logs Insights round trip (botocore Stubber): polling until Complete, the timeout
that stops the query, and AWS errors turned into fleet's hints.

The Stubber answers as CloudWatch Logs does (GetQueryResults statuses, API reference
https://docs.aws.amazon.com/AmazonCloudWatchLogs/latest/APIReference/API_GetQueryResults.html);
moto's Logs Insights ignores `filter` and `dedup` (see tests/unit/cli/test_fleet.py).
"""

from __future__ import annotations

from typing import Any

import pytest
from botocore.stub import ANY, Stubber

from src.cli.fleet import query
from src.errors import SecretsError
from tests.unit.cli.test_fleet import NOW

GROUP = "/ecs/short-cut-api"


def run(client: Any, **options: Any) -> list[Any]:
    end = int(NOW.timestamp())
    settings: dict[str, Any] = {"start": end - 3600, "end": end, "sleep": lambda _s: None}
    settings.update(options)
    return query.run_query(client, GROUP, **settings)


def test_it_polls_until_complete_and_returns_the_rows(logs: tuple[Any, Stubber]) -> None:
    client, stubber = logs
    end = int(NOW.timestamp())
    stubber.add_response(
        "start_query",
        {"queryId": "q-1"},
        {"logGroupName": GROUP, "startTime": end - 3600, "endTime": end, "queryString": query.QUERY},
    )
    row = [{"field": "@logStream", "value": "ecs/short-cut-api/t"}]
    for status in ("Scheduled", "Running"):
        stubber.add_response("get_query_results", {"status": status, "results": []}, {"queryId": "q-1"})
    stubber.add_response("get_query_results", {"status": "Complete", "results": [row]}, {"queryId": "q-1"})
    slept: list[float] = []
    assert run(client, sleep=slept.append, poll=0.25) == [row]
    assert slept == [0.25, 0.25]


def test_the_query_keeps_the_newest_report_per_task_and_secret() -> None:
    # dedup keeps the first row in sort order (CWL_QuerySyntax-Dedup.html): newest first.
    assert "sort @timestamp desc | dedup @logStream, record_secret" in query.QUERY
    # dedup keeps every row whose field is null: a text-mode record (no extracted secret_name)
    # is deduplicated on a coalesced key rather than kept row by row.
    assert 'coalesce(secret_name, "-") as record_secret' in query.QUERY
    # Only the served-version record passes the filter: not any line with secret_name or version_id.
    assert 'filter (logger = "short_cut.served_version" and event = "served_version")' in query.QUERY
    assert "ispresent(secret_name)" not in query.QUERY and "SecretAgeSeconds" not in query.QUERY
    assert f"limit {query.MAX_ROWS}" in query.QUERY and query.MAX_ROWS == 10_000


def test_an_unknown_error_keeps_the_aws_hint(logs: tuple[Any, Stubber]) -> None:
    client, stubber = logs
    stubber.add_client_error("start_query", service_error_code="ServiceUnavailableException", service_message="x")
    with pytest.raises(SecretsError) as caught:
        run(client)
    assert caught.value.code == "ServiceUnavailableException" and caught.value.hint


# StartQuery's errors (StartQuery API reference); EndpointUnreachable and Timeout come from botocore
# itself, QueryTimeout and QueryFailed from run_query.
SERVICE_ERRORS = (
    "AccessDeniedException",
    "InvalidParameterException",
    "LimitExceededException",
    "MalformedQueryException",
    "ResourceNotFoundException",
)


@pytest.mark.parametrize("code", SERVICE_ERRORS)
def test_each_aws_error_gets_fleets_hint(logs: tuple[Any, Stubber], code: str) -> None:
    client, stubber = logs
    stubber.add_client_error("start_query", service_error_code=code, service_message="refused")
    with pytest.raises(SecretsError) as caught:
        run(client)
    assert caught.value.code == code
    assert caught.value.hint == query.FLEET_HINTS[code](GROUP)


def test_a_query_that_never_completes_times_out_and_is_stopped(logs: tuple[Any, Stubber]) -> None:
    client, stubber = logs
    end = int(NOW.timestamp())
    stubber.add_response(
        "start_query",
        {"queryId": "q-1"},
        {"logGroupName": ANY, "startTime": end - 3600, "endTime": end, "queryString": ANY},
    )
    ticks = iter(range(100))
    # The clock ticks one second per reading: deadline at 0 + 2, still Running at 1 and at 2.
    for _ in range(2):
        stubber.add_response("get_query_results", {"status": "Running", "results": []}, {"queryId": "q-1"})
    stubber.add_response("stop_query", {"success": True}, {"queryId": "q-1"})
    with pytest.raises(SecretsError) as caught:
        query.run_query(
            client,
            "/ecs/short-cut-api",
            start=end - 3600,
            end=end,
            timeout=2,
            sleep=lambda _s: None,
            clock=lambda: float(next(ticks)),
        )
    assert caught.value.code == "QueryTimeout"
    assert "--timeout" in caught.value.hint
