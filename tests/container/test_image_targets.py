"""`make image` and `make push-image`, run for real: podman builds the image in a clean clone of
the last commit (with this tree's Makefile), and push-image logs in and pushes to a registry on
loopback, from which the image is pulled back by the URI it printed.

The registry is Debian's `docker-registry` (the CNCF distribution registry, the code behind
Docker Hub's registry API), started on a free loopback port with no auth. ECR is reached the
same way by the Makefile: `aws ecr get-login-password --region R | podman login --username AWS
--password-stdin <registry>` (https://docs.aws.amazon.com/AmazonECR/latest/userguide/registry_auth.html);
here `aws` is a stub that prints a fake password and records its arguments, since the registry
accepts any login. What ECR adds and the registry does not have: TLS (podman is told that this
one loopback registry is plain HTTP through a registries.conf of the test's own) and immutable
tags (https://docs.aws.amazon.com/AmazonECR/latest/userguide/image-tag-mutability.html), which is
why push-image refuses a -dirty tag before it builds anything.
"""

from __future__ import annotations

import json
import re
import shutil
import stat
import subprocess
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from tests.container.conftest import LIMITS, podman
from tests.support.cfn import load
from tests.support.processes import ROOT, Process, free_port, wait_for

pytestmark = pytest.mark.usefixtures("image")  # the stand-in base is built, the layers cached
BUILD_FLAGS = " ".join(["--pull=never", "--network=host", *LIMITS])
REGISTRY_CONFIG = """\
version: 0.1
storage:
  filesystem:
    rootdirectory: {root}
  delete:
    enabled: true
http:
  addr: 127.0.0.1:{port}
"""


@pytest.fixture(scope="module")
def registry(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """A registry on a free loopback port, no auth; stopped and its storage removed after."""
    binary = shutil.which("docker-registry")
    assert binary, "docker-registry is missing: make container-test installs it (APT_PACKAGES_container)"
    folder = tmp_path_factory.mktemp("registry")
    port = free_port()
    config = folder / "config.yml"
    config.write_text(REGISTRY_CONFIG.format(root=folder / "storage", port=port), encoding="utf-8")
    process = Process([binary, "serve", str(config)], env={"PATH": "/usr/bin:/bin"}, log_path=folder / "log").start()
    try:
        wait_for(f"http://127.0.0.1:{port}/v2/", timeout=30)
        yield f"127.0.0.1:{port}"
    finally:
        process.stop()


@pytest.fixture(scope="module")
def clone(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    """The last commit, checked out clean, with this tree's Makefile (not one of the image's
    files). The tags `make image` gave are removed after (the cached layers stay)."""
    target = tmp_path_factory.mktemp("clone") / "short-cut"
    subprocess.run(["git", "clone", "--quiet", "--no-hardlinks", str(ROOT), str(target)], check=True, timeout=120)
    shutil.copy(ROOT / "Makefile", target / "Makefile")
    (target / "tools").mkdir(exist_ok=True)
    shutil.copy(ROOT / "tools/image_tree.py", target / "tools/image_tree.py")
    yield target
    sha = commit(target)
    for tag in (f"short-cut-api:{sha}", f"short-cut-api:{sha}-dirty"):
        podman("rmi", tag, check=False)


@pytest.fixture(scope="module")
def tools(tmp_path_factory: pytest.TempPathFactory, registry: str) -> dict[str, str]:
    """The environment for make: a stub `aws` first on PATH, and a registries.conf that marks
    the loopback registry as plain HTTP (ECR itself is HTTPS)."""
    folder = tmp_path_factory.mktemp("tools")
    calls = folder / "aws-calls"
    aws = folder / "aws"
    aws.write_text(f'#!/bin/sh\necho "$*" >> {calls}\necho not-a-real-ecr-password\n', encoding="utf-8")
    aws.chmod(aws.stat().st_mode | stat.S_IXUSR)
    registries = folder / "registries.conf"
    registries.write_text(
        f'unqualified-search-registries = ["docker.io"]\n\n[[registry]]\nlocation = "{registry}"\ninsecure = true\n',
        encoding="utf-8",
    )
    return {
        "PATH": f"{folder}:/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin",
        "HOME": str(folder),
        "CONTAINERS_REGISTRIES_CONF": str(registries),
        "REGISTRY_AUTH_FILE": str(folder / "auth.json"),
        "AWS_CALLS": str(calls),
    }


def make(clone: Path, env: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        ["make", "--no-print-directory", "-C", str(clone), *args, f"IMAGE_BUILD_FLAGS={BUILD_FLAGS}"],
        env=env, capture_output=True, text=True, timeout=900, check=False,
    )  # fmt: skip


def commit(clone: Path) -> str:
    return subprocess.run(
        ["git", "-C", str(clone), "rev-parse", "--short=12", "HEAD"], capture_output=True, text=True, check=True
    ).stdout.strip()


def tags(registry: str, repository: str) -> list[str]:
    response = httpx.get(f"http://{registry}/v2/{repository}/tags/list", timeout=10)
    if response.status_code == 404:
        return []
    found: list[str] = response.json().get("tags") or []
    return found


def test_make_image_tags_the_commit_and_keeps_the_healthcheck(clone: Path, tools: dict[str, str]) -> None:
    built = make(clone, tools, "image")
    assert built.returncode == 0, built.stderr[-3000:]
    tag = f"short-cut-api:{commit(clone)}"
    assert f"built {tag}" in built.stdout
    inspected = json.loads(podman("image", "inspect", tag).stdout)[0]
    # Built in docker format, the HEALTHCHECK is in the image (an OCI build would have dropped it).
    assert inspected["Healthcheck"]["Test"] == ["CMD", "python", "/app/src/healthcheck.py"]
    assert "docker.distribution.manifest.v2" in inspected["ManifestType"]
    assert (inspected["Os"], inspected["Architecture"]) == ("linux", "amd64")  # the task's runtimePlatform
    assert inspected["Config"]["User"] == "10001:10001"


def test_make_push_image_pushes_and_prints_the_uri_the_stack_takes(
    clone: Path, tools: dict[str, str], registry: str
) -> None:
    repository = f"{registry}/short-cut-api"
    env = {**tools, "AWS_REGION": "eu-west-2"}
    pushed = make(clone, env, "push-image", f"ECR_REPO_URI={repository}")
    assert pushed.returncode == 0, pushed.stdout[-2000:] + pushed.stderr[-3000:]
    sha = commit(clone)
    printed = [line.split("=", 1)[1] for line in pushed.stdout.splitlines() if line.startswith("ImageUri=")]
    assert printed == [f"{repository}:{sha}"], pushed.stdout[-2000:]
    # The login went through `aws ecr get-login-password` for the region, as for ECR.
    assert Path(tools["AWS_CALLS"]).read_text().splitlines() == ["ecr get-login-password --region eu-west-2"]
    assert tags(registry, "short-cut-api") == [sha]
    # The printed URI is one the stack's ImageUri parameter accepts (its AllowedPattern).
    pattern = load(ROOT / "infra/cloudformation/short-cut.yaml")["Parameters"]["ImageUri"]["AllowedPattern"]
    ecr_form = printed[0].replace(registry, "123456789012.dkr.ecr.eu-west-2.amazonaws.com")
    assert re.fullmatch(pattern, ecr_form), (pattern, ecr_form)

    # Pulled back by that URI: the same image, the health check still in it.
    local = podman("image", "inspect", "--format", "{{.Id}}", printed[0]).stdout.strip()
    podman("rmi", printed[0])
    pull = subprocess.run(["podman", "pull", "-q", printed[0]], env=env, capture_output=True, text=True, timeout=300)
    assert pull.returncode == 0, pull.stderr[-2000:]
    pulled = json.loads(podman("image", "inspect", printed[0]).stdout)[0]
    assert pulled["Id"] == local
    assert pulled["Healthcheck"]["Test"] == ["CMD", "python", "/app/src/healthcheck.py"]
    podman("rmi", printed[0], check=False)


def test_push_image_refuses_a_dirty_tree_and_a_missing_repository(
    clone: Path, tools: dict[str, str], registry: str
) -> None:
    before = tags(registry, "refused")
    missing = make(clone, {**tools, "AWS_REGION": "eu-west-2"}, "push-image")
    assert missing.returncode != 0 and "set ECR_REPO_URI=" in missing.stderr, missing.stderr
    entrypoint = clone / "entrypoint.sh"
    original = entrypoint.read_text()
    entrypoint.write_text(original + "# a local change\n")
    try:
        dirty = make(clone, tools, "push-image", f"ECR_REPO_URI={registry}/refused", "AWS_REGION=eu-west-2")
        assert dirty.returncode != 0
        assert f"refusing {commit(clone)}-dirty" in dirty.stderr, dirty.stderr
        assert "build" not in dirty.stdout  # refused before building, logging in or pushing
        assert not Path(tools["AWS_CALLS"]).exists() or "refused" not in Path(tools["AWS_CALLS"]).read_text()
        assert tags(registry, "refused") == before == []
        # `make image-tag` names the -dirty tag `make image` would build.
        assert make(clone, tools, "image-tag").stdout.strip() == f"{commit(clone)}-dirty"
    finally:
        entrypoint.write_text(original)
    assert make(clone, tools, "image-tag").stdout.strip() == commit(clone)
    # The dirty check is .dockerignore's rule (tools/image_tree.py, issue 29): a file the image
    # would ship is dirty, even in a folder whose name ends in __pycache__; one .dockerignore drops
    # (src/.env) does not ship and does not change the tag. tests/unit/test_image_tree.py has the rest.
    shipped = clone / "src" / "evil__pycache__" / "payload.py"
    shipped.parent.mkdir()
    shipped.write_text("print('not in the commit')\n")
    leftover = clone / "src" / ".env"
    leftover.write_text("OPENAI_API_KEY=not-for-the-image\n")
    try:
        assert make(clone, tools, "image-tag").stdout.strip() == f"{commit(clone)}-dirty"
        shipped.unlink()
        assert make(clone, tools, "image-tag").stdout.strip() == commit(clone)
    finally:
        leftover.unlink()
        shutil.rmtree(shipped.parent)


def test_image_tag_comes_from_the_commit_or_the_command_line_and_is_validated(
    clone: Path, tools: dict[str, str]
) -> None:
    # An IMAGE_TAG in the environment (a CI job's IMAGE_TAG=latest) is ignored: the commit wins.
    assert make(clone, {**tools, "IMAGE_TAG": "latest"}, "image-tag").stdout.strip() == commit(clone)
    assert make(clone, tools, "image-tag", "IMAGE_TAG=v1.2.3").stdout.strip() == "v1.2.3"
    marker = clone / "injected"
    for bad in ("latest", "x';touch injected;'", 'x"; touch injected; "', "-leading-dash", "a" * 129):
        refused = make(clone, tools, "image", f"IMAGE_TAG={bad}")
        assert refused.returncode == 2, (bad, refused.stdout, refused.stderr)
        assert "IMAGE_TAG must match" in refused.stderr
        assert not marker.exists() and "build" not in refused.stdout
    refused = make(clone, tools, "push-image", "ECR_REPO_URI=registry.example/repo;touch injected")
    assert refused.returncode == 2 and "is not a repository URI" in refused.stderr
    assert not marker.exists()
