"""Region failover end to end: ./entrypoint.sh against moto_server, the primary Region failed by the fault proxy.

One moto_server holds both Regions: it routes each request by the Region in its SigV4 credential
scope, and the service's two clients (us-east-1, us-west-2) both send to the one
AWS_ENDPOINT_URL_SECRETS_MANAGER, the fault proxy, which fails only the requests signed for the
primary (tests/support/fault_proxy.py). moto_server models a replica (CreateSecret's
ReplicaRegions) as a live view of the primary's versions: same version ids, status InSync at once.
AWS: a replica's ARN is the primary's with its own Region, and a rotation in the primary
"propagates to all of the associated replica secrets"
(https://docs.aws.amazon.com/secretsmanager/latest/userguide/replicate-secrets.html); replication
is asynchronous (a replica's Status is InProgress before InSync: DescribeSecret's ReplicationStatus,
https://docs.aws.amazon.com/secretsmanager/latest/apireference/API_ReplicationStatusType.html), so
on AWS a new version reaches the replica after a delay moto does not have. The rotation case below
checks the replica shows the new version before it expects the task to serve it.

"Unreachable" here is a connection the proxy drops without an answer (botocore's
ConnectionClosedError, EndpointUnreachable): one endpoint serves both Regions, so a refused or
black-holed connect cannot be limited to one of them; tests/unit/aws/test_failover.py covers a
refused connect (not retried in the primary) on its own.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from typing import Any

import httpx
import pytest

from tests.e2e.conftest import REGION, ServiceFactory, moto_client, production_env
from tests.support.canary import canary_payload, leaked
from tests.support.fault_proxy import Fault, FaultProxy

REPLICA = "us-west-2"
WARNING_TEXT = "served from the failover Region"
FORMATS = ["json", "text"]


def health(url: str) -> dict[str, Any]:
    return dict(httpx.get(f"{url}/health", timeout=5).json())


def wait_for_body(url: str, check: Callable[[dict[str, Any]], bool], timeout: float = 20.0) -> dict[str, Any]:
    deadline = time.monotonic() + timeout
    body: dict[str, Any] = {}
    while time.monotonic() < deadline:
        try:
            body = health(url)
            if check(body):
                return body
        except (httpx.HTTPError, ValueError):
            pass
        time.sleep(0.1)
    raise AssertionError(f"/health never matched; last body {body}")


def on(region: str, status: str) -> Callable[[dict[str, Any]], bool]:
    return lambda body: body["status"] == status and body["secrets"]["region"] == region


def warnings(output: str, log_format: str) -> list[str]:
    """The WARNING lines that say the task is on the replica, in either log format."""
    lines = [line for line in output.splitlines() if WARNING_TEXT in line]
    if log_format == "json":
        parsed = [json.loads(line) for line in lines]
        assert all(p["level"].upper() == "WARNING" and p["error_code"] == "ServingFromReplica" for p in parsed), parsed
    else:
        assert all("WARNING" in line for line in lines), lines
    return lines


@pytest.fixture
def replicated(moto_url: str, secret_name: str) -> Callable[..., str]:
    """Creates the secret in the primary with a replica in REPLICA; returns its version id."""
    sm = moto_client("secretsmanager", moto_url)

    def create(replica: bool = True) -> str:
        extra: dict[str, Any] = {"AddReplicaRegions": [{"Region": REPLICA}]} if replica else {}
        created = sm.create_secret(Name=secret_name, SecretString=json.dumps(canary_payload()), **extra)
        return str(created["VersionId"])

    return create


def failover_env(secret_name: str, log_format: str, **extra: str) -> dict[str, str]:
    return production_env(
        secret_name,
        SECRETS_FAILOVER_REGION=REPLICA,
        LOG_FORMAT=log_format,
        METRICS="emf",
        SECRETS_RETRY_MAX_BACKOFF="0.5",
        **extra,
    )


def replica_reads(output: str) -> list[dict[str, Any]]:
    from tests.support.emf import emf_lines

    return [d for d in emf_lines(output) if "SecretReplicaRead" in d]


@pytest.mark.parametrize("prefetch", ["0", "1"])
@pytest.mark.parametrize("fault", ["error", "drop"], ids=["503", "unreachable"])
@pytest.mark.parametrize("log_format", FORMATS)
def test_a_task_starts_on_the_replica_when_the_primary_fails(
    service: ServiceFactory,
    replicated: Callable[..., str],
    secret_name: str,
    proxy: FaultProxy,
    log_format: str,
    fault: str,
    prefetch: str,
) -> None:
    version = replicated()
    proxy.set_fault(Fault(fault, "ServiceUnavailable" if fault == "error" else "", region=REGION))
    process, url = service(failover_env(secret_name, log_format, SECRETS_PREFETCH=prefetch), endpoint=proxy.url)
    body = wait_for_body(url, on(REPLICA, "degraded"))
    secrets = body["secrets"]
    assert secrets["loaded"] and secrets["version_ids"] == {secret_name: version}
    assert secrets["primary_region"] == REGION and secrets["regions"] == {secret_name: REPLICA}
    assert secrets["error"]["code"] == "ServingFromReplica" and "SECRETS_FAILOVER_REGION" in secrets["error"]["hint"]
    # The primary was asked once (no retry there: the replica is the retry), the replica answered.
    assert proxy.region_calls[(REGION, "GetSecretValue")] == 1, proxy.region_calls
    assert proxy.region_calls[(REPLICA, "GetSecretValue")] == 1, proxy.region_calls
    assert proxy.region_calls[(REPLICA, "DescribeSecret")] >= 1  # checked to be our replica first
    output = process.output()
    assert len(warnings(output, log_format)) == 1
    [read] = replica_reads(output)
    assert read["region"] == REPLICA and read["error_code"] in ("ServiceUnavailable", "EndpointUnreachable")
    # No value of the secret in the log or the body.
    assert leaked(output, json.dumps(body)) == []


@pytest.mark.parametrize("log_format", FORMATS)
def test_a_refresh_fails_over_and_comes_back_when_the_primary_answers(
    service: ServiceFactory,
    replicated: Callable[..., str],
    secret_name: str,
    proxy: FaultProxy,
    moto_url: str,
    log_format: str,
) -> None:
    version = replicated()
    env = failover_env(secret_name, log_format, SECRETS_REFRESH_INTERVAL="0.3")
    process, url = service(env, endpoint=proxy.url)
    assert wait_for_body(url, on(REGION, "ok"))["secrets"]["version_ids"] == {secret_name: version}

    proxy.set_fault(Fault("error", "ServiceUnavailable", region=REGION))
    body = wait_for_body(url, on(REPLICA, "degraded"))
    assert body["secrets"]["version_ids"] == {secret_name: version}  # one version in two Regions
    primary_tries = proxy.region_calls[(REGION, "DescribeSecret")]
    time.sleep(1.5)  # several refreshes on the replica: each tried the primary first, one WARNING in all
    assert proxy.region_calls[(REGION, "DescribeSecret")] >= primary_tries + 2
    assert health(url)["secrets"]["region"] == REPLICA

    # A rotation in the primary (its new AWSCURRENT) reaches the task through the replica.
    sm = moto_client("secretsmanager", moto_url)
    rotated = str(sm.put_secret_value(SecretId=secret_name, SecretString=json.dumps(canary_payload()))["VersionId"])
    replica_view = moto_client_in(moto_url, REPLICA).describe_secret(SecretId=secret_name)
    assert "AWSCURRENT" in replica_view["VersionIdsToStages"][rotated]  # moto: replicated at once
    body = wait_for_body(url, lambda b: b["secrets"]["version_ids"] == {secret_name: rotated})
    assert body["secrets"]["region"] == REPLICA and body["status"] == "degraded"

    reads_before = proxy.region_calls[(REGION, "GetSecretValue")] + proxy.region_calls[(REPLICA, "GetSecretValue")]
    proxy.clear()
    body = wait_for_body(url, on(REGION, "ok"))
    assert body["secrets"]["error"] is None and body["secrets"]["version_ids"] == {secret_name: rotated}
    after = proxy.region_calls[(REGION, "GetSecretValue")] + proxy.region_calls[(REPLICA, "GetSecretValue")]
    assert after == reads_before  # back by version id: the primary's same version is not read again
    output = process.output()
    assert len(warnings(output, log_format)) == 1
    assert f"primary Region {REGION} again" in output
    assert len(replica_reads(output)) >= 3
    assert leaked(output) == []


def moto_client_in(moto_url: str, region: str) -> Any:
    import boto3

    from tests.support.processes import moto_client_kwargs

    return boto3.client("secretsmanager", **moto_client_kwargs(moto_url, region))  # type: ignore[call-overload]


@pytest.mark.parametrize("code", ["AccessDeniedException", "ResourceNotFoundException"])
@pytest.mark.parametrize("log_format", FORMATS)
def test_the_primarys_own_errors_never_fail_over(
    service: ServiceFactory,
    replicated: Callable[..., str],
    secret_name: str,
    proxy: FaultProxy,
    log_format: str,
    code: str,
) -> None:
    replicated()
    proxy.set_fault(Fault("error", code, region=REGION))
    process, url = service(failover_env(secret_name, log_format), endpoint=proxy.url)
    wait_for_body(url, lambda b: b["secrets"]["error"] is not None)
    time.sleep(1.0)  # a few retries of the first load
    body = health(url)
    assert body["status"] == "unavailable" and body["secrets"]["error"]["code"] == code
    assert not any(region == REPLICA for region, _ in proxy.region_calls), proxy.region_calls
    assert WARNING_TEXT not in process.output()


@pytest.mark.parametrize("log_format", FORMATS)
@pytest.mark.parametrize("other", [False, True], ids=["no-secret-there", "an-unrelated-secret-there"])
def test_a_secret_without_a_replica_is_not_failed_over(
    service: ServiceFactory,
    replicated: Callable[..., str],
    secret_name: str,
    proxy: FaultProxy,
    moto_url: str,
    log_format: str,
    other: bool,
) -> None:
    replicated(replica=False)
    if other:  # the same name in the failover Region, but its own secret, not our replica
        moto_client_in(moto_url, REPLICA).create_secret(Name=secret_name, SecretString=json.dumps(canary_payload()))
    proxy.set_fault(Fault("error", "ServiceUnavailable", region=REGION))
    process, url = service(failover_env(secret_name, log_format), endpoint=proxy.url)
    body = wait_for_body(url, lambda b: b["secrets"]["error"] is not None)
    error = body["secrets"]["error"]
    assert body["status"] == "unavailable" and error["code"] == "ServiceUnavailable"
    expected = "not a replica" if other else "ResourceNotFoundException"
    assert f"not read from the failover Region {REPLICA} either" in error["message"] and expected in error["message"]
    assert proxy.region_calls[(REPLICA, "GetSecretValue")] == 0  # never read what is not our replica
    assert WARNING_TEXT not in process.output()
