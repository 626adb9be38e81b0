"""`audit --aws`'s checks one by one, in-process against moto (and botocore's Stubber where moto
cannot answer as AWS does): each passes on an account set up as the stack sets it up, and each
fails, naming what is wrong, when its part of the account is missing or has drifted.

tests/e2e/test_audit_cli.py runs the same checks through the CLI against moto_server over HTTP.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from urllib.parse import quote

import boto3
import pytest
from botocore.stub import Stubber
from moto import mock_aws

from src.aws.client import SecretsClient
from src.cli.audit import live
from src.cli.audit.base import LOG_GROUP, READ, TASK_ROLE, TRUST, Failed
from src.cli.audit.live import (
    ALARM_NAMESPACE,
    ALARM_SUFFIXES,
    LIVE,
    READ_POLICY,
    Account,
    alarm_problems,
    check_alarm_topic_key,
    check_alarms,
    check_cloudtrail,
    check_ecr_scanning,
    check_lambda_code,
    check_lambda_concurrency,
    check_load_balancer_subnets,
    check_log_group,
    check_role_policy,
    check_role_trust,
    check_rotation_failure_route,
    check_rotation_log_group,
    check_rotation_rule_delivery,
    check_secret_exists,
    check_secret_keys,
    normalise_policy,
    run_check,
    run_live,
)
from src.cli.audit.offline import AUDIT_IMAGE
from src.cli.environments import names_for
from src.cli.render import render_all, values_for
from src.config import Settings
from tests.support.canary import canary_secret_string, leaked
from tests.support.processes import ROOT

ACCOUNT = "123456789012"  # moto's account
REGION = "us-east-1"
SECRET = "short-cut/prod/app"
TOPIC = f"arn:aws:sns:{REGION}:{ACCOUNT}:alarms"
DOCS = render_all(values_for(account_id=ACCOUNT, region=REGION, env="prod", image=AUDIT_IMAGE))


@pytest.fixture
def aws(monkeypatch: pytest.MonkeyPatch) -> Iterator[dict[str, Any]]:
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing")
    monkeypatch.setenv("AWS_REGION", REGION)
    monkeypatch.setenv("AWS_DEFAULT_REGION", REGION)
    with mock_aws():
        session = boto3.session.Session(region_name=REGION)
        clients = {name: session.client(name) for name in ("secretsmanager", "iam", "logs", "cloudwatch")}
        clients.update({name: session.client(name) for name in ("lambda", "sns", "kms", "events")})
        clients.update({name: session.client(name) for name in ("cloudtrail", "ecr", "s3", "ec2")})
        yield clients


def account_of(aws: dict[str, Any]) -> Account:
    return Account(
        env="prod",
        region=REGION,
        secrets=SecretsClient(REGION, client=aws["secretsmanager"]),
        iam=aws["iam"],
        logs=aws["logs"],
        cloudwatch=aws["cloudwatch"],
        docs=DOCS,
        functions=aws["lambda"],
        sns=aws["sns"],
        kms=aws["kms"],
        events=aws["events"],
        root=Path(__file__).parent,  # no build/ here: the code check says to run make lambda
        cloudtrail=aws["cloudtrail"],
        ecr=aws["ecr"],
    )


def alarm(suffix: str, metric: str, **overrides: Any) -> dict[str, Any]:
    settings: dict[str, Any] = {
        "AlarmName": f"short-cut-prod-{suffix}",
        "Namespace": ALARM_NAMESPACE,
        "MetricName": metric,
        "Statistic": "Sum",
        "Period": 300,
        "EvaluationPeriods": 1,
        "Threshold": 0,
        "ComparisonOperator": "GreaterThanThreshold",
        "AlarmActions": [TOPIC],
        "TreatMissingData": "breaching" if suffix == "secret-stale" else "notBreaching",
    }
    settings.update(overrides)
    return settings


def set_up_as_the_stack_does(aws: dict[str, Any]) -> None:
    aws["secretsmanager"].create_secret(Name=SECRET, SecretString=canary_secret_string())
    aws["iam"].create_role(RoleName=TASK_ROLE, AssumeRolePolicyDocument=json.dumps(DOCS[TRUST]))
    aws["iam"].put_role_policy(RoleName=TASK_ROLE, PolicyName=READ_POLICY, PolicyDocument=json.dumps(DOCS[READ]))
    aws["logs"].create_log_group(logGroupName=LOG_GROUP)
    aws["logs"].put_retention_policy(logGroupName=LOG_GROUP, retentionInDays=90)
    for suffix, metric in ALARM_SUFFIXES.items():
        aws["cloudwatch"].put_metric_alarm(**alarm(suffix, metric))
    set_up_rotation_and_topic(aws)
    aws["logs"].create_log_group(logGroupName=f"/aws/lambda/{FUNCTION}")
    aws["logs"].put_retention_policy(logGroupName=f"/aws/lambda/{FUNCTION}", retentionInDays=90)
    set_up_trail(aws)
    aws["ecr"].put_registry_scanning_configuration(
        scanType="BASIC",
        rules=[
            {
                "scanFrequency": "SCAN_ON_PUSH",
                "repositoryFilters": [{"filter": "short-cut-*", "filterType": "WILDCARD"}],
            }
        ],
    )


def set_up_trail(aws: dict[str, Any], *, logging: bool = True, selectors: list[dict[str, Any]] | None = None) -> None:
    """A multi-Region trail, as `aws cloudtrail create-trail --is-multi-region-trail` makes one."""
    aws["s3"].create_bucket(Bucket="trail-bucket")
    aws["cloudtrail"].create_trail(Name="management", S3BucketName="trail-bucket", IsMultiRegionTrail=True)
    if selectors is not None:
        aws["cloudtrail"].put_event_selectors(TrailName="management", EventSelectors=selectors)
    if logging:
        aws["cloudtrail"].start_logging(Name="management")


def test_every_live_check_passes_on_an_account_set_up_as_the_stack_does(aws: dict[str, Any]) -> None:
    set_up_as_the_stack_does(aws)
    account = account_of(aws)
    results = [run_check(name, check, account) for name, check in LIVE]
    assert [(r.name, r.status) for r in results] == [(name, "PASS") for name, _ in LIVE], results
    assert len(LIVE) == 15
    assert leaked(*(r.reason for r in results)) == []


def test_run_live_reads_the_account_the_credentials_name(aws: dict[str, Any], monkeypatch: pytest.MonkeyPatch) -> None:
    """run_live builds its own clients and asks sts:GetCallerIdentity whose account to check."""
    set_up_as_the_stack_does(aws)
    built = live._clients

    def clients(region: str) -> dict[str, Any]:
        made = built(region)
        without_account_settings(made["lambda"])
        return made

    monkeypatch.setattr(live, "_clients", clients)
    monkeypatch.setattr(live, "LAMBDA_ZIP", "build/not-built.zip")
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
    with pytest.raises(Failed, match=f"{READ_POLICY} on {TASK_ROLE} differs from {READ}"):
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
    # Issue 28 item 8: existing is not enough; a group with no retention keeps every line forever.
    with pytest.raises(Failed, match=f"log group {LOG_GROUP} keeps logs forever"):
        check_log_group(account_of(aws))
    aws["logs"].put_retention_policy(logGroupName=LOG_GROUP, retentionInDays=90)
    assert check_log_group(account_of(aws)) == f"log group {LOG_GROUP} exists, kept 90 days"


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
        {"AlarmName": f"short-cut-prod-{s}", "Namespace": ALARM_NAMESPACE, "MetricName": m, "AlarmActions": ["arn:x"],
         "TreatMissingData": "notBreaching"}
        for s, m in ALARM_SUFFIXES.items()
    ]  # fmt: skip
    assert alarm_problems("prod", good) == []
    assert alarm_problems("prod", good[1:]) == ["alarm short-cut-prod-secret-refresh-failing does not exist"]
    silent = [{**good[0], "AlarmActions": []}, *good[1:]]
    assert alarm_problems("prod", silent) == [
        "alarm short-cut-prod-secret-refresh-failing notifies nobody (no AlarmActions)"
    ]
    wrong = [*good[:2], {**good[2], "MetricName": "Errors"}]
    assert f"not {ALARM_NAMESPACE}/SecretLoadFailure" in alarm_problems("prod", wrong)[0]
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
        assert props["Namespace"] == ALARM_NAMESPACE and props["AlarmActions"] == [{"Ref": "AlarmTopic"}]
        assert len(props["AlarmDescription"]["Fn::Sub"]) > 200  # an on-call engineer can act on it


def test_the_stale_alarm_fires_at_half_the_default_staleness() -> None:
    from src.cli.audit.template import load_template

    resources = load_template(ROOT / "infra/cloudformation/short-cut.yaml")["Resources"]
    assert resources["SecretAgeAlarm"]["Properties"]["Threshold"] == Settings().secrets_max_staleness * 0.5


# --- Issue 24 items 1, 4, 5 and issue 19.4: the rotation Lambda, the alarm topic's key, the rule ---

FUNCTION = "shortcut-secret-rotation"
ZIP = b"PK\x05\x06" + b"\x00" * 18  # an empty zip: moto stores the bytes, never runs them
KEY_POLICY = {
    "Version": "2012-10-17",
    "Statement": [
        {"Sid": "Admin", "Effect": "Allow", "Principal": {"AWS": f"arn:aws:iam::{ACCOUNT}:root"}, "Action": "kms:*",
         "Resource": "*"},
        {"Sid": "AlarmsAndEventsPublishToTheTopic", "Effect": "Allow",
         "Principal": {"Service": ["cloudwatch.amazonaws.com", "events.amazonaws.com"]},
         "Action": ["kms:Decrypt", "kms:GenerateDataKey*"], "Resource": "*"},
    ],
}  # fmt: skip


def without_account_settings(functions: Any, unreserved: int = 990) -> None:
    """moto answers GetAccountSettings with 404 "Not yet implemented": this client answers as the
    Lambda API does (AccountLimit.ConcurrentExecutions / UnreservedConcurrentExecutions)."""
    limits = {"ConcurrentExecutions": 1000, "UnreservedConcurrentExecutions": unreserved}
    functions.get_account_settings = lambda: {"AccountLimit": limits}


def set_up_rotation_and_topic(aws: dict[str, Any], *, key_policy: dict[str, Any] | None = None) -> None:
    role = aws["iam"].create_role(
        RoleName="rotation", AssumeRolePolicyDocument=json.dumps({"Version": "2012-10-17", "Statement": []})
    )["Role"]["Arn"]
    aws["lambda"].create_function(
        FunctionName=FUNCTION, Runtime="python3.12", Role=role, Handler="h.h", Code={"ZipFile": ZIP}
    )
    without_account_settings(aws["lambda"])
    key = aws["kms"].create_key(Policy=json.dumps(key_policy or KEY_POLICY))["KeyMetadata"]["KeyId"]
    topic = aws["sns"].create_topic(Name="alarms", Attributes={"KmsMasterKeyId": key})["TopicArn"]
    assert topic == TOPIC
    rule = aws["events"].put_rule(
        Name="rotation-failed",
        EventPattern=json.dumps(
            {"source": ["aws.secretsmanager"], "detail-type": ["AWS Service Event via CloudTrail"],
             "detail": {"eventName": ["RotationFailed", "RotationAbandoned"]}}
        ),
    )["RuleArn"]  # fmt: skip
    aws["events"].put_targets(Rule="rotation-failed", Targets=[{"Id": "alarm-topic", "Arn": TOPIC}])
    statement = {"Effect": "Allow", "Principal": {"Service": "events.amazonaws.com"}, "Action": "sns:Publish",
                 "Resource": TOPIC, "Condition": {"ArnEquals": {"aws:SourceArn": rule}}}  # fmt: skip
    policy = {"Version": "2012-10-17", "Statement": [statement]}
    aws["sns"].set_topic_attributes(TopicArn=TOPIC, AttributeName="Policy", AttributeValue=json.dumps(policy))


def test_a_reserved_concurrency_fails_and_names_the_fix(aws: dict[str, Any]) -> None:
    set_up_as_the_stack_does(aws)
    account = account_of(aws)
    assert check_lambda_concurrency(account) == (
        f"{FUNCTION} reserves none; the account has 990 of 1000 executions unreserved"
    )
    aws["lambda"].put_function_concurrency(FunctionName=FUNCTION, ReservedConcurrentExecutions=1)
    with pytest.raises(Failed, match=r"reserves 1 executions .*delete-function-concurrency"):
        check_lambda_concurrency(account)


def test_without_rotation_the_lambda_checks_pass_as_such(aws: dict[str, Any]) -> None:
    account = account_of(aws)
    for check in (check_lambda_concurrency, check_lambda_code, check_rotation_failure_route):
        assert check(account) == f"no function {FUNCTION} (deployed without rotation)"


def test_the_deployed_code_must_be_the_local_build(aws: dict[str, Any], tmp_path: Path) -> None:
    set_up_as_the_stack_does(aws)
    account = account_of(aws)
    account.root = tmp_path
    assert "run `make lambda` to compare" in check_lambda_code(account)
    (tmp_path / "build").mkdir()
    (tmp_path / "build/short-cut-rotation.zip").write_bytes(ZIP)
    assert check_lambda_code(account).startswith(f"{FUNCTION} runs build/short-cut-rotation.zip")
    rebuilt = ZIP + b"\x00"  # a new build never uploaded under its own key
    (tmp_path / "build/short-cut-rotation.zip").write_bytes(rebuilt)
    key = f"short-cut-rotation-{hashlib.sha256(rebuilt).hexdigest()}.zip"
    with pytest.raises(Failed, match=f"deploy with RotationCodeKey={key}"):
        check_lambda_code(account)


def test_the_alarm_topic_key_must_let_cloudwatch_and_eventbridge_use_it(aws: dict[str, Any]) -> None:
    set_up_as_the_stack_does(aws)
    account = account_of(aws)
    assert "lets CloudWatch and EventBridge publish" in check_alarm_topic_key(account)
    # The key policy without the service statement: CloudWatch's alarm actions would fail.
    admin_only = {**KEY_POLICY, "Statement": KEY_POLICY["Statement"][:1]}
    key = aws["kms"].create_key(Policy=json.dumps(admin_only))["KeyMetadata"]["KeyId"]
    aws["sns"].set_topic_attributes(TopicArn=TOPIC, AttributeName="KmsMasterKeyId", AttributeValue=key)
    with pytest.raises(Failed, match=r"does not let cloudwatch\.amazonaws\.com, events\.amazonaws\.com use it"):
        check_alarm_topic_key(account)


def test_an_aws_managed_topic_key_fails(aws: dict[str, Any]) -> None:
    """alias/aws/sns: CloudWatch cannot use it (ASFHyP3/hyp3#762, aws/aws-cdk#11121). moto has no
    AWS-managed keys, so DescribeKey is stubbed with the answer AWS gives (KeyManager AWS)."""
    set_up_as_the_stack_does(aws)
    account = account_of(aws)
    aws["sns"].set_topic_attributes(TopicArn=TOPIC, AttributeName="KmsMasterKeyId", AttributeValue="alias/aws/sns")
    kms = boto3.client("kms", region_name=REGION)
    account.kms = kms
    with Stubber(kms) as stub:
        metadata = {"KeyId": "1234abcd-12ab-34cd-56ef-1234567890ab", "KeyManager": "AWS"}
        stub.add_response("describe_key", {"KeyMetadata": metadata}, {"KeyId": "alias/aws/sns"})
        with pytest.raises(Failed, match="AWS-managed alias/aws/sns, which CloudWatch cannot use"):
            check_alarm_topic_key(account)


def test_an_unencrypted_topic_passes(aws: dict[str, Any]) -> None:
    set_up_as_the_stack_does(aws)
    aws["sns"].set_topic_attributes(TopicArn=TOPIC, AttributeName="KmsMasterKeyId", AttributeValue="")
    assert check_alarm_topic_key(account_of(aws)) == f"{TOPIC} is not encrypted (CloudWatch can publish)"


def test_a_failed_rotation_must_reach_the_topic(aws: dict[str, Any]) -> None:
    set_up_as_the_stack_does(aws)
    account = account_of(aws)
    assert check_rotation_failure_route(account) == f"rule rotation-failed sends a failed rotation to {TOPIC}"
    aws["sns"].set_topic_attributes(TopicArn=TOPIC, AttributeName="Policy", AttributeValue=json.dumps(
        {"Version": "2012-10-17", "Statement": []}))  # fmt: skip
    with pytest.raises(Failed, match=r"does not let events\.amazonaws\.com publish"):
        check_rotation_failure_route(account)
    aws["events"].remove_targets(Rule="rotation-failed", Ids=["alarm-topic"])
    with pytest.raises(Failed, match=f"no EventBridge rule sends RotationFailed to {TOPIC}"):
        check_rotation_failure_route(account)


def test_staging_is_audited_by_its_own_names(aws: dict[str, Any]) -> None:
    """Review: `audit --aws --env staging` read production's role, inline policy and log group.
    Production's parts are all in place here; staging's are not, so staging must fail, then pass
    once its own role (with its read policy) and log group exist."""
    set_up_as_the_stack_does(aws)
    staging = names_for("staging")
    account = account_of(aws)
    account.env = "staging"
    account.docs = render_all(values_for(account_id=ACCOUNT, region=REGION, env="staging", image=AUDIT_IMAGE))
    checks = (check_role_trust, check_role_policy, check_log_group)
    assert [run_check(c.__name__, c, account).status for c in checks] == ["FAIL"] * 3
    assert account.function == staging.rotation_function
    docs = account.docs
    aws["iam"].create_role(RoleName=staging.task_role, AssumeRolePolicyDocument=json.dumps(docs[TRUST]))
    aws["iam"].put_role_policy(
        RoleName=staging.task_role, PolicyName=staging.read_policy, PolicyDocument=json.dumps(docs[READ])
    )
    aws["logs"].create_log_group(logGroupName=staging.log_group)
    aws["logs"].put_retention_policy(logGroupName=staging.log_group, retentionInDays=30)
    assert check_role_trust(account) == f"{staging.task_role} trusts as {TRUST} says"
    assert check_role_policy(account) == f"{staging.read_policy} on {staging.task_role} is as {READ} says"
    assert check_log_group(account) == f"log group {staging.log_group} exists, kept 30 days"


# --- Issue 28 items 3, 7, 8: the trail, the rule's deliveries, retention, missing data, ECR scanning ---
# "AWS service events delivered via AWS CloudTrail" (EventBridge user guide): RotationFailed and
# RotationAbandoned are "AWS Service Event via CloudTrail" events; without a trail logging management
# events in the Region, the rotation-failure rule never matches. The Lambda Errors alarm needs none.


def test_no_trail_fails_the_trail_check_and_says_what_still_alerts(aws: dict[str, Any]) -> None:
    set_up_rotation_and_topic(aws)
    with pytest.raises(Failed) as caught:
        check_cloudtrail(account_of(aws))
    assert "no CloudTrail trail logs management events in us-east-1" in str(caught.value)
    assert "Lambda Errors alarm" in str(caught.value)


@pytest.mark.parametrize(
    ("logging", "selectors", "passes"),
    [
        (True, None, True),  # no selectors of its own: all management events
        (False, None, False),  # created but never started
        (True, [{"ReadWriteType": "ReadOnly", "IncludeManagementEvents": True}], False),
        (True, [{"ReadWriteType": "All", "IncludeManagementEvents": False}], False),
        (True, [{"ReadWriteType": "WriteOnly", "IncludeManagementEvents": True}], True),
    ],
)
def test_the_trail_must_log_write_management_events(
    aws: dict[str, Any], logging: bool, selectors: list[dict[str, Any]] | None, passes: bool
) -> None:
    set_up_rotation_and_topic(aws)
    set_up_trail(aws, logging=logging, selectors=selectors)
    result = run_check("aws-cloudtrail-trail", check_cloudtrail, account_of(aws))
    assert (result.status == "PASS") is passes, result


def test_a_rule_that_failed_to_deliver_fails(aws: dict[str, Any]) -> None:
    """FailedInvocations on the rule means EventBridge matched a failed rotation and the topic refused it
    ("Why isn't my Amazon SNS topic receiving EventBridge notifications?", AWS re:Post knowledge center)."""
    set_up_as_the_stack_does(aws)
    assert run_check("d", check_rotation_rule_delivery, account_of(aws)).status == "PASS"
    aws["cloudwatch"].put_metric_data(
        Namespace="AWS/Events",
        MetricData=[
            {"MetricName": "FailedInvocations", "Dimensions": [{"Name": "RuleName", "Value": "rotation-failed"}],
             "Value": 2, "Timestamp": datetime.now(UTC) - timedelta(hours=1)}
        ],
    )  # fmt: skip
    with pytest.raises(Failed, match="rotation-failed 2 times in 14 days"):
        check_rotation_rule_delivery(account_of(aws))


def test_an_alarm_with_the_wrong_missing_data_treatment_fails(aws: dict[str, Any]) -> None:
    for suffix, metric in ALARM_SUFFIXES.items():
        missing = "breaching" if suffix == "secret-refresh-failing" else None
        aws["cloudwatch"].put_metric_alarm(
            **alarm(suffix, metric, **({"TreatMissingData": missing} if missing else {}))
        )
    with pytest.raises(Failed) as caught:
        check_alarms(account_of(aws))
    assert str(caught.value) == (
        "alarm short-cut-prod-secret-refresh-failing treats missing data as breaching, not notBreaching"
    )


def test_the_rotation_log_group_needs_a_retention(aws: dict[str, Any]) -> None:
    set_up_rotation_and_topic(aws)
    group = f"/aws/lambda/{FUNCTION}"
    aws["logs"].create_log_group(logGroupName=group)  # as Lambda recreates it: no retention
    with pytest.raises(Failed, match=f"log group {group} keeps logs forever"):
        check_rotation_log_group(account_of(aws))


def test_ecr_scanning_must_be_configured_on_the_registry(aws: dict[str, Any]) -> None:
    """ "The PutImageScanningConfiguration API is being deprecated, in favor of specifying the image
    scanning configuration at the registry level" (ECR API reference, PutImageScanningConfiguration)."""
    with pytest.raises(Failed, match="scans no push to short-cut-api: aws ecr put-registry-scanning-configuration"):
        check_ecr_scanning(account_of(aws))
    aws["ecr"].put_registry_scanning_configuration(
        scanType="BASIC",
        rules=[
            {"scanFrequency": "SCAN_ON_PUSH", "repositoryFilters": [{"filter": "other-*", "filterType": "WILDCARD"}]}
        ],
    )
    with pytest.raises(Failed):
        check_ecr_scanning(account_of(aws))
    aws["ecr"].put_registry_scanning_configuration(
        scanType="BASIC",
        rules=[{"scanFrequency": "SCAN_ON_PUSH", "repositoryFilters": [{"filter": "*", "filterType": "WILDCARD"}]}],
    )
    assert check_ecr_scanning(account_of(aws)) == "the registry scans short-cut-api (BASIC, SCAN_ON_PUSH)"


# --- Issue 28 item 6: the load balancer's subnets, checked before a deploy creates anything ---------
# "[Application Load Balancers] You must specify subnets from at least two Availability Zones ... You
# can specify only one subnet per Availability Zone" (ELBv2 API reference, CreateLoadBalancer).


def _subnets(aws: dict[str, Any], zones: list[str]) -> list[str]:
    ec2 = aws["ec2"]
    vpc = ec2.create_vpc(CidrBlock="10.0.0.0/16")["Vpc"]["VpcId"]
    return [
        ec2.create_subnet(VpcId=vpc, CidrBlock=f"10.0.{i}.0/24", AvailabilityZone=zone)["Subnet"]["SubnetId"]
        for i, zone in enumerate(zones)
    ]


@pytest.mark.parametrize(
    ("zones", "problem"),
    [
        (["us-east-1a"], "needs subnets in at least two Availability Zones; 1 subnet(s) given, in us-east-1a"),
        (["us-east-1a", "us-east-1a"], "needs subnets in at least two Availability Zones"),
        (["us-east-1a", "us-east-1b", "us-east-1b"], "are all in us-east-1b: give one subnet per Availability Zone"),
        (["us-east-1a", "us-east-1b"], None),
    ],
)
def test_load_balancer_subnets_need_two_zones_one_each(
    aws: dict[str, Any], zones: list[str], problem: str | None
) -> None:
    account = account_of(aws)
    account.ec2 = aws["ec2"]
    account.load_balancer_subnets = tuple(_subnets(aws, zones))
    result = run_check("aws-load-balancer-subnets", check_load_balancer_subnets, account)
    if problem is None:
        assert result.status == "PASS" and result.reason == "2 subnets, one in each of us-east-1a, us-east-1b"
    else:
        assert result.status == "FAIL" and problem in result.reason, result
