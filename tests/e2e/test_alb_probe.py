"""What an Application Load Balancer's health check receives (issue 21, reachability).

The ALB probes each target from its own address in the VPC, never from loopback. Here the
service runs as a task would (./entrypoint.sh, APP_ENV=production, bound to 0.0.0.0) and is
probed from this machine's own non-loopback interface address, with the client socket bound
to that address so the service sees it as the peer. The target group's matcher is 200
(infra/cloudformation/short-cut.yaml): a loaded task passes, a task without its secret (a
placeholder or no secret at all) answers 503 and the ALB takes it out of rotation. Either
way the probe gets the minimal body: no secret name, version, key or AWS message.
"""

from __future__ import annotations

import ipaddress
import json
import socket
from collections.abc import Callable
from typing import Any

import httpx
import pytest

from tests.e2e.conftest import ServiceFactory, production_env
from tests.support.canary import canary_payload, leaked
from tests.support.processes import free_port, wait_for

# The stack's own placeholders, which the first deploy's secret holds until `push`.
STACK_PLACEHOLDER = "<set with python -m src.cli push>"
MINIMAL_KEYS = {"status", "app_env", "version", "secrets"}
MINIMAL_SECRET_KEYS = {"loaded", "age_seconds", "error"}


def interface_address() -> str:
    """The address this machine's default route leaves from (a UDP connect sends nothing)."""
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as probe:
        try:
            probe.connect(("192.0.2.1", 9))  # TEST-NET-1: only the route lookup happens
        except OSError:
            return ""
        address = str(probe.getsockname()[0])
    return "" if ipaddress.ip_address(address).is_loopback else address


ADDRESS = interface_address()
pytestmark = pytest.mark.skipif(not ADDRESS, reason="this machine has no non-loopback IPv4 interface to probe from")


def probe(port: int) -> httpx.Response:
    """GET /health as the ALB would: from a non-loopback source address."""
    transport = httpx.HTTPTransport(local_address=ADDRESS)
    with httpx.Client(transport=transport, timeout=3.0) as client:
        return client.get(f"http://{ADDRESS}:{port}/health")


def start_on_all_interfaces(service: ServiceFactory, env: dict[str, str], moto_url: str) -> tuple[Any, int]:
    port = free_port()
    process, _ = service({**env, "HOST": "0.0.0.0"}, endpoint=moto_url, port=port)
    # Started once the loopback view answers (200 or 503).
    wait_for(f"http://127.0.0.1:{port}/health/live", timeout=30)
    return process, port


def assert_minimal(body: dict[str, Any]) -> None:
    assert set(body) == MINIMAL_KEYS, body
    assert set(body["secrets"]) == MINIMAL_SECRET_KEYS, body
    error = body["secrets"]["error"]
    assert error is None or set(error) == {"code"}, body


def test_a_loaded_task_passes_the_probe_with_the_minimal_body(
    service: ServiceFactory, moto_url: str, secret_name: str, create_secret: Callable[..., str]
) -> None:
    version = create_secret(secret_name, canary_payload())
    process, port = start_on_all_interfaces(service, production_env(secret_name), moto_url)
    wait_for(f"http://127.0.0.1:{port}/health", timeout=30)

    response = probe(port)
    assert response.status_code == 200  # the target group's Matcher
    body = response.json()
    assert_minimal(body)
    assert (body["status"], body["app_env"], body["secrets"]["loaded"]) == ("ok", "production", True)
    assert secret_name not in response.text and version not in response.text
    assert leaked(response.text) == []
    # The same probe from loopback (the container health check) gets the full body: the choice
    # is made on the peer's address, which is what this test exercises.
    local = httpx.get(f"http://127.0.0.1:{port}/health", timeout=3.0).json()
    assert local["secrets"]["secret_names"] == [secret_name]
    process.stop()
    assert leaked(process.output()) == []


@pytest.mark.parametrize("case", ["placeholder", "missing"])
def test_a_task_without_its_secret_fails_the_probe_with_503(
    service: ServiceFactory, moto_url: str, secret_name: str, create_secret: Callable[..., str], case: str
) -> None:
    if case == "placeholder":
        create_secret(secret_name, canary_payload(OPENAI_API_KEY=STACK_PLACEHOLDER, PINECONE_API_KEY=STACK_PLACEHOLDER))
        expected_code = "PlaceholderValue"
    else:
        expected_code = "ResourceNotFoundException"  # no such secret in the emulator
    process, port = start_on_all_interfaces(service, production_env(secret_name), moto_url)
    wait_for(f"http://127.0.0.1:{port}/health", timeout=30, ok=(503,))

    response = probe(port)
    assert response.status_code == 503  # not the Matcher's 200: out of the target group
    body = response.json()
    assert_minimal(body)
    assert (body["status"], body["secrets"]["loaded"]) == ("unavailable", False)
    assert body["secrets"]["error"] == {"code": expected_code}
    assert secret_name not in response.text and STACK_PLACEHOLDER not in response.text
    assert "arn:" not in response.text and json.dumps(body).count("message") == 0
    # The process is alive and keeps retrying: what replaces it is ECS acting on the ALB's
    # verdict after the grace period (README, "What the load balancer sees"), not the process.
    assert httpx.get(f"http://127.0.0.1:{port}/health/live", timeout=3.0).status_code == 200
    process.stop()
    assert leaked(process.output()) == []
