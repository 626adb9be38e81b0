"""The operations guide's security checklist, one offline check each: the secret's name,
its required keys, one region everywhere, the trust and read policies, the task role,
the log group, .env ignored by git and LF line endings for entrypoint.sh.

A check returns its PASS reason or raises Failed with what is wrong.
"""

from __future__ import annotations

import re

from src.cli.audit.base import EXAMPLE, LOG_GROUP, READ, TASK, TASK_ROLE, TEMPLATE, TRUST, Failed, as_list
from src.cli.audit.context import Context
from src.cli.git import git_status
from src.secret.payload import REQUIRED_KEYS, key_findings

READ_ACTIONS = {"secretsmanager:GetSecretValue", "secretsmanager:DescribeSecret"}


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
        if as_list(stmt.get("Action")) != ["sts:AssumeRole"]:
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
        actions = set(as_list(stmt.get("Action")))
        if any(a.startswith("secretsmanager:") or a == "*" for a in actions):
            if not actions <= READ_ACTIONS:
                raise Failed(f"read policy allows {sorted(actions - READ_ACTIONS)}")
            if as_list(stmt.get("Resource")) != [expected]:
                raise Failed(f"read policy resource is {stmt.get('Resource')}, not exactly {expected}")
    return f"GetSecretValue and DescribeSecret on {ctx.secret}-?????? only"


def check_kms_condition(ctx: Context) -> str:
    stmt = ctx.statement("DecryptWithCMKViaSecretsManager")
    if as_list(stmt.get("Action")) != ["kms:Decrypt"]:
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
