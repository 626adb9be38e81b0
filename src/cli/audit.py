"""`audit`: the operations guide's security checklist as automated checks.

Offline checks read the repository (rendered for a target environment and
region); with --aws, live checks read the account. Each check is one line:
PASS, FAIL or SKIP with the reason. Exit 1 on any FAIL.
"""

from __future__ import annotations

import argparse
import json
import re
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from src.app_env import DEFAULT_REGION, secret_name
from src.cli.git import git_status
from src.cli.output import Output
from src.cli.render import CLOUD_ENVS, ROOT, render_all, values_for
from src.errors import SecretsError
from src.payload import REQUIRED_KEYS, key_findings

TRUST = "infra/iam/ecs-task-trust-policy.json"
READ = "infra/iam/secrets-read-policy.json"
TASK = "infra/ecs/task-definition.json"
EXAMPLE = "infra/iam/secret-structure-example.json"
TEMPLATE = "infra/cloudformation/short-cut.yaml"
LOG_GROUP = "/ecs/short-cut-api"
TASK_ROLE = "shortcut-ecs-task-role"
AUDIT_ACCOUNT = "123456789012"  # offline: any account id; the checks compare structure
READ_ACTIONS = {"secretsmanager:GetSecretValue", "secretsmanager:DescribeSecret"}


@dataclass
class Result:
    name: str
    status: str  # PASS, FAIL, SKIP
    reason: str


class Failed(Exception):
    """A check's failure reason."""


def _list(value: Any) -> list[Any]:
    return value if isinstance(value, list) else [value]


@dataclass
class Context:
    root: Path
    env: str
    region: str
    account: str
    docs: dict[str, Any]

    @property
    def secret(self) -> str:
        return secret_name(self.env)

    def container(self) -> dict[str, Any]:
        return dict(self.docs[TASK]["containerDefinitions"][0])

    def environment(self) -> dict[str, str]:
        return {e["name"]: e["value"] for e in self.container().get("environment", [])}

    def statement(self, sid: str) -> dict[str, Any]:
        for stmt in self.docs[READ]["Statement"]:
            if stmt.get("Sid") == sid:
                return dict(stmt)
        raise Failed(f"{READ} has no statement {sid}")


def check_secret_name(ctx: Context) -> str:
    name = ctx.environment().get("SECRET_NAME")
    if not re.fullmatch(r"short-cut/(prod|staging)/app", name or ""):
        raise Failed(f"task definition SECRET_NAME is {name!r}, not short-cut/<env>/app")
    if name != ctx.secret:
        raise Failed(f"task definition SECRET_NAME {name!r} is not {ctx.secret!r}")
    if "Name: !Sub short-cut/${Environment}/app" not in (ctx.root / TEMPLATE).read_text(encoding="utf-8"):
        raise Failed(f"{TEMPLATE} does not name the secret short-cut/${{Environment}}/app")
    return f"{ctx.secret} in the task definition and the stack"


def check_required_keys(ctx: Context) -> str:
    findings = key_findings((ctx.root / EXAMPLE).read_text(encoding="utf-8"))
    missing = [k for k, v in findings.items() if v == "missing"]
    if missing:
        raise Failed(f"{EXAMPLE} lacks {', '.join(missing)}")
    return f"{EXAMPLE} has all {len(REQUIRED_KEYS)} required keys"


def check_region(ctx: Context) -> str:
    env = ctx.environment()
    logs = ctx.container()["logConfiguration"]["options"]
    seen = {
        "AWS_REGION": env.get("AWS_REGION"),
        "awslogs-region": logs.get("awslogs-region"),
        "secret ARN": ctx.statement("ReadShortCutAppSecret")["Resource"].split(":")[3],
        "kms:ViaService": ctx.statement("DecryptWithCMKViaSecretsManager")["Condition"]["StringEquals"][
            "kms:ViaService"
        ].split(".")[1],
    }
    wrong = {k: v for k, v in seen.items() if v != ctx.region}
    if wrong:
        raise Failed("not in " + ctx.region + ": " + ", ".join(f"{k}={v}" for k, v in wrong.items()))
    return f"task definition, logs and policies all use {ctx.region}"


def check_trust_principal(ctx: Context) -> str:
    statements = ctx.docs[TRUST]["Statement"]
    for stmt in statements:
        if stmt.get("Effect") != "Allow":
            continue
        if stmt.get("Principal") != {"Service": "ecs-tasks.amazonaws.com"}:
            raise Failed(f"trust policy principal is {stmt.get('Principal')}, not only ecs-tasks.amazonaws.com")
        if _list(stmt.get("Action")) != ["sts:AssumeRole"]:
            raise Failed(f"trust policy allows {stmt.get('Action')}, not only sts:AssumeRole")
        cond = stmt.get("Condition", {})
        if cond.get("StringEquals", {}).get("aws:SourceAccount") != ctx.account:
            raise Failed("trust policy lacks the aws:SourceAccount condition")
        if not str(cond.get("ArnLike", {}).get("aws:SourceArn", "")).startswith(
            f"arn:aws:ecs:{ctx.region}:{ctx.account}:"
        ):
            raise Failed("trust policy lacks the aws:SourceArn condition scoped to the account's ECS resources")
    return "only ecs-tasks.amazonaws.com may assume the role (SourceAccount and SourceArn conditions)"


def check_resource_scope(ctx: Context) -> str:
    expected = f"arn:aws:secretsmanager:{ctx.region}:{ctx.account}:secret:{ctx.secret}-??????"
    for stmt in ctx.docs[READ]["Statement"]:
        actions = set(_list(stmt.get("Action")))
        if any(a.startswith("secretsmanager:") or a == "*" for a in actions):
            if not actions <= READ_ACTIONS:
                raise Failed(f"read policy allows {sorted(actions - READ_ACTIONS)}")
            if _list(stmt.get("Resource")) != [expected]:
                raise Failed(f"read policy resource is {stmt.get('Resource')}, not exactly {expected}")
    return f"GetSecretValue and DescribeSecret on {ctx.secret}-?????? only"


def check_kms_condition(ctx: Context) -> str:
    stmt = ctx.statement("DecryptWithCMKViaSecretsManager")
    if _list(stmt.get("Action")) != ["kms:Decrypt"]:
        raise Failed(f"KMS statement allows {stmt.get('Action')}, not only kms:Decrypt")
    via = stmt.get("Condition", {}).get("StringEquals", {}).get("kms:ViaService")
    if via != f"secretsmanager.{ctx.region}.amazonaws.com":
        raise Failed(f"kms:ViaService is {via!r}, not secretsmanager.{ctx.region}.amazonaws.com")
    return f"kms:Decrypt only via secretsmanager.{ctx.region}.amazonaws.com"


def check_task_role(ctx: Context) -> str:
    expected = f"arn:aws:iam::{ctx.account}:role/{TASK_ROLE}"
    actual = ctx.docs[TASK].get("taskRoleArn")
    if actual != expected:
        raise Failed(f"taskRoleArn is {actual!r}, not {expected}")
    return f"taskRoleArn is {expected}"


def check_log_group(ctx: Context) -> str:
    options = ctx.container().get("logConfiguration", {}).get("options", {})
    if ctx.container().get("logConfiguration", {}).get("logDriver") != "awslogs":
        raise Failed("the container does not log with the awslogs driver")
    if options.get("awslogs-group") != LOG_GROUP:
        raise Failed(f"awslogs-group is {options.get('awslogs-group')!r}, not {LOG_GROUP}")
    template = (ctx.root / TEMPLATE).read_text(encoding="utf-8")
    if LOG_GROUP not in template or "RetentionInDays" not in template:
        raise Failed(f"{TEMPLATE} does not create the log group {LOG_GROUP} with a retention")
    return f"awslogs to {LOG_GROUP}; the stack creates it with a retention"


def check_gitignore(ctx: Context) -> str:
    ignored = git_status(["check-ignore", "-q", ".env"], ctx.root)
    if ignored == 0:
        return ".env is ignored by git"
    if ignored == 1:
        raise Failed(".env is not ignored by git")
    # Not a git checkout (or no git): read .gitignore itself.
    lines = (ctx.root / ".gitignore").read_text(encoding="utf-8").splitlines()
    if ".env" not in {line.strip() for line in lines}:
        raise Failed(".env is not listed in .gitignore")
    return ".env is listed in .gitignore"


def check_lf(ctx: Context) -> str:
    if b"\r" in (ctx.root / "entrypoint.sh").read_bytes():
        raise Failed("entrypoint.sh has CR characters (CRLF line endings)")
    attributes = (
        (ctx.root / ".gitattributes").read_text(encoding="utf-8") if (ctx.root / ".gitattributes").exists() else ""
    )
    if not re.search(r"^\*\.sh\s+.*eol=lf", attributes, re.MULTILINE):
        raise Failed(".gitattributes does not pin *.sh to eol=lf")
    return "entrypoint.sh has LF endings, pinned by .gitattributes"


OFFLINE: list[tuple[str, Callable[[Context], str]]] = [
    ("secret-name", check_secret_name),
    ("required-keys", check_required_keys),
    ("region", check_region),
    ("trust-policy-principal", check_trust_principal),
    ("read-policy-resource", check_resource_scope),
    ("kms-via-service", check_kms_condition),
    ("task-role-arn", check_task_role),
    ("log-group", check_log_group),
    ("env-gitignored", check_gitignore),
    ("entrypoint-lf", check_lf),
]


def run_offline(root: Path, env: str, region: str, account: str = AUDIT_ACCOUNT) -> list[Result]:
    try:
        values = values_for(account_id=account, region=region, env=env, image="registry.invalid/short-cut-api")
        docs = render_all(values, root)
    except (OSError, ValueError, SecretsError) as exc:
        return [Result("render", "FAIL", f"the infra files do not render: {exc}")]
    ctx = Context(root=root, env=env, region=region, account=account, docs=docs)
    results = []
    for name, check in OFFLINE:
        try:
            results.append(Result(name, "PASS", check(ctx)))
        except (Failed, KeyError, IndexError, TypeError, AttributeError, OSError, ValueError, SecretsError) as exc:
            results.append(
                Result(name, "FAIL", str(exc) if isinstance(exc, Failed) else f"{type(exc).__name__}: {exc}")
            )
    return results


def _aws_clients(region: str) -> dict[str, Any]:
    import boto3

    session = boto3.session.Session(region_name=region)
    return {name: session.client(name) for name in ("secretsmanager", "iam", "sts", "logs")}


def run_live(root: Path, env: str, region: str) -> list[Result]:
    from src.aws import SecretsClient, aws_errors

    results: list[Result] = []
    name = secret_name(env)
    try:
        with aws_errors():
            clients = _aws_clients(region)
            account = str(clients["sts"].get_caller_identity()["Account"])
    except SecretsError as exc:
        return [Result("aws-account", "FAIL", f"{exc.code}: {exc.message}")]
    docs = render_all(values_for(account_id=account, region=region, env=env, image="registry.invalid/x"), root)
    secrets_client = SecretsClient(region, client=clients["secretsmanager"])

    def live(check: str, fn: Callable[[], str]) -> None:
        try:
            results.append(Result(check, "PASS", fn()))
        except Failed as exc:
            results.append(Result(check, "FAIL", str(exc)))
        except SecretsError as exc:
            results.append(Result(check, "FAIL", f"{exc.code}: {exc.message} (hint: {exc.hint})"))

    def secret_exists() -> str:
        meta = secrets_client.describe(name)
        return f"{meta['ARN']} exists in {region}"

    def secret_keys() -> str:
        findings = key_findings(secrets_client.get_secret(name).secret_string)
        bad = {k: v for k, v in findings.items() if v != "OK"}
        if bad:
            raise Failed(", ".join(f"{k}: {v}" for k, v in bad.items()))
        return f"all {len(findings)} required keys are valid"

    def role_trust() -> str:
        with aws_errors():
            role = clients["iam"].get_role(RoleName=TASK_ROLE)["Role"]
        if _normalise_policy(role["AssumeRolePolicyDocument"]) != _normalise_policy(docs[TRUST]):
            raise Failed(f"the trust policy of {TASK_ROLE} differs from {TRUST}")
        return f"{TASK_ROLE} trusts as {TRUST} says"

    def role_policy() -> str:
        with aws_errors():
            policy = clients["iam"].get_role_policy(RoleName=TASK_ROLE, PolicyName="ShortCutSecretsReadPolicy")
        if _normalise_policy(policy["PolicyDocument"]) != _normalise_policy(docs[READ]):
            raise Failed(f"ShortCutSecretsReadPolicy differs from {READ}")
        return f"ShortCutSecretsReadPolicy is as {READ} says"

    def log_group() -> str:
        with aws_errors():
            groups = clients["logs"].describe_log_groups(logGroupNamePrefix=LOG_GROUP)["logGroups"]
        if not any(g["logGroupName"] == LOG_GROUP for g in groups):
            raise Failed(f"log group {LOG_GROUP} does not exist in {region}")
        return f"log group {LOG_GROUP} exists"

    live("aws-secret-exists", secret_exists)
    live("aws-secret-keys", secret_keys)
    live("aws-role-trust-policy", role_trust)
    live("aws-role-inline-policy", role_policy)
    live("aws-log-group", log_group)
    return results


def _normalise_policy(document: Any) -> Any:
    """Policies compare equal regardless of key order, string-vs-list actions, or URL encoding."""
    if isinstance(document, str):
        from urllib.parse import unquote

        document = json.loads(unquote(document))
    return _canonical(document)


def _canonical(value: Any) -> Any:
    if isinstance(value, dict):
        return {k: _canonical(v) for k, v in sorted(value.items())}
    if isinstance(value, list):
        items = [_canonical(v) for v in value]
        return items[0] if len(items) == 1 else sorted(items, key=json.dumps)
    return value


def cmd_audit(args: argparse.Namespace, _client: object, out: Output) -> int:
    region = args.region or DEFAULT_REGION
    root = Path(args.root)
    results = run_offline(root, args.env, region)
    if args.aws:
        results += run_live(root, args.env, region)
    else:
        results.append(Result("aws-live", "SKIP", "live account checks need --aws"))
    for result in results:
        out.line(f"{result.status:<4}  {result.name:<24} {result.reason}")
    failed = [r for r in results if r.status == "FAIL"]
    counts = {s: sum(r.status == s for r in results) for s in ("PASS", "FAIL", "SKIP")}
    out.line("audit: " + ", ".join(f"{n} {s}" for s, n in counts.items()))
    out.set(checks=[r.__dict__ for r in results], ok=not failed)
    return 1 if failed else 0


def add_parser(commands: argparse._SubParsersAction[argparse.ArgumentParser], common: argparse.ArgumentParser) -> None:
    parser = commands.add_parser(
        "audit",
        parents=[common],
        help="the guide's security checklist as automated checks",
        description="Offline checks of the repository's files; --aws adds checks of the live account. "
        "--region defaults to us-east-1 here.",
    )
    parser.add_argument("--env", default="prod", choices=CLOUD_ENVS, help="environment (default prod)")
    parser.add_argument("--aws", action="store_true", help="also check the live account")
    parser.add_argument("--root", default=str(ROOT), help="the repository to audit (default: this one)")
    parser.set_defaults(handler=cmd_audit)
