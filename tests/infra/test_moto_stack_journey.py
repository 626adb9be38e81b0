"""The optional load balancer, the secret-events path and the ECR stack, deployed on moto's
CloudFormation over HTTP on loopback, both ways (issues 21 and 22).

One stack with everything on (LoadBalancer=internet-facing, EventRefresh=true, production)
and one with both off (staging, so the two never share a name) in one moto_server. moto
skips AWS::SQS::QueuePolicy and drops the service's LoadBalancers and grace period; those
are checked on the template by tests/infra/test_deploy_rules_journey.py, and listed here.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import boto3
import pytest
from botocore.exceptions import ClientError

from tests.support.processes import ROOT

TEMPLATE = ROOT / "infra/cloudformation/short-cut.yaml"
ECR_TEMPLATE = ROOT / "infra/cloudformation/ecr.yaml"
ACCOUNT = "123456789012"  # moto's account
REGION = "us-east-1"
IMAGE = f"{ACCOUNT}.dkr.ecr.{REGION}.amazonaws.com/short-cut-api:0123abc"
CIDR = "203.0.113.0/24"
LB_TYPES = {
    "AWS::EC2::SecurityGroup",
    "AWS::EC2::SecurityGroupIngress",
    "AWS::ElasticLoadBalancingV2::LoadBalancer",
    "AWS::ElasticLoadBalancingV2::TargetGroup",
    "AWS::ElasticLoadBalancingV2::Listener",
}
EVENT_TYPES = {"AWS::SQS::Queue", "AWS::Events::Rule", "AWS::IAM::Policy"}


def client(aws: dict[str, Any], service: str) -> Any:
    return boto3.client(service, **aws)  # type: ignore[call-overload]


@pytest.fixture(scope="module")
def network(aws: dict[str, Any]) -> dict[str, Any]:
    client(aws, "ecs").create_cluster(clusterName="short-cut")
    ec2 = client(aws, "ec2")
    vpc = ec2.describe_vpcs(Filters=[{"Name": "isDefault", "Values": ["true"]}])["Vpcs"][0]["VpcId"]
    subnets = [s["SubnetId"] for s in ec2.describe_subnets(Filters=[{"Name": "vpc-id", "Values": [vpc]}])["Subnets"]]
    group = ec2.create_security_group(GroupName="egress-only", Description="tasks", VpcId=vpc)["GroupId"]
    certificate = client(aws, "acm").request_certificate(DomainName="api.example.com")["CertificateArn"]
    return {"vpc": vpc, "subnets": subnets, "group": group, "certificate": certificate}


def deploy(aws: dict[str, Any], name: str, parameters: dict[str, str]) -> dict[str, dict[str, str]]:
    cloudformation = client(aws, "cloudformation")
    cloudformation.create_stack(
        StackName=name,
        TemplateBody=TEMPLATE.read_text(),
        Parameters=[{"ParameterKey": k, "ParameterValue": v} for k, v in parameters.items()],
        Capabilities=["CAPABILITY_NAMED_IAM"],
    )
    cloudformation.get_waiter("stack_create_complete").wait(StackName=name, WaiterConfig={"Delay": 1})
    summaries = cloudformation.list_stack_resources(StackName=name)["StackResourceSummaries"]
    return {s["LogicalResourceId"]: s for s in summaries if s.get("LogicalResourceId")}


def base(network: dict[str, Any], env: str) -> dict[str, str]:
    return {
        "Environment": env,
        "ImageUri": IMAGE,
        "ClusterName": "short-cut",
        "Subnets": ",".join(network["subnets"][:2]),
        "SecurityGroups": network["group"],
        "SecretReady": "true",
    }


@pytest.fixture(scope="module")
def with_all(aws: dict[str, Any], network: dict[str, Any]) -> dict[str, dict[str, str]]:
    return deploy(
        aws,
        "short-cut-prod",
        {
            **base(network, "prod"),
            "LoadBalancer": "internet-facing",
            "VpcId": network["vpc"],
            "CertificateArn": network["certificate"],
            "LoadBalancerIngressCidr": CIDR,
            "LoadBalancerSubnets": ",".join(network["subnets"][:2]),
            "EventRefresh": "true",
        },
    )


@pytest.fixture(scope="module")
def without(aws: dict[str, Any], network: dict[str, Any]) -> dict[str, dict[str, str]]:
    return deploy(
        aws, "short-cut-staging", {**base(network, "staging"), "LoadBalancer": "none", "EventRefresh": "false"}
    )


def report(capsys: pytest.CaptureFixture[str], title: str, lines: list[str]) -> None:
    with capsys.disabled():
        print(f"\n[moto CloudFormation] {title}:")
        for line in lines or ["(none)"]:
            print(f"  - {line}")


def physical(stack: dict[str, dict[str, str]], name: str) -> str:
    return stack[name]["PhysicalResourceId"]


def container_environment(aws: dict[str, Any], stack: dict[str, dict[str, str]]) -> dict[str, str]:
    task = client(aws, "ecs").describe_task_definition(taskDefinition=physical(stack, "TaskDefinition"))
    (container,) = task["taskDefinition"]["containerDefinitions"]
    # moto keeps an !If's AWS::NoValue list element as None; CloudFormation drops it.
    return {e["name"]: e["value"] for e in container["environment"] if e is not None}


def test_without_the_parameters_the_stack_is_as_before(
    aws: dict[str, Any], without: dict[str, dict[str, str]], capsys: pytest.CaptureFixture[str]
) -> None:
    kinds = {s["ResourceType"] for s in without.values()}
    assert not kinds & (LB_TYPES | EVENT_TYPES)
    assert {s["ResourceStatus"] for s in without.values()} == {"CREATE_COMPLETE"}
    assert "SECRETS_EVENTS_QUEUE_URL" not in container_environment(aws, without)
    assert client(aws, "elbv2").describe_load_balancers()["LoadBalancers"] == [] or all(
        "staging" not in lb["LoadBalancerName"]
        for lb in client(aws, "elbv2").describe_load_balancers()["LoadBalancers"]
    )
    report(
        capsys, "without LoadBalancer/EventRefresh", sorted(f"{n} ({s['ResourceType']})" for n, s in without.items())
    )


def test_the_load_balancer_probes_health_and_only_it_reaches_the_tasks(
    aws: dict[str, Any],
    with_all: dict[str, dict[str, str]],
    network: dict[str, Any],
    capsys: pytest.CaptureFixture[str],
) -> None:
    elbv2 = client(aws, "elbv2")
    (balancer,) = elbv2.describe_load_balancers(LoadBalancerArns=[physical(with_all, "LoadBalancerResource")])[
        "LoadBalancers"
    ]
    assert (balancer["Type"], balancer["Scheme"]) == ("application", "internet-facing")
    (group,) = elbv2.describe_target_groups(TargetGroupArns=[physical(with_all, "TargetGroup")])["TargetGroups"]
    assert (group["TargetType"], group["Port"], group["Protocol"]) == ("ip", 8000, "HTTP")
    assert (group["HealthCheckPath"], group["Matcher"]["HttpCode"]) == ("/health", "200")
    listeners = {
        listener["Port"]: listener
        for listener in elbv2.describe_listeners(LoadBalancerArn=balancer["LoadBalancerArn"])["Listeners"]
    }
    assert set(listeners) == {443, 80}
    assert listeners[443]["Protocol"] == "HTTPS"
    assert [c["CertificateArn"] for c in listeners[443]["Certificates"]] == [network["certificate"]]
    assert listeners[443]["DefaultActions"][0]["TargetGroupArn"] == group["TargetGroupArn"]
    (redirect,) = listeners[80]["DefaultActions"]
    assert redirect["Type"] == "redirect" and redirect["RedirectConfig"]["Protocol"] == "HTTPS"

    ec2 = client(aws, "ec2")
    balancer_group = physical(with_all, "LoadBalancerSecurityGroup")
    task_group = physical(with_all, "TaskSecurityGroup")
    groups = {
        g["GroupId"]: g for g in ec2.describe_security_groups(GroupIds=[balancer_group, task_group])["SecurityGroups"]
    }
    task_ingress = groups[task_group]["IpPermissions"]
    assert [(p["FromPort"], [s["GroupId"] for s in p["UserIdGroupPairs"]], p["IpRanges"]) for p in task_ingress] == [
        (8000, [balancer_group], [])
    ]
    assert sorted((p["FromPort"], p["IpRanges"][0]["CidrIp"]) for p in groups[balancer_group]["IpPermissions"]) == [
        (80, CIDR),
        (443, CIDR),
    ]
    egress = groups[balancer_group]["IpPermissionsEgress"]
    ours = [(p["FromPort"], [s["GroupId"] for s in p["UserIdGroupPairs"]]) for p in egress if "FromPort" in p]
    # AWS replaces the default allow-all egress with the SecurityGroupEgress given ("AWS::EC2::SecurityGroup");
    # moto 5.2 drops a rule naming a DestinationSecurityGroupId and keeps the default: the rule is
    # checked on the template (test_deploy_rules_journey.py), and here it is that or nothing.
    assert ours in ([(8000, [task_group])], [])
    moto_kept = [p for p in egress if "FromPort" not in p]
    assert all(p["IpProtocol"] == "-1" and p["IpRanges"] == [{"CidrIp": "0.0.0.0/0"}] for p in moto_kept), moto_kept

    (service,) = client(aws, "ecs").describe_services(cluster="short-cut", services=[physical(with_all, "Service")])[
        "services"
    ]
    report(
        capsys,
        "properties moto drops (checked on the template in test_deploy_rules_journey.py)",
        [
            f"Service.LoadBalancers: moto {service.get('loadBalancers')!r}",
            f"Service.HealthCheckGracePeriodSeconds: moto {service.get('healthCheckGracePeriodSeconds')!r}",
            f"Service.NetworkConfiguration (TaskSecurityGroup added): moto {service.get('networkConfiguration')!r}",
            *(
                [f"LoadBalancerSecurityGroup.SecurityGroupEgress: template 8000 to the tasks, moto {ours}"]
                if moto_kept
                else []
            ),
            "SecretEventsQueuePolicy (AWS::SQS::QueuePolicy): no moto CloudFormation support",
        ],
    )


def test_the_event_queue_the_rule_and_the_task_role(aws: dict[str, Any], with_all: dict[str, dict[str, str]]) -> None:
    sqs = client(aws, "sqs")
    url = physical(with_all, "SecretEventsQueue")
    attributes = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["All"])["Attributes"]
    assert attributes["VisibilityTimeout"] == "0"
    assert attributes["MessageRetentionPeriod"] == "60"
    assert attributes["ReceiveMessageWaitTimeSeconds"] == "20"
    assert attributes["SqsManagedSseEnabled"] == "true"
    assert container_environment(aws, with_all)["SECRETS_EVENTS_QUEUE_URL"] == url

    events = client(aws, "events")
    rule = events.describe_rule(Name=physical(with_all, "SecretEventsRule"))
    assert json.loads(rule["EventPattern"]) == {
        "source": ["aws.secretsmanager"],
        "detail-type": ["Secret Label Updated"],
        "account": [ACCOUNT],
        "detail": {"name": ["short-cut/prod/app"], "labelUpdated": ["AWSCURRENT"]},
    }
    (target,) = events.list_targets_by_rule(Rule=rule["Name"])["Targets"]
    assert target["Arn"] == attributes["QueueArn"]

    policy = client(aws, "iam").get_role_policy(
        RoleName="shortcut-ecs-task-role", PolicyName="ShortCutSecretEventsReadPolicy"
    )
    document = policy["PolicyDocument"]
    document = document if isinstance(document, dict) else json.loads(document)
    assert document["Statement"] == [
        {
            "Sid": "ReceiveOwnSecretEvents",
            "Effect": "Allow",
            "Action": "sqs:ReceiveMessage",
            "Resource": attributes["QueueArn"],
        }
    ]


def label_event(name: str, label: str, version: str) -> dict[str, str]:
    """The event as Secrets Manager puts it on the default bus ("Secret Label Updated event").
    Only AWS may publish with source aws.secretsmanager; moto accepts it from the test."""
    detail = {"name": name, "labelUpdated": label, "versionId": version}
    return {"Source": "aws.secretsmanager", "DetailType": "Secret Label Updated", "Detail": json.dumps(detail)}


def test_every_reader_sees_an_awscurrent_event_for_its_secret_and_nothing_else(
    aws: dict[str, Any], with_all: dict[str, dict[str, str]]
) -> None:
    events, sqs = client(aws, "events"), client(aws, "sqs")
    url = physical(with_all, "SecretEventsQueue")
    entries = [
        label_event("short-cut/prod/app", "AWSCURRENT", "v-new"),
        label_event("short-cut/staging/app", "AWSCURRENT", "v-other-env"),
        label_event("short-cut/prod/app-admin", "AWSCURRENT", "v-lookalike"),
        label_event("short-cut/prod/app", "AWSPREVIOUS", "v-previous"),
        label_event("short-cut/prod/app", "blue", "v-custom-label"),
    ]
    assert events.put_events(Entries=entries)["FailedEntryCount"] == 0

    def read() -> list[str]:
        # Two tasks reading as src/events/source.py does: VisibilityTimeout 0, never deleting.
        messages = sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=10, WaitTimeSeconds=1, VisibilityTimeout=0)
        return sorted(json.loads(m["Body"])["detail"]["versionId"] for m in messages.get("Messages", []))

    assert read() == ["v-new"]
    assert read() == ["v-new"]  # the second task sees the same message: nothing hid or deleted it


def test_ecr_repository_immutable_scanned_with_a_lifecycle(
    aws: dict[str, Any], capsys: pytest.CaptureFixture[str]
) -> None:
    cloudformation = client(aws, "cloudformation")
    cloudformation.create_stack(StackName="short-cut-ecr", TemplateBody=ECR_TEMPLATE.read_text())
    cloudformation.get_waiter("stack_create_complete").wait(StackName="short-cut-ecr", WaiterConfig={"Delay": 1})
    outputs = {
        o["OutputKey"]: o["OutputValue"]
        for o in cloudformation.describe_stacks(StackName="short-cut-ecr")["Stacks"][0]["Outputs"]
    }
    assert outputs["RepositoryUri"] == IMAGE.rsplit(":", 1)[0]

    ecr = client(aws, "ecr")
    (repository,) = ecr.describe_repositories(repositoryNames=["short-cut-api"])["repositories"]
    assert repository["imageTagMutability"] == "IMMUTABLE"
    dropped = ["Repository.LifecyclePolicy (validated with put_lifecycle_policy below)"]
    if repository.get("imageScanningConfiguration") != {"scanOnPush": True}:
        dropped.append(f"Repository.ImageScanningConfiguration: moto {repository.get('imageScanningConfiguration')!r}")
    config = {"digest": "sha256:" + "a" * 64, "size": 1, "mediaType": "application/vnd.docker.container.image.v1+json"}
    manifest_type = "application/vnd.docker.distribution.manifest.v2+json"
    manifest = json.dumps({"schemaVersion": 2, "mediaType": manifest_type, "config": config, "layers": []})
    ecr.put_image(repositoryName="short-cut-api", imageManifest=manifest, imageTag="0123abc")
    with pytest.raises(ClientError) as refused:
        ecr.put_image(
            repositoryName="short-cut-api", imageManifest=manifest.replace("a" * 64, "b" * 64), imageTag="0123abc"
        )
    assert "AlreadyExists" in refused.value.response["Error"]["Code"]

    # moto's CloudFormation drops LifecyclePolicy; its validator (AWS's rules: an "any" rule has
    # the highest priority, count types and units) checks the template's text as ECR would.
    text = template_lifecycle_text(images_to_keep=100)
    ecr.put_lifecycle_policy(repositoryName="short-cut-api", lifecyclePolicyText=text)
    rules = json.loads(ecr.get_lifecycle_policy(repositoryName="short-cut-api")["lifecyclePolicyText"])["rules"]
    assert [r["selection"]["tagStatus"] for r in rules] == ["untagged", "any"]
    assert rules[-1]["selection"]["countNumber"] == 100
    report(capsys, "more properties moto drops", dropped)


def template_lifecycle_text(*, images_to_keep: int) -> str:
    from tests.support import cfn

    template = cfn.load(ECR_TEMPLATE)
    text = template["Resources"]["Repository"]["Properties"]["LifecyclePolicy"]["LifecyclePolicyText"]["Fn::Sub"]
    return str(text).replace("${ImagesToKeep}", str(images_to_keep))


def test_ecr_stack_is_lint_clean() -> None:
    import subprocess

    from tests.infra.conftest import infra_bin

    result = subprocess.run(
        [str(infra_bin("cfn-lint")), str(ECR_TEMPLATE)], capture_output=True, text=True, timeout=300, check=False
    )
    assert result.returncode == 0, result.stdout + result.stderr


def test_cfn_lint_is_clean_with_the_load_balancer_and_events_as_defaults(tmp_path: Path) -> None:
    """cfn-lint resolves parameters with their defaults: lint the stack once more with the
    optional parts chosen by default, so both ways are linted with real-looking values."""
    import subprocess

    from tests.infra.conftest import infra_bin

    text = TEMPLATE.read_text()
    for old, new in [
        ("    AllowedValues: [none, internal, internet-facing]\n    Default: none\n",
         "    AllowedValues: [none, internal, internet-facing]\n    Default: internet-facing\n"),
        ('    Type: String\n    Default: ""\n    Description: The VPC of Subnets',
         '    Type: String\n    Default: vpc-0123456789abcdef0\n    Description: The VPC of Subnets'),
        ('    Type: String\n    Default: ""\n    AllowedPattern: \'^$|^([0-9]{1,3}',
         '    Type: String\n    Default: 10.0.0.0/8\n    AllowedPattern: \'^$|^([0-9]{1,3}'),
    ]:  # fmt: skip
        assert text.count(old) == 1, old
        text = text.replace(old, new)
    copy = tmp_path / "short-cut.yaml"
    copy.write_text(text)
    result = subprocess.run(
        [str(infra_bin("cfn-lint")), str(copy)], capture_output=True, text=True, timeout=300, check=False
    )
    assert result.returncode == 0, result.stdout + result.stderr
