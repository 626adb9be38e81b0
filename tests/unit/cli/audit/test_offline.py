"""The offline audit passes on the repository as it stands, and each check can fail (broken in a temporary copy)."""

from __future__ import annotations

import json
import shutil
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from src.cli.audit.offline import OFFLINE, run_offline
from tests.support.processes import ROOT
from tests.support.repo_copy import copy_audited_files


@pytest.fixture
def copy(tmp_path: Path) -> Path:
    return copy_with_dockerfile(tmp_path)


def copy_with_dockerfile(tmp_path: Path) -> Path:
    """The audited files plus the Dockerfile, which private-tmp reads for its VOLUME."""
    repo = copy_audited_files(tmp_path)
    if not (repo / "Dockerfile").exists():
        shutil.copy2(ROOT / "Dockerfile", repo / "Dockerfile")
    return repo


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
STACK = "infra/cloudformation/short-cut.yaml"


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
    "fargate-size": lambda r: edit_json(r / TASK, lambda d: d.update(memory="8192")),
    "private-tmp": lambda r: replace_text(r / "Dockerfile", 'VOLUME ["/tmp"]', "# no volume"),
    # The grace period set whether or not there is a load balancer.
    "grace-period": lambda r: replace_text(
        r / STACK,
        "HealthCheckGracePeriodSeconds: !If [WithLoadBalancer, 60, !Ref AWS::NoValue]",
        "HealthCheckGracePeriodSeconds: 60",
    ),
    "secret-retained": lambda r: replace_text(r / STACK, "    DeletionPolicy: Retain\n", ""),
    "first-deploy": lambda r: replace_text(
        r / STACK, "DesiredCount: !If [IsSecretReady, !Ref DesiredCount, 0]", "DesiredCount: !Ref DesiredCount"
    ),
    "lambda-tracing": lambda r: replace_text(r / STACK, "                  - xray:PutTraceSegments\n", ""),
    "hardening": lambda r: replace_text(r / TASK, '"drop": ["ALL"]', '"drop": []'),
    "lambda-concurrency": lambda r: replace_text(
        r / STACK, "      MemorySize: 256\n", "      MemorySize: 256\n      ReservedConcurrentExecutions: 1\n"
    ),
    "lambda-code-key": lambda r: replace_text(
        r / STACK, "S3Key: !Ref RotationCodeKey", "S3Key: short-cut-rotation.zip"
    ),
    "lambda-log-group": lambda r: replace_text(r / STACK, "/aws/lambda/shortcut-secret-rotation,", "/aws/lambda/x,"),
    "lambda-log-permissions": lambda r: replace_text(
        r / STACK,
        "                  - logs:PutLogEvents\n",
        "                  - logs:PutLogEvents\n                  - logs:CreateLogGroup\n",
    ),
    "service-name": lambda r: replace_text(
        r / STACK,
        "      Cluster: !Ref ClusterName\n",
        "      Cluster: !Ref ClusterName\n      ServiceName: short-cut-api\n",
    ),
    "rotation-own-step": lambda r: replace_text(r / STACK, ', !Equals [!Ref RotationEnabled, "true"]]', "]"),
    "alarm-topic-key": lambda r: replace_text(
        r / STACK, "KmsMasterKeyId: !Ref AlarmTopicKey", "KmsMasterKeyId: alias/aws/sns"
    ),
    "rotation-failure-route": lambda r: replace_text(r / STACK, "            - RotationFailed\n", ""),
    "alarm-metric-filters": lambda r: replace_text(
        r / STACK, "MetricName: SecretAgeSeconds\n          MetricValue", "MetricName: Age\n          MetricValue"
    ),
}


def test_every_offline_check_has_a_break() -> None:
    assert set(BREAKS) == {name for name, _ in OFFLINE}


def test_audit_passes_on_the_repository() -> None:
    results = run_offline(ROOT, "prod", "us-east-1")
    assert [(r.name, r.status) for r in results if r.status != "PASS"] == []
    assert len(results) == len(OFFLINE) == 26


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


# More ways each deployment rule fails, through audit as an operator sees it.
MORE_BREAKS: list[tuple[str, Callable[[Path], None]]] = [
    ("fargate-size", lambda r: replace_text(r / STACK, 'Cpu: "512"', 'Cpu: "384"')),
    ("fargate-size", lambda r: edit_json(r / TASK, lambda d: d.update(cpu="2 vCPU", memory="2GB"))),
    ("private-tmp", lambda r: (r / "Dockerfile").unlink()),
    ("private-tmp", lambda r: edit_json(r / TASK, lambda d: d["containerDefinitions"][0].pop("mountPoints"))),
    (
        "private-tmp",
        lambda r: edit_json(
            r / TASK,
            lambda d: d["containerDefinitions"][0].update(
                # A tmpfs at /tmp that only root may write (Fargate supports tmpfs since 2026-01).
                mountPoints=[],
                linuxParameters={"tmpfs": [{"containerPath": "/tmp", "size": 64, "mountOptions": ["mode=0755"]}]},
            ),
        ),
    ),
    ("private-tmp", lambda r: replace_text(r / STACK, "ContainerPath: /tmp", "ContainerPath: /scratch")),
    ("secret-retained", lambda r: replace_text(r / STACK, "    UpdateReplacePolicy: Retain\n", "")),
    ("first-deploy", lambda r: replace_text(r / STACK, "      RotateImmediatelyOnUpdate: false\n", "")),
    ("first-deploy", lambda r: replace_text(r / STACK, "Condition: WithRotationSchedule", "Condition: WithRotation")),
    ("first-deploy", lambda r: replace_text(r / STACK, 'Default: "false"', 'Default: "true"')),
    (
        "lambda-tracing",
        lambda r: replace_text(r / STACK, '                Resource: "*"\n', "                Resource: x\n"),
    ),
]


@pytest.mark.parametrize(("check", "break_it"), MORE_BREAKS)
def test_more_ways_to_break_a_deployment_rule(copy: Path, check: str, break_it: Callable[[Path], None]) -> None:
    break_it(copy)
    results = {r.name: r for r in run_offline(copy, "prod", "us-east-1")}
    assert results[check].status == "FAIL", results[check]


def test_tmpfs_passes_where_it_is_supported(copy: Path) -> None:
    # On EC2 (not Fargate) a tmpfs at /tmp is the private directory; no VOLUME is needed then.
    def ec2_tmpfs(d: Any) -> None:
        d.update(requiresCompatibilities=["EC2"], volumes=[])
        d["containerDefinitions"][0].update(
            mountPoints=[], linuxParameters={"tmpfs": [{"containerPath": "/tmp", "size": 64}]}
        )

    edit_json(copy / TASK, ec2_tmpfs)
    replace_text(copy / STACK, "ContainerPath: /tmp", "ContainerPath: /unused")
    replace_text(copy / "Dockerfile", 'VOLUME ["/tmp"]', "# no volume")
    result = {r.name: r for r in run_offline(copy, "prod", "us-east-1")}["private-tmp"]
    # The template still mounts a path the task definition does not: that mismatch alone is reported.
    assert result.status == "FAIL" and "mounts" in result.reason
    edit_json(
        copy / TASK,
        lambda d: d["containerDefinitions"][0].update(mountPoints=[{"sourceVolume": "x", "containerPath": "/unused"}]),
    )
    result = {r.name: r for r in run_offline(copy, "prod", "us-east-1")}["private-tmp"]
    assert result.status == "PASS", result


def test_a_template_that_cannot_be_read_fails_its_checks(copy: Path) -> None:
    (copy / STACK).write_text("- just a list\n")
    results = {r.name: r for r in run_offline(copy, "prod", "us-east-1")}
    for name in ("grace-period", "secret-retained", "first-deploy", "lambda-tracing", "fargate-size"):
        assert results[name].status == "FAIL", results[name]
