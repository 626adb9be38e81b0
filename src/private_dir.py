"""Where the private service-account directory may go, and the directories a killed process left.

`temp_roots()`: `/dev/shm` first (a tmpfs, so the private key never reaches a disk;
Fargate tasks have one, though its size cannot be set there: aws/containers-roadmap#736,
#710), then `TMPDIR`, `/tmp`, `/var/tmp`; or only SECRETS_FILE_DIR when the operator
sets it. On Fargate a bind volume at /tmp is root-owned 0755 unless the image declares
a VOLUME there (aws/containers-roadmap#938), so /tmp alone is not enough.
`remove_stale_directories()`: `short-cut-<pid>-*` directories of this user whose
process is gone. Nothing here follows a symlink.
"""

from __future__ import annotations

import os
import shutil
import stat
from collections.abc import Mapping

DIRECTORY_PREFIX = "short-cut-"
SHM_ROOT = "/dev/shm"  # noqa: S108 - a tmpfs root, not a predictable file name


FILE_DIR_KEY = "SECRETS_FILE_DIR"


def temp_roots(environ: Mapping[str, str]) -> list[str]:
    """Where the private directory may go, best first; SECRETS_FILE_DIR, if set, alone."""
    if environ.get(FILE_DIR_KEY):
        return [environ[FILE_DIR_KEY]]
    roots = [SHM_ROOT, environ.get("TMPDIR", ""), "/tmp", "/var/tmp"]  # noqa: S108
    seen: list[str] = []
    for root in roots:
        if root and root not in seen:
            seen.append(root)
    return seen


def _is_running(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def remove_stale_directories(root: str) -> list[str]:
    """Remove `short-cut-<pid>-*` directories this user owns whose process is gone.

    lstat, never stat: a symlink named like ours is left alone, and its target untouched.
    Our own pid counts as gone: we have made no directory yet, so one with our pid is a
    previous container's whose process had the same pid in its namespace.
    """
    removed: list[str] = []
    try:
        names = os.listdir(root)
    except OSError:
        return removed
    for name in names:
        if not name.startswith(DIRECTORY_PREFIX):
            continue
        pid_text = name[len(DIRECTORY_PREFIX) :].split("-", 1)[0]
        if not pid_text.isdigit():
            continue
        path = os.path.join(root, name)
        try:
            info = os.lstat(path)
        except OSError:
            continue
        if not stat.S_ISDIR(info.st_mode) or info.st_uid != os.getuid():
            continue
        pid = int(pid_text)
        if pid != os.getpid() and _is_running(pid):
            continue
        shutil.rmtree(path, ignore_errors=True)
        removed.append(path)
    return removed
