"""A task-definition runner: starts the built image the way ECS Fargate would start it from
infra/ecs/task-definition.json after `render`, and judges its health the way ECS does.

Contract: every setting comes from the rendered file, never from this module. Container
definition keys the runner cannot reproduce make it refuse (NotEmulated), so a field added to
the task definition later cannot be silently ignored here. The mapping, with the AWS behaviour
each line relies on:

- `user`, `readonlyRootFilesystem` -> `--user`, `--read-only --read-only-tmpfs=false`: podman's
  `--read-only` otherwise mounts tmpfs on /tmp, /var/tmp and /run, and ECS mounts none.
- `volumes` (a bind volume with no `host`) + `mountPoints` -> an empty host directory, owned by
  root, mode 0755, bind-mounted at `containerPath`. On Fargate platform 1.4+ that is what the
  task gets unless the image declares a VOLUME at that path, in which case Fargate copies the
  image's directory, content and mode, into it (aws/containers-roadmap#938, #863). Both are
  runnable: `honour_image_volumes`. podman's own image-volume handling is switched off
  (`--image-volume=ignore`) so the runner alone decides.
- `environment` -> `-e`, plus what the ECS agent adds: AWS_CONTAINER_CREDENTIALS_RELATIVE_URI
  (served at 169.254.170.2:80, https://docs.aws.amazon.com/AmazonECS/latest/developerguide/task-iam-roles.html),
  ECS_CONTAINER_METADATA_URI_V4 and AWS_EXECUTION_ENV. Where 169.254.170.2 cannot be put on
  `lo` (not root), AWS_CONTAINER_CREDENTIALS_FULL_URI on loopback instead; `Credentials.mode`
  says which. Test-only additions, each printed: AWS_ENDPOINT_URL_SECRETS_MANAGER (moto_server)
  and PORT (see below).
- `healthCheck` -> evaluated by HealthMonitor through `podman exec`, with ECS's rules
  (https://docs.aws.amazon.com/AmazonECS/latest/APIReference/API_HealthCheck.html): the status
  is UNKNOWN until decided; a failure inside `startPeriod` does not count; a success, even
  inside `startPeriod`, makes it HEALTHY and from then on every failure counts; `retries`
  consecutive counted failures make it UNHEALTHY; a check that outlives `timeout` failed. The
  image's own HEALTHCHECK is disabled (`--no-healthcheck`): ECS ignores it too. `time_scale`
  shrinks `interval` and `startPeriod` only (never `timeout` or `retries`), for test speed.
- `stopTimeout` -> `podman stop -t`: SIGTERM, then SIGKILL after that many seconds; 30 s when
  absent on Fargate (https://docs.aws.amazon.com/AmazonECS/latest/APIReference/API_ContainerDefinition.html).
- `linuxParameters.initProcessEnabled` -> `--init`: an init process as PID 1 that forwards signals
  and reaps children (https://docs.aws.amazon.com/AmazonECS/latest/APIReference/API_LinuxParameters.html).
- `linuxParameters.capabilities` -> `--cap-drop` / `--cap-add`, drops first, then adds, as the ECS
  API describes it; on Fargate only SYS_PTRACE may be added, anything else is refused
  (https://docs.aws.amazon.com/AmazonECS/latest/APIReference/API_KernelCapabilities.html).
  `dockerSecurityOptions` (where `no-new-privileges` would go) is not valid on Fargate
  (API_ContainerDefinition), so the runner sets no no_new_privs: the task gets what Fargate gives.
- `linuxParameters.tmpfs` -> `--tmpfs containerPath:rw,size=<size>m,<mountOptions>` (ECS: "maps to
  the --tmpfs option to docker run", size in MiB, https://docs.aws.amazon.com/AmazonECS/latest/APIReference/API_Tmpfs.html).
  Docker mounts a `--tmpfs` with `noexec,nosuid,nodev` unless told otherwise and its root mode 1777
  unless `mode=` says otherwise (https://docs.docker.com/engine/storage/tmpfs/, "tmpfs-mode ...
  Defaults to 1777 or world-writable"); podman's defaults are the same options
  (podman-run(1) `--tmpfs`: "rw,noexec,nosuid,nodev"), and the runner writes `mode=1777` itself
  when the task definition names none, so it does not rest on podman's default; `uid=`/`gid=` of
  the container's own user become podman's `U` (see TmpfsMount.podman_value). ECS refuses a size
  that is not a positive integer ("It must be a non-zero, non-negative integer",
  aws/amazon-ecs-agent#2226) and mount options outside its list (API_Tmpfs): so does the runner.
  Fargate has tmpfs since 2026-01 (aws/containers-roadmap#736; issue 20).
- task `cpu`/`memory` (or the container's own) -> `--cpus cpu/1024`, `--memory <MiB>m` where the
  host's cgroup has the controller; `limits_note` says what was applied.
- `logConfiguration` awslogs -> `json_log_problems()`: every line the container writes must be
  one JSON object, the way CloudWatch Logs Insights discovers fields.

Sandbox differences, kept as small as they can be: awsvpc gives a task its own network
namespace; podman here has host networking only, so the container's PORT is moved to a free
port (after checking `portMappings` names the image's default PORT). Ulimits are lowered to
what this sandbox's runc can set (Fargate's default nofile is 65535).
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import subprocess
import sys
import threading
import time
import uuid
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

from tests.container.conftest import LIMITS, NOTES, podman
from tests.support.credentials_endpoint import ECS_CREDENTIALS_HOST, CredentialsEndpoint
from tests.support.processes import BIN, ROOT, free_port

TASK_DEFINITION = "ecs/task-definition.json"
ACCOUNT_ID = "123456789012"
DEFAULT_STOP_TIMEOUT = 30
HealthStatus = Literal["UNKNOWN", "HEALTHY", "UNHEALTHY"]
# What the task metadata endpoint v4 answers at ${ECS_CONTAINER_METADATA_URI_V4}/task (abridged).
TASK_METADATA = {
    "Cluster": f"arn:aws:ecs:us-east-1:{ACCOUNT_ID}:cluster/short-cut",
    "TaskARN": f"arn:aws:ecs:us-east-1:{ACCOUNT_ID}:task/short-cut/0123456789abcdef0123456789abcdef",
    "Family": "short-cut-api",
    "Revision": "1",
    "LaunchType": "FARGATE",
}

# Keys of a container definition the runner reproduces or that change nothing on one host.
# Anything else (secrets, environmentFiles, ulimits, dependsOn, ...) makes it refuse.
HANDLED_KEYS = frozenset(
    {
        "name",
        "image",
        "essential",
        "portMappings",
        "environment",
        "readonlyRootFilesystem",
        "user",
        "linuxParameters",
        "mountPoints",
        "healthCheck",
        "stopTimeout",
        "logConfiguration",
        "cpu",
        "memory",
    }
)
HANDLED_LINUX_PARAMETERS = frozenset({"initProcessEnabled", "capabilities", "tmpfs"})
# The only capability a Fargate task may add (API_KernelCapabilities).
FARGATE_ADDABLE_CAPABILITIES = frozenset({"SYS_PTRACE"})
# API_Tmpfs `mountOptions`, valid values. The API lists the last six by name; as mount(8) options
# they take a value (`mode=0700`), which is how the runner reads them.
TMPFS_FLAGS = frozenset(
    {
        "defaults", "ro", "rw", "suid", "nosuid", "dev", "nodev", "exec", "noexec", "sync", "async", "dirsync",
        "remount", "mand", "nomand", "atime", "noatime", "diratime", "nodiratime", "bind", "rbind", "unbindable",
        "runbindable", "private", "rprivate", "shared", "rshared", "slave", "rslave", "relatime", "norelatime",
        "strictatime", "nostrictatime",
    }
)  # fmt: skip
TMPFS_VALUED = frozenset({"mode", "uid", "gid", "nr_inodes", "nr_blocks", "mpol"})
DOCKER_TMPFS_MODE = "1777"


class NotEmulated(Exception):
    """The task definition uses something this runner cannot reproduce faithfully."""


class Refused(Exception):
    """ECS would refuse this task definition for Fargate; so does the runner."""


def render(image: str, out_dir: Path, *, env: str = "prod") -> dict[str, Any]:
    """`python -m src.cli render`, as an operator runs it; returns the rendered task definition."""
    result = subprocess.run(
        [str(BIN / "python"), "-m", "src.cli", "render", "--account-id", ACCOUNT_ID, "--env", env,
         "--region", "us-east-1", "--image", image, "--out", str(out_dir)],
        cwd=ROOT, capture_output=True, text=True, timeout=60, check=False,
    )  # fmt: skip
    if result.returncode != 0:
        raise AssertionError(f"render failed: {result.stdout}{result.stderr}")
    # `render` writes each environment into a folder of its own (issue 21, item 2); older
    # revisions wrote straight into --out.
    paths = [path for path in (out_dir / env / TASK_DEFINITION, out_dir / TASK_DEFINITION) if path.exists()]
    assert paths, f"render wrote no {TASK_DEFINITION}: {result.stdout}"
    document: dict[str, Any] = json.loads(paths[0].read_text(encoding="utf-8"))
    return document


@dataclass(frozen=True)
class HealthCheck:
    command: list[str]
    interval: float
    timeout: float
    retries: int
    start_period: float

    @classmethod
    def from_definition(cls, definition: Mapping[str, Any], time_scale: float = 1.0) -> HealthCheck:
        # The documented defaults: interval 30, timeout 5, retries 3, startPeriod off.
        return cls(
            command=list(definition["command"]),
            interval=float(definition.get("interval", 30)) * time_scale,
            timeout=float(definition.get("timeout", 5)),
            retries=int(definition.get("retries", 3)),
            start_period=float(definition.get("startPeriod", 0)) * time_scale,
        )

    def argv(self) -> list[str]:
        kind, *rest = self.command
        if kind == "CMD":
            return rest
        if kind == "CMD-SHELL":
            return ["/bin/sh", "-c", " ".join(rest)]
        raise NotEmulated(f"healthCheck command must start with CMD or CMD-SHELL, not {kind!r}")


@dataclass(frozen=True)
class Probe:
    at: float  # seconds since the container started
    ok: bool
    counted: bool  # a failure that counts toward `retries`
    status: HealthStatus  # the status after this probe


class HealthMonitor:
    """ECS's container health evaluation, run on a thread against a probe callable."""

    def __init__(
        self,
        check: HealthCheck,
        probe: Callable[[float], bool],
        *,
        started_at: float | None = None,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.check = check
        self._probe = probe
        self._clock = clock
        self.started_at = clock() if started_at is None else started_at
        self.status: HealthStatus = "UNKNOWN"
        self.history: list[Probe] = []
        self._streak = 0
        self._ever_healthy = False
        self._stop = threading.Event()
        self._changed = threading.Condition()
        self._thread: threading.Thread | None = None

    def record(self, ok: bool, at: float) -> Probe:
        """Apply one probe result (public so the rules can be tested without a container)."""
        in_start_period = at < self.check.start_period
        counted = not ok and not (in_start_period and not self._ever_healthy)
        if ok:
            self._streak = 0
            self._ever_healthy = True
            self.status = "HEALTHY"
        elif counted:
            self._streak += 1
            if self._streak >= self.check.retries:
                self.status = "UNHEALTHY"
        result = Probe(at=at, ok=ok, counted=counted, status=self.status)
        with self._changed:
            self.history.append(result)
            self._changed.notify_all()
        return result

    def _run(self) -> None:
        # Like Docker's health checker: the first probe one interval after the start, then one
        # interval after each probe finishes.
        while not self._stop.wait(self.check.interval):
            ok = self._probe(self.check.timeout)
            if self._stop.is_set():
                return
            self.record(ok, self._clock() - self.started_at)

    def start(self) -> HealthMonitor:
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        self._stop.set()
        with self._changed:
            self._changed.notify_all()
        if self._thread is not None:
            self._thread.join(timeout=self.check.timeout + 5)

    def wait_for(self, status: HealthStatus, timeout: float) -> Probe | None:
        """The first probe that left the status at `status`, or None by the deadline."""
        deadline = time.monotonic() + timeout
        with self._changed:
            while True:
                for probe in self.history:
                    if probe.status == status:
                        return probe
                remaining = deadline - time.monotonic()
                if remaining <= 0 or self._stop.is_set():
                    return None
                self._changed.wait(min(remaining, 0.5))

    def wait_probes(self, count: int, timeout: float) -> list[Probe]:
        """Wait until `count` more probes have run; returns them."""
        with self._changed:
            first = len(self.history)
            deadline = time.monotonic() + timeout
            while len(self.history) < first + count and time.monotonic() < deadline:
                self._changed.wait(0.5)
            return self.history[first:]


@dataclass(frozen=True)
class Mount:
    container_path: str
    volume: str
    read_only: bool


@dataclass(frozen=True)
class TmpfsMount:
    """One `linuxParameters.tmpfs` entry."""

    container_path: str
    size_mib: int
    mount_options: tuple[str, ...]

    @classmethod
    def from_definition(cls, entry: Mapping[str, Any]) -> TmpfsMount:
        path, size = entry.get("containerPath", ""), entry.get("size")
        if not isinstance(path, str) or not path.startswith("/"):
            raise Refused(f"tmpfs containerPath must be an absolute path, not {path!r}")
        if not isinstance(size, int) or isinstance(size, bool) or size <= 0:
            raise Refused(f"tmpfs size for {path} must be a non-zero, non-negative integer (MiB), not {size!r}")
        options = tuple(entry.get("mountOptions", []))
        for option in options:
            key, has_value, _ = option.partition("=")
            if (has_value and key not in TMPFS_VALUED) or (not has_value and option not in TMPFS_FLAGS):
                raise Refused(f"tmpfs mount option {option!r} for {path} is not one ECS accepts")
        return cls(path, size, options)

    def podman_value(self, user: str | None) -> str:
        """`--tmpfs` as ECS hands it to the runtime: rw, the size in MiB, the task definition's
        options after them (so `ro` or `exec` there win), and Docker's default mode.

        podman 4.3 refuses `uid=`/`gid=` on a tmpfs ("unknown mount option"); its `U` option
        chowns the tmpfs to the container's user, which gives the same mount (`uid=10001,gid=10001`
        in /proc/mounts) when the task definition names that user. Any other owner: NotEmulated.
        """
        options = ["rw", f"size={self.size_mib}m"]
        owner: dict[str, str] = {}
        for option in self.mount_options:
            key, _, value = option.partition("=")
            if key in ("uid", "gid"):
                owner[key] = value
            else:
                options.append(option)
        if not any(option.startswith("mode=") for option in self.mount_options):
            options.append(f"mode={DOCKER_TMPFS_MODE}")
        if owner:
            # `U` sets both; only both, naming the container's user and group, are reproduced.
            uid, _, gid = (user or "0").partition(":")
            if owner != {"uid": uid, "gid": gid or uid}:
                raise NotEmulated(f"tmpfs {self.container_path} owned by {owner}, not by the container's user {user}")
            options.append("U")
        return f"{self.container_path}:{','.join(options)}"


@dataclass(frozen=True)
class TaskSpec:
    """The one essential container of a rendered Fargate task definition, as the runner needs it."""

    image: str
    user: str | None
    read_only_root: bool
    init: bool
    environment: dict[str, str]
    mounts: list[Mount]
    health: Mapping[str, Any] | None
    stop_timeout: int
    cpu_units: int | None
    memory_mib: int | None
    container_port: int | None
    log_driver: str | None
    cap_drop: tuple[str, ...] = ()
    cap_add: tuple[str, ...] = ()
    tmpfs: tuple[TmpfsMount, ...] = ()

    @classmethod
    def from_task_definition(cls, document: Mapping[str, Any]) -> TaskSpec:
        if "FARGATE" not in document.get("requiresCompatibilities", []):
            raise NotEmulated("the runner reproduces Fargate tasks only")
        containers = [c for c in document["containerDefinitions"] if c.get("essential", True)]
        if len(containers) != 1:
            raise NotEmulated(f"expected one essential container, found {len(containers)}")
        container = containers[0]
        unknown = set(container) - HANDLED_KEYS
        if unknown:
            raise NotEmulated(f"container definition keys not reproduced: {sorted(unknown)}")
        linux = container.get("linuxParameters", {})
        if set(linux) - HANDLED_LINUX_PARAMETERS:
            raise NotEmulated(f"linuxParameters not reproduced: {sorted(set(linux) - HANDLED_LINUX_PARAMETERS)}")
        volumes = {volume["name"]: volume for volume in document.get("volumes", [])}
        mounts = []
        for point in container.get("mountPoints", []):
            volume = volumes[point["sourceVolume"]]
            if set(volume) - {"name", "host"} or volume.get("host", {}).get("sourcePath"):
                # Fargate supports only bind volumes without a source path (and EFS, not emulated).
                raise NotEmulated(f"volume {volume['name']!r} is not a Fargate bind volume without a host path")
            mounts.append(Mount(point["containerPath"], volume["name"], bool(point.get("readOnly", False))))
        capabilities = linux.get("capabilities", {})
        if set(capabilities) - {"add", "drop"}:
            raise NotEmulated(f"capabilities keys not reproduced: {sorted(set(capabilities) - {'add', 'drop'})}")
        cap_add = tuple(capabilities.get("add", []))
        if set(cap_add) - FARGATE_ADDABLE_CAPABILITIES:
            extra = sorted(set(cap_add) - FARGATE_ADDABLE_CAPABILITIES)
            raise Refused(f"Fargate tasks may add only SYS_PTRACE, not {extra}")
        tmpfs = tuple(TmpfsMount.from_definition(entry) for entry in linux.get("tmpfs", []))
        ports = [m["containerPort"] for m in container.get("portMappings", [])]
        cpu = container.get("cpu") or document.get("cpu")
        memory = container.get("memory") or document.get("memory")
        return cls(
            image=container["image"],
            user=container.get("user"),
            read_only_root=bool(container.get("readonlyRootFilesystem", False)),
            init=bool(linux.get("initProcessEnabled", False)),
            environment={item["name"]: item["value"] for item in container.get("environment", [])},
            mounts=mounts,
            health=container.get("healthCheck"),
            stop_timeout=int(container.get("stopTimeout", DEFAULT_STOP_TIMEOUT)),
            cpu_units=int(cpu) if cpu else None,
            memory_mib=int(memory) if memory else None,
            container_port=ports[0] if ports else None,
            log_driver=container.get("logConfiguration", {}).get("logDriver"),
            cap_drop=tuple(capabilities.get("drop", [])),
            cap_add=cap_add,
            tmpfs=tmpfs,
        )


class Credentials:
    """Task-role credentials served the way the ECS agent serves them, with a metadata endpoint
    (v4 `/task`) on the same server. Removes the address it added to `lo`."""

    RELATIVE_PATH = "/v2/credentials/short-cut-task"
    METADATA_PATH = "/v4/short-cut-container"

    def __init__(self) -> None:
        self.mode: Literal["relative", "full"] = "full"
        self.note = ""
        self._added_address = False
        self.endpoint: CredentialsEndpoint | None = None

    def __enter__(self) -> Credentials:
        reason = self._try_relative()
        if self.endpoint is None:
            self.endpoint = CredentialsEndpoint(path=self.RELATIVE_PATH, task_metadata=TASK_METADATA).start()
            self.mode = "full"
            self.note = f"AWS_CONTAINER_CREDENTIALS_FULL_URI on loopback ({reason})"
        return self

    def _try_relative(self) -> str:
        if os.geteuid() != 0 or shutil.which("ip") is None:
            return "not root or no `ip`: 169.254.170.2 cannot be added to lo"
        present = (
            ECS_CREDENTIALS_HOST
            in subprocess.run(
                ["ip", "-o", "addr", "show", "dev", "lo"], capture_output=True, text=True, check=False
            ).stdout
        )
        if not present:
            added = subprocess.run(
                ["ip", "addr", "add", f"{ECS_CREDENTIALS_HOST}/32", "dev", "lo"],
                capture_output=True, text=True, check=False,
            )  # fmt: skip
            if added.returncode != 0:
                return f"ip addr add failed: {added.stderr.strip()}"
            self._added_address = True
        try:
            self.endpoint = CredentialsEndpoint(
                ECS_CREDENTIALS_HOST, 80, self.RELATIVE_PATH, task_metadata=TASK_METADATA
            ).start()
        except OSError as exc:
            self._remove_address()
            return f"cannot listen on {ECS_CREDENTIALS_HOST}:80 ({exc.strerror})"
        self.mode = "relative"
        self.note = f"AWS_CONTAINER_CREDENTIALS_RELATIVE_URI against {ECS_CREDENTIALS_HOST}:80 on lo"
        return ""

    def _remove_address(self) -> None:
        if self._added_address:
            subprocess.run(["ip", "addr", "del", f"{ECS_CREDENTIALS_HOST}/32", "dev", "lo"], check=False)
            self._added_address = False

    def __exit__(self, *exc: object) -> None:
        if self.endpoint is not None:
            self.endpoint.stop()
        self._remove_address()

    def environment(self) -> dict[str, str]:
        """What the ECS agent adds to the container's environment."""
        assert self.endpoint is not None
        base = f"http://{self.endpoint.host}" + (f":{self.endpoint.port}" if self.endpoint.port != 80 else "")
        env = {"AWS_EXECUTION_ENV": "AWS_ECS_FARGATE", "ECS_CONTAINER_METADATA_URI_V4": base + self.METADATA_PATH}
        if self.mode == "relative":
            env["AWS_CONTAINER_CREDENTIALS_RELATIVE_URI"] = self.RELATIVE_PATH
        else:
            env["AWS_CONTAINER_CREDENTIALS_FULL_URI"] = self.endpoint.url
        return env

    def credential_requests(self) -> list[str]:
        assert self.endpoint is not None
        return [path for path in self.endpoint.paths if path == self.RELATIVE_PATH]


def cgroup_controllers() -> set[str]:
    out = podman("info", "--format", "{{json .Host.CgroupControllers}}", check=False).stdout
    try:
        return set(json.loads(out) or [])
    except json.JSONDecodeError:
        return set()


def json_log_problems(text: str) -> list[str]:
    """Lines that CloudWatch Logs Insights would not read as one JSON object."""
    problems = []
    for line in text.splitlines():
        if not line.strip():
            continue  # the awslogs driver sends no event for an empty line
        try:
            parsed = json.loads(line)
        except json.JSONDecodeError:
            problems.append(line)
            continue
        if not isinstance(parsed, dict):
            problems.append(line)
    return problems


@dataclass
class Task:
    """One running container of the task; `stop()` follows stopTimeout."""

    name: str
    spec: TaskSpec
    port: int
    volume_dirs: dict[str, Path]
    started_at: float
    run_args: list[str]
    limits_note: str
    test_only_env: dict[str, str] = field(default_factory=dict)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def probe(self, timeout: float) -> bool:
        """The healthCheck command inside the container, as the container's user."""
        assert self.spec.health is not None
        argv = HealthCheck.from_definition(self.spec.health).argv()
        try:
            result = subprocess.run(
                ["podman", "exec", self.name, *argv], capture_output=True, timeout=timeout, check=False
            )
        except subprocess.TimeoutExpired:
            return False
        return result.returncode == 0

    def monitor(self, time_scale: float) -> HealthMonitor:
        assert self.spec.health is not None, "the task definition has no healthCheck"
        check = HealthCheck.from_definition(self.spec.health, time_scale)
        return HealthMonitor(check, self.probe, started_at=self.started_at).start()

    def exec(self, *argv: str) -> subprocess.CompletedProcess[str]:
        return podman("exec", self.name, *argv, check=False, timeout=60)

    def logs(self) -> tuple[str, str]:
        result = podman("logs", self.name, check=False, timeout=60)
        return result.stdout, result.stderr

    def running(self) -> bool:
        return podman("inspect", "--format", "{{.State.Running}}", self.name, check=False).stdout.strip() == "true"

    def stop(self) -> tuple[float, int]:
        """SIGTERM, SIGKILL after stopTimeout; the time it took and the exit code."""
        started = time.monotonic()
        podman("stop", "-t", str(self.spec.stop_timeout), self.name, timeout=self.spec.stop_timeout + 60)
        elapsed = time.monotonic() - started
        code = int(podman("inspect", "--format", "{{.State.ExitCode}}", self.name).stdout.strip())
        return elapsed, code


class Runner:
    """Starts tasks from a TaskSpec; removes every container and volume directory it made."""

    def __init__(self, spec: TaskSpec, credentials: Credentials, work_dir: Path) -> None:
        self.spec = spec
        self.credentials = credentials
        self.work_dir = work_dir
        self.tasks: list[Task] = []
        controllers = cgroup_controllers()
        self.limit_args: list[str] = []
        notes = []
        if spec.cpu_units and "cpu" in controllers:
            self.limit_args += ["--cpus", f"{spec.cpu_units / 1024:g}"]
            notes.append(f"--cpus {spec.cpu_units / 1024:g}")
        elif spec.cpu_units:
            notes.append(f"cpu {spec.cpu_units} NOT applied: no cpu cgroup controller")
        if spec.memory_mib and "memory" in controllers:
            self.limit_args += ["--memory", f"{spec.memory_mib}m"]
            notes.append(f"--memory {spec.memory_mib}m")
        elif spec.memory_mib:
            notes.append(f"memory {spec.memory_mib} MiB NOT applied: no memory cgroup controller")
        self.limits_note = ", ".join(notes) or "no cpu/memory in the task definition"

    def _image_volumes(self) -> set[str]:
        volumes = podman("image", "inspect", "--format", "{{json .Config.Volumes}}", self.spec.image).stdout
        return set(json.loads(volumes or "null") or {})

    def _volume_dir(self, name: str, mount: Mount, honour_image_volumes: bool) -> Path:
        path = self.work_dir / f"{name}-{mount.volume}"
        path.mkdir(parents=True)
        os.chmod(path, 0o755)  # noqa: S103 - what Fargate gives: root-owned, 0755
        if honour_image_volumes and mount.container_path in self._image_volumes():
            # Fargate copies the image's directory into the volume, ownership and mode included.
            tar = subprocess.run(
                ["podman", "run", "--rm", "--network=host", *LIMITS, "--no-healthcheck", "--image-volume=ignore",
                 "--user", "0", "--entrypoint", "tar", self.spec.image, "-C", mount.container_path, "-cf", "-", "."],
                capture_output=True, timeout=120, check=True,
            )  # fmt: skip
            subprocess.run(["tar", "-C", str(path), "-xpf", "-"], input=tar.stdout, check=True, timeout=60)
        return path

    def start(
        self,
        name: str,
        *,
        test_only_env: Mapping[str, str],
        honour_image_volumes: bool = True,
        shm: bool = True,
    ) -> Task:
        """Run the container. `shm=False` starts it without /dev/shm (a test of the fallback)."""
        spec = self.spec
        port = free_port()
        image_port = podman("image", "inspect", "--format", "{{range .Config.Env}}{{println .}}{{end}}", spec.image)
        image_env = dict(line.split("=", 1) for line in image_port.stdout.splitlines() if "=" in line)
        if spec.container_port is not None and image_env.get("PORT") != str(spec.container_port):
            raise AssertionError(
                f"portMappings says {spec.container_port}, the image listens on {image_env.get('PORT')}"
            )
        overlap = set(test_only_env) & set(spec.environment)
        if overlap:
            raise AssertionError(f"test-only variables would override the task definition: {sorted(overlap)}")
        env = {**spec.environment, **self.credentials.environment(), **test_only_env, "PORT": str(port)}
        args = ["run", "-d", "--name", name, "--network=host", *LIMITS, "--no-healthcheck", "--image-volume=ignore"]
        if spec.user:
            args += ["--user", spec.user]
        if spec.read_only_root:
            args += ["--read-only", "--read-only-tmpfs=false"]
        if spec.init:
            args.append("--init")
        for capability in spec.cap_drop:
            args += ["--cap-drop", capability]
        for capability in spec.cap_add:
            args += ["--cap-add", capability]
        for tmpfs in spec.tmpfs:
            args += ["--tmpfs", tmpfs.podman_value(spec.user)]
        if not shm:
            args.append("--ipc=none")
        args += self.limit_args
        volume_dirs = {}
        for mount in spec.mounts:
            path = self._volume_dir(name, mount, honour_image_volumes)
            volume_dirs[mount.container_path] = path
            args += ["-v", f"{path}:{mount.container_path}:{'ro' if mount.read_only else 'rw'}"]
        for key, value in env.items():
            args += ["-e", f"{key}={value}"]
        args.append(spec.image)
        task = Task(name, spec, port, volume_dirs, time.monotonic(), args, self.limits_note, dict(test_only_env))
        self.tasks.append(task)
        podman(*args, timeout=120)
        task.started_at = time.monotonic()
        return task

    def cleanup(self) -> None:
        for task in self.tasks:
            podman("rm", "-f", "-v", "-t", "0", task.name, check=False, timeout=60)
            for path in task.volume_dirs.values():
                shutil.rmtree(path, ignore_errors=True)


@contextlib.contextmanager
def runner(spec: TaskSpec, work_dir: Path) -> Iterator[Runner]:
    with Credentials() as credentials:
        started = Runner(spec, credentials, work_dir)
        try:
            yield started
        finally:
            started.cleanup()


def task_name() -> str:
    return f"short-cut-ecs-{uuid.uuid4().hex[:8]}"


def note(text: str) -> None:
    """A line for the terminal summary (see conftest.pytest_terminal_summary) and stderr."""
    if text not in NOTES:
        NOTES.append(text)
    print(text, file=sys.stderr)
