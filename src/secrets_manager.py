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
from src.errors import ErrorCode, SecretsError, filled
from src.loading.environment import EnvironmentApplier
from src.loading.loader import ClientFactory, Loader, Prepared, default_client_factory
from src.loading.regions import Where
from src.secret.keys import REQUIRED_KEYS
from src.secret.status import SOURCE_AWS, SecretStatus
from src.secret.status import now as _now
from src.telemetry import metrics, served_version
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
        self._served = Served()

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
    def _recorded(self, settings: Settings | None = None, *, refresh: bool = False) -> Iterator[None]:
        """Record any failure in the status; an unexpected exception becomes InternalError.

        A refresh that fails for any reason must show as degraded, never as ok, and the
        first load must be retried rather than kill the lifespan.
        """
        if settings is not None:
            self._attempting(settings)
        try:
            yield
        except SecretsError as error:
            raise self._record_failure(error, refresh=refresh) from None
        except Exception as exc:
            log.exception("unexpected error while loading secrets")
            internal = SecretsError(ErrorCode.InternalError, f"{type(exc).__name__} in the secrets loader")
            self._record_failure(internal, refresh=refresh)
            raise internal from None

    def _attempting(self, settings: Settings) -> None:
        """Until a load succeeds, the status and the failure records name what is tried."""
        self._status = self._status.attempting(settings.secret_names, settings.region)
        self._served.attempting(settings, self._status)

    def load(self, settings: Settings | None = None) -> SecretStatus:
        """Prepare, then commit. Raises `SecretsError`; the status records it."""
        with self._lock:
            with self._recorded():
                settings = settings or self.settings()
                self._attempting(settings)
                prepared = self._loader.prepare(settings)
            return self.commit(prepared)

    def refresh(self, settings: Settings) -> Prepared | None:
        """What the next commit must apply, if anything; the outcome is recorded in the status.
        Until a load has succeeded this retries it: a full prepare, counted as an attempt. After
        that, DescribeSecret each name and fetch only a changed version (unchanged: verified now)."""
        if not self._status.loaded:
            with self._recorded(settings):
                return self._loader.prepare(settings)
        with self._recorded(refresh=True):
            prepared = self._loader.changed(settings, self._status.version_ids)
        with self._lock:
            previous = self._status
            self._status = _refreshed(previous, _now(), None if prepared else self._loader.where)
        _report_region(previous, self._status)
        if prepared is None and (previous.error is not None or previous.region != self._status.region):
            self.report_served("refresh")  # recovered, or the same version now read from another Region
        return prepared

    def report_served(self, reason: served_version.Reason) -> None:  # Served.report, for every secret
        self._served.report(self._status, reason)

    def schedule(self, moment: datetime | None) -> None:
        """Record when the next refresh will run (None: none will)."""
        with self._lock:
            self._status = replace(self._status, next_refresh_at=moment)

    def commit(self, prepared: Prepared) -> SecretStatus:
        """Apply a prepared load: file, environment, then mask, config and status.

        Everything that can fail was done in prepare. The service-account file is written first
        (in `applier.apply`), the only step that can fail, before its rename: nothing has changed,
        and the failure is recorded and raised. After it come only assignments; log lines, metrics
        and swap callbacks run once the new status is in place, and their failures are only logged.
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
            self._served.committed(prepared)
        try:
            _log_loaded(prepared, overridden, status)
            _report_versions(previous, status)
            _report_region(previous, status)
        except Exception:
            log.exception("reporting a committed load failed (the load itself is in use)")
        self.report_served("refresh" if previous.loaded else "start")
        for callback in list(self._callbacks):
            try:
                callback(status)
            except Exception:
                log.exception("a secrets swap callback failed")
        return status

    def _record_failure(self, error: SecretsError, *, refresh: bool = False) -> SecretsError:
        with self._lock:
            status = self._status
            error = filled(error, region=status.region, secret_names=status.secret_names)
            self._status = replace(status, error=error, attempts=status.attempts + (0 if refresh else 1))
        _log_failure(error, self._served.names(status), status)
        self.report_served("failure")
        return error


class Served:
    """What the served-version records name, as the last load or attempt knew it: the secrets
    configured (SECRET_NAME). The Region each record names is the status's (where the version in
    use was read, the replica's while failed over; before a first load, the Region tried)."""

    def __init__(self) -> None:
        self._names: tuple[str, ...] = ()

    def attempting(self, settings: Settings, status: SecretStatus) -> None:
        """An attempt is about to start: its failure records name what it tried."""
        self._names = settings.secret_names or status.secret_names

    def committed(self, prepared: Prepared) -> None:
        self._names = prepared.names

    def names(self, status: SecretStatus) -> tuple[str, ...]:
        return self._names or status.secret_names

    def report(self, status: SecretStatus, reason: served_version.Reason) -> None:
        """The one writer of the served-version record (src.telemetry.served_version), one per secret.

        Called after every commit (start or refresh), after every failed load or refresh (status
        failing, the code, and the version still served), on a recovery or a change of Region, and
        as the heartbeat (src.app, every served_version.HEARTBEAT_INTERVAL seconds). Local mode
        configures no secret: no record. Never raises: a record that cannot be written is logged.
        """
        try:
            _write_records(status, self.names(status), reason)
        except Exception:
            log.exception("the served-version record could not be written")


def _write_records(status: SecretStatus, names: tuple[str, ...], reason: served_version.Reason) -> None:
    error, arn = status.error, task_metadata.task_arn()
    for name in names:
        served_version.emit(
            served_version.ServedVersion(
                secret_name=name,
                version_id=status.version_ids.get(name),
                task_arn=arn,
                status="ok" if error is None else "failing",
                error_code=None if error is None else str(error.code),
                reason=reason,
                region=status.regions.get(name, status.region),
            )
        )


def _refreshed(status: SecretStatus, now: datetime, confirmed: Where | None) -> SecretStatus:
    """The status after a refresh: with nothing new (`confirmed`, where the versions in use were read),
    the values are verified now, from that Region (the same version in two Regions is one version)."""
    if confirmed is None:
        return replace(status, last_refresh_at=now)
    if status.error is not None:
        log.info("secrets refresh recovered; version unchanged")
    return replace(status, error=None, verified_at=now, last_refresh_at=now, **confirmed.fields())


def _report_region(previous: SecretStatus, status: SecretStatus) -> None:
    """One WARNING when the values in use come from the replica (not one per refresh), one INFO
    when they come from the primary again. The metric is per read (src.loading.loader)."""
    if status.on_replica and not previous.on_replica:
        problem = status.problem
        log.warning(
            "secrets served from the failover Region %s, the primary %s failed (%s); every refresh tries the "
            "primary first",
            status.region,
            status.primary_region,
            status.failover_cause or "-",
            extra={
                "error_code": str(ErrorCode.ServingFromReplica),
                "hint": problem.hint if problem is not None else None,
                "region": status.region,
                "primary_region": status.primary_region,
                "failover_cause": status.failover_cause,
                "secret_names": [n for n, r in status.regions.items() if r != status.primary_region],
            },
        )
    elif previous.on_replica and not status.on_replica and status.loaded:
        log.info(
            "secrets served from the primary Region %s again",
            status.primary_region,
            extra={"region": status.region, "primary_region": status.primary_region},
        )


def _log_failure(error: SecretsError, names: tuple[str, ...], status: SecretStatus) -> None:
    """The failure's metric and its WARNING, which names the secret and what is still served."""
    (metrics.refresh_failed if status.loaded else metrics.load_failed)(error)
    log.warning("%s", failure_text(error, names, status), extra=failure_fields(error, names, status))


def concerned(error: SecretsError, names: tuple[str, ...]) -> str | None:
    """The secret a failure concerns: the one the error names, else the configured one(s)."""
    return error.secret_name or (",".join(names) if names else None)


def failure_fields(error: SecretsError, names: tuple[str, ...], status: SecretStatus) -> dict[str, object]:
    """The fields of a failure line: the code, the secret it concerns and the version(s) still served."""
    name = concerned(error, names)
    return {
        "error_code": error.code,
        "hint": error.hint,
        "secret_name": name,
        "served_version_id": status.version_ids.get(name) if name else None,
        "served_version_ids": dict(status.version_ids),
    }


def failure_text(error: SecretsError, names: tuple[str, ...], status: SecretStatus) -> str:
    """The failure line's message, which names the same things (text logs carry no fields)."""
    name = concerned(error, names) or "-"
    served = ",".join(f"{n}={v}" for n, v in status.version_ids.items())
    if status.loaded:
        what = f"secrets refresh failed for {name}, still serving {served or '-'} (the last good values)"
    else:
        what = f"secrets not loaded from {name}, serving nothing yet"
    return f"{what}: {error}"


def _report_versions(previous: SecretStatus, status: SecretStatus) -> None:
    """The metrics of a commit (the served-version record is `report_served`'s)."""
    if not previous.loaded:
        metrics.load_succeeded(startup_ms=process_age_ms() or status.timings_ms.get("prepare", 0.0))
        return
    changed = {n: v for n, v in status.version_ids.items() if previous.version_ids.get(n) != v}
    for name, version_id in changed.items():
        metrics.version_changed(name, version_id)


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
        log.warning(
            "the log mask is full: %d values of the previous version are not masked (see src.telemetry.mask)",
            prepared.mask.dropped,
        )
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
    # The handler's own level too: the served-version record's logger is INFO whatever the root says.
    handler.setLevel(logging.WARNING)
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
