"""/health renders the status in memory: codes, body shape, caching, and the app's wiring."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient

from src.environment import EnvironmentApplier
from src.errors import SecretsError
from src.health import HealthRenderer, overall
from src.main import create_app
from src.secrets_manager import SecretsBootstrapper, SecretStatus
from tests.support.canary import leaked


def test_overall_states() -> None:
    error = SecretsError("ThrottlingException", "x")
    assert overall(SecretStatus()) == "unavailable"
    assert overall(SecretStatus(loaded=True)) == "ok"
    assert overall(SecretStatus(loaded=True, error=error)) == "degraded"
    assert overall(SecretStatus(error=error)) == "unavailable"


def test_renderer_caches_per_snapshot_and_follows_changes() -> None:
    status = {"now": SecretStatus()}
    renderer = HealthRenderer(lambda: status["now"], app_env="production", version="1")
    code, body = renderer.render()
    assert code == 503
    assert renderer.render()[1] is body
    status["now"] = SecretStatus(loaded=True, keys=("A",))
    code, body = renderer.render()
    assert code == 200
    data = json.loads(body)
    assert data["status"] == "ok" and data["secrets"]["keys"] == ["A"]
    assert set(data) == {"status", "app_env", "version", "secrets"}
    assert set(data["secrets"]) == {
        "loaded",
        "source",
        "secret_names",
        "version_ids",
        "keys",
        "missing",
        "overridden",
        "warnings",
        "loaded_at",
        "last_refresh_at",
        "next_refresh_at",
        "age_seconds",
        "error",
    }


def test_failure_past_max_staleness_is_503() -> None:
    now = datetime.now(UTC)
    error = SecretsError("AccessDeniedException", "denied")
    fresh = SecretStatus(loaded=True, error=error, verified_at=now - timedelta(seconds=50))
    stale = SecretStatus(loaded=True, error=error, verified_at=now - timedelta(seconds=70))
    healthy_but_old = SecretStatus(loaded=True, verified_at=now - timedelta(seconds=70))
    assert overall(fresh, max_staleness=60, now=now) == "degraded"
    assert overall(stale, max_staleness=60, now=now) == "unavailable"
    assert overall(healthy_but_old, max_staleness=60, now=now) == "ok"
    code, body = HealthRenderer(lambda: stale, app_env="production", version="1", max_staleness=60).render()
    data = json.loads(body)
    assert code == 503
    assert data["status"] == "unavailable"
    assert data["secrets"]["age_seconds"] >= 70
    assert data["secrets"]["error"]["code"] == "AccessDeniedException"


def test_degraded_is_200_with_error() -> None:
    status = SecretStatus(loaded=True, error=SecretsError("AccessDeniedException", "denied"))
    code, body = HealthRenderer(lambda: status, app_env="production", version="1").render()
    data = json.loads(body)
    assert code == 200 and data["status"] == "degraded"
    assert data["secrets"]["error"]["code"] == "AccessDeniedException"
    assert "taskRoleArn" in data["secrets"]["error"]["hint"]


def make_client(monkeypatch: pytest.MonkeyPatch, tmp_path: Path, app_env: str, **env: str) -> TestClient:
    monkeypatch.setenv("APP_ENV", app_env)
    for key, value in env.items():
        monkeypatch.setenv(key, value)
    boot = SecretsBootstrapper(applier=EnvironmentApplier(temp_root=str(tmp_path)))
    return TestClient(create_app(boot))


def test_local_app_serves_health_and_docs(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    with make_client(monkeypatch, tmp_path, "local", OPENAI_API_KEY="sk-CANARYopenai-7f3kZr9XwV2mN8bT") as client:
        response = client.get("/health")
        assert response.status_code == 200
        assert response.json()["secrets"]["source"] == "environment"
        assert client.get("/health/live").json() == {"status": "alive"}
        openapi = client.get("/openapi.json")
        assert openapi.status_code == 200
        assert "/health" in openapi.json()["paths"]
        assert leaked(response.text, openapi.text) == []


def test_production_app_hides_docs_and_is_not_ready_without_secret(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    # No region: the first load fails fast with MissingRegion, the app still serves.
    with make_client(monkeypatch, tmp_path, "production", SECRETS_RETRY_MAX_BACKOFF="30") as client:
        response = client.get("/health")
        assert response.status_code == 503
        body: dict[str, Any] = response.json()
        assert body["status"] == "unavailable"
        assert body["secrets"]["error"]["code"] == "MissingRegion"
        assert client.get("/health/live").status_code == 200
        for path in ("/docs", "/redoc", "/openapi.json"):
            assert client.get(path).status_code == 404
