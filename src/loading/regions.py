"""Where the secrets in use were read: the Region reader the loader reads through, and `Where`.

`reader()` builds the one `src.aws.failover.RegionReader` of a Loader: the primary's client
(the loader's own), and the failover Region's client from the same factory, built only when
a read first fails over. `Where` is what a load or a refresh found: the task's Region, per
secret name the Region its version in use was read or confirmed from, and the primary's
error code when that was the replica. `noted()` turns what a load or a refresh read into a
`Where` and reports each secret the replica served as a metric (src.telemetry.metrics.replica_read),
once per load or refresh, so the metric goes on for as long as a task stays on the replica.
The WARNING is the bootstrapper's (src.secrets_manager), once per stay.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Any

from src.aws.client import FetchedSecret, SecretsClient
from src.aws.failover import Current, RegionReader
from src.config import Settings
from src.telemetry import metrics


@dataclass(frozen=True)
class Where:
    """Where the versions in use were read; the status's fields of the same names."""

    primary_region: str | None = None
    regions: Mapping[str, str] = field(default_factory=dict)
    failover_cause: str | None = None

    def fields(self) -> dict[str, Any]:
        return {
            "primary_region": self.primary_region,
            "regions": MappingProxyType(dict(self.regions)),
            "failover_cause": self.failover_cause,
        }


def replica_settings(settings: Settings) -> Settings:
    """The same settings pointed at the failover Region, with no failover of their own."""
    update = {"aws_region": settings.secrets_failover_region, "aws_default_region": None}
    return settings.model_copy(update={**update, "secrets_failover_region": None})


def reader(factory: Callable[[Settings], SecretsClient], settings: Settings) -> RegionReader:
    """The primary's client now; the failover Region's (if set) from the same factory on first need."""
    failover = settings.secrets_failover_region
    replica = (lambda: factory(replica_settings(settings))) if failover else None
    return RegionReader(factory(settings), settings.region or "", failover, replica)


def read_at(fetched: FetchedSecret, primary: str) -> Current:
    """A fetched version as a `Current`: the Region it came from (a plain client's: the primary)."""
    return Current(fetched.version_id, fetched.region or primary, fetched.failover_cause)


def noted(primary: str, found: Mapping[str, Current]) -> Where:
    """`Where` these reads were; each one the replica served is reported as a metric."""
    for name, seen in found.items():
        if seen.region != primary:
            metrics.replica_read(name, seen.region, seen.cause)
    causes = [seen.cause for seen in found.values() if seen.cause]
    regions = {name: seen.region for name, seen in found.items()}
    return Where(primary, regions, causes[0] if causes else None)
