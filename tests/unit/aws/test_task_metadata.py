"""The task ARN from the ECS task metadata endpoint v4, and the version line each task logs.

The endpoint's shape: `GET ${ECS_CONTAINER_METADATA_URI_V4}/task` returns the task's metadata
with `TaskARN` (https://docs.aws.amazon.com/AmazonECS/latest/developerguide/task-metadata-endpoint-v4-fargate.html).
A loopback server stands in for it.
"""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from src.aws import task_metadata

TASK_ARN = "arn:aws:ecs:us-east-1:123456789012:task/short-cut/158d1c8083dd49d6b527399fd6414f5c"
VERSION = "a1b2c3d4-5678-90ab-cdef-111122223333"


class MetadataEndpoint:
    def __init__(self) -> None:
        self.status = 200
        self.body: bytes = json.dumps({"Cluster": "short-cut", "TaskARN": TASK_ARN, "Family": "short-cut-api"}).encode()
        self.delay = 0.0
        self.paths: list[str] = []
        outer = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, format: str, *args: object) -> None:
                return

            def do_GET(self) -> None:
                outer.paths.append(self.path)
                time.sleep(outer.delay)
                self.send_response(outer.status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(outer.body)))
                self.end_headers()
                self.wfile.write(outer.body)

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        threading.Thread(target=self.server.serve_forever, daemon=True).start()
        # Fargate's value looks like http://169.254.170.2/v4/<container-id>.
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/v4/0123456789abcdef-1234"

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def endpoint(monkeypatch: pytest.MonkeyPatch) -> Iterator[MetadataEndpoint]:
    server = MetadataEndpoint()
    monkeypatch.setenv(task_metadata.ENV_VAR, server.url)
    task_metadata.reset()
    yield server
    task_metadata.reset()
    server.close()


def test_the_task_arn_comes_from_the_task_path_once(endpoint: MetadataEndpoint) -> None:
    assert task_metadata.task_arn() == TASK_ARN
    assert task_metadata.task_arn() == TASK_ARN
    assert endpoint.paths == ["/v4/0123456789abcdef-1234/task"]
    assert task_metadata.task_id(TASK_ARN) == "158d1c8083dd49d6b527399fd6414f5c"


def test_no_variable_no_lookup(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv(task_metadata.ENV_VAR, raising=False)
    task_metadata.reset()
    assert task_metadata.task_arn() is None
    assert task_metadata.task_id(None) is None


@pytest.mark.parametrize(
    ("status", "body"),
    [
        (500, b"{}"),
        (200, b"not json"),
        (200, b"[]"),
        (200, json.dumps({"TaskARN": "not-an-arn"}).encode()),
        (200, json.dumps({"Cluster": "x"}).encode()),
    ],
)
def test_a_failing_endpoint_gives_none(endpoint: MetadataEndpoint, status: int, body: bytes) -> None:
    endpoint.status, endpoint.body = status, body
    assert task_metadata.task_arn() is None


def test_a_hanging_endpoint_costs_at_most_the_timeout(endpoint: MetadataEndpoint) -> None:
    endpoint.delay = 2.0
    started = time.monotonic()
    assert task_metadata.task_arn(timeout=0.2) is None
    assert time.monotonic() - started < 1.0


def test_a_proxy_setting_does_not_route_the_link_local_call(
    endpoint: MetadataEndpoint, monkeypatch: pytest.MonkeyPatch
) -> None:
    # urllib would send this through HTTP_PROXY; the metadata endpoint is only reachable directly.
    monkeypatch.setenv("HTTP_PROXY", "http://127.0.0.1:9")
    monkeypatch.setenv("http_proxy", "http://127.0.0.1:9")
    assert task_metadata.task_arn() == TASK_ARN


def test_unreachable_endpoint_gives_none(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(task_metadata.ENV_VAR, "http://127.0.0.1:9/v4/x")
    task_metadata.reset()
    assert task_metadata.task_arn() is None
    task_metadata.reset()


def test_prefetch_warms_the_cache(endpoint: MetadataEndpoint) -> None:
    task_metadata.prefetch()
    deadline = time.monotonic() + 5
    while not endpoint.paths and time.monotonic() < deadline:
        time.sleep(0.01)
    assert task_metadata.task_arn() == TASK_ARN
    assert len(endpoint.paths) == 1


def test_outside_ecs_there_is_no_task(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv(task_metadata.ENV_VAR, raising=False)
    task_metadata.reset()
    assert task_metadata.task_arn() is None and task_metadata.task_id(None) is None
