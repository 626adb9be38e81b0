"""The ASGI app that `uvicorn src.main:app` (via entrypoint.sh) serves; src/app.py builds it."""

from __future__ import annotations

from src.startup import gc_pause, prefetch

# No cyclic collection while start-up builds its heap; the lifespan turns it back on.
gc_pause.pause()
# Before src.app's imports (FastAPI, pydantic, ...): the child fetches the secrets on the other
# core while this process imports, so start it first.
prefetch.start()

from src.app import create_app  # noqa: E402

__all__ = ["app", "create_app"]

app = create_app()
