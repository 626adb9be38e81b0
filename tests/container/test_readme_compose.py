"""The documentation's (README.md, docs/*.md) `docker compose` / `podman-compose` blocks (marked
`<!-- test: compose -->`), run with podman-compose on the image this suite builds (issue 21 §3).

Contract: each distinct compose command of those blocks (the same options under docker and
podman run once) is brought up detached with the options the README gives it, plus this sandbox's
host-network override (tests/container/compose.host-network.yml: free loopback ports instead of
8000/8001); every service it starts that serves HTTP answers 200 on /health within 90 s; then
the project is taken down. `make test` checks the same blocks' profiles and options without an
image (tests/docs/test_readme_commands.py::test_compose_block).
"""

from __future__ import annotations

import os
import time
from collections.abc import Sequence

import httpx
import pytest

from tests.container.conftest import podman
from tests.container.test_container import compose
from tests.support.processes import ROOT, free_port
from tests.support.readme_blocks import COMPOSE, compose_arguments, compose_services, parse_documents

# The services that serve HTTP, and the variable the host-network override takes their port from.
SERVING = {"api": "API_PORT", "api-aws": "API_AWS_PORT"}


def readme_compose_commands() -> dict[tuple[str, ...], list[str]]:
    """Each compose command's words from `--profile ...` to its services -> the README lines that give it."""
    commands: dict[tuple[str, ...], list[str]] = {}
    for block in parse_documents(ROOT):  # the README and the docs pages (docs/running-locally.md)
        if block.mode != COMPOSE:
            continue
        for command in block.commands:
            arguments = compose_arguments(command)
            assert arguments is not None, f"{block.where}: not a compose command: {command}"
            key = (*arguments, "up", *compose_services(command))
            commands.setdefault(key, []).append(f"{block.where}: {command}")
    return commands


COMMANDS = readme_compose_commands()


def started_services(project: str) -> list[str]:
    service = '{{index .Labels "com.docker.compose.service"}}'
    listed = podman("ps", "-a", "--filter", f"label=com.docker.compose.project={project}", "--format", service)
    return sorted(set(listed.stdout.split()))


def health(port: str, deadline: float) -> int | None:
    status = None
    while time.monotonic() < deadline:
        try:
            status = httpx.get(f"http://127.0.0.1:{port}/health", timeout=2).status_code
            if status == 200:
                return status
        except httpx.HTTPError:
            pass
        time.sleep(0.5)
    return status


@pytest.mark.parametrize("arguments", list(COMMANDS), ids=[" ".join(a) for a in COMMANDS])
def test_readme_compose_command_serves(arguments: Sequence[str], image: str, moto_image: str) -> None:
    podman("tag", image, "short-cut-api:local")  # what the compose file names; --no-build uses it
    emulator = free_port()
    env = {
        **os.environ,
        "COMPOSE_PROJECT_NAME": f"screadme{os.getpid()}{len(arguments)}",
        "EMULATOR_PORT": str(emulator),
        "EMULATOR_URL": f"http://127.0.0.1:{emulator}",
        "API_PORT": str(free_port()),
        "API_AWS_PORT": str(free_port()),
    }
    where = "\n".join(COMMANDS[tuple(arguments)])
    try:
        options, services = arguments[: arguments.index("up")], arguments[arguments.index("up") + 1 :]
        up = compose(*options, "up", "-d", "--no-build", *services, env=env)
        assert up.returncode == 0, f"{where}\n{up.stderr[-2000:]}"
        services = started_services(env["COMPOSE_PROJECT_NAME"])
        serving = [s for s in services if s in SERVING]
        assert serving, f"{where}: started {services}, none of which serves"
        deadline = time.monotonic() + 90
        statuses = {s: health(env[SERVING[s]], deadline) for s in serving}
        assert statuses == dict.fromkeys(serving, 200), f"{where}: /health {statuses}"
    finally:
        compose(*arguments[: arguments.index("up")], "down", "-v", "-t", "5", env=env)
