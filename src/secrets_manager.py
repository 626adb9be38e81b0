"""Secret bootstrap: `bootstrap_secrets()`, commit, failure recording and swap callbacks.

One load is two steps. `prepare` (src.loading.loader) fetches every secret (AWS) or reads
the environment (local) and validates the whole, including the typed Settings; it
touches nothing. `commit` applies the result to the service-account file,
`os.environ`, then the mask, the config and the status, and cannot fail after its
first side effect (everything that can fail, the example-key check included, is done in
prepare). A bad payload therefore changes nothing, and a refresh that
fails keeps the last good values. The status is an immutable snapshot, replaced
whole; `/health` renders it and never computes it. When to load and refresh is
src.loading.refresh's business.

`python -m src.secrets_manager` is the operations guide's check by hand (`main`): one load as the
service would do it, in this shell's environment. It prints what it loaded, names only (source,
secrets, version ids, key names, and OK or the reason for each required key), and exits 0; or one
line `error: <code>: <message> (hint: ...)` on stderr and exits 3, as the CLI does. Log lines are
one line each, masked, without a traceback.

(Over 250 lines, and `SecretsBootstrapper` a little over 150: commit and the failure
recording must see the same state under one lock, and the guide's facade
`from src.secrets_manager import bootstrap_secrets` lives here; prepare, the mask and the
refresh loop are already elsewhere.)
"""

from __future__ import annotations

import contextlib
import logging
import sys
import threading
import time
from collections.abc import Callable, Iterator, Mapping
from dataclasses import replace
from datetime import datetime

from pydantic import ValidationError

from src.aws import task_metadata
from src.aws.client import SecretsClient
from src.config import Settings, install_config, load_settings, settings_error
from src.errors import ErrorCode, SecretsError
from src.loading.environment import EnvironmentApplier
from src.loading.loader import ClientFactory, Loader, Prepared, default_client_factory
from src.secret.keys import REQUIRED_KEYS
from src.secret.status import SOURCE_AWS, SecretStatus
from src.secret.status import now as _now
from src.telemetry import metrics
from src.telemetry.logs import process_age_ms
from src.telemetry.mask import SecretMasker, masker

__all__ = ["Prepared", "SecretStatus", "SecretsBootstrapper", "bootstrap_secrets", "get_bootstrapper"]

log = logging.getLogger("short_cut.secrets")

SwapCallback = Callable[[SecretStatus], None]


class SecretsBootstrapper:
    """Loads and refreshes secrets in the process and keeps the status; thread-safe.

    What src.loading.refresh.Supervisor uses of it is `status`, `load`, `refresh`, `commit`,
    `warm` and `schedule` (see its `Secrets` protocol).
    """

    def __init__(
        self,
        *,
        client_factory: ClientFactory = default_client_factory,
        applier: EnvironmentApplier | None = None,
        log_masker: SecretMasker = masker,
        config_factory: Callable[[], Settings] = load_settings,
    ) -> None:
        self._applier = applier or EnvironmentApplier()
        self._loader = Loader(client_factory, self._applier)
        self._masker = log_masker
        self._config_factory = config_factory
        self._status = SecretStatus()
        self._lock = threading.RLock()
        self._callbacks: list[SwapCallback] = []

    def __repr__(self) -> str:
        return f"SecretsBootstrapper(loaded={self._status.loaded})"

    @property
    def status(self) -> SecretStatus:
        return self._status

    @property
    def applier(self) -> EnvironmentApplier:
        return self._applier

    def on_swap(self, callback: SwapCallback) -> None:
        """Run `callback(status)` after every successful load or swap (to rebuild API clients)."""
        self._callbacks.append(callback)

    def settings(self) -> Settings:
        try:
            return self._config_factory()
        except ValidationError as exc:
            raise settings_error(exc) from None

    def client(self, settings: Settings) -> SecretsClient:
        return self._loader.client(settings)

    def warm(self, settings: Settings) -> None:
        """Build the AWS client ahead of the first refresh (the first load may have used the prefetch)."""
        self._loader.warm(settings)

    def prepare(self, settings: Settings, *, current: Mapping[str, str] | None = None) -> Prepared:
        """`Loader.prepare`: fetch and validate everything; touches nothing, records nothing."""
        return self._loader.prepare(settings, current=current)

    @contextlib.contextmanager
    def _recorded(self, *, refresh: bool = False) -> Iterator[None]:
        """Record any failure in the status; an unexpected exception becomes InternalError.

        A refresh that fails for any reason must show as degraded, never as ok, and the
        first load must be retried rather than kill the lifespan.
        """
        try:
            yield
        except SecretsError as error:
            self._record_failure(error, refresh=refresh)
            raise
        except Exception as exc:
            log.exception("unexpected error while loading secrets")
            internal = SecretsError(ErrorCode.InternalError, f"{type(exc).__name__} in the secrets loader")
            self._record_failure(internal, refresh=refresh)
            raise internal from None

    def load(self, settings: Settings | None = None) -> SecretStatus:
        """Prepare, then commit. Raises `SecretsError`; the status records it."""
        with self._lock:
            with self._recorded():
                prepared = self._loader.prepare(settings or self.settings())
            return self.commit(prepared)

    def refresh(self, settings: Settings) -> Prepared | None:
        """What the next commit must apply, if anything; the outcome is recorded in the status.

        Until a load has succeeded this retries it: a full prepare, counted as an attempt.
        After that, DescribeSecret each name and fetch only a changed version; an unchanged
        one confirms the values in use (verified now).
        """
        if not self._status.loaded:
            with self._recorded():
                return self._loader.prepare(settings)
        with self._recorded(refresh=True):
            prepared = self._loader.changed(settings, self._status.version_ids)
        now = _now()
        with self._lock:
            if prepared is None:
                if self._status.error is not None:
                    log.info("secrets refresh recovered; version unchanged")
                self._status = replace(self._status, error=None, verified_at=now, last_refresh_at=now)
            else:
                self._status = replace(self._status, last_refresh_at=now)
        return prepared

    def schedule(self, moment: datetime | None) -> None:
        """Record when the next refresh will run (None: none will)."""
        with self._lock:
            self._status = replace(self._status, next_refresh_at=moment)

    def commit(self, prepared: Prepared) -> SecretStatus:
        """Apply a prepared load: file, environment, then mask, config and status.

        Everything that can fail was done in prepare (validation, the mask, the example-key
        check, the Settings). The service-account file is written first (inside
        `applier.apply`): it is the only step that can fail, and it fails before its rename,
        so nothing has changed; the failure is recorded (degraded, its code, the failure
        metric) and raised as SecretsError. After it come only assignments; the log lines,
        metrics and swap callbacks run after the new status is in place, and a failure of
        theirs is logged, never turned into a failed commit (the values are already in use).
        """
        with self._lock:
            started = time.perf_counter()
            with self._recorded():
                applied = self._applier.apply(prepared.bundle.values)
            # From here on: no call that can fail (a reference swap, a model copy, a snapshot).
            self._masker.install(prepared.mask)
            config = prepared.settings
            if applied.credentials_path is not None:
                config = config.model_copy(update={"google_application_credentials": applied.credentials_path})
            install_config(config)
            self._loader.committed(prepared)
            previous = self._status
            timings = {**prepared.timings, "commit": (time.perf_counter() - started) * 1000}
            overridden = applied.overridden if prepared.source == SOURCE_AWS else ()
            self._status = status = prepared.status(previous, overridden=overridden, timings_ms=timings)
        try:
            _log_loaded(prepared, overridden, status)
            _report_versions(previous, status)
        except Exception:
            log.exception("reporting a committed load failed (the load itself is in use)")
        for callback in list(self._callbacks):
            try:
                callback(status)
            except Exception:
                log.exception("a secrets swap callback failed")
        return status

    def _record_failure(self, error: SecretsError, *, refresh: bool = False) -> None:
        with self._lock:
            status = self._status
            self._status = replace(status, error=error, attempts=status.attempts + (0 if refresh else 1))
        (metrics.refresh_failed if status.loaded else metrics.load_failed)(error)
        what = "secrets refresh failed, keeping the last good values" if status.loaded else "secrets not loaded"
        log.warning(
            "%s: %s",
            what,
            error,
            extra={"error_code": error.code, "hint": error.hint, "secret_name": error.secret_name},
        )


def _report_versions(previous: SecretStatus, status: SecretStatus) -> None:
    """Metrics and the one version line per secret that `cli fleet` reads: at start and on a swap."""
    if not previous.loaded:
        metrics.load_succeeded(startup_ms=process_age_ms() or status.timings_ms.get("prepare", 0.0))
        task_metadata.log_versions(log, status.version_ids, reason="start")
        return
    changed = {n: v for n, v in status.version_ids.items() if previous.version_ids.get(n) != v}
    for name, version_id in changed.items():
        metrics.version_changed(name, version_id)
    if changed:
        task_metadata.log_versions(log, changed, reason="swap")


def _log_loaded(prepared: Prepared, overridden: tuple[str, ...], status: SecretStatus) -> None:
    bundle = prepared.bundle
    for collision in bundle.collisions:
        log.warning("secret key overridden by a later secret: %s", collision)
    for key in overridden:
        log.warning("environment variable %s set before bootstrap wins over the secret", key)
    if bundle.ignored:
        log.warning(
            "secret keys ignored, not applied (outside the allow-list; list them in SECRETS_EXTRA_KEYS to apply): %s",
            ",".join(bundle.ignored),
            extra={"ignored": list(bundle.ignored)},
        )
    for warning in bundle.warnings:
        log.warning("secret warning: %s", warning)
    if prepared.mask.dropped:
        log.warning("the log mask is full: %d values are not masked (see src.telemetry.mask)", prepared.mask.dropped)
    if status.example_keys:
        log.warning(
            "secret holds the example values of infra/iam/secret-structure-example.json: %s",
            ",".join(status.example_keys),
            extra={"error_code": "ExampleCredentials", "example_keys": list(status.example_keys)},
        )
    versions = prepared.versions
    log.info(
        "secrets loaded: source=%s secret_names=%s version_ids=%s key_count=%d",
        prepared.source,
        ",".join(prepared.names) or "-",
        ",".join(f"{n}={v}" for n, v in versions.items()) or "-",
        len(bundle.keys),
        extra={
            "secret_names": list(prepared.names),
            "version_ids": versions,
            "key_count": len(bundle.keys),
            "source": prepared.source,
            "timings_ms": dict(status.timings_ms),
            "process_ms": process_age_ms(),
        },
    )


_default = SecretsBootstrapper()


def get_bootstrapper() -> SecretsBootstrapper:
    return _default


def bootstrap_secrets(settings: Settings | None = None) -> SecretStatus:
    """Load the application secret into `os.environ` and the config; raise `SecretsError` on failure."""
    return _default.load(settings)


EXIT_ERROR = 3  # as the CLI's (src.cli.EXIT_ERROR): an error with its code and hint


class _OneLineFormatter(logging.Formatter):
    """`<level>: <message>`, masked, and never the traceback `log.exception` attaches."""

    def format(self, record: logging.LogRecord) -> str:
        return masker.mask(f"{record.levelname.lower()}: {record.getMessage()}")


def _not_the_failure(record: logging.LogRecord) -> bool:
    # The failure's own WARNING (it carries the hint) would repeat the error line `check` prints.
    return not hasattr(record, "hint")


def check(settings: Settings | None = None) -> int:
    """Load once as the service would and print what was loaded (names only); 0, or 3 with one error line."""
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(_OneLineFormatter())
    handler.addFilter(_not_the_failure)
    # Only this handler while the load runs (one a caller installed would print the failure again).
    root = logging.getLogger()
    saved = root.handlers[:], root.level
    root.handlers, root.level = [handler], logging.WARNING
    try:
        status = bootstrap_secrets(settings)
    except SecretsError as error:
        print(f"error: {error.code}: {error.message} (hint: {error.hint})", file=sys.stderr)
        return EXIT_ERROR
    finally:
        root.handlers, root.level = saved
    print(f"loaded {', '.join(status.secret_names) or 'the process environment and .env'} ({status.source})")
    for name, version_id in status.version_ids.items():
        print(f"version {name} {version_id}")
    print(f"keys: {', '.join(status.keys) or '(none)'}")
    for key in REQUIRED_KEYS:
        print(f"{'OK' if key in status.keys else 'MISSING':<8}{key}")
    if status.ignored:
        print(f"ignored (not applied): {', '.join(status.ignored)}")
    return 0


if __name__ == "__main__":
    sys.exit(check())
