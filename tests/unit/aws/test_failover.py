"""The failover policy (when a read may go to the replica) and the reader that applies it."""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest

from src.aws.client import FetchedSecret, SecretsClient, build_client
from src.aws.failover import RegionReader, fail_fast, fails_over, replica_secret_id
from src.errors import HINTS, ErrorCode, SecretsError

PRIMARY, REPLICA = "us-east-1", "us-west-2"
NAME = "short-cut/prod/app"
ARN = f"arn:aws:secretsmanager:{PRIMARY}:123456789012:secret:{NAME}-AbCdEf"
V1 = "11111111-1111-4111-8111-111111111111"


def error(code: str, status: int | None = None) -> SecretsError:
    found = SecretsError.from_aws(code, f"{code} happened", secret_name=NAME)
    found.http_status = status
    return found


@pytest.mark.parametrize(
    ("code", "status"),
    [
        ("InternalServiceError", 500),
        ("ServiceUnavailable", 503),
        ("SomethingNewOnTheServerSide", 502),  # any 5xx, whatever its code
        ("ThrottlingException", 400),  # reaches us only after botocore's retries
        ("EndpointUnreachable", None),
        ("Timeout", None),
    ],
)
def test_server_faults_and_no_answer_fail_over(code: str, status: int | None) -> None:
    assert fails_over(error(code, status))


@pytest.mark.parametrize(
    "code",
    [
        "AccessDeniedException",
        "ResourceNotFoundException",
        "DecryptionFailure",
        "KMSInvalidStateException",
        "InvalidRequestException",
        "InvalidParameterException",
        "NoCredentials",
        "MissingRegion",
    ],
)
@pytest.mark.parametrize("status", [400, 500, None])
def test_the_callers_own_errors_never_fail_over_whatever_the_status(code: str, status: int | None) -> None:
    assert not fails_over(error(code, status))


def test_an_unknown_client_error_does_not_fail_over() -> None:
    assert not fails_over(error("SomethingNew", 400))


def test_replica_id_is_the_name_or_the_arn_in_the_replica_region() -> None:
    assert replica_secret_id(NAME, REPLICA) == NAME
    assert replica_secret_id(ARN, REPLICA) == f"arn:aws:secretsmanager:{REPLICA}:123456789012:secret:{NAME}-AbCdEf"


class FakeClient:
    """A SecretsClient stand-in: answers or raises per call, and records what was asked."""

    def __init__(self, *, fail: SecretsError | None = None, metadata: dict[str, Any] | None = None) -> None:
        self.fail = fail
        self.metadata = metadata or {}
        self.calls: list[tuple[str, str]] = []

    def get_secret(self, name: str, *, version_stage: str | None = "AWSCURRENT", version_id: str | None = None) -> Any:
        self.calls.append(("get", name))
        if self.fail:
            raise self.fail
        return FetchedSecret(name=name, arn=name, version_id=version_id or V1, secret_string="{}")

    def current_version(self, name: str) -> str:
        self.calls.append(("current", name))
        if self.fail:
            raise self.fail
        return V1

    def describe(self, name: str) -> dict[str, Any]:
        self.calls.append(("describe", name))
        if self.fail:
            raise self.fail
        return self.metadata


def reader(primary: FakeClient, replica: FakeClient | None) -> tuple[RegionReader, list[int]]:
    built: list[int] = []

    def factory() -> SecretsClient:
        built.append(1)
        assert replica is not None
        return replica  # type: ignore[return-value]

    return RegionReader(primary, PRIMARY, REPLICA if replica else None, factory if replica else None), built  # type: ignore[arg-type]


A_REPLICA = {"PrimaryRegion": PRIMARY, "VersionIdsToStages": {V1: ["AWSCURRENT"]}}


def test_a_healthy_primary_answers_and_the_replica_client_is_never_built() -> None:
    read, built = reader(FakeClient(), FakeClient(metadata=A_REPLICA))
    fetched = read.get_secret(NAME)
    assert (fetched.region, fetched.failover_cause) == (PRIMARY, None)
    assert read.current_version(NAME).region == PRIMARY
    assert built == []


def test_a_5xx_in_the_primary_reads_the_replica_after_checking_it_is_one() -> None:
    replica = FakeClient(metadata=A_REPLICA)
    read, _ = reader(FakeClient(fail=error("InternalServiceError", 500)), replica)
    fetched = read.get_secret(NAME)
    assert (fetched.name, fetched.region, fetched.failover_cause) == (NAME, REPLICA, "InternalServiceError")
    assert replica.calls == [("describe", NAME), ("get", NAME)]
    current = read.current_version(NAME)
    assert (current.version_id, current.region, current.cause) == (V1, REPLICA, "InternalServiceError")


def test_an_arn_is_read_in_the_replica_by_the_replicas_arn() -> None:
    replica = FakeClient(metadata=A_REPLICA)
    read, _ = reader(FakeClient(fail=error("EndpointUnreachable")), replica)
    assert read.get_secret(ARN).name == ARN
    assert {name for _, name in replica.calls} == {replica_secret_id(ARN, REPLICA)}


@pytest.mark.parametrize("code", ["AccessDeniedException", "ResourceNotFoundException", "DecryptionFailure"])
def test_the_primarys_own_errors_are_raised_as_they_are_and_the_replica_is_not_asked(code: str) -> None:
    read, built = reader(FakeClient(fail=error(code, 400)), FakeClient(metadata=A_REPLICA))
    with pytest.raises(SecretsError) as caught:
        read.get_secret(NAME)
    assert caught.value.code == code and caught.value.hint == HINTS[code]
    assert built == []


@pytest.mark.parametrize(
    "metadata",
    [{"VersionIdsToStages": {V1: ["AWSCURRENT"]}}, {**A_REPLICA, "PrimaryRegion": "eu-west-1"}],
    ids=["not-a-replica", "replica-of-another-primary"],
)
def test_a_secret_in_the_failover_region_that_is_not_our_replica_is_never_read(metadata: dict[str, Any]) -> None:
    replica = FakeClient(metadata=metadata)
    read, _ = reader(FakeClient(fail=error("InternalServiceError", 500)), replica)
    with pytest.raises(SecretsError) as caught:
        read.get_secret(NAME)
    assert caught.value.code == "InternalServiceError"  # the primary's failure, as without failover
    assert "not a replica" in caught.value.message or "primary Region is eu-west-1" in caught.value.message
    assert ("get", NAME) not in replica.calls
    with pytest.raises(SecretsError):
        read.current_version(NAME)


def test_both_regions_failing_raises_the_primarys_code_and_names_the_replicas_answer() -> None:
    read, _ = reader(FakeClient(fail=error("Timeout")), FakeClient(fail=error("AccessDeniedException", 400)))
    with pytest.raises(SecretsError) as caught:
        read.get_secret(NAME)
    assert caught.value.code == "Timeout" and caught.value.hint == HINTS["Timeout"]
    assert f"{REPLICA} either: AccessDeniedException" in caught.value.message


def test_without_a_failover_region_a_5xx_is_raised() -> None:
    read, _ = reader(FakeClient(fail=error("InternalServiceError", 500)), None)
    with pytest.raises(SecretsError):
        read.get_secret(NAME)


# -- fail_fast on a real botocore client, against a loopback server -------------------


@pytest.fixture
def server() -> Iterator[tuple[str, dict[str, Any]]]:
    state: dict[str, Any] = {"status": 503, "code": "ServiceUnavailable", "hits": 0}

    class Handler(BaseHTTPRequestHandler):
        def log_message(self, format: str, *args: object) -> None:
            return

        def do_POST(self) -> None:
            self.rfile.read(int(self.headers.get("Content-Length") or 0))
            state["hits"] += 1
            body = json.dumps({"__type": state["code"], "message": "x"}).encode()
            self.send_response(state["status"])
            self.send_header("Content-Type", "application/x-amz-json-1.1")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

    httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{httpd.server_address[1]}", state
    finally:
        httpd.shutdown()
        httpd.server_close()


def client_at(url: str, monkeypatch: pytest.MonkeyPatch, *, fast: bool) -> SecretsClient:
    monkeypatch.setenv("AWS_ENDPOINT_URL_SECRETS_MANAGER", url)
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing")
    # No sleeping between botocore's attempts (endpoint.py sleeps with time.sleep): the count is what matters.
    monkeypatch.setattr("botocore.endpoint.time.sleep", lambda _: None)
    built = build_client(PRIMARY, connect_timeout=0.5, read_timeout=1.0, max_attempts=3)
    if fast:
        fail_fast(built)
    return SecretsClient(PRIMARY, client=built)


@pytest.mark.parametrize(("fast", "attempts"), [(True, 1), (False, 3)])
def test_with_a_failover_the_primary_does_not_retry_a_5xx(
    server: tuple[str, dict[str, Any]], monkeypatch: pytest.MonkeyPatch, fast: bool, attempts: int
) -> None:
    url, state = server
    with pytest.raises(SecretsError) as caught:
        client_at(url, monkeypatch, fast=fast).get_secret(NAME)
    assert caught.value.http_status == 503 and fails_over(caught.value)
    assert state["hits"] == attempts


def test_with_a_failover_throttling_keeps_botocores_retries(
    server: tuple[str, dict[str, Any]], monkeypatch: pytest.MonkeyPatch
) -> None:
    url, state = server
    state.update(status=400, code="ThrottlingException")
    with pytest.raises(SecretsError) as caught:
        client_at(url, monkeypatch, fast=True).get_secret(NAME)
    assert caught.value.code == ErrorCode.ThrottlingException
    assert state["hits"] == 3  # botocore's standard retries, then the failover


def test_with_a_failover_a_refused_connection_is_not_retried(monkeypatch: pytest.MonkeyPatch) -> None:
    import socket

    with socket.socket() as sock:  # a port nothing listens on
        sock.bind(("127.0.0.1", 0))
        url = f"http://127.0.0.1:{sock.getsockname()[1]}"
    secrets = client_at(url, monkeypatch, fast=True)
    sent: list[int] = []
    secrets.client.meta.events.register("before-send.secrets-manager", lambda **_: sent.append(1))
    with pytest.raises(SecretsError) as caught:
        secrets.get_secret(NAME)
    assert caught.value.code == ErrorCode.EndpointUnreachable
    assert len(sent) == 1
