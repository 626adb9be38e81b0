"""The ASGI app: wiring only. `uvicorn src.main:app` (via entrypoint.sh) serves it."""

from __future__ import annotations

from src import prefetch

# First, before the heavy imports below: fetch the secrets on the other core meanwhile.
prefetch.start()

import asyncio  # noqa: E402
import sys  # noqa: E402
from collections.abc import AsyncIterator  # noqa: E402
from contextlib import asynccontextmanager  # noqa: E402

from fastapi import FastAPI  # noqa: E402
from pydantic import ValidationError  # noqa: E402

from src import __version__, metrics, task_metadata  # noqa: E402
from src.config import load_settings  # noqa: E402
from src.health import HealthRenderer, health_router  # noqa: E402
from src.logs import configure_logging  # noqa: E402
from src.refresh import Supervisor  # noqa: E402
from src.secrets_manager import SecretsBootstrapper, get_bootstrapper, settings_error  # noqa: E402


def create_app(bootstrapper: SecretsBootstrapper | None = None) -> FastAPI:
    boot = bootstrapper or get_bootstrapper()
    # Only the bootstrap knobs are read here; the secrets are not in yet.
    try:
        settings = load_settings()
    except ValidationError as exc:
        error = settings_error(exc)
        print(f"config error: {error.code}: {error.message} (hint: {error.hint})", file=sys.stderr)
        raise SystemExit(78) from None
    configure_logging(json_lines=settings.json_logs, level=settings.log_level)
    metrics.configure(settings.app_env.value, settings.metrics)
    task_metadata.prefetch()
    supervisor = Supervisor(boot)

    @asynccontextmanager
    async def lifespan(_: FastAPI) -> AsyncIterator[None]:
        # The first load (prepare: fetch, validate, build Settings; then commit: file, os.environ,
        # config), retried with backoff and refreshed in the background by the Supervisor.
        await supervisor.start(settings)
        ticker = asyncio.create_task(metrics.age_ticker(lambda: boot.status), name="secret-age-metric")
        try:
            yield
        finally:
            ticker.cancel()
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
    app.include_router(health_router(renderer, full_for=settings.health_full_for, documented=docs))
    return app


app = create_app()
