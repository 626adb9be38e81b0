"""The shapes of the /health bodies, for the OpenAPI document only.

The bodies themselves are pre-rendered bytes (src.web.health.HealthRenderer, from
src.secret.status.SecretStatus); these models describe them where docs are served (local
and test modes). src.web.health imports this module only then: defining the models
costs CPU on the path to ready that staging and production would not use.
"""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel


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
    ignored: list[str]
    warnings: list[str]
    loaded_at: str | None
    last_refresh_at: str | None
    next_refresh_at: str | None
    age_seconds: int | None
    # The Region the values in use were read from (the replica's while failed over), the task's
    # own Region, and per secret name its Region; None and {} for values from the environment.
    region: str | None
    primary_region: str | None
    regions: dict[str, str]
    error: HealthError | None


class EventsHealth(BaseModel):
    """The event source (src.events.source); `failing` and `blind` never change the overall status."""

    state: Literal["off", "starting", "ok", "failing", "blind"]
    error: str | None
    hint: str | None
    last_event_at: str | None
    # Events that woke the refresh (each a look, not necessarily a new version).
    wakes: int


class HealthBody(BaseModel):
    """The full shape of /health; the body itself is pre-rendered bytes (see HealthRenderer)."""

    status: Literal["ok", "degraded", "unavailable"]
    app_env: str
    version: str
    secrets: SecretsHealth
    events: EventsHealth


class MinimalError(BaseModel):
    code: str


class MinimalSecretsHealth(BaseModel):
    loaded: bool
    age_seconds: int | None
    error: MinimalError | None


class MinimalHealthBody(BaseModel):
    """What a peer outside loopback sees in staging and production."""

    status: Literal["ok", "degraded", "unavailable"]
    app_env: str
    version: str
    secrets: MinimalSecretsHealth


class LiveBody(BaseModel):
    status: Literal["alive"]
