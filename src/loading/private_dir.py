"""Where the private service-account directory goes, how an instance proves it owns it, and
which leftovers a start removes.

`temp_roots()`: SECRETS_FILE_DIR alone when the operator sets it. Otherwise
`/run/short-cut` first when it exists: the task definition mounts a small tmpfs
there (`linuxParameters.tmpfs`, `noexec,nosuid`), which ECS supports on Fargate
since 2026-01 (aws/containers-roadmap#736), so the private key lives in memory
the task declared. Then `/dev/shm` (a tmpfs on Fargate too, though its size
cannot be set there: aws/containers-roadmap#710), `TMPDIR`, `/tmp`, `/var/tmp`,
for runtimes without that mount. On Fargate a bind volume at /tmp is root-owned
0755 unless the image declares a VOLUME there (aws/containers-roadmap#938), so
/tmp alone is not enough.

`make_private_directory()`: a fresh 0700 `short-cut-<pid>-*` directory holding a
lock file on which the process keeps an `flock` for as long as it lives. The pid
in the name is informative only: two instances in different PID namespaces that
share a root (`--ipc=host`, ECS `ipcMode`, a shared mount) see each other's pid as
dead, or as their own (both are pid 1), while an flock is one kernel object that
every namespace sharing the file sees. The lock file appears already locked (it
is created under another name, locked, then renamed), so no sweeper can take a
directory's lock while its owner is still setting it up.

`remove_stale_directories()`: in the one root the process writes to, remove the
`short-cut-*` directories of this user whose lock can be taken without waiting
(the owner is gone: the kernel released its lock). A directory without a lock
file (an older version's, or one being made) is never removed: nothing proves it
is abandoned. Nothing here follows a symlink (lstat, O_NOFOLLOW).
"""

from __future__ import annotations

import contextlib
import fcntl
import os
import shutil
import stat
import tempfile
from collections.abc import Mapping
from pathlib import Path

DIRECTORY_PREFIX = "short-cut-"
LOCK_NAME = ".owner.lock"
TASK_TMPFS_ROOT = "/run/short-cut"  # the task definition's tmpfs mount (containerPath)
SHM_ROOT = "/dev/shm"  # noqa: S108 - a tmpfs root, not a predictable file name


FILE_DIR_KEY = "SECRETS_FILE_DIR"


def temp_roots(environ: Mapping[str, str], *, task_root: str = TASK_TMPFS_ROOT) -> list[str]:
    """Where the private directory may go, best first; SECRETS_FILE_DIR, if set, alone."""
    if environ.get(FILE_DIR_KEY):
        return [environ[FILE_DIR_KEY]]
    roots = [task_root if os.path.isdir(task_root) else "", SHM_ROOT, environ.get("TMPDIR", ""), "/tmp", "/var/tmp"]  # noqa: S108
    seen: list[str] = []
    for root in roots:
        if root and root not in seen:
            seen.append(root)
    return seen


class PrivateDirectory:
    """A directory this process made and owns: its path and the open, flocked lock file."""

    def __init__(self, path: Path, lock_fd: int) -> None:
        self.path = path
        self._lock_fd: int | None = lock_fd

    def __repr__(self) -> str:
        return f"PrivateDirectory({str(self.path)!r})"

    def release(self) -> None:
        """Close the lock file: from now on a sweeper may remove the directory."""
        fd, self._lock_fd = self._lock_fd, None
        if fd is not None:
            with contextlib.suppress(OSError):
                os.close(fd)


def make_private_directory(root: str) -> PrivateDirectory:
    """A fresh 0700 directory under `root`, owned by this process through an flock. Raises OSError."""
    # mkdtemp creates the directory 0700 with O_EXCL semantics and a name nobody can predict.
    path = Path(tempfile.mkdtemp(prefix=f"{DIRECTORY_PREFIX}{os.getpid()}-", dir=root))
    fd = -1
    try:
        # mkstemp: O_CREAT | O_EXCL | O_NOFOLLOW, 0600, close-on-exec. Locked before it gets the
        # name sweepers look for, so it is never seen unlocked while we live.
        fd, staging = tempfile.mkstemp(prefix=".lock-", dir=path)
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        os.replace(staging, path / LOCK_NAME)
    except OSError:
        if fd >= 0:
            os.close(fd)
        shutil.rmtree(path, ignore_errors=True)
        raise
    return PrivateDirectory(path, fd)


def _abandoned(path: str) -> int | None:
    """The lock file's descriptor, locked by us, if its owner is gone; None if it lives or is unknown."""
    flags = os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK | os.O_CLOEXEC
    try:
        fd = os.open(os.path.join(path, LOCK_NAME), flags)
    except OSError:
        return None  # no lock file (or a link in its place): nothing proves the directory abandoned
    try:
        if not stat.S_ISREG(os.fstat(fd).st_mode):
            raise OSError("not a regular file")
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except OSError:  # BlockingIOError: its owner still holds it
        os.close(fd)
        return None
    return fd


def remove_stale_directories(root: str, *, keep: Path | None = None) -> list[str]:
    """Remove this user's `short-cut-*` directories under `root` whose lock nobody holds.

    lstat, never stat: a symlink named like ours is left alone, and its target untouched.
    `keep` (our own directory) is never looked at.
    """
    removed: list[str] = []
    try:
        names = os.listdir(root)
    except OSError:
        return removed
    for name in names:
        if not name.startswith(DIRECTORY_PREFIX):
            continue
        path = os.path.join(root, name)
        if keep is not None and os.path.abspath(path) == os.path.abspath(keep):
            continue
        try:
            info = os.lstat(path)
        except OSError:
            continue
        if not stat.S_ISDIR(info.st_mode) or info.st_uid != os.getuid():
            continue
        fd = _abandoned(path)
        if fd is None:
            continue
        try:
            # Removed while we hold its lock, so no other sweeper works on it at the same time.
            shutil.rmtree(path, ignore_errors=True)
        finally:
            os.close(fd)
        removed.append(path)
    return removed
