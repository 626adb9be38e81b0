"""The CLI and a replicated secret (issue 31), against moto_server: `describe` shows each replica's
status, `verify --region <replica>` reads the replica, and rotation stays in the primary.

A replica is read-only: Secrets Manager refuses writes and rotation on it, and replicates each new
version of the primary, so a rotation in the primary reaches the replica ("Replicate AWS Secrets
Manager secrets across Regions", Secrets Manager User Guide; moto raises OperationNotPermittedOnReplica
the same way). moto replicates at once; AWS within a short delay, during which the replica still
serves the previous AWSCURRENT.
"""

from __future__ import annotations

import json
import uuid
from typing import Any

import boto3
import pytest

from tests.e2e.test_cli import cli, run_cli
from tests.support.canary import canary_secret_string, leaked
from tests.support.fault_proxy import FaultProxy
from tests.support.processes import DUMMY_CREDENTIALS, clean_environment, moto_client_kwargs

REPLICA = "us-west-2"


@pytest.fixture
def replicated(moto_url: str) -> tuple[str, str]:
    name = f"short-cut/test/app-replica-{uuid.uuid4().hex[:8]}"
    sm = boto3.client("secretsmanager", **moto_client_kwargs(moto_url))  # type: ignore[call-overload]
    version = sm.create_secret(Name=name, SecretString=canary_secret_string(), AddReplicaRegions=[{"Region": REPLICA}])
    return name, str(version["VersionId"])


def in_region(region: str, *args: str, endpoint: str) -> Any:
    env = clean_environment(AWS_REGION=region, AWS_ENDPOINT_URL_SECRETS_MANAGER=endpoint, **DUMMY_CREDENTIALS)
    return run_cli(args, env, stdin=None)


def test_describe_shows_each_replica_and_its_status(moto_url: str, replicated: tuple[str, str]) -> None:
    name, _ = replicated
    plain = cli("describe", "--name", name, endpoint=moto_url)
    assert plain.returncode == 0, plain.stderr
    assert f"  {REPLICA}  InSync" in plain.stdout
    doc = json.loads(cli("describe", "--name", name, "--json", endpoint=moto_url).stdout)
    assert [(r["region"], r["status"]) for r in doc["replicas"]] == [(REPLICA, "InSync")]
    assert doc["primary_region"] is None
    there = json.loads(in_region(REPLICA, "describe", "--name", name, "--json", endpoint=moto_url).stdout)
    assert there["primary_region"] == "us-east-1"  # described in the replica's Region: it names its primary


def test_verify_in_the_replica_region_reads_the_replica_and_sees_the_rotated_version(
    moto_url: str, replicated: tuple[str, str], proxy: FaultProxy
) -> None:
    name, first = replicated
    # Through the counting proxy: the requests are signed for the replica's Region, none for the primary.
    there = cli("verify", "--region", REPLICA, "--name", name, endpoint=proxy.url)  # AWS_REGION is the primary
    assert there.returncode == 0, there.stdout + there.stderr
    assert f"version {first} of {name}" in there.stdout
    assert proxy.region_calls[(REPLICA, "GetSecretValue")] == 1
    assert {region for region, _ in proxy.region_calls} == {REPLICA}
    # Rotation runs in the primary only; the replica then serves the new version.
    rotated = cli("rotate", "--name", name, "--key", "APP_SECRET_KEY", "--json", endpoint=moto_url)
    assert rotated.returncode == 0, rotated.stderr
    second = json.loads(rotated.stdout)["version_id"]
    there = cli("verify", "--region", REPLICA, "--name", name, endpoint=moto_url)
    assert there.returncode == 0 and f"version {second} of {name}" in there.stdout
    refused = in_region(REPLICA, "rotate", "--name", name, "--key", "APP_SECRET_KEY", endpoint=moto_url)
    assert refused.returncode != 0  # a replica is never rotated itself
    assert leaked(there.stdout, there.stderr, rotated.stdout, refused.stdout, refused.stderr) == []
