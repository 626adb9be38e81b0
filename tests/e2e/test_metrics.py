"""The service's CloudWatch EMF lines, end to end: a start, a rotation and a failing refresh
through moto_server, as the awslogs driver would ship them from stdout (issue 15)."""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from typing import Any

import httpx

from src.telemetry.served_version import parse_line
from tests.e2e.conftest import ServiceFactory, production_env
from tests.e2e.test_bootstrap import wait_health
from tests.support.canary import canary_payload, leaked
from tests.support.emf import emf_lines, metric_names
from tests.support.fault_proxy import Fault, FaultProxy


def wait_body(url: str, predicate: Callable[[dict[str, Any]], bool], timeout: float = 15) -> dict[str, Any]:
    deadline = time.monotonic() + timeout
    body: dict[str, Any] = {}
    while time.monotonic() < deadline:
        body = httpx.get(f"{url}/health", timeout=5).json()
        if predicate(body):
            return body
        time.sleep(0.1)
    raise AssertionError(f"never reached; last body {body}")


def test_start_rotation_and_failing_refresh_emit_their_metrics_in_order(
    service: ServiceFactory, sm: Any, secret_name: str, proxy: FaultProxy
) -> None:
    first = sm.create_secret(Name=secret_name, SecretString=json.dumps(canary_payload()))["VersionId"]
    env = production_env(secret_name, SECRETS_REFRESH_INTERVAL="1", SECRETS_RETRY_MAX_BACKOFF="0.5")
    process, url = service(env, endpoint=proxy.url)
    wait_health(url, 200)
    second = sm.put_secret_value(SecretId=secret_name, SecretString=json.dumps(canary_payload(APP_SECRET_KEY="k2-x")))
    wait_body(url, lambda b: b["secrets"]["version_ids"] == {secret_name: second["VersionId"]})
    proxy.set_fault(Fault("error", code="AccessDeniedException", actions=("DescribeSecret",)))
    wait_body(url, lambda b: b["status"] == "degraded")
    proxy.clear()
    wait_body(url, lambda b: b["status"] == "ok")
    output = process.output()

    documents = emf_lines(output)  # each line validated against the EMF specification
    events = [(metric_names(d), d.get("error_code"), d.get("version_id")) for d in documents]
    names = [n for n, _, _ in events]
    assert names[0] == ["SecretLoadSuccess", "SecretStartupMs"]
    assert 0 < documents[0]["SecretStartupMs"] < 60000
    order = [n[0] for n in names if n[0] != "SecretAgeSeconds"]
    assert order[:3] == ["SecretLoadSuccess", "SecretVersionChange", "SecretRefreshFailure"], order
    change = next(e for e in events if e[0] == ["SecretVersionChange"])
    assert change[2] == second["VersionId"] and change[2] != first
    failure = next(e for e in events if e[0] == ["SecretRefreshFailure"])
    assert failure[1] == "AccessDeniedException"
    age = next(d for d in documents if metric_names(d) == ["SecretAgeSeconds"])
    assert age["version_id"] == first and age["secret_name"] == secret_name
    for document in documents:
        assert document["Service"] == "short-cut-api" and document["Environment"] == "prod"
        assert "123456789012" not in json.dumps(document)
    assert leaked(output) == []
    served = [r for r in (parse_line(line) for line in output.splitlines()) if r is not None]
    seen = [(r.reason, r.version_id, r.error_code) for r in served if r.reason != "heartbeat"]
    # A failure is retried (and recorded) until the fault clears: one of each in a row.
    assert [s for i, s in enumerate(seen) if i == 0 or seen[i - 1] != s] == [
        ("start", first, None),
        ("refresh", second["VersionId"], None),
        ("failure", second["VersionId"], "AccessDeniedException"),
        ("refresh", second["VersionId"], None),
    ]


def test_local_mode_writes_no_metric_lines(service: ServiceFactory) -> None:
    process, url = service({"APP_ENV": "local", "LOG_FORMAT": "json"})
    wait_health(url, 200)
    assert emf_lines(process.output()) == []
