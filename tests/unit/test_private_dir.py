"""Where the private directory may go, and which leftovers are removed (and which never are)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from src.private_dir import remove_stale_directories, temp_roots


def test_default_order_is_shm_then_tmpdir_then_tmp() -> None:
    assert temp_roots({"TMPDIR": "/scratch"}) == ["/dev/shm", "/scratch", "/tmp", "/var/tmp"]
    assert temp_roots({}) == ["/dev/shm", "/tmp", "/var/tmp"]
    assert temp_roots({"SECRETS_FILE_DIR": "/run/app", "TMPDIR": "/x"}) == ["/run/app"]


def dead_pid() -> int:
    return int(
        subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True, text=True).stdout
    )


def test_only_our_dead_processes_directories_are_removed(tmp_path: Path) -> None:
    stale = tmp_path / f"short-cut-{dead_pid()}-abc"
    stale.mkdir()
    alive = tmp_path / f"short-cut-{os.getppid()}-def"
    alive.mkdir()
    other = tmp_path / "not-ours-123"
    other.mkdir()
    target = tmp_path / "victim"
    target.mkdir()
    (target / "keep").write_text("x")
    (tmp_path / f"short-cut-{dead_pid()}-link").symlink_to(target, target_is_directory=True)
    assert remove_stale_directories(str(tmp_path)) == [str(stale)]
    assert alive.exists() and other.exists() and (target / "keep").exists()


def test_a_missing_root_removes_nothing(tmp_path: Path) -> None:
    assert remove_stale_directories(str(tmp_path / "absent")) == []
