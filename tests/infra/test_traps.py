"""The traps a new account and later updates spring (issue 24), the alarm topic and filters
(issue 19 item 4), the Lambda's log group (19.5), the tmpfs and capabilities (20.2, 20.6).

As in test_deploy_rules.py: each rule holds for the repository's files, fails on a broken copy,
and cites its source. The rules are `audit`'s (src.cli.audit.traps, src.cli.audit.rules).
"""

from __future__ import annotations

import hashlib
import json
import re
import subprocess
from pathlib import Path
from typing import Any

import pytest

from src.cli.audit.rules import SECRET_TMPFS, hardening_problems, tmpfs_writable
from src.cli.audit.traps import (
    alarm_filter_problems,
    code_key_problems,
    lambda_log_group_problems,
    reserved_concurrency_problems,
    rotation_failure_route_problems,
    rotation_step_problems,
    service_name_problems,
    topic_key_problems,
)
from tests.infra.test_deploy_rules import STACK, TASK, replace, task, template
from tests.support.cfn import evaluate_conditions, resolve
from tests.support.processes import ROOT
from tests.support.repo_copy import copy_audited_files


@pytest.fixture
def repo(tmp_path: Path) -> Path:
    return copy_audited_files(tmp_path)


# --- 1. No reserved concurrency --------------------------------------------------------------
# "Configuring reserved concurrency" (Lambda guide): Lambda refuses a reservation that leaves the
# account's unreserved concurrency below 100; new accounts often have a quota of 10 or 50, so the
# first deploy failed (aws-samples/one-observability-demo#278, aws-samples/alarm-context-tool#2).
# checkov's CKV_AWS_115 is skipped beside the function with this reason.


def test_no_lambda_reserves_concurrency() -> None:
    assert reserved_concurrency_problems(template(ROOT)) == []
    assert "checkov:skip=CKV_AWS_115" in (ROOT / STACK).read_text()


def test_reserved_concurrency_rule_fails_on_a_broken_copy(repo: Path) -> None:
    replace(repo / STACK, "      MemorySize: 256\n", "      MemorySize: 256\n      ReservedConcurrentExecutions: 1\n")
    assert reserved_concurrency_problems(template(repo)) == [
        "RotationFunction: ReservedConcurrentExecutions fails on an account whose quota leaves fewer than 100 "
        "unreserved"
    ]


# --- 3. GenerateSecretString is pinned -------------------------------------------------------
# Any edit of GenerateSecretString after the first deploy makes CloudFormation generate a new value
# and make it AWSCURRENT in place, replacing the pushed values; Retain does not help
# (cloudformation-coverage-roadmap #1161 and #2210, aws/aws-cdk#19985). The block below is the one
# deployed stacks were created with: a change to it must be a deliberate change of this test too,
# after reading the README's "If the secret's values were replaced by placeholders".
PINNED_GENERATE_SECRET_STRING = {
    "SecretStringTemplate": (
        '{"OPENAI_API_KEY": "<set with python -m src.cli push>", '
        '"PINECONE_API_KEY": "<set with python -m src.cli push>", '
        '"GCP_PROJECT_ID": "<set with python -m src.cli push>", '
        '"GOOGLE_APPLICATION_CREDENTIALS_JSON": "<set with python -m src.cli push>", '
        '"MILVUS_HOST": "<set with python -m src.cli push>", '
        '"MILVUS_PORT": "19530"}'
    ),
    "GenerateStringKey": "APP_SECRET_KEY",
    "PasswordLength": 64,
    "ExcludePunctuation": True,
}


def generate_secret_string(root: Path) -> Any:
    return template(root)["Resources"]["AppSecret"]["Properties"]["GenerateSecretString"]


def test_the_generated_secret_block_is_pinned() -> None:
    assert generate_secret_string(ROOT) == PINNED_GENERATE_SECRET_STRING
    assert "DO NOT EDIT GenerateSecretString" in (ROOT / STACK).read_text()


@pytest.mark.parametrize(
    ("old", "new"),
    [
        ("        PasswordLength: 64\n", "        PasswordLength: 48\n"),
        ('"MILVUS_PORT": "19530"}', '"MILVUS_PORT": "19530", "REDIS_URL": "<set>"}'),
        ("        ExcludePunctuation: true\n", ""),
    ],
    ids=["length", "template-key", "option-removed"],
)
def test_an_edit_of_the_generated_secret_block_fails_the_pin(repo: Path, old: str, new: str) -> None:
    replace(repo / STACK, old, new)
    assert generate_secret_string(repo) != PINNED_GENERATE_SECRET_STRING


# --- 4. A content-addressed code key ---------------------------------------------------------
# "AWS::Lambda::Function Code": CloudFormation updates the function's code only when a Code
# property changes; a new zip under the same S3 key is never deployed. The key is the zip's
# sha256, which `make lambda` prints; the zip is reproducible, so the key moves exactly with the code.


def test_the_code_key_is_content_addressed() -> None:
    stack = template(ROOT)
    assert code_key_problems(stack) == []
    pattern = stack["Parameters"]["RotationCodeKey"]["AllowedPattern"]
    assert re.fullmatch(pattern, f"short-cut-rotation-{'ab' * 32}.zip")
    assert re.fullmatch(pattern, f"lambda/prod/short-cut-rotation-{'0' * 64}.zip")
    assert re.fullmatch(pattern, "")  # no rotation
    for fixed in ("short-cut-rotation.zip", "short-cut-rotation-latest.zip", f"short-cut-rotation-{'A' * 64}.zip"):
        assert not re.fullmatch(pattern, fixed), fixed
    assert "Region" in stack["Parameters"]["RotationCodeBucket"]["Description"]


@pytest.mark.parametrize(
    ("old", "new"),
    [
        ("        S3Key: !Ref RotationCodeKey\n", "        S3Key: short-cut-rotation.zip\n"),
        ("\\.zip$'", "\\.zip$|^short-cut-rotation\\.zip$'"),
    ],
    ids=["fixed-key", "pattern-allows-a-fixed-name"],
)
def test_code_key_rule_fails_on_a_broken_copy(repo: Path, old: str, new: str) -> None:
    replace(repo / STACK, old, new)
    assert code_key_problems(template(repo)) == [
        "RotationFunction: Code.S3Key is not content-addressed (a key parameter requiring the sha256)"
    ]


def test_make_lambda_prints_the_zips_sha256_as_its_key(tmp_path: Path) -> None:
    keys = []
    for run in ("a", "b"):
        target = tmp_path / run / "rotation.zip"
        result = subprocess.run(
            ["make", "-s", "lambda", f"LAMBDA_ZIP={target}"],
            cwd=ROOT, capture_output=True, text=True, timeout=120, check=False,
        )  # fmt: skip
        assert result.returncode == 0, result.stderr
        (line,) = [x for x in result.stdout.splitlines() if x.startswith("RotationCodeKey=")]
        digest = hashlib.sha256(target.read_bytes()).hexdigest()
        assert line == f"RotationCodeKey=short-cut-rotation-{digest}.zip"
        keys.append(line)
    assert keys[0] == keys[1]  # reproducible: the same files give the same key


# --- 7. No fixed ServiceName -----------------------------------------------------------------
# CloudFormation refuses an update that replaces a custom-named resource ("CloudFormation cannot
# update a stack when a custom-named resource requires replacing"; cloudformation-coverage-roadmap #2214).


def test_the_service_has_a_generated_name() -> None:
    stack = template(ROOT)
    assert service_name_problems(stack) == []
    assert stack["Outputs"]["ServiceName"]["Value"] == {"Fn::GetAtt": ["Service", "Name"]}


def test_service_name_rule_fails_on_a_broken_copy(repo: Path) -> None:
    replace(
        repo / STACK, "      Cluster: !Ref ClusterName\n", "      Cluster: !Ref ClusterName\n      ServiceName: api\n"
    )
    assert service_name_problems(template(repo)) == ["Service: a fixed ServiceName makes every replacing update fail"]


# --- 8. Turning rotation on is an update of its own ------------------------------------------
# One update that scales up and adds the RotationSchedule rolls both back when either fails, and
# the schedule can fail: RotateImmediatelyOnUpdate false still runs testSecret (RotateSecret API).


def test_scaling_up_does_not_turn_rotation_on() -> None:
    assert rotation_step_problems(template(ROOT)) == []


def test_rotation_step_rule_fails_on_a_broken_copy(repo: Path) -> None:
    replace(repo / STACK, ', !Equals [!Ref RotationEnabled, "true"]]', "]")
    assert rotation_step_problems(template(repo)) == [
        "RotationSchedule: scheduled by the same update that starts the tasks (SecretReady=true)"
    ]


# --- Issue 19.5: the Lambda's log group, with a retention ------------------------------------
# Lambda creates /aws/lambda/<function name> on first write with no retention (kept forever)
# ("Lambda function logs", Lambda guide); declaring it in the stack gives it one.


def test_the_lambdas_log_group_is_declared_with_a_retention() -> None:
    stack = template(ROOT)
    assert lambda_log_group_problems(stack) == []
    # Created after its group: a DependsOn once, now the Ref of LoggingConfig.LogGroup (issue 28 item 2).
    function = stack["Resources"]["RotationFunction"]
    assert function["Properties"]["LoggingConfig"]["LogGroup"] == {"Ref": "RotationLogGroup"}


@pytest.mark.parametrize(
    ("old", "new", "problem"),
    [
        (
            "/aws/lambda/shortcut-secret-rotation,",
            "/aws/lambda/shortcut-rotation,",
            "RotationFunction: its log group /aws/lambda/<name> is not declared (Lambda keeps it forever)",
        ),
        (
            '"/aws/lambda/shortcut-secret-rotation-${Environment}"]\n      RetentionInDays: !Ref LogRetentionDays\n',
            '"/aws/lambda/shortcut-secret-rotation-${Environment}"]\n',
            "RotationFunction: its log group has no RetentionInDays",
        ),
    ],
    ids=["wrong-name", "no-retention"],
)
def test_lambda_log_group_rule_fails_on_a_broken_copy(repo: Path, old: str, new: str, problem: str) -> None:
    replace(repo / STACK, old, new)
    assert lambda_log_group_problems(template(repo)) == [problem]


# --- Issue 19.4: a topic key CloudWatch may use ----------------------------------------------
# CloudWatch cannot use the AWS-managed SNS key: alarm actions on a topic encrypted with
# alias/aws/sns fail and nobody is notified (ASFHyP3/hyp3#762, aws/aws-cdk#11121). The key policy
# must allow cloudwatch.amazonaws.com kms:Decrypt and kms:GenerateDataKey* ("Amazon SNS topic with
# SSE", CloudWatch user guide), and events.amazonaws.com the same for the rule (EventBridge user
# guide, "Amazon SNS permissions": an encrypted topic needs kms:Decrypt and kms:GenerateDataKey).


def test_the_alarm_topic_key_lets_cloudwatch_and_eventbridge_publish() -> None:
    stack = template(ROOT)
    assert topic_key_problems(stack) == []
    assert stack["Resources"]["AlarmTopic"]["Properties"]["KmsMasterKeyId"] == {"Ref": "AlarmTopicKey"}
    assert stack["Resources"]["AlarmTopicKey"]["Properties"]["EnableKeyRotation"] is True


@pytest.mark.parametrize(
    ("old", "new", "problem"),
    [
        (
            "      KmsMasterKeyId: !Ref AlarmTopicKey\n",
            "      KmsMasterKeyId: alias/aws/sns\n",
            "AlarmTopic: encrypted with the AWS-managed alias/aws/sns, which CloudWatch cannot use",
        ),
        (
            "                - cloudwatch.amazonaws.com\n",
            "",
            "AlarmTopic: the key AlarmTopicKey does not let cloudwatch.amazonaws.com use it",
        ),
        (
            "                - events.amazonaws.com\n",
            "",
            "AlarmTopic: the key AlarmTopicKey does not let events.amazonaws.com use it",
        ),
        (
            "              - kms:GenerateDataKey*\n",
            "",
            "AlarmTopic: the key AlarmTopicKey does not let cloudwatch.amazonaws.com use it",
        ),
    ],
    ids=["aws-managed-key", "no-cloudwatch", "no-eventbridge", "no-data-key"],
)
def test_topic_key_rule_fails_on_a_broken_copy(repo: Path, old: str, new: str, problem: str) -> None:
    replace(repo / STACK, old, new)
    assert any(p.startswith(problem) for p in topic_key_problems(template(repo))), topic_key_problems(template(repo))


# Confused deputy: CloudWatch's use of the key is tied to this account's alarms with
# aws:SourceAccount ("The confused deputy problem", IAM user guide; the KMS grant for CloudWatch
# alarms on a CMK-encrypted topic carries aws:SourceAccount in AWS's MDAA constructs,
# grantCloudWatchAlarmsTopicAccess). EventBridge's grant cannot be conditioned: the EventBridge
# user guide ("Amazon SNS permissions") says aws:SourceArn, aws:SourceAccount and aws:SourceOrgID
# are not supported in the KMS key policy for an encrypted topic target, and a condition there
# would drop every notification.
def test_the_key_lets_cloudwatch_publish_only_for_this_account() -> None:
    statements = template(ROOT)["Resources"]["AlarmTopicKey"]["Properties"]["KeyPolicy"]["Statement"]
    by_service = {s["Principal"]["Service"][0]: s for s in statements if "Service" in s["Principal"]}
    assert by_service["cloudwatch.amazonaws.com"]["Condition"] == {
        "StringEquals": {"aws:SourceAccount": {"Ref": "AWS::AccountId"}}
    }
    assert "Condition" not in by_service["events.amazonaws.com"]


@pytest.mark.parametrize(
    "condition",
    [
        "",
        "            Condition:\n              StringEquals:\n                aws:SourceAccount: '999988887777'\n",
        "            Condition:\n              StringLike:\n                aws:SourceAccount: '*'\n",
    ],
    ids=["none", "other-account", "any-account"],
)
def test_topic_key_rule_fails_without_the_source_account_condition(repo: Path, condition: str) -> None:
    text = (repo / STACK).read_text()
    start = text.index("          - Sid: CloudWatchAlarmsUseTheKey\n")
    end = text.index("          - Sid: EventBridgeUsesTheKey\n")
    block = text[start:end]
    head, _, _ = block.partition("            Condition:\n")
    (repo / STACK).write_text(text[:start] + head + condition + text[end:])
    problems = topic_key_problems(template(repo))
    expected = "AlarmTopic: the key AlarmTopicKey lets cloudwatch.amazonaws.com use it without aws:SourceAccount"
    assert any(p.startswith(expected) for p in problems), problems


def test_an_unencrypted_topic_passes_the_key_rule(repo: Path) -> None:
    replace(repo / STACK, "      KmsMasterKeyId: !Ref AlarmTopicKey\n", "")
    assert topic_key_problems(template(repo)) == []


# --- 5. A failed rotation reaches the alarm topic --------------------------------------------
# Secrets Manager records rotation outcomes in CloudTrail as "AWS Service Event via CloudTrail"
# (RotationFailed, RotationAbandoned; "AWS CloudTrail entries for Secrets Manager") that EventBridge
# matches ("Match Secrets Manager events with EventBridge"). The topic policy must let
# events.amazonaws.com publish (EventBridge user guide, "Amazon SNS permissions").


def test_a_failed_rotation_reaches_the_alarm_topic() -> None:
    stack = template(ROOT)
    assert rotation_failure_route_problems(stack) == []
    pattern = stack["Resources"]["RotationFailedRule"]["Properties"]["EventPattern"]
    assert pattern["detail-type"] == ["AWS Service Event via CloudTrail"]
    assert "RotationFailed" in pattern["detail"]["eventName"]


@pytest.mark.parametrize(
    ("old", "new", "problem"),
    [
        ("            - RotationFailed\n", "", "no EventBridge rule"),
        (
            "                Service: events.amazonaws.com\n              Action: sns:Publish\n",
            "                Service: sns.amazonaws.com\n              Action: sns:Publish\n",
            "AlarmTopic: no topic policy lets events.amazonaws.com",
        ),
        (
            "          Arn: !Ref AlarmTopic\n",
            "          Arn: arn:aws:sns:us-east-1:111122223333:x\n",
            "no EventBridge rule",
        ),
    ],
    ids=["event-not-matched", "policy-refuses-eventbridge", "other-target"],
)
def test_rotation_failure_route_fails_on_a_broken_copy(repo: Path, old: str, new: str, problem: str) -> None:
    replace(repo / STACK, old, new)
    problems = rotation_failure_route_problems(template(repo))
    assert any(p.startswith(problem) for p in problems), problems


# --- Issue 19.4: each secret-health alarm is backed by a metric filter -----------------------
# EMF auto-extraction is not available for awslogs-driver logs in every Region and ECS cannot pass
# awslogs-format (containers-roadmap #1719; shim-loggers-for-containerd #285). A metric filter works
# everywhere; test_metric_filters.py proves each pattern on lines the service wrote.


def test_every_secret_health_alarm_watches_a_metric_filter() -> None:
    assert alarm_filter_problems(template(ROOT)) == []


def test_alarm_filter_rule_fails_on_a_broken_copy(repo: Path) -> None:
    replace(repo / STACK, "          MetricName: SecretLoadFailure\n          MetricValue", "          MetricName: "
            "LoadFailed\n          MetricValue")  # fmt: skip
    assert alarm_filter_problems(template(repo)) == [
        "SecretLoadFailureAlarm: ShortCut/Logs/SecretLoadFailure is made by no metric filter (EMF alone)"
    ]


@pytest.mark.parametrize(
    ("ready", "desired", "expected"),
    [("true", "2", "breaching"), ("true", "0", "notBreaching"), ("false", "2", "notBreaching")],
)
def test_the_stale_alarm_breaches_on_silence_once_tasks_should_run(ready: str, desired: str, expected: str) -> None:
    """No age line for a whole period means no task runs or logs: once SecretReady with tasks
    wanted, that is trouble. Scaled to 0 (DesiredCount=0), silence is expected, not an alarm."""
    stack = template(ROOT)
    params = {p: str(v.get("Default", "")) for p, v in stack["Parameters"].items()}
    conditions = evaluate_conditions(stack, {**params, "SecretReady": ready, "DesiredCount": desired})
    props = stack["Resources"]["SecretAgeAlarm"]["Properties"]
    assert resolve(props["TreatMissingData"], params, conditions) == expected
    for name in ("SecretRefreshFailureAlarm", "SecretLoadFailureAlarm"):
        # A failure line is the signal; its absence means no failure.
        assert template(ROOT)["Resources"][name]["Properties"]["TreatMissingData"] == "notBreaching"


# --- Issue 20.2 and 20.6: the tmpfs and no capabilities --------------------------------------
# "Amazon ECS tmpfs mounts on AWS Fargate and Managed Instances" (What's New, 2026-01;
# containers-roadmap #736). ECS API Tmpfs: mountOptions accepts "mode", "uid", "gid" by name; the
# stack uses mode=1777 only (docker's tmpfs default), since no AWS text shows Fargate honouring uid=.
# cfn-lint 1.58 accepts Tmpfs on a FARGATE task definition (test_checkers runs it clean).


def test_the_task_drops_every_capability_and_has_a_private_tmpfs() -> None:
    assert hardening_problems(task(ROOT)) == []
    stack = template(ROOT)["Resources"]["TaskDefinition"]["Properties"]["ContainerDefinitions"][0]
    linux = stack["LinuxParameters"]
    assert linux["Capabilities"] == {"Drop": ["ALL"]}
    (mount,) = linux["Tmpfs"]
    (json_mount,) = task(ROOT)["containerDefinitions"][0]["linuxParameters"]["tmpfs"]
    assert (mount["ContainerPath"], mount["Size"], mount["MountOptions"]) == (
        json_mount["containerPath"], json_mount["size"], json_mount["mountOptions"],
    )  # fmt: skip
    assert json_mount["containerPath"] == SECRET_TMPFS
    # /tmp stays the writable bind volume it was.
    assert task(ROOT)["containerDefinitions"][0]["mountPoints"][0]["containerPath"] == "/tmp"


@pytest.mark.parametrize(
    ("old", "new", "problem"),
    [
        ('"drop": ["ALL"]', '"drop": ["NET_RAW"]', 'linuxParameters.capabilities.drop is not ["ALL"]'),
        ('"noexec", ', "", "lacks noexec"),
        ('"size": 4', '"size": 512', "is not 1-16 MiB"),
        ('"mode=1777"', '"mode=0700"', "is not writable by user 10001:10001"),
        ('"/run/short-cut"', '"/run/other"', "no tmpfs at /run/short-cut"),
    ],
)
def test_hardening_rule_fails_on_a_broken_copy(repo: Path, old: str, new: str, problem: str) -> None:
    replace(repo / TASK, old, new)
    problems = hardening_problems(json.loads((repo / TASK).read_text()))
    assert any(problem in p for p in problems), problems


@pytest.mark.parametrize(
    ("options", "user", "writable"),
    [
        ([], "10001:10001", True),  # docker's default mode 1777
        (["mode=0700", "uid=10001"], "10001:10001", True),
        (["mode=0700"], "10001:10001", False),  # owned by root
        (["mode=0770", "gid=10001"], "10001:10001", True),
        (["mode=0755", "uid=10001"], "10002", False),
        (["ro"], "10001", False),
    ],
)
def test_tmpfs_writable(options: list[str], user: str, writable: bool) -> None:
    assert tmpfs_writable({"mountOptions": options}, user) is writable
