"""`audit --aws` and a replicated secret (issue 31): each replica must be InSync, and the task
role's policy is compared with the one rendered for that replica (both Regions named).

DescribeSecret on the primary lists the replicas in ReplicationStatus, each with Region, KmsKeyId,
Status (InSync, Failed, InProgress) and StatusMessage ("DescribeSecret", Secrets Manager API
Reference). moto reports InSync, or Failed when the replica Region already has a secret of the name.
"""

from __future__ import annotations

import json
from typing import Any

import pytest

from src.cli.audit import live
from src.cli.audit.base import READ, TASK_ROLE
from src.cli.audit.live import READ_POLICY, check_secret_replicas, run_check, run_live
from src.cli.audit.offline import AUDIT_IMAGE
from src.cli.render import render_all, values_for
from tests.support.canary import canary_secret_string
from tests.support.processes import ROOT
from tests.unit.cli.audit.test_live import (  # the same moto account as the other live checks
    ACCOUNT,
    REGION,
    SECRET,
    account_of,
    aws,  # noqa: F401 - the fixture
    set_up_as_the_stack_does,
    without_account_settings,
)

REPLICA = "us-west-2"


def test_no_replica_passes_and_says_there_is_nothing_to_fail_over_to(aws: dict[str, Any]) -> None:  # noqa: F811
    aws["secretsmanager"].create_secret(Name=SECRET, SecretString=canary_secret_string())
    result = run_check("aws-secret-replicas", check_secret_replicas, account_of(aws))
    assert result.status == "PASS" and "no replica" in result.reason


def test_an_insync_replica_passes(aws: dict[str, Any]) -> None:  # noqa: F811
    aws["secretsmanager"].create_secret(
        Name=SECRET, SecretString=canary_secret_string(), AddReplicaRegions=[{"Region": REPLICA}]
    )
    result = run_check("aws-secret-replicas", check_secret_replicas, account_of(aws))
    assert result.status == "PASS" and f"{REPLICA} is InSync" in result.reason


def test_a_replica_not_insync_fails(aws: dict[str, Any]) -> None:  # noqa: F811
    import boto3

    # A secret of the same name already in the replica Region: the replication fails.
    boto3.client("secretsmanager", region_name=REPLICA).create_secret(Name=SECRET, SecretString="{}")
    aws["secretsmanager"].create_secret(
        Name=SECRET, SecretString=canary_secret_string(), AddReplicaRegions=[{"Region": REPLICA}]
    )
    result = run_check("aws-secret-replicas", check_secret_replicas, account_of(aws))
    assert result.status == "FAIL" and f"the replica in {REPLICA} is Failed" in result.reason


def test_run_live_compares_the_role_with_the_policy_for_the_replica(
    aws: dict[str, Any],  # noqa: F811
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    set_up_as_the_stack_does(aws)
    aws["secretsmanager"].replicate_secret_to_regions(SecretId=SECRET, AddReplicaRegions=[{"Region": REPLICA}])
    with_replica = render_all(
        values_for(account_id=ACCOUNT, region=REGION, env="prod", image=AUDIT_IMAGE, replica=REPLICA)
    )
    built = live._clients

    def clients(region: str) -> dict[str, Any]:
        made = built(region)
        without_account_settings(made["lambda"])
        return made

    monkeypatch.setattr(live, "_clients", clients)
    monkeypatch.setattr(live, "LAMBDA_ZIP", "build/not-built.zip")
    # The role still has the single-Region policy: drift from what the stack puts with a replica.
    results = {r.name: r for r in run_live(ROOT, "prod", REGION)}
    assert results["aws-role-inline-policy"].status == "FAIL"
    aws["iam"].put_role_policy(
        RoleName=TASK_ROLE, PolicyName=READ_POLICY, PolicyDocument=json.dumps(with_replica[READ])
    )
    results = {r.name: r for r in run_live(ROOT, "prod", REGION)}
    assert results["aws-role-inline-policy"].status == "PASS", results["aws-role-inline-policy"]
    assert results["aws-secret-replicas"].status == "PASS"
