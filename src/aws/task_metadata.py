"""Which ECS task this process is, and the one log line per secret version a task reports.

Contract:
- `task_arn()` returns the task ARN from the ECS task metadata endpoint v4
  (`GET ${ECS_CONTAINER_METADATA_URI_V4}/task` -> `TaskARN`), or None when the
  variable is absent (local, compose) or the endpoint fails. One lookup per
  process, with a short timeout, cached (a task's ARN never changes); `prefetch()`
  starts it in a daemon thread so no load waits for it.
- The task ARN goes into the served-version record (src.telemetry.served_version), which
  src.secrets_manager writes; this module only knows which task this is.

The endpoint is plain HTTP on a link-local address: http.client is used directly,
so an HTTP(S)_PROXY variable (which urllib would honour) never routes it elsewhere.
"""

from __future__ import annotations

import http.client
import json
import os
import re
import threading
from collections.abc import Mapping
from typing import Any
from urllib.parse import urlsplit

ENV_VAR = "ECS_CONTAINER_METADATA_URI_V4"
TIMEOUT = 1.0
_TASK_ARN = re.compile(r"arn:aws[a-z-]*:ecs:[a-z0-9-]+:[0-9]{12}:task/[A-Za-z0-9_/-]+")

_lock = threading.Lock()
_looked_up = False
_arn: str | None = None


def task_document(base_url: str, *, timeout: float = TIMEOUT) -> dict[str, Any] | None:
    """GET <base_url>/task (the task metadata v4 document); None on any failure."""
    parts = urlsplit(base_url)
    if parts.scheme != "http" or not parts.hostname:
        return None
    connection = http.client.HTTPConnection(parts.hostname, parts.port or 80, timeout=timeout)
    try:
        connection.request("GET", parts.path.rstrip("/") + "/task")
        response = connection.getresponse()
        body = response.read(1_000_000)
        if response.status != 200:
            return None
        document = json.loads(body)
    except (OSError, http.client.HTTPException, ValueError):
        return None
    finally:
        connection.close()
    return document if isinstance(document, dict) else None


def fetch_task_arn(base_url: str, *, timeout: float = TIMEOUT) -> str | None:
    """GET <base_url>/task and return its TaskARN; None on any failure."""
    arn = (task_document(base_url, timeout=timeout) or {}).get("TaskARN")
    return arn if isinstance(arn, str) and _TASK_ARN.fullmatch(arn) else None


def task_arn(*, environ: Mapping[str, str] | None = None, timeout: float = TIMEOUT) -> str | None:
    """This task's ARN, looked up once per process (None outside ECS or if the endpoint failed)."""
    global _looked_up, _arn
    with _lock:
        if not _looked_up:
            base = (os.environ if environ is None else environ).get(ENV_VAR, "").strip()
            _arn = fetch_task_arn(base, timeout=timeout) if base else None
            _looked_up = True
        return _arn


def prefetch() -> None:
    """Look the ARN up in the background now, so the first version line does not wait."""
    if os.environ.get(ENV_VAR):
        threading.Thread(target=task_arn, name="task-metadata", daemon=True).start()


def reset() -> None:
    """Forget the cached lookup (tests)."""
    global _looked_up, _arn
    with _lock:
        _looked_up, _arn = False, None


def task_id(arn: str | None) -> str | None:
    """The task id, the ARN's last segment (the same id ends the awslogs stream name)."""
    return arn.rsplit("/", 1)[-1] if arn else None
