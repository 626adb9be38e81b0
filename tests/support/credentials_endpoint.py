"""A loopback stand-in for the ECS container credentials endpoint
(AWS_CONTAINER_CREDENTIALS_FULL_URI), serving credentials the way ECS does.

Modes: "ok" (temporary credentials expiring an hour ahead), "garbage" (a body
that is not JSON), "down" (the listening socket is closed: connection refused).
"""

from __future__ import annotations

import json
import threading
from datetime import UTC, datetime, timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

PATH = "/v2/credentials/short-cut-task"


class CredentialsEndpoint:
    def __init__(self) -> None:
        self.mode = "ok"
        self.requests = 0
        endpoint = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, format: str, *args: object) -> None:
                return

            def do_GET(self) -> None:
                endpoint.requests += 1
                if endpoint.mode == "garbage":
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
        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.port = self._server.server_address[1]
        self._thread: threading.Thread | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}{PATH}"

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
        self._server = ThreadingHTTPServer(("127.0.0.1", self.port), self._handler)
        self.start()
