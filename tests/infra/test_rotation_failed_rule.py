"""The stack's RotationFailedRule notifies for this stack's secret only (reviewer finding 3).

AWS behaviour relied on: Secrets Manager records a failed rotation in CloudTrail as an event with
"detail-type": "AWS Service Event via CloudTrail" and eventName RotationFailed (also
RotationAbandoned), and names the secret in
`detail.additionalEventData.SecretId`, its ARN ("AWS CloudTrail entries for Secrets Manager",
Log entries for rotation: https://docs.aws.amazon.com/secretsmanager/latest/userguide/cloudtrail_log_entries.html;
"Match Secrets Manager events with EventBridge"). EventBridge's `prefix` matching ("Content
filtering in Amazon EventBridge event patterns", Prefix matching) lets the rule name the secret
without its random six-character ARN suffix.

The pattern is read from the template, its !Sub filled in as CloudFormation would, and put on
moto_server's EventBridge with a queue as the target (moto cannot deliver to an encrypted topic):
only events about short-cut/<env>/app reach it.
"""

from __future__ import annotations

import json
from typing import Any

import boto3
import pytest

from tests.infra.test_deploy_rules import template
from tests.support.processes import ROOT

ACCOUNT = "123456789012"  # moto's account
REGION = "eu-west-2"
PSEUDO = {"AWS::Partition": "aws", "AWS::Region": REGION, "AWS::AccountId": ACCOUNT}


def secret_arn(name: str, suffix: str = "Xy12Zq") -> str:
    return f"arn:aws:secretsmanager:{REGION}:{ACCOUNT}:secret:{name}-{suffix}"


def render(value: Any, env: str) -> Any:
    """The template's pattern with each Fn::Sub filled in for `env` (pseudo parameters and Environment)."""
    if isinstance(value, dict) and set(value) == {"Fn::Sub"}:
        text = str(value["Fn::Sub"])
        for name, actual in {**PSEUDO, "Environment": env}.items():
            text = text.replace("${" + name + "}", actual)
        assert "${" not in text, text
        return text
    if isinstance(value, dict):
        return {k: render(v, env) for k, v in value.items()}
    if isinstance(value, list):
        return [render(v, env) for v in value]
    return value


def rotation_event(event_name: str, secret_id: str) -> dict[str, str]:
    """A RotationFailed-style event as CloudTrail hands it to EventBridge (only AWS may publish with
    source aws.secretsmanager; moto accepts it from the test)."""
    detail = {
        "eventVersion": "1.08",
        "eventSource": "secretsmanager.amazonaws.com",
        "eventName": event_name,
        "awsRegion": REGION,
        "additionalEventData": {"SecretId": secret_id},
    }
    return {
        "Source": "aws.secretsmanager",
        "DetailType": "AWS Service Event via CloudTrail",
        "Detail": json.dumps(detail),
    }


def delivered(aws: dict[str, str], env: str, entries: list[dict[str, str]]) -> list[str]:
    """The SecretIds of `entries` that the stack's rule (for `env`) passes to its target."""
    events, sqs = boto3.client("events", **aws), boto3.client("sqs", **aws)  # type: ignore[call-overload]
    pattern = render(template(ROOT)["Resources"]["RotationFailedRule"]["Properties"]["EventPattern"], env)
    name = f"rotation-failed-{env}"
    queue = sqs.create_queue(QueueName=name)["QueueUrl"]
    arn = sqs.get_queue_attributes(QueueUrl=queue, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
    events.put_rule(Name=name, EventPattern=json.dumps(pattern), State="ENABLED")
    events.put_targets(Rule=name, Targets=[{"Id": "q", "Arn": arn}])
    assert events.put_events(Entries=entries)["FailedEntryCount"] == 0
    messages = sqs.receive_message(QueueUrl=queue, MaxNumberOfMessages=10, WaitTimeSeconds=1)
    ids = [json.loads(m["Body"])["detail"]["additionalEventData"]["SecretId"] for m in messages.get("Messages", [])]
    return sorted(ids)


def test_the_rule_names_this_stacks_secret_by_arn_prefix() -> None:
    detail = template(ROOT)["Resources"]["RotationFailedRule"]["Properties"]["EventPattern"]["detail"]
    (prefix,) = detail["additionalEventData"]["SecretId"]
    arn = "arn:${AWS::Partition}:secretsmanager:${AWS::Region}:${AWS::AccountId}:secret:short-cut/${Environment}/app-"
    assert prefix == {"prefix": {"Fn::Sub": arn}}


@pytest.mark.parametrize("env", ["prod", "staging"])
def test_only_a_failed_rotation_of_this_stacks_secret_reaches_the_topic(aws: dict[str, str], env: str) -> None:
    ours = secret_arn(f"short-cut/{env}/app")
    other_env = secret_arn("short-cut/qa/app")
    other_secret = secret_arn("payments/prod/db")
    other_account = f"arn:aws:secretsmanager:{REGION}:210987654321:secret:short-cut/{env}/app-Ab12Cd"
    entries = [
        rotation_event("RotationFailed", ours),
        rotation_event("RotationAbandoned", secret_arn(f"short-cut/{env}/app", "Pq34Rs")),
        rotation_event("RotationFailed", other_env),
        rotation_event("RotationFailed", other_secret),
        rotation_event("RotationFailed", other_account),
        rotation_event("RotationSucceeded", ours),
    ]
    assert delivered(aws, env, entries) == sorted([ours, secret_arn(f"short-cut/{env}/app", "Pq34Rs")])


def test_the_rule_matches_only_the_rotation_events_aws_documents() -> None:
    """Issue 28 item 3: "Logging AWS Secrets Manager events with AWS CloudTrail" (Secrets Manager user
    guide) lists RotationStarted, RotationSucceeded, RotationFailed and RotationAbandoned (besides
    the version-deletion events); no AWS text found names TestRotationFailed, so the rule does not
    claim to catch it. The Lambda Errors alarm stays the path that needs no CloudTrail trail."""
    detail = template(ROOT)["Resources"]["RotationFailedRule"]["Properties"]["EventPattern"]["detail"]
    assert detail["eventName"] == ["RotationFailed", "RotationAbandoned"]
    assert "RotationErrorsAlarm" in template(ROOT)["Resources"]
