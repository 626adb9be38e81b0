"""Container health probe: exit 0 when GET /health answers 200, else 1.

Standard library only, so it runs in the slim image (no curl) as the Docker
HEALTHCHECK, the compose healthcheck and the ECS container healthCheck:
`python /app/src/healthcheck.py`. PORT is the service's port (default 8000).

http.client, not urllib: urllib would send 127.0.0.1 through HTTP_PROXY when a task
definition sets one, and every task would be marked unhealthy.
"""

from __future__ import annotations

import http.client
import os
import sys
from urllib.parse import urlsplit


def probe(url: str, timeout: float = 3.0) -> int:
    parts = urlsplit(url)
    connection = http.client.HTTPConnection(parts.hostname or "127.0.0.1", parts.port or 80, timeout=timeout)
    try:
        connection.request("GET", parts.path or "/")
        return 0 if connection.getresponse().status == 200 else 1
    except (OSError, http.client.HTTPException):
        return 1
    finally:
        connection.close()


def main() -> int:
    port = os.environ.get("PORT", "8000")
    path = sys.argv[1] if len(sys.argv) > 1 else "/health"
    return probe(f"http://127.0.0.1:{port}{path}")


if __name__ == "__main__":
    sys.exit(main())
