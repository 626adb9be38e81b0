"""`audit`: the operations guide's security checklist as automated checks.

Offline checks read the repository (rendered for a target environment and
region); with --aws, live checks read the account. Each check is one line:
PASS, FAIL or SKIP with the reason. Exit 1 on any FAIL.

Some offline checks are deployment rules AWS enforces (or that break a first
deploy) which no linter knows: a Fargate cpu/memory pair, a writable private
directory for a non-root task on a read-only root, no grace period without a
load balancer, a retained secret, a first deploy that starts no task and no
rotation, X-Ray permissions for an actively traced Lambda. Each rule is a
module-level `*_problems` function over parsed documents, returning the
problems found (empty when the rule holds), so tests/infra applies the same
rules. Reading the CloudFormation template needs PyYAML (a dev dependency).
"""

from __future__ import annotations

import argparse
import json
import re
from collections.abc import Callable
from dataclasses import dataclass, field
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
DOCKERFILE = "Dockerfile"
AUDIT_IMAGE = "registry.invalid/short-cut-api:audit"
# The stack parameter a first deploy leaves at its default: the real values are not in yet.
READY_PARAMETER = "SecretReady"
CONTAINER_TMP = "/tmp"  # noqa: S108 - a path inside the task's container, never opened here
XRAY_ACTIONS = ("xray:PutTraceSegments", "xray:PutTelemetryRecords")
XRAY_MANAGED = ("AWSXRayDaemonWriteAccess", "AWSXrayWriteOnlyAccess")
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


# --- Reading the template and the Dockerfile -------------------------------------------

CFN_TAGS = ("Ref", "Sub", "GetAtt", "If", "Equals", "Not", "And", "Or", "Condition", "Join", "Select", "Split")


def load_template(path: Path) -> dict[str, Any]:
    """The template with short-form tags (!Ref, !If, ...) turned into their long form."""
    import yaml

    # libyaml's loader when PyYAML was built with it: ten times faster on this template.
    base: type[yaml.SafeLoader] = getattr(yaml, "CSafeLoader", yaml.SafeLoader)

    class CfnLoader(base):  # type: ignore[valid-type,misc]
        pass

    def constructor(tag: str) -> Callable[[yaml.SafeLoader, yaml.Node], Any]:
        def construct(loader: yaml.SafeLoader, node: yaml.Node) -> Any:
            value: Any
            if isinstance(node, yaml.ScalarNode):
                value = loader.construct_scalar(node)
                if tag == "GetAtt":
                    value = str(value).split(".")
            elif isinstance(node, yaml.SequenceNode):
                value = loader.construct_sequence(node, deep=True)
            elif isinstance(node, yaml.MappingNode):
                value = loader.construct_mapping(node, deep=True)
            else:
                raise Failed(f"unexpected YAML node {node!r}")
            # !Ref and !Condition are the two short forms whose long form has no "Fn::".
            return {tag if tag in ("Ref", "Condition") else f"Fn::{tag}": value}

        return construct

    for tag in CFN_TAGS:
        CfnLoader.add_constructor(f"!{tag}", constructor(tag))
    document = yaml.load(path.read_text(encoding="utf-8"), Loader=CfnLoader)  # noqa: S506 - SafeLoader subclass
    if not isinstance(document, dict):
        raise Failed(f"{path.name} is not a CloudFormation template")
    return document


def dockerfile_volumes(text: str) -> set[str]:
    """The paths the Dockerfile's last stage declares with VOLUME (JSON or plain form)."""
    logical = re.sub(r"\\\n", " ", text)
    stage: list[str] = []
    for line in logical.splitlines():
        words = line.strip().split(None, 1)
        if not words or words[0].startswith("#"):
            continue
        if words[0].upper() == "FROM":
            stage = []
        stage.append(line.strip())
    volumes: set[str] = set()
    for line in stage:
        words = line.split(None, 1)
        if words[0].upper() != "VOLUME" or len(words) < 2:
            continue
        argument = words[1].strip()
        try:
            parsed = json.loads(argument)
        except ValueError:
            parsed = argument.split()
        volumes.update(str(v) for v in _list(parsed))
    return volumes


def resources(template: dict[str, Any], kind: str) -> dict[str, dict[str, Any]]:
    return {name: r for name, r in template.get("Resources", {}).items() if r.get("Type") == kind}


# --- Deployment rules (tests/infra applies these too) ----------------------------------

# Fargate's task sizes, from "Task CPU and memory" in the ECS developer guide
# (task-cpu-memory-error.html): cpu units -> allowed memory in MiB.
FARGATE_SIZES: dict[int, frozenset[int]] = {
    256: frozenset({512, 1024, 2048}),
    512: frozenset(range(1024, 4097, 1024)),
    1024: frozenset(range(2048, 8193, 1024)),
    2048: frozenset(range(4096, 16385, 1024)),
    4096: frozenset(range(8192, 30721, 1024)),
    8192: frozenset(range(16384, 61441, 4096)),
    16384: frozenset(range(32768, 122881, 8192)),
}


def _units(value: Any, unit: str) -> int:
    """'512', 512, '1 vCPU', '2GB': ECS's accepted spellings, as cpu units or MiB."""
    text = str(value).strip()
    match = re.fullmatch(rf"(\d+(?:\.\d+)?)\s*{unit}", text, re.IGNORECASE)
    if match:
        return int(float(match.group(1)) * 1024)
    if not text.isdigit():
        raise ValueError(f"{value!r} is not a number of {'cpu units' if unit == 'vCPU' else 'MiB'}")
    return int(text)


def fargate_size_problems(cpu: Any, memory: Any) -> list[str]:
    try:
        units, mib = _units(cpu, "vCPU"), _units(memory, "GB")
    except ValueError as exc:
        return [str(exc)]
    allowed = FARGATE_SIZES.get(units)
    if allowed is None:
        return [f"cpu {units} is not a Fargate size ({', '.join(map(str, FARGATE_SIZES))})"]
    if mib not in allowed:
        return [f"memory {mib} MiB is not allowed with cpu {units} on Fargate ({min(allowed)}-{max(allowed)} MiB)"]
    return []


def _non_root(user: str) -> bool:
    name = user.split(":", 1)[0]
    return name not in ("", "0", "root")


def private_dir_problems(task: dict[str, Any], dockerfile: str | None) -> list[str]:
    """A non-root container on a read-only root needs a writable private directory (TMPDIR or /tmp).

    On Fargate (platform 1.4+) a task bind volume is root-owned 0755 unless the image declares
    VOLUME at the same absolute path, whose owner and mode ECS copies (containers-roadmap #938,
    #863; "Use bind mounts with Amazon ECS"); tmpfs is not supported on Fargate (LinuxParameters).
    """
    problems = []
    fargate = "FARGATE" in task.get("requiresCompatibilities", [])
    for container in task.get("containerDefinitions", []):
        if not container.get("readonlyRootFilesystem") or not _non_root(str(container.get("user", ""))):
            continue
        env = {e.get("name"): e.get("value") for e in container.get("environment", [])}
        path = env.get("TMPDIR") or CONTAINER_TMP
        name = container.get("name", "?")
        tmpfs = [m for m in container.get("linuxParameters", {}).get("tmpfs", []) if m.get("containerPath") == path]
        if tmpfs:
            if fargate:
                problems.append(f"{name}: tmpfs at {path} is not supported on Fargate")
            continue
        mounts = [
            m for m in container.get("mountPoints", []) if m.get("containerPath") == path and not m.get("readOnly")
        ]
        if not mounts:
            problems.append(f"{name}: nothing writable at {path} (read-only root, user {container.get('user')})")
            continue
        volumes = {v.get("name"): v for v in task.get("volumes", [])}
        volume = volumes.get(mounts[0].get("sourceVolume"))
        if volume is None:
            problems.append(f"{name}: mount at {path} names no task volume")
        elif set(volume) == {"name"} and fargate and path not in dockerfile_volumes(dockerfile or ""):
            problems.append(
                f"{name}: the bind volume at {path} is root-owned 0755 on Fargate unless the image declares "
                f'VOLUME ["{path}"]; the Dockerfile does not'
            )
    return problems


def grace_period_problems(template: dict[str, Any]) -> list[str]:
    """ECS refuses HealthCheckGracePeriodSeconds on a service without load balancers."""
    return [
        f"{name}: HealthCheckGracePeriodSeconds without LoadBalancers"
        for name, service in resources(template, "AWS::ECS::Service").items()
        if "HealthCheckGracePeriodSeconds" in service.get("Properties", {})
        and not service.get("Properties", {}).get("LoadBalancers")
    ]


def secret_retention_problems(template: dict[str, Any]) -> list[str]:
    problems = []
    for name, secret in resources(template, "AWS::SecretsManager::Secret").items():
        if secret.get("DeletionPolicy") not in ("Retain", "RetainExceptOnCreate"):
            problems.append(f"{name}: DeletionPolicy is {secret.get('DeletionPolicy', 'Delete')}, not Retain")
        if secret.get("UpdateReplacePolicy") != "Retain":
            problems.append(f"{name}: UpdateReplacePolicy is {secret.get('UpdateReplacePolicy', 'Delete')}, not Retain")
    return problems


def _value(value: Any, params: dict[str, str], conditions: dict[str, bool]) -> Any:
    if isinstance(value, dict) and set(value) == {"Ref"} and value["Ref"] in params:
        return params[value["Ref"]]
    if isinstance(value, dict) and set(value) == {"Fn::If"}:
        name, if_true, if_false = value["Fn::If"]
        return _value(if_true if conditions[name] else if_false, params, conditions)
    return value


def evaluate_conditions(template: dict[str, Any], params: dict[str, str]) -> dict[str, bool]:
    """Fn::Equals/Not/And/Or/Condition over parameter values, as CloudFormation evaluates them."""
    definitions = template.get("Conditions", {})
    done: dict[str, bool] = {}

    def evaluate(node: Any) -> bool:
        if isinstance(node, dict) and set(node) == {"Condition"}:
            return condition(node["Condition"])
        (function, args), *_ = node.items()
        if function == "Fn::Equals":
            left, right = (str(_value(a, params, done)) for a in args)
            return left == right
        if function == "Fn::Not":
            return not evaluate(args[0])
        if function == "Fn::And":
            return all(evaluate(a) for a in args)
        if function == "Fn::Or":
            return any(evaluate(a) for a in args)
        raise ValueError(f"condition function {function} is not understood")

    def condition(name: str) -> bool:
        if name not in done:
            done[name] = evaluate(definitions[name])
        return done[name]

    for name in definitions:
        condition(name)
    return done


def first_deploy_parameters(template: dict[str, Any]) -> dict[str, str]:
    """Every parameter given a value (DesiredCount too), except READY_PARAMETER at its default."""
    params = {}
    for name, spec in template.get("Parameters", {}).items():
        if name == READY_PARAMETER and "Default" in spec:
            params[name] = str(spec["Default"])
        elif spec.get("AllowedValues"):
            params[name] = str(spec["AllowedValues"][0])
        else:
            params[name] = "2" if spec.get("Type") == "Number" else "given"
    return params


def first_deploy_problems(template: dict[str, Any]) -> list[str]:
    """The deploy that creates the secret (placeholders) must start no task and schedule no rotation.

    Tasks would fail their health check on the placeholders until the circuit breaker rolls the
    stack back; a rotation schedule rotates at once unless RotateImmediatelyOnUpdate is false, and
    even then Secrets Manager runs testSecret on the placeholder version.
    """
    params = first_deploy_parameters(template)
    try:
        conditions = evaluate_conditions(template, params)
    except (KeyError, ValueError, TypeError, AttributeError) as exc:
        return [f"cannot evaluate the template's conditions: {type(exc).__name__}: {exc}"]
    if not resources(template, "AWS::SecretsManager::Secret"):
        return []
    problems = []
    for name, service in resources(template, "AWS::ECS::Service").items():
        if service.get("Condition") and not conditions.get(service["Condition"], True):
            continue
        count = _value(service.get("Properties", {}).get("DesiredCount", 1), params, conditions)
        if str(count) != "0":
            problems.append(f"{name}: the first deploy runs {count} task(s) before the secret holds real values")
    for name, schedule in resources(template, "AWS::SecretsManager::RotationSchedule").items():
        if schedule.get("Properties", {}).get("RotateImmediatelyOnUpdate") is not False:
            problems.append(f"{name}: RotateImmediatelyOnUpdate is not false (rotation would start at once)")
        if not schedule.get("Condition") or conditions.get(schedule["Condition"], True):
            problems.append(f"{name}: created by the first deploy, before the secret holds real values")
    return problems


def _allows(document: Any, action: str) -> bool:
    for statement in _list(document.get("Statement", [])) if isinstance(document, dict) else []:
        actions = [str(a).lower() for a in _list(statement.get("Action", []))]
        if (
            statement.get("Effect") == "Allow"
            and {action.lower(), action.split(":")[0].lower() + ":*", "*"} & set(actions)
            and "*" in _list(statement.get("Resource", []))
        ):
            return True
    return False


def tracing_problems(template: dict[str, Any]) -> list[str]:
    """Lambda refuses TracingConfig Active unless the role may call PutTraceSegments on X-Ray."""
    problems = []
    roles = resources(template, "AWS::IAM::Role")
    for name, function in resources(template, "AWS::Lambda::Function").items():
        props = function.get("Properties", {})
        if props.get("TracingConfig", {}).get("Mode") != "Active":
            continue
        role_ref = props.get("Role")
        role_name = role_ref.get("Fn::GetAtt", [None])[0] if isinstance(role_ref, dict) else None
        role = roles.get(str(role_name))
        if role is None:
            problems.append(f"{name}: tracing is Active and its role is not in the stack to check")
            continue
        role_props = role.get("Properties", {})
        managed = json.dumps(role_props.get("ManagedPolicyArns", []))
        documents = [p.get("PolicyDocument", {}) for p in role_props.get("Policies", [])]
        missing = [
            a
            for a in XRAY_ACTIONS
            if not any(m in managed for m in XRAY_MANAGED) and not any(_allows(d, a) for d in documents)
        ]
        if missing:
            problems.append(f"{name}: tracing is Active but {role_name} lacks {', '.join(missing)}")
    return problems


@dataclass
class Context:
    root: Path
    env: str
    region: str
    account: str
    docs: dict[str, Any]
    _template: dict[str, Any] | None = field(default=None, repr=False)

    @property
    def secret(self) -> str:
        return secret_name(self.env)

    def template(self) -> dict[str, Any]:
        if self._template is not None:
            return self._template
        try:
            self._template = load_template(self.root / TEMPLATE)
            return self._template
        except ImportError as exc:
            raise Failed(f"reading {TEMPLATE} needs PyYAML: pip install -r requirements-dev.txt ({exc})") from exc

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


def _failing(problems: list[str]) -> None:
    if problems:
        raise Failed("; ".join(problems))


def check_fargate_size(ctx: Context) -> str:
    task = ctx.docs[TASK]
    problems = fargate_size_problems(task.get("cpu"), task.get("memory"))
    stack = resources(ctx.template(), "AWS::ECS::TaskDefinition")
    for name, definition in stack.items():
        props = definition.get("Properties", {})
        problems += [f"{TEMPLATE} {name}: {p}" for p in fargate_size_problems(props.get("Cpu"), props.get("Memory"))]
    _failing(problems)
    return f"cpu {task['cpu']} with memory {task['memory']} is a Fargate size, here and in the stack"


def check_private_tmp(ctx: Context) -> str:
    dockerfile = ctx.root / DOCKERFILE
    text = dockerfile.read_text(encoding="utf-8") if dockerfile.exists() else None
    _failing(private_dir_problems(ctx.docs[TASK], text))
    stack = [
        [m.get("ContainerPath") for m in c.get("MountPoints", [])]
        for d in resources(ctx.template(), "AWS::ECS::TaskDefinition").values()
        for c in d.get("Properties", {}).get("ContainerDefinitions", [])
    ]
    paths = [m.get("containerPath") for m in ctx.container().get("mountPoints", [])]
    if any(mounts != paths for mounts in stack):
        raise Failed(f"{TEMPLATE} mounts {stack}, the task definition {paths}")
    return f"{CONTAINER_TMP} is a bind volume the image declares as VOLUME (writable by a non-root user on Fargate)"


def check_grace_period(ctx: Context) -> str:
    _failing(grace_period_problems(ctx.template()))
    return "no HealthCheckGracePeriodSeconds without a load balancer"


def check_secret_retained(ctx: Context) -> str:
    template = ctx.template()
    if not resources(template, "AWS::SecretsManager::Secret"):
        raise Failed(f"{TEMPLATE} creates no secret")
    _failing(secret_retention_problems(template))
    return "the stack's secret has DeletionPolicy and UpdateReplacePolicy Retain"


def check_first_deploy(ctx: Context) -> str:
    _failing(first_deploy_problems(ctx.template()))
    return f"until {READY_PARAMETER}=true the stack runs 0 tasks and schedules no rotation"


def check_lambda_tracing(ctx: Context) -> str:
    _failing(tracing_problems(ctx.template()))
    return "every actively traced Lambda's role may write to X-Ray"


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
    ("fargate-size", check_fargate_size),
    ("private-tmp", check_private_tmp),
    ("grace-period", check_grace_period),
    ("secret-retained", check_secret_retained),
    ("first-deploy", check_first_deploy),
    ("lambda-tracing", check_lambda_tracing),
]


def run_offline(root: Path, env: str, region: str, account: str = AUDIT_ACCOUNT) -> list[Result]:
    try:
        values = values_for(account_id=account, region=region, env=env, image=AUDIT_IMAGE)
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


# The alarms the stack creates on the service's EMF metrics (AlarmName: short-cut-<env>-<suffix>).
ALARM_SUFFIXES = {
    "secret-refresh-failing": "SecretRefreshFailure",
    "secret-stale": "SecretAgeSeconds",
    "secret-load-failing": "SecretLoadFailure",
}


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


def _aws_clients(region: str) -> dict[str, Any]:
    import boto3

    session = boto3.session.Session(region_name=region)
    return {name: session.client(name) for name in ("secretsmanager", "iam", "sts", "logs", "cloudwatch")}


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
    docs = render_all(values_for(account_id=account, region=region, env=env, image=AUDIT_IMAGE), root)
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

    def alarms() -> str:
        with aws_errors():
            pages = clients["cloudwatch"].get_paginator("describe_alarms").paginate(AlarmNamePrefix=f"short-cut-{env}-")
            found = [alarm for page in pages for alarm in page.get("MetricAlarms", [])]
        problems = alarm_problems(env, found)
        if problems:
            raise Failed("; ".join(problems))
        return f"{len(ALARM_SUFFIXES)} secret-health alarms exist and notify"

    live("aws-secret-exists", secret_exists)
    live("aws-secret-keys", secret_keys)
    live("aws-role-trust-policy", role_trust)
    live("aws-role-inline-policy", role_policy)
    live("aws-log-group", log_group)
    live("aws-alarms", alarms)
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
