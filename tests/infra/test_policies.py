"""Least privilege, proven: IAM's wildcard rules on concrete ARNs, and the stack matches the files."""

from __future__ import annotations

from typing import Any

import pytest

from src.cli.audit import READ, TASK, TRUST
from tests.infra.conftest import ACCOUNT, REGION
from tests.support import cfn
from tests.support.iam import allowed
from tests.support.processes import ROOT

SECRET_ARN = f"arn:aws:secretsmanager:{REGION}:{ACCOUNT}:secret:short-cut/prod/app-"
READ_ACTIONS = ("secretsmanager:GetSecretValue", "secretsmanager:DescribeSecret")
WRITE_ACTIONS = (
    "secretsmanager:PutSecretValue",
    "secretsmanager:UpdateSecret",
    "secretsmanager:DeleteSecret",
    "secretsmanager:CreateSecret",
    "secretsmanager:UpdateSecretVersionStage",
    "secretsmanager:PutResourcePolicy",
    "secretsmanager:RotateSecret",
    "secretsmanager:TagResource",
    "kms:Encrypt",
    "kms:GenerateDataKey",
    "kms:CreateGrant",
)


@pytest.mark.parametrize("action", READ_ACTIONS)
def test_app_secret_with_its_random_suffix_is_readable(rendered: dict[str, Any], action: str) -> None:
    assert allowed(rendered[READ], action, SECRET_ARN + "AbCdEf")
    assert allowed(rendered[READ], action.lower(), SECRET_ARN + "x1Y2z3")


@pytest.mark.parametrize(
    "arn",
    [
        f"arn:aws:secretsmanager:{REGION}:{ACCOUNT}:secret:short-cut/prod/app-admin-AbCdEf",
        f"arn:aws:secretsmanager:{REGION}:{ACCOUNT}:secret:short-cut/prod/db-AbCdEf",
        f"arn:aws:secretsmanager:{REGION}:{ACCOUNT}:secret:short-cut/staging/app-AbCdEf",
        f"arn:aws:secretsmanager:eu-west-1:{ACCOUNT}:secret:short-cut/prod/app-AbCdEf",
        f"arn:aws:secretsmanager:{REGION}:999999999999:secret:short-cut/prod/app-AbCdEf",
        SECRET_ARN + "AbCdE",
        SECRET_ARN + "AbCdEfG",
    ],
)
def test_no_other_secret_is_readable(rendered: dict[str, Any], arn: str) -> None:
    for action in READ_ACTIONS:
        assert not allowed(rendered[READ], action, arn), arn


def test_the_guides_wildcard_would_have_matched_app_admin() -> None:
    # Why the exact suffix: the guide's form also matches app-admin.
    guide = {
        "Statement": [{"Effect": "Allow", "Action": "secretsmanager:GetSecretValue", "Resource": SECRET_ARN + "*"}]
    }
    assert allowed(guide, "secretsmanager:GetSecretValue", SECRET_ARN.replace("app-", "app-admin-") + "AbCdEf")


@pytest.mark.parametrize("action", WRITE_ACTIONS)
def test_no_write_action_on_anything(rendered: dict[str, Any], action: str) -> None:
    for resource in (SECRET_ARN + "AbCdEf", f"arn:aws:kms:{REGION}:{ACCOUNT}:key/1234", "*"):
        assert not allowed(rendered[READ], action, resource)


def test_kms_decrypt_only_with_via_service(rendered: dict[str, Any]) -> None:
    kms = [s for s in rendered[READ]["Statement"] if str(s["Action"]).startswith("kms")]
    assert len(kms) == 1
    assert kms[0]["Action"] == "kms:Decrypt"
    assert kms[0]["Condition"] == {"StringEquals": {"kms:ViaService": f"secretsmanager.{REGION}.amazonaws.com"}}


def test_trust_policy_has_confused_deputy_conditions(rendered: dict[str, Any]) -> None:
    (stmt,) = rendered[TRUST]["Statement"]
    assert stmt["Principal"] == {"Service": "ecs-tasks.amazonaws.com"}
    assert stmt["Condition"]["StringEquals"] == {"aws:SourceAccount": ACCOUNT}
    assert stmt["Condition"]["ArnLike"] == {"aws:SourceArn": f"arn:aws:ecs:{REGION}:{ACCOUNT}:*"}


def stack_params() -> dict[str, str]:
    return {"AWS::Region": REGION, "AWS::AccountId": ACCOUNT, "Environment": "prod"}


def stack_conditions(template: dict[str, Any], **params: str) -> dict[str, bool]:
    defaults = {k: str(v["Default"]) for k, v in template["Parameters"].items() if "Default" in v}
    return cfn.evaluate_conditions(template, {**defaults, **stack_params(), **params})


def test_stack_policies_say_the_same_as_the_json_files(rendered: dict[str, Any]) -> None:
    template = cfn.load(ROOT / "infra/cloudformation/short-cut.yaml")
    conditions = stack_conditions(template)
    role = cfn.resolve(template["Resources"]["TaskRole"]["Properties"], stack_params(), conditions)
    assert role["AssumeRolePolicyDocument"] == rendered[TRUST]
    (policy,) = role["Policies"]
    assert policy["PolicyName"] == "ShortCutSecretsReadPolicy"
    assert policy["PolicyDocument"] == rendered[READ]


def test_stack_task_definition_matches_the_json_file(rendered: dict[str, Any]) -> None:
    template = cfn.load(ROOT / "infra/cloudformation/short-cut.yaml")
    task = template["Resources"]["TaskDefinition"]["Properties"]
    (container,) = task["ContainerDefinitions"]
    (json_container,) = rendered[TASK]["containerDefinitions"]
    assert (task["Cpu"], task["Memory"], task["NetworkMode"]) == (
        rendered[TASK]["cpu"],
        rendered[TASK]["memory"],
        rendered[TASK]["networkMode"],
    )
    assert container["Name"] == json_container["name"] == "short-cut-api"
    assert container["HealthCheck"]["Command"] == json_container["healthCheck"]["command"]
    assert container["HealthCheck"]["StartPeriod"] == json_container["healthCheck"]["startPeriod"]
    assert container["ReadonlyRootFilesystem"] is json_container["readonlyRootFilesystem"] is True
    assert container["StopTimeout"] == json_container["stopTimeout"]
    assert container["User"] == json_container["user"]
    assert container["LinuxParameters"]["InitProcessEnabled"] is json_container["linuxParameters"]["initProcessEnabled"]
    assert container["PortMappings"][0]["ContainerPort"] == json_container["portMappings"][0]["containerPort"] == 8000
    assert [m["ContainerPath"] for m in container["MountPoints"]] == [
        m["containerPath"] for m in json_container["mountPoints"]
    ]
    plain = {e["Name"] for e in container["Environment"] if "Name" in e}
    # The secret-events queue exists only in the stack (EventRefresh): the console route's JSON polls only.
    conditional = [e["Fn::If"] for e in container["Environment"] if "Fn::If" in e]
    # SECRETS_FAILOVER_REGION only with a ReplicaRegion: `render --replica-region` adds it to the JSON.
    assert [(c[0], c[1]["Name"], c[2]) for c in conditional] == [
        ("WithEventRefresh", "SECRETS_EVENTS_QUEUE_URL", {"Ref": "AWS::NoValue"}),
        ("WithReplica", "SECRETS_FAILOVER_REGION", {"Ref": "AWS::NoValue"}),
    ]
    assert plain == {e["name"] for e in json_container["environment"]} == {"APP_ENV", "AWS_REGION", "SECRET_NAME"}
    assert json_container["logConfiguration"]["options"]["awslogs-group"] == "/ecs/short-cut-api"


def test_stack_resources_named_by_the_issue() -> None:
    resources = cfn.load(ROOT / "infra/cloudformation/short-cut.yaml")["Resources"]
    types = {r["Type"] for r in resources.values()}
    assert {
        "AWS::SecretsManager::Secret",
        "AWS::IAM::Role",
        "AWS::Logs::LogGroup",
        "AWS::ECS::TaskDefinition",
        "AWS::ECS::Service",
        "AWS::Lambda::Function",
        "AWS::Lambda::Permission",
        "AWS::SecretsManager::RotationSchedule",
        "AWS::CloudWatch::Alarm",
        "AWS::SNS::Topic",
    } <= types
    secret = resources["AppSecret"]["Properties"]
    assert "KmsKeyId" not in secret  # the default aws/secretsmanager key
    assert {t["Key"] for t in secret["Tags"]} == {"Project", "Environment", "ManagedBy"}
    breaker = resources["Service"]["Properties"]["DeploymentConfiguration"]["DeploymentCircuitBreaker"]
    assert breaker == {"Enable": True, "Rollback": True}
    assert resources["RotationSchedule"]["Properties"]["RotationRules"] == {"ScheduleExpression": "rate(30 days)"}
    assert resources["LogGroup"]["Properties"]["RetentionInDays"] == {"Ref": "LogRetentionDays"}


# A replica (issue 31): the task role reads the same secret in both Regions, each ARN named, and
# decrypts only via Secrets Manager in each. A replica's ARN is the primary's with the replica's
# Region ("Replicate AWS Secrets Manager secrets across Regions": same name, its own Region's ARN);
# decrypting it goes through Secrets Manager in that Region, with that Region's key.
REPLICA = "us-west-2"


@pytest.fixture(scope="module")
def with_replica() -> dict[str, Any]:
    from src.cli.render import render_all, values_for
    from tests.infra.conftest import IMAGE

    return render_all(values_for(account_id=ACCOUNT, region=REGION, env="prod", image=IMAGE, replica=REPLICA))


def test_stack_with_a_replica_says_the_same_as_render_with_replica_region(with_replica: dict[str, Any]) -> None:
    template = cfn.load(ROOT / "infra/cloudformation/short-cut.yaml")
    params = {**stack_params(), "ReplicaRegion": REPLICA}
    conditions = stack_conditions(template, ReplicaRegion=REPLICA)
    role = cfn.resolve(template["Resources"]["TaskRole"]["Properties"], params, conditions)
    (policy,) = role["Policies"]
    assert policy["PolicyDocument"] == with_replica[READ]
    container = cfn.resolve(template["Resources"]["TaskDefinition"]["Properties"], params, conditions)
    environment = {e["Name"]: e["Value"] for e in container["ContainerDefinitions"][0]["Environment"] if "Name" in e}
    (json_container,) = with_replica[TASK]["containerDefinitions"]
    assert environment["SECRETS_FAILOVER_REGION"] == REPLICA
    assert {"name": "SECRETS_FAILOVER_REGION", "value": REPLICA} in json_container["environment"]
    secret = cfn.resolve(template["Resources"]["AppSecret"]["Properties"], params, conditions)
    assert secret["ReplicaRegions"] == [{"Region": REPLICA, "KmsKeyId": {"Ref": "AWS::NoValue"}}]
    keyed = stack_conditions(template, ReplicaRegion=REPLICA, ReplicaKmsKeyId="alias/replica")
    secret = cfn.resolve(
        template["Resources"]["AppSecret"]["Properties"], {**params, "ReplicaKmsKeyId": "alias/replica"}, keyed
    )
    assert secret["ReplicaRegions"] == [{"Region": REPLICA, "KmsKeyId": "alias/replica"}]
    plain = cfn.resolve(template["Resources"]["AppSecret"]["Properties"], stack_params(), stack_conditions(template))
    assert plain["ReplicaRegions"] == {"Ref": "AWS::NoValue"}


@pytest.mark.parametrize("region", [REGION, REPLICA])
@pytest.mark.parametrize("action", READ_ACTIONS)
def test_with_a_replica_the_secret_is_readable_in_both_regions(
    with_replica: dict[str, Any], region: str, action: str
) -> None:
    arn = f"arn:aws:secretsmanager:{region}:{ACCOUNT}:secret:short-cut/prod/app-AbCdEf"
    assert allowed(with_replica[READ], action, arn)


@pytest.mark.parametrize("region", ["eu-west-1", "us-west-1", "*"])
def test_with_a_replica_no_third_region_and_no_wildcard_region(with_replica: dict[str, Any], region: str) -> None:
    arn = f"arn:aws:secretsmanager:{region}:{ACCOUNT}:secret:short-cut/prod/app-AbCdEf"
    for action in READ_ACTIONS:
        assert not allowed(with_replica[READ], action, arn)
    for statement in with_replica[READ]["Statement"]:
        assert all(r.split(":")[3] in (REGION, REPLICA) for r in statement["Resource"])
    assert not allowed(with_replica[READ], "kms:Decrypt", f"arn:aws:kms:{region}:{ACCOUNT}:key/1234")


def test_with_a_replica_kms_decrypt_only_via_secrets_manager_in_the_two_regions(with_replica: dict[str, Any]) -> None:
    (kms,) = [s for s in with_replica[READ]["Statement"] if str(s["Action"]).startswith("kms")]
    assert kms["Condition"] == {
        "StringEquals": {
            "kms:ViaService": [f"secretsmanager.{REGION}.amazonaws.com", f"secretsmanager.{REPLICA}.amazonaws.com"]
        }
    }
    for region in (REGION, REPLICA):
        assert allowed(with_replica[READ], "kms:Decrypt", f"arn:aws:kms:{region}:{ACCOUNT}:key/1234")


def test_render_refuses_a_replica_in_the_same_region_or_not_a_region() -> None:
    from src.cli.render import values_for
    from src.errors import SecretsError
    from tests.infra.conftest import IMAGE

    for bad in (REGION, "west", "us-west-2 "):
        with pytest.raises(SecretsError):
            values_for(account_id=ACCOUNT, region=REGION, env="prod", image=IMAGE, replica=bad)
