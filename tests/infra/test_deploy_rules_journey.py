"""Deployment rules of the optional load balancer and the secret-events path (issues 21 and 22).

Each rule holds for the repository's stack, resolved for both values of its parameter the way
CloudFormation resolves it (Fn::If taken, Ref AWS::NoValue removed), and is shown to fail on
a broken copy. Each cites the AWS document or public issue it comes from.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from src.cli.audit import grace_period_problems
from tests.support import cfn, iam
from tests.support.processes import ROOT

STACK = ROOT / "infra/cloudformation/short-cut.yaml"
ACCOUNT = "111122223333"
REGION = "us-east-1"
NO_VALUE = {"Ref": "AWS::NoValue"}
REQUIRED = {
    "Environment": "prod",
    "ImageUri": "registry.invalid/short-cut-api:1.0.0",
    "ClusterName": "short-cut",
    "Subnets": "subnet-0aaaaaaaaaaaaaaaa,subnet-0bbbbbbbbbbbbbbbb",
    "SecurityGroups": "sg-0cccccccccccccccc",
}
WITHOUT = {"LoadBalancer": "none", "EventRefresh": "false"}
WITH = {
    "LoadBalancer": "internet-facing",
    "VpcId": "vpc-0dddddddddddddddd",
    "CertificateArn": f"arn:aws:acm:{REGION}:{ACCOUNT}:certificate/11111111-2222-3333-4444-555555555555",
    "LoadBalancerIngressCidr": "0.0.0.0/0",
    "LoadBalancerSubnets": "subnet-0eeeeeeeeeeeeeeee,subnet-0ffffffffffffffff",
    "EventRefresh": "true",
}
LB_RESOURCES = {
    "LoadBalancerSecurityGroup",
    "TaskSecurityGroup",
    "TaskIngressFromLoadBalancer",
    "LoadBalancerResource",
    "TargetGroup",
    "HttpsListener",
    "HttpRedirectListener",
}
EVENT_RESOURCES = {"SecretEventsQueue", "SecretEventsRule", "SecretEventsQueuePolicy", "TaskRoleSecretEventsPolicy"}


def strip_no_value(value: Any) -> Any:
    """What CloudFormation does with Ref AWS::NoValue: the property or list element is not there."""
    if isinstance(value, dict):
        return {k: strip_no_value(v) for k, v in value.items() if v != NO_VALUE}
    if isinstance(value, list):
        return [strip_no_value(v) for v in value if v != NO_VALUE]
    return value


def deployed(template: dict[str, Any], overrides: dict[str, str]) -> dict[str, dict[str, Any]]:
    """The resources created for these parameters, with their properties resolved."""
    defaults = {k: str(v["Default"]) for k, v in template["Parameters"].items() if "Default" in v}
    params = {**defaults, **REQUIRED, **overrides, "AWS::AccountId": ACCOUNT, "AWS::Region": REGION}
    params["AWS::Partition"] = "aws"
    conditions = cfn.evaluate_conditions(template, params)
    # A list parameter is a list once resolved (Subnets, LoadBalancerSubnets).
    lists = {
        k: v
        for k, v in params.items()
        if template["Parameters"].get(k, {}).get("Type", "").startswith(("List", "Comma"))
    }
    scalars = {k: v for k, v in params.items() if k not in lists}
    out = {}
    for name, resource in template["Resources"].items():
        if not conditions.get(resource.get("Condition", ""), True):
            continue
        resolved = strip_no_value(cfn.resolve(resource, scalars, conditions))
        text = json.dumps(resolved)
        for key, value in lists.items():
            text = text.replace(json.dumps({"Ref": key}), json.dumps(value.split(",") if value else []))
        out[name] = json.loads(text)
    return out


def stack_text() -> str:
    return STACK.read_text(encoding="utf-8")


def broken(tmp_path: Path, old: str, new: str) -> dict[str, Any]:
    text = stack_text()
    assert text.count(old) == 1, old
    copy = tmp_path / "short-cut.yaml"
    copy.write_text(text.replace(old, new), encoding="utf-8")
    return cfn.load(copy)


@pytest.fixture(scope="module")
def template() -> dict[str, Any]:
    return cfn.load(STACK)


# --- Without the parameters the stack stays as it was -----------------------------------


def test_without_a_load_balancer_or_events_nothing_new_is_created(template: dict[str, Any]) -> None:
    resources = deployed(template, WITHOUT)
    assert not (LB_RESOURCES | EVENT_RESOURCES) & set(resources)
    service = resources["Service"]["Properties"]
    assert "LoadBalancers" not in service and "HealthCheckGracePeriodSeconds" not in service
    assert service["NetworkConfiguration"]["AwsvpcConfiguration"]["SecurityGroups"] == [REQUIRED["SecurityGroups"]]
    (container,) = resources["TaskDefinition"]["Properties"]["ContainerDefinitions"]
    assert "SECRETS_EVENTS_QUEUE_URL" not in {e["Name"] for e in container["Environment"]}


def test_with_them_every_new_resource_is_created(template: dict[str, Any]) -> None:
    assert set(deployed(template, WITH)) >= (LB_RESOURCES | EVENT_RESOURCES)
    # The default is the event path on and no load balancer.
    defaults = deployed(template, {})
    assert set(defaults) >= EVENT_RESOURCES and not LB_RESOURCES & set(defaults)


# --- HealthCheckGracePeriodSeconds only with a load balancer ------------------------------
# Only with the load balancer, by design (issue 21). The current ECS API (CreateService,
# healthCheckGracePeriodSeconds) says the grace period is "the period of time ... that the Amazon
# ECS service scheduler ignores unhealthy Elastic Load Balancing, VPC Lattice, and container health
# checks after a task has first started" and that it is unused when none of those checks is used.
# Older releases refused it without a load balancer ("Health check grace period is only valid for
# services configured to use load balancers": cfn-lint #3612, terraform-provider-aws #31104); the
# stack sets it only where it does something.


@pytest.mark.parametrize(("overrides", "expected"), [(WITHOUT, None), (WITH, 60)], ids=["none", "alb"])
def test_grace_period_exactly_when_there_is_a_load_balancer(
    template: dict[str, Any], overrides: dict[str, str], expected: int | None
) -> None:
    service = deployed(template, overrides)["Service"]["Properties"]
    assert service.get("HealthCheckGracePeriodSeconds") == expected
    assert bool(service.get("LoadBalancers")) is (expected is not None)
    assert grace_period_problems({"Resources": {"Service": {"Type": "AWS::ECS::Service", "Properties": service}}}) == []
    assert grace_period_problems(template) == []


def test_grace_period_rule_fails_when_the_grace_period_is_unconditional(tmp_path: Path) -> None:
    copy = broken(
        tmp_path,
        "HealthCheckGracePeriodSeconds: !If [WithLoadBalancer, 60, !Ref AWS::NoValue]",
        "HealthCheckGracePeriodSeconds: 60",
    )
    assert grace_period_problems(copy) == ["Service: HealthCheckGracePeriodSeconds without LoadBalancers"]
    service = deployed(copy, WITHOUT)["Service"]["Properties"]
    assert "HealthCheckGracePeriodSeconds" in service and "LoadBalancers" not in service


# --- The service is created after the listener -------------------------------------------
# CreateService refuses a target group no listener forwards to yet: "The target group with
# targetGroupArn ... does not have an associated load balancer" (aws/aws-cdk#1160,
# aws-samples/ecs-refarch-cloudformation#5); DependsOn may not name a resource whose condition
# is false (cfn-lint E3005), so a Ref in the service's tags orders it.


def references(value: Any) -> set[str]:
    text = json.dumps(value)
    return {name for name in LB_RESOURCES | EVENT_RESOURCES if json.dumps({"Ref": name}) in text}


def test_the_service_waits_for_the_listener(template: dict[str, Any]) -> None:
    assert "HttpsListener" in references(deployed(template, WITH)["Service"])
    assert references(deployed(template, WITHOUT)["Service"]) == set()


def test_listener_order_rule_fails_on_a_broken_copy(tmp_path: Path) -> None:
    copy = broken(tmp_path, "!If [WithLoadBalancer, !Ref HttpsListener, none]", "none")
    assert "HttpsListener" not in references(deployed(copy, WITH)["Service"])


# --- The target group and listeners --------------------------------------------------------
# awsvpc tasks register by IP: "you must choose ip as the target type" ("Use an Application
# Load Balancer for Amazon ECS"). The health check is the readiness route /health (200 ok or
# degraded, 503 unavailable); its port is the container's.


def test_target_group_probes_health_on_the_container_port(template: dict[str, Any]) -> None:
    resources = deployed(template, WITH)
    group = resources["TargetGroup"]["Properties"]
    (container,) = resources["TaskDefinition"]["Properties"]["ContainerDefinitions"]
    (mapping,) = container["PortMappings"]
    (attachment,) = resources["Service"]["Properties"]["LoadBalancers"]
    assert group["TargetType"] == "ip"
    assert group["HealthCheckPath"] == "/health" and group["Matcher"] == {"HttpCode": "200"}
    assert group["Port"] == mapping["ContainerPort"] == attachment["ContainerPort"] == 8000
    assert attachment["ContainerName"] == container["Name"]
    assert attachment["TargetGroupArn"] == {"Ref": "TargetGroup"}


def test_https_forwards_and_http_only_redirects(template: dict[str, Any]) -> None:
    resources = deployed(template, WITH)
    https = resources["HttpsListener"]["Properties"]
    http = resources["HttpRedirectListener"]["Properties"]
    assert (https["Protocol"], https["Port"]) == ("HTTPS", 443)
    assert https["Certificates"] == [{"CertificateArn": WITH["CertificateArn"]}]
    assert https["DefaultActions"] == [{"Type": "forward", "TargetGroupArn": {"Ref": "TargetGroup"}}]
    assert (http["Protocol"], http["Port"]) == ("HTTP", 80)
    (action,) = http["DefaultActions"]
    assert action["Type"] == "redirect" and action["RedirectConfig"]["Protocol"] == "HTTPS"
    assert resources["LoadBalancerResource"]["Properties"]["Scheme"] == "internet-facing"
    internal = deployed(template, {**WITH, "LoadBalancer": "internal"})
    assert internal["LoadBalancerResource"]["Properties"]["Scheme"] == "internal"


# --- Only the load balancer reaches port 8000 ----------------------------------------------
# An inline SecurityGroupEgress replaces the default allow-all egress rule; a separate
# AWS::EC2::SecurityGroupEgress would not ("AWS::EC2::SecurityGroup", SecurityGroupEgress).


def ingress_rules(resources: dict[str, dict[str, Any]], group: str) -> list[dict[str, Any]]:
    inline = resources[group]["Properties"].get("SecurityGroupIngress", [])
    separate = [
        r["Properties"]
        for r in resources.values()
        if r["Type"] == "AWS::EC2::SecurityGroupIngress" and r["Properties"]["GroupId"] == {"Ref": group}
    ]
    return [*inline, *separate]


def port_8000_sources(resources: dict[str, dict[str, Any]]) -> list[Any]:
    return [
        r.get("SourceSecurityGroupId") or r.get("CidrIp")
        for r in ingress_rules(resources, "TaskSecurityGroup")
        if r["FromPort"] <= 8000 <= r["ToPort"]
    ]


def test_only_the_load_balancer_reaches_the_tasks(template: dict[str, Any]) -> None:
    resources = deployed(template, WITH)
    assert port_8000_sources(resources) == [{"Ref": "LoadBalancerSecurityGroup"}]
    assert ingress_rules(resources, "TaskSecurityGroup") == [
        r for r in ingress_rules(resources, "TaskSecurityGroup") if r.get("SourceSecurityGroupId")
    ]
    groups = resources["Service"]["Properties"]["NetworkConfiguration"]["AwsvpcConfiguration"]["SecurityGroups"]
    assert json.dumps({"Ref": "TaskSecurityGroup"}) in json.dumps(groups)
    balancer = resources["LoadBalancerSecurityGroup"]["Properties"]
    assert {(r["FromPort"], r["CidrIp"]) for r in balancer["SecurityGroupIngress"]} == {
        (443, WITH["LoadBalancerIngressCidr"]),
        (80, WITH["LoadBalancerIngressCidr"]),
    }
    assert balancer["SecurityGroupEgress"] == [
        {
            "Description": "Requests and health checks to the tasks",
            "IpProtocol": "tcp",
            "FromPort": 8000,
            "ToPort": 8000,
            "DestinationSecurityGroupId": {"Ref": "TaskSecurityGroup"},
        }
    ]


def test_ingress_rule_fails_on_a_broken_copy(tmp_path: Path) -> None:
    copy = broken(
        tmp_path, "      SourceSecurityGroupId: !Ref LoadBalancerSecurityGroup\n", "      CidrIp: 10.0.0.0/8\n"
    )
    assert port_8000_sources(deployed(copy, WITH)) == ["10.0.0.0/8"]


# --- The event rule matches only this service's secret, only AWSCURRENT -------------------
# "Secret Label Updated event" (Secrets Manager user guide, event-detail-secret-label-updated):
# source aws.secretsmanager, detail-type "Secret Label Updated", detail {name, labelUpdated,
# versionId}; sent for every label except AWSPENDING and AWSPREVIOUS, custom labels included
# (secret-event-notifications), so labelUpdated must be matched.


def service_secret_names(resources: dict[str, dict[str, Any]]) -> list[str]:
    (container,) = resources["TaskDefinition"]["Properties"]["ContainerDefinitions"]
    (value,) = [e["Value"] for e in container["Environment"] if e["Name"] == "SECRET_NAME"]
    return str(value).split(",")


def pattern_problems(resources: dict[str, dict[str, Any]]) -> list[str]:
    pattern = resources["SecretEventsRule"]["Properties"]["EventPattern"]
    problems = []
    if pattern.get("source") != ["aws.secretsmanager"] or pattern.get("detail-type") != ["Secret Label Updated"]:
        problems.append("not Secrets Manager's Secret Label Updated event")
    if pattern.get("account") != [ACCOUNT]:
        problems.append("not limited to this account")
    detail = pattern.get("detail", {})
    if detail.get("name") != service_secret_names(resources):
        problems.append(f"names {detail.get('name')!r}, not exactly the service's secrets")
    if detail.get("labelUpdated") != ["AWSCURRENT"]:
        problems.append(f"labelUpdated {detail.get('labelUpdated')!r}, not only AWSCURRENT")
    return problems


def test_the_rule_matches_only_the_services_secret_and_awscurrent(template: dict[str, Any]) -> None:
    resources = deployed(template, WITH)
    assert pattern_problems(resources) == []
    assert service_secret_names(resources) == ["short-cut/prod/app"]
    staging = deployed(template, {**WITH, "Environment": "staging"})
    assert staging["SecretEventsRule"]["Properties"]["EventPattern"]["detail"]["name"] == ["short-cut/staging/app"]
    (target,) = resources["SecretEventsRule"]["Properties"]["Targets"]
    assert target["Arn"] == {"Fn::GetAtt": ["SecretEventsQueue", "Arn"]} and "RoleArn" not in target


@pytest.mark.parametrize(
    ("old", "new", "problem"),
    [
        ('name: [!Sub "short-cut/${Environment}/app"]', "name: [{prefix: short-cut/}]", "not exactly"),
        ("          labelUpdated: [AWSCURRENT]\n", "", "not only AWSCURRENT"),
        ("labelUpdated: [AWSCURRENT]", "labelUpdated: [AWSCURRENT, AWSPREVIOUS]", "not only AWSCURRENT"),
        ("        account: [!Ref AWS::AccountId]\n", "", "account"),
    ],
    ids=["prefix", "any-label", "two-labels", "any-account"],
)
def test_rule_scope_fails_on_a_broken_copy(tmp_path: Path, old: str, new: str, problem: str) -> None:
    problems = pattern_problems(deployed(broken(tmp_path, old, new), WITH))
    assert any(problem in p for p in problems), problems


# --- The queue: fan-out by never hiding a message, short retention, encrypted --------------
# SQS: VisibilityTimeout 0-43200 s, MessageRetentionPeriod 60-1209600 s, ReceiveMessageWaitTimeSeconds
# 0-20 s ("CreateQueue", SQS API reference); SqsManagedSseEnabled is SSE-SQS.


def test_queue_keeps_each_message_visible_to_every_task_for_a_minute(template: dict[str, Any]) -> None:
    queue = deployed(template, WITH)["SecretEventsQueue"]["Properties"]
    assert queue["VisibilityTimeout"] == 0
    assert queue["MessageRetentionPeriod"] == 60
    assert queue["ReceiveMessageWaitTimeSeconds"] == 20
    assert queue["SqsManagedSseEnabled"] is True


# --- Only the rule may send to the queue --------------------------------------------------
# EventBridge delivers to SQS under the queue's resource policy, principal events.amazonaws.com,
# with aws:SourceArn the rule's ARN against the confused deputy; no RoleArn on the target
# ("Using resource-based policies for Amazon EventBridge", Amazon SQS permissions).


def queue_policy_problems(resources: dict[str, dict[str, Any]]) -> list[str]:
    properties = resources["SecretEventsQueuePolicy"]["Properties"]
    problems = []
    if properties["Queues"] != [{"Ref": "SecretEventsQueue"}]:
        problems.append("not this queue's policy")
    for statement in properties["PolicyDocument"]["Statement"]:
        if statement["Effect"] != "Allow":
            continue
        if statement.get("Principal") != {"Service": "events.amazonaws.com"}:
            problems.append(f"allows {statement.get('Principal')!r}")
        if statement.get("Action") != "sqs:SendMessage":
            problems.append(f"allows {statement.get('Action')!r}")
        if statement.get("Resource") != {"Fn::GetAtt": ["SecretEventsQueue", "Arn"]}:
            problems.append("not limited to the queue")
        source = statement.get("Condition", {}).get("ArnEquals", {}).get("aws:SourceArn")
        if source != {"Fn::GetAtt": ["SecretEventsRule", "Arn"]}:
            problems.append("any rule may send (no aws:SourceArn of this rule)")
    return problems


def test_only_the_rule_may_send_to_the_queue(template: dict[str, Any]) -> None:
    assert queue_policy_problems(deployed(template, WITH)) == []


@pytest.mark.parametrize(
    ("old", "new", "problem"),
    [
        (
            "              ArnEquals:\n                aws:SourceArn: !GetAtt SecretEventsRule.Arn\n",
            "              ArnEquals:\n                aws:SourceAccount: !Ref AWS::AccountId\n",
            "any rule",
        ),
        ("            Action: sqs:SendMessage\n", "            Action: sqs:*\n", "allows 'sqs:*'"),
    ],
    ids=["no-source-arn", "all-actions"],
)
def test_queue_policy_rule_fails_on_a_broken_copy(tmp_path: Path, old: str, new: str, problem: str) -> None:
    problems = queue_policy_problems(deployed(broken(tmp_path, old, new), WITH))
    assert any(problem in p for p in problems), problems


# --- Nobody but the rule may send, whatever their identity policy says ----------------------
# Within one account a request is allowed when either the identity-based or the resource-based
# policy allows it, and an explicit Deny in any policy overrides every Allow (IAM user guide,
# "Policy evaluation for requests within a single account"): the queue policy's Allow for the rule
# alone leaves sqs:SendMessage open to any principal of the account whose identity policy allows it
# (an admin role, a CI user with sqs:*), and ten junk messages blind the event path
# (src/events/source.py). So the policy denies SendMessage unless aws:SourceArn is the rule's ARN.
# A direct call carries no aws:SourceArn; "If the key that you specify in a policy condition is not
# present in the request context, the values do not match", except that a negated operator
# (ArnNotLike, ArnNotEquals, ...) is then true ("IAM JSON policy elements: Condition operators"),
# so the Deny applies; ...IfExists would turn that around. EventBridge sends to an SQS target as
# events.amazonaws.com with aws:SourceArn the rule's ARN ("Amazon SQS permissions", EventBridge).

QUEUE_ARN = f"arn:aws:sqs:{REGION}:{ACCOUNT}:short-cut-prod-SecretEventsQueue-ABC123"
RULE_ARN = f"arn:aws:events:{REGION}:{ACCOUNT}:rule/short-cut-prod-secret-events"
OTHER_RULE_ARN = f"arn:aws:events:{REGION}:{ACCOUNT}:rule/someone-elses-rule"
ADMIN_ROLE = f"arn:aws:iam::{ACCOUNT}:role/admin"


def _condition_holds(condition: dict[str, Any], context: dict[str, str]) -> bool:
    """The ARN operators this policy may use, with IAM's absent-key rule; any other operator fails the test."""
    for operator, keys in condition.items():
        for key, wanted in keys.items():
            values = wanted if isinstance(wanted, list) else [wanted]
            present = key in context
            if operator == "ArnEquals":
                holds = present and context[key] in values
            elif operator == "ArnNotEquals":
                holds = not present or context[key] not in values
            elif operator == "ArnNotEqualsIfExists":
                holds = present and context[key] not in values
            else:
                raise AssertionError(f"the test's evaluator does not know {operator}: extend it from the IAM docs")
            if not holds:
                return False
    return True


def _principal_matches(principal: Any, caller: str) -> bool:
    if principal == "*" or principal == {"AWS": "*"}:
        return True
    if isinstance(principal, dict):
        named = [v for value in principal.values() for v in (value if isinstance(value, list) else [value])]
        return caller in named
    return False


def may_send(resources: dict[str, dict[str, Any]], caller: str, context: dict[str, str], *, identity: bool) -> bool:
    """Whether `caller` may sqs:SendMessage to the queue: the queue policy, plus the caller's identity
    policy (`identity`: it allows sqs:SendMessage), under the single-account evaluation logic."""
    text = json.dumps(resources["SecretEventsQueuePolicy"]["Properties"]["PolicyDocument"])
    text = text.replace(json.dumps({"Fn::GetAtt": ["SecretEventsQueue", "Arn"]}), json.dumps(QUEUE_ARN))
    text = text.replace(json.dumps({"Fn::GetAtt": ["SecretEventsRule", "Arn"]}), json.dumps(RULE_ARN))
    statements = json.loads(text)["Statement"]

    def applies(statement: dict[str, Any]) -> bool:
        actions = statement["Action"] if isinstance(statement["Action"], list) else [statement["Action"]]
        resource = statement["Resource"] if isinstance(statement["Resource"], list) else [statement["Resource"]]
        return (
            any(a.lower() in ("sqs:sendmessage", "sqs:*", "*") for a in actions)
            and QUEUE_ARN in resource
            and _principal_matches(statement.get("Principal"), caller)
            and _condition_holds(statement.get("Condition", {}), context)
        )

    if any(s["Effect"] == "Deny" and applies(s) for s in statements):
        return False
    return identity or any(s["Effect"] == "Allow" and applies(s) for s in statements)


def queue_sender_problems(resources: dict[str, dict[str, Any]]) -> list[str]:
    problems = []
    if not may_send(resources, "events.amazonaws.com", {"aws:SourceArn": RULE_ARN}, identity=False):
        problems.append("the stack's own rule cannot deliver")
    if may_send(resources, "events.amazonaws.com", {"aws:SourceArn": OTHER_RULE_ARN}, identity=False):
        problems.append("another rule may send")
    if may_send(resources, ADMIN_ROLE, {}, identity=True):
        problems.append("a principal of the account with sqs:SendMessage in its identity policy may send")
    return problems


def test_nobody_but_the_rule_may_send_whatever_their_identity_policy(template: dict[str, Any]) -> None:
    assert queue_sender_problems(deployed(template, WITH)) == []


@pytest.mark.parametrize(
    ("old", "new", "problem"),
    [
        ("            Effect: Deny\n", "            Effect: Allow\n", "identity policy may send"),  # no Deny at all
        ("              ArnNotEquals:\n", "              ArnNotEqualsIfExists:\n", "identity policy may send"),
        (
            "              ArnNotEquals:\n                aws:SourceArn: !GetAtt SecretEventsRule.Arn\n",
            "              ArnNotEquals:\n                aws:SourceArn: !Sub arn:aws:events:x\n",
            "own rule cannot deliver",
        ),
    ],
    ids=["allow-only", "if-exists", "deny-blocks-the-rule"],
)
def test_queue_sender_rule_fails_on_a_broken_copy(tmp_path: Path, old: str, new: str, problem: str) -> None:
    problems = queue_sender_problems(deployed(broken(tmp_path, old, new), WITH))
    assert any(problem in p for p in problems), problems


# --- The task role reads only its own queue and never deletes or sends ---------------------


def task_role_sqs_statements(resources: dict[str, dict[str, Any]]) -> list[dict[str, Any]]:
    documents = [p["PolicyDocument"] for p in resources["TaskRole"]["Properties"].get("Policies", [])]
    documents += [
        r["Properties"]["PolicyDocument"]
        for r in resources.values()
        if r["Type"] == "AWS::IAM::Policy" and {"Ref": "TaskRole"} in r["Properties"]["Roles"]
    ]
    return [s for d in documents for s in d["Statement"] if "sqs:" in json.dumps(s.get("Action")).lower()]


def task_role_sqs_problems(resources: dict[str, dict[str, Any]]) -> list[str]:
    queue_arn = f"arn:aws:sqs:{REGION}:{ACCOUNT}:short-cut-prod-SecretEventsQueue-ABC123"
    other = f"arn:aws:sqs:{REGION}:{ACCOUNT}:someone-elses-queue"
    statements = task_role_sqs_statements(resources)
    text = json.dumps(statements).replace(
        json.dumps({"Fn::GetAtt": ["SecretEventsQueue", "Arn"]}), json.dumps(queue_arn)
    )
    policy = {"Statement": json.loads(text)}
    problems = []
    if not iam.allowed(policy, "sqs:ReceiveMessage", queue_arn):
        problems.append("may not receive from its own queue")
    for action in ("sqs:ReceiveMessage", "sqs:DeleteMessage", "sqs:SendMessage", "sqs:PurgeQueue"):
        if iam.allowed(policy, action, other):
            problems.append(f"{action} on another queue")
    for action in ("sqs:DeleteMessage", "sqs:SendMessage", "sqs:PurgeQueue", "sqs:SetQueueAttributes"):
        if iam.allowed(policy, action, queue_arn):
            problems.append(f"{action} on its own queue (fan-out needs every task to see every message)")
    return problems


def test_the_task_role_may_only_receive_from_its_own_queue(template: dict[str, Any]) -> None:
    assert task_role_sqs_problems(deployed(template, WITH)) == []
    assert task_role_sqs_statements(deployed(template, WITHOUT)) == []


@pytest.mark.parametrize(
    ("old", "new", "problem"),
    [
        ("            Action: sqs:ReceiveMessage\n            Resource: !GetAtt SecretEventsQueue.Arn\n",
         "            Action: sqs:ReceiveMessage\n            Resource: \"*\"\n", "another queue"),
        ("            Action: sqs:ReceiveMessage\n",
         "            Action: [sqs:ReceiveMessage, sqs:DeleteMessage]\n", "DeleteMessage"),
    ],
    ids=["any-queue", "may-delete"],
)  # fmt: skip
def test_task_role_rule_fails_on_a_broken_copy(tmp_path: Path, old: str, new: str, problem: str) -> None:
    problems = task_role_sqs_problems(deployed(broken(tmp_path, old, new), WITH))
    assert any(problem in p for p in problems), problems


# --- The task learns its queue ----------------------------------------------------------


def test_the_task_is_given_its_queue_only_with_the_event_path(template: dict[str, Any]) -> None:
    def queue_variable(overrides: dict[str, str]) -> list[Any]:
        (container,) = deployed(template, overrides)["TaskDefinition"]["Properties"]["ContainerDefinitions"]
        return [e["Value"] for e in container["Environment"] if e["Name"] == "SECRETS_EVENTS_QUEUE_URL"]

    assert queue_variable(WITH) == [{"Ref": "SecretEventsQueue"}]  # Ref of a queue is its URL
    assert queue_variable(WITHOUT) == []
