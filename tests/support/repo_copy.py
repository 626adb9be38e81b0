"""Temporary copies of the repository: the files `audit` reads, for tests that break them on
purpose, and the whole work tree as a fresh clone, for tests that follow the README."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

from tests.support.processes import ROOT

AUDITED = ("infra", "entrypoint.sh", ".gitignore", ".gitattributes", "Dockerfile")


def copy_audited_files(tmp_path: Path) -> Path:
    target = tmp_path / "repo"
    target.mkdir()
    for name in AUDITED:
        source = ROOT / name
        if source.is_dir():
            shutil.copytree(source, target / name)
        else:
            shutil.copy2(source, target / name)
    return target


def copy_work_tree(tmp_path: Path, *, link: tuple[str, ...] = (".venv", ".venv-infra")) -> Path:
    """The work tree as a fresh clone would have it (tracked and untracked files git does not
    ignore, as they are now, committed in a new repository of its own), with the named venvs
    linked in so a `make` target there finds them set up instead of installing again."""
    target = tmp_path / "clone"
    target.mkdir()
    listed = subprocess.run(
        ["git", "ls-files", "-z", "--cached", "--others", "--exclude-standard"],
        cwd=ROOT,
        capture_output=True,
        check=True,
    ).stdout.decode()
    for name in filter(None, listed.split("\0")):
        source = ROOT / name
        if source.is_file():  # a tracked file another edit deleted is not in the clone either
            (target / name).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(source, target / name)  # mtimes kept: make's stamps stay newer
    git = ["git", "-c", "user.name=readme-test", "-c", "user.email=readme-test@example.invalid"]
    subprocess.run([*git, "init", "-q"], cwd=target, check=True)
    subprocess.run([*git, "add", "-A"], cwd=target, check=True)
    subprocess.run([*git, "commit", "-q", "-m", "clone"], cwd=target, check=True)
    for name in link:  # after the commit: `.venv/` in .gitignore does not match a symlink
        if (ROOT / name).is_dir():
            (target / name).symlink_to(ROOT / name)
    return target
