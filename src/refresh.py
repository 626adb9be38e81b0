"""When to load and refresh: the policy, kept apart from the fetch.

Until the first load succeeds, retry with full-jitter exponential backoff capped
at SECRETS_RETRY_MAX_BACKOFF. After it, check every SECRETS_REFRESH_INTERVAL
seconds (±10 % jitter, so a fleet of tasks does not refresh in lockstep); after a
failed check, retry sooner with backoff. Fetching and validating run in a worker
thread; the commit runs on the event loop, so no request handler runs while
the environment and config are swapped.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import random
from datetime import UTC, datetime, timedelta

from src.config import Settings
from src.errors import SecretsError
from src.secrets_manager import Prepared, SecretsBootstrapper

log = logging.getLogger("short_cut.refresh")

JITTER = 0.1


def backoff(failures: int, cap: float, base: float = 0.5) -> float:
    """Full jitter: uniform in [0, min(cap, base * 2**failures)] (AWS's recommended form)."""
    return random.uniform(0, min(cap, base * 2 ** min(failures, 30)))  # noqa: S311 - not for security


def jittered(interval: float) -> float:
    return interval * random.uniform(1 - JITTER, 1 + JITTER)  # noqa: S311 - not for security


class Supervisor:
    """Owns the one background task that retries the first load and then refreshes."""

    def __init__(self, bootstrapper: SecretsBootstrapper) -> None:
        self._boot = bootstrapper
        self._task: asyncio.Task[None] | None = None

    async def start(self, settings: Settings | None = None) -> None:
        """First load now (before serving); then keep going in the background."""
        try:
            settings = settings or self._boot.settings()
            await asyncio.to_thread(self._boot.load, settings)
        except SecretsError:
            pass
        if settings is not None and (not self._boot.status.loaded or self._refresh_interval(settings) > 0):
            self._task = asyncio.create_task(self._run(settings), name="secrets-supervisor")

    async def stop(self) -> None:
        task, self._task = self._task, None
        if task is not None:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task

    def _refresh_interval(self, settings: Settings) -> float:
        # Only a secret from AWS can change underneath us.
        return settings.refresh_interval if settings.secret_names else 0.0

    async def _run(self, settings: Settings) -> None:
        failures = 0 if self._boot.status.loaded else 1
        cap = settings.secrets_retry_max_backoff
        if self._boot.status.loaded and self._refresh_interval(settings) > 0:
            # The first load may have come from the prefetch child: build our own client now,
            # off the event loop, rather than in the middle of the first refresh.
            await asyncio.to_thread(self._boot.warm_client, settings)
        while True:
            interval = self._refresh_interval(settings)
            if not self._boot.status.loaded:
                delay = backoff(failures, cap)
            elif interval <= 0:
                self._boot.set_next_refresh(None)
                return
            else:
                delay = jittered(interval) if failures == 0 else min(backoff(failures, cap), jittered(interval))
            self._boot.set_next_refresh(datetime.now(UTC) + timedelta(seconds=delay))
            await asyncio.sleep(delay)
            try:
                await self._step(settings)
                failures = 0
            except SecretsError:
                failures += 1
            except Exception:
                # Never let the supervisor die: a dead refresh loop is a silent outage.
                log.exception("unexpected error in the secrets supervisor")
                failures += 1

    async def _step(self, settings: Settings) -> None:
        prepared: Prepared | None
        if not self._boot.status.loaded:
            prepared = await asyncio.to_thread(self._boot.prepare_or_record, settings)
        else:
            prepared = await asyncio.to_thread(self._boot.refresh, settings)
        if prepared is not None:
            self._boot.commit(prepared)
