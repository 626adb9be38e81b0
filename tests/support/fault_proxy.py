"""A loopback HTTP proxy in front of moto_server that injects AWS faults on command.

Faults: an AWS error response (any code, optionally for the next N requests only),
a slow answer (to trip read timeouts), a connection closed mid-response, and a
connection dropped with no answer at all (the client sees the endpoint as unreachable).
A fault may be limited to the requests signed for one Region: the SigV4 credential
scope (`Credential=<key>/<date>/<region>/<service>/aws4_request` in the Authorization
header) names the Region a client means, whatever endpoint URL it sends to, and
moto_server routes by that same scope; so one proxy in front of one moto_server can
fail the primary Region and pass its replica's.
It also counts requests by X-Amz-Target (and by Region), so tests count AWS calls on the wire.
"""

from __future__ import annotations

import http.client
import json
import re
import socket
import threading
import time
from collections import Counter
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import urlsplit

SERVER_ERRORS = {"InternalServiceError": 500, "ServiceUnavailable": 503}


@dataclass
class Fault:
    kind: str  # "error", "slow", "close", "drop", "rate" (ThrottlingException above `rate` requests/s)
    code: str = ""
    remaining: int | None = None  # None: until cleared
    delay: float = 0.0
    actions: tuple[str, ...] = ()  # empty: every action
    rate: float = 0.0
    region: str | None = None  # None: every Region; else only requests signed for this one


_SCOPE = re.compile(r"Credential=[^/,\s]+/\d{8}/(?P<region>[a-z0-9-]+)/")


def signed_region(authorization: str) -> str | None:
    """The Region in a SigV4 Authorization header's credential scope, or None if unsigned."""
    found = _SCOPE.search(authorization or "")
    return found.group("region") if found else None


class FaultProxy:
    def __init__(self, upstream: str, port: int = 0) -> None:
        parts = urlsplit(upstream)
        self._window: list[float] = []
        self.upstream = (parts.hostname or "127.0.0.1", parts.port or 80)
        self.calls: Counter[str] = Counter()
        self.region_calls: Counter[tuple[str, str]] = Counter()  # (region, action)
        self._fault: Fault | None = None
        self._lock = threading.Lock()
        proxy = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, format: str, *args: object) -> None:
                return

            def do_POST(self) -> None:
                try:
                    proxy.handle(self)
                except (BrokenPipeError, ConnectionResetError):
                    # The client gave up (a timeout the test asked for): nothing to answer.
                    self.close_connection = True

            do_GET = do_POST

        self._server = ThreadingHTTPServer(("127.0.0.1", port), Handler)
        self._server.daemon_threads = True
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self._server.server_address[1]}"

    def start(self) -> FaultProxy:
        self._thread.start()
        return self

    def stop(self) -> None:
        self._server.shutdown()
        self._server.server_close()

    def set_fault(self, fault: Fault | None) -> None:
        with self._lock:
            self._fault = fault

    def clear(self) -> None:
        self.set_fault(None)

    def _take_fault(self, action: str, region: str | None) -> Fault | None:
        with self._lock:
            fault = self._fault
            if fault is None or (fault.actions and action not in fault.actions):
                return None
            if fault.region is not None and region != fault.region:
                return None
            if fault.kind == "rate":
                now = time.monotonic()
                self._window = [t for t in self._window if now - t < 1.0]
                if len(self._window) < fault.rate:
                    self._window.append(now)
                    return None
                return Fault("error", "ThrottlingException")
            if fault.remaining is not None:
                fault.remaining -= 1
                if fault.remaining <= 0:
                    self._fault = None
            return fault

    def handle(self, request: BaseHTTPRequestHandler) -> None:
        length = int(request.headers.get("Content-Length") or 0)
        body = request.rfile.read(length) if length else b""
        action = (request.headers.get("X-Amz-Target") or "").rsplit(".", 1)[-1] or request.path
        region = signed_region(request.headers.get("Authorization") or "")
        with self._lock:
            self.calls[action] += 1
            self.region_calls[(region or "", action)] += 1
        fault = self._take_fault(action, region)
        if fault is not None and fault.kind == "drop":
            # No answer at all: botocore sees the connection closed before a response (unreachable).
            request.connection.shutdown(socket.SHUT_RDWR)
            request.close_connection = True
            return
        if fault is not None and fault.kind == "error":
            payload = json.dumps({"__type": fault.code, "message": f"injected {fault.code}"}).encode()
            request.send_response(SERVER_ERRORS.get(fault.code, 400))
            request.send_header("Content-Type", "application/x-amz-json-1.1")
            request.send_header("x-amzn-ErrorType", fault.code)
            request.send_header("Content-Length", str(len(payload)))
            request.end_headers()
            request.wfile.write(payload)
            return
        if fault is not None and fault.kind == "slow":
            time.sleep(fault.delay)
        upstream = http.client.HTTPConnection(*self.upstream, timeout=30)
        headers = {k: v for k, v in request.headers.items() if k.lower() not in ("host", "connection")}
        upstream.request(request.command, request.path, body=body, headers=headers)
        response = upstream.getresponse()
        data = response.read()
        upstream.close()
        request.send_response(response.status)
        for key, value in response.getheaders():
            if key.lower() not in ("content-length", "connection", "transfer-encoding", "server", "date"):
                request.send_header(key, value)
        request.send_header("Content-Length", str(len(data)))
        request.end_headers()
        if fault is not None and fault.kind == "close":
            request.wfile.write(data[: len(data) // 2])
            request.wfile.flush()
            request.connection.shutdown(socket.SHUT_RDWR)
            request.close_connection = True
            return
        request.wfile.write(data)
