"""`audit --aws`'s checks one by one, in-process against moto (and botocore's Stubber where moto
cannot answer as AWS does): each passes on an account set up as the stack sets it up, and each
fails, naming what is wrong, when its part of the account is missing or has drifted.

tests/e2e/test_audit_cli.py runs the same checks through the CLI against moto_server over HTTP.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import quote

import boto3
import pytest
from botocore.stub import Stubber
from moto import mock_aws

from src.aws import SecretsClient
from src.cli.audit.base import LOG_GROUP, READ, TASK_ROLE, TRUST, Failed
from src.cli.audit.live import (
    ALARM_SUFFIXES,
    LIVE,
    READ_POLICY,
    Account,
    alarm_problems,
    check_alarms,
    check_log_group,
    check_role_policy,
    check_role_trust,
    check_secret_exists,
    check_secret_keys,
    normalise_policy,
    run_check,
    run_live,
)
from src.cli.audit.offline import AUDIT_IMAGE
from src.cli.render import render_all, values_for
from src.config import Settings
from tests.support.canary import canary_secret_string, leaked
from tests.support.processes import ROOT

ACCOUNT = "123456789012"  # moto's account
REGION = "us-east-1"
SECRET = "short-cut/prod/app"
DOCS = render_all(values_for(account_id=ACCOUNT, region=REGION, env="prod", image=AUDIT_IMAGE))


@pytest.fixture
def aws(monkeypatch: pytest.MonkeyPatch) -> Iterator[dict[str, Any]]:
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing")
    monkeypatch.setenv("AWS_REGION", REGION)
    monkeypatch.setenv("AWS_DEFAULT_REGION", REGION)
    with mock_aws():
        session = boto3.session.Session(region_name=REGION)
        yield {name: session.client(name) for name in ("secretsmanager", "iam", "logs", "cloudwatch")}


def account_of(aws: dict[str, Any]) -> Account:
    return Account(
        env="prod",
        region=REGION,
        secrets=SecretsClient(REGION, client=aws["secretsmanager"]),
        iam=aws["iam"],
        logs=aws["logs"],
        cloudwatch=aws["cloudwatch"],
        docs=DOCS,
    )


def alarm(suffix: str, metric: str, **overrides: Any) -> dict[str, Any]:
    settings: dict[str, Any] = {
        "AlarmName": f"short-cut-prod-{suffix}",
        "Namespace": "ShortCut",
        "MetricName": metric,
        "Statistic": "Sum",
        "Period": 300,
        "EvaluationPeriods": 1,
        "Threshold": 0,
        "ComparisonOperator": "GreaterThanThreshold",
        "AlarmActions": [f"arn:aws:sns:{REGION}:{ACCOUNT}:alarms"],
    }
    settings.update(overrides)
    return settings


def set_up_as_the_stack_does(aws: dict[str, Any]) -> None:
    aws["secretsmanager"].create_secret(Name=SECRET, SecretString=canary_secret_string())
    aws["iam"].create_role(RoleName=TASK_ROLE, AssumeRolePolicyDocument=json.dumps(DOCS[TRUST]))
    aws["iam"].put_role_policy(RoleName=TASK_ROLE, PolicyName=READ_POLICY, PolicyDocument=json.dumps(DOCS[READ]))
    aws["logs"].create_log_group(logGroupName=LOG_GROUP)
    for suffix, metric in ALARM_SUFFIXES.items():
        aws["cloudwatch"].put_metric_alarm(**alarm(suffix, metric))


def test_every_live_check_passes_on_an_account_set_up_as_the_stack_does(aws: dict[str, Any]) -> None:
    set_up_as_the_stack_does(aws)
    account = account_of(aws)
    results = [run_check(name, check, account) for name, check in LIVE]
    assert [(r.name, r.status) for r in results] == [(name, "PASS") for name, _ in LIVE], results
    assert len(LIVE) == 6
    assert leaked(*(r.reason for r in results)) == []


def test_run_live_reads_the_account_the_credentials_name(aws: dict[str, Any]) -> None:
    """run_live builds its own clients and asks sts:GetCallerIdentity whose account to check."""
    set_up_as_the_stack_does(aws)
    results = run_live(ROOT, "prod", REGION)
    assert [r.status for r in results] == ["PASS"] * len(LIVE), results
    assert f"arn:aws:secretsmanager:{REGION}:{ACCOUNT}:secret:{SECRET}-" in results[0].reason


def test_without_credentials_the_account_check_fails_alone(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    for name in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN", "AWS_PROFILE"):
        monkeypatch.delenv(name, raising=False)
    # No shared files and no instance metadata: botocore's chain finds nothing and says so.
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", str(tmp_path / "none"))
    monkeypatch.setenv("AWS_CONFIG_FILE", str(tmp_path / "none"))
    monkeypatch.setenv("AWS_EC2_METADATA_DISABLED", "true")
    monkeypatch.delenv("AWS_CONTAINER_CREDENTIALS_RELATIVE_URI", raising=False)
    monkeypatch.delenv("AWS_CONTAINER_CREDENTIALS_FULL_URI", raising=False)
    results = run_live(ROOT, "prod", REGION)
    assert len(results) == 1
    assert (results[0].name, results[0].status) == ("aws-account", "FAIL")
    assert results[0].reason.startswith("NoCredentials: ")


def test_a_missing_secret_fails_with_the_aws_code_and_hint(aws: dict[str, Any]) -> None:
    result = run_check("aws-secret-exists", check_secret_exists, account_of(aws))
    assert result.status == "FAIL"
    assert result.reason.startswith("ResourceNotFoundException: ") and "(hint: " in result.reason


def test_a_secret_with_a_bad_key_names_the_key_and_not_its_value(aws: dict[str, Any]) -> None:
    # The guide's own placeholder for the OpenAI key, left in by mistake.
    aws["secretsmanager"].create_secret(
        Name=SECRET, SecretString=canary_secret_string(OPENAI_API_KEY="sk-실제키를입력하세요")
    )
    with pytest.raises(Failed) as caught:
        check_secret_keys(account_of(aws))
    assert str(caught.value) == "OPENAI_API_KEY: placeholder"
    assert leaked(str(caught.value)) == []


def test_a_trust_policy_that_drifted_fails(aws: dict[str, Any]) -> None:
    # The trust policy without its SourceAccount and SourceArn conditions (the confused-deputy guard).
    statement = {"Effect": "Allow", "Principal": {"Service": "ecs-tasks.amazonaws.com"}, "Action": "sts:AssumeRole"}
    loose = {"Version": "2012-10-17", "Statement": [statement]}
    aws["iam"].create_role(RoleName=TASK_ROLE, AssumeRolePolicyDocument=json.dumps(loose))
    with pytest.raises(Failed, match=f"the trust policy of {TASK_ROLE} differs from {TRUST}"):
        check_role_trust(account_of(aws))


def test_an_inline_policy_that_drifted_fails(aws: dict[str, Any]) -> None:
    aws["iam"].create_role(RoleName=TASK_ROLE, AssumeRolePolicyDocument=json.dumps(DOCS[TRUST]))
    wide = {"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": "*", "Resource": "*"}]}
    aws["iam"].put_role_policy(RoleName=TASK_ROLE, PolicyName=READ_POLICY, PolicyDocument=json.dumps(wide))
    assert check_role_trust(account_of(aws)) == f"{TASK_ROLE} trusts as {TRUST} says"
    with pytest.raises(Failed, match=f"{READ_POLICY} differs from {READ}"):
        check_role_policy(account_of(aws))


def test_a_missing_role_fails_with_the_iam_code(aws: dict[str, Any]) -> None:
    result = run_check("aws-role-trust-policy", check_role_trust, account_of(aws))
    assert result.status == "FAIL" and result.reason.startswith("NoSuchEntity: ")


def test_iam_access_denied_fails_the_check_not_the_audit(aws: dict[str, Any]) -> None:
    """AWS answers a refused iam:GetRole with the code AccessDenied (not ...Exception); moto does not
    enforce IAM, so the refusal is stubbed as AWS sends it."""
    account = account_of(aws)
    iam = boto3.client("iam", region_name=REGION)
    account.iam = iam
    with Stubber(iam) as stub:
        stub.add_client_error("get_role", service_error_code="AccessDenied", service_message="not authorized")
        result = run_check("aws-role-trust-policy", check_role_trust, account)
        stub.assert_no_pending_responses()
    assert result.status == "FAIL"
    assert result.reason.startswith("AccessDenied: not authorized (hint: ")


def test_the_log_group_must_exist_by_its_exact_name(aws: dict[str, Any]) -> None:
    # DescribeLogGroups matches by prefix: the staging group must not pass for prod's.
    aws["logs"].create_log_group(logGroupName=f"{LOG_GROUP}-staging")
    with pytest.raises(Failed, match=f"log group {LOG_GROUP} does not exist in {REGION}"):
        check_log_group(account_of(aws))
    aws["logs"].create_log_group(logGroupName=LOG_GROUP)
    assert check_log_group(account_of(aws)) == f"log group {LOG_GROUP} exists"


def test_alarms_missing_or_silent_fail_by_name(aws: dict[str, Any]) -> None:
    suffixes = list(ALARM_SUFFIXES.items())
    aws["cloudwatch"].put_metric_alarm(**alarm(*suffixes[0]))
    aws["cloudwatch"].put_metric_alarm(**alarm(*suffixes[1], AlarmActions=[]))
    with pytest.raises(Failed) as caught:
        check_alarms(account_of(aws))
    assert str(caught.value) == (
        "alarm short-cut-prod-secret-stale notifies nobody (no AlarmActions); "
        "alarm short-cut-prod-secret-load-failing does not exist"
    )


def test_policies_compare_as_documents() -> None:
    """IAM returns policies URL-encoded (RFC 3986; GetRole API reference); botocore decodes them to a
    dict (boto/boto3#978), an emulator may not. Key order and one-item lists do not matter either."""
    document = {"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": ["s:A"], "Resource": "*"}]}
    reordered = {"Statement": {"Resource": ["*"], "Action": "s:A", "Effect": "Allow"}, "Version": "2012-10-17"}
    assert normalise_policy(quote(json.dumps(document))) == normalise_policy(document) == normalise_policy(reordered)
    wider = {**document, "Statement": [{"Effect": "Allow", "Action": ["s:A", "s:B"], "Resource": "*"}]}
    assert normalise_policy(wider) != normalise_policy(document)
    assert normalise_policy({"a": ["y", "x"]}) == normalise_policy({"a": ["x", "y"]})


# --- The alarms audit expects are the ones the stack creates ------------------------------


def test_alarm_problems_names_each_missing_or_wrong_alarm() -> None:
    good = [
        {"AlarmName": f"short-cut-prod-{s}", "Namespace": "ShortCut", "MetricName": m, "AlarmActions": ["arn:x"]}
        for s, m in ALARM_SUFFIXES.items()
    ]
    assert alarm_problems("prod", good) == []
    assert alarm_problems("prod", good[1:]) == ["alarm short-cut-prod-secret-refresh-failing does not exist"]
    silent = [{**good[0], "AlarmActions": []}, *good[1:]]
    assert alarm_problems("prod", silent) == [
        "alarm short-cut-prod-secret-refresh-failing notifies nobody (no AlarmActions)"
    ]
    wrong = [*good[:2], {**good[2], "MetricName": "Errors"}]
    assert "not ShortCut/SecretLoadFailure" in alarm_problems("prod", wrong)[0]
    assert len(alarm_problems("staging", good)) == 3


def test_the_stack_creates_exactly_the_alarms_audit_checks() -> None:
    from src.cli.audit.template import load_template

    template = load_template(ROOT / "infra/cloudformation/short-cut.yaml")
    alarms = {
        str(r["Properties"]["AlarmName"]): r["Properties"]
        for r in template["Resources"].values()
        if r["Type"] == "AWS::CloudWatch::Alarm" and "AlarmName" in r["Properties"]
    }
    expected = {f"{{'Fn::Sub': 'short-cut-${{Environment}}-{s}'}}": m for s, m in ALARM_SUFFIXES.items()}
    assert {name: props["MetricName"] for name, props in alarms.items()} == expected
    for props in alarms.values():
        assert props["Namespace"] == "ShortCut" and props["AlarmActions"] == [{"Ref": "AlarmTopic"}]
        assert len(props["AlarmDescription"]["Fn::Sub"]) > 200  # an on-call engineer can act on it


def test_the_stale_alarm_fires_at_half_the_default_staleness() -> None:
    from src.cli.audit.template import load_template

    resources = load_template(ROOT / "infra/cloudformation/short-cut.yaml")["Resources"]
    assert resources["SecretAgeAlarm"]["Properties"]["Threshold"] == Settings().secrets_max_staleness * 0.5
