"""Container health probe: exit 0 when GET /health answers 200, else 1.

Standard library only, so it runs in the slim image (no curl) as the Docker
HEALTHCHECK, the compose healthcheck and the ECS container healthCheck:
`python /app/src/healthcheck.py`. PORT is the service's port (default 8000).
"""

from __future__ import annotations

import os
import sys
import urllib.error
import urllib.request


def probe(url: str, timeout: float = 3.0) -> int:
    try:
        with urllib.request.urlopen(url, timeout=timeout) as response:  # noqa: S310 - fixed loopback URL
            return 0 if response.status == 200 else 1
    except (urllib.error.URLError, OSError):
        return 1


def main() -> int:
    port = os.environ.get("PORT", "8000")
    path = sys.argv[1] if len(sys.argv) > 1 else "/health"
    return probe(f"http://127.0.0.1:{port}{path}")


if __name__ == "__main__":
    sys.exit(main())
