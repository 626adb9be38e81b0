"""Failover through the loader and the bootstrapper: the status, /health, the metric and the one WARNING.

Two fake clients stand for the two Regions; the client factory picks one by `settings.region`,
as the real one builds a client per Region (src.loading.regions.reader).
"""

from __future__ import annotations

import io
import json
import logging
from pathlib import Path
from typing import Any

import pytest

from src.aws.client import FetchedSecret
from src.config import Settings
from src.errors import ErrorCode, SecretsError
from src.loading.environment import EnvironmentApplier
from src.secrets_manager import SecretsBootstrapper
from src.telemetry import metrics
from src.telemetry.mask import SecretMasker
from src.web.health import HealthRenderer, overall
from tests.support.canary import canary_secret_string

NAME = "short-cut/prod/app"
PRIMARY, REPLICA = "us-east-1", "us-west-2"
V1 = "11111111-1111-4111-8111-111111111111"
V2 = "22222222-2222-4222-8222-222222222222"


class Region:
    """One Region's Secrets Manager: the same versions as its peer (a replica follows its primary)."""

    def __init__(self, name: str, versions: dict[str, str]) -> None:
        self.name = name
        self.versions = versions  # shared between the two Regions
        self.fail: SecretsError | None = None
        self.gets = 0
        self.describes = 0

    @property
    def client(self) -> object:
        return self

    def _check(self) -> None:
        if self.fail is not None:
            raise self.fail

    def get_secret(self, name: str, *, version_stage: str | None = "AWSCURRENT", version_id: str | None = None) -> Any:
        self._check()
        self.gets += 1
        version = version_id or self.versions["current"]
        return FetchedSecret(name=name, arn=name, version_id=version, secret_string=canary_secret_string())

    def current_version(self, name: str) -> str:
        self._check()
        self.describes += 1
        return self.versions["current"]

    def describe(self, name: str) -> dict[str, Any]:
        self._check()
        self.describes += 1
        meta: dict[str, Any] = {"VersionIdsToStages": {self.versions["current"]: ["AWSCURRENT"]}}
        if self.name != PRIMARY:
            meta["PrimaryRegion"] = PRIMARY
        return meta


def server_error() -> SecretsError:
    error = SecretsError(ErrorCode.InternalServiceError, "injected", secret_name=NAME)
    error.http_status = 500
    return error


@pytest.fixture
def regions() -> dict[str, Region]:
    versions = {"current": V1}
    return {PRIMARY: Region(PRIMARY, versions), REPLICA: Region(REPLICA, versions)}


@pytest.fixture
def emitted(monkeypatch: pytest.MonkeyPatch) -> io.StringIO:
    stream = io.StringIO()
    emitter = metrics.Emitter(environment="prod", enabled=True, stream=stream, masker=SecretMasker())
    monkeypatch.setattr(metrics, "_emitter", emitter)
    return stream


def boot_for(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, regions: dict[str, Region], **env: str) -> Any:
    monkeypatch.setenv("APP_ENV", "production")
    monkeypatch.setenv("AWS_REGION", PRIMARY)
    monkeypatch.setenv("SECRET_NAME", NAME)
    monkeypatch.setenv("SECRETS_FAILOVER_REGION", REPLICA)
    for key, value in env.items():
        monkeypatch.setenv(key, value)
    built: list[str] = []

    def factory(settings: Settings) -> Any:
        built.append(settings.region or "")
        return regions[settings.region or ""]

    boot = SecretsBootstrapper(
        client_factory=factory, applier=EnvironmentApplier(temp_root=str(tmp_path)), log_masker=SecretMasker()
    )
    return boot, built


def replica_reads(stream: io.StringIO) -> list[dict[str, Any]]:
    return [doc for doc in map(json.loads, stream.getvalue().splitlines()) if "SecretReplicaRead" in doc]


def warnings(caplog: pytest.LogCaptureFixture) -> list[logging.LogRecord]:
    return [r for r in caplog.records if getattr(r, "error_code", None) == "ServingFromReplica"]


def test_a_failing_primary_loads_from_the_replica_and_says_so_everywhere(
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    regions: dict[str, Region],
    emitted: io.StringIO,
    caplog: pytest.LogCaptureFixture,
) -> None:
    regions[PRIMARY].fail = server_error()
    boot, _ = boot_for(tmp_path, monkeypatch, regions)
    with caplog.at_level(logging.INFO):
        status = boot.load()
    assert status.loaded and status.version_ids == {NAME: V1}
    assert (status.region, status.primary_region, dict(status.regions)) == (REPLICA, PRIMARY, {NAME: REPLICA})
    assert overall(status) == "degraded"
    assert status.problem is not None and status.problem.code == ErrorCode.ServingFromReplica
    body = json.loads(HealthRenderer(lambda: boot.status, app_env="production", version="t").render(full=True)[1])
    assert body["status"] == "degraded"
    assert body["secrets"]["region"] == REPLICA and body["secrets"]["primary_region"] == PRIMARY
    assert body["secrets"]["error"]["code"] == "ServingFromReplica"
    minimal = json.loads(HealthRenderer(lambda: boot.status, app_env="production", version="t").render(full=False)[1])
    assert minimal["secrets"]["error"] == {"code": "Degraded"}  # no Region or code to a stranger
    [read] = replica_reads(emitted)
    assert (read["region"], read["secret_name"], read["error_code"]) == (REPLICA, NAME, "InternalServiceError")
    assert len(warnings(caplog)) == 1


def test_refreshes_try_the_primary_first_warn_once_and_return_when_it_answers(
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    regions: dict[str, Region],
    emitted: io.StringIO,
    caplog: pytest.LogCaptureFixture,
) -> None:
    boot, _ = boot_for(tmp_path, monkeypatch, regions)
    settings = boot.settings()
    boot.load(settings)
    assert boot.status.region == PRIMARY and overall(boot.status) == "ok"
    regions[PRIMARY].fail = server_error()
    with caplog.at_level(logging.INFO):
        for _ in range(3):
            assert boot.refresh(settings) is None  # the same version in the replica: nothing to swap
            assert boot.status.region == REPLICA and overall(boot.status) == "degraded"
    assert len(warnings(caplog)) == 1
    assert len(replica_reads(emitted)) == 3  # one per refresh on the replica
    gets = regions[PRIMARY].gets + regions[REPLICA].gets
    regions[PRIMARY].fail = None
    caplog.clear()
    with caplog.at_level(logging.INFO):
        assert boot.refresh(settings) is None
    assert boot.status.region == PRIMARY and overall(boot.status) == "ok" and boot.status.error is None
    assert regions[PRIMARY].gets + regions[REPLICA].gets == gets  # back by version id: no value read again
    assert any("primary Region us-east-1 again" in r.getMessage() for r in caplog.records)
    assert len(replica_reads(emitted)) == 3


def test_a_rotation_seen_through_the_replica_is_swapped_in(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, regions: dict[str, Region], emitted: io.StringIO
) -> None:
    boot, _ = boot_for(tmp_path, monkeypatch, regions)
    settings = boot.settings()
    boot.load(settings)
    regions[PRIMARY].fail = server_error()
    regions[PRIMARY].versions["current"] = V2  # rotated in the primary; the replica follows
    prepared = boot.refresh(settings)
    assert prepared is not None
    status = boot.commit(prepared)
    assert status.version_ids == {NAME: V2} and status.region == REPLICA


@pytest.mark.parametrize("code", ["AccessDeniedException", "ResourceNotFoundException", "DecryptionFailure"])
def test_the_primarys_own_errors_never_reach_the_replica(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, regions: dict[str, Region], code: str
) -> None:
    regions[PRIMARY].fail = SecretsError.from_aws(code, "no", secret_name=NAME)
    boot, built = boot_for(tmp_path, monkeypatch, regions)
    with pytest.raises(SecretsError):
        boot.load()
    assert boot.status.error is not None and boot.status.error.code == code
    assert built == [PRIMARY]  # the replica's client was never even built
    assert regions[REPLICA].gets == 0


def test_lost_access_in_the_primary_is_reported_not_hidden_by_the_replica(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, regions: dict[str, Region]
) -> None:
    boot, _ = boot_for(tmp_path, monkeypatch, regions, SECRETS_VERIFY_EVERY="1")
    settings = boot.settings()
    boot.load(settings)

    class DeniedRead(Region):
        def get_secret(self, name: str, **kwargs: Any) -> Any:
            raise SecretsError(ErrorCode.AccessDeniedException, "denied", secret_name=name)

    denied = DeniedRead(PRIMARY, regions[PRIMARY].versions)
    boot._loader._reader.primary = denied  # the primary now refuses GetSecretValue only
    with pytest.raises(SecretsError):
        boot.refresh(settings)
    assert boot.status.error is not None and boot.status.error.code == "AccessDeniedException"
    assert regions[REPLICA].gets == 0


def test_without_a_failover_region_nothing_changes(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, regions: dict[str, Region]
) -> None:
    regions[PRIMARY].fail = server_error()
    boot, built = boot_for(tmp_path, monkeypatch, regions, SECRETS_FAILOVER_REGION="")
    with pytest.raises(SecretsError):
        boot.load()
    assert boot.status.error is not None and boot.status.error.code == "InternalServiceError"
    assert built == [PRIMARY]


@pytest.mark.parametrize("json_lines", [True, False], ids=["json", "text"])
def test_the_served_version_record_names_the_region_read_from_and_the_return(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, regions: dict[str, Region], json_lines: bool
) -> None:
    """Issue 31: the record (fleet's only input) carries the Region; a refresh that moves to the replica
    or back with the same version writes one at once, not only at the next heartbeat."""
    from src.telemetry.served_version import parse_line
    from tests.support.served import logged

    def written(action: Any) -> list[tuple[str, str | None, str | None]]:
        text = logged(action, json_lines=json_lines)
        found = [r for r in map(parse_line, text.splitlines()) if r is not None]
        return [(r.reason, r.version_id, r.region) for r in found]

    boot, _ = boot_for(tmp_path, monkeypatch, regions)
    settings = boot.settings()
    assert written(lambda: boot.load(settings)) == [("start", V1, PRIMARY)]
    regions[PRIMARY].fail = server_error()
    assert written(lambda: boot.refresh(settings)) == [("refresh", V1, REPLICA)]
    assert written(lambda: boot.refresh(settings)) == []  # still on the replica: the heartbeat says so
    assert written(lambda: boot.report_served("heartbeat")) == [("heartbeat", V1, REPLICA)]
    regions[PRIMARY].fail = None
    assert written(lambda: boot.refresh(settings)) == [("refresh", V1, PRIMARY)]
