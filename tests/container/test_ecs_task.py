"""The built image started as infra/ecs/task-definition.json (rendered) says, judged as ECS judges it.

Each test reads the task definition through ecs_runner (see its docstring for the field-by-field
mapping and the AWS documents behind it). Secrets Manager is a moto_server on loopback, reached
through AWS_ENDPOINT_URL_SECRETS_MANAGER: a test-only addition to `environment`. Credentials come
only from the stand-in container credentials endpoint; no static key is in the container.

Health timings: `interval` and `startPeriod` are multiplied by ECS_HEALTH_TIME_SCALE (default 0.2)
so the suite is quick; `timeout` and `retries` are not scaled, and the rules stay ECS's. Set
ECS_HEALTH_TIME_SCALE=1 to run the task definition's real timings.
"""

from __future__ import annotations

import copy
import json
import os
import re
import secrets
import signal
import stat
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import boto3
import httpx
import pytest

from src.loading.private_dir import LOCK_NAME
from tests.container.conftest import IMAGE, capability_problems, mounts, processes, service_account_files
from tests.container.ecs_runner import (
    HealthCheck,
    Runner,
    TaskSpec,
    json_log_problems,
    note,
    render,
    runner,
    task_name,
)
from tests.support.canary import canary_secret_string, leaked
from tests.support.cfn import load
from tests.support.processes import DUMMY_CREDENTIALS, ROOT, Process, start_moto

TIME_SCALE = float(os.environ.get("ECS_HEALTH_TIME_SCALE", "0.2"))
# The image as a registry reference, the way `render` requires it: repository and an explicit tag.
IMAGE_REF = f"localhost/{IMAGE}"
STATIC_CREDENTIAL_VARS = ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN", "AWS_PROFILE")


# The service-account file's home: a tmpfs the task definition declares (issue 20, item 2).
KEY_TMPFS = "/run/short-cut"


@pytest.fixture(scope="module")
def document(image: str, tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    return render(IMAGE_REF, tmp_path_factory.mktemp("rendered"))


@pytest.fixture(scope="module")
def spec(document: dict[str, Any]) -> TaskSpec:
    return TaskSpec.from_task_definition(document)


@pytest.fixture(scope="module")
def plain_spec(document: dict[str, Any]) -> TaskSpec:
    """The rendered task definition less the hardening of issue 20: no tmpfs, no capability drop.
    What another runtime, or an older revision, gives the same image."""
    changed = copy.deepcopy(document)
    linux = changed["containerDefinitions"][0]["linuxParameters"]
    assert linux.pop("tmpfs", None) and linux.pop("capabilities", None), "nothing to take away"
    return TaskSpec.from_task_definition(changed)


@pytest.fixture
def moto(tmp_path: Path) -> Iterator[tuple[Process, str]]:
    """A fresh moto_server per test: the task definition's SECRET_NAME is one name."""
    process, url = start_moto(tmp_path)
    try:
        yield process, url
    finally:
        process.stop()


@pytest.fixture
def sm(moto: tuple[Process, str], spec: TaskSpec) -> Any:
    return boto3.client(
        "secretsmanager",
        region_name=spec.environment["AWS_REGION"],
        endpoint_url=moto[1],
        aws_access_key_id=DUMMY_CREDENTIALS["AWS_ACCESS_KEY_ID"],
        aws_secret_access_key=DUMMY_CREDENTIALS["AWS_SECRET_ACCESS_KEY"],
    )


@pytest.fixture
def ecs(spec: TaskSpec, tmp_path: Path) -> Iterator[Runner]:
    with runner(spec, tmp_path / "volumes") as started:
        note(f"credentials: {started.credentials.note}")
        note(f"cpu/memory: {started.limits_note}")
        yield started


def health_check(spec: TaskSpec) -> HealthCheck:
    assert spec.health is not None, "the task definition has no healthCheck"
    return HealthCheck.from_definition(spec.health, TIME_SCALE)


def decision_time(check: HealthCheck) -> float:
    """The longest ECS takes to decide: startPeriod, then `retries` probes of interval + timeout."""
    return check.start_period + (check.retries + 1) * (check.interval + check.timeout) + 15


def health(task_url: str) -> tuple[int, dict[str, Any]]:
    response = httpx.get(f"{task_url}/health", timeout=5)
    body: dict[str, Any] = response.json()
    return response.status_code, body


def endpoint_env(moto_url: str, **extra: str) -> dict[str, str]:
    note("test-only environment: AWS_ENDPOINT_URL_SECRETS_MANAGER (moto_server), PORT (host networking)")
    return {"AWS_ENDPOINT_URL_SECRETS_MANAGER": moto_url, **extra}


def stack_placeholder_secret() -> str:
    """The secret as the stack creates it: the template's SecretStringTemplate, with the generated
    key filled in the way Secrets Manager's GenerateSecretString does."""
    template = load(ROOT / "infra/cloudformation/short-cut.yaml")
    for resource in template["Resources"].values():
        if resource["Type"] == "AWS::SecretsManager::Secret":
            generate = resource["Properties"]["GenerateSecretString"]
            value = json.loads(generate["SecretStringTemplate"])
            value[generate["GenerateStringKey"]] = secrets.token_hex(32)
            return json.dumps(value)
    raise AssertionError("the template creates no secret")


def container_env(task_name: str) -> dict[str, str]:
    from tests.container.conftest import podman

    items = json.loads(podman("inspect", "--format", "{{json .Config.Env}}", task_name).stdout)
    return dict(item.split("=", 1) for item in items)


def assert_logs_are_awslogs_json(stdout: str, stderr: str) -> None:
    # awslogs ships both streams; each line must be one JSON object for Logs Insights.
    assert stdout.strip(), "the container wrote nothing to stdout"
    assert json_log_problems(stdout) == []
    assert json_log_problems(stderr) == []
    assert leaked(stdout, stderr) == []


@pytest.mark.parametrize("honour_image_volumes", [True, False], ids=["image-volume-honoured", "bare-bind-volume"])
def test_task_becomes_healthy(
    spec: TaskSpec, ecs: Runner, sm: Any, moto: tuple[Process, str], honour_image_volumes: bool
) -> None:
    sm.create_secret(Name=spec.environment["SECRET_NAME"], SecretString=canary_secret_string())
    task = ecs.start(task_name(), test_only_env=endpoint_env(moto[1]), honour_image_volumes=honour_image_volumes)
    check = health_check(spec)
    monitor = task.monitor(TIME_SCALE)
    try:
        healthy = monitor.wait_for("HEALTHY", timeout=decision_time(check))
    finally:
        monitor.stop()
    stdout, stderr = task.logs()
    assert healthy is not None, (monitor.history, stdout[-3000:], stderr[-3000:])
    assert all(probe.status != "UNHEALTHY" for probe in monitor.history)

    code, body = health(task.url)
    assert code == 200 and body["status"] == "ok", body
    assert body["secrets"]["source"] == "aws-secrets-manager"
    assert body["secrets"]["secret_names"] == [spec.environment["SECRET_NAME"]]

    # Credentials: only the container route, as the ECS agent provides them.
    env = container_env(task.name)
    assert [name for name in STATIC_CREDENTIAL_VARS if name in env] == []
    assert ecs.credentials.credential_requests(), "the SDK never asked the container credentials endpoint"

    # /tmp as Fargate mounts it: the image's 1777 copied in, or a bare root 0755 directory.
    volume = task.volume_dirs["/tmp"]
    assert stat.S_IMODE(volume.stat().st_mode) == (0o1777 if honour_image_volumes else 0o755)
    assert volume.stat().st_uid == 0
    writable = task.exec("sh", "-c", "touch /tmp/.probe && rm /tmp/.probe").returncode == 0
    assert writable is honour_image_volumes
    # No implicit tmpfs: ECS mounts none on /tmp, /var/tmp or /run, and the root stays read-only.
    tmpfs = set(task.exec("awk", '$3 == "tmpfs" { print $2 }', "/proc/mounts").stdout.split())
    assert tmpfs & {"/tmp", "/var/tmp", "/run"} == set(), tmpfs
    assert task.exec("sh", "-c", "touch /app/.probe").returncode != 0

    assert_key_on_the_task_tmpfs(task.name, spec)
    # Least privilege: no process of the task holds any capability, not even in its bounding
    # set (the task definition drops ALL). no_new_privs is not checked: Fargate cannot set it.
    assert capability_problems(processes(task.name), no_new_privs=False) == []

    if honour_image_volumes:
        assert_limits_applied(ecs, task.exec)
    assert_logs_are_awslogs_json(stdout, stderr)


def task_uid(spec: TaskSpec) -> str:
    return spec.user.split(":")[0] if spec.user else "0"


def assert_key_on_the_task_tmpfs(name: str, spec: TaskSpec) -> None:
    """The service-account file is on the tmpfs the task definition declares, as ECS mounts it
    (memory only, noexec, nosuid, the declared size), private and owned by the task's user, and
    nowhere else."""
    declared = {tmpfs.container_path: tmpfs for tmpfs in spec.tmpfs}
    assert KEY_TMPFS in declared, f"the task definition mounts no tmpfs at {KEY_TMPFS}: {spec.tmpfs}"
    fstype, options = mounts(name)[KEY_TMPFS]
    assert fstype == "tmpfs", fstype
    assert {"rw", "noexec", "nosuid", "nodev", f"size={declared[KEY_TMPFS].size_mib * 1024}k"} <= options, options
    files = service_account_files(name)
    uid = task_uid(spec)
    assert len(files) == 1, files
    assert re.fullmatch(rf"700 {uid} 600 {uid} {KEY_TMPFS}/([^/]+/)?service-account\.json", files[0]), files


def assert_limits_applied(ecs: Runner, exec_: Any) -> None:
    """The cgroup the container got holds the task's cpu and memory, when they were applied."""
    spec = ecs.spec
    cgroup = exec_(
        "sh", "-c",
        "cat /sys/fs/cgroup/cpu.max /sys/fs/cgroup/memory.max 2>/dev/null || "
        "cat /sys/fs/cgroup/cpu/cpu.cfs_quota_us /sys/fs/cgroup/cpu/cpu.cfs_period_us "
        "/sys/fs/cgroup/memory/memory.limit_in_bytes",
    ).stdout.split()  # fmt: skip
    if "--cpus" in ecs.limit_args and spec.cpu_units:
        quota, period = int(cgroup[0]), int(cgroup[1])
        assert quota / period == pytest.approx(spec.cpu_units / 1024)
    if "--memory" in ecs.limit_args and spec.memory_mib:
        assert int(cgroup[-1]) == spec.memory_mib * 1024 * 1024


def test_task_with_placeholder_secret_becomes_unhealthy(
    spec: TaskSpec, ecs: Runner, sm: Any, moto: tuple[Process, str]
) -> None:
    """The first deploy's secret (issue 12, defect 3): ECS sees UNHEALTHY, after startPeriod."""
    sm.create_secret(Name=spec.environment["SECRET_NAME"], SecretString=stack_placeholder_secret())
    task = ecs.start(task_name(), test_only_env=endpoint_env(moto[1]))
    check = health_check(spec)
    monitor = task.monitor(TIME_SCALE)
    try:
        unhealthy = monitor.wait_for("UNHEALTHY", timeout=decision_time(check))
    finally:
        monitor.stop()
    stdout, stderr = task.logs()
    assert unhealthy is not None, (monitor.history, stdout[-3000:])
    assert all(probe.status != "HEALTHY" for probe in monitor.history)
    # Failures inside startPeriod were not counted; exactly `retries` counted ones decided it.
    assert unhealthy.at >= check.start_period
    assert all(not probe.counted for probe in monitor.history if probe.at < check.start_period)
    assert sum(probe.counted for probe in monitor.history if probe.at <= unhealthy.at) == check.retries
    # The process is up and says why: it is the health check, not a crash, that ECS acts on.
    assert task.running()
    code, body = health(task.url)
    assert code == 503 and body["secrets"]["error"]["code"] == "PlaceholderValue", body
    assert_logs_are_awslogs_json(stdout, stderr)


def test_refresh_failure_after_start_stays_healthy_and_degraded(
    spec: TaskSpec, ecs: Runner, sm: Any, moto: tuple[Process, str]
) -> None:
    name = spec.environment["SECRET_NAME"]
    sm.create_secret(Name=name, SecretString=canary_secret_string())
    # Test-only: a 2 s refresh instead of the default 300 s, so a failed refresh happens soon.
    task = ecs.start(task_name(), test_only_env=endpoint_env(moto[1], SECRETS_REFRESH_INTERVAL="2"))
    check = health_check(spec)
    monitor = task.monitor(TIME_SCALE)
    try:
        assert monitor.wait_for("HEALTHY", timeout=decision_time(check)) is not None, monitor.history
        sm.delete_secret(SecretId=name, ForceDeleteWithoutRecovery=True)
        deadline, body = time.monotonic() + 30, dict[str, Any]()
        while time.monotonic() < deadline:
            code, body = health(task.url)
            if body.get("status") == "degraded":
                break
            time.sleep(0.5)
        assert body.get("status") == "degraded", body
        assert code == 200 and body["secrets"]["error"]["code"], body
        # Long enough for ECS to have declared it UNHEALTHY had the probe failed.
        after = monitor.wait_probes(
            check.retries + 1, timeout=(check.retries + 1) * (check.interval + check.timeout) + 15
        )
    finally:
        monitor.stop()
    assert len(after) == check.retries + 1
    assert all(probe.ok and probe.status == "HEALTHY" for probe in after), after
    assert health(task.url)[1]["status"] == "degraded"
    assert_logs_are_awslogs_json(*task.logs())


def test_stops_within_stop_timeout_and_leaves_no_key_file(
    plain_spec: TaskSpec, sm: Any, moto: tuple[Process, str], tmp_path: Path
) -> None:
    """Without the task's tmpfs and without /dev/shm the key goes to the /tmp volume, on the host
    where the test can see it: private while the task runs, gone once ECS has stopped it."""
    spec = plain_spec
    sm.create_secret(Name=spec.environment["SECRET_NAME"], SecretString=canary_secret_string())
    with runner(spec, tmp_path / "volumes") as ecs:
        stop_and_check_the_key_is_gone(spec, ecs, moto[1])


def stop_and_check_the_key_is_gone(spec: TaskSpec, ecs: Runner, moto_url: str) -> None:
    task = ecs.start(task_name(), test_only_env=endpoint_env(moto_url), shm=False)
    check = health_check(spec)
    monitor = task.monitor(TIME_SCALE)
    try:
        assert monitor.wait_for("HEALTHY", timeout=decision_time(check)) is not None, (monitor.history, task.logs())
    finally:
        monitor.stop()
    volume = task.volume_dirs["/tmp"]
    directories = [path for path in volume.iterdir() if path.name.startswith("short-cut-")]
    assert len(directories) == 1, list(volume.iterdir())
    key_file = directories[0] / "service-account.json"
    uid = int(spec.user.split(":")[0]) if spec.user else 0
    assert stat.S_IMODE(directories[0].lstat().st_mode) == 0o700 and directories[0].lstat().st_uid == uid
    assert stat.S_IMODE(key_file.lstat().st_mode) == 0o600 and key_file.lstat().st_uid == uid
    # The key and the lock file whose flock proves the directory is this process's (private_dir).
    entries = sorted(directories[0].iterdir())
    assert [entry.name for entry in entries] == sorted([LOCK_NAME, "service-account.json"]), entries
    assert all(stat.S_IMODE(entry.lstat().st_mode) == 0o600 and entry.lstat().st_uid == uid for entry in entries)

    elapsed, exit_code = task.stop()
    assert elapsed < spec.stop_timeout, f"SIGKILL after {elapsed:.1f}s: SIGTERM did not stop it"
    # uvicorn finishes its shutdown, then re-raises SIGTERM: 143. SIGKILL would be 137.
    assert exit_code in (0, 128 + signal.SIGTERM), exit_code
    assert not key_file.exists() and not directories[0].exists()
    assert list(volume.iterdir()) == []
    stdout, stderr = task.logs()
    assert "Application shutdown complete" in stdout + stderr
    assert_logs_are_awslogs_json(stdout, stderr)


def test_without_the_tmpfs_the_key_falls_back_and_the_task_stays_healthy(
    plain_spec: TaskSpec, sm: Any, moto: tuple[Process, str], tmp_path: Path
) -> None:
    """A task definition without the tmpfs (another runtime, an older revision): the service
    puts the key on /dev/shm, the next private place, and ECS sees it HEALTHY. The same task
    definition without the capability drop shows that the runner's capabilities come from the
    task definition: the bounding set is the runtime's default again, not empty."""
    spec = plain_spec
    sm.create_secret(Name=spec.environment["SECRET_NAME"], SecretString=canary_secret_string())
    with runner(spec, tmp_path / "volumes") as ecs:
        task = ecs.start(task_name(), test_only_env=endpoint_env(moto[1]))
        monitor = task.monitor(TIME_SCALE)
        try:
            healthy = monitor.wait_for("HEALTHY", timeout=decision_time(health_check(spec)))
        finally:
            monitor.stop()
        assert healthy is not None, (monitor.history, task.logs())
        code, body = health(task.url)
        assert code == 200 and body["status"] == "ok", body
        assert KEY_TMPFS not in mounts(task.name)
        files = service_account_files(task.name)
        uid = task_uid(spec)
        assert len(files) == 1 and re.fullmatch(rf"700 {uid} 600 {uid} /dev/shm/[^/]+/service-account\.json", files[0])
        assert task.exec("sh", "-c", "touch /tmp/.probe && rm /tmp/.probe").returncode == 0
        service = [row for row in processes(task.name) if "uvicorn" in row["cmd"]]
        assert service and all(row["CapBnd"] != "0000000000000000" for row in service), service
        assert_logs_are_awslogs_json(*task.logs())
