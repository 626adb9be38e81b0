"""The ASGI app: wiring only. `uvicorn src.main:app` (via entrypoint.sh) serves it."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from fastapi import FastAPI

from src import __version__
from src.config import load_settings
from src.health import HealthRenderer, health_router
from src.logs import configure_logging
from src.refresh import Supervisor
from src.secrets_manager import SecretsBootstrapper, get_bootstrapper


def create_app(bootstrapper: SecretsBootstrapper | None = None) -> FastAPI:
    boot = bootstrapper or get_bootstrapper()
    # Only the bootstrap knobs are read here; the secrets are not in yet.
    settings = load_settings()
    configure_logging(json_lines=settings.json_logs, level=settings.log_level)
    supervisor = Supervisor(boot)

    @asynccontextmanager
    async def lifespan(_: FastAPI) -> AsyncIterator[None]:
        # bootstrap_secrets() then update_config_from_env(), retried and refreshed in the background.
        await supervisor.start()
        try:
            yield
        finally:
            await supervisor.stop()
            boot.applier.cleanup()

    docs = not settings.app_env.is_cloud
    app = FastAPI(
        title="short-cut",
        version=__version__,
        lifespan=lifespan,
        docs_url="/docs" if docs else None,
        redoc_url="/redoc" if docs else None,
        openapi_url="/openapi.json" if docs else None,
    )
    renderer = HealthRenderer(
        lambda: boot.status,
        app_env=settings.app_env.value,
        version=__version__,
        max_staleness=settings.secrets_max_staleness,
    )
    app.include_router(health_router(renderer))
    return app


app = create_app()
