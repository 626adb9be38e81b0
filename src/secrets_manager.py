"""Secret bootstrap: `bootstrap_secrets()`, the status it reports, and live refresh.

One load is two steps. `prepare` fetches every secret (AWS) or reads the
environment (local) and validates the whole; it touches nothing. `commit`
applies the result to `os.environ`, the service-account file and the config in
one go. A bad payload therefore changes nothing, and a refresh that fails keeps
the last good values. The status is an immutable snapshot, replaced whole;
`/health` renders it and never computes it.
"""

from __future__ import annotations

import contextlib
import logging
import os
import threading
import time
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass, field, replace
from datetime import datetime
from pathlib import Path
from types import MappingProxyType

from pydantic import ValidationError

from src import metrics, prefetch, task_metadata
from src.aws import FetchedSecret, SecretsClient
from src.config import Settings, env_file_path, install_config, load_settings, settings_from_environ
from src.environment import EnvironmentApplier
from src.errors import SecretsError
from src.logs import SecretMasker, masker
from src.payload import (
    ParsedSecret,
    SecretBundle,
    allowed_keys,
    build_bundle,
    parse_secret,
    parse_values,
    require_string,
)
from src.status import SOURCE_AWS, SOURCE_ENVIRONMENT, SecretStatus
from src.status import now as _now

__all__ = ["Prepared", "SecretStatus", "SecretsBootstrapper", "bootstrap_secrets", "get_bootstrapper"]

log = logging.getLogger("short_cut.secrets")


@dataclass(frozen=True)
class Prepared:
    """A validated load, not yet applied: the bundle and the typed Settings built from it.
    Repr shows names only."""

    source: str
    names: tuple[str, ...]
    bundle: SecretBundle
    parts: Mapping[str, tuple[str, ParsedSecret]] = field(repr=False)
    settings: Settings = field(repr=False)
    timings: Mapping[str, float] = field(default_factory=dict)

    @property
    def all_values(self) -> list[str]:
        """Every value seen, applied or ignored: all of them are masked in logs."""
        values = [v for _, parsed in self.parts.values() for v in parsed.values.values()]
        return values + list(self.bundle.values.values())

    @property
    def versions(self) -> dict[str, str]:
        return {name: version for name, (version, _) in self.parts.items()}


ClientFactory = Callable[[Settings], SecretsClient]
SwapCallback = Callable[[SecretStatus], None]


def default_client_factory(settings: Settings) -> SecretsClient:
    return SecretsClient(
        settings.region,
        connect_timeout=settings.secrets_connect_timeout,
        read_timeout=settings.secrets_read_timeout,
        max_attempts=settings.secrets_max_attempts,
        on_build=metrics.count_throttling_retries,
    )


def _dotenv_values() -> dict[str, str]:
    path = env_file_path()
    if not Path(path).is_file():
        return {}
    from dotenv import dotenv_values

    return {k: v for k, v in dotenv_values(path).items() if v is not None}


class SecretsBootstrapper:
    """Loads and refreshes secrets in the process and keeps the status; thread-safe."""

    def __init__(
        self,
        *,
        client_factory: ClientFactory = default_client_factory,
        applier: EnvironmentApplier | None = None,
        log_masker: SecretMasker = masker,
        config_factory: Callable[[], Settings] = load_settings,
    ) -> None:
        self._client_factory = client_factory
        self._client: SecretsClient | None = None
        self._applier = applier or EnvironmentApplier()
        self._masker = log_masker
        self._config_factory = config_factory
        self._status = SecretStatus()
        self._parts: dict[str, tuple[str, ParsedSecret]] = {}
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
        with self._lock:
            if self._client is None:
                self._client = self._client_factory(settings)
            return self._client

    def warm_client(self, settings: Settings) -> None:
        """Build the boto3 client ahead of need; a failure here is reported by the next real call."""
        with contextlib.suppress(SecretsError):
            _ = self.client(settings).client

    # -- loading -----------------------------------------------------------

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
            internal = SecretsError("InternalError", f"{type(exc).__name__} in the secrets loader")
            self._record_failure(internal, refresh=refresh)
            raise internal from None

    def load(self, settings: Settings | None = None) -> SecretStatus:
        """Fetch, validate, apply, rebuild the config. Raises `SecretsError`; the status records it."""
        with self._lock:
            with self._recorded():
                prepared = self.prepare(settings or self.settings())
            return self.commit(prepared)

    def prepare_or_record(self, settings: Settings) -> Prepared:
        """`prepare`, recording a failure in the status (the background retry's step)."""
        with self._recorded():
            return self.prepare(settings)

    def prepare(self, settings: Settings, *, current: Mapping[str, str] | None = None) -> Prepared:
        """Fetch and validate everything, including the typed Settings, without touching anything.

        `current` maps names to their AWSCURRENT version ids (from DescribeSecret): a secret
        whose version is unchanged is not fetched again.
        """
        started = time.perf_counter()
        names = settings.secret_names
        allowed = allowed_keys(settings.secrets_extra_keys)
        timings: dict[str, float] = {}
        strict = settings.app_env.is_cloud
        if not names:
            parsed = parse_values({k: v for k, v in self._local_values().items() if k in allowed})
            bundle = build_bundle([(SOURCE_ENVIRONMENT, parsed)], strict=strict, allowed=allowed)
            return Prepared(SOURCE_ENVIRONMENT, (), bundle, {}, self._candidate(bundle))
        if not settings.region:
            raise SecretsError("MissingRegion", "AWS_REGION is not set")
        t0 = time.perf_counter()
        prefetched = self._prefetched(settings) if current is None else None
        if prefetched is None:
            _ = self.client(settings).client
            timings["client"] = (time.perf_counter() - t0) * 1000
        else:
            timings["prefetch_wait"] = (time.perf_counter() - t0) * 1000
        parts: dict[str, tuple[str, ParsedSecret]] = {}
        t1 = time.perf_counter()
        for name in names:
            if current and name in self._parts and self._parts[name][0] == current.get(name):
                parts[name] = self._parts[name]
                continue
            fetched = prefetched[name] if prefetched else self.client(settings).get_secret(name)
            raw = require_string(fetched.secret_string, name, binary=fetched.has_binary)
            parts[name] = (fetched.version_id, parse_secret(raw, secret_name=name))
        timings["fetch"] = (time.perf_counter() - t1) * 1000
        t2 = time.perf_counter()
        bundle = build_bundle([(n, parsed) for n, (_, parsed) in parts.items()], strict=strict, allowed=allowed)
        candidate = self._candidate(bundle)
        timings["validate"] = (time.perf_counter() - t2) * 1000
        timings["prepare"] = (time.perf_counter() - started) * 1000
        return Prepared(SOURCE_AWS, names, bundle, parts, candidate, timings)

    def _candidate(self, bundle: SecretBundle) -> Settings:
        """The Settings the app would run with after this bundle is applied, or the error."""
        try:
            return settings_from_environ(self._applier.preview(bundle.values))
        except ValidationError as exc:
            raise settings_error(exc, secret_keys=bundle.values.keys()) from None

    def commit(self, prepared: Prepared) -> SecretStatus:
        """Apply a prepared load: file, environment, config, status.

        The service-account file is written first: it is the only step that can fail, and
        it fails before its rename, so nothing has changed. After it nothing can fail.
        """
        with self._lock:
            started = time.perf_counter()
            bundle = prepared.bundle
            self._masker.register(prepared.all_values)
            with self._recorded():
                applied = self._applier.apply(bundle.values)
            config = prepared.settings
            if applied.credentials_path is not None:
                config = config.model_copy(update={"google_application_credentials": applied.credentials_path})
            install_config(config)
            now = _now()
            previous = self._status
            self._parts = dict(prepared.parts)
            timings = {**prepared.timings, "commit": (time.perf_counter() - started) * 1000}
            overridden = applied.overridden if prepared.source == SOURCE_AWS else ()
            self._status = SecretStatus(
                loaded=True,
                source=prepared.source,
                secret_names=prepared.names,
                version_ids=MappingProxyType(prepared.versions),
                keys=bundle.keys,
                missing=bundle.missing,
                overridden=overridden,
                ignored=bundle.ignored,
                warnings=bundle.warnings,
                loaded_at=now,
                verified_at=now,
                last_refresh_at=previous.last_refresh_at,
                next_refresh_at=previous.next_refresh_at,
                attempts=previous.attempts + 1,
                timings_ms=MappingProxyType({k: round(v, 2) for k, v in timings.items()}),
            )
            status = self._status
        self._log_loaded(prepared, overridden, status.timings_ms)
        self._report_versions(previous, status)
        for callback in list(self._callbacks):
            try:
                callback(status)
            except Exception:
                log.exception("a secrets swap callback failed")
        return status

    def _prefetched(self, settings: Settings) -> dict[str, FetchedSecret] | None:
        """The start-up child's answer (see src.prefetch), used once, by the first load only."""
        budget = (settings.secrets_connect_timeout + settings.secrets_read_timeout) * settings.secrets_max_attempts + 5
        outcome = prefetch.take(settings.secret_names, timeout=budget)
        if outcome is None:
            return None
        if outcome.error is not None:
            error = outcome.error
            raise SecretsError(
                error["code"], error["message"], hint=error.get("hint"), secret_name=error.get("secret_name") or None
            )
        # The child wrote dataclasses.asdict(FetchedSecret): read it back the same way.
        fetched = [FetchedSecret(**s) for s in outcome.secrets]  # type: ignore[arg-type]
        return {f.name: f for f in fetched}

    # -- refresh -----------------------------------------------------------

    def check_for_change(self, settings: Settings) -> Prepared | None:
        """DescribeSecret each name; fetch and validate only when a version changed. Touches nothing."""
        client = self.client(settings)
        current = {name: client.current_version(name) for name in settings.secret_names}
        if current == dict(self._status.version_ids):
            return None
        return self.prepare(settings, current=current)

    def refresh(self, settings: Settings) -> Prepared | None:
        """One refresh check, recording its outcome; returns what must be committed, if anything."""
        with self._recorded(refresh=True):
            prepared = self.check_for_change(settings)
        now = _now()
        with self._lock:
            if prepared is None:
                if self._status.error is not None:
                    log.info("secrets refresh recovered; version unchanged")
                self._status = replace(self._status, error=None, verified_at=now, last_refresh_at=now)
            else:
                self._status = replace(self._status, last_refresh_at=now)
        return prepared

    def set_next_refresh(self, moment: datetime | None) -> None:
        with self._lock:
            self._status = replace(self._status, next_refresh_at=moment)

    # -- helpers -----------------------------------------------------------

    def _report_versions(self, previous: SecretStatus, status: SecretStatus) -> None:
        """Metrics and the one version line per secret that `cli fleet` reads: at start and on a swap."""
        if not previous.loaded:
            metrics.load_succeeded(startup_ms=_process_age_ms() or status.timings_ms.get("prepare", 0.0))
            task_metadata.log_versions(log, status.version_ids, reason="start")
            return
        changed = {n: v for n, v in status.version_ids.items() if previous.version_ids.get(n) != v}
        for name, version_id in changed.items():
            metrics.version_changed(name, version_id)
        if changed:
            task_metadata.log_versions(log, changed, reason="swap")

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

    def _local_values(self) -> dict[str, str]:
        values = _dotenv_values()
        values.update(self._applier.original)
        return values

    def _log_loaded(self, prepared: Prepared, overridden: tuple[str, ...], timings: Mapping[str, float]) -> None:
        bundle = prepared.bundle
        for collision in bundle.collisions:
            log.warning("secret key overridden by a later secret: %s", collision)
        for key in overridden:
            log.warning("environment variable %s set before bootstrap wins over the secret", key)
        if bundle.ignored:
            log.warning(
                "secret keys ignored, not applied (outside the allow-list; list them in SECRETS_EXTRA_KEYS "
                "to apply): %s",
                ",".join(bundle.ignored),
                extra={"ignored": list(bundle.ignored)},
            )
        for warning in bundle.warnings:
            log.warning("secret warning: %s", warning)
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
                "timings_ms": dict(timings),
                "process_ms": _process_age_ms(),
            },
        )


def _process_age_ms() -> float | None:
    """Milliseconds since this process started (Linux), to show where start-up time goes."""
    try:
        fields = Path("/proc/self/stat").read_text().rsplit(")", 1)[1].split()
        started = int(fields[19]) / os.sysconf("SC_CLK_TCK")
        uptime = float(Path("/proc/uptime").read_text().split()[0])
    except (OSError, ValueError, IndexError):
        return None
    return round((uptime - started) * 1000, 1)


def settings_error(exc: ValidationError, *, secret_keys: Iterable[str] = ()) -> SecretsError:
    """A config validation failure as an error naming fields, never values.

    A field whose value came from the secret is the secret's fault (InvalidSecretValue);
    any other is the service's own setting (InvalidConfiguration).
    """
    # pydantic's own message quotes the input; name the fields only.
    fields = sorted({".".join(str(p) for p in err["loc"]).upper() for err in exc.errors()})
    from_secret = [f for f in fields if f in set(secret_keys)]
    if from_secret:
        return SecretsError("InvalidSecretValue", f"the config refuses the secret's value of {', '.join(from_secret)}")
    return SecretsError("InvalidConfiguration", f"invalid setting(s): {', '.join(fields)}")


_default = SecretsBootstrapper()


def get_bootstrapper() -> SecretsBootstrapper:
    return _default


def bootstrap_secrets(settings: Settings | None = None) -> SecretStatus:
    """Load the application secret into `os.environ` and the config; raise `SecretsError` on failure."""
    return _default.load(settings)
