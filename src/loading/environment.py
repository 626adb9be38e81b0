"""Applying validated secret values to the process.

Precedence: a variable set in the process environment before the first apply
wins over the secret (reported as overridden). The service-account JSON never
stays in the environment: it is written atomically to `service-account.json`
(0600) inside a fresh 0700 directory, `GOOGLE_APPLICATION_CREDENTIALS` points
at it, and the file is removed by `cleanup()` and at interpreter exit.

The directory goes on the first root that works (`src.loading.private_dir.temp_roots`:
the task's tmpfs at `/run/short-cut`, then `/dev/shm`, ...). The process holds an
flock on a lock file inside it for as long as it lives; before the first write,
directories in that same root whose lock nobody holds (their process is gone) are
removed. Nothing here follows a symlink it did not make.
`preview()` tells what the environment would be, touching nothing.
This module does not know where the values came from.
"""

from __future__ import annotations

import atexit
import contextlib
import os
import shutil
import stat
import tempfile
from collections.abc import Mapping, MutableMapping, Sequence
from dataclasses import dataclass
from pathlib import Path

from src.errors import ErrorCode, SecretsError
from src.loading.private_dir import PrivateDirectory, make_private_directory, remove_stale_directories, temp_roots
from src.secret.payload import SERVICE_ACCOUNT_KEY
from src.secret.values import fits_environment

CREDENTIALS_PATH_KEY = "GOOGLE_APPLICATION_CREDENTIALS"
CREDENTIALS_FILE_NAME = "service-account.json"


@dataclass(frozen=True)
class Applied:
    overridden: tuple[str, ...]
    credentials_path: str | None


class EnvironmentApplier:
    """Owns the keys it sets in `environ` and the service-account file it writes."""

    def __init__(
        self,
        environ: MutableMapping[str, str] | None = None,
        temp_root: str | None = None,
        *,
        roots: Sequence[str] | None = None,
    ) -> None:
        """`temp_root` pins one root, `roots` an order of them (tests); by default `temp_roots()`."""
        self._environ: MutableMapping[str, str] = os.environ if environ is None else environ
        self._roots = [temp_root] if temp_root else list(roots) if roots else None
        self._original: dict[str, str] | None = None
        self._owned: set[str] = set()
        self._directory: Path | None = None
        self._owner: PrivateDirectory | None = None  # holds the directory's flock while we live
        self._atexit_registered = False
        self._swept = False

    def __repr__(self) -> str:
        return f"EnvironmentApplier(owned={sorted(self._owned)})"

    @property
    def original(self) -> Mapping[str, str]:
        """The environment as it was before the first apply."""
        if self._original is None:
            self._original = dict(self._environ)
        return self._original

    def overridden(self, values: Mapping[str, str]) -> tuple[str, ...]:
        original = self.original
        names = {key for key in values if key in original}
        if SERVICE_ACCOUNT_KEY in values and CREDENTIALS_PATH_KEY in original:
            names.add(SERVICE_ACCOUNT_KEY)
        return tuple(sorted(names))

    def preview(self, values: Mapping[str, str]) -> dict[str, str]:
        """The environment as `apply(values)` would leave it, less the service-account path
        (known only once the file is written). Touches nothing."""
        original = self.original
        environ = {k: v for k, v in self._environ.items() if k not in self._owned}
        environ.update({k: v for k, v in values.items() if k != SERVICE_ACCOUNT_KEY and k not in original})
        environ.pop(SERVICE_ACCOUNT_KEY, None)
        if CREDENTIALS_PATH_KEY in original:
            environ[CREDENTIALS_PATH_KEY] = original[CREDENTIALS_PATH_KEY]
        return environ

    def apply(self, values: Mapping[str, str]) -> Applied:
        """Write the file first (the only step that can fail), then update the environment.

        Values os.environ or a UTF-8 file cannot hold are refused before anything is touched
        (the payload rules refuse them first; this keeps the promise whoever calls apply).
        """
        for key, value in values.items():
            if not fits_environment(value):
                raise SecretsError(ErrorCode.InvalidSecretValue, f"{key} cannot be put in the environment")
        original = self.original
        if CREDENTIALS_PATH_KEY in original:
            service_account = None
        else:
            service_account = original.get(SERVICE_ACCOUNT_KEY, values.get(SERVICE_ACCOUNT_KEY))
        path = self._write_credentials(service_account) if service_account else None
        if path is None:
            self._remove_credentials_file()

        for key in self._owned - set(values):
            self._environ.pop(key, None)
        self._owned &= set(values)
        for key, value in values.items():
            if key == SERVICE_ACCOUNT_KEY or key in original:
                continue
            self._environ[key] = value
            self._owned.add(key)
        self._environ.pop(SERVICE_ACCOUNT_KEY, None)
        if path is not None:
            self._environ[CREDENTIALS_PATH_KEY] = str(path)
            self._owned.add(CREDENTIALS_PATH_KEY)
        elif CREDENTIALS_PATH_KEY in self._owned:
            self._environ.pop(CREDENTIALS_PATH_KEY, None)
            self._owned.discard(CREDENTIALS_PATH_KEY)
        return Applied(overridden=self.overridden(values), credentials_path=str(path) if path else None)

    def _private_directory(self) -> Path:
        """Our 0700 directory, made on the first root that works; re-made if it was tampered with."""
        if self._directory is not None:
            try:
                info = os.lstat(self._directory)
                if stat.S_ISDIR(info.st_mode) and info.st_uid == os.getuid() and stat.S_IMODE(info.st_mode) == 0o700:
                    return self._directory
            except OSError:
                pass
            self._directory = None
        if self._owner is not None:
            self._owner.release()
            self._owner = None
        roots = self._roots or temp_roots(self._environ)
        errors: list[str] = []
        for root in roots:
            try:
                self._owner = make_private_directory(root)
            except OSError as exc:
                errors.append(f"{root}: {exc.strerror}")
                continue
            self._directory = self._owner.path
            if not self._swept:
                # Only the root we write to: another root may belong to another runtime's tasks.
                self._swept = True
                remove_stale_directories(root, keep=self._directory)
            return self._directory
        raise OSError(0, "no writable temporary directory (" + "; ".join(errors) + ")")

    def _write_credentials(self, content: str) -> Path:
        tmp_name: str | None = None
        try:
            directory = self._private_directory()
            if not self._atexit_registered:
                atexit.register(self.cleanup)
                self._atexit_registered = True
            # mkstemp opens with O_CREAT | O_EXCL | O_NOFOLLOW: never an existing file or a link.
            fd, tmp_name = tempfile.mkstemp(prefix=".service-account-", dir=directory)
            with os.fdopen(fd, "w", encoding="utf-8") as handle:
                os.fchmod(handle.fileno(), 0o600)
                handle.write(content)
                handle.flush()
                os.fsync(handle.fileno())
            target = directory / CREDENTIALS_FILE_NAME
            # rename replaces a directory entry; it never writes through a link at the target.
            os.replace(tmp_name, target)
            return target
        except OSError as exc:
            if tmp_name:
                with contextlib.suppress(OSError):
                    os.unlink(tmp_name)
            raise SecretsError(
                ErrorCode.ServiceAccountFile, f"could not write the service-account file ({exc.strerror})"
            ) from None

    def _remove_credentials_file(self) -> None:
        if self._directory is not None:
            with contextlib.suppress(OSError):
                (self._directory / CREDENTIALS_FILE_NAME).unlink()

    def cleanup(self) -> None:
        """Remove the service-account file and directory and the variable pointing at them."""
        if self._directory is not None:
            shutil.rmtree(self._directory, ignore_errors=True)
            self._directory = None
        if self._owner is not None:
            self._owner.release()
            self._owner = None
        if CREDENTIALS_PATH_KEY in self._owned:
            self._environ.pop(CREDENTIALS_PATH_KEY, None)
            self._owned.discard(CREDENTIALS_PATH_KEY)
