"""Region failover for Secrets Manager reads: when to fail over (the policy), and the reader that applies it.

Contract:
- `fails_over(error)` is the one rule of when a read may go to the failover Region: the
  primary answered 5xx, could not be reached, timed out, or still throttled after botocore's
  retries. Never on an answer that is the caller's fault or a policy (AccessDenied,
  ResourceNotFound, DecryptionFailure, InvalidRequest, a KMS key's state, bad parameters,
  missing credentials): those are raised as they are, so a second Region never hides a mistake.
- `fail_fast(client)`: with a failover Region, the primary's client does not retry a 5xx or a
  connection fault in the primary (the replica is the retry); throttling keeps botocore's
  standard retries, so only throttling that outlasts them fails over.
- `RegionReader` reads from the primary first, every time, and from the failover Region only
  after a `fails_over` error, by name, or by the replica's ARN when the secret is named by ARN
  (the ARN's Region rewritten). Before serving anything from the failover Region it checks, by
  DescribeSecret there, that the secret is a replica of the primary's (`PrimaryRegion`): an
  unrelated secret of the same name is never served. Every answer names the Region it came from.
  A failed failover raises the primary's error (its code and hint), with the replica's outcome
  in the message.

Knows nothing of validation, the environment or telemetry: the caller reports what it read.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from dataclasses import dataclass, replace
from typing import Any

from src.aws.client import CURRENT, FetchedSecret, SecretsClient, version_with_stage
from src.errors import ErrorCode, SecretsError

# AWS's codes for a fault on its side (each also comes with a 5xx status, which counts on its own).
SERVER_CODES = frozenset({str(ErrorCode.InternalServiceError), "InternalFailure", "ServiceUnavailable"})
# Throttling reaches the caller only after botocore's standard retries gave up.
THROTTLING_CODES = frozenset(
    {str(ErrorCode.ThrottlingException), "Throttling", "TooManyRequestsException", "RequestLimitExceeded"}
)
# Local codes for no answer at all (src.aws.errors).
NO_ANSWER_CODES = frozenset({str(ErrorCode.EndpointUnreachable), str(ErrorCode.Timeout)})
# The caller's fault or a policy: never failed over, whatever the HTTP status says.
NEVER_CODES = frozenset(
    str(code)
    for code in (
        ErrorCode.AccessDeniedException,
        ErrorCode.ResourceNotFoundException,
        ErrorCode.DecryptionFailure,
        ErrorCode.KMSInvalidStateException,
        ErrorCode.InvalidRequestException,
        ErrorCode.InvalidParameterException,
        ErrorCode.NoCredentials,
        ErrorCode.MissingRegion,
        ErrorCode.InvalidConfiguration,
    )
)


def fails_over(error: SecretsError) -> bool:
    """Whether a read that failed with `error` in the primary may be tried in the failover Region."""
    if error.code in NEVER_CODES:
        return False
    if error.http_status is not None and error.http_status >= 500:
        return True
    return error.code in SERVER_CODES | THROTTLING_CODES | NO_ANSWER_CODES


def replica_secret_id(secret_id: str, region: str) -> str:
    """The same secret in `region`: a name is the same name; an ARN gets `region` in its Region field."""
    if not secret_id.startswith("arn:"):
        return secret_id
    parts = secret_id.split(":", 5)
    if len(parts) < 6:
        return secret_id
    parts[3] = region
    return ":".join(parts)


def fail_fast(client: Any) -> None:
    """Stop botocore retrying a 5xx or a connection fault on `client` (the primary's, with a failover).

    botocore's `needs-retry` event takes the first handler answer that is not None, and False
    means "do not retry" (botocore.retries.standard returns it the same way); this handler runs
    first and answers None for everything else, throttling included, which standard mode retries.
    """
    from botocore import exceptions as bx

    service = client.meta.service_model.service_id.hyphenize()

    def no_retry(response: Any = None, caught_exception: Exception | None = None, **_: Any) -> bool | None:
        if caught_exception is not None:
            return False if isinstance(caught_exception, bx.ConnectionError | bx.HTTPClientError) else None
        if response is not None and getattr(response[0], "status_code", 0) >= 500:
            return False
        return None

    client.meta.events.register_first(f"needs-retry.{service}", no_retry, unique_id=f"short-cut-fail-fast-{service}")


@dataclass(frozen=True)
class Current:
    """The version labelled AWSCURRENT, the Region that said so, and why it was not the primary."""

    version_id: str
    region: str
    cause: str | None = None  # the primary's error code when `region` is the failover Region


class RegionReader:
    """Reads a secret from the primary Region, failing over per `fails_over`; thread-safe.

    `replica` builds the failover Region's client on first need (it is never built while the
    primary answers).
    """

    def __init__(
        self,
        primary: SecretsClient,
        primary_region: str,
        failover_region: str | None = None,
        replica: Callable[[], SecretsClient] | None = None,
    ) -> None:
        self.primary = primary
        self.primary_region = primary_region
        self.failover_region = failover_region if failover_region and replica is not None else None
        self._replica_factory = replica
        self._replica: SecretsClient | None = None
        self._lock = threading.Lock()

    def _replica_client(self) -> SecretsClient:
        with self._lock:
            if self._replica is None:
                if self._replica_factory is None:  # _failover_for() never lets a read get here without one
                    raise SecretsError(ErrorCode.InternalError, "no failover Region client")
                self._replica = self._replica_factory()
            return self._replica

    def get_secret(
        self, name: str, *, version_stage: str | None = CURRENT, version_id: str | None = None
    ) -> FetchedSecret:
        """GetSecretValue, primary first; the answer's `region` names where it was read."""
        try:
            fetched = self.primary.get_secret(name, version_stage=version_stage, version_id=version_id)
            return replace(fetched, region=self.primary_region)
        except SecretsError as error:
            region = self._failover_for(error)
            cause = error
        replica_id = replica_secret_id(name, region)
        try:
            client = self._replica_client()
            self._check_replica(client.describe(replica_id), name, region)
            fetched = client.get_secret(replica_id, version_stage=version_stage, version_id=version_id)
        except SecretsError as replica_error:
            raise _both_failed(cause, replica_error, region) from None
        return replace(fetched, name=name, region=region, failover_cause=cause.code)

    def current_version(self, name: str) -> Current:
        """The AWSCURRENT version id (DescribeSecret, no value read), primary first."""
        try:
            return Current(self.primary.current_version(name), self.primary_region)
        except SecretsError as error:
            region = self._failover_for(error)
            cause = error
        try:
            metadata = self._replica_client().describe(replica_secret_id(name, region))
            self._check_replica(metadata, name, region)
            version_id = version_with_stage(metadata, CURRENT)
            if not version_id:
                raise SecretsError(
                    ErrorCode.ResourceNotFoundException, f"no version is labelled {CURRENT}", secret_name=name
                )
        except SecretsError as replica_error:
            raise _both_failed(cause, replica_error, region) from None
        return Current(version_id, region, cause.code)

    def _failover_for(self, error: SecretsError) -> str:
        """The failover Region to try after `error`, or `error` raised as it is."""
        if self.failover_region is None or not fails_over(error):
            raise error
        return self.failover_region

    def _check_replica(self, metadata: dict[str, Any], name: str, region: str) -> None:
        primary = metadata.get("PrimaryRegion")
        if primary != self.primary_region:
            found = f"its primary Region is {primary}" if primary else "it is not a replica"
            raise SecretsError(
                ErrorCode.InvalidRequestException,
                f"the secret there is not a replica of the one in {self.primary_region} ({found})",
                secret_name=name,
            )
        if metadata.get("DeletedDate"):
            raise SecretsError(
                ErrorCode.InvalidRequestException, "the replica is scheduled for deletion", secret_name=name
            )


def _both_failed(primary: SecretsError, replica: SecretsError, region: str) -> SecretsError:
    """The primary's error (its code, hint and status), saying what the failover Region answered."""
    error = SecretsError.from_aws(
        primary.code,
        f"{primary.message}; not read from the failover Region {region} either: {replica.code}: {replica.message}",
        secret_name=primary.secret_name,
    )
    error = error.with_hint(primary.hint)
    error.http_status = primary.http_status
    return error
