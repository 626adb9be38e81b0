"""Every image docker-compose.yml (and the Dockerfile's default base) pulls is named in full,
registry included (issue 28 item 10).

podman resolves a short name such as `motoserver/moto:5.2.5` only through the
`unqualified-search-registries` of registries.conf, and Debian's podman ships none: it refuses
the pull ("short-name ... did not resolve to an alias and no unqualified-search registries are
defined": containers/image#1090 made it an error; podman#9390 and podman#12933, "The error is
expected behavior"), and podman-compose then loops on `podman wait` for a container that never existed. A name is fully
qualified when its first component is a registry host: it holds a "." or a ":", or is
`localhost` (the reference grammar of github.com/distribution/reference, normalize.go,
splitDockerDomain).
"""

from __future__ import annotations

import re

import pytest
import yaml

from tests.support.processes import ROOT

COMPOSE = ROOT / "docker-compose.yml"
DOCKERFILE = ROOT / "Dockerfile"
DEFAULT = re.compile(r"\$\{[A-Z_]+:-([^}]+)\}")


def fully_qualified(image: str) -> bool:
    first, _, rest = image.partition("/")
    return bool(rest) and ("." in first or ":" in first or first == "localhost")


def pulled_images(compose: dict[str, object]) -> list[str]:
    """The images compose pulls: a service's image unless this file builds it (the api services build
    short-cut-api:local, which aws-seed then runs), and every build's BASE_IMAGE default (the FROM)."""
    images = []
    services = compose.get("services")
    assert isinstance(services, dict)
    built = {str(s["image"]) for s in services.values() if s.get("build") is not None and "image" in s}
    for service in services.values():
        build = service.get("build")
        if build is None and "image" in service and str(service["image"]) not in built:
            images.append(str(service["image"]))
        if isinstance(build, dict):
            for value in (build.get("args") or {}).values():
                images.extend(DEFAULT.findall(str(value)))
    return images


def test_compose_pulls_only_fully_qualified_images() -> None:
    compose = yaml.safe_load(COMPOSE.read_text(encoding="utf-8"))
    images = pulled_images(compose)
    assert any("moto" in image for image in images), images  # the emulator is among them
    assert any("python" in image for image in images), images  # and the base image
    short = [image for image in images if not fully_qualified(image)]
    assert not short, f"short image names podman may refuse: {short} (write docker.io/...)"


def test_dockerfile_default_base_is_fully_qualified() -> None:
    defaults = re.findall(r"^ARG BASE_IMAGE=(\S+)$", DOCKERFILE.read_text(encoding="utf-8"), re.MULTILINE)
    assert defaults, "Dockerfile has no ARG BASE_IMAGE default"
    assert all(fully_qualified(image) for image in defaults), defaults


@pytest.mark.parametrize(
    ("image", "expected"),
    [
        ("motoserver/moto:5.2.5", False),
        ("python:3.12-slim", False),
        ("docker.io/motoserver/moto:5.2.5", True),
        ("docker.io/library/python:3.12-slim", True),
        ("localhost/short-cut-api:local", True),
        ("registry:5000/x:1", True),
    ],
)
def test_fully_qualified_rule(image: str, expected: bool) -> None:
    assert fully_qualified(image) is expected
