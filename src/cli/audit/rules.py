"""Deployment rules AWS enforces (or that break a first deploy) which no linter knows: a
Fargate cpu/memory pair, a writable private directory for a non-root task on a read-only
root, no grace period without a load balancer, a retained secret, a first deploy that
starts no task and no rotation, X-Ray permissions for an actively traced Lambda.

Each rule is a `*_problems` function over parsed documents, returning the problems found
(empty when the rule holds), so `audit` and tests/infra apply the same rules.

(Over 250 lines: a table of rules over the template, each a short function.)
"""

from __future__ import annotations

import itertools
import json
import re
from collections.abc import Callable
from typing import Any

from src.cli.audit.base import as_list
from src.cli.audit.template import dockerfile_volumes, evaluate_conditions, resolved, resources

# The stack parameter a first deploy leaves at its default: the real values are not in yet.
READY_PARAMETER = "SecretReady"
CONTAINER_TMP = "/tmp"  # noqa: S108 - a path inside the task's container, never opened here
# The service-account file's memory-backed home (a task tmpfs; the service tries it first).
SECRET_TMPFS = "/run/short-cut"  # noqa: S105 - a mount path, not a password
SECRET_TMPFS_OPTIONS = ("noexec", "nosuid", "nodev")
SECRET_TMPFS_MAX_MIB = 16
XRAY_ACTIONS = ("xray:PutTraceSegments", "xray:PutTelemetryRecords")
XRAY_MANAGED = ("AWSXRayDaemonWriteAccess", "AWSXrayWriteOnlyAccess")


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
    # [0-9], not \d or str.isdigit(): those take any script's digits ("٥١٢", "²"), which no AWS API does.
    match = re.fullmatch(rf"([0-9]+(?:\.[0-9]+)?)\s*{unit}", text, re.IGNORECASE)
    if match:
        return int(float(match.group(1)) * 1024)
    if not re.fullmatch(r"[0-9]+", text):
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
    #863; "Use bind mounts with Amazon ECS"). A tmpfs there is fine: ECS supports tmpfs on Fargate
    since 2026-01 (containers-roadmap #736), if the user may write to it.
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
            if not tmpfs_writable(tmpfs[0], str(container.get("user", ""))):
                problems.append(f"{name}: the tmpfs at {path} is not writable by user {container.get('user')}")
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


def tmpfs_writable(mount: dict[str, Any], user: str) -> bool:
    """Whether `user` (uid[:gid]) may write to a tmpfs with these mountOptions. Without a mode the
    mount is 1777 (docker's tmpfs default); ECS passes uid=, gid=, mode= through (ECS API Tmpfs)."""
    options = dict(o.split("=", 1) if "=" in o else (o, "") for o in mount.get("mountOptions", []))
    if "ro" in options:
        return False
    mode = int(options.get("mode", "1777"), 8)
    uid, _, gid = user.partition(":")
    if options.get("uid", "0") == uid:
        return bool(mode & 0o200)
    if gid and options.get("gid", "0") == gid:
        return bool(mode & 0o020)
    return bool(mode & 0o002)


def hardening_problems(task: dict[str, Any]) -> list[str]:
    """Each container drops every Linux capability and keeps the service-account file on a small
    noexec,nosuid,nodev tmpfs at SECRET_TMPFS that its user may write (issue 20, items 2 and 6)."""
    problems = []
    for container in task.get("containerDefinitions", []):
        name = container.get("name", "?")
        linux = container.get("linuxParameters", {})
        if "ALL" not in linux.get("capabilities", {}).get("drop", []):
            problems.append(f'{name}: linuxParameters.capabilities.drop is not ["ALL"]')
        mount = next((m for m in linux.get("tmpfs", []) if m.get("containerPath") == SECRET_TMPFS), None)
        if mount is None:
            problems.append(f"{name}: no tmpfs at {SECRET_TMPFS} for the service-account file")
            continue
        missing = [o for o in SECRET_TMPFS_OPTIONS if o not in mount.get("mountOptions", [])]
        if missing:
            problems.append(f"{name}: the tmpfs at {SECRET_TMPFS} lacks {', '.join(missing)}")
        if not 0 < int(mount.get("size", 0)) <= SECRET_TMPFS_MAX_MIB:
            problems.append(f"{name}: the tmpfs at {SECRET_TMPFS} is not 1-{SECRET_TMPFS_MAX_MIB} MiB")
        if not tmpfs_writable(mount, str(container.get("user", ""))):
            problems.append(f"{name}: the tmpfs at {SECRET_TMPFS} is not writable by user {container.get('user')}")
    return problems


def _if_conditions(value: Any) -> set[str]:
    """The condition names of every Fn::If inside a property value."""
    if isinstance(value, dict):
        found = {value["Fn::If"][0]} if set(value) == {"Fn::If"} else set()
        return found.union(*(_if_conditions(v) for v in value.values()))
    if isinstance(value, list):
        return set().union(*(_if_conditions(v) for v in value))
    return set()


def _branch(value: Any, truth: dict[str, bool]) -> Any:
    """The value with each Fn::If taken as `truth` says; Ref AWS::NoValue (no property) is None."""
    if isinstance(value, dict) and set(value) == {"Fn::If"}:
        name, if_true, if_false = value["Fn::If"]
        return _branch(if_true if truth[name] else if_false, truth)
    if value == {"Ref": "AWS::NoValue"}:
        return None
    return value


def grace_period_problems(template: dict[str, Any]) -> list[str]:
    """ECS refuses HealthCheckGracePeriodSeconds on a service without load balancers, in every
    branch of the conditions the two properties use (an optional load balancer sets both by one)."""
    problems = []
    for name, service in resources(template, "AWS::ECS::Service").items():
        props = service.get("Properties", {})
        grace, balancers = props.get("HealthCheckGracePeriodSeconds"), props.get("LoadBalancers")
        names = sorted(_if_conditions(grace) | _if_conditions(balancers))
        branches = [
            dict(zip(names, values, strict=True)) for values in itertools.product((True, False), repeat=len(names))
        ]
        if any(_branch(grace, truth) is not None and not _branch(balancers, truth) for truth in branches):
            problems.append(f"{name}: HealthCheckGracePeriodSeconds without LoadBalancers")
    return problems


def secret_retention_problems(template: dict[str, Any]) -> list[str]:
    problems = []
    for name, secret in resources(template, "AWS::SecretsManager::Secret").items():
        if secret.get("DeletionPolicy") not in ("Retain", "RetainExceptOnCreate"):
            problems.append(f"{name}: DeletionPolicy is {secret.get('DeletionPolicy', 'Delete')}, not Retain")
        if secret.get("UpdateReplacePolicy") != "Retain":
            problems.append(f"{name}: UpdateReplacePolicy is {secret.get('UpdateReplacePolicy', 'Delete')}, not Retain")
    return problems


def parameter_values(template: dict[str, Any], *, defaults: Callable[[str], bool]) -> dict[str, str]:
    """A value for every parameter: its default where `defaults(name)` and it has one, else the
    first allowed value, else 2 for a number and "given" for a string."""
    params = {}
    for name, spec in template.get("Parameters", {}).items():
        if defaults(name) and "Default" in spec:
            params[name] = str(spec["Default"])
        elif spec.get("AllowedValues"):
            params[name] = str(spec["AllowedValues"][0])
        else:
            params[name] = "2" if spec.get("Type") == "Number" else "given"
    return params


def first_deploy_parameters(template: dict[str, Any]) -> dict[str, str]:
    """Every parameter given a value (DesiredCount too), except READY_PARAMETER at its default."""
    return parameter_values(template, defaults=lambda name: name == READY_PARAMETER)


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
        count = resolved(service.get("Properties", {}).get("DesiredCount", 1), params, conditions)
        if str(count) != "0":
            problems.append(f"{name}: the first deploy runs {count} task(s) before the secret holds real values")
    for name, schedule in resources(template, "AWS::SecretsManager::RotationSchedule").items():
        if schedule.get("Properties", {}).get("RotateImmediatelyOnUpdate") is not False:
            problems.append(f"{name}: RotateImmediatelyOnUpdate is not false (rotation would start at once)")
        if not schedule.get("Condition") or conditions.get(schedule["Condition"], True):
            problems.append(f"{name}: created by the first deploy, before the secret holds real values")
    return problems


def _allows(document: Any, action: str) -> bool:
    for statement in as_list(document.get("Statement", [])) if isinstance(document, dict) else []:
        actions = [str(a).lower() for a in as_list(statement.get("Action", []))]
        if (
            statement.get("Effect") == "Allow"
            and {action.lower(), action.split(":")[0].lower() + ":*", "*"} & set(actions)
            and "*" in as_list(statement.get("Resource", []))
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
