"""End-to-end fixtures: a real moto_server over HTTP and ./entrypoint.sh as a subprocess."""

from __future__ import annotations

import json
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import boto3
import pytest

from tests.support.fault_proxy import FaultProxy
from tests.support.processes import DUMMY_CREDENTIALS, Process, running_moto, start_service

REGION = "us-east-1"


@pytest.fixture(scope="session")
def moto_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    with running_moto(tmp_path_factory.mktemp("moto")) as url:
        yield url


def moto_client(service: str, moto_url: str) -> Any:
    """A boto3 client for `service` on moto_server, with the dummy credentials."""
    return boto3.client(
        service,  # type: ignore[call-overload]
        region_name=REGION,
        endpoint_url=moto_url,
        aws_access_key_id=DUMMY_CREDENTIALS["AWS_ACCESS_KEY_ID"],
        aws_secret_access_key=DUMMY_CREDENTIALS["AWS_SECRET_ACCESS_KEY"],
    )


@pytest.fixture
def sm(moto_url: str) -> Any:
    """A boto3 client on moto_server, for seeding and changing secrets."""
    return moto_client("secretsmanager", moto_url)


@pytest.fixture
def secret_name() -> str:
    """A fresh secret name per test: moto keeps state for the whole session."""
    return f"short-cut/prod/app-e2e-{uuid.uuid4().hex[:8]}"


@pytest.fixture
def create_secret(sm: Any) -> Callable[..., str]:
    def create(name: str, value: dict[str, object] | str) -> str:
        text = value if isinstance(value, str) else json.dumps(value)
        return str(sm.create_secret(Name=name, SecretString=text)["VersionId"])

    return create


@pytest.fixture
def proxy(moto_url: str) -> Iterator[FaultProxy]:
    fault_proxy = FaultProxy(moto_url).start()
    try:
        yield fault_proxy
    finally:
        fault_proxy.stop()


ServiceFactory = Callable[..., tuple[Process, str]]


@pytest.fixture
def service(tmp_path: Path) -> Iterator[ServiceFactory]:
    """Starts ./entrypoint.sh with a given environment; every process is stopped at teardown."""
    started: list[Process] = []

    def start(env: dict[str, str], *, endpoint: str | None = None, port: int | None = None) -> tuple[Process, str]:
        full = {"ENV_FILE": str(tmp_path / "absent.env"), "SECRETS_FILE_DIR": str(tmp_path), **env}
        if endpoint:
            full.setdefault("AWS_ENDPOINT_URL_SECRETS_MANAGER", endpoint)
            full.update({k: v for k, v in DUMMY_CREDENTIALS.items() if k not in env})
        process, url = start_service(tmp_path, full, port=port)
        started.append(process)
        return process, url

    yield start
    for process in started:
        process.stop()


def production_env(secret_name: str, **extra: str) -> dict[str, str]:
    return {"APP_ENV": "production", "AWS_REGION": REGION, "SECRET_NAME": secret_name, **extra}
