"""The whole stack deployed on moto's CloudFormation, over HTTP on loopback, as far as moto goes.

The rotation Lambda's code is `make lambda`'s zip (built here into a temporary folder) in an
S3 bucket; the cluster, subnets and security group the stack takes as parameters are made in
moto first (its default VPC has subnets). Every resource moto supports must be CREATE_COMPLETE
and say what the template says; the ones it skips, and the properties it drops, are printed.
"""

from __future__ import annotations

import ast
import base64
import hashlib
import json
import subprocess
from typing import Any

import boto3
import pytest

from src.cli.render import render_all, values_for
from tests.support import cfn
from tests.support.processes import ROOT

STACK = "short-cut-prod"
TEMPLATE = ROOT / "infra/cloudformation/short-cut.yaml"
ACCOUNT = "123456789012"  # moto's account
REGION = "us-east-1"
IMAGE = f"{ACCOUNT}.dkr.ecr.{REGION}.amazonaws.com/short-cut-api:1.0.0"
BUCKET = "short-cut-rotation-code"
# moto 5.2 has no CloudFormation model for these; it logs "No Moto CloudFormation support" and
# goes on. A newer moto that supports one simply shrinks the skipped list.
MOTO_UNSUPPORTED = {
    "AWS::SecretsManager::Secret",
    "AWS::SecretsManager::RotationSchedule",
    "AWS::CloudWatch::Alarm",
    "AWS::Logs::MetricFilter",
    "AWS::SNS::TopicPolicy",
    "AWS::SQS::QueuePolicy",
}
MOTO_UNSUPPORTED |= {"AWS::SQS::QueuePolicy"}  # the secret-events queue's policy (EventRefresh=true)
# Only the stack has the secret-events queue; the console route (the JSON file) polls.
STACK_ONLY_ENVIRONMENT = {"SECRETS_EVENTS_QUEUE_URL"}
# The container fields the stack and infra/ecs/task-definition.json must agree on.
CONTAINER_FIELDS = (
    "name",
    "image",
    "essential",
    "portMappings",
    "environment",
    "readonlyRootFilesystem",
    "user",
    "linuxParameters",
    "mountPoints",
    "healthCheck",
    "stopTimeout",
    "logConfiguration",
)


def client(aws: dict[str, Any], service: str) -> Any:
    return boto3.client(service, **aws)  # type: ignore[call-overload]


@pytest.fixture(scope="module")
def lambda_zip(tmp_path_factory: pytest.TempPathFactory) -> bytes:
    target = tmp_path_factory.mktemp("lambda") / "short-cut-rotation.zip"
    result = subprocess.run(
        ["make", "-s", "lambda", f"LAMBDA_ZIP={target}"],
        cwd=ROOT, capture_output=True, text=True, timeout=120, check=False,
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    return target.read_bytes()


def code_key(zip_bytes: bytes) -> str:
    """The content-addressed key `make lambda` prints."""
    return f"short-cut-rotation-{hashlib.sha256(zip_bytes).hexdigest()}.zip"


@pytest.fixture(scope="module")
def parameters(aws: dict[str, Any], lambda_zip: bytes) -> dict[str, str]:
    s3 = client(aws, "s3")
    s3.create_bucket(Bucket=BUCKET)
    s3.put_object(Bucket=BUCKET, Key=code_key(lambda_zip), Body=lambda_zip)
    client(aws, "ecs").create_cluster(clusterName="short-cut")
    ec2 = client(aws, "ec2")
    vpc = ec2.describe_vpcs(Filters=[{"Name": "isDefault", "Values": ["true"]}])["Vpcs"][0]["VpcId"]
    subnets = [s["SubnetId"] for s in ec2.describe_subnets(Filters=[{"Name": "vpc-id", "Values": [vpc]}])["Subnets"]]
    group = ec2.create_security_group(GroupName="short-cut-tasks", Description="tasks", VpcId=vpc)["GroupId"]
    return {
        "Environment": "prod",
        "ImageUri": IMAGE,
        "ClusterName": "short-cut",
        "Subnets": ",".join(subnets[:2]),
        "SecurityGroups": group,
        "RotationCodeBucket": BUCKET,
        "RotationCodeKey": code_key(lambda_zip),
        "AlarmEmail": "ops@example.com",
        # Given on purpose: until SecretReady=true it must not start a task.
        "DesiredCount": "2",
    }


def as_parameters(values: dict[str, str]) -> list[dict[str, str]]:
    return [{"ParameterKey": k, "ParameterValue": v} for k, v in values.items()]


@pytest.fixture(scope="module")
def stack(aws: dict[str, Any], parameters: dict[str, str]) -> dict[str, dict[str, str]]:
    """The first deploy, as the README runs it; logical id -> resource summary."""
    cloudformation = client(aws, "cloudformation")
    cloudformation.create_stack(
        StackName=STACK,
        TemplateBody=TEMPLATE.read_text(),
        Parameters=as_parameters(parameters),
        Capabilities=["CAPABILITY_NAMED_IAM"],
    )
    cloudformation.get_waiter("stack_create_complete").wait(StackName=STACK, WaiterConfig={"Delay": 1})
    summaries = cloudformation.list_stack_resources(StackName=STACK)["StackResourceSummaries"]
    return {s["LogicalResourceId"]: s for s in summaries if s.get("LogicalResourceId")}


def expected_resources(parameters: dict[str, str]) -> dict[str, str]:
    """The template's resources whose Condition holds for these parameters: logical id -> type."""
    template = cfn.load(TEMPLATE)
    defaults = {k: str(v["Default"]) for k, v in template["Parameters"].items() if "Default" in v}
    conditions = cfn.evaluate_conditions(template, {**defaults, **parameters})
    return {
        name: resource["Type"]
        for name, resource in template["Resources"].items()
        if conditions.get(resource.get("Condition", ""), True)
    }


def policy_document(value: Any) -> Any:
    """moto hands back a stack's inline policy as Python's repr of the dict, not JSON."""
    if not isinstance(value, str):
        return value
    try:
        return json.loads(value)
    except ValueError:
        return ast.literal_eval(value)


def report(capsys: pytest.CaptureFixture[str], title: str, lines: list[str]) -> None:
    with capsys.disabled():
        print(f"\n[moto CloudFormation] {title}:")
        for line in lines or ["(none)"]:
            print(f"  - {line}")


def test_every_resource_moto_supports_is_created(
    stack: dict[str, dict[str, str]], parameters: dict[str, str], capsys: pytest.CaptureFixture[str]
) -> None:
    expected = expected_resources(parameters)
    skipped = {name: kind for name, kind in expected.items() if name not in stack}
    report(capsys, "created", [f"{n} ({s['ResourceType']}): {s['ResourceStatus']}" for n, s in stack.items()])
    report(capsys, "skipped (no moto support)", [f"{n} ({k})" for n, k in skipped.items()])
    assert set(skipped.values()) <= MOTO_UNSUPPORTED, skipped
    assert {n for n, k in expected.items() if k not in MOTO_UNSUPPORTED} <= set(stack)
    assert {s["ResourceStatus"] for s in stack.values()} == {"CREATE_COMPLETE"}
    assert len(stack) >= 9
    # The first deploy makes the Lambda but no schedule: rotation waits for SecretReady=true.
    assert "RotationFunction" in stack and "RotationSchedule" not in expected


def test_the_task_role_is_what_the_json_files_say(
    aws: dict[str, Any], stack: dict[str, dict[str, str]], capsys: pytest.CaptureFixture[str]
) -> None:
    docs = render_all(values_for(account_id=ACCOUNT, region=REGION, env="prod", image=IMAGE))
    iam = client(aws, "iam")
    role = iam.get_role(RoleName="shortcut-ecs-task-role")["Role"]
    assert role["Arn"] == f"arn:aws:iam::{ACCOUNT}:role/shortcut-ecs-task-role"
    assert role["AssumeRolePolicyDocument"] == docs["infra/iam/ecs-task-trust-policy.json"]
    policy = iam.get_role_policy(RoleName="shortcut-ecs-task-role", PolicyName="ShortCutSecretsReadPolicy")
    assert policy_document(policy["PolicyDocument"]) == docs["infra/iam/secrets-read-policy.json"]
    execution = stack["ExecutionRole"]["PhysicalResourceId"]
    attached = iam.list_attached_role_policies(RoleName=execution)["AttachedPolicies"]
    if attached:
        assert [p["PolicyName"] for p in attached] == ["AmazonECSTaskExecutionRolePolicy"]
    else:
        # moto loads no AWS managed policies unless MOTO_IAM_LOAD_MANAGED_POLICIES is set.
        report(
            capsys, "more properties moto drops", ["ExecutionRole.ManagedPolicyArns: AmazonECSTaskExecutionRolePolicy"]
        )


def test_logs_task_definition_and_service(
    aws: dict[str, Any], stack: dict[str, dict[str, str]], capsys: pytest.CaptureFixture[str]
) -> None:
    (group,) = client(aws, "logs").describe_log_groups(logGroupNamePrefix="/ecs/short-cut-api")["logGroups"]
    assert group["retentionInDays"] == 90

    ecs = client(aws, "ecs")
    definition = ecs.describe_task_definition(taskDefinition=stack["TaskDefinition"]["PhysicalResourceId"])
    task = definition["taskDefinition"]
    docs = render_all(values_for(account_id=ACCOUNT, region=REGION, env="prod", image=IMAGE))
    json_task = docs["infra/ecs/task-definition.json"]
    (container,) = task["containerDefinitions"]
    (json_container,) = json_task["containerDefinitions"]
    container = {
        **container,
        # moto leaves an !If's AWS::NoValue list element as None; CloudFormation drops it.
        "environment": [
            e for e in container["environment"] if e is not None and e["name"] not in STACK_ONLY_ENVIRONMENT
        ],
    }
    for field in CONTAINER_FIELDS:
        assert container.get(field) == json_container.get(field), field
    assert task["family"] == json_task["family"] == "short-cut-api"
    assert task["volumes"] == json_task["volumes"] == [{"name": "tmp"}]
    assert task["memory"] == json_task["memory"]

    (service,) = ecs.describe_services(cluster="short-cut", services=[stack["Service"]["PhysicalResourceId"]])[
        "services"
    ]
    assert service["serviceName"] != "short-cut-api"  # generated: a replacing update cannot collide
    assert service["status"] == "ACTIVE"
    assert service["desiredCount"] == 0
    assert service["taskDefinition"] == task["taskDefinitionArn"]
    assert not service.get("healthCheckGracePeriodSeconds")

    dropped = [
        f"TaskDefinition.{name}: template {expected!r}, moto {actual!r}"
        for name, expected, actual in [
            ("NetworkMode", json_task["networkMode"], task.get("networkMode")),
            ("RequiresCompatibilities", json_task["requiresCompatibilities"], task.get("requiresCompatibilities")),
            ("Cpu", json_task["cpu"], task.get("cpu")),
            ("TaskRoleArn", "(the TaskRole)", task.get("taskRoleArn")),
            ("ExecutionRoleArn", "(the ExecutionRole)", task.get("executionRoleArn")),
            ("RuntimePlatform", json_task["runtimePlatform"], task.get("runtimePlatform")),
        ]
        if actual in (None, [], "bridge")
    ]
    dropped += [
        f"Service.{name}: template {expected!r}, moto {actual!r}"
        for name, expected, actual in [
            ("LaunchType", "FARGATE", service.get("launchType")),
            ("NetworkConfiguration", "awsvpc, private subnets", service.get("networkConfiguration") or None),
            ("DeploymentConfiguration", "circuit breaker with rollback", service.get("deploymentConfiguration")),
        ]
        if actual != expected
    ]
    report(capsys, "properties moto drops (not checked here)", dropped)


def test_rotation_function_holds_make_lambdas_zip(
    aws: dict[str, Any], stack: dict[str, dict[str, str]], lambda_zip: bytes, capsys: pytest.CaptureFixture[str]
) -> None:
    functions = client(aws, "lambda")
    configuration = functions.get_function(FunctionName="shortcut-secret-rotation")["Configuration"]
    assert configuration["Handler"] == "src.rotation.lambda_function.lambda_handler"
    assert configuration["Runtime"] == "python3.12"
    assert (configuration["Timeout"], configuration["MemorySize"]) == (30, 256)
    assert configuration["CodeSize"] == len(lambda_zip)
    assert configuration["CodeSha256"] == base64.b64encode(hashlib.sha256(lambda_zip).digest()).decode()
    role = stack["RotationRole"]["PhysicalResourceId"]
    assert configuration["Role"].endswith(f":role/{role}")

    policy = client(aws, "iam").get_role_policy(RoleName=role, PolicyName="ShortCutSecretRotationPolicy")
    statements = {s["Sid"]: s for s in policy_document(policy["PolicyDocument"])["Statement"]}
    assert statements["WriteXRayTraces"]["Action"] == ["xray:PutTraceSegments", "xray:PutTelemetryRecords"]
    assert statements["WriteXRayTraces"]["Resource"] == "*"

    (permission,) = json.loads(functions.get_policy(FunctionName="shortcut-secret-rotation")["Policy"])["Statement"]
    assert permission["Principal"] == {"Service": "secretsmanager.amazonaws.com"}
    assert permission["Action"] == "lambda:InvokeFunction"

    dropped = []
    if configuration.get("TracingConfig", {}).get("Mode") != "Active":
        dropped.append(f"RotationFunction.TracingConfig: template Active, moto {configuration.get('TracingConfig')}")
    if "Resource" not in statements["RotateShortCutAppSecret"]:
        dropped.append("RotationRole RotateShortCutAppSecret.Resource: !Ref AppSecret (skipped) resolves to nothing")
    if "ArnLike" not in permission.get("Condition", {}):
        dropped.append("RotationPermission.SourceArn: !Ref AppSecret (skipped) resolves to nothing")
    report(capsys, "more properties moto drops", dropped)


def test_alarm_topic(aws: dict[str, Any], stack: dict[str, dict[str, str]], capsys: pytest.CaptureFixture[str]) -> None:
    sns = client(aws, "sns")
    topic = stack["AlarmTopic"]["PhysicalResourceId"]
    # The stack's own key, not alias/aws/sns (which CloudWatch cannot use). moto 5.2 stores a
    # stack-made key's policy as a dict, and its DescribeKey/GetKeyPolicy then fail with a 500:
    # the policy is checked on the template (test_traps) and by `audit --aws` (test_live).
    key = sns.get_topic_attributes(TopicArn=topic)["Attributes"]["KmsMasterKeyId"]
    assert key == stack["AlarmTopicKey"]["PhysicalResourceId"]
    report(capsys, "more properties moto drops", ["AlarmTopicKey.KeyPolicy: DescribeKey and GetKeyPolicy answer 500"])
    subscriptions = sns.list_subscriptions_by_topic(TopicArn=topic)["Subscriptions"]
    if subscriptions:
        assert [(s["Protocol"], s["Endpoint"]) for s in subscriptions] == [("email", "ops@example.com")]
    else:
        report(capsys, "more properties moto drops", ["AlarmTopic.Subscription: the email subscription"])


def update(aws: dict[str, Any], values: dict[str, str]) -> None:
    cloudformation = client(aws, "cloudformation")
    cloudformation.update_stack(
        StackName=STACK,
        TemplateBody=TEMPLATE.read_text(),
        Parameters=as_parameters(values),
        Capabilities=["CAPABILITY_NAMED_IAM"],
    )
    cloudformation.get_waiter("stack_update_complete").wait(StackName=STACK, WaiterConfig={"Delay": 1})


def test_secret_ready_scales_the_service_then_rotation_is_its_own_update(
    aws: dict[str, Any],
    stack: dict[str, dict[str, str]],
    parameters: dict[str, str],
    capsys: pytest.CaptureFixture[str],
) -> None:
    """README step 3 scales up; step 4 (RotationEnabled=true) adds the schedule (issue 24 item 8)."""
    # moto re-evaluates a resource only when a parameter it names directly changes
    # (build_resource_diff), not through a Condition: DesiredCount changes with SecretReady here.
    ready = {**parameters, "SecretReady": "true", "DesiredCount": "3"}
    update(aws, ready)
    (service,) = client(aws, "ecs").describe_services(
        cluster="short-cut", services=[stack["Service"]["PhysicalResourceId"]]
    )["services"]
    assert service["desiredCount"] == 3
    assert "RotationSchedule" not in expected_resources(ready)
    rotating = {**ready, "RotationEnabled": "true"}
    update(aws, rotating)
    expected = expected_resources(rotating)
    assert expected["RotationSchedule"] == "AWS::SecretsManager::RotationSchedule"
    summaries = client(aws, "cloudformation").list_stack_resources(StackName=STACK)["StackResourceSummaries"]
    present = {s["LogicalResourceId"] for s in summaries if s.get("LogicalResourceId")}
    report(
        capsys, "skipped after RotationEnabled=true", [f"{n} ({k})" for n, k in expected.items() if n not in present]
    )
