"""Every failure in a load or a refresh is recorded, the commit's included (issue 19, item 3), and
JSON nesting is judged the same way whatever the caller's stack depth. In-process moto."""

from __future__ import annotations

import io
import json
import os
import threading
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any, TypeVar

import pytest

from src import secrets_manager as sm_module
from src.config import Settings, get_config
from src.errors import SecretsError
from src.loading import loader as loader_module
from src.loading.environment import EnvironmentApplier
from src.secret import values
from src.secret.json_object import MAX_NESTING_DEPTH
from src.secret.payload import parse_secret
from src.secrets_manager import SecretsBootstrapper
from src.telemetry import mask as mask_module
from src.telemetry import metrics
from src.telemetry.mask import SecretMasker
from tests.support.canary import SERVICE_ACCOUNT, canary_secret_string

NAME = "short-cut/prod/app"
T = TypeVar("T")


@pytest.fixture
def emf(monkeypatch: pytest.MonkeyPatch) -> io.StringIO:
    stream = io.StringIO()
    monkeypatch.setattr(metrics, "_emitter", metrics.Emitter(environment="prod", enabled=True, stream=stream))
    return stream


@pytest.fixture
def boot(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[SecretsBootstrapper]:
    mask = SecretMasker()
    monkeypatch.setattr(mask_module, "masker", mask)
    bootstrapper = SecretsBootstrapper(applier=EnvironmentApplier(temp_root=str(tmp_path)), log_masker=mask)
    yield bootstrapper
    bootstrapper.applier.cleanup()


def production() -> Settings:
    return Settings(app_env="production", aws_region="us-east-1", secret_name=NAME)


def nested(depth: int) -> str:
    """A valid version whose service-account object carries an extra field nested `depth` deep
    (built as text: the test's own encoder must not recurse)."""
    raw = canary_secret_string(GOOGLE_APPLICATION_CREDENTIALS_JSON={**SERVICE_ACCOUNT, "annotations": "NEST"})
    return raw.replace('"NEST"', "[" * (depth - 2) + '"leaf"' + "]" * (depth - 2))


def at_depth(frames: int, call: Callable[[], T]) -> T:
    """`call()` with `frames` more Python frames under it (the event loop's stack is deeper than a worker's)."""
    if frames <= 0:
        return call()
    return at_depth(frames - 1, call)


def in_thread(call: Callable[[], T]) -> T:
    box: dict[str, Any] = {}

    def run() -> None:
        try:
            box["value"] = call()
        except BaseException as exc:  # handed back to the caller
            box["error"] = exc

    thread = threading.Thread(target=run)
    thread.start()
    thread.join()
    if "error" in box:
        raise box["error"]
    return box["value"]  # type: ignore[no-any-return]


def test_a_deep_nesting_is_refused_in_the_refresh_and_recorded_degraded(
    sm: Any, boot: SecretsBootstrapper, emf: io.StringIO
) -> None:
    sm.create_secret(Name=NAME, SecretString=canary_secret_string())
    boot.load(production())
    sm.put_secret_value(SecretId=NAME, SecretString=nested(900))

    # The nesting is judged in prepare (a worker thread), whatever the stack: the commit is never reached.
    with pytest.raises(SecretsError):
        in_thread(lambda: boot.refresh(production()))
    status = boot.status
    assert status.error is not None and status.full()["error"] is not None
    assert any(json.loads(line).get("SecretRefreshFailure") == 1 for line in emf.getvalue().splitlines())


@pytest.mark.parametrize("frames", [0, 300, 700])
def test_nesting_is_judged_the_same_whatever_the_stack_depth(frames: int) -> None:
    at_depth(frames, lambda: parse_secret(nested(MAX_NESTING_DEPTH), secret_name=NAME))
    for depth in (MAX_NESTING_DEPTH + 1, 500, 5000, 30000):
        with pytest.raises(SecretsError) as caught:
            at_depth(frames, lambda d=depth: parse_secret(nested(d), secret_name=NAME))  # type: ignore[misc]
        assert caught.value.code == "InvalidSecretJSON" and "nest" in caught.value.message
    # A string that holds the service account's JSON is judged by the same rule.
    deep_string = json.dumps({**SERVICE_ACCOUNT, "annotations": json.loads("[" * 40 + "]" * 40)})
    with pytest.raises(SecretsError) as caught:
        at_depth(frames, lambda: parse_secret(canary_secret_string(GOOGLE_APPLICATION_CREDENTIALS_JSON=deep_string)))
    assert caught.value.code in ("InvalidSecretJSON", "InvalidSecretValue")
    # Brackets inside strings are text, not nesting.
    parse_secret(canary_secret_string(MILVUS_HOST="[[[[{{{{" * 100 + "host"))


def test_a_commit_that_fails_at_its_first_side_effect_changes_nothing_and_is_recorded(
    sm: Any, boot: SecretsBootstrapper, emf: io.StringIO, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A real filesystem fault between prepare and commit: the service-account file's rename target
    is a directory (os.replace cannot replace it). Recorded, degraded, and nothing changed."""
    monkeypatch.delenv("APP_SECRET_KEY", raising=False)
    sm.create_secret(Name=NAME, SecretString=canary_secret_string())
    boot.load(production())
    before_status, before_config, before_mask = boot.status, get_config(), boot._masker.current
    before_env = dict(os.environ)
    rotated = "CANARYrotated-commit-fault-31337"
    sm.put_secret_value(SecretId=NAME, SecretString=canary_secret_string(APP_SECRET_KEY=rotated))
    prepared = boot.refresh(production())
    assert prepared is not None
    target = Path(before_config.google_application_credentials or "")
    target.unlink()
    target.mkdir()
    (target / "occupied").write_text("x")
    with pytest.raises(SecretsError) as caught:
        boot.commit(prepared)
    assert caught.value.code == "ServiceAccountFile"
    assert boot.status.error is caught.value and boot.status.version_ids == before_status.version_ids
    assert (
        get_config() is before_config and dict(os.environ) == before_env and os.environ.get("APP_SECRET_KEY") != rotated
    )
    assert boot._masker.current is before_mask
    assert any(json.loads(line).get("SecretRefreshFailure") == 1 for line in emf.getvalue().splitlines())


def test_nothing_after_the_first_side_effect_can_fail_the_commit(
    sm: Any, boot: SecretsBootstrapper, emf: io.StringIO, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Once the environment is written, a failing report (metrics, the version log line) does not
    turn the commit into a failure: config, status and mask follow the environment."""
    sm.create_secret(Name=NAME, SecretString=canary_secret_string())
    boot.load(production())
    rotated = "CANARYrotated-0000000000"
    sm.put_secret_value(SecretId=NAME, SecretString=canary_secret_string(APP_SECRET_KEY=rotated))
    prepared = boot.refresh(production())
    assert prepared is not None

    def broken(*_: Any, **__: Any) -> None:
        raise RecursionError("CANARY deep inside the reporting")

    monkeypatch.setattr(metrics, "version_changed", broken)
    monkeypatch.setattr(sm_module, "_log_loaded", broken)
    status = boot.commit(prepared)
    assert status.error is None and boot.status is status and status.version_ids == prepared.versions
    assert os.environ["APP_SECRET_KEY"] == rotated
    key = get_config().app_secret_key
    assert key is not None and key.get_secret_value() == rotated
    assert boot._masker.current is prepared.mask
    assert not any(json.loads(line).get("SecretRefreshFailure") for line in emf.getvalue().splitlines())


def test_example_keys_are_judged_in_prepare_not_in_the_commit(
    sm: Any, boot: SecretsBootstrapper, monkeypatch: pytest.MonkeyPatch
) -> None:
    sm.create_secret(Name=NAME, SecretString=canary_secret_string())
    prepared = boot.prepare(production())

    def refused(_: Any) -> list[str]:
        raise AssertionError("known_example_keys called in the commit")

    monkeypatch.setattr(values, "known_example_keys", refused)
    monkeypatch.setattr(loader_module, "known_example_keys", refused)
    assert boot.commit(prepared).example_keys == prepared.example_keys == ()
