"""Health routes. They render the status held in memory and never compute it:
no AWS call, no thread pool, and the body is re-rendered only when the status
changes or the second ticks over (the age of the values is part of it).
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Literal

from fastapi import APIRouter
from fastapi.responses import Response
from pydantic import BaseModel

from src.secrets_manager import SecretStatus


class HealthError(BaseModel):
    code: str
    message: str
    hint: str


class SecretsHealth(BaseModel):
    loaded: bool
    source: Literal["aws-secrets-manager", "environment"]
    secret_names: list[str]
    version_ids: dict[str, str]
    keys: list[str]
    missing: list[str]
    overridden: list[str]
    warnings: list[str]
    loaded_at: str | None
    last_refresh_at: str | None
    next_refresh_at: str | None
    age_seconds: int | None
    error: HealthError | None


class HealthBody(BaseModel):
    """The documented shape of /health; the body itself is pre-rendered bytes (see HealthRenderer)."""

    status: Literal["ok", "degraded", "unavailable"]
    app_env: str
    version: str
    secrets: SecretsHealth


class LiveBody(BaseModel):
    status: Literal["alive"]


def overall(status: SecretStatus, *, max_staleness: float = float("inf"), now: datetime | None = None) -> str:
    """ok: loaded and current; degraded: serving the last good values after a failure;
    unavailable: nothing loaded, or a failure has lasted past max_staleness."""
    if not status.loaded:
        return "unavailable"
    if status.error is None:
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
    ) -> None:
        self._status = status
        self._app_env = app_env
        self._version = version
        self._max_staleness = max_staleness
        self._cache: tuple[SecretStatus, int, int, bytes] | None = None

    def render(self) -> tuple[int, bytes]:
        status = self._status()
        second = int(time.monotonic())
        cached = self._cache
        if cached is not None and cached[0] is status and cached[1] == second:
            return cached[2], cached[3]
        now = datetime.now(UTC)
        state = overall(status, max_staleness=self._max_staleness, now=now)
        secrets = status.public()
        age = status.age_seconds(now)
        secrets["age_seconds"] = round(age) if age is not None else None
        body = json.dumps(
            {"status": state, "app_env": self._app_env, "version": self._version, "secrets": secrets},
            separators=(",", ":"),
        ).encode()
        code = 503 if state == "unavailable" else 200
        self._cache = (status, second, code, body)
        return code, body


def health_router(renderer: HealthRenderer) -> APIRouter:
    router = APIRouter(tags=["health"])

    @router.get(
        "/health",
        summary="Readiness: 200 when the secrets are loaded, 503 when not",
        response_model=None,
        responses={
            200: {"model": HealthBody, "description": "ok or degraded"},
            503: {"model": HealthBody, "description": "secrets not loaded, or too stale"},
        },
    )
    async def health() -> Response:
        code, body = renderer.render()
        return Response(content=body, status_code=code, media_type="application/json")

    @router.get(
        "/health/live",
        summary="Liveness: 200 while the process serves",
        response_model=None,
        responses={200: {"model": LiveBody, "description": "alive"}},
    )
    async def live() -> Response:
        return Response(content=b'{"status":"alive"}', media_type="application/json")

    return router
