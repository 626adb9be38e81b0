"""A stand-in for the ECS container credentials endpoint, serving credentials the way ECS does.

By default it listens on a free loopback port for AWS_CONTAINER_CREDENTIALS_FULL_URI. Given
host="169.254.170.2", port=80 (an address the caller has put on `lo`), it is where the SDKs send
AWS_CONTAINER_CREDENTIALS_RELATIVE_URI, exactly as the ECS agent serves task-role credentials
(https://docs.aws.amazon.com/AmazonECS/latest/developerguide/task-iam-roles.html).

Modes: "ok" (temporary credentials expiring an hour ahead), "garbage" (a body
that is not JSON), "down" (the listening socket is closed: connection refused).
`requests` counts GETs and `paths` records the path of each, so a test can tell which route
a client took. Given `task_metadata`, paths under /v4/ answer as the task metadata endpoint v4
does on the same address (`.../task` returns it).
"""

from __future__ import annotations

import json
import threading
from datetime import UTC, datetime, timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

PATH = "/v2/credentials/short-cut-task"
ECS_CREDENTIALS_HOST = "169.254.170.2"


class CredentialsEndpoint:
    def __init__(
        self, host: str = "127.0.0.1", port: int = 0, path: str = PATH, task_metadata: dict[str, str] | None = None
    ) -> None:
        self.mode = "ok"
        self.requests = 0
        self.paths: list[str] = []
        self.host = host
        self.path = path
        endpoint = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, format: str, *args: object) -> None:
                return

            def do_GET(self) -> None:
                endpoint.requests += 1
                endpoint.paths.append(self.path)
                if task_metadata is not None and self.path.startswith("/v4/"):
                    body = json.dumps(task_metadata if self.path.endswith("/task") else {}).encode()
                elif endpoint.mode == "garbage":
                    body = b"<html>not credentials</html>"
                else:
                    expiry = datetime.now(UTC) + timedelta(hours=1)
                    body = json.dumps(
                        {
                            "AccessKeyId": "ASIATESTTESTTESTTEST",
                            "SecretAccessKey": "testing-secret-access-key",
                            "Token": "testing-session-token",
                            "Expiration": expiry.strftime("%Y-%m-%dT%H:%M:%SZ"),
                            "RoleArn": "arn:aws:iam::123456789012:role/shortcut-ecs-task-role",
                        }
                    ).encode()
                self.send_response(200)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

        self._handler = Handler
        self._server = ThreadingHTTPServer((host, port), Handler)
        self.port = self._server.server_address[1]
        self._thread: threading.Thread | None = None

    @property
    def url(self) -> str:
        """The full URI (AWS_CONTAINER_CREDENTIALS_FULL_URI)."""
        return f"http://{self.host}:{self.port}{self.path}"

    def start(self) -> CredentialsEndpoint:
        self._server.daemon_threads = True
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        self._server.shutdown()
        self._server.server_close()

    def go_down(self) -> None:
        self.stop()

    def come_back(self) -> None:
        """Listen again on the same port."""
        self._server = ThreadingHTTPServer((self.host, self.port), self._handler)
        self.start()
