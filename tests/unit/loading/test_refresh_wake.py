"""The Supervisor's wake-up (src/loading/refresh.py): an event refreshes now, DescribeSecret first; wakes coalesce;
a wake during a refresh is not lost; an event queue with no timed refresh is refused."""

from __future__ import annotations

import asyncio
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from pydantic import ValidationError

from src.config import load_settings, settings_error
from src.errors import ErrorCode
from src.loading import refresh
from src.loading.refresh import Supervisor
from tests.unit.loading.test_refresh import NAME, FakeClient, make, wait_until

QUEUE = "https://sqs.us-east-1.amazonaws.com/123456789012/short-cut-prod-secret-events"


@pytest.fixture(autouse=True)
def short_delay(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(refresh, "EVENT_DELAY", 0.05)


def test_a_wake_refreshes_now_and_a_stale_one_fetches_nothing(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    fake = FakeClient()
    boot = make(tmp_path, fake, monkeypatch, SECRETS_REFRESH_INTERVAL="3600", SECRETS_EVENTS_QUEUE_URL=QUEUE)
    supervisor = Supervisor(boot)

    async def scenario() -> None:
        await supervisor.start()
        await asyncio.sleep(0.1)
        assert (fake.describes, fake.gets) == (0, 1)  # an hour to the next timed refresh
        fake.version = "v-rotated"
        supervisor.wake()
        await wait_until(lambda: boot.status.version_ids.get(NAME) == "v-rotated")
        assert (fake.describes, fake.gets) == (1, 2)  # DescribeSecret first, then the one fetch
        supervisor.wake()  # a late or duplicate event: DescribeSecret says nothing changed
        await wait_until(lambda: fake.describes == 2)
        await asyncio.sleep(0.1)
        assert fake.gets == 2
        await supervisor.stop()

    asyncio.run(scenario())
    boot.applier.cleanup()


def test_wakes_coalesce_and_one_during_a_refresh_is_not_lost(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    fake = FakeClient()
    boot = make(tmp_path, fake, monkeypatch, SECRETS_REFRESH_INTERVAL="3600", SECRETS_EVENTS_QUEUE_URL=QUEUE)
    supervisor = Supervisor(boot)
    during: dict[str, Any] = {"loop": None}
    describe = fake.current_version

    def describe_then_rotate(name: str) -> str:
        version = describe(name)
        loop = during.pop("loop", None)
        if loop is not None:
            # The rotation lands just after this DescribeSecret answered (the old version), and its
            # event wakes the Supervisor while this refresh is still running.
            fake.version = "v-rotated"
            loop.call_soon_threadsafe(supervisor.wake)
            time.sleep(0.2)
        return version

    fake.current_version = describe_then_rotate  # type: ignore[method-assign]

    async def scenario() -> None:
        await supervisor.start()
        for _ in range(5):
            supervisor.wake()  # a burst (five copies of one event): one refresh
        await wait_until(lambda: fake.describes == 1)
        await asyncio.sleep(0.2)
        assert fake.describes == 1
        during["loop"] = asyncio.get_running_loop()
        supervisor.wake()
        await wait_until(lambda: boot.status.version_ids.get(NAME) == "v-rotated")
        assert fake.describes == 3
        await supervisor.stop()

    asyncio.run(scenario())
    boot.applier.cleanup()


@pytest.mark.parametrize(
    "env",
    [
        {"SECRETS_REFRESH_INTERVAL": "0", "APP_ENV": "production"},
        {"SECRETS_REFRESH_INTERVAL": "0.0", "APP_ENV": "staging"},
        {"APP_ENV": "local", "SECRET_NAME": NAME},  # local's default interval is 0
    ],
)
def test_an_event_queue_without_a_timed_refresh_is_refused(
    env: dict[str, str], monkeypatch: pytest.MonkeyPatch
) -> None:
    """Events are best effort (a lost event, a failing queue): the timed refresh is the fallback, so
    SECRETS_EVENTS_QUEUE_URL with no refresh interval would let a dead source keep old values with /health ok."""
    for key, value in {**env, "SECRETS_EVENTS_QUEUE_URL": QUEUE}.items():
        monkeypatch.setenv(key, value)
    with pytest.raises(ValidationError) as caught:
        load_settings()
    error = settings_error(caught.value)
    assert error.code == ErrorCode.InvalidConfiguration
    assert "SECRETS_REFRESH_INTERVAL" in error.message and "SECRETS_EVENTS_QUEUE_URL" in error.message
    assert "above 0" in error.hint and QUEUE not in str(error.to_dict())
    monkeypatch.setenv("SECRETS_REFRESH_INTERVAL", "60")
    assert load_settings().refresh_interval == 60  # the same queue with a fallback poll is fine


def test_the_delay_is_random_and_bounded(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A fleet gets the event at once: each task waits uniform(0, EVENT_DELAY) before DescribeSecret."""
    delays: list[float] = []
    real = refresh.event_delay

    def recorded() -> float:
        delays.append(real())
        return 0.0

    monkeypatch.setattr(refresh, "EVENT_DELAY", 1.0)
    monkeypatch.setattr(refresh, "event_delay", recorded)
    fake = FakeClient()
    boot = make(tmp_path, fake, monkeypatch, SECRETS_REFRESH_INTERVAL="3600", SECRETS_EVENTS_QUEUE_URL=QUEUE)
    supervisor = Supervisor(boot)

    async def scenario() -> None:
        await supervisor.start()
        for _ in range(30):
            before = fake.describes
            supervisor.wake()
            await wait_until(lambda b=before: fake.describes > b)
        await supervisor.stop()

    asyncio.run(scenario())
    boot.applier.cleanup()
    assert len(delays) == 30 and all(0 <= d <= 1.0 for d in delays)
    assert max(delays) - min(delays) > 0.3  # spread, not one fixed pause


def test_a_blind_event_path_refreshes_on_the_fallback_interval(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """The event source found its path blind (src.events.source): look now, then every
    SECRETS_EVENTS_FALLBACK_INTERVAL seconds instead of the hour; back to the hour when it delivers."""
    fake = FakeClient()
    boot = make(
        tmp_path,
        fake,
        monkeypatch,
        SECRETS_REFRESH_INTERVAL="3600",
        SECRETS_EVENTS_QUEUE_URL=QUEUE,
        SECRETS_EVENTS_FALLBACK_INTERVAL="1",
    )
    supervisor = Supervisor(boot)

    async def scenario() -> None:
        await supervisor.start()
        await asyncio.sleep(0.1)
        assert fake.describes == 0
        supervisor.fallback(True)
        await wait_until(lambda: fake.describes == 1)  # at once: the hidden event may be a rotation
        fake.version = "v-rotated"  # a rotation whose event nobody will see
        await wait_until(lambda: boot.status.version_ids.get(NAME) == "v-rotated")
        await wait_until(lambda: fake.describes >= 3)
        assert supervisor.falling_back
        supervisor.fallback(False)
        await asyncio.sleep(1.3)  # the wait in progress ends; the next one is the hour again
        settled = fake.describes
        await asyncio.sleep(1.5)
        assert fake.describes == settled
        next_refresh = boot.status.next_refresh_at
        assert next_refresh is not None and (next_refresh - datetime.now(UTC)).total_seconds() > 3000
        await supervisor.stop()

    asyncio.run(scenario())
    boot.applier.cleanup()


def test_the_fallback_interval_setting(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("SECRETS_EVENTS_FALLBACK_INTERVAL", raising=False)
    assert load_settings().secrets_events_fallback_interval == 10.0
    for bad in ("0", "0.5", "inf", "3601"):
        monkeypatch.setenv("SECRETS_EVENTS_FALLBACK_INTERVAL", bad)
        with pytest.raises(ValidationError) as caught:
            load_settings()
        assert "SECRETS_EVENTS_FALLBACK_INTERVAL" in settings_error(caught.value).message
