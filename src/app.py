"""The app factory: settings, logging, metrics, the secrets Supervisor and the routes.

`create_app()` reads only the bootstrap settings (the secrets are not in yet): a bad
one prints one line naming it and exits 78 (EX_CONFIG), as entrypoint.sh does. The
secrets are loaded by the lifespan, before the first request is served. `src.main`
calls this once, after starting the prefetch child.
"""

from __future__ import annotations

import asyncio
import sys
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from fastapi import FastAPI
from pydantic import ValidationError

from src import __version__
from src.aws import task_metadata
from src.config import load_settings, settings_error
from src.events.source import OFF, EventSource
from src.loading.refresh import Supervisor
from src.secrets_manager import SecretsBootstrapper, get_bootstrapper
from src.startup import gc_pause
from src.telemetry import metrics, served_version
from src.telemetry.logs import configure_logging
from src.web.health import HealthRenderer, health_router

EX_CONFIG = 78


async def served_heartbeat(boot: SecretsBootstrapper, interval: float = served_version.HEARTBEAT_INTERVAL) -> None:
    """A served-version record (reason heartbeat) every `interval` seconds, until cancelled."""
    while True:
        await asyncio.sleep(interval)
        boot.report_served("heartbeat")


def create_app(bootstrapper: SecretsBootstrapper | None = None) -> FastAPI:
    boot = bootstrapper or get_bootstrapper()
    try:
        settings = load_settings()
    except ValidationError as exc:
        error = settings_error(exc)
        print(f"config error: {error.code}: {error.message} (hint: {error.hint})", file=sys.stderr)
        raise SystemExit(EX_CONFIG) from None
    configure_logging(
        json_lines=settings.json_logs, level=settings.log_level, probe_access_log=settings.health_access_log
    )
    metrics.configure(settings.app_env.value, settings.metrics)
    task_metadata.prefetch()
    supervisor = Supervisor(boot)
    events: EventSource | None = None

    @asynccontextmanager
    async def lifespan(_: FastAPI) -> AsyncIterator[None]:
        # supervisor.start(settings) runs boot.load(settings) in a worker thread: Loader.prepare
        # (the prefetch child's answer or GetSecretValue per name, validate, build Settings), then
        # boot.commit (service-account file, os.environ, install_config, status). A failure is
        # recorded and retried with backoff by the Supervisor's task, which then refreshes.
        nonlocal events
        await supervisor.start(settings)
        # SECRETS_EVENTS_QUEUE_URL: `Secret Label Updated` events wake the Supervisor (src.events.source).
        # The SQS reader is imported only then: off, it is not on the path to the first 200.
        # A blind path (a full queue of seen messages) puts the Supervisor on its fallback interval.
        if settings.secrets_events_queue_url:
            from src.events.sqs import event_source

            events = event_source(
                settings,
                boot,
                asyncio.get_running_loop(),
                lambda: supervisor.wake(),
                blind=lambda active: supervisor.fallback(active),
            )
        # The first load has been tried: start-up is over, whatever its outcome.
        gc_pause.settle()
        ticker = asyncio.create_task(metrics.age_ticker(lambda: boot.status), name="secret-age-metric")
        # The served-version heartbeat, whatever METRICS says: fleet's evidence that a task is alive.
        heartbeat = asyncio.create_task(served_heartbeat(boot), name="served-version-heartbeat")
        try:
            yield
        finally:
            ticker.cancel()
            heartbeat.cancel()
            if events is not None:
                events.stop()
            await supervisor.stop()
            boot.applier.cleanup()

    docs = not settings.app_env.is_cloud
    app = FastAPI(
        title="short-cut",
        version=__version__,
        lifespan=lifespan,
        # The service's signals are its logs and EMF metrics (src.telemetry). FastAPI's own
        # OpenTelemetry hooks would look for a configured provider on every request: off.
        telemetry={"tracing": False, "metrics": False, "logs": False},
        docs_url="/docs" if docs else None,
        redoc_url="/redoc" if docs else None,
        openapi_url="/openapi.json" if docs else None,
        # Starlette answers /health/ with a 307 to an absolute URL built from the client's Host
        # header: an open redirect (GET /health/ with Host: evil.example). No slash redirects.
        redirect_slashes=False,
    )
    renderer = HealthRenderer(
        lambda: boot.status,
        app_env=settings.app_env.value,
        version=__version__,
        max_staleness=settings.secrets_max_staleness,
        events=lambda: events.state if events is not None else OFF,
    )
    app.include_router(health_router(renderer, full_for=settings.health_full_for, documented=docs))
    return app
