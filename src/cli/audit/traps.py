"""The traps a new account or a later update springs, as rules over the parsed template (issue 24,
issue 19's alarms): each `*_problems` function returns the problems found, empty when it holds.

- no reserved concurrency on a Lambda: Lambda refuses a reservation that leaves the account fewer
  than 100 unreserved executions, and new accounts start with a quota of 10 or 50;
- the Lambda's code key is content-addressed: CloudFormation redeploys code only when Code changes;
- no fixed ServiceName: a replacing update of a custom-named resource fails;
- the update that scales the service up does not also turn rotation on;
- every Lambda's /aws/lambda/<name> log group is declared with a retention, and its role may only
  write to that group (no logs:CreateLogGroup, which recreates the group after a stack delete);
- the alarm topic's key is one CloudWatch (and EventBridge, for the rule) may use;
- a failed rotation reaches the alarm topic through EventBridge;
- every secret-health alarm watches a metric a metric filter of the stack makes.

(Over 250 lines: a table of trap checks over the template, each a short function.)
"""

from __future__ import annotations

import re
from typing import Any

from src.cli.audit.base import as_list
from src.cli.audit.rules import parameter_values
from src.cli.audit.template import evaluate_conditions, resources

READY_PARAMETER = "SecretReady"
ROTATION_PARAMETER = "RotationEnabled"
# The EventBridge names of a failed rotation ("AWS CloudTrail entries for Secrets Manager").
ROTATION_FAILED_EVENTS = ("RotationFailed",)
# What CloudWatch needs of a topic's KMS key ("Amazon SNS topic with SSE", CloudWatch user guide).
TOPIC_KEY_ACTIONS = ("kms:Decrypt", "kms:GenerateDataKey*")
# Keys a content-addressed key parameter must refuse.
FIXED_KEYS = ("short-cut-rotation.zip", "lambda/short-cut-rotation.zip", "short-cut-rotation-latest.zip")


def _ref(value: Any) -> str | None:
    return str(value["Ref"]) if isinstance(value, dict) and set(value) == {"Ref"} else None


def _defaults(template: dict[str, Any]) -> dict[str, str]:
    """Every parameter at its default (or a given value when it has none)."""
    return parameter_values(template, defaults=lambda _: True)


def reserved_concurrency_problems(template: dict[str, Any]) -> list[str]:
    return [
        f"{name}: ReservedConcurrentExecutions fails on an account whose quota leaves fewer than 100 unreserved"
        for name, function in resources(template, "AWS::Lambda::Function").items()
        if "ReservedConcurrentExecutions" in function.get("Properties", {})
    ]


def code_key_problems(template: dict[str, Any]) -> list[str]:
    """A function's S3 code changes only with its key (or object version), so the key must follow the content:
    a parameter whose AllowedPattern requires the zip's sha256 and refuses a fixed name."""
    problems = []
    params = template.get("Parameters", {})
    for name, function in resources(template, "AWS::Lambda::Function").items():
        code = function.get("Properties", {}).get("Code", {})
        if "S3Key" not in code or "S3ObjectVersion" in code:
            continue
        spec = params.get(_ref(code["S3Key"]) or "", {})
        pattern = str(spec.get("AllowedPattern", ""))
        fixed = [k for k in FIXED_KEYS if re.fullmatch(pattern, k)] if pattern else list(FIXED_KEYS)
        if not spec or "[0-9a-f]{64}" not in pattern or fixed or spec.get("Default") not in ("", None):
            problems.append(f"{name}: Code.S3Key is not content-addressed (a key parameter requiring the sha256)")
    return problems


def service_name_problems(template: dict[str, Any]) -> list[str]:
    return [
        f"{name}: a fixed ServiceName makes every replacing update fail"
        for name, service in resources(template, "AWS::ECS::Service").items()
        if "ServiceName" in service.get("Properties", {})
    ]


def rotation_step_problems(template: dict[str, Any]) -> list[str]:
    """The update that sets SecretReady=true (tasks start) must not also schedule rotation.

    Optional features (an empty default, such as RotationCodeBucket) are given a value: the
    deploy this judges is one that has rotation.
    """
    params = {k: v or "given" for k, v in _defaults(template).items()}
    params[READY_PARAMETER] = "true"
    try:
        conditions = evaluate_conditions(template, params)
    except (KeyError, ValueError, TypeError, AttributeError) as exc:
        return [f"cannot evaluate the template's conditions: {type(exc).__name__}: {exc}"]
    return [
        f"{name}: scheduled by the same update that starts the tasks ({READY_PARAMETER}=true)"
        for name, schedule in resources(template, "AWS::SecretsManager::RotationSchedule").items()
        if conditions.get(str(schedule.get("Condition", "")), True)
    ]


def lambda_log_group_problems(template: dict[str, Any]) -> list[str]:
    groups = [g.get("Properties", {}) for g in resources(template, "AWS::Logs::LogGroup").values()]
    problems = []
    for name, function in resources(template, "AWS::Lambda::Function").items():
        expected = _lambda_group_name(function.get("Properties", {}).get("FunctionName"))
        if expected is None:
            problems.append(f"{name}: no fixed FunctionName, so its log group cannot be declared")
            continue
        group = next((g for g in groups if g.get("LogGroupName") == expected), None)
        if group is None:
            problems.append(f"{name}: its log group /aws/lambda/<name> is not declared (Lambda keeps it forever)")
        elif "RetentionInDays" not in group:
            problems.append(f"{name}: its log group has no RetentionInDays")
    return problems


# Managed policies that grant logs:CreateLogGroup (on *): with one, a late asynchronous log write
# recreates a deleted /aws/lambda/<name> group, and the next stack create fails with AlreadyExists.
CREATE_LOG_GROUP_POLICIES = (
    "AWSLambdaBasicExecutionRole",
    "AWSLambdaVPCAccessExecutionRole",
    "CloudWatchLogsFullAccess",
)
LOG_WRITE_ACTIONS = ("logs:CreateLogStream", "logs:PutLogEvents")


def lambda_log_permission_problems(template: dict[str, Any]) -> list[str]:
    """Each function's role may write logs only to the group the stack declares for it, and may not
    create a log group (issue 28 item 2)."""
    roles = resources(template, "AWS::IAM::Role")
    groups = resources(template, "AWS::Logs::LogGroup")
    problems = []
    for name, function in resources(template, "AWS::Lambda::Function").items():
        props = function.get("Properties", {})
        role_ref = props.get("Role")
        role_name = str(role_ref.get("Fn::GetAtt", [None])[0]) if isinstance(role_ref, dict) else None
        role = roles.get(role_name or "", {}).get("Properties", {})
        if not role:
            problems.append(f"{name}: its role is not in the stack to check")
            continue
        managed = [m for m in CREATE_LOG_GROUP_POLICIES if m in str(role.get("ManagedPolicyArns", []))]
        problems += [f"{role_name}: managed policy {m} grants logs:CreateLogGroup" for m in managed]
        statements = [
            s
            for p in role.get("Policies", [])
            for s in as_list(p.get("PolicyDocument", {}).get("Statement", []))
            if isinstance(s, dict) and s.get("Effect") == "Allow"
        ]
        logs = [s for s in statements if any(str(a).lower().startswith(("logs:", "*")) for a in as_list(s["Action"]))]
        allowed = {str(a) for s in logs for a in as_list(s["Action"])}
        for extra in sorted(allowed - set(LOG_WRITE_ACTIONS)):
            problems.append(f"{role_name}: allows {extra} (only {', '.join(LOG_WRITE_ACTIONS)} on its own group)")
        own = _declared_group(props, groups)
        for statement in logs:
            if own is None or as_list(statement.get("Resource")) != [{"Fn::GetAtt": [own, "Arn"]}]:
                problems.append(f"{role_name}: writes logs to {statement.get('Resource')}, not only its own log group")
        if not set(LOG_WRITE_ACTIONS) <= allowed:
            problems.append(f"{role_name}: cannot write to its log group ({', '.join(LOG_WRITE_ACTIONS)})")
    return problems


def _declared_group(function: dict[str, Any], groups: dict[str, dict[str, Any]]) -> str | None:
    """The logical id of the function's log group: LoggingConfig.LogGroup's Ref, else /aws/lambda/<name>."""
    configured = _ref(function.get("LoggingConfig", {}).get("LogGroup"))
    if configured in groups:
        return configured
    expected = _lambda_group_name(function.get("FunctionName"))
    return next((g for g, group in groups.items() if group.get("Properties", {}).get("LogGroupName") == expected), None)


def _lambda_group_name(function_name: Any) -> Any:
    """The log group name for a FunctionName, in the same intrinsic form (plain, !Sub or !If of them)."""
    if isinstance(function_name, str):
        return f"/aws/lambda/{function_name}"
    if isinstance(function_name, dict) and set(function_name) == {"Fn::Sub"}:
        return {"Fn::Sub": f"/aws/lambda/{function_name['Fn::Sub']}"}
    if isinstance(function_name, dict) and set(function_name) == {"Fn::If"}:
        condition, if_true, if_false = function_name["Fn::If"]
        return {"Fn::If": [condition, _lambda_group_name(if_true), _lambda_group_name(if_false)]}
    return None


def granted_actions(policy: Any, service: str) -> set[str]:
    """The actions Allow statements of a key or topic policy grant the service principal."""
    granted: set[str] = set()
    for statement in as_list(policy.get("Statement", [])) if isinstance(policy, dict) else []:
        if not isinstance(statement, dict) or statement.get("Effect") != "Allow":
            continue
        principal = statement.get("Principal", {})
        services = as_list(principal.get("Service", [])) if isinstance(principal, dict) else []
        if service in services:
            granted.update(str(a) for a in as_list(statement.get("Action", [])))
    return granted


def _grants(policy: Any, service: str, actions: tuple[str, ...]) -> bool:
    """Whether an Allow statement names the service principal and every action (or kms:*)."""
    granted = granted_actions(policy, service)
    return all(a in granted or "kms:*" in granted for a in actions)


def _unscoped_grant(policy: Any, service: str) -> bool:
    """Whether an Allow statement grants the service principal the key without
    `StringEquals: {aws:SourceAccount: <the stack's account>}` (confused deputy). EventBridge is
    not checked: its KMS requests carry no aws:SourceAccount ("Amazon SNS permissions", EventBridge guide)."""
    for statement in as_list(policy.get("Statement", [])) if isinstance(policy, dict) else []:
        if not isinstance(statement, dict) or statement.get("Effect") != "Allow":
            continue
        principal = statement.get("Principal", {})
        if service not in (as_list(principal.get("Service", [])) if isinstance(principal, dict) else []):
            continue
        condition = statement.get("Condition", {})
        account = condition.get("StringEquals", {}).get("aws:SourceAccount") if isinstance(condition, dict) else None
        if account != {"Ref": "AWS::AccountId"}:
            return True
    return False


def _alarm_topics(template: dict[str, Any]) -> set[str]:
    topics = set()
    for alarm in resources(template, "AWS::CloudWatch::Alarm").values():
        props = alarm.get("Properties", {})
        for action in as_list(props.get("AlarmActions", [])) + as_list(props.get("OKActions", [])):
            if _ref(action):
                topics.add(str(_ref(action)))
    return topics


def _event_topics(template: dict[str, Any]) -> set[str]:
    return {
        str(_ref(target.get("Arn")))
        for rule in resources(template, "AWS::Events::Rule").values()
        for target in rule.get("Properties", {}).get("Targets", [])
        if _ref(target.get("Arn"))
    }


def topic_key_problems(template: dict[str, Any]) -> list[str]:
    """An alarm topic's key must be one CloudWatch may use: never an AWS-managed key (alias/aws/sns;
    ASFHyP3/hyp3#762, aws/aws-cdk#11121), and a stack key's policy must grant cloudwatch.amazonaws.com
    (and events.amazonaws.com when a rule publishes to the topic) kms:Decrypt and kms:GenerateDataKey*."""
    problems = []
    keys = resources(template, "AWS::KMS::Key")
    event_topics = _event_topics(template)
    topics = resources(template, "AWS::SNS::Topic")
    for name in sorted(_alarm_topics(template) | event_topics):
        key = topics.get(name, {}).get("Properties", {}).get("KmsMasterKeyId")
        if key is None:
            continue  # unencrypted: CloudWatch can publish
        if isinstance(key, str):
            if key.startswith("alias/aws/") or ":alias/aws/" in key:
                problems.append(f"{name}: encrypted with the AWS-managed {key}, which CloudWatch cannot use")
            continue
        key_name = _ref(key) or (key.get("Fn::GetAtt", [None])[0] if isinstance(key, dict) else None)
        policy = keys.get(str(key_name), {}).get("Properties", {}).get("KeyPolicy")
        if policy is None:
            problems.append(f"{name}: its key is not in the stack, so its policy cannot be checked")
            continue
        services = ["cloudwatch.amazonaws.com"] + (["events.amazonaws.com"] if name in event_topics else [])
        for service in services:
            if not _grants(policy, service, TOPIC_KEY_ACTIONS):
                problems.append(
                    f"{name}: the key {key_name} does not let {service} use it ({', '.join(TOPIC_KEY_ACTIONS)})"
                )
        if _unscoped_grant(policy, "cloudwatch.amazonaws.com"):
            problems.append(
                f"{name}: the key {key_name} lets cloudwatch.amazonaws.com use it without aws:SourceAccount "
                "equal to the stack's account (confused deputy)"
            )
    return problems


def rotation_failure_route_problems(template: dict[str, Any]) -> list[str]:
    """With rotation in the stack, a failed rotation (an EventBridge event) reaches the alarm topic."""
    if not resources(template, "AWS::SecretsManager::RotationSchedule"):
        return []
    alarm_topics = _alarm_topics(template)
    for rule in resources(template, "AWS::Events::Rule").values():
        props = rule.get("Properties", {})
        pattern = props.get("EventPattern", {})
        names = as_list(pattern.get("detail", {}).get("eventName", []))
        targets = {_ref(t.get("Arn")) for t in props.get("Targets", [])}
        if (
            "aws.secretsmanager" in as_list(pattern.get("source", []))
            and all(e in names for e in ROTATION_FAILED_EVENTS)
            and targets & alarm_topics
        ):
            topic = next(iter(targets & alarm_topics))
            return _topic_policy_problems(template, str(topic))
    return ["no EventBridge rule sends a failed rotation (RotationFailed) to the alarm topic"]


def _topic_policy_problems(template: dict[str, Any], topic: str) -> list[str]:
    for policy in resources(template, "AWS::SNS::TopicPolicy").values():
        props = policy.get("Properties", {})
        if topic not in {_ref(t) for t in props.get("Topics", [])}:
            continue
        document = props.get("PolicyDocument", {})
        statements = [
            s["Fn::If"][1] if isinstance(s, dict) and "Fn::If" in s else s
            for s in as_list(document.get("Statement", []))
        ]
        if _grants({"Statement": statements}, "events.amazonaws.com", ("sns:Publish",)):
            return []
    return [f"{topic}: no topic policy lets events.amazonaws.com publish (sns:Publish)"]


def alarm_filter_problems(template: dict[str, Any]) -> list[str]:
    """Each alarm on a metric outside AWS/* watches one a metric filter of the stack makes."""
    made = {
        (t.get("MetricNamespace"), t.get("MetricName"))
        for f in resources(template, "AWS::Logs::MetricFilter").values()
        for t in f.get("Properties", {}).get("MetricTransformations", [])
    }
    problems = []
    for name, alarm in resources(template, "AWS::CloudWatch::Alarm").items():
        props = alarm.get("Properties", {})
        namespace = str(props.get("Namespace", ""))
        if namespace.startswith("AWS/"):
            continue
        if (namespace, props.get("MetricName")) not in made:
            problems.append(f"{name}: {namespace}/{props.get('MetricName')} is made by no metric filter (EMF alone)")
    return problems
