"""A connection the load balancer keeps idle for its whole idle timeout is still served (issue 28, item 1).

The ALB keeps idle target connections for 60 s by default and reuses them; a service that closes
one first makes the ALB answer 502 (ELB guide, "Connection idle timeout": "configure the idle
timeout of your application to be larger than the idle timeout configured for the load
balancer"; kserve/kserve#5446). uvicorn's default keep-alive is 5 s. This holds one keep-alive
connection idle for longer than the ALB's 60 s, as the ALB would, and sends the next request on
it: the service must answer it, with the production settings and JSON logs, and the request-head
bound (REQUEST_HEAD_TIMEOUT, 10 s) must not have closed the idle connection either.
About 65 s: in `make reliability`, not `make test`.
"""

from __future__ import annotations

import json
import socket
import time
from typing import Any
from urllib.parse import urlsplit

from tests.e2e.conftest import ServiceFactory, production_env
from tests.reliability import report
from tests.support.canary import canary_payload
from tests.support.processes import wait_for
from tests.support.raw_http import read_response

ALB_IDLE_TIMEOUT = 60  # the stack's idle_timeout.timeout_seconds (tests/infra/test_keep_alive.py)
REQUEST = b"GET /health/live HTTP/1.1\r\nHost: short-cut\r\n\r\n"


def test_a_connection_idle_longer_than_the_albs_timeout_is_still_served(
    sm: Any, secret_name: str, moto_url: str, service: ServiceFactory
) -> None:
    sm.create_secret(Name=secret_name, SecretString=json.dumps(canary_payload()))
    process, url = service(production_env(secret_name, LOG_FORMAT="json"), endpoint=moto_url)
    wait_for(f"{url}/health")
    parts = urlsplit(url)
    with socket.create_connection((parts.hostname, parts.port), timeout=10) as sock:
        sock.sendall(REQUEST)
        first = read_response(sock)
        idle_from = time.monotonic()
        time.sleep(ALB_IDLE_TIMEOUT + 1.5)
        idle = time.monotonic() - idle_from
        try:
            sock.sendall(REQUEST)
            second = read_response(sock)
        except OSError as exc:
            second = f"{type(exc).__name__}".encode()
    served = first.startswith(b"HTTP/1.1 200 ") and second.startswith(b"HTTP/1.1 200 ")
    report.record(
        f"keep-alive connection idle {idle:.0f} s (> the ALB's {ALB_IDLE_TIMEOUT} s), then reused",
        "200 on the same connection",
        (second.split(b"\r\n", 1)[0] or b"closed by the service").decode(errors="replace"),
        served,
    )
    assert served, (first[:40], second[:40], process.output()[-2000:])
