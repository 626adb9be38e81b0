"""Rotation without downtime: a running service follows two rotations and a rollback
under continuous requests, with no failed request and no restart."""

from __future__ import annotations

import json
import subprocess
import threading
import time
from collections import Counter
from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx

from tests.e2e.conftest import ServiceFactory, production_env
from tests.e2e.test_bootstrap import credentials_files, wait_health
from tests.support.canary import SERVICE_ACCOUNT, canary_payload, leaked
from tests.support.fault_proxy import Fault, FaultProxy
from tests.support.processes import BIN, DUMMY_CREDENTIALS, ROOT, clean_environment


class Load:
    """Requests /health and /health/live in a loop from two threads, counting status codes."""

    def __init__(self, url: str) -> None:
        self.url = url
        self.codes: Counter[int] = Counter()
        self.errors: list[str] = []
        self._stop = threading.Event()
        self._threads = [threading.Thread(target=self._run, args=(path,)) for path in ("/health", "/health/live")]

    def _run(self, path: str) -> None:
        with httpx.Client(timeout=5) as client:
            deadline = time.monotonic() + 60  # bounded even if stop() is never called
            while not self._stop.is_set() and time.monotonic() < deadline:
                try:
                    self.codes[client.get(self.url + path).status_code] += 1
                except httpx.HTTPError as exc:
                    self.errors.append(type(exc).__name__)

    def __enter__(self) -> Load:
        for thread in self._threads:
            thread.start()
        return self

    def __exit__(self, *_: object) -> None:
        self._stop.set()
        for thread in self._threads:
            thread.join(timeout=10)


def cli(moto_url: str, *args: str, stdin: str | None = None) -> dict[str, Any]:
    env = clean_environment(AWS_REGION="us-east-1", AWS_ENDPOINT_URL_SECRETS_MANAGER=moto_url, **DUMMY_CREDENTIALS)
    result = subprocess.run(
        [str(BIN / "python"), "-m", "src.cli", *args, "--json"],
        cwd=ROOT, env=env, input=stdin, capture_output=True, text=True, timeout=60, check=False,
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    assert leaked(result.stdout, result.stderr) == []
    return dict(json.loads(result.stdout))


def wait_version(url: str, name: str, version: str, within: float) -> float:
    started = time.monotonic()
    while time.monotonic() - started < within:
        body = httpx.get(f"{url}/health", timeout=5).json()
        if body["secrets"]["version_ids"].get(name) == version:
            return time.monotonic() - started
        time.sleep(0.05)
    raise AssertionError(f"/health did not show {version} within {within}s")


def test_rotate_twice_and_roll_back_under_load(
    service: ServiceFactory, create_secret: Callable[..., str], secret_name: str, moto_url: str, tmp_path: Path
) -> None:
    v1 = create_secret(secret_name, canary_payload())
    process, url = service(production_env(secret_name, SECRETS_REFRESH_INTERVAL="1"), endpoint=moto_url)
    wait_health(url, 200)
    (sa_file,) = credentials_files(tmp_path)
    seen: list[float] = []
    with Load(url) as load:
        time.sleep(0.5)
        v2 = cli(moto_url, "rotate", "--name", secret_name, "--key", "APP_SECRET_KEY", "--yes")["version_id"]
        seen.append(wait_version(url, secret_name, v2, within=3))

        rotated_sa = json.dumps({**SERVICE_ACCOUNT, "private_key_id": "rotated-key-id-2"})
        v3 = cli(
            moto_url, "rotate", "--name", secret_name, "--key", "GOOGLE_APPLICATION_CREDENTIALS_JSON",
            "--value-stdin", "--yes", stdin=rotated_sa,
        )["version_id"]  # fmt: skip
        seen.append(wait_version(url, secret_name, v3, within=3))
        assert json.loads(sa_file.read_text())["private_key_id"] == "rotated-key-id-2"

        back = cli(moto_url, "rollback", "--name", secret_name, "--yes")
        assert back["to_version_id"] == v2
        seen.append(wait_version(url, secret_name, v2, within=3))
        assert json.loads(sa_file.read_text())["private_key_id"] == SERVICE_ACCOUNT["private_key_id"]
        time.sleep(0.5)

    assert load.errors == []
    assert set(load.codes) == {200}, load.codes
    assert sum(load.codes.values()) > 100
    assert v1 not in (v2, v3)
    body = httpx.get(f"{url}/health").json()
    assert body["secrets"]["last_refresh_at"] and body["secrets"]["next_refresh_at"]
    assert process.proc is not None and process.proc.poll() is None
    log = process.output()
    assert log.count("secrets loaded") == 4
    assert leaked(log) == []
    assert credentials_files(tmp_path) == [sa_file]


def test_failed_refresh_degrades_then_recovers(
    service: ServiceFactory, create_secret: Callable[..., str], secret_name: str, proxy: FaultProxy
) -> None:
    v1 = create_secret(secret_name, canary_payload())
    _, url = service(
        production_env(secret_name, SECRETS_REFRESH_INTERVAL="0.5", SECRETS_RETRY_MAX_BACKOFF="0.5"), endpoint=proxy.url
    )
    wait_health(url, 200)
    proxy.set_fault(Fault("error", "AccessDeniedException"))
    body = wait_health(url, 200)
    deadline = time.monotonic() + 10
    while body["status"] != "degraded" and time.monotonic() < deadline:
        time.sleep(0.1)
        body = httpx.get(f"{url}/health").json()
    assert body["status"] == "degraded"
    assert body["secrets"]["error"]["code"] == "AccessDeniedException"
    assert body["secrets"]["version_ids"] == {secret_name: v1}
    assert body["secrets"]["age_seconds"] is not None
    proxy.clear()
    deadline = time.monotonic() + 10
    while body["status"] != "ok" and time.monotonic() < deadline:
        time.sleep(0.1)
        body = httpx.get(f"{url}/health").json()
    assert body["status"] == "ok" and body["secrets"]["error"] is None


def test_stale_values_become_503(
    service: ServiceFactory, create_secret: Callable[..., str], secret_name: str, proxy: FaultProxy
) -> None:
    create_secret(secret_name, canary_payload())
    env = production_env(
        secret_name, SECRETS_REFRESH_INTERVAL="0.3", SECRETS_RETRY_MAX_BACKOFF="0.3", SECRETS_MAX_STALENESS="2"
    )
    _, url = service(env, endpoint=proxy.url)
    wait_health(url, 200)
    proxy.set_fault(Fault("error", "InternalServiceError"))
    body = wait_health(url, 503, timeout=15)
    assert body["status"] == "unavailable"
    assert body["secrets"]["loaded"] is True
    assert body["secrets"]["age_seconds"] >= 2
    proxy.clear()
    assert wait_health(url, 200)["status"] == "ok"


def test_unchanged_secret_costs_one_describe_per_interval(
    service: ServiceFactory, create_secret: Callable[..., str], secret_name: str, proxy: FaultProxy
) -> None:
    create_secret(secret_name, canary_payload())
    _, url = service(production_env(secret_name, SECRETS_REFRESH_INTERVAL="0.5"), endpoint=proxy.url)
    wait_health(url, 200)
    time.sleep(3.2)
    assert proxy.calls["GetSecretValue"] == 1
    # 3.2 s at 0.5 s ± 10 % jitter: 5 to 7 checks.
    assert 5 <= proxy.calls["DescribeSecret"] <= 7, proxy.calls
