"""Health routes. They render the status held in memory and never compute it:
no AWS call, no thread pool, and the body is re-rendered only when the status
changes or the second ticks over (the age of the values is part of it).

Who sees what is decided on the raw socket peer, never on a header such as
X-Forwarded-For (entrypoint.sh also runs uvicorn with --no-proxy-headers, so the
peer uvicorn reports is the socket's). In staging and production a peer outside
127.0.0.0/8 and ::1 gets the minimal body: status, app_env, version, and whether
the secrets are loaded, their age and an error code. Names, version ids, keys,
AWS's messages (which name the account and role) and hints go to loopback peers
only: the container health check and `curl` through ECS Exec. HEALTH_DETAILS
overrides this (see Settings.health_full_for).

The full body also shows the event source (src.events.source): `events.state` is off, starting,
ok, failing or blind, with the error code and its hint. It never changes `status`: a failing
event source only loses the speed-up, and the timed refresh goes on (every
SECRETS_EVENTS_FALLBACK_INTERVAL seconds while blind). The minimal body omits it.
"""

from __future__ import annotations

import functools
import ipaddress
import json
import time
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import Response

from src.events.source import OFF, EventSourceState
from src.secret.status import SecretStatus


@functools.lru_cache(maxsize=1024)  # per request on the probe path; peers are few
def is_loopback(host: str | None) -> bool:
    """Whether a socket peer address is loopback (127.0.0.0/8, ::1, or ::ffff:127.x)."""
    if not host:
        return False
    try:
        address = ipaddress.ip_address(host.split("%", 1)[0])
    except ValueError:
        return False
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
        return address.ipv4_mapped.is_loopback
    return address.is_loopback


def overall(status: SecretStatus, *, max_staleness: float = float("inf"), now: datetime | None = None) -> str:
    """ok: loaded and current; degraded: serving the last good values after a failure, or
    example credentials in staging/production; unavailable: nothing loaded, or a failure has
    lasted past max_staleness."""
    if not status.loaded:
        return "unavailable"
    if status.problem is None:
        return "ok"
    age = status.age_seconds(now)
    return "unavailable" if age is not None and age > max_staleness else "degraded"


class HealthRenderer:
    def __init__(
        self,
        status: Callable[[], SecretStatus],
        *,
        app_env: str,
        version: str,
        max_staleness: float = float("inf"),
        events: Callable[[], EventSourceState] | None = None,
    ) -> None:
        self._status = status
        self._events = events or (lambda: OFF)
        self._app_env = app_env
        self._version = version
        self._max_staleness = max_staleness
        self._cache: dict[bool, tuple[SecretStatus, EventSourceState, int, int, bytes]] = {}

    def render(self, *, full: bool = True) -> tuple[int, bytes]:
        status, events = self._status(), self._events()
        second = int(time.monotonic())
        cached = self._cache.get(full)
        if cached is not None and cached[0] is status and cached[1] is events and cached[2] == second:
            return cached[3], cached[4]
        now = datetime.now(UTC)
        state = overall(status, max_staleness=self._max_staleness, now=now)
        secrets = status.full(now) if full else status.minimal(now)
        document = {"status": state, "app_env": self._app_env, "version": self._version, "secrets": secrets}
        if full:
            document["events"] = events.view()
        body = json.dumps(document, separators=(",", ":")).encode()
        code = 503 if state == "unavailable" else 200
        self._cache[full] = (status, events, second, code, body)
        return code, body


def health_router(renderer: HealthRenderer, *, full_for: Callable[[bool], bool], documented: bool = True) -> APIRouter:
    """`full_for(loopback)` decides, per request, whether the peer sees the full body.

    `documented=False` (docs off: staging, production) skips the response models, which only
    the OpenAPI document reads: defining and building them costs about 50 ms of CPU on the path to ready.
    """
    router = APIRouter(tags=["health"])
    health_responses: dict[int | str, dict[str, Any]] | None = None
    live_responses: dict[int | str, dict[str, Any]] | None = None
    if documented:
        from src.web.health_models import HealthBody, LiveBody, MinimalHealthBody

        body_model = HealthBody | MinimalHealthBody
        health_responses = {
            200: {"model": body_model, "description": "ok or degraded"},
            503: {"model": body_model, "description": "secrets not loaded, or too stale"},
        }
        live_responses = {200: {"model": LiveBody, "description": "alive"}}

    @router.get(
        "/health",
        summary="Readiness: 200 when the secrets are loaded, 503 when not",
        description="The full body goes to loopback peers (and to everyone in local mode); others get the minimal one.",
        response_model=None,
        responses=health_responses,
    )
    async def health(request: Request) -> Response:
        client = request.scope.get("client")
        code, body = renderer.render(full=full_for(is_loopback(client[0] if client else None)))
        return Response(content=body, status_code=code, media_type="application/json")

    @router.get(
        "/health/live",
        summary="Liveness: 200 while the process serves",
        response_model=None,
        responses=live_responses,
    )
    async def live() -> Response:
        return Response(content=b'{"status":"alive"}', media_type="application/json")

    return router
