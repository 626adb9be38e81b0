"""Who can reach the port (issue 29, item 7): local mode binds loopback unless HOST says
otherwise; the image keeps 0.0.0.0 (a published port and ECS awsvpc reach the container on its own
interface); compose publishes every port on 127.0.0.1 only."""

from __future__ import annotations

import re
import subprocess

import pytest
import yaml

from tests.support.processes import ROOT, clean_environment


def uvicorn_argv(**env: str) -> list[str]:
    """The command line entrypoint.sh would exec (PYTHON=echo prints it)."""
    done = subprocess.run(
        [str(ROOT / "entrypoint.sh")],
        env=clean_environment(**{"PYTHON": "echo", "ENV_FILE": "/nonexistent.env", **env}),
        capture_output=True, text=True, timeout=30, check=False,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    return done.stdout.split()


def bind(**env: str) -> str:
    argv = uvicorn_argv(**env)
    return argv[argv.index("--host") + 1]


def test_local_mode_binds_loopback_by_default() -> None:
    assert bind() == "127.0.0.1"
    assert bind(APP_ENV="local") == "127.0.0.1"
    assert bind(APP_ENV="development") == "0.0.0.0"
    assert bind(APP_ENV="production", AWS_REGION="us-east-1") == "0.0.0.0"
    assert bind(APP_ENV="local", HOST="0.0.0.0") == "0.0.0.0"  # the image's setting wins
    assert bind(APP_ENV="production", AWS_REGION="us-east-1", HOST="::1") == "::1"


@pytest.mark.parametrize("host", ["0.0.0.0 --reload", "$(touch x)", "a;b", "\n0.0.0.0"])
def test_a_host_that_is_not_an_address_exits_78(host: str) -> None:
    done = subprocess.run(
        [str(ROOT / "entrypoint.sh")],
        env=clean_environment(PYTHON="echo", HOST=host),
        capture_output=True, text=True, timeout=30, check=False,
    )  # fmt: skip
    assert done.returncode == 78 and "HOST=" in done.stderr


def test_the_image_binds_every_interface() -> None:
    # ECS awsvpc: the load balancer and the agent's health checks reach the task's ENI address.
    runtime = (ROOT / "Dockerfile").read_text().split(" AS runtime", 1)[1]
    assert re.search(r"^\s+HOST=0\.0\.0\.0\s*$", runtime, re.MULTILINE), "the runtime stage must set HOST=0.0.0.0"


def test_compose_publishes_on_loopback_only() -> None:
    compose = yaml.safe_load((ROOT / "docker-compose.yml").read_text())
    published = [(name, port) for name, svc in compose["services"].items() for port in svc.get("ports", [])]
    assert {name for name, _ in published} == {"api", "aws-emulator", "api-aws"}
    for name, port in published:
        assert str(port).startswith("127.0.0.1:"), (name, port)
