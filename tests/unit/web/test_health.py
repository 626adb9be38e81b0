"""/health renders the status in memory: codes, body shape, caching, and the app's wiring."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient

from src.app import create_app
from src.errors import ErrorCode, SecretsError
from src.loading.environment import EnvironmentApplier
from src.secret.status import SecretStatus
from src.secrets_manager import SecretsBootstrapper
from src.web.health import HealthRenderer, overall
from tests.support.canary import leaked


def test_overall_states() -> None:
    error = SecretsError(ErrorCode.ThrottlingException, "x")
    assert overall(SecretStatus()) == "unavailable"
    assert overall(SecretStatus(loaded=True)) == "ok"
    assert overall(SecretStatus(loaded=True, error=error)) == "degraded"
    assert overall(SecretStatus(error=error)) == "unavailable"


def test_example_credentials_are_degraded_not_ok() -> None:
    """Staging/production values that are the repository's examples: 200, degraded (issue 21, item 4)."""
    now = datetime.now(UTC)
    examples = SecretStatus(loaded=True, verified_at=now, example_keys=("OPENAI_API_KEY",))
    assert overall(examples, now=now) == "degraded"
    assert overall(SecretStatus(loaded=True, verified_at=now), now=now) == "ok"
    code, body = HealthRenderer(lambda: examples, app_env="production", version="t").render(full=False)
    assert code == 200 and json.loads(body)["status"] == "degraded"
    # A stranger is not told the service runs on public example keys; the operator's view names them.
    assert json.loads(body)["secrets"]["error"] == {"code": "Degraded"}
    assert b"ExampleCredentials" not in body
    code, body = HealthRenderer(lambda: examples, app_env="production", version="t").render(full=True)
    assert json.loads(body)["secrets"]["error"]["code"] == "ExampleCredentials"


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
    assert set(data) == {"status", "app_env", "version", "secrets", "events"}
    assert data["events"]["state"] == "off"  # no event source given: polling only
    assert set(data["secrets"]) == {
        "loaded",
        "source",
        "secret_names",
        "region",
        "version_ids",
        "keys",
        "missing",
        "overridden",
        "ignored",
        "warnings",
        "loaded_at",
        "last_refresh_at",
        "next_refresh_at",
        "age_seconds",
        "primary_region",
        "regions",
        "error",
    }


def test_failure_past_max_staleness_is_503() -> None:
    now = datetime.now(UTC)
    error = SecretsError(ErrorCode.AccessDeniedException, "denied")
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
    status = SecretStatus(loaded=True, error=SecretsError(ErrorCode.AccessDeniedException, "denied"))
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


# -- who sees what (issue 11, item 2) ----------------------------------------------

ACCOUNT_MESSAGE = (
    "User: arn:aws:sts::123456789012:assumed-role/shortcut-ecs-task-role/9f1c2d is not authorized to perform: "
    "secretsmanager:GetSecretValue on resource: short-cut/prod/app because no identity-based policy allows it"
)
MINIMAL_KEYS = {"status", "app_env", "version", "secrets"}


def degraded_app(monkeypatch: pytest.MonkeyPatch, tmp_path: Path, app_env: str, **env: str) -> Any:
    monkeypatch.setenv("APP_ENV", app_env)
    for key, value in env.items():
        monkeypatch.setenv(key, value)
    boot = SecretsBootstrapper(applier=EnvironmentApplier(temp_root=str(tmp_path)))
    boot._status = SecretStatus(  # a task whose refresh is being refused, as AWS words it
        loaded=True,
        source="aws-secrets-manager",
        secret_names=("short-cut/prod/app",),
        version_ids={"short-cut/prod/app": "v-1234"},
        keys=("OPENAI_API_KEY",),
        overridden=("MILVUS_HOST",),
        ignored=("SENTRY_DSN",),
        warnings=("OPENAI_API_KEY does not start with sk-",),
        verified_at=datetime.now(UTC),
        error=SecretsError(ErrorCode.AccessDeniedException, ACCOUNT_MESSAGE, secret_name="short-cut/prod/app"),
    )
    return create_app(boot)


def get_health(app: Any, peer: str, **headers: str) -> tuple[int, dict[str, Any], str]:
    # The app is not started (no lifespan): the status set above is what it renders.
    client = TestClient(app, client=(peer, 40000))
    response = client.get("/health", headers=headers)
    return response.status_code, response.json(), response.text


@pytest.mark.parametrize("app_env", ["production", "staging"])
@pytest.mark.parametrize("peer", ["10.0.3.7", "192.0.2.2", "::ffff:10.0.0.1", "2001:db8::1", "testclient"])
def test_strangers_get_the_minimal_body_in_the_cloud(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path, app_env: str, peer: str
) -> None:
    app = degraded_app(monkeypatch, tmp_path, app_env)
    code, body, text = get_health(app, peer, **{"X-Forwarded-For": "127.0.0.1", "X-Real-IP": "127.0.0.1"})
    assert code == 200 and body["status"] == "degraded"
    assert set(body) == MINIMAL_KEYS
    assert body["secrets"] == {"loaded": True, "age_seconds": 0, "error": {"code": "AccessDeniedException"}}
    for needle in ("123456789012", "shortcut-ecs-task-role", "short-cut/prod/app", "v-1234", "OPENAI_API_KEY",
                   "MILVUS_HOST", "SENTRY_DSN", "taskRoleArn", "sk-"):  # fmt: skip
        assert needle not in text, needle


@pytest.mark.parametrize("peer", ["127.0.0.1", "127.9.8.7", "::1", "::ffff:127.0.0.1"])
def test_loopback_peers_get_the_full_body(monkeypatch: pytest.MonkeyPatch, tmp_path: Path, peer: str) -> None:
    app = degraded_app(monkeypatch, tmp_path, "production")
    code, body, _ = get_health(app, peer, **{"X-Forwarded-For": "203.0.113.9"})
    assert code == 200
    secrets = body["secrets"]
    assert secrets["version_ids"] == {"short-cut/prod/app": "v-1234"} and secrets["ignored"] == ["SENTRY_DSN"]
    assert secrets["error"]["message"] == ACCOUNT_MESSAGE and "taskRoleArn" in secrets["error"]["hint"]


@pytest.mark.parametrize("app_env", ["local", "development", "test"])
def test_local_modes_keep_the_full_body_for_everyone(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path, app_env: str
) -> None:
    app = degraded_app(monkeypatch, tmp_path, app_env)
    _, body, _ = get_health(app, "10.0.3.7")
    assert body["secrets"]["version_ids"] == {"short-cut/prod/app": "v-1234"}


def test_health_details_overrides_the_default(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    minimal = degraded_app(monkeypatch, tmp_path, "production", HEALTH_DETAILS="minimal")
    assert set(get_health(minimal, "127.0.0.1")[1]["secrets"]) == {"loaded", "age_seconds", "error"}
    full = degraded_app(monkeypatch, tmp_path, "production", HEALTH_DETAILS="FULL")
    assert "version_ids" in get_health(full, "10.0.3.7")[1]["secrets"]
    monkeypatch.setenv("HEALTH_DETAILS", "everything")
    with pytest.raises(SystemExit) as exited:
        create_app(SecretsBootstrapper(applier=EnvironmentApplier(temp_root=str(tmp_path))))
    assert exited.value.code == 78


def test_minimal_body_keeps_the_503_semantics() -> None:
    stale = SecretStatus(
        loaded=True,
        error=SecretsError(ErrorCode.ThrottlingException, "slow down"),
        verified_at=datetime.now(UTC) - timedelta(seconds=120),
    )
    renderer = HealthRenderer(lambda: stale, app_env="production", version="1", max_staleness=60)
    code, body = renderer.render(full=False)
    assert code == 503
    assert json.loads(body)["secrets"] == {"loaded": True, "age_seconds": 120, "error": {"code": "ThrottlingException"}}
    assert renderer.render(full=True)[0] == 503
    assert renderer.render(full=False)[1] is body


def test_response_models_are_built_only_when_the_docs_are_served() -> None:
    from fastapi.routing import APIRoute

    from src.web.health import health_router

    renderer = HealthRenderer(SecretStatus, app_env="production", version="1")
    quiet = [r for r in health_router(renderer, full_for=bool, documented=False).routes if isinstance(r, APIRoute)]
    documented = [r for r in health_router(renderer, full_for=bool).routes if isinstance(r, APIRoute)]
    assert all(not r.responses for r in quiet)
    assert all(r.responses for r in documented)


@pytest.mark.parametrize("loaded", [True, False], ids=["degraded", "never-loaded"])
def test_the_documented_models_describe_the_rendered_bodies(loaded: bool) -> None:
    # The bodies are pre-rendered bytes, the models only document them (src/web/health_models.py):
    # a field added to one and not the other fails here.
    from src.web.health_models import HealthBody, MinimalHealthBody

    status = SecretStatus(
        loaded=loaded,
        source="aws-secrets-manager",
        secret_names=("short-cut/prod/app",),
        version_ids={"short-cut/prod/app": "v-1"} if loaded else {},
        keys=("OPENAI_API_KEY",) if loaded else (),
        verified_at=datetime.now(UTC) if loaded else None,
        error=SecretsError(ErrorCode.ThrottlingException, "slow down", secret_name="short-cut/prod/app"),
    )
    renderer = HealthRenderer(lambda: status, app_env="production", version="1")
    full, minimal = renderer.render(full=True)[1], renderer.render(full=False)[1]
    assert HealthBody.model_validate_json(full, strict=True).model_dump(mode="json") == json.loads(full)
    assert MinimalHealthBody.model_validate_json(minimal, strict=True).model_dump(mode="json") == json.loads(minimal)
