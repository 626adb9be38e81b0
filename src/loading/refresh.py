"""When to load and refresh: the policy, kept apart from the fetch.

Until the first load succeeds, retry with full-jitter exponential backoff capped
at SECRETS_RETRY_MAX_BACKOFF. After it, check every SECRETS_REFRESH_INTERVAL
seconds (±10 % jitter, so a fleet of tasks does not refresh in lockstep); after a
failed check, retry sooner with backoff. Fetching and validating run in a worker
thread; the commit runs on the event loop, so no request handler runs while
the environment and config are swapped.

`wake()` (src.events.source, on a `Secret Label Updated` event) cuts the wait short: the
next refresh runs after a random delay of up to EVENT_DELAY seconds, so a fleet
that receives the event at the same instant does not call DescribeSecret in
lockstep. Wakes coalesce: one arriving during the delay joins that refresh; one
arriving while a refresh runs causes one more right after it, so a rotation that
lands mid-refresh is never missed. The timed refresh stays the fallback: Settings
refuses an event queue with a refresh interval of 0 (InvalidConfiguration), since a
dead event source would then leave old values in use with /health ok.

`fallback(True)` (the event source found its path blind: a full queue of messages it has
seen, which may hide a new event) refreshes now and then at most every
SECRETS_EVENTS_FALLBACK_INTERVAL seconds (±10 %), so a rotation reaches the task within
about that long plus a refresh; `fallback(False)` returns to the normal interval after the
wait in progress.

The Supervisor knows the bootstrapper only through the small `Secrets` protocol:
load, refresh and commit, the status it reads, and the two things only it knows
(when the next refresh runs, and that the client is worth building now).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import random
from datetime import UTC, datetime, timedelta
from typing import Protocol

from pydantic import ValidationError

from src.config import Settings, load_settings
from src.errors import SecretsError
from src.loading.loader import Prepared
from src.secret.status import SecretStatus

log = logging.getLogger("short_cut.refresh")

JITTER = 0.1
# The most a woken refresh waits (uniform from 0), to spread a fleet's DescribeSecret calls.
EVENT_DELAY = 1.0


def backoff(failures: int, cap: float, base: float = 0.5) -> float:
    """Full jitter: uniform in [0, min(cap, base * 2**failures)] (AWS's recommended form)."""
    return random.uniform(0, min(cap, base * 2 ** min(failures, 30)))  # noqa: S311 - not for security


def jittered(interval: float) -> float:
    return interval * random.uniform(1 - JITTER, 1 + JITTER)  # noqa: S311 - not for security


def event_delay() -> float:
    """How long a woken refresh waits: uniform in [0, EVENT_DELAY]."""
    return random.uniform(0, EVENT_DELAY)  # noqa: S311 - not for security


class Secrets(Protocol):
    """What the Supervisor needs of src.secrets_manager.SecretsBootstrapper. Each call records
    its own outcome in the status; a failure raises SecretsError."""

    @property
    def status(self) -> SecretStatus: ...

    def load(self, settings: Settings) -> SecretStatus:
        """Prepare, then commit (blocking: run it in a thread)."""
        ...

    def refresh(self, settings: Settings) -> Prepared | None:
        """What must be committed next, if anything: a retry of the load until one succeeded,
        then only a changed version (blocking: run it in a thread)."""
        ...

    def commit(self, prepared: Prepared) -> SecretStatus:
        """Apply a prepared load; fast, and cannot fail after its first side effect."""
        ...

    def warm(self, settings: Settings) -> None:
        """Build the AWS client now (blocking), so the first refresh does not."""
        ...

    def schedule(self, moment: datetime | None) -> None:
        """Show in the status when the next refresh runs."""
        ...


class Supervisor:
    """Owns the one background task that retries the first load and then refreshes."""

    def __init__(self, secrets: Secrets) -> None:
        self._secrets = secrets
        self._task: asyncio.Task[None] | None = None
        self._woken = asyncio.Event()
        self._wakeable = False
        self._fallback = False

    def wake(self) -> None:
        """Refresh soon, whatever the interval (call it on the event loop's thread)."""
        self._woken.set()

    def fallback(self, active: bool) -> None:
        """Refresh on the short fallback interval while the event path is blind (on the loop's thread)."""
        if active and not self._fallback:
            self._woken.set()  # look now: the event that matters may be the hidden one
        self._fallback = active

    @property
    def falling_back(self) -> bool:
        return self._fallback

    async def start(self, settings: Settings | None = None) -> None:
        """First load now (before serving); then keep going in the background."""
        if settings is None:
            try:
                settings = load_settings()
            except ValidationError:
                return
        self._wakeable = bool(settings.secrets_events_queue_url and settings.secret_names)
        with contextlib.suppress(SecretsError):
            await asyncio.to_thread(self._secrets.load, settings)
        if not self._secrets.status.loaded or self._refresh_interval(settings) > 0 or self._wakeable:
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
        failures = 0 if self._secrets.status.loaded else 1
        cap = settings.secrets_retry_max_backoff
        if self._secrets.status.loaded and (self._refresh_interval(settings) > 0 or self._wakeable):
            # The first load may have come from the prefetch child: build our own client now,
            # off the event loop, rather than in the middle of the first refresh.
            await asyncio.to_thread(self._secrets.warm, settings)
        while True:
            interval = self._refresh_interval(settings)
            delay: float | None
            if not self._secrets.status.loaded:
                delay = backoff(failures, cap)
            elif interval <= 0 and not self._wakeable:
                self._secrets.schedule(None)
                return
            elif interval <= 0:
                delay = None  # events only (Settings refuses it; only an unvalidated Settings gets here)
            else:
                delay = jittered(interval) if failures == 0 else min(backoff(failures, cap), jittered(interval))
            if self._fallback and self._secrets.status.loaded:
                short = jittered(settings.secrets_events_fallback_interval)
                delay = short if delay is None else min(delay, short)
            try:
                # Inside the guard: even a date the clock cannot hold must not end the loop.
                self._secrets.schedule(None if delay is None else datetime.now(UTC) + timedelta(seconds=delay))
            except (OverflowError, ValueError):
                log.exception("the next refresh time cannot be shown")
            await self._wait(delay)
            try:
                await self._step(settings)
                failures = 0
            except SecretsError:
                failures += 1
            except Exception:
                # Never let the supervisor die: a dead refresh loop is a silent outage.
                served = self._secrets.status.version_ids
                log.exception(
                    "unexpected error in the secrets supervisor (secret %s, still serving %s)",
                    ",".join(settings.secret_names) or "-",
                    ",".join(f"{n}={v}" for n, v in served.items()) or "nothing",
                    extra={
                        "secret_name": ",".join(settings.secret_names) or None,
                        "served_version_ids": dict(served),
                    },
                )
                failures += 1

    async def _wait(self, delay: float | None) -> None:
        """Sleep `delay` seconds (None: until woken), or until woken and then up to EVENT_DELAY more."""
        try:
            await asyncio.wait_for(self._woken.wait(), timeout=delay)
        except TimeoutError:
            return
        await asyncio.sleep(event_delay())
        # Cleared after the delay, before the refresh: a wake from here on gets a refresh of its own.
        self._woken.clear()

    async def _step(self, settings: Settings) -> None:
        prepared = await asyncio.to_thread(self._secrets.refresh, settings)
        if prepared is not None:
            self._secrets.commit(prepared)
