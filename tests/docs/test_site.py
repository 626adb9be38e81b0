"""The documentation site builds in strict mode, and strict mode catches what it must (issue 32 §2).

Contract: `make docs` is the build `make test` runs (a prerequisite of `test`). Its mkdocs command,
read from `make -n docs`, is run on a copy of docs/ and mkdocs.yml: the pages as they are build;
a link to a missing page, a link to a missing anchor, and a page left out of the nav (an orphan)
each fail the build, and the failure names the page. MkDocs' own rules (its `validation` settings,
MkDocs 1.6 configuration reference) make each of these a warning, and --strict a failure.
"""

from __future__ import annotations

import os
import shlex
import shutil
import subprocess
from pathlib import Path

import pytest
import yaml

from tests.support.processes import ROOT

DOCS_VENV = ROOT / ".venv-docs"


def build_command() -> list[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("MAKE", "MFLAGS"))}
    plan = subprocess.run(["make", "-n", "docs"], cwd=ROOT, env=env, capture_output=True, text=True, check=True)
    [line] = [line for line in plan.stdout.splitlines() if "mkdocs build" in line]
    return shlex.split(line)


def site_copy(tmp_path: Path) -> Path:
    if not (DOCS_VENV / "bin" / "mkdocs").exists():
        pytest.fail("no .venv-docs: run `make docs` (make test runs it first)")
    copy = tmp_path / "site-src"
    shutil.copytree(ROOT / "docs", copy / "docs")
    shutil.copy2(ROOT / "mkdocs.yml", copy / "mkdocs.yml")
    (copy / ".venv-docs").symlink_to(DOCS_VENV)
    return copy


def build(where: Path) -> subprocess.CompletedProcess[str]:
    words = build_command()
    assignments = dict(w.split("=", 1) for w in words if "=" in w and not w.startswith("-"))
    command = [w for w in words if w.split("=", 1)[0] not in assignments]
    return subprocess.run(
        command, cwd=where, env={**os.environ, **assignments}, capture_output=True, text=True, timeout=300, check=False
    )


def test_the_make_docs_command_is_a_strict_build() -> None:
    command = build_command()
    # --quiet hides the warnings from the count --strict fails on: a broken link then built (seen here).
    assert "--strict" in command and not {"--quiet", "-q", "--dirty"} & set(command)
    config = yaml.safe_load((ROOT / "mkdocs.yml").read_text(encoding="utf-8"))
    assert config["strict"] is True
    assert config["validation"]["nav"]["omitted_files"] == "warn"
    assert config["validation"]["links"]["not_found"] == "warn"
    assert config["validation"]["links"]["anchors"] == "warn"


def test_the_pages_build(tmp_path: Path) -> None:
    done = build(site_copy(tmp_path))
    assert done.returncode == 0, done.stdout + done.stderr


def test_every_page_is_in_the_nav() -> None:
    config = yaml.safe_load((ROOT / "mkdocs.yml").read_text(encoding="utf-8"))
    in_nav = {next(iter(entry.values())) for entry in config["nav"]}
    pages = {p.relative_to(ROOT / "docs").as_posix() for p in (ROOT / "docs").rglob("*.md")}
    assert pages == in_nav


@pytest.mark.parametrize(
    ("page", "addition", "named"),
    [
        ("health.md", "\nSee [nothing](no-such-page.md).\n", "no-such-page.md"),
        ("index.md", "\nSee [a field](health.md#no-such-anchor).\n", "no-such-anchor"),
        ("orphan.md", "# An orphan\n\nNo nav entry points here.\n", "orphan.md"),
    ],
    ids=["broken-link", "broken-anchor", "orphan-page"],
)
def test_strict_mode_fails_on(page: str, addition: str, named: str, tmp_path: Path) -> None:
    copy = site_copy(tmp_path)
    target = copy / "docs" / page
    with target.open("a", encoding="utf-8") as file:
        file.write(addition)
    done = build(copy)
    assert done.returncode != 0, f"the build passed with {page} changed:\n{done.stdout}{done.stderr}"
    assert named in done.stdout + done.stderr
