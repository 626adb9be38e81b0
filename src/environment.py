"""Applying validated secret values to the process.

Precedence: a variable set in the process environment before the first apply
wins over the secret (reported as overridden). The service-account JSON never
stays in the environment: it is written atomically to `service-account.json`
(0600) inside a fresh 0700 directory, `GOOGLE_APPLICATION_CREDENTIALS` points
at it, and the file is removed by `cleanup()` and at interpreter exit.
This module does not know where the values came from.
"""

from __future__ import annotations

import atexit
import contextlib
import os
import shutil
import tempfile
from collections.abc import Mapping, MutableMapping
from dataclasses import dataclass
from pathlib import Path

from src.errors import SecretsError
from src.payload import SERVICE_ACCOUNT_KEY

CREDENTIALS_PATH_KEY = "GOOGLE_APPLICATION_CREDENTIALS"
CREDENTIALS_FILE_NAME = "service-account.json"


@dataclass(frozen=True)
class Applied:
    overridden: tuple[str, ...]
    credentials_path: str | None


class EnvironmentApplier:
    """Owns the keys it sets in `environ` and the service-account file it writes."""

    def __init__(self, environ: MutableMapping[str, str] | None = None, temp_root: str | None = None) -> None:
        self._environ: MutableMapping[str, str] = os.environ if environ is None else environ
        self._temp_root = temp_root
        self._original: dict[str, str] | None = None
        self._owned: set[str] = set()
        self._directory: Path | None = None
        self._atexit_registered = False

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

    def apply(self, values: Mapping[str, str]) -> Applied:
        """Write the file first (the step that can fail), then update the environment."""
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

    def _write_credentials(self, content: str) -> Path:
        tmp_name: str | None = None
        try:
            if self._directory is None or not self._directory.is_dir():
                # mkdtemp creates the directory 0700, with a name nobody can predict.
                self._directory = Path(tempfile.mkdtemp(prefix="short-cut-", dir=self._temp_root))
            if not self._atexit_registered:
                atexit.register(self.cleanup)
                self._atexit_registered = True
            fd, tmp_name = tempfile.mkstemp(prefix=".service-account-", dir=self._directory)
            with os.fdopen(fd, "w", encoding="utf-8") as handle:
                os.fchmod(handle.fileno(), 0o600)
                handle.write(content)
                handle.flush()
                os.fsync(handle.fileno())
            target = self._directory / CREDENTIALS_FILE_NAME
            os.replace(tmp_name, target)
            return target
        except OSError as exc:
            if tmp_name:
                with contextlib.suppress(OSError):
                    os.unlink(tmp_name)
            raise SecretsError(
                "ServiceAccountFile", f"could not write the service-account file ({exc.strerror})"
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
        if CREDENTIALS_PATH_KEY in self._owned:
            self._environ.pop(CREDENTIALS_PATH_KEY, None)
            self._owned.discard(CREDENTIALS_PATH_KEY)
