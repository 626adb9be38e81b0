"""`audit --aws`: the checklist against the live account. The secret exists with valid
keys, the task role trusts and reads as the repository's policies say, the log group
exists, and the secret-health alarms exist and notify someone.

Each check is a module-level function over `Account` (the account's clients and the infra
files rendered for its id) that returns its PASS reason or raises Failed; an AWS error
(SecretsError) fails the check with its code and hint.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import unquote

from src.app_env import secret_name
from src.aws import SecretsClient, aws_errors
from src.cli.audit.base import LOG_GROUP, READ, TASK_ROLE, TRUST, Failed, Result, failing
from src.cli.audit.offline import AUDIT_IMAGE
from src.cli.render import render_all, values_for
from src.errors import SecretsError
from src.payload import key_findings

READ_POLICY = "ShortCutSecretsReadPolicy"
# The alarms the stack creates on the service's EMF metrics (AlarmName: short-cut-<env>-<suffix>).
ALARM_SUFFIXES = {
    "secret-refresh-failing": "SecretRefreshFailure",
    "secret-stale": "SecretAgeSeconds",
    "secret-load-failing": "SecretLoadFailure",
}


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

    @property
    def secret(self) -> str:
        return secret_name(self.env)


def alarm_problems(env: str, alarms: list[dict[str, Any]]) -> list[str]:
    """What is wrong with the account's alarms (DescribeAlarms' MetricAlarms) for this environment."""
    by_name = {a.get("AlarmName"): a for a in alarms}
    problems = []
    for suffix, metric in ALARM_SUFFIXES.items():
        name = f"short-cut-{env}-{suffix}"
        alarm = by_name.get(name)
        if alarm is None:
            problems.append(f"alarm {name} does not exist")
            continue
        if (alarm.get("Namespace"), alarm.get("MetricName")) != ("ShortCut", metric):
            watched = f"{alarm.get('Namespace')}/{alarm.get('MetricName')}"
            problems.append(f"alarm {name} watches {watched}, not ShortCut/{metric}")
        if not alarm.get("AlarmActions"):
            problems.append(f"alarm {name} notifies nobody (no AlarmActions)")
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


def check_secret_keys(account: Account) -> str:
    findings = key_findings(account.secrets.get_secret(account.secret).secret_string)
    bad = {k: v for k, v in findings.items() if v != "OK"}
    if bad:
        raise Failed(", ".join(f"{k}: {v}" for k, v in bad.items()))
    return f"all {len(findings)} required keys are valid"


def check_role_trust(account: Account) -> str:
    with aws_errors():
        role = account.iam.get_role(RoleName=TASK_ROLE)["Role"]
    if normalise_policy(role["AssumeRolePolicyDocument"]) != normalise_policy(account.docs[TRUST]):
        raise Failed(f"the trust policy of {TASK_ROLE} differs from {TRUST}")
    return f"{TASK_ROLE} trusts as {TRUST} says"


def check_role_policy(account: Account) -> str:
    with aws_errors():
        policy = account.iam.get_role_policy(RoleName=TASK_ROLE, PolicyName=READ_POLICY)
    if normalise_policy(policy["PolicyDocument"]) != normalise_policy(account.docs[READ]):
        raise Failed(f"{READ_POLICY} differs from {READ}")
    return f"{READ_POLICY} is as {READ} says"


def check_log_group(account: Account) -> str:
    with aws_errors():
        groups = account.logs.describe_log_groups(logGroupNamePrefix=LOG_GROUP)["logGroups"]
    if not any(g["logGroupName"] == LOG_GROUP for g in groups):
        raise Failed(f"log group {LOG_GROUP} does not exist in {account.region}")
    return f"log group {LOG_GROUP} exists"


def check_alarms(account: Account) -> str:
    with aws_errors():
        pages = account.cloudwatch.get_paginator("describe_alarms").paginate(
            AlarmNamePrefix=f"short-cut-{account.env}-"
        )
        found = [alarm for page in pages for alarm in page.get("MetricAlarms", [])]
    failing(alarm_problems(account.env, found))
    return f"{len(ALARM_SUFFIXES)} secret-health alarms exist and notify"


LIVE: list[tuple[str, Callable[[Account], str]]] = [
    ("aws-secret-exists", check_secret_exists),
    ("aws-secret-keys", check_secret_keys),
    ("aws-role-trust-policy", check_role_trust),
    ("aws-role-inline-policy", check_role_policy),
    ("aws-log-group", check_log_group),
    ("aws-alarms", check_alarms),
]


def run_check(name: str, check: Callable[[Account], str], account: Account) -> Result:
    try:
        return Result(name, "PASS", check(account))
    except Failed as exc:
        return Result(name, "FAIL", str(exc))
    except SecretsError as exc:
        return Result(name, "FAIL", f"{exc.code}: {exc.message} (hint: {exc.hint})")


def _clients(region: str) -> dict[str, Any]:
    import boto3

    session = boto3.session.Session(region_name=region)
    return {name: session.client(name) for name in ("secretsmanager", "iam", "sts", "logs", "cloudwatch")}


def run_live(root: Path, env: str, region: str) -> list[Result]:
    try:
        with aws_errors():
            clients = _clients(region)
            account_id = str(clients["sts"].get_caller_identity()["Account"])
    except SecretsError as exc:
        return [Result("aws-account", "FAIL", f"{exc.code}: {exc.message}")]
    account = Account(
        env=env,
        region=region,
        secrets=SecretsClient(region, client=clients["secretsmanager"]),
        iam=clients["iam"],
        logs=clients["logs"],
        cloudwatch=clients["cloudwatch"],
        docs=render_all(values_for(account_id=account_id, region=region, env=env, image=AUDIT_IMAGE), root),
    )
    return [run_check(name, check, account) for name, check in LIVE]
