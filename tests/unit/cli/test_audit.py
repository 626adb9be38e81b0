"""audit passes on the repository as it stands, and each check can fail (broken in a temporary copy)."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from src.cli.audit import OFFLINE, run_offline
from tests.support.processes import ROOT
from tests.support.repo_copy import copy_audited_files


@pytest.fixture
def copy(tmp_path: Path) -> Path:
    return copy_audited_files(tmp_path)


def edit_json(path: Path, change: Callable[[Any], None]) -> None:
    data = json.loads(path.read_text())
    change(data)
    path.write_text(json.dumps(data))


def replace_text(path: Path, old: str, new: str) -> None:
    text = path.read_text()
    assert old in text
    path.write_text(text.replace(old, new))


TASK = "infra/ecs/task-definition.json"
READ = "infra/iam/secrets-read-policy.json"
TRUST = "infra/iam/ecs-task-trust-policy.json"


def write(path: Path, text: str) -> None:
    path.write_text(text)


def write_bytes(path: Path, data: bytes) -> None:
    path.write_bytes(data)


BREAKS: dict[str, Callable[[Path], None]] = {
    "secret-name": lambda r: replace_text(r / TASK, "short-cut/<ENV>/app", "shortcut-<ENV>-app"),
    "required-keys": lambda r: edit_json(r / "infra/iam/secret-structure-example.json", lambda d: d.pop("MILVUS_PORT")),
    "region": lambda r: replace_text(r / TASK, '"awslogs-region": "<REGION>"', '"awslogs-region": "eu-west-1"'),
    "trust-policy-principal": lambda r: edit_json(
        r / TRUST,
        lambda d: d["Statement"][0].update(Principal={"Service": ["ecs-tasks.amazonaws.com", "ec2.amazonaws.com"]}),
    ),
    "read-policy-resource": lambda r: replace_text(r / READ, "app-??????", "app-*"),
    "kms-via-service": lambda r: edit_json(r / READ, lambda d: d["Statement"][1].pop("Condition")),
    "task-role-arn": lambda r: edit_json(
        r / TASK, lambda d: d.update(taskRoleArn="arn:aws:iam::<ACCOUNT_ID>:role/admin")
    ),
    "log-group": lambda r: replace_text(r / TASK, "/ecs/short-cut-api", "/ecs/other"),
    "env-gitignored": lambda r: write(r / ".gitignore", "*.pyc\n"),
    "entrypoint-lf": lambda r: write_bytes(
        r / "entrypoint.sh", (r / "entrypoint.sh").read_bytes().replace(b"\n", b"\r\n")
    ),
}


def test_every_offline_check_has_a_break() -> None:
    assert set(BREAKS) == {name for name, _ in OFFLINE}


def test_audit_passes_on_the_repository() -> None:
    results = run_offline(ROOT, "prod", "us-east-1")
    assert [(r.name, r.status) for r in results if r.status != "PASS"] == []
    assert len(results) == 10


@pytest.mark.parametrize("check", sorted(BREAKS))
def test_each_check_can_fail(copy: Path, check: str) -> None:
    assert all(r.status == "PASS" for r in run_offline(copy, "prod", "us-east-1"))
    BREAKS[check](copy)
    results = {r.name: r for r in run_offline(copy, "prod", "us-east-1")}
    assert results[check].status == "FAIL", results[check]
    assert results[check].reason


def test_more_ways_to_break_the_read_policy(copy: Path) -> None:
    edit_json(copy / READ, lambda d: d["Statement"][0]["Action"].append("secretsmanager:PutSecretValue"))
    results = {r.name: r for r in run_offline(copy, "prod", "us-east-1")}
    assert results["read-policy-resource"].status == "FAIL"
    assert "PutSecretValue" in results["read-policy-resource"].reason


def test_kms_generate_data_key_fails(copy: Path) -> None:
    edit_json(copy / READ, lambda d: d["Statement"][1].update(Action=["kms:Decrypt", "kms:GenerateDataKey"]))
    results = {r.name: r for r in run_offline(copy, "prod", "us-east-1")}
    assert results["kms-via-service"].status == "FAIL"
