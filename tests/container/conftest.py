"""Container fixtures: the stand-in base image, the real Dockerfile built with podman, and
containers that are always removed. Flags are the ones that work in this sandbox."""

from __future__ import annotations

import shutil
import subprocess
import uuid
from collections.abc import Iterator

import pytest

from tests.support.processes import ROOT

IMAGE = "short-cut-api:test"
MOTO_IMAGE = "docker.io/motoserver/moto:5.2.5"
LIMITS = ["--ulimit", "nofile=1024:1024", "--ulimit", "nproc=1024:1024"]
# Lines the ECS runner wants in the test output whatever the verbosity: which credentials
# route ran, whether cpu/memory limits applied.
NOTES: list[str] = []


def pytest_terminal_summary(terminalreporter: pytest.TerminalReporter) -> None:
    if NOTES:
        terminalreporter.section("ECS task-definition runner")
        for line in NOTES:
            terminalreporter.write_line(line)


def podman(*args: str, timeout: float = 600, check: bool = True) -> subprocess.CompletedProcess[str]:
    result = subprocess.run(["podman", *args], capture_output=True, text=True, timeout=timeout, check=False)
    if check and result.returncode != 0:
        raise AssertionError(f"podman {' '.join(args[:3])} failed: {result.stderr[-2000:]}")
    return result


def build(tag: str, *args: str) -> None:
    podman("build", "-q", "--pull=never", "--network=host", "--format", "docker", *LIMITS, "-t", tag, *args)


@pytest.fixture(scope="session")
def image() -> str:
    assert shutil.which("podman"), "podman is missing: make container-test installs it"
    subprocess.run(["sh", str(ROOT / "tests/container/build-standin-base.sh")], check=True, timeout=600)
    build(IMAGE, str(ROOT))
    return IMAGE


@pytest.fixture(scope="session")
def moto_image(image: str) -> str:
    if podman("image", "exists", MOTO_IMAGE, check=False).returncode != 0:
        build(MOTO_IMAGE, "-f", str(ROOT / "tests/container/moto-standin.Containerfile"), str(ROOT / "tests/container"))
    return MOTO_IMAGE


@pytest.fixture
def containers() -> Iterator[list[str]]:
    """Names to give containers; each is force-removed at teardown, with the anonymous volume
    podman makes for the image's VOLUME /tmp."""
    names: list[str] = []
    yield names
    for name in names:
        podman("rm", "-f", "-v", "-t", "0", name, check=False, timeout=60)


def new_name(names: list[str]) -> str:
    name = f"short-cut-test-{uuid.uuid4().hex[:8]}"
    names.append(name)
    return name
