"""Each metric filter of the stack matches the failure lines the service really writes, and none of
its success lines (issue 19 item 4).

The lines come from ./entrypoint.sh against moto_server over loopback (as tests/e2e does), with a
secret that loads, changes and then cannot be refreshed (DescribeSecret refused by the fault
proxy), and with a secret that cannot load at all (placeholders), in both LOG_FORMATs. The
patterns are the template's own, judged by tests/infra/filter_pattern.py (CloudWatch's JSON
pattern syntax; moto has none).
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import boto3
import httpx
import pytest

from tests.infra.filter_pattern import matches
from tests.support import cfn
from tests.support.canary import canary_payload, leaked
from tests.support.fault_proxy import Fault, FaultProxy
from tests.support.processes import DUMMY_CREDENTIALS, Process, running_moto, start_service

ROOT = Path(__file__).resolve().parents[2]
TEMPLATE = ROOT / "infra/cloudformation/short-cut.yaml"
REGION = "us-east-1"


def filters() -> dict[str, str]:
    """Metric name -> filter pattern, from the template."""
    resources = cfn.load(TEMPLATE)["Resources"]
    return {
        r["Properties"]["MetricTransformations"][0]["MetricName"]: r["Properties"]["FilterPattern"]
        for r in resources.values()
        if r["Type"] == "AWS::Logs::MetricFilter"
    }


@pytest.fixture(scope="module")
def moto_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    with running_moto(tmp_path_factory.mktemp("moto")) as url:
        yield url


def wait_for(url: str, predicate: Callable[[dict[str, object]], bool], timeout: float = 30) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            body = httpx.get(f"{url}/health", timeout=5).json()
            if predicate(body):
                return
        except (httpx.HTTPError, ValueError):
            pass
        time.sleep(0.1)
    raise AssertionError("the service never reached the expected state")


def run(tmp_path: Path, endpoint: str, name: str, log_format: str) -> tuple[Process, str]:
    tmp_path.mkdir(parents=True, exist_ok=True)
    env = {
        "APP_ENV": "production",
        "AWS_REGION": REGION,
        "SECRET_NAME": name,
        "LOG_FORMAT": log_format,
        "SECRETS_REFRESH_INTERVAL": "1",
        "SECRETS_RETRY_MAX_BACKOFF": "0.5",
        "ENV_FILE": str(tmp_path / "absent.env"),
        "SECRETS_FILE_DIR": str(tmp_path),
        "AWS_ENDPOINT_URL_SECRETS_MANAGER": endpoint,
        **DUMMY_CREDENTIALS,
    }
    return start_service(tmp_path, env)


@pytest.fixture(scope="module")
def lines(moto_url: str, tmp_path_factory: pytest.TempPathFactory) -> dict[str, list[str]]:
    """The service's stdout lines: 'success' (load, swap, age) and 'refresh-failure' from one task,
    'load-failure' from another, for each log format."""
    sm = boto3.client(
        "secretsmanager",
        region_name=REGION,
        endpoint_url=moto_url,
        aws_access_key_id=DUMMY_CREDENTIALS["AWS_ACCESS_KEY_ID"],
        aws_secret_access_key=DUMMY_CREDENTIALS["AWS_SECRET_ACCESS_KEY"],
    )
    out: dict[str, list[str]] = {"success": [], "refresh-failure": [], "load-failure": []}
    for log_format in ("json", "text"):
        tmp = tmp_path_factory.mktemp(f"svc-{log_format}")
        proxy = FaultProxy(moto_url).start()
        good, bad = f"short-cut/prod/app-mf-{log_format}", f"short-cut/prod/app-mf-{log_format}-bad"
        sm.create_secret(Name=good, SecretString=json.dumps(canary_payload()))
        sm.create_secret(Name=bad, SecretString=json.dumps(canary_payload(OPENAI_API_KEY="<set with push>")))
        service, url = run(tmp / "good", proxy.url, good, log_format)
        failing, failing_url = run(tmp / "bad", moto_url, bad, log_format)
        try:
            wait_for(url, lambda b: b.get("status") == "ok")
            version = sm.put_secret_value(SecretId=good, SecretString=json.dumps(canary_payload(APP_SECRET_KEY="k-2")))
            swapped: str = version["VersionId"]
            wait_for(url, lambda b: swapped in json.dumps(b))  # noqa: B023 - waited for at once
            # The age line comes every minute; the first one once the load is in.
            deadline = time.monotonic() + 75
            while '"SecretAgeSeconds"' not in service.output() and time.monotonic() < deadline:
                time.sleep(0.5)
            out["success"] += service.output().splitlines()
            mark = len(out["success"])
            proxy.set_fault(Fault("error", code="AccessDeniedException", actions=("DescribeSecret",)))
            wait_for(url, lambda b: b.get("status") == "degraded")
            time.sleep(1.5)
            out["refresh-failure"] += service.output().splitlines()[mark:]
            wait_for(failing_url, lambda b: "PlaceholderValue" in json.dumps(b))
            time.sleep(1.5)
            out["load-failure"] += failing.output().splitlines()
        finally:
            service.stop()
            failing.stop()
            proxy.stop()
    return out


def matching(metric: str, lines: list[str]) -> list[str]:
    return [line for line in lines if line.startswith("{") and matches(filters()[metric], line)]


def test_the_stack_has_a_filter_for_each_secret_health_metric() -> None:
    assert set(filters()) == {"SecretRefreshFailure", "SecretLoadFailure", "SecretAgeSeconds"}


def test_the_refresh_failure_filter_matches_the_failures_only(lines: dict[str, list[str]]) -> None:
    hits = matching("SecretRefreshFailure", lines["refresh-failure"])
    assert len(hits) >= 2  # one per failed refresh, in each log format
    assert all(json.loads(h)["error_code"] == "AccessDeniedException" for h in hits)
    assert matching("SecretRefreshFailure", lines["success"] + lines["load-failure"]) == []


def test_the_load_failure_filter_matches_the_failures_only(lines: dict[str, list[str]]) -> None:
    hits = matching("SecretLoadFailure", lines["load-failure"])
    assert len(hits) >= 2
    assert {json.loads(h)["error_code"] for h in hits} == {"PlaceholderValue"}
    assert matching("SecretLoadFailure", lines["success"] + lines["refresh-failure"]) == []


def test_the_age_filter_matches_the_age_lines_and_extracts_a_number(lines: dict[str, list[str]]) -> None:
    hits = matching("SecretAgeSeconds", lines["success"])
    assert hits, "no SecretAgeSeconds line was written"
    for hit in hits:
        document = json.loads(hit)
        assert isinstance(document["SecretAgeSeconds"], int | float) and document["Environment"] == "prod"
    # Only the age lines: no log line, no other metric line.
    everything = lines["success"] + lines["refresh-failure"] + lines["load-failure"]
    assert all('"SecretAgeSeconds"' in h for h in matching("SecretAgeSeconds", everything))


def test_the_filters_dimension_is_the_alarms(lines: dict[str, list[str]]) -> None:
    """Each filter's Environment dimension is read from the line ($.Environment); the alarm asks for
    the stack's Environment parameter, so the line must say prod (APP_ENV=production)."""
    hits = matching("SecretRefreshFailure", lines["refresh-failure"])
    assert {json.loads(h)["Environment"] for h in hits} == {"prod"}


def test_no_line_leaks_a_value(lines: dict[str, list[str]]) -> None:
    assert leaked("\n".join(line for group in lines.values() for line in group)) == []
