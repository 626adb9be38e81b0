"""Faults injected over the network, at start and during a refresh: the service stays up,
reports the truth (/health code and body, a log line), and heals without a restart."""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.e2e.conftest import REGION, ServiceFactory
from tests.reliability import report
from tests.reliability.conftest import SEEN
from tests.support.canary import canary_payload
from tests.support.credentials_endpoint import CredentialsEndpoint
from tests.support.fault_proxy import Fault, FaultProxy
from tests.support.processes import Process, free_port

FAST = {
    "SECRETS_RETRY_MAX_BACKOFF": "1",
    "SECRETS_CONNECT_TIMEOUT": "1",
    "SECRETS_READ_TIMEOUT": "1",
    "SECRETS_MAX_ATTEMPTS": "2",
}


def get_health(url: str) -> tuple[int, dict[str, Any]]:
    response = httpx.get(f"{url}/health", timeout=5)
    SEEN.append(response.text)
    return response.status_code, response.json()


def wait_until(
    url: str, predicate: Callable[[int, dict[str, Any]], bool], timeout: float
) -> tuple[int, dict[str, Any], float]:
    started = time.monotonic()
    code, body = 0, dict[str, Any]()
    while time.monotonic() - started < timeout:
        try:
            code, body = get_health(url)
            if predicate(code, body):
                return code, body, time.monotonic() - started
        except httpx.HTTPError:
            pass
        time.sleep(0.1)
    raise AssertionError(f"condition not reached in {timeout}s; last {code} {body}")


@dataclass
class Scenario:
    name: str
    code: str
    inject: Callable[..., None]
    clear: Callable[..., None]
    via_credentials: bool = False


class World:
    """The pieces a scenario can break: the proxy in front of moto, the secret, the credentials endpoint."""

    def __init__(self, proxy: FaultProxy, sm: Any, name: str, credentials: CredentialsEndpoint) -> None:
        self.proxy, self.sm, self.name, self.credentials = proxy, sm, name, credentials
        self.refused_port = free_port()
        self.forwarder: FaultProxy | None = None

    def env(self, *, refresh: str = "0", endpoint: str | None = None) -> dict[str, str]:
        return {
            "APP_ENV": "production",
            "AWS_REGION": REGION,
            "SECRET_NAME": self.name,
            "AWS_ENDPOINT_URL_SECRETS_MANAGER": endpoint or self.proxy.url,
            "AWS_CONTAINER_CREDENTIALS_FULL_URI": self.credentials.url,
            "SECRETS_REFRESH_INTERVAL": refresh,
            **FAST,
        }


def _error(code: str) -> Callable[[World], None]:
    return lambda w: w.proxy.set_fault(Fault("error", code))


def _clear(w: World) -> None:
    w.proxy.clear()


def _delete(w: World) -> None:
    w.sm.delete_secret(SecretId=w.name, ForceDeleteWithoutRecovery=True)


def _recreate(w: World) -> None:
    w.sm.create_secret(Name=w.name, SecretString=json.dumps(canary_payload()))


SCENARIOS = [
    Scenario("InternalServiceError", "InternalServiceError", _error("InternalServiceError"), _clear),
    Scenario("DecryptionFailure", "DecryptionFailure", _error("DecryptionFailure"), _clear),
    Scenario("AccessDeniedException", "AccessDeniedException", _error("AccessDeniedException"), _clear),
    Scenario("ThrottlingException (sustained)", "ThrottlingException", _error("ThrottlingException"), _clear),
    Scenario("secret missing (ResourceNotFound)", "ResourceNotFoundException", _delete, _recreate),
    Scenario(
        "secret scheduled for deletion",
        "InvalidRequestException",
        lambda w: w.sm.delete_secret(SecretId=w.name, RecoveryWindowInDays=7),
        lambda w: w.sm.restore_secret(SecretId=w.name),
    ),
    Scenario("endpoint answers too slowly", "Timeout", lambda w: w.proxy.set_fault(Fault("slow", delay=2.5)), _clear),
    Scenario(
        "connection closed mid-response", "EndpointUnreachable", lambda w: w.proxy.set_fault(Fault("close")), _clear
    ),
    Scenario(
        "credentials endpoint down",
        "NoCredentials",
        lambda w: w.credentials.go_down(),
        lambda w: w.credentials.come_back(),
        True,
    ),
    Scenario(
        "credentials endpoint returns garbage",
        "NoCredentials",
        lambda w: setattr(w.credentials, "mode", "garbage"),
        lambda w: setattr(w.credentials, "mode", "ok"),
        True,
    ),
]


@pytest.fixture
def world(proxy: FaultProxy, sm: Any, secret_name: str, credentials: CredentialsEndpoint) -> World:
    sm.create_secret(Name=secret_name, SecretString=json.dumps(canary_payload()))
    return World(proxy, sm, secret_name, credentials)


def check_alive(process: Process) -> None:
    assert process.proc is not None and process.proc.poll() is None, "the service died"


@contextmanager
def scenario_row(scenario: str, expected: str, process: Process) -> Iterator[list[float]]:
    """Records the row: PASS with the recovery time the body appends, or FAIL with the reason."""
    recovery: list[float] = []
    try:
        yield recovery
        report.record(scenario, expected, expected, True, recovery[0] if recovery else None)
    except AssertionError as exc:
        report.record(scenario, expected, str(exc)[:60], False)
        raise
    finally:
        SEEN.append(process.output())


@pytest.mark.parametrize("scenario", SCENARIOS, ids=[s.name for s in SCENARIOS])
def test_fault_at_start(scenario: Scenario, world: World, service: ServiceFactory) -> None:
    scenario.inject(world)
    process, url = service(world.env())
    with scenario_row(f"start: {scenario.name}", f"503 {scenario.code}, then 200", process) as recovery:
        _, body, _ = wait_until(url, lambda c, b: c == 503 and b["secrets"]["error"] is not None, timeout=30)
        error = body["secrets"]["error"]
        assert error["code"] == scenario.code, error
        assert error["hint"]
        assert body["status"] == "unavailable"
        check_alive(process)
        assert scenario.code in process.output()
        scenario.clear(world)
        _, healed, seconds = wait_until(url, lambda c, b: c == 200, timeout=30)
        assert healed["status"] == "ok"
        check_alive(process)
        recovery.append(seconds)


def test_connection_refused_at_start(world: World, service: ServiceFactory) -> None:
    port = world.refused_port
    process, url = service(world.env(endpoint=f"http://127.0.0.1:{port}"))
    forwarder: FaultProxy | None = None
    try:
        _, body, _ = wait_until(url, lambda c, b: c == 503 and b["secrets"]["error"] is not None, timeout=30)
        assert body["secrets"]["error"]["code"] == "EndpointUnreachable"
        check_alive(process)
        forwarder = FaultProxy(world.proxy.url, port=port).start()  # the endpoint comes back
        _, _, recovery = wait_until(url, lambda c, b: c == 200, timeout=30)
        report.record(
            "start: connection refused",
            "503 EndpointUnreachable, then 200",
            "503 EndpointUnreachable, then 200",
            True,
            recovery,
        )
    finally:
        if forwarder:
            forwarder.stop()
        SEEN.append(process.output())


def test_throttling_burst_at_start_is_absorbed(world: World, service: ServiceFactory) -> None:
    world.proxy.set_fault(Fault("error", "ThrottlingException", remaining=4))
    started = time.monotonic()
    process, url = service(world.env())
    _, body, _ = wait_until(url, lambda c, b: c == 200, timeout=30)
    elapsed = time.monotonic() - started
    assert body["status"] == "ok"
    SEEN.append(process.output())
    report.record(
        "start: burst of 4 ThrottlingException",
        "ready within the retry budget",
        f"ready after {elapsed:.1f} s",
        elapsed < 15,
        elapsed,
    )


REFRESH_SCENARIOS = [s for s in SCENARIOS if not s.via_credentials]


@pytest.mark.parametrize("scenario", REFRESH_SCENARIOS, ids=[s.name for s in REFRESH_SCENARIOS])
def test_fault_during_refresh(scenario: Scenario, world: World, service: ServiceFactory) -> None:
    process, url = service(world.env(refresh="0.5"))
    expected = f"200 degraded {scenario.code}, then ok"
    with scenario_row(f"refresh: {scenario.name}", expected, process) as recovery:
        _, first, _ = wait_until(url, lambda c, b: c == 200, timeout=30)
        good_version = first["secrets"]["version_ids"][world.name]
        scenario.inject(world)
        _, body, _ = wait_until(url, lambda c, b: b["status"] == "degraded", timeout=30)
        assert body["secrets"]["error"]["code"] == scenario.code
        assert body["secrets"]["version_ids"][world.name] == good_version  # the last good values
        assert body["secrets"]["loaded"] is True
        check_alive(process)
        scenario.clear(world)
        _, _, seconds = wait_until(url, lambda c, b: c == 200 and b["status"] == "ok", timeout=30)
        check_alive(process)
        recovery.append(seconds)


def test_connection_refused_during_refresh(world: World, service: ServiceFactory) -> None:
    port = world.refused_port
    forwarder = FaultProxy(world.proxy.url, port=port).start()
    process, url = service(world.env(refresh="0.5", endpoint=f"http://127.0.0.1:{port}"))
    try:
        wait_until(url, lambda c, b: c == 200, timeout=30)
        forwarder.stop()
        _, body, _ = wait_until(url, lambda c, b: b["status"] == "degraded", timeout=30)
        assert body["secrets"]["error"]["code"] == "EndpointUnreachable"
        forwarder = FaultProxy(world.proxy.url, port=port).start()
        _, _, recovery = wait_until(url, lambda c, b: b["status"] == "ok", timeout=30)
        report.record(
            "refresh: connection refused", "200 degraded EndpointUnreachable, then ok", "as expected", True, recovery
        )
    finally:
        forwarder.stop()
        SEEN.append(process.output())


@pytest.mark.parametrize("mode", ["down", "garbage"])
def test_credentials_fault_during_refresh_uses_cached_credentials(
    mode: str, world: World, service: ServiceFactory
) -> None:
    process, url = service(world.env(refresh="0.5"))
    # After one successful refresh the service holds its own credentials (the first load may
    # have come from the prefetch child, which fetched its own).
    wait_until(url, lambda c, b: c == 200 and b["secrets"]["last_refresh_at"] is not None, timeout=30)
    if mode == "down":
        world.credentials.go_down()
    else:
        world.credentials.mode = "garbage"
    before = world.proxy.calls["DescribeSecret"]
    time.sleep(2)
    code, body = get_health(url)
    assert code == 200 and body["status"] == "ok"
    assert world.proxy.calls["DescribeSecret"] > before  # refreshes went on with the cached credentials
    SEEN.append(process.output())
    report.record(
        f"refresh: credentials endpoint {mode}",
        "ok: credentials cached until expiry (>15 min)",
        "ok, refreshes continued",
        True,
    )
    if mode == "down":
        world.credentials.come_back()


def test_start_storm(world: World, service: ServiceFactory, tmp_path: Path) -> None:
    """Ten services start together against an emulator that throttles above 3 requests/s."""
    world.proxy.set_fault(Fault("rate", rate=3))
    env = {**world.env(), "SECRETS_RETRY_MAX_BACKOFF": "30", "SECRETS_MAX_ATTEMPTS": "3"}
    started = time.monotonic()
    services = [service(env) for _ in range(10)]
    ready: dict[str, float] = {}
    deadline = started + 120
    while len(ready) < len(services) and time.monotonic() < deadline:
        for _, url in services:
            if url in ready:
                continue
            try:
                if httpx.get(f"{url}/health", timeout=2).status_code == 200:
                    ready[url] = time.monotonic() - started
            except httpx.HTTPError:
                pass
        time.sleep(0.2)
    for process, _ in services:
        SEEN.append(process.output())
    slowest = max(ready.values()) if ready else float("inf")
    bound = 60.0
    passed = len(ready) == 10 and slowest <= bound
    report.record(
        "start storm: 10 tasks, emulator throttles above 3 req/s",
        f"all ready within {bound:.0f} s",
        f"{len(ready)}/10 ready, slowest {slowest:.1f} s, {world.proxy.calls['GetSecretValue']} GetSecretValue sent",
        passed,
        slowest,
    )
    assert passed, ready
