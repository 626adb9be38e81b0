"""`audit --aws`: the checklist against the live account. The secret exists with valid
keys and its replicas InSync, the task role trusts and reads as the repository's policies say, the log group
exists, and the secret-health alarms exist and notify someone; the rotation Lambda reserves
no concurrency and runs the code `make lambda` built; the alarm topic's key is one CloudWatch
and EventBridge may use; a failed rotation reaches that topic (issue 24 items 1, 4, 5; 19.4).
Issue 28: each log group's retention and each alarm's TreatMissingData, not only that they
exist; a CloudTrail trail logging management events in the Region (without one, the
rotation-failure rule never fires); the rule's FailedInvocations; the registry-level ECR
scanning that replaces the repository's scan on push.

Each check is a module-level function over `Account` (the account's clients and the infra
files rendered for its id) that returns its PASS reason or raises Failed; an AWS error
(SecretsError) fails the check with its code and hint.

(Over 250 lines: a table of checks, each a short function; one file per account audit, which
other changes extend too, so it is not split here.)
"""

from __future__ import annotations

import base64
import fnmatch
import hashlib
import json
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from urllib.parse import unquote

from src.aws.client import SecretsClient, aws_errors
from src.cli.audit.base import READ, TRUST, Failed, Result, failing
from src.cli.audit.offline import AUDIT_IMAGE
from src.cli.audit.traps import ROTATION_FAILED_EVENTS, TOPIC_KEY_ACTIONS, granted_actions
from src.cli.environments import EnvironmentNames, names_for
from src.cli.output import one_line
from src.cli.render import render_all, values_for
from src.errors import SecretsError
from src.secret.payload import key_findings

READ_POLICY = names_for("prod").read_policy  # the same on every environment's own role
# The alarms the stack creates (AlarmName: short-cut-<env>-<suffix>), on the metrics its metric
# filters make from the service's EMF lines (namespace ALARM_NAMESPACE).
ALARM_NAMESPACE = "ShortCut/Logs"
ALARM_SUFFIXES = {
    "secret-refresh-failing": "SecretRefreshFailure",
    "secret-stale": "SecretAgeSeconds",
    "secret-load-failing": "SecretLoadFailure",
}
# What each alarm does when a period has no data: the stale alarm breaches (once tasks should run,
# silence means none runs or logs); the failure alarms count failure lines, so silence is no failure.
ALARM_MISSING_DATA = {
    "secret-refresh-failing": ("notBreaching",),
    "secret-stale": ("breaching", "notBreaching"),
    "secret-load-failing": ("notBreaching",),
}
LAMBDA_ZIP = "build/short-cut-rotation.zip"
# The stack's LogRetentionDays default: a group that keeps logs forever, or for less than a month, is drift.
MINIMUM_RETENTION_DAYS = 30
# The ECR repository `make push-image` pushes to (infra/cloudformation/ecr.yaml RepositoryName).
ECR_REPOSITORY = "short-cut-api"
# Lambda keeps this many executions unreserved ("Configuring reserved concurrency", Lambda guide).
UNRESERVED_MINIMUM = 100


@dataclass
class Account:
    """What a live check reads: one client per service, and the policies rendered for the account."""

    env: str
    region: str
    secrets: SecretsClient
    iam: Any
    logs: Any
    cloudwatch: Any
    docs: dict[str, Any]
    functions: Any = None  # lambda
    sns: Any = None
    kms: Any = None
    events: Any = None
    root: Path | None = None
    cloudtrail: Any = None
    ecr: Any = None
    ec2: Any = None
    load_balancer_subnets: tuple[str, ...] = ()

    @property
    def names(self) -> EnvironmentNames:
        """Every name of the audited environment: staging's checks never read production's parts."""
        return names_for(self.env)

    @property
    def secret(self) -> str:
        return self.names.secret

    @property
    def function(self) -> str:
        return self.names.rotation_function


def alarm_problems(env: str, alarms: list[dict[str, Any]]) -> list[str]:
    """What is wrong with the account's alarms (DescribeAlarms' MetricAlarms) for this environment."""
    by_name = {a.get("AlarmName"): a for a in alarms}
    problems = []
    for suffix, metric in ALARM_SUFFIXES.items():
        name = f"{names_for(env).alarm_prefix}{suffix}"
        alarm = by_name.get(name)
        if alarm is None:
            problems.append(f"alarm {name} does not exist")
            continue
        if (alarm.get("Namespace"), alarm.get("MetricName")) != (ALARM_NAMESPACE, metric):
            watched = f"{alarm.get('Namespace')}/{alarm.get('MetricName')}"
            problems.append(f"alarm {name} watches {watched}, not {ALARM_NAMESPACE}/{metric}")
        if not alarm.get("AlarmActions"):
            problems.append(f"alarm {name} notifies nobody (no AlarmActions)")
        missing = alarm.get("TreatMissingData", "missing")
        if missing not in ALARM_MISSING_DATA[suffix]:
            problems.append(
                f"alarm {name} treats missing data as {missing}, not {' or '.join(ALARM_MISSING_DATA[suffix])}"
            )
    return problems


def normalise_policy(document: Any) -> Any:
    """Policies compare equal regardless of key order, string-vs-list actions, or URL encoding."""
    if isinstance(document, str):
        document = json.loads(unquote(document))
    return _canonical(document)


def _canonical(value: Any) -> Any:
    if isinstance(value, dict):
        return {k: _canonical(v) for k, v in sorted(value.items())}
    if isinstance(value, list):
        items = [_canonical(v) for v in value]
        return items[0] if len(items) == 1 else sorted(items, key=json.dumps)
    return value


def check_secret_exists(account: Account) -> str:
    meta = account.secrets.describe(account.secret)
    return f"{meta['ARN']} exists in {account.region}"


def check_secret_replicas(account: Account) -> str:
    """Each replica of the secret (the stack's ReplicaRegion) is InSync: a task that fails over
    (SECRETS_FAILOVER_REGION) reads it. DescribeSecret on the primary lists them (ReplicationStatus)."""
    replicas = account.secrets.describe(account.secret).get("ReplicationStatus") or []
    if not replicas:
        return "no replica: a task with SECRETS_FAILOVER_REGION has nothing to fail over to"
    failing(
        [
            f"the replica in {r.get('Region')} is {r.get('Status')}: {r.get('StatusMessage') or '-'}"
            for r in replicas
            if r.get("Status") != "InSync"
        ]
    )
    return ", ".join(f"the replica in {r.get('Region')} is InSync" for r in replicas)


def replica_region(secrets: SecretsClient, name: str) -> str | None:
    """The Region of the secret's replica, if it has one (the stack makes at most one)."""
    try:
        replicas = secrets.describe(name).get("ReplicationStatus") or []
    except SecretsError:
        return None  # aws-secret-exists says why
    return str(replicas[0]["Region"]) if replicas else None


def check_secret_keys(account: Account) -> str:
    findings = key_findings(account.secrets.get_secret(account.secret).secret_string)
    bad = {k: v for k, v in findings.items() if v != "OK"}
    if bad:
        raise Failed(", ".join(f"{k}: {v}" for k, v in bad.items()))
    return f"all {len(findings)} required keys are valid"


def check_role_trust(account: Account) -> str:
    role_name = account.names.task_role
    with aws_errors():
        role = account.iam.get_role(RoleName=role_name)["Role"]
    if normalise_policy(role["AssumeRolePolicyDocument"]) != normalise_policy(account.docs[TRUST]):
        raise Failed(f"the trust policy of {role_name} differs from {TRUST}")
    return f"{role_name} trusts as {TRUST} says"


def check_role_policy(account: Account) -> str:
    role_name, policy_name = account.names.task_role, account.names.read_policy
    with aws_errors():
        policy = account.iam.get_role_policy(RoleName=role_name, PolicyName=policy_name)
    if normalise_policy(policy["PolicyDocument"]) != normalise_policy(account.docs[READ]):
        raise Failed(f"{policy_name} on {role_name} differs from {READ}")
    return f"{policy_name} on {role_name} is as {READ} says"


def check_log_group(account: Account) -> str:
    group = account.names.log_group
    with aws_errors():
        groups = account.logs.describe_log_groups(logGroupNamePrefix=group)["logGroups"]
    found = next((g for g in groups if g["logGroupName"] == group), None)
    if found is None:
        raise Failed(f"log group {group} does not exist in {account.region}")
    return f"log group {group} exists, {_retention(found)}"


def _retention(group: dict[str, Any]) -> str:
    """The group's retention, or Failed when it keeps logs forever or for under a month."""
    days = group.get("retentionInDays")
    if days is None:
        raise Failed(f"log group {group['logGroupName']} keeps logs forever: set the stack's LogRetentionDays")
    if int(days) < MINIMUM_RETENTION_DAYS:
        raise Failed(f"log group {group['logGroupName']} keeps logs {days} days, under {MINIMUM_RETENTION_DAYS}")
    return f"kept {days} days"


def check_rotation_log_group(account: Account) -> str:
    """The rotation Lambda's group has a retention (a group Lambda recreated itself has none)."""
    if _no_rotation(account):
        return f"no function {account.function} (deployed without rotation)"
    group = f"/aws/lambda/{account.function}"
    with aws_errors():
        groups = account.logs.describe_log_groups(logGroupNamePrefix=group)["logGroups"]
    found = next((g for g in groups if g["logGroupName"] == group), None)
    if found is None:
        raise Failed(f"log group {group} does not exist in {account.region}")
    return f"log group {group} {_retention(found)}"


def check_alarms(account: Account) -> str:
    with aws_errors():
        pages = account.cloudwatch.get_paginator("describe_alarms").paginate(AlarmNamePrefix=account.names.alarm_prefix)
        found = [alarm for page in pages for alarm in page.get("MetricAlarms", [])]
    failing(alarm_problems(account.env, found))
    return f"{len(ALARM_SUFFIXES)} secret-health alarms exist and notify"


def _alarm_topic(account: Account) -> str:
    """The topic the secret-health alarms notify (the stack's AlarmTopic)."""
    with aws_errors():
        alarms = account.cloudwatch.describe_alarms(AlarmNamePrefix=f"{account.names.alarm_prefix}secret-")
    topics = {a for alarm in alarms.get("MetricAlarms", []) for a in alarm.get("AlarmActions", []) if ":sns:" in a}
    if len(topics) != 1:
        raise Failed(f"the secret-health alarms notify {len(topics)} SNS topics, not the stack's one")
    return str(topics.pop())


def _no_rotation(account: Account) -> bool:
    """True when the stack was deployed without rotation (no function): those checks pass as such."""
    with aws_errors():
        try:
            account.functions.get_function_configuration(FunctionName=account.function)
        except account.functions.exceptions.ResourceNotFoundException:
            return True
    return False


def check_lambda_concurrency(account: Account) -> str:
    """Item 1: no reservation on the function; the account's unreserved pool as Lambda reports it."""
    if _no_rotation(account):
        return f"no function {account.function} (deployed without rotation)"
    with aws_errors():
        reserved = account.functions.get_function_concurrency(FunctionName=account.function)
        limits = account.functions.get_account_settings()["AccountLimit"]
    if "ReservedConcurrentExecutions" in reserved:
        raise Failed(
            f"{account.function} reserves {reserved['ReservedConcurrentExecutions']} executions "
            "(0 means it never runs); the stack sets none: delete-function-concurrency"
        )
    total, unreserved = limits.get("ConcurrentExecutions"), limits.get("UnreservedConcurrentExecutions")
    return f"{account.function} reserves none; the account has {unreserved} of {total} executions unreserved"


def check_lambda_code(account: Account) -> str:
    """Item 4: the function runs the zip `make lambda` built here (its CodeSha256)."""
    if _no_rotation(account):
        return f"no function {account.function} (deployed without rotation)"
    with aws_errors():
        deployed = account.functions.get_function_configuration(FunctionName=account.function)["CodeSha256"]
    archive = (account.root or Path(".")) / LAMBDA_ZIP
    if not archive.exists():
        return f"{account.function} runs code {deployed}; run `make lambda` to compare with this checkout"
    built = base64.b64encode(hashlib.sha256(archive.read_bytes()).digest()).decode()
    if built != deployed:
        key = f"short-cut-rotation-{hashlib.sha256(archive.read_bytes()).hexdigest()}.zip"
        raise Failed(
            f"{account.function} runs code {deployed}, not {LAMBDA_ZIP} ({built}): upload the zip as {key} "
            f"to the bucket in {account.region} and deploy with RotationCodeKey={key}"
        )
    return f"{account.function} runs {LAMBDA_ZIP} (CodeSha256 {built})"


def check_alarm_topic_key(account: Account) -> str:
    """Issue 19.4: CloudWatch (and EventBridge) may use the alarm topic's key."""
    topic = _alarm_topic(account)
    with aws_errors():
        key = account.sns.get_topic_attributes(TopicArn=topic)["Attributes"].get("KmsMasterKeyId")
    if not key:
        return f"{topic} is not encrypted (CloudWatch can publish)"
    with aws_errors():
        metadata = account.kms.describe_key(KeyId=key)["KeyMetadata"]
        if metadata.get("KeyManager") == "AWS":
            raise Failed(f"{topic} is encrypted with the AWS-managed {key}, which CloudWatch cannot use")
        policy = json.loads(account.kms.get_key_policy(KeyId=metadata["KeyId"], PolicyName="default")["Policy"])
    missing = [
        s
        for s in ("cloudwatch.amazonaws.com", "events.amazonaws.com")
        if not set(TOPIC_KEY_ACTIONS) <= granted_actions(policy, s) and "kms:*" not in granted_actions(policy, s)
    ]
    if missing:
        raise Failed(f"the key of {topic} does not let {', '.join(missing)} use it ({', '.join(TOPIC_KEY_ACTIONS)})")
    return f"{topic}'s key {metadata['KeyId']} lets CloudWatch and EventBridge publish"


def check_rotation_failure_route(account: Account) -> str:
    """Item 5: an EventBridge rule sends a failed rotation to the alarm topic, which lets it publish."""
    if _no_rotation(account):
        return f"no function {account.function} (deployed without rotation)"
    topic = _alarm_topic(account)
    with aws_errors():
        names = account.events.list_rule_names_by_target(TargetArn=topic).get("RuleNames", [])
        patterns = {n: json.loads(account.events.describe_rule(Name=n).get("EventPattern") or "{}") for n in names}
        policy = json.loads(account.sns.get_topic_attributes(TopicArn=topic)["Attributes"].get("Policy") or "{}")
    routed = [
        n
        for n, p in patterns.items()
        if "aws.secretsmanager" in p.get("source", [])
        and all(e in p.get("detail", {}).get("eventName", []) for e in ROTATION_FAILED_EVENTS)
    ]
    if not routed:
        raise Failed(f"no EventBridge rule sends RotationFailed to {topic}")
    if "sns:Publish" not in granted_actions(policy, "events.amazonaws.com"):
        raise Failed(f"{topic}'s policy does not let events.amazonaws.com publish: rule {routed[0]} cannot deliver")
    return f"rule {routed[0]} sends a failed rotation to {topic}"


def _records_management_events(selectors: dict[str, Any]) -> bool:
    """Whether a trail's selectors (GetEventSelectors) log write management events: basic selectors with
    IncludeManagementEvents and ReadWriteType All or WriteOnly, or an advanced one on eventCategory Management
    that does not keep read-only events alone. None of either: the trail's default, all management events."""
    if not selectors.get("EventSelectors") and not selectors.get("AdvancedEventSelectors"):
        return True
    for selector in selectors.get("EventSelectors") or []:
        writes = selector.get("ReadWriteType", "All") in ("All", "WriteOnly")
        if selector.get("IncludeManagementEvents", True) and writes:
            return True
    for advanced in selectors.get("AdvancedEventSelectors") or []:
        fields = {f.get("Field"): f for f in advanced.get("FieldSelectors", [])}
        category = fields.get("eventCategory", {}).get("Equals", [])
        read_only = fields.get("readOnly", {}).get("Equals", [])
        if "Management" in category and read_only != ["true"]:
            return True
    return False


def check_cloudtrail(account: Account) -> str:
    """Item 3 of issue 28: RotationFailed and RotationAbandoned are "AWS Service Event via CloudTrail": they
    reach EventBridge only while a trail logs management events in the Region. A new account has none."""
    if _no_rotation(account):
        return f"no function {account.function} (deployed without rotation: the rule that needs a trail is absent)"
    with aws_errors():
        trails = account.cloudtrail.describe_trails(includeShadowTrails=True).get("trailList", [])
        here = [t for t in trails if t.get("IsMultiRegionTrail") or t.get("HomeRegion") == account.region]
        for trail in here:
            arn = trail.get("TrailARN") or trail["Name"]
            if not account.cloudtrail.get_trail_status(Name=arn).get("IsLogging"):
                continue
            if _records_management_events(account.cloudtrail.get_event_selectors(TrailName=arn)):
                return f"trail {trail['Name']} logs management events in {account.region}"
    raise Failed(
        f"no CloudTrail trail logs management events in {account.region} ({len(here)} trail(s) here, none logging "
        "them): a failed rotation never reaches the alarm topic through EventBridge; only the Lambda Errors alarm "
        "remains. Create one: aws cloudtrail create-trail --is-multi-region-trail ... then start-logging"
    )


def check_rotation_rule_delivery(account: Account) -> str:
    """Item 7 of issue 28: whether EventBridge could deliver the rotation-failure rule's events to the topic
    (its FailedInvocations over the last 14 days; none means no failed delivery, or no event yet)."""
    if _no_rotation(account):
        return f"no function {account.function} (deployed without rotation)"
    topic = _alarm_topic(account)
    with aws_errors():
        names = account.events.list_rule_names_by_target(TargetArn=topic).get("RuleNames", [])
        end = datetime.now(UTC)
        failed = {
            name: sum(
                p.get("Sum", 0)
                for p in account.cloudwatch.get_metric_statistics(
                    Namespace="AWS/Events",
                    MetricName="FailedInvocations",
                    Dimensions=[{"Name": "RuleName", "Value": name}],
                    StartTime=end - timedelta(days=14),
                    EndTime=end,
                    Period=86400,
                    Statistics=["Sum"],
                ).get("Datapoints", [])
            )
            for name in names
        }
    bad = {n: int(c) for n, c in failed.items() if c}
    if bad:
        raise Failed(
            "EventBridge failed to deliver to the alarm topic: "
            + ", ".join(f"{n} {c} times" for n, c in sorted(bad.items()))
            + " in 14 days (the topic policy or its key refuses events.amazonaws.com)"
        )
    return f"{len(names)} rule(s) sending to {topic}: no FailedInvocations in 14 days"


def check_ecr_scanning(account: Account) -> str:
    """Item 8 of issue 28: repository-level scan on push is deprecated in favour of the registry's scanning
    configuration (ECR API reference, PutImageScanningConfiguration); the registry must scan our pushes."""
    with aws_errors():
        config = account.ecr.get_registry_scanning_configuration().get("scanningConfiguration", {})
    for rule in config.get("rules", []):
        if rule.get("scanFrequency") not in ("SCAN_ON_PUSH", "CONTINUOUS_SCAN"):
            continue
        for repository_filter in rule.get("repositoryFilters", []):
            if fnmatch.fnmatchcase(ECR_REPOSITORY, str(repository_filter.get("filter", ""))):
                return f"the registry scans {ECR_REPOSITORY} ({config.get('scanType')}, {rule['scanFrequency']})"
    raise Failed(
        f"the registry's scanning configuration scans no push to {ECR_REPOSITORY}: aws ecr "
        "put-registry-scanning-configuration --scan-type BASIC --rules "
        '\'[{"scanFrequency":"SCAN_ON_PUSH","repositoryFilters":[{"filter":"short-cut-api","filterType":"WILDCARD"}]}]\''
    )


def load_balancer_subnet_problems(subnets: list[dict[str, Any]]) -> list[str]:
    """What CreateLoadBalancer would refuse in these subnets (DescribeSubnets' Subnets): "[Application
    Load Balancers] You must specify subnets from at least two Availability Zones", and "You can
    specify only one subnet per Availability Zone" (ELBv2 API reference, CreateLoadBalancer Subnets)."""
    zones: dict[str, list[str]] = {}
    for subnet in subnets:
        zones.setdefault(str(subnet.get("AvailabilityZone")), []).append(str(subnet.get("SubnetId")))
    problems = []
    if len(zones) < 2:
        problems.append(
            f"an Application Load Balancer needs subnets in at least two Availability Zones; "
            f"{len(subnets)} subnet(s) given, in {', '.join(sorted(zones)) or 'none'}"
        )
    problems += [
        f"{', '.join(ids)} are all in {zone}: give one subnet per Availability Zone"
        for zone, ids in sorted(zones.items())
        if len(ids) > 1
    ]
    return problems


def check_load_balancer_subnets(account: Account) -> str:
    """Issue 28 item 6: the load balancer's subnets, before a deploy creates anything."""
    with aws_errors():
        subnets = account.ec2.describe_subnets(SubnetIds=list(account.load_balancer_subnets)).get("Subnets", [])
    failing(load_balancer_subnet_problems(subnets))
    zones = sorted({str(s.get("AvailabilityZone")) for s in subnets})
    return f"{len(subnets)} subnets, one in each of {', '.join(zones)}"


LIVE: list[tuple[str, Callable[[Account], str]]] = [
    ("aws-secret-exists", check_secret_exists),
    ("aws-secret-keys", check_secret_keys),
    ("aws-secret-replicas", check_secret_replicas),
    ("aws-role-trust-policy", check_role_trust),
    ("aws-role-inline-policy", check_role_policy),
    ("aws-log-group", check_log_group),
    ("aws-alarms", check_alarms),
    ("aws-lambda-concurrency", check_lambda_concurrency),
    ("aws-lambda-code", check_lambda_code),
    ("aws-alarm-topic-key", check_alarm_topic_key),
    ("aws-rotation-failure-route", check_rotation_failure_route),
    ("aws-rotation-log-group", check_rotation_log_group),
    ("aws-cloudtrail-trail", check_cloudtrail),
    ("aws-rotation-rule-delivery", check_rotation_rule_delivery),
    ("aws-ecr-scanning", check_ecr_scanning),
]


def run_check(name: str, check: Callable[[Account], str], account: Account) -> Result:
    try:
        return Result(name, "PASS", check(account))
    except Failed as exc:
        return Result(name, "FAIL", str(exc))
    except SecretsError as exc:
        return Result(name, "FAIL", one_line(f"{exc.code}: {exc.message} (hint: {exc.hint})"))


def _clients(region: str) -> dict[str, Any]:
    import boto3

    session = boto3.session.Session(region_name=region)
    names = (
        "secretsmanager",
        "iam",
        "sts",
        "logs",
        "cloudwatch",
        "lambda",
        "sns",
        "kms",
        "events",
        "cloudtrail",
        "ecr",
        "ec2",
    )
    return {name: session.client(name) for name in names}  # type: ignore[call-overload]


def run_live(root: Path, env: str, region: str, *, load_balancer_subnets: tuple[str, ...] = ()) -> list[Result]:
    """Every live check; with load_balancer_subnets, also the subnets a load balancer would be given."""
    try:
        with aws_errors():
            clients = _clients(region)
            account_id = str(clients["sts"].get_caller_identity()["Account"])
    except SecretsError as exc:
        return [Result("aws-account", "FAIL", one_line(f"{exc.code}: {exc.message} (hint: {exc.hint})"))]
    secrets = SecretsClient(region, client=clients["secretsmanager"])
    # With a replica, the task role reads the secret in both Regions (render --replica-region).
    replica = replica_region(secrets, names_for(env).secret)
    values = values_for(account_id=account_id, region=region, env=env, image=AUDIT_IMAGE, replica=replica)
    account = Account(
        env=env,
        region=region,
        secrets=secrets,
        iam=clients["iam"],
        logs=clients["logs"],
        cloudwatch=clients["cloudwatch"],
        docs=render_all(values, root),
        functions=clients["lambda"],
        sns=clients["sns"],
        kms=clients["kms"],
        events=clients["events"],
        root=root,
        cloudtrail=clients["cloudtrail"],
        ecr=clients["ecr"],
        ec2=clients["ec2"],
        load_balancer_subnets=load_balancer_subnets,
    )
    checks = [*LIVE, *([("aws-load-balancer-subnets", check_load_balancer_subnets)] if load_balancer_subnets else [])]
    return [run_check(name, check, account) for name, check in checks]
