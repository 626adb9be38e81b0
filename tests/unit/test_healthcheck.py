"""src/healthcheck.py against a real HTTP server on loopback: exit 0 only for a 200, 1 for anything else.

The probe is the container's health check command (Dockerfile HEALTHCHECK, compose, and the ECS
task definition's `healthCheck`). ECS reads its exit code: "An exit code of 0 indicates success,
and non-zero exit code indicates failure"
(https://docs.aws.amazon.com/AmazonECS/latest/APIReference/API_HealthCheck.html).
"""

from __future__ import annotations

import socket
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from src import healthcheck
from tests.support.processes import ROOT

Serve = Callable[[dict[str, int]], tuple[int, list[str]]]


@pytest.fixture
def serve() -> Iterator[Serve]:
    """Start loopback servers answering `routes` (path -> status, 404 otherwise); returns port and paths asked."""
    servers: list[ThreadingHTTPServer] = []

    def start(routes: dict[str, int]) -> tuple[int, list[str]]:
        asked: list[str] = []

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                asked.append(self.path)
                status = routes.get(self.path, 404)
                body = b'{"status":"ok"}' if status == 200 else b'{"status":"unavailable"}'
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, format: str, *args: object) -> None:
                pass

        server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        servers.append(server)
        threading.Thread(target=server.serve_forever, daemon=True).start()
        return server.server_address[1], asked

    yield start
    for server in servers:
        server.shutdown()
        server.server_close()


def closed_port() -> int:
    """A loopback port nothing listens on: bound, then released."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
    return port


@pytest.mark.parametrize(("status", "code"), [(200, 0), (503, 1), (500, 1), (404, 1), (204, 1)])
def test_only_a_200_is_healthy(serve: Serve, status: int, code: int) -> None:
    port, asked = serve({"/health": status})
    assert healthcheck.probe(f"http://127.0.0.1:{port}/health") == code
    assert asked == ["/health"]


def test_nothing_listening_is_unhealthy() -> None:
    assert healthcheck.probe(f"http://127.0.0.1:{closed_port()}/health", timeout=2.0) == 1


def test_a_server_that_never_answers_is_unhealthy_within_the_timeout() -> None:
    # The kernel completes the connection (listen backlog) but nobody ever reads or answers:
    # only the read timeout ends the probe, so a hung service cannot hang its health check.
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        sock.listen(1)
        started = time.monotonic()
        assert healthcheck.probe(f"http://127.0.0.1:{sock.getsockname()[1]}/health", timeout=0.5) == 1
        assert time.monotonic() - started < 3.0


def test_main_probes_port_from_the_environment_and_the_path_from_argv(
    serve: Serve, monkeypatch: pytest.MonkeyPatch
) -> None:
    port, asked = serve({"/health": 200, "/ready": 503})
    monkeypatch.setenv("PORT", str(port))
    monkeypatch.setattr(sys, "argv", ["healthcheck.py"])
    assert healthcheck.main() == 0
    monkeypatch.setattr(sys, "argv", ["healthcheck.py", "/ready"])
    assert healthcheck.main() == 1
    assert asked == ["/health", "/ready"]


def test_main_defaults_to_port_8000_on_loopback(monkeypatch: pytest.MonkeyPatch) -> None:
    urls: list[str] = []

    def record(url: str, timeout: float = 3.0) -> int:
        urls.append(url)
        return 0

    monkeypatch.delenv("PORT", raising=False)
    monkeypatch.setattr(sys, "argv", ["healthcheck.py"])
    monkeypatch.setattr(healthcheck, "probe", record)
    assert healthcheck.main() == 0
    assert urls == ["http://127.0.0.1:8000/health"]


@pytest.mark.parametrize(("status", "code"), [(200, 0), (503, 1)])
def test_the_script_runs_as_the_image_runs_it_with_the_standard_library_only(
    serve: Serve, status: int, code: int
) -> None:
    # `python /app/src/healthcheck.py`: run as a script, not a module. -S: no site-packages, so an
    # import of anything outside the standard library (the slim image has no curl, and the check
    # must not depend on the venv) fails here. -I: no PYTHON* variables, no cwd on the path.
    port, asked = serve({"/health": status})
    result = subprocess.run(
        [sys.executable, "-I", "-S", str(ROOT / "src/healthcheck.py")],
        env={"PORT": str(port)},
        capture_output=True,
        text=True,
        timeout=30,
        check=False,
    )
    assert result.returncode == code, result.stderr
    assert asked == ["/health"]
    assert result.stdout == "" and result.stderr == ""


def test_a_proxy_in_the_environment_is_never_used(serve: Serve, monkeypatch: pytest.MonkeyPatch) -> None:
    """A task definition with an egress proxy must not route the loopback probe through it."""
    port, asked = serve({"/health": 200})
    dead_proxy = f"http://127.0.0.1:{closed_port()}"
    for name in ("HTTP_PROXY", "http_proxy", "ALL_PROXY"):
        monkeypatch.setenv(name, dead_proxy)
    monkeypatch.delenv("NO_PROXY", raising=False)
    monkeypatch.delenv("no_proxy", raising=False)
    assert healthcheck.probe(f"http://127.0.0.1:{port}/health") == 0
    assert asked == ["/health"]
