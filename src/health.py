"""Health routes. They render the status held in memory and never compute it:
no AWS call, no thread pool, one cached body per status snapshot.
"""

from __future__ import annotations

import json
from collections.abc import Callable

from fastapi import APIRouter
from fastapi.responses import Response

from src.secrets_manager import SecretStatus


def overall(status: SecretStatus) -> str:
    if not status.loaded:
        return "unavailable"
    return "degraded" if status.error is not None else "ok"


class HealthRenderer:
    """Builds the /health body, re-rendering only when the status snapshot changes."""

    def __init__(self, status: Callable[[], SecretStatus], *, app_env: str, version: str) -> None:
        self._status = status
        self._app_env = app_env
        self._version = version
        self._cache: tuple[SecretStatus, int, bytes] | None = None

    def render(self) -> tuple[int, bytes]:
        status = self._status()
        cached = self._cache
        if cached is not None and cached[0] is status:
            return cached[1], cached[2]
        state = overall(status)
        body = json.dumps(
            {"status": state, "app_env": self._app_env, "version": self._version, "secrets": status.public()},
            separators=(",", ":"),
        ).encode()
        code = 503 if state == "unavailable" else 200
        self._cache = (status, code, body)
        return code, body


def health_router(renderer: HealthRenderer) -> APIRouter:
    router = APIRouter(tags=["health"])

    @router.get(
        "/health",
        summary="Readiness: 200 when the secrets are loaded, 503 when not",
        responses={200: {"description": "ok or degraded"}, 503: {"description": "secrets not loaded"}},
    )
    async def health() -> Response:
        code, body = renderer.render()
        return Response(content=body, status_code=code, media_type="application/json")

    @router.get("/health/live", summary="Liveness: 200 while the process serves")
    async def live() -> Response:
        return Response(content=b'{"status":"alive"}', media_type="application/json")

    return router
