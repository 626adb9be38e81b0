"""The image's tag names its code (issue 29, item 8), without podman: `make image-tag` and
`make push-image` in a clean clone of the last commit (with this tree's Makefile and
tools/image_tree.py), a stub container tool and a stub `aws` that record their arguments.

- The dirty check is .dockerignore's rule (tools/image_tree.py): a file ships exactly when it
  counts, so `src/evil__pycache__/payload.py` (which `src/**/__pycache__` does not exclude) makes
  the tag -dirty, and a `__pycache__` folder or `src/.env` (excluded) does not.
- git's index flags (skip-worktree, assume-unchanged) hide nothing: bytes are compared.
- No command-line or environment value replaces the computed tag (IMAGE_TAG_VALUE=<sha>, make -e),
  and push-image refuses a tree that differs from the commit whatever the tag.
- IMAGE_PLATFORM and IMAGE_BUILD_FLAGS reach the build as words, never as shell text.
The real build and push, with podman and a registry: tests/container/test_image_targets.py.
"""

from __future__ import annotations

import shutil
import stat
import subprocess
from pathlib import Path

import pytest

from tests.support.processes import ROOT

STUB = """#!/bin/sh
for word in "$@"; do printf '%s\\n' "$word"; done >> {log}
echo --- >> {log}
[ "$1" = login ] && cat > /dev/null
exit 0
"""


@pytest.fixture
def clone(tmp_path: Path) -> Path:
    target = tmp_path / "short-cut"
    subprocess.run(["git", "clone", "--quiet", "--no-hardlinks", str(ROOT), str(target)], check=True, timeout=120)
    for name in ("Makefile", "tools/image_tree.py"):
        (target / name).parent.mkdir(exist_ok=True)
        shutil.copy(ROOT / name, target / name)
    for tool in ("podman", "aws"):
        stub = tmp_path / "bin" / tool
        stub.parent.mkdir(exist_ok=True)
        stub.write_text(STUB.format(log=tmp_path / f"{tool}.log"))
        stub.chmod(stub.stat().st_mode | stat.S_IXUSR)
    return target


def make(clone: Path, *args: str, **env: str) -> subprocess.CompletedProcess[str]:
    path = f"{clone.parent / 'bin'}:/usr/local/bin:/usr/bin:/bin"
    return subprocess.run(
        ["make", "--no-print-directory", "-C", str(clone), *args],
        env={"PATH": path, "HOME": str(clone.parent), **env}, capture_output=True, text=True, timeout=120, check=False,
    )  # fmt: skip


def sha(clone: Path) -> str:
    return subprocess.run(
        ["git", "-C", str(clone), "rev-parse", "--short=12", "HEAD"], capture_output=True, text=True, check=True
    ).stdout.strip()


def tag(clone: Path, *args: str, **env: str) -> str:
    return make(clone, "image-tag", *args, **env).stdout.strip()


def calls(clone: Path, tool: str) -> list[list[str]]:
    log = clone.parent / f"{tool}.log"
    text = log.read_text() if log.exists() else ""
    return [chunk.strip("\n").split("\n") for chunk in text.split("---\n") if chunk.strip()]


def test_only_what_would_ship_counts_and_exactly_that(clone: Path) -> None:
    assert tag(clone) == sha(clone)
    for shipped in ("src/evil__pycache__/payload.py", "src/new_module.py", "src/__pycache__x/y.py"):
        (clone / shipped).parent.mkdir(parents=True, exist_ok=True)
        (clone / shipped).write_text("print('not in the commit')\n")
        assert tag(clone) == f"{sha(clone)}-dirty", shipped
        (clone / shipped).unlink()
    for dropped in ("src/cli/__pycache__/x.cpython-311.pyc", "src/.env", "src/app.pyc", "notes.txt", "tests/x.py"):
        (clone / dropped).parent.mkdir(parents=True, exist_ok=True)
        (clone / dropped).write_text("not shipped\n")
        assert tag(clone) == sha(clone), dropped
    (clone / "src/app.py").chmod(0o755)  # a mode ships too
    assert tag(clone) == f"{sha(clone)}-dirty"
    (clone / "src/app.py").chmod(0o644)
    (clone / "Dockerfile").write_text((clone / "Dockerfile").read_text() + "# changed\n")
    assert tag(clone) == f"{sha(clone)}-dirty"


@pytest.mark.parametrize("flag", ["--skip-worktree", "--assume-unchanged"])
def test_index_flags_hide_no_change(clone: Path, flag: str) -> None:
    subprocess.run(["git", "-C", str(clone), "update-index", flag, "src/errors.py"], check=True)
    (clone / "src/errors.py").write_text((clone / "src/errors.py").read_text() + "# local change\n")
    status = ["git", "-C", str(clone), "status", "--porcelain", "--", "src"]
    assert subprocess.run(status, capture_output=True, text=True, check=True).stdout == ""  # git sees nothing
    assert tag(clone) == f"{sha(clone)}-dirty"


def test_no_value_replaces_the_computed_tag(clone: Path) -> None:
    (clone / "src/errors.py").write_text((clone / "src/errors.py").read_text() + "# local change\n")
    dirty = f"{sha(clone)}-dirty"
    assert tag(clone, f"IMAGE_TAG_VALUE={sha(clone)}") == dirty
    assert tag(clone, "-e", IMAGE_TAG_VALUE=sha(clone)) == dirty
    assert tag(clone, "IMAGE_TREE=clean") == dirty
    assert tag(clone, "-e", IMAGE_TREE="clean", IMAGE_COMMIT="abc") == dirty


def test_push_image_refuses_a_dirty_tree_under_any_tag(clone: Path) -> None:
    (clone / "src/new_module.py").write_text("x = 1\n")
    for extra in ([], [f"IMAGE_TAG_VALUE={sha(clone)}"], ["IMAGE_TAG=v1.2.3"], ["PUSH_TREE=clean", "IMAGE_TAG=v2"]):
        refused = make(
            clone, "push-image", "ECR_REPO_URI=registry.example/short-cut-api", "AWS_REGION=eu-west-2", *extra
        )
        assert refused.returncode == 2, (extra, refused.stderr)
        assert "refusing" in refused.stderr and "src/new_module.py" in refused.stderr
    assert calls(clone, "podman") == [] and calls(clone, "aws") == []


def test_platform_and_build_flags_are_words_not_shell(clone: Path) -> None:
    marker = clone / "injected"
    for platform in ("linux/amd64; touch injected", "$(shell touch injected)"):
        refused = make(clone, "image", "CONTAINER_TOOL=podman", IMAGE_PLATFORM=platform)
        assert refused.returncode == 2 and "IMAGE_PLATFORM must be" in refused.stderr
        assert not marker.exists()
    # Shell syntax, and make syntax too: IMAGE_BUILD_FLAGS may come from the environment.
    flags = "--pull=never; touch injected `touch injected` * --label a=b $(shell touch injected) $$(touch injected)"
    built = make(clone, "image", "CONTAINER_TOOL=podman", IMAGE_PLATFORM="linux/arm64/v8", IMAGE_BUILD_FLAGS=flags)
    assert built.returncode == 0, built.stderr
    assert not marker.exists()
    (build,) = calls(clone, "podman")
    assert build[:5] == ["build", "--format", "docker", "--platform", "linux/arm64/v8"]
    assert build[5:-3] == flags.split()  # as words: no command ran, no glob or make function expanded
    assert build[-3:] == ["-t", f"short-cut-api:{sha(clone)}", "."]


def test_push_image_pushes_the_image_it_built(clone: Path) -> None:
    pushed = make(
        clone, "push-image", "CONTAINER_TOOL=podman", "ECR_REPO_URI=registry.example/short-cut-api",
        "AWS_REGION=eu-west-2", "IMAGE_REF=short-cut-api:some-dirty-build",
    )  # fmt: skip
    assert pushed.returncode == 0, pushed.stderr
    made = calls(clone, "podman")
    assert [c[0] for c in made] == ["build", "login", "tag", "push"]
    ref = f"short-cut-api:{sha(clone)}"
    assert made[0][-2] == ref and made[2][1:] == [ref, f"registry.example/short-cut-api:{sha(clone)}"]
    assert f"ImageUri=registry.example/short-cut-api:{sha(clone)}" in pushed.stdout
