"""`SecretStatus`: what the last load and the last attempt found, and its two public views.

An immutable snapshot, replaced whole by the bootstrapper; `/health` renders it and
never computes it. It holds names, version ids and error codes, never a value.
`full()` is for operators (loopback peers, logs, local mode); `minimal()` is what a
stranger on the network may see: no names, versions, keys, messages or hints, since
AWS's messages name the account, the role and the session, and not the ExampleCredentials
code (a generic `Degraded` instead).

A load that succeeded with required keys missing (local and test modes: staging and production
refuse it) is a problem too: `degraded`, code MissingRequiredKeys, and the full view lists the
missing key names (`missing`, never a value); the minimal view shows only `Degraded`. A load
that has not succeeded shows what it tried: the source, the secret names and the Region
(`region`), recorded before the first attempt (`attempting`).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from typing import Any

from src.errors import ErrorCode, SecretsError

SOURCE_AWS = "aws-secrets-manager"
SOURCE_ENVIRONMENT = "environment"
# The minimal view's code for a problem it does not name (see `SecretStatus.minimal`).
DEGRADED = "Degraded"
_LOCAL_MISSING_HINT = (
    "Local mode: set the missing keys in .env (copy .env.example and fill it in) or in the environment, "
    "then restart; the service serves meanwhile, without them. Staging and production refuse a secret "
    "that lacks them."
)
_AWS_MISSING_HINT = (
    "Add the missing keys to the secret; the service serves meanwhile, without them (staging and "
    "production refuse such a secret)."
)


def now() -> datetime:
    return datetime.now(UTC)


def _iso(moment: datetime | None) -> str | None:
    return moment.isoformat() if moment else None


@dataclass(frozen=True)
class SecretStatus:
    """What the last load and the last attempt found: names and ids only, never values."""

    loaded: bool = False
    source: str = SOURCE_ENVIRONMENT
    secret_names: tuple[str, ...] = ()
    version_ids: Mapping[str, str] = field(default_factory=dict)
    keys: tuple[str, ...] = ()
    missing: tuple[str, ...] = ()
    overridden: tuple[str, ...] = ()
    ignored: tuple[str, ...] = ()
    warnings: tuple[str, ...] = ()
    loaded_at: datetime | None = None
    # Last time the values in use were confirmed current (a load or an unchanged refresh).
    verified_at: datetime | None = None
    last_refresh_at: datetime | None = None
    next_refresh_at: datetime | None = None
    error: SecretsError | None = None
    attempts: int = 0
    timings_ms: Mapping[str, float] = field(default_factory=dict)
    # Staging/production only: secret-bearing keys holding the repository's example values.
    example_keys: tuple[str, ...] = ()
    # AWS only: the task's own Region, and per secret the Region its version in use was last read
    # or confirmed from (src.aws.failover); another Region than the primary means the replica.
    primary_region: str | None = None
    regions: Mapping[str, str] = field(default_factory=dict)
    # The primary's error code that sent the last read to the replica (None on the primary).
    failover_cause: str | None = None

    @property
    def region(self) -> str | None:
        """The Region the values in use were read from: the replica's if any secret is on it."""
        return next(iter(self.replica_regions), self.primary_region)

    @property
    def replica_regions(self) -> tuple[str, ...]:
        """The Regions other than the primary that a secret in use was last read from."""
        return tuple(sorted({r for r in self.regions.values() if r != self.primary_region}))

    @property
    def on_replica(self) -> bool:
        return bool(self.replica_regions)

    @property
    def problem(self) -> SecretsError | None:
        """Why the status is not ok: the last attempt's error, else required keys missing (local and
        test modes), else example credentials in use, else values read from the failover Region's replica."""
        if self.error is not None:
            return self.error
        if self.loaded and self.missing:
            hint = _LOCAL_MISSING_HINT if self.source == SOURCE_ENVIRONMENT else _AWS_MISSING_HINT
            return SecretsError(
                ErrorCode.MissingRequiredKeys, f"required keys not set: {', '.join(self.missing)}", hint=hint
            )
        if self.example_keys:
            return SecretsError(
                ErrorCode.ExampleCredentials,
                f"{', '.join(self.example_keys)} hold the example values of infra/iam/secret-structure-example.json",
            )
        if self.on_replica:
            names = ", ".join(n for n, r in self.regions.items() if r != self.primary_region)
            cause = f" after {self.failover_cause}" if self.failover_cause else ""
            return SecretsError(
                ErrorCode.ServingFromReplica,
                f"{names} read from the replica in {self.region}{cause} in {self.primary_region}",
            )
        return None

    def attempting(self, secret_names: tuple[str, ...], region: str | None) -> SecretStatus:
        """Until a load succeeds, the status names what is being tried: the source, the secrets and
        the Region (a failed first load's full view says where it looked). Loaded: itself."""
        if self.loaded:
            return self
        source = SOURCE_AWS if secret_names else SOURCE_ENVIRONMENT
        return replace(self, source=source, secret_names=secret_names, primary_region=region)

    def age_seconds(self, at: datetime | None = None) -> float | None:
        if self.verified_at is None:
            return None
        return max(0.0, ((at or now()) - self.verified_at).total_seconds())

    def _age(self, at: datetime | None) -> int | None:
        age = self.age_seconds(at)
        return round(age) if age is not None else None

    def full(self, at: datetime | None = None) -> dict[str, Any]:
        return {
            "loaded": self.loaded,
            "source": self.source,
            "secret_names": list(self.secret_names),
            "version_ids": dict(self.version_ids),
            "keys": list(self.keys),
            "missing": list(self.missing),
            "overridden": list(self.overridden),
            "ignored": list(self.ignored),
            "warnings": list(self.warnings),
            "loaded_at": _iso(self.loaded_at),
            "last_refresh_at": _iso(self.last_refresh_at),
            "next_refresh_at": _iso(self.next_refresh_at),
            "age_seconds": self._age(at),
            "region": self.region,
            "primary_region": self.primary_region,
            "regions": dict(self.regions),
            "error": problem.to_dict() if (problem := self.problem) else None,
        }

    def minimal(self, at: datetime | None = None) -> dict[str, Any]:
        """A load or refresh failure shows its code; example credentials in use or missing keys show
        only the generic `Degraded` (naming them would tell a stranger the service runs on public keys)."""
        problem = self.problem
        code = None if problem is None else (problem.code if self.error is not None else DEGRADED)
        return {"loaded": self.loaded, "age_seconds": self._age(at), "error": {"code": code} if code else None}
