"""`audit` as operators run it: offline on a copy, and --aws against a fresh moto_server."""

from __future__ import annotations

import json
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import boto3
import pytest

from src.cli.audit.live import ALARM_NAMESPACE, ALARM_SUFFIXES, LIVE
from src.cli.audit.offline import OFFLINE
from src.cli.render import render_all, values_for
from tests.support.canary import canary_secret_string, leaked
from tests.support.not_aws import html_endpoint
from tests.support.processes import BIN, DUMMY_CREDENTIALS, ROOT, clean_environment, running_moto
from tests.unit.cli.audit.test_offline import BREAKS, copy_with_dockerfile

ACCOUNT = "123456789012"  # moto's account


@pytest.fixture
def copy(tmp_path: Path) -> Path:
    return copy_with_dockerfile(tmp_path)


@pytest.fixture
def fresh_moto(tmp_path: Path) -> Iterator[str]:
    with running_moto(tmp_path) as url:
        yield url


def audit(*args: str, endpoint: str | None = None) -> subprocess.CompletedProcess[str]:
    env = clean_environment(AWS_REGION="us-east-1", **DUMMY_CREDENTIALS)
    if endpoint:
        env["AWS_ENDPOINT_URL"] = endpoint
    return subprocess.run(
        [str(BIN / "python"), "-m", "src.cli", "audit", *args],
        cwd=ROOT, env=env, capture_output=True, text=True, timeout=60, check=False,
    )  # fmt: skip


def test_audit_command_exit_code_and_json(copy: Path) -> None:
    ok = audit("--root", str(copy))
    assert ok.returncode == 0, ok.stdout
    assert ok.stdout.count("PASS ") == len(OFFLINE) and "SKIP  aws-live" in ok.stdout
    BREAKS["region"](copy)
    failed = audit("--root", str(copy), "--json")
    assert failed.returncode == 1
    doc = json.loads(failed.stdout)
    assert doc["ok"] is False
    assert [c["name"] for c in doc["checks"] if c["status"] == "FAIL"] == ["region"]


def test_audit_aws_checks_the_live_account(fresh_moto: str) -> None:
    before = audit("--aws", endpoint=fresh_moto)
    assert before.returncode == 1
    failing = {line.split()[1] for line in before.stdout.splitlines() if line.startswith("FAIL")}
    assert failing == {
        "aws-secret-exists",
        "aws-secret-keys",
        "aws-secret-replicas",
        "aws-role-trust-policy",
        "aws-role-inline-policy",
        "aws-log-group",
        "aws-alarms",
        "aws-alarm-topic-key",
        "aws-ecr-scanning",
    }

    kwargs: dict[str, Any] = {
        "region_name": "us-east-1",
        "endpoint_url": fresh_moto,
        "aws_access_key_id": "testing",
        "aws_secret_access_key": "testing",
    }
    docs = render_all(values_for(account_id=ACCOUNT, region="us-east-1", env="prod", image="registry.invalid/y:1.0.0"))
    boto3.client("secretsmanager", **kwargs).create_secret(
        Name="short-cut/prod/app", SecretString=canary_secret_string()
    )
    iam = boto3.client("iam", **kwargs)
    iam.create_role(
        RoleName="shortcut-ecs-task-role",
        AssumeRolePolicyDocument=json.dumps(docs["infra/iam/ecs-task-trust-policy.json"]),
    )
    iam.put_role_policy(
        RoleName="shortcut-ecs-task-role",
        PolicyName="ShortCutSecretsReadPolicy",
        PolicyDocument=json.dumps(docs["infra/iam/secrets-read-policy.json"]),
    )
    logs = boto3.client("logs", **kwargs)
    logs.create_log_group(logGroupName="/ecs/short-cut-api")
    logs.put_retention_policy(logGroupName="/ecs/short-cut-api", retentionInDays=90)
    boto3.client("ecr", **kwargs).put_registry_scanning_configuration(
        scanType="BASIC",
        rules=[{"scanFrequency": "SCAN_ON_PUSH", "repositoryFilters": [{"filter": "*", "filterType": "WILDCARD"}]}],
    )
    cloudwatch = boto3.client("cloudwatch", **kwargs)
    # An unencrypted topic: CloudWatch can publish to it (the key check passes).
    topic = boto3.client("sns", **kwargs).create_topic(Name="alarms")["TopicArn"]
    for suffix, metric in ALARM_SUFFIXES.items():
        cloudwatch.put_metric_alarm(
            AlarmName=f"short-cut-prod-{suffix}", Namespace=ALARM_NAMESPACE, MetricName=metric, Statistic="Sum",
            Period=300, EvaluationPeriods=1, Threshold=0, ComparisonOperator="GreaterThanThreshold",
            AlarmActions=[topic], TreatMissingData="breaching" if suffix == "secret-stale" else "notBreaching",
        )  # fmt: skip

    after = audit("--aws", endpoint=fresh_moto)
    assert after.returncode == 0, after.stdout
    assert after.stdout.count("PASS ") == len(OFFLINE) + len(LIVE)
    assert leaked(after.stdout, after.stderr, before.stdout, before.stderr) == []

    # A drifted inline policy is caught.
    iam.put_role_policy(
        RoleName="shortcut-ecs-task-role",
        PolicyName="ShortCutSecretsReadPolicy",
        PolicyDocument=json.dumps(
            {"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": "*", "Resource": "*"}]}
        ),
    )
    cloudwatch.delete_alarms(AlarmNames=["short-cut-prod-secret-stale"])
    drifted = audit("--aws", endpoint=fresh_moto)
    assert drifted.returncode == 1
    assert "FAIL  aws-role-inline-policy" in drifted.stdout
    assert "FAIL  aws-alarms" in drifted.stdout and "short-cut-prod-secret-stale does not exist" in drifted.stdout


def test_audit_reports_a_deployment_rule_broken_in_the_stack(copy: Path) -> None:
    BREAKS["grace-period"](copy)
    BREAKS["private-tmp"](copy)
    failed = audit("--root", str(copy))
    assert failed.returncode == 1
    lines = [line for line in failed.stdout.splitlines() if line.startswith("FAIL")]
    assert [line.split()[1] for line in lines] == ["private-tmp", "grace-period"]
    assert "HealthCheckGracePeriodSeconds without LoadBalancers" in failed.stdout
    assert 'VOLUME ["/tmp"]' in failed.stdout


@pytest.mark.parametrize("as_json", [False, True])
def test_audit_aws_against_an_endpoint_that_is_not_aws_prints_one_line_per_check(as_json: bool) -> None:
    """Issue 29, item 9: an emulator's 404 page came back as six lines of HTML. Each check is one
    line with the code, the hint and the status; no body, whatever the protocol (JSON or XML)."""
    with html_endpoint(answer_sts=True) as url:
        done = audit("--aws", *(["--json"] if as_json else []), endpoint=url)
    assert done.returncode == 1
    output = done.stdout + done.stderr
    assert "<" not in output.replace("<SERVICE>", "") and "Not Found" not in output and "DOCTYPE" not in output
    if as_json:
        checks = [c for c in json.loads(done.stdout)["checks"] if c["name"].startswith("aws-")]
        reasons = [c["reason"] for c in checks if c["status"] == "FAIL"]
    else:
        reasons = [line for line in done.stdout.splitlines() if line.startswith("FAIL")]
        assert all(line.startswith(("PASS", "FAIL", "SKIP", "audit:")) for line in done.stdout.splitlines())
    assert len(reasons) >= len(LIVE) - 1, output  # one check may pass on nothing found
    for reason in reasons:
        assert "\n" not in reason and "HTTP 404" in reason and "hint:" in reason, reason


def test_a_cli_error_from_an_endpoint_that_is_not_aws_is_one_line() -> None:
    with html_endpoint() as url:
        env = clean_environment(AWS_REGION="us-east-1", AWS_ENDPOINT_URL=url, **DUMMY_CREDENTIALS)
        done = subprocess.run(
            [str(BIN / "python"), "-m", "src.cli", "describe", "--env", "staging"],
            cwd=ROOT, env=env, capture_output=True, text=True, timeout=60, check=False,
        )  # fmt: skip
    assert done.returncode == 3
    (line,) = done.stderr.splitlines()
    assert line.startswith("error: AWSClientError: DescribeSecret got HTTP 404 ") and "(hint: " in line
    assert "html" not in line.lower()
