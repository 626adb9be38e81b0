"""The app factory (src/app.py) and src/main.py: settings, logging, the Supervisor's lifespan, the routes."""

from __future__ import annotations

import asyncio
import gc
import importlib
import logging
import sys
from pathlib import Path
from typing import Any

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient
from pythonjsonlogger.json import JsonFormatter

import src
from src import app as app_module
from src.app import create_app
from src.config import Settings
from src.loading.environment import EnvironmentApplier
from src.secrets_manager import SecretsBootstrapper
from src.startup import gc_pause, prefetch
from src.telemetry import metrics
from src.telemetry.logs import MaskingFormatter
from src.telemetry.served_version import HEARTBEAT_INTERVAL


class RecordingApplier(EnvironmentApplier):
    def __init__(self, temp_root: str, events: list[str]) -> None:
        super().__init__(temp_root=temp_root)
        self.events = events

    def cleanup(self) -> None:
        self.events.append("cleanup")
        super().cleanup()


def boot(tmp_path: Path, events: list[str] | None = None) -> SecretsBootstrapper:
    return SecretsBootstrapper(applier=RecordingApplier(str(tmp_path), [] if events is None else events))


def test_the_lifespan_loads_before_serving_and_cleans_up_after(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    events: list[str] = []

    class Supervisor:
        def __init__(self, secrets: SecretsBootstrapper) -> None:
            self.secrets = secrets

        async def start(self, settings: Settings | None = None) -> None:
            assert settings is not None
            events.append(f"start {settings.app_env.value}")
            self.secrets.load(settings)

        async def stop(self) -> None:
            events.append("stop")

    monkeypatch.setattr(app_module, "Supervisor", Supervisor)
    monkeypatch.setenv("APP_ENV", "test")
    monkeypatch.setenv("MILVUS_HOST", "milvus.test")
    bootstrapper = boot(tmp_path, events)
    app = create_app(bootstrapper)
    assert events == []  # building the app loads nothing
    with TestClient(app) as client:
        assert events == ["start test"]
        body = client.get("/health").json()
        # Six of the seven required keys are missing: served, and said (issue 27).
        assert body["status"] == "degraded" and body["app_env"] == "test"
        assert body["secrets"]["error"]["code"] == "MissingRequiredKeys"
        assert "MILVUS_HOST" in body["secrets"]["keys"] and "MILVUS_HOST" not in body["secrets"]["missing"]
    assert events == ["start test", "stop", "cleanup"]


def test_routes_and_docs_outside_the_cloud(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("APP_ENV", "development")
    client = TestClient(create_app(boot(tmp_path)))  # not started: the routes only
    assert client.get("/docs").status_code == 200 and client.get("/redoc").status_code == 200
    assert {"/health", "/health/live"} <= set(client.get("/openapi.json").json()["paths"])
    assert client.get("/health/live").json() == {"status": "alive"}


@pytest.mark.parametrize("app_env", ["production", "staging"])
def test_docs_are_off_in_the_cloud(monkeypatch: pytest.MonkeyPatch, tmp_path: Path, app_env: str) -> None:
    monkeypatch.setenv("APP_ENV", app_env)
    app = create_app(boot(tmp_path))
    assert (app.docs_url, app.redoc_url, app.openapi_url) == (None, None, None)
    client = TestClient(app)  # not started: no load, the routes only
    for path in ("/docs", "/redoc", "/openapi.json"):
        assert client.get(path).status_code == 404
    assert client.get("/health/live").status_code == 200


@pytest.mark.parametrize("app_env", ["local", "production"])
@pytest.mark.parametrize("path", ["/health/", "/health/live/", "//health", "/health//"])
def test_no_redirect_to_the_host_header(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path, app_env: str, path: str
) -> None:
    """Starlette's redirect_slashes answered GET /health/ with `307 location: http://<Host>/health`:
    an open redirect to whatever Host the client sent (issue 29, item 2). No slash redirect at all."""
    monkeypatch.setenv("APP_ENV", app_env)
    client = TestClient(create_app(boot(tmp_path)))  # not started: the routes only
    answer = client.get(path, headers={"Host": "evil.example"}, follow_redirects=False)
    assert answer.status_code == 404
    assert "location" not in answer.headers and b"evil.example" not in answer.content


@pytest.mark.parametrize(
    ("name", "value"),
    [("LOG_LEVEL", "loud"), ("LOG_FORMAT", "xml"), ("APP_ENV", "prod"), ("SECRETS_READ_TIMEOUT", "CANARYslow")],
)
def test_a_bad_setting_exits_78_naming_it_not_its_value(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path, capsys: pytest.CaptureFixture[str], name: str, value: str
) -> None:
    monkeypatch.setenv(name, value)
    with pytest.raises(SystemExit) as exited:
        create_app(boot(tmp_path))
    assert exited.value.code == 78
    err = capsys.readouterr().err
    assert err.startswith("config error: InvalidConfiguration:") and name in err
    assert value not in err


@pytest.mark.parametrize(
    ("env", "json_lines", "level"),
    [
        ({"APP_ENV": "production"}, True, logging.INFO),
        ({"APP_ENV": "production", "LOG_FORMAT": "Text", "LOG_LEVEL": "WARNING"}, False, logging.WARNING),
        ({"APP_ENV": "local", "LOG_LEVEL": "debug"}, False, logging.DEBUG),
        ({"APP_ENV": "local", "LOG_FORMAT": "JSON", "LOG_LEVEL": "Error"}, True, logging.ERROR),
    ],
)
def test_logging_follows_the_settings(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path, env: dict[str, str], json_lines: bool, level: int
) -> None:
    for key, value in env.items():
        monkeypatch.setenv(key, value)
    create_app(boot(tmp_path))
    root = logging.getLogger()
    (handler,) = root.handlers
    assert isinstance(handler.formatter, MaskingFormatter)
    assert isinstance(handler.formatter._inner, JsonFormatter) is json_lines
    assert root.level == level


def test_main_starts_the_prefetch_before_importing_the_app(monkeypatch: pytest.MonkeyPatch) -> None:
    seen: list[bool] = []
    paused: list[bool] = []
    monkeypatch.setattr(prefetch, "start", lambda: seen.append("src.app" in sys.modules))
    # Recorded, not done: a real pause would leave this test process's collector off.
    monkeypatch.setattr(gc_pause, "pause", lambda: paused.append(not seen and "src.app" not in sys.modules))
    for name in ("main", "app"):
        # A fresh import of both, as uvicorn does; the originals come back afterwards.
        monkeypatch.delitem(sys.modules, f"src.{name}", raising=False)
        monkeypatch.delattr(src, name, raising=False)
    main: Any = importlib.import_module("src.main")
    assert seen == [False]
    assert paused == [True]  # first of all, before the prefetch child and the app's imports
    assert isinstance(main.app, FastAPI)
    assert main.create_app is sys.modules["src.app"].create_app


def test_the_collector_is_back_once_the_first_load_was_tried(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    during_load: list[bool] = []

    class Supervisor:
        def __init__(self, secrets: SecretsBootstrapper) -> None:
            self.secrets = secrets

        async def start(self, settings: Settings | None = None) -> None:
            # Loads nothing, as a failed first load: that ends start-up too.
            during_load.append(gc.isenabled())

        async def stop(self) -> None:
            pass

    monkeypatch.setattr(app_module, "Supervisor", Supervisor)
    monkeypatch.setenv("APP_ENV", "test")
    monkeypatch.setenv("MILVUS_HOST", "milvus.test")
    app = create_app(boot(tmp_path))
    gc_pause.pause()
    try:
        with TestClient(app) as client:
            assert during_load == [False]
            assert gc.isenabled() and gc.get_freeze_count() > 0
            assert client.get("/health").status_code == 503
    finally:
        gc_pause.settle()
        gc.unfreeze()
        gc.enable()


def test_the_served_version_heartbeat_runs_whatever_metrics_says(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    # METRICS=off: the EMF age lines stop, the served-version heartbeat (fleet's evidence) does not.
    metrics.configure("production", "off")
    reasons: list[str] = []
    bootstrapper = boot(tmp_path)
    monkeypatch.setattr(bootstrapper, "report_served", reasons.append)

    async def run() -> None:
        task = asyncio.create_task(app_module.served_heartbeat(bootstrapper, interval=0.01))
        await asyncio.sleep(0.1)
        task.cancel()

    asyncio.run(run())
    assert len(reasons) >= 3 and set(reasons) == {"heartbeat"}
    assert not metrics.enabled()
    assert app_module.served_heartbeat.__defaults__ == (HEARTBEAT_INTERVAL,) and HEARTBEAT_INTERVAL == 60.0
