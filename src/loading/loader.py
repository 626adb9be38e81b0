"""Prepare a load: fetch (or take the prefetch child's answer), validate, build the typed Settings.

`Loader.prepare()` returns a `Prepared` and touches nothing: no `os.environ` write, no
file, no config swap, no status. It reads the applier's preview of the environment
the bundle would produce, to build the `Settings` the app would run with, so a
version the config refuses is refused here, before anything changes. Commit lives
in `src.secrets_manager`; `Prepared.status()` is the snapshot it installs.

The loader also keeps the one AWS client (built on first need) and the parts that
were last committed, so a refresh fetches only a secret whose version changed:
one GetSecretValue per name and per new version.

(Over 250 lines, and `Loader` about 150: one concept, a load's prepare and the state kept
between loads (the client, the last committed parts); fetch, validation, the config candidate
and the mask's rule are delegated (src.aws, src.secret, src.config, src.loading.masking), and
what remains is their sequencing, which reads best in one place.)
"""

from __future__ import annotations

import contextlib
import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from types import MappingProxyType
from typing import TYPE_CHECKING

from pydantic import ValidationError

from src.aws import task_metadata
from src.aws.client import FetchedSecret, SecretsClient
from src.aws.failover import Current, RegionReader, fail_fast
from src.config import Settings, carried_previous_key, env_file_path, settings_error, settings_from_environ
from src.errors import ErrorCode, SecretsError
from src.loading import regions
from src.loading.environment import EnvironmentApplier
from src.loading.masking import log_mask
from src.loading.regions import Where
from src.secret.payload import (
    KNOWN_KEYS,
    ParsedSecret,
    SecretBundle,
    allowed_keys,
    build_bundle,
    parse_secret,
    parse_values,
    require_string,
)
from src.secret.status import SOURCE_AWS, SOURCE_ENVIRONMENT, SecretStatus
from src.secret.status import now as status_now
from src.secret.values import known_example_keys
from src.startup import prefetch
from src.telemetry import metrics
from src.telemetry.mask import EMPTY_MASK, Mask

if TYPE_CHECKING:
    from mypy_boto3_secretsmanager import SecretsManagerClient

__all__ = ["ClientFactory", "Loader", "Prepared", "default_client_factory"]

# Per secret name: the version id and what was parsed from it.
Parts = Mapping[str, tuple[str, ParsedSecret]]


@dataclass(frozen=True)
class Prepared:
    """A validated load, not yet applied: the bundle and the typed Settings built from it.
    Repr shows names only."""

    source: str
    names: tuple[str, ...]
    bundle: SecretBundle
    parts: Parts = field(repr=False)
    settings: Settings = field(repr=False)
    timings: Mapping[str, float] = field(default_factory=dict)
    # The log mask the commit installs, compiled here (see the module docstring).
    mask: Mask = field(default=EMPTY_MASK, repr=False, compare=False)
    # Staging/production: the secret-bearing keys holding the repository's example values,
    # judged here (JSON parse and sha256), off the event loop, so the commit only copies them.
    example_keys: tuple[str, ...] = ()
    # AWS only: where each version was read or confirmed (src.loading.regions).
    where: Where = field(default_factory=Where)

    @property
    def versions(self) -> dict[str, str]:
        return {name: version for name, (version, _) in self.parts.items()}

    def status(
        self, previous: SecretStatus, *, overridden: tuple[str, ...], timings_ms: Mapping[str, float]
    ) -> SecretStatus:
        """The status once this load is committed; the refresh schedule carries over.

        Only copies what prepare computed: it runs in the commit, after the first side effect,
        where nothing may fail. It names the keys holding the repository's example values
        (`example_keys`): they pass every payload rule (the emulator serves them), so they are
        served and reported (issue 21).
        """
        bundle, now = self.bundle, status_now()
        return SecretStatus(
            loaded=True,
            source=self.source,
            secret_names=self.names,
            version_ids=MappingProxyType(self.versions),
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
            timings_ms=MappingProxyType({k: round(v, 2) for k, v in timings_ms.items()}),
            example_keys=self.example_keys,
            **self.where.fields(),
        )


ClientFactory = Callable[[Settings], SecretsClient]


def default_client_factory(settings: Settings) -> SecretsClient:
    """The client of `settings.region`; with a failover Region, one that does not retry a 5xx or a
    connection fault there (src.aws.failover.fail_fast: the replica is the retry)."""
    failover = bool(settings.secrets_failover_region)

    def on_build(client: SecretsManagerClient) -> None:
        metrics.count_throttling_retries(client)
        if failover:
            fail_fast(client)

    return SecretsClient(
        settings.region,
        connect_timeout=settings.secrets_connect_timeout,
        read_timeout=settings.secrets_read_timeout,
        max_attempts=settings.secrets_max_attempts,
        on_build=on_build,
    )


def dotenv_values() -> dict[str, str]:
    """The `.env` file's values (local mode), or none if there is no file."""
    path = env_file_path()
    if not Path(path).is_file():
        return {}
    from dotenv import dotenv_values as read

    return {k: v for k, v in read(path).items() if v is not None}


class Loader:
    """Builds `Prepared` loads; thread-safe. Owns the client cache and the committed parts."""

    def __init__(self, client_factory: ClientFactory, applier: EnvironmentApplier) -> None:
        self._client_factory = client_factory
        self._reader: RegionReader | None = None
        self.where = Where()  # where the versions in use were last read or confirmed
        self._applier = applier
        self._parts: Parts = {}
        self._lock = threading.Lock()
        # Refreshes since the versions in use were last read (not just described); see verify().
        self._unread = 0

    def client(self, settings: Settings) -> SecretsClient:
        return self.reader(settings).primary

    def reader(self, settings: Settings) -> RegionReader:
        """Every AWS read goes through it: the primary first, the failover Region per src.aws.failover."""
        with self._lock:
            if self._reader is None:
                self._reader = regions.reader(self._client_factory, settings)
            return self._reader

    def warm(self, settings: Settings) -> None:
        """Build the boto3 client ahead of need; a failure here is reported by the next real call."""
        with contextlib.suppress(SecretsError):
            _ = self.client(settings).client

    def committed(self, prepared: Prepared) -> None:
        """Remember what was applied, so an unchanged version is not fetched again."""
        self._parts = dict(prepared.parts)
        self.where = prepared.where

    def changed(self, settings: Settings, known: Mapping[str, str]) -> Prepared | None:
        """DescribeSecret each name; fetch and validate only when a version differs from `known`.

        Every SECRETS_VERIFY_EVERY-th refresh with nothing new also reads the versions in use
        (`verify`): DescribeSecret still answers when the read permission, the resource policy
        or the KMS key no longer lets this task read the secret.
        """
        reader = self.reader(settings)
        found = {name: reader.current_version(name) for name in settings.secret_names}
        # The same version id in two Regions is one version: a replica's answer compares as the primary's.
        current = {name: seen.version_id for name, seen in found.items()}
        self._unread += 1
        if current == dict(known):
            every = settings.secrets_verify_every
            if every and self._unread >= every:
                found = self.verify(settings, known)
                # Only after a successful read: a failed one is tried again at the next refresh,
                # so a DescribeSecret alone never clears a lost-access error.
                self._unread = 0
            self.where = regions.noted(reader.primary_region, found)
            return None
        prepared = self.prepare(settings, current=current, confirmed=found)
        # The fetch of the new version was itself a read of what will be in use.
        self._unread = 0
        return prepared

    def verify(self, settings: Settings, known: Mapping[str, str]) -> dict[str, Current]:
        """GetSecretValue of each version in use, by id: proves this task can still read it.

        The value is checked to be a SecretString and dropped (it is the one already applied:
        a version's value never changes). Raises SecretsError with AWS's code. Returns, per
        name, the version and the Region that answered.
        """
        reader = self.reader(settings)
        found: dict[str, Current] = {}
        for name, version_id in known.items():
            try:
                fetched = reader.get_secret(name, version_stage=None, version_id=version_id)
                require_string(fetched.secret_string, name, binary=fetched.has_binary)
            except SecretsError as error:
                raise _unreadable(error, name, version_id) from None
            found[name] = regions.read_at(fetched, reader.primary_region)
        return found

    def prepare(
        self,
        settings: Settings,
        *,
        current: Mapping[str, str] | None = None,
        confirmed: Mapping[str, Current] | None = None,
    ) -> Prepared:
        """Fetch and validate everything, including the typed Settings, without touching anything.

        `current` maps names to their AWSCURRENT version ids (from DescribeSecret): a secret
        whose version is unchanged is not fetched again; `confirmed` says which Region said so.
        Without it, the first load takes the prefetch child's answer if there is one.
        """
        started = time.perf_counter()
        names = settings.secret_names
        allowed = allowed_keys(settings.secrets_extra_keys)
        timings: dict[str, float] = {}
        strict = settings.app_env.is_cloud
        if not names:
            parsed = parse_values({k: v for k, v in self._local_values().items() if k in allowed})
            bundle = build_bundle([(SOURCE_ENVIRONMENT, parsed)], strict=strict, allowed=allowed)
            mask = _load_mask([parsed.values], self._previous(), (), allowed, None)
            candidate = self._candidate(bundle)
            examples = _examples(bundle, candidate)
            return Prepared(SOURCE_ENVIRONMENT, (), bundle, {}, candidate, mask=mask, example_keys=examples)
        if not settings.region:
            raise SecretsError(ErrorCode.MissingRegion, "AWS_REGION is not set")
        primary = settings.region
        t0 = time.perf_counter()
        prefetched = _prefetched(settings) if current is None else None
        if prefetched is None:
            _ = self.client(settings).client
            timings["client"] = (time.perf_counter() - t0) * 1000
        else:
            timings["prefetch_wait"] = (time.perf_counter() - t0) * 1000
        parts: dict[str, tuple[str, ParsedSecret]] = {}
        read: dict[str, Current] = {}
        known = self._parts
        t1 = time.perf_counter()
        for name in names:
            if current and name in known and known[name][0] == current.get(name):
                parts[name] = known[name]
                read[name] = (confirmed or {}).get(name) or Current(known[name][0], primary)
                continue
            fetched = prefetched[name] if prefetched else self.reader(settings).get_secret(name)
            raw = require_string(fetched.secret_string, name, binary=fetched.has_binary)
            parts[name] = (fetched.version_id, parse_secret(raw, secret_name=name))
            read[name] = regions.read_at(fetched, primary)  # the prefetch child's reads too
        timings["fetch"] = (time.perf_counter() - t1) * 1000
        t2 = time.perf_counter()
        bundle = build_bundle([(n, parsed) for n, (_, parsed) in parts.items()], strict=strict, allowed=allowed)
        candidate = self._candidate(bundle)
        examples = _examples(bundle, candidate)
        timings["validate"] = (time.perf_counter() - t2) * 1000
        t3 = time.perf_counter()
        identities = (*names, *(v for v, _ in parts.values()), *(v for v, _ in known.values()))
        mask = _load_mask([p.values for _, p in parts.values()], self._previous(), identities, allowed, ",".join(names))
        timings["mask"] = (time.perf_counter() - t3) * 1000
        timings["prepare"] = (time.perf_counter() - started) * 1000
        where = regions.noted(primary, read)
        return Prepared(SOURCE_AWS, names, bundle, parts, candidate, timings, mask, examples, where)

    def _previous(self) -> list[Mapping[str, str]]:
        return [parsed.values for _, parsed in self._parts.values()]

    def _candidate(self, bundle: SecretBundle) -> Settings:
        """The Settings the app would run with after this bundle is applied, or the error."""
        try:
            return settings_from_environ(self._applier.preview(bundle.values))
        except ValidationError as exc:
            raise settings_error(exc, secret_keys=bundle.values.keys()) from None

    def _local_values(self) -> dict[str, str]:
        values = dotenv_values()
        values.update(self._applier.original)
        return values


def _load_mask(
    current: list[Mapping[str, str]],
    previous: list[Mapping[str, str]],
    identities: tuple[str, ...],
    allowed: frozenset[str],
    secret_name: str | None,
) -> Mask:
    """The load's mask; raises MaskBudgetExceeded (src.loading.masking) when this load's
    credentials, with the previous APP_SECRET_KEY the config still accepts, do not all fit.
    `previous` are the values of the versions committed before (their forms may be dropped)."""
    arn = task_metadata.task_arn()
    protected = (*identities, *((arn, task_metadata.task_id(arn) or "") if arn else ()))
    # The APP_SECRET_KEY the config still accepts (src.config carries it past later swaps): still
    # a credential in use, so required like this load's own.
    carried = carried_previous_key()
    required = [*current, {"APP_SECRET_KEY": carried}] if carried is not None else current
    return log_mask(required, previous, extra=allowed - KNOWN_KEYS, protected=protected, secret_name=secret_name)


def _prefetched(settings: Settings) -> dict[str, FetchedSecret] | None:
    """The start-up child's answer (see src.startup.prefetch), used once, by the first load only."""
    budget = (settings.secrets_connect_timeout + settings.secrets_read_timeout) * settings.secrets_max_attempts + 5
    outcome = prefetch.take(settings.secret_names, timeout=budget)
    if outcome is None:
        return None
    if outcome.error is not None:
        error = outcome.error
        # The child's code is one of ours or AWS's; its hint travels with it.
        found = SecretsError.from_aws(error["code"], error["message"], secret_name=error.get("secret_name") or None)
        raise found.with_hint(error["hint"]) if error.get("hint") else found
    # The child wrote dataclasses.asdict(FetchedSecret): read it back the same way.
    fetched = [FetchedSecret(**s) for s in outcome.secrets]  # type: ignore[arg-type]
    return {f.name: f for f in fetched}


def _examples(bundle: SecretBundle, settings: Settings) -> tuple[str, ...]:
    return tuple(known_example_keys(bundle.values)) if settings.app_env.is_cloud else ()


# Codes that mean "this principal may no longer read it" rather than a network or service fault.
_ACCESS_CODES = frozenset(
    {
        ErrorCode.AccessDeniedException,
        ErrorCode.DecryptionFailure,
        ErrorCode.KMSInvalidStateException,
        ErrorCode.ResourceNotFoundException,
        ErrorCode.InvalidRequestException,
    }
)
_UNREADABLE_HINT = (
    "DescribeSecret still answers but GetSecretValue of the version in use is refused: this task keeps "
    "serving the values it has, and a task started now would fail. Check that the task role still "
    "allows secretsmanager:GetSecretValue (and kms:Decrypt via Secrets Manager on the secret's key), "
    "that the secret's resource policy does not deny it, and that the KMS key is enabled."
)


def _unreadable(error: SecretsError, name: str, version_id: str) -> SecretsError:
    """The refused read, with AWS's code kept, the version named, and what it means for the fleet."""
    found = SecretsError.from_aws(
        error.code, f"reading the version in use ({version_id}) failed: {error.message}", secret_name=name
    )
    return found.with_hint(f"{error.hint} {_UNREADABLE_HINT}") if error.code in _ACCESS_CODES else found
