"""Start-up overlap: fetch the secrets in a child process while the server imports.

In staging and production, `start()` runs first thing in `src/main.py`, before
`src/app.py` is imported: it spawns `python -m src.startup.prefetch`, which imports boto3,
builds a client and calls GetSecretValue once per secret name, while the parent
imports FastAPI on the other core. The first load (src.loading.loader) takes the child's
answer instead of calling AWS itself (still one call per name, validated the same
way); if the child fails to answer, the load fetches in-process as usual. Values
travel only through the child's stdout pipe: never a file, an argument or the
environment.

The child is chosen, not assumed. It costs a second interpreter and its own
botocore import, which only pays when the two processes really run at once: on
one CPU, or under a CFS quota below two CPUs (Fargate's `cpu: 512` is a quota of
half a CPU on a host whose CPUs all stay visible), it is pure overhead and the
load runs in-process instead. SECRETS_PREFETCH=auto (the default) decides from
`os.sched_getaffinity` and the cgroup's CPU quota (v2 `cpu.max`, v1
`cpu.cfs_quota_us`/`cpu.cfs_period_us`, the smallest along the cgroup's
ancestors that are visible). ECS puts the task's limit on the task's parent
cgroup (aws/amazon-ecs-agent#4077), which a container without a cgroup namespace
cannot see; so when those say two CPUs or more and ECS_CONTAINER_METADATA_URI_V4
is set, the task metadata's `Limits.CPU` (vCPUs) has the last word (one local
GET, 0.3 s at most, only then). SECRETS_PREFETCH=1 forces the child, 0 forbids it.
Either way botocore is imported once on the path to ready: by the child, or by
the parent when there is no child. (Over 250 lines: reading the CPU limit is half
of it; it stays here because it serves only this one decision.)
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Callable, Mapping
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

# A whole second CPU, or the child only steals time from the parent's imports.
MIN_CPUS_FOR_CHILD = 2.0
PROC_SELF_CGROUP = Path("/proc/self/cgroup")
CGROUP_ROOT = Path("/sys/fs/cgroup")
# cgroup v1 mounts the cpu controller under one of these names, depending on the distribution.
V1_CPU_MOUNTS = ("cpu", "cpu,cpuacct", "cpuacct,cpu")
ECS_METADATA_VAR = "ECS_CONTAINER_METADATA_URI_V4"
ECS_METADATA_TIMEOUT = 0.3
ON = frozenset({"1", "true", "yes", "on"})
OFF = frozenset({"0", "false", "no", "off"})


@dataclass(frozen=True)
class Outcome:
    """What the child found: fetched secrets as JSON-able dicts, or one error."""

    secrets: tuple[dict[str, object], ...] = ()
    error: dict[str, str] | None = None

    def __repr__(self) -> str:
        return f"Outcome(names={[s.get('name') for s in self.secrets]}, error={self.error})"


_child: subprocess.Popen[bytes] | None = None
_decision = "off: not started"


def _affinity_cpus() -> int:
    try:
        return len(os.sched_getaffinity(0))
    except (AttributeError, OSError):  # pragma: no cover - not Linux
        return os.cpu_count() or 1


def _ancestors(root: Path, path: str) -> list[Path]:
    """`root/path` and each parent up to `root`: a quota anywhere above us binds us too.

    Inside a container without a cgroup namespace, /proc/self/cgroup names the host's path
    while the mount shows the container's own group at its root: the walk ends there.
    """
    parts = [p for p in path.strip("/").split("/") if p and p != ".."]
    return [root.joinpath(*parts[:i]) for i in range(len(parts), -1, -1)]


def _read(path: Path) -> str | None:
    try:
        return path.read_text().strip()
    except (OSError, UnicodeDecodeError):
        return None


def _quota_v2(directory: Path) -> float | None:
    text = _read(directory / "cpu.max")  # "max 100000" or "50000 100000"
    if not text:
        return None
    fields = text.split()
    try:
        if fields[0] == "max":
            return None
        period = int(fields[1]) if len(fields) > 1 else 100_000
        return int(fields[0]) / period if period > 0 else None
    except (ValueError, IndexError):
        return None


def _quota_v1(directory: Path) -> float | None:
    quota, period = _read(directory / "cpu.cfs_quota_us"), _read(directory / "cpu.cfs_period_us")
    try:
        q, p = int(quota or "-1"), int(period or "0")
    except ValueError:
        return None
    return q / p if q > 0 and p > 0 else None


def cpu_quota(proc_cgroup: Path = PROC_SELF_CGROUP, cgroup_root: Path = CGROUP_ROOT) -> float | None:
    """The CFS quota in CPUs that binds this process (the smallest one seen), or None for none."""
    text = _read(proc_cgroup)
    if text is None:
        return None
    quotas: list[float] = []
    for line in text.splitlines():
        hierarchy, _, rest = line.partition(":")
        controllers, _, path = rest.partition(":")
        if hierarchy == "0" and controllers == "":
            found = (_quota_v2(d) for d in _ancestors(cgroup_root, path))
        elif "cpu" in controllers.split(","):
            found = (_quota_v1(d) for mount in V1_CPU_MOUNTS for d in _ancestors(cgroup_root / mount, path))
        else:
            continue
        quotas.extend(q for q in found if q is not None)
    return min(quotas) if quotas else None


def task_cpu_limit(base_url: str, timeout: float = ECS_METADATA_TIMEOUT) -> float | None:
    """The task's vCPUs from `GET <ECS_CONTAINER_METADATA_URI_V4>/task` -> Limits.CPU; None on any failure.

    At task level Limits.CPU is in vCPUs (0.25, 0.5, 1, ...): see "Amazon ECS task
    metadata v4 JSON response for tasks on Fargate" in the ECS developer guide.
    """
    from src.aws.task_metadata import task_document

    limits = (task_document(base_url, timeout=timeout) or {}).get("Limits")
    cpu = limits.get("CPU") if isinstance(limits, dict) else None
    return float(cpu) if isinstance(cpu, int | float) and not isinstance(cpu, bool) and cpu > 0 else None


def usable_cpus(
    *,
    affinity: int | None = None,
    proc_cgroup: Path = PROC_SELF_CGROUP,
    cgroup_root: Path = CGROUP_ROOT,
    environ: Mapping[str, str] | None = None,
) -> float:
    """How many CPUs this process can really use at once: its affinity, capped by the CFS quota
    and, on ECS, by the task's CPU limit."""
    cpus = float(affinity if affinity is not None else _affinity_cpus())
    quota = cpu_quota(proc_cgroup, cgroup_root)
    usable = min(cpus, quota) if quota is not None else cpus
    metadata = (os.environ if environ is None else environ).get(ECS_METADATA_VAR, "").strip()
    if usable >= MIN_CPUS_FOR_CHILD and metadata:
        limit = task_cpu_limit(metadata)
        usable = min(usable, limit) if limit is not None else usable
    return usable


def decide(environ: Mapping[str, str] | None = None, cpus: Callable[[], float] | None = None) -> tuple[bool, str]:
    """Whether to start the child, and why (for the start-up log)."""
    env = os.environ if environ is None else environ
    from src.app_env import AppEnv

    try:
        cloud = AppEnv(env.get("APP_ENV", "local").strip().lower()).is_cloud
    except ValueError:
        return False, "off: APP_ENV is not a known environment"
    if not cloud:
        return False, "off: secrets come from the environment"
    mode = env.get("SECRETS_PREFETCH", "auto").strip().lower()
    if mode in OFF:
        return False, "off: SECRETS_PREFETCH=0"
    if mode in ON:
        return True, "on: SECRETS_PREFETCH=1"
    usable = cpus() if cpus is not None else usable_cpus(environ=env)
    if usable >= MIN_CPUS_FOR_CHILD:
        return True, f"on: auto, {usable:g} CPUs usable"
    return False, f"off: auto, {usable:g} CPUs usable (the child needs {MIN_CPUS_FOR_CHILD:g})"


def wanted(environ: Mapping[str, str] | None = None, cpus: Callable[[], float] | None = None) -> bool:
    return decide(environ, cpus)[0]


def decision() -> str:
    """What `start()` decided and why, e.g. "off: auto, 1 CPUs usable (the child needs 2)"."""
    return _decision


def start() -> None:
    global _child, _decision
    if _child is not None:
        return
    use, _decision = decide()
    if not use:
        return
    try:
        _child = subprocess.Popen(
            [sys.executable, "-m", "src.startup.prefetch"],
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.DEVNULL,
            cwd=os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__)))),
        )
    except OSError as exc:
        _child = None
        _decision = f"off: the child did not start ({type(exc).__name__})"


def take(names: tuple[str, ...], timeout: float) -> Outcome | None:
    """The child's answer for exactly these names, once; None if there is none to use."""
    global _child
    child, _child = _child, None
    if child is None:
        return None
    try:
        out, _ = child.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        child.kill()
        child.communicate()
        return None
    try:
        data = json.loads(out)
    except ValueError:
        return None
    if data.get("error"):
        return Outcome(error={k: str(v) for k, v in data["error"].items()})
    secrets = tuple(data.get("secrets", ()))
    if tuple(s.get("name") for s in secrets) != names:
        return None
    return Outcome(secrets=secrets)


def _ascii_number(name: str, default: float) -> str:
    """The variable's text if it is a number in ASCII digits, as pydantic reads it; else ValueError
    (int() and float() would take "٣" or a fullwidth digit, which the parent's Settings refuses)."""
    text = os.environ.get(name, str(default))
    if not text.isascii():
        raise ValueError(f"{name} is not an ASCII number")
    return text


def _settings_from_env() -> tuple[tuple[str, ...], str | None, dict[str, Any], str | None]:
    """The few settings the child needs, read without pydantic-settings (too slow to import here).

    The names and defaults come from the same homes as Settings'; an unreadable value makes
    the child give up, and the parent's own load reports it.
    """
    from src.app_env import REGION_PATTERN, AppEnv, region_from, secret_names
    from src.aws.client import DEFAULT_CONNECT_TIMEOUT, DEFAULT_MAX_ATTEMPTS, DEFAULT_READ_TIMEOUT

    env = AppEnv(os.environ.get("APP_ENV", "local"))
    names = secret_names(os.environ.get("SECRET_NAME"), env)
    region = region_from(os.environ)
    options = {
        "connect_timeout": float(_ascii_number("SECRETS_CONNECT_TIMEOUT", DEFAULT_CONNECT_TIMEOUT)),
        "read_timeout": float(_ascii_number("SECRETS_READ_TIMEOUT", DEFAULT_READ_TIMEOUT)),
        "max_attempts": int(_ascii_number("SECRETS_MAX_ATTEMPTS", DEFAULT_MAX_ATTEMPTS)),
    }
    # The failover Region as Settings reads it; one it would refuse leaves the parent to report it.
    failover = os.environ.get("SECRETS_FAILOVER_REGION", "").strip() or None
    if failover is not None and (not REGION_PATTERN.fullmatch(failover) or failover == region):
        raise ValueError("SECRETS_FAILOVER_REGION")
    return names, region, options, failover


def reader(region: str, options: dict[str, Any], failover: str | None) -> Any:
    """The child's reader: the same failover policy and clients as the service's (src.aws.failover)."""
    from src.aws.client import SecretsClient
    from src.aws.failover import RegionReader, fail_fast

    primary = SecretsClient(region, **options, on_build=fail_fast if failover else None)
    replica = (lambda: SecretsClient(failover, **options)) if failover else None
    return RegionReader(primary, region, failover, replica)


def _run() -> int:
    from src.errors import ErrorCode, SecretsError

    try:
        names, region, options, failover = _settings_from_env()
    except ValueError:
        return 1
    try:
        if not region:
            raise SecretsError(ErrorCode.MissingRegion, "AWS_REGION is not set")
        read = reader(region, options, failover)
        payload: dict[str, object] = {"secrets": [asdict(read.get_secret(name)) for name in names]}
    except SecretsError as exc:
        payload = {"error": {**exc.to_dict(), "secret_name": exc.secret_name or ""}}
    sys.stdout.write(json.dumps(payload))
    sys.stdout.flush()
    return 0


if __name__ == "__main__":
    sys.exit(_run())
