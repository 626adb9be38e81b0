"""The supervisor: background recovery before the first load, refresh after it."""

from __future__ import annotations

import asyncio
from datetime import datetime
from pathlib import Path
from typing import Any, cast

import pytest

from src.aws.client import FetchedSecret
from src.config import Settings
from src.errors import ErrorCode, SecretsError
from src.loading.environment import EnvironmentApplier
from src.loading.loader import Prepared
from src.loading.refresh import Secrets, Supervisor, backoff, jittered
from src.secret.status import SecretStatus
from src.secrets_manager import SecretsBootstrapper
from tests.support.canary import canary_secret_string

NAME = "short-cut/prod/app"


class FakeClient:
    """Fails a given number of times, then serves the canary secret at a settable version."""

    def __init__(self, failures: int = 0) -> None:
        self.failures = failures
        self.version = "v-good"
        self.gets = 0
        self.describes = 0

    @property
    def client(self) -> object:
        return self

    def get_secret(self, name: str, **_: Any) -> FetchedSecret:
        self.gets += 1
        if self.gets <= self.failures:
            raise SecretsError(ErrorCode.ThrottlingException, "slow down", secret_name=name)
        return FetchedSecret(name=name, arn="arn", version_id=self.version, secret_string=canary_secret_string())

    def current_version(self, name: str) -> str:
        self.describes += 1
        return self.version


def make(tmp_path: Path, fake: FakeClient, monkeypatch: pytest.MonkeyPatch, **env: str) -> SecretsBootstrapper:
    monkeypatch.setenv("APP_ENV", "production")
    monkeypatch.setenv("AWS_REGION", "us-east-1")
    for key, value in env.items():
        monkeypatch.setenv(key, value)
    return SecretsBootstrapper(
        client_factory=lambda _: fake,  # type: ignore[arg-type,return-value]
        applier=EnvironmentApplier(temp_root=str(tmp_path)),
    )


async def wait_until(predicate: Any) -> None:
    async with asyncio.timeout(5):
        while not predicate():  # noqa: ASYNC110 - polling a plain attribute
            await asyncio.sleep(0.01)


def test_backoff_is_full_jitter_and_capped() -> None:
    samples = [backoff(10, cap=30) for _ in range(500)]
    assert all(0 <= s <= 30 for s in samples)
    assert max(samples) > 15 and min(samples) < 15
    assert all(0 <= backoff(1, cap=30) <= 1.0 for _ in range(100))
    assert all(90 <= jittered(100) <= 110 for _ in range(100))


def test_not_ready_then_recovers_in_background(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    fake = FakeClient(failures=3)
    boot = make(tmp_path, fake, monkeypatch, SECRETS_RETRY_MAX_BACKOFF="0.05", SECRETS_REFRESH_INTERVAL="0")
    supervisor = Supervisor(boot)

    async def scenario() -> None:
        await supervisor.start()
        first = boot.status
        assert first.loaded is False
        assert first.error is not None and first.error.code == "ThrottlingException"
        await wait_until(lambda: boot.status.loaded)
        await supervisor.stop()

    asyncio.run(scenario())
    assert fake.gets == 4
    assert boot.status.attempts == 4
    assert boot.status.version_ids == {NAME: "v-good"}


def test_refresh_swaps_on_a_new_version_only(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    fake = FakeClient()
    boot = make(tmp_path, fake, monkeypatch, SECRETS_REFRESH_INTERVAL="0.05")
    supervisor = Supervisor(boot)

    async def scenario() -> None:
        await supervisor.start()
        assert boot.status.loaded and fake.gets == 1
        await wait_until(lambda: fake.describes >= 3)
        assert fake.gets == 1  # unchanged version: DescribeSecret only
        assert boot.status.next_refresh_at is not None and boot.status.last_refresh_at is not None
        fake.version = "v-rotated"
        await wait_until(lambda: boot.status.version_ids.get(NAME) == "v-rotated")
        assert fake.gets == 2
        await supervisor.stop()

    asyncio.run(scenario())
    boot.applier.cleanup()


def test_stop_cancels_a_retry_that_never_succeeds(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    fake = FakeClient(failures=10**9)
    boot = make(tmp_path, fake, monkeypatch, SECRETS_RETRY_MAX_BACKOFF="0.01")
    supervisor = Supervisor(boot)

    async def scenario() -> None:
        await supervisor.start()
        await asyncio.sleep(0.1)
        await supervisor.stop()
        calls = fake.gets
        await asyncio.sleep(0.05)
        assert fake.gets == calls

    asyncio.run(scenario())
    assert fake.gets > 2


def test_local_mode_starts_no_background_task(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("APP_ENV", "local")
    boot = SecretsBootstrapper(applier=EnvironmentApplier(temp_root=str(tmp_path)))
    supervisor = Supervisor(boot)

    async def scenario() -> None:
        await supervisor.start()
        assert boot.status.loaded
        assert supervisor._task is None
        assert Settings().refresh_interval == 0

    asyncio.run(scenario())


class OnlyTheProtocol:
    """Implements exactly refresh.Secrets and nothing else: the Supervisor must need no more."""

    __slots__ = ("calls", "changes", "load_fails", "loaded", "scheduled")

    def __init__(self, *, load_fails: bool) -> None:
        self.calls: list[str] = []
        self.changes = 2
        self.load_fails = load_fails
        self.loaded = False
        self.scheduled: list[datetime | None] = []

    @property
    def status(self) -> SecretStatus:
        return SecretStatus(loaded=self.loaded)

    def load(self, settings: Settings) -> SecretStatus:
        self.calls.append("load")
        if self.load_fails:
            raise SecretsError(ErrorCode.ThrottlingException, "slow down")
        self.loaded = True
        return self.status

    def refresh(self, settings: Settings) -> Prepared | None:
        self.calls.append("refresh")
        if self.changes == 0:
            return None
        self.changes -= 1
        return cast(Prepared, object())

    def commit(self, prepared: Prepared) -> SecretStatus:
        self.calls.append("commit")
        self.loaded = True
        return self.status

    def warm(self, settings: Settings) -> None:
        self.calls.append("warm")

    def schedule(self, moment: datetime | None) -> None:
        self.scheduled.append(moment)


@pytest.mark.parametrize(
    ("load_fails", "first_calls"),
    [
        # The failed first load is retried through refresh, which builds its own client.
        (True, ["load", "refresh", "commit", "refresh", "commit"]),
        # After a load (perhaps from the prefetch child) the client is built before the first refresh.
        (False, ["load", "warm", "refresh", "commit", "refresh", "commit"]),
    ],
)
def test_the_supervisor_needs_only_the_secrets_protocol(load_fails: bool, first_calls: list[str]) -> None:
    fake = OnlyTheProtocol(load_fails=load_fails)
    settings = Settings(app_env="production", secrets_retry_max_backoff=0.01, secrets_refresh_interval=0.02)
    supervisor = Supervisor(fake)

    async def scenario() -> None:
        await supervisor.start(settings)
        await wait_until(lambda: fake.calls.count("refresh") >= 4)
        await supervisor.stop()

    asyncio.run(scenario())
    # Each refresh commits exactly what it returned, and nothing when it returned None.
    assert fake.calls[: len(first_calls)] == first_calls
    assert set(fake.calls[len(first_calls) :]) == {"refresh"}
    assert fake.scheduled and all(moment is not None for moment in fake.scheduled)


def test_the_bootstrapper_is_a_supervisor_secrets() -> None:
    secrets: Secrets = SecretsBootstrapper()  # mypy checks the protocol; this checks it at run time too
    for name in ("status", "load", "refresh", "commit", "warm", "schedule"):
        assert hasattr(secrets, name)
