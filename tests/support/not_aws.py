"""A loopback endpoint that is not AWS: every call gets `404` and an HTML page, as an emulator
answers an API it does not implement (moto_server, a proxy's error page). Optionally STS's
GetCallerIdentity is answered as AWS would, so that `audit --aws` reaches its other checks."""

from __future__ import annotations

import http.server
import threading
from collections.abc import Iterator
from contextlib import contextmanager

PAGE = (
    b"<!DOCTYPE html>\n<html>\n<head><title>404 Not Found</title></head>\n<body>\n<h1>Not Found</h1>\n"
    b"<p>The requested URL was not found on the server. If you entered the URL manually please check"
    b" your spelling and try again.</p>\n</body>\n</html>\n"
)
CALLER = (
    b'<GetCallerIdentityResponse xmlns="https://sts.amazonaws.com/doc/2011-06-15/"><GetCallerIdentityResult>'
    b"<Arn>arn:aws:iam::123456789012:user/operator</Arn><UserId>AIDAEXAMPLE</UserId><Account>123456789012</Account>"
    b"</GetCallerIdentityResult><ResponseMetadata><RequestId>1</RequestId></ResponseMetadata></GetCallerIdentityResponse>"
)


@contextmanager
def html_endpoint(*, answer_sts: bool = False) -> Iterator[str]:
    class Handler(http.server.BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            body = self.rfile.read(int(self.headers.get("content-length") or 0))
            if answer_sts and b"Action=GetCallerIdentity" in body:
                self._answer(200, "text/xml", CALLER)
            else:
                self._answer(404, "text/html", PAGE)

        do_GET = do_PUT = do_DELETE = do_POST

        def _answer(self, status: int, kind: str, body: bytes) -> None:
            self.send_response(status)
            self.send_header("content-type", kind)
            self.send_header("content-length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *_: object) -> None:
            pass

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_port}"
    finally:
        server.shutdown()
        server.server_close()
