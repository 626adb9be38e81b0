"""Where the private directory may go, and which leftovers are removed (and which never are)."""

from __future__ import annotations

import fcntl
import json
import os
import shutil
import stat
import subprocess
import sys
import time
from pathlib import Path

import pytest

from src.loading import private_dir
from src.loading.environment import EnvironmentApplier
from src.loading.private_dir import remove_stale_directories, temp_roots


def test_default_order_is_shm_then_tmpdir_then_tmp(tmp_path: Path) -> None:
    absent = str(tmp_path / "no-task-tmpfs")
    assert temp_roots({"TMPDIR": "/scratch"}, task_root=absent) == ["/dev/shm", "/scratch", "/tmp", "/var/tmp"]
    assert temp_roots({}, task_root=absent) == ["/dev/shm", "/tmp", "/var/tmp"]
    assert temp_roots({"SECRETS_FILE_DIR": "/run/app", "TMPDIR": "/x"}, task_root=absent) == ["/run/app"]


def test_the_task_tmpfs_comes_first_when_it_is_mounted(tmp_path: Path) -> None:
    mounted = tmp_path / "run-short-cut"
    mounted.mkdir()
    assert temp_roots({"TMPDIR": "/scratch"}, task_root=str(mounted)) == [
        str(mounted), "/dev/shm", "/scratch", "/tmp", "/var/tmp",
    ]  # fmt: skip
    # SECRETS_FILE_DIR still wins alone; a file (not a directory) at the path is no mount.
    assert temp_roots({"SECRETS_FILE_DIR": "/data"}, task_root=str(mounted)) == ["/data"]
    not_a_dir = tmp_path / "file"
    not_a_dir.write_text("")
    assert temp_roots({}, task_root=str(not_a_dir))[0] == "/dev/shm"


def test_the_default_task_root_is_the_task_definitions_mount() -> None:
    assert private_dir.TASK_TMPFS_ROOT == "/run/short-cut"
    expected_first = "/run/short-cut" if os.path.isdir("/run/short-cut") else "/dev/shm"
    assert temp_roots({})[0] == expected_first


def leftover(root: Path, name: str, *, locked_by_us: bool = False) -> tuple[Path, int | None]:
    """A directory as an instance leaves it: the lock file inside; its flock held only while it lives."""
    directory = root / name
    directory.mkdir(mode=0o700)
    fd = os.open(directory / private_dir.LOCK_NAME, os.O_CREAT | os.O_RDWR, 0o600)
    if not locked_by_us:
        os.close(fd)
        return directory, None
    # Another open file description: flock conflicts with the sweeper's as with another process's.
    fcntl.flock(fd, fcntl.LOCK_EX)
    return directory, fd


def test_only_directories_whose_lock_is_free_are_removed(tmp_path: Path) -> None:
    stale, _ = leftover(tmp_path, f"short-cut-{os.getpid()}-abc")  # even with our own pid in the name
    alive, fd = leftover(tmp_path, "short-cut-1-def", locked_by_us=True)
    no_lock = tmp_path / "short-cut-424242-ghi"  # an older version's, or one being made: unproven
    no_lock.mkdir()
    other, _ = leftover(tmp_path, "not-ours-123")
    target = tmp_path / "victim"
    target.mkdir()
    (target / "keep").write_text("x")
    (target / private_dir.LOCK_NAME).write_text("")
    (tmp_path / "short-cut-77-link").symlink_to(target, target_is_directory=True)
    linked_lock = tmp_path / "short-cut-78-linked-lock"
    linked_lock.mkdir()
    (linked_lock / private_dir.LOCK_NAME).symlink_to(target / private_dir.LOCK_NAME)
    try:
        assert remove_stale_directories(str(tmp_path)) == [str(stale)]
        assert alive.exists() and no_lock.exists() and other.exists() and linked_lock.exists()
        assert (target / "keep").exists()
    finally:
        assert fd is not None
        os.close(fd)
    # Its owner gone (the lock released with its last descriptor), the directory is removed.
    assert remove_stale_directories(str(tmp_path), keep=linked_lock) == [str(alive)]


def test_a_private_directory_is_locked_for_as_long_as_it_is_held(tmp_path: Path) -> None:
    owned = private_dir.make_private_directory(str(tmp_path))
    assert stat.S_IMODE(owned.path.lstat().st_mode) == 0o700
    assert [p.name for p in owned.path.iterdir()] == [private_dir.LOCK_NAME]
    assert remove_stale_directories(str(tmp_path)) == []
    owned.release()
    owned.release()  # idempotent
    assert remove_stale_directories(str(tmp_path)) == [str(owned.path)]


def test_a_missing_root_removes_nothing(tmp_path: Path) -> None:
    assert remove_stale_directories(str(tmp_path / "absent")) == []


# -- instances that share a root never delete each other's files (issue 20, item 3) -------------


def applier_values() -> dict[str, str]:
    from tests.support.canary import SERVICE_ACCOUNT

    return {"GOOGLE_APPLICATION_CREDENTIALS_JSON": json.dumps(SERVICE_ACCOUNT)}


def test_a_second_instance_on_the_same_root_keeps_the_first_ones_file(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Two instances in different PID namespaces see each other's pid as dead (or as their own:
    both are pid 1). The pid check is faked to say so; ownership must not depend on it."""
    # Before issue 20 the sweep trusted a pid check; say every pid is dead, as a namespace sees it.
    monkeypatch.setattr(private_dir, "_is_running", lambda pid: False, raising=False)
    first = EnvironmentApplier({}, temp_root=str(tmp_path))
    first_file = Path(first.apply(applier_values()).credentials_path or "")
    second = EnvironmentApplier({}, temp_root=str(tmp_path))
    second_file = Path(second.apply(applier_values()).credentials_path or "")
    assert first_file.is_file() and second_file.is_file() and first_file != second_file
    # A third instance, after the first one is gone (its lock released), removes only its leftovers.
    assert first._owner is not None
    first._owner.release()  # as the kernel does when its process dies
    third = EnvironmentApplier({}, temp_root=str(tmp_path))
    third.apply(applier_values())
    assert not first_file.parent.exists() and second_file.is_file()
    for applier in (second, third):
        applier.cleanup()


UNSHARE = shutil.which("unshare")
INSTANCE = """
import sys, time
from src.loading.environment import EnvironmentApplier
from tests.support.canary import SERVICE_ACCOUNT
import json, os
applier = EnvironmentApplier({}, temp_root=sys.argv[1])
path = applier.apply({"GOOGLE_APPLICATION_CREDENTIALS_JSON": json.dumps(SERVICE_ACCOUNT)}).credentials_path
print(os.getpid(), path, flush=True)
sys.stdin.read()
"""


def start_instance(root: Path) -> tuple[subprocess.Popen[str], str]:
    assert UNSHARE is not None
    process = subprocess.Popen(
        [UNSHARE, "--pid", "--fork", "--kill-child", "--mount-proc", sys.executable, "-c", INSTANCE, str(root)],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
        cwd=str(Path(__file__).resolve().parents[3]),
    )
    assert process.stdout is not None
    pid, path = process.stdout.readline().split()
    assert pid == "1"  # its own PID namespace: it cannot see the other instance's process
    return process, path


def wait_until_unlocked(lock: Path, timeout: float = 10.0) -> None:
    """SIGKILL is delivered asynchronously: wait until the kernel has released the dead one's lock."""
    deadline = time.monotonic() + timeout
    fd = os.open(lock, os.O_RDONLY)
    try:
        while True:
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                return
            except BlockingIOError:
                assert time.monotonic() < deadline, "the killed instance still holds its lock"
                time.sleep(0.02)
    finally:
        os.close(fd)


def can_unshare_pid() -> bool:
    if UNSHARE is None or os.geteuid() != 0:
        return False
    return subprocess.run([UNSHARE, "--pid", "--fork", "--mount-proc", "true"], capture_output=True).returncode == 0


@pytest.mark.skipif(not can_unshare_pid(), reason="needs root and unshare --pid (new PID namespaces)")
def test_two_instances_in_separate_pid_namespaces_sharing_a_root(tmp_path: Path) -> None:
    first, first_path = start_instance(tmp_path)
    second = third = None
    try:
        second, second_path = start_instance(tmp_path)
        assert Path(first_path).is_file(), "the second instance deleted the first one's file"
        assert Path(second_path).is_file()
        # The first instance dies without cleanup: its lock goes with it, and the next start removes it.
        first.kill()  # unshare --kill-child: the instance gets SIGKILL too, and no cleanup runs
        first.wait()
        wait_until_unlocked(Path(first_path).parent / private_dir.LOCK_NAME)
        assert Path(first_path).is_file()
        third, _ = start_instance(tmp_path)
        assert not Path(first_path).parent.exists() and Path(second_path).is_file()
    finally:
        for process in (first, second, third):
            if process is not None:
                process.kill()
                process.wait()
