"""git_status asks the operator's git and reports its exit code, or None when git cannot answer."""

from __future__ import annotations

import subprocess
from pathlib import Path
from typing import Any

import pytest

from src.cli.git import git_status


@pytest.fixture
def repo(tmp_path: Path) -> Path:
    subprocess.run(["git", "init", "-q"], cwd=tmp_path, check=True, capture_output=True)
    (tmp_path / "tracked.json").write_text("{}")
    (tmp_path / "untracked.json").write_text("{}")
    subprocess.run(["git", "add", "tracked.json"], cwd=tmp_path, check=True, capture_output=True)
    return tmp_path


def test_exit_codes_are_gits_own(repo: Path) -> None:
    assert git_status(["ls-files", "--error-unmatch", "tracked.json"], repo) == 0
    assert git_status(["ls-files", "--error-unmatch", "untracked.json"], repo) == 1
    (repo / ".gitignore").write_text(".env\n")
    assert git_status(["check-ignore", "-q", ".env"], repo) == 0
    assert git_status(["check-ignore", "-q", "untracked.json"], repo) == 1


def test_outside_a_repository_git_says_so(tmp_path: Path) -> None:
    # Not None: git ran, and its answer (128, not a git repository) is not "tracked".
    code = git_status(["ls-files", "--error-unmatch", "x"], tmp_path)
    assert code not in (0, None)


def test_none_when_git_is_not_installed(repo: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PATH", str(repo / "no-bin"))
    assert git_status(["status"], repo) is None


def test_none_when_the_folder_is_gone(tmp_path: Path) -> None:
    assert git_status(["status"], tmp_path / "gone") is None


def test_none_when_git_hangs(repo: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    def hangs(*_args: Any, **kwargs: Any) -> Any:
        raise subprocess.TimeoutExpired("git", kwargs["timeout"])

    monkeypatch.setattr(subprocess, "run", hangs)
    assert git_status(["status"], repo) is None
