"""Half-sent requests through ./entrypoint.sh, on real sockets (issue 29, item 1).

uvicorn arms a timer only after a response: a connection that never finishes its request head
was held for as long as the peer liked, and a few hundred of them took the task's file
descriptors and then its health probe. The service now closes a connection whose head is not
in within REQUEST_HEAD_TIMEOUT (src/web/http_protocol.py), with 408 when part of a head came,
while /health/live keeps answering.
"""

from __future__ import annotations

import socket
import time
from urllib.parse import urlsplit

import httpx

from tests.e2e.conftest import ServiceFactory
from tests.support.processes import wait_for
from tests.support.raw_http import read_response

BOUND = 2.0  # REQUEST_HEAD_TIMEOUT for these tests; the default is 10, the maximum 30
SLACK = 8.0  # two shared cores: the event loop may be late
CONNECTIONS = 200
PARTIAL = b"GET /health/live HTTP/1.1\r\nHost: short-cut\r\nX-Slow: "  # never the blank line


def start(service: ServiceFactory) -> tuple[str, tuple[str, int]]:
    _, url = service({"APP_ENV": "local", "REQUEST_HEAD_TIMEOUT": str(BOUND), "LOG_FORMAT": "json"})
    wait_for(f"{url}/health/live")
    parts = urlsplit(url)
    return url, (parts.hostname or "127.0.0.1", parts.port or 80)


def until_closed(sock: socket.socket, deadline: float) -> bytes:
    """Everything the server sends until it closes; TimeoutError if it is still open at `deadline`."""
    received = b""
    while True:
        sock.settimeout(max(0.05, deadline - time.monotonic()))
        try:
            chunk = sock.recv(4096)
        except ConnectionResetError:
            return received
        except TimeoutError:
            raise TimeoutError(f"still open {BOUND + SLACK:.0f} s after the head began: {received!r}") from None
        if not chunk:
            return received
        received += chunk


def test_half_sent_requests_are_closed_and_live_keeps_answering(service: ServiceFactory) -> None:
    url, address = start(service)
    sockets: list[socket.socket] = []
    try:
        began = time.monotonic()
        for i in range(CONNECTIONS):
            sock = socket.create_connection(address, timeout=5)
            if i % 2:
                sock.sendall(PARTIAL)  # half a head; the others send nothing at all
            sockets.append(sock)
        # With all of them open, the liveness probe is served at once.
        answer = httpx.get(f"{url}/health/live", timeout=5)
        assert answer.status_code == 200 and answer.json() == {"status": "alive"}
        deadline = began + BOUND + SLACK
        for i, sock in enumerate(sockets):
            received = until_closed(sock, deadline)
            if i % 2:
                assert received.startswith(b"HTTP/1.1 408 "), received
            else:
                assert received == b""
        assert time.monotonic() - began >= BOUND * 0.9  # not closed before the bound
        assert httpx.get(f"{url}/health/live", timeout=5).status_code == 200
    finally:
        for sock in sockets:
            sock.close()


def test_a_kept_alive_connection_gets_the_same_bound_for_its_next_head(service: ServiceFactory) -> None:
    # After a response uvicorn arms its keep-alive timer, and cancels it on the next byte: a head
    # begun on a kept-alive connection was then never bounded at all.
    _, address = start(service)
    with socket.create_connection(address, timeout=5) as sock:
        sock.sendall(b"GET /health/live HTTP/1.1\r\nHost: short-cut\r\n\r\n")
        first = read_response(sock)
        assert first.startswith(b"HTTP/1.1 200 ") and first.endswith(b'{"status":"alive"}')
        sock.sendall(PARTIAL)
        began = time.monotonic()
        assert until_closed(sock, began + BOUND + SLACK).startswith(b"HTTP/1.1 408 ")


def test_a_head_sent_in_pieces_within_the_bound_is_served(service: ServiceFactory) -> None:
    _, address = start(service)
    with socket.create_connection(address, timeout=5) as sock:
        for piece in (b"GET /health/live HT", b"TP/1.1\r\nHost: short", b"-cut\r\n", b"\r\n"):
            sock.sendall(piece)
            time.sleep(BOUND / 8)
        assert read_response(sock).startswith(b"HTTP/1.1 200 ")
