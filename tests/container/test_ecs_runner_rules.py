"""The runner's own rules, without a container: ECS's health evaluation, what it reads from the
task definition, what it refuses, and the awslogs line check. If these drift from ECS, the
container tests in test_ecs_task.py would judge the image by the wrong rules.

Health rules: https://docs.aws.amazon.com/AmazonECS/latest/APIReference/API_HealthCheck.html
"""

from __future__ import annotations

import copy
import time
from typing import Any

import pytest

from tests.container.ecs_runner import (
    HealthCheck,
    HealthMonitor,
    NotEmulated,
    Refused,
    TaskSpec,
    TmpfsMount,
    json_log_problems,
    render,
)

CHECK = HealthCheck(command=["CMD", "true"], interval=10, timeout=5, retries=3, start_period=60)


@pytest.fixture(scope="module")
def document(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    return render("localhost/short-cut-api:rules", tmp_path_factory.mktemp("rendered"))


def status(monitor: HealthMonitor) -> str:
    return monitor.status


def replay(results: list[tuple[float, bool]], check: HealthCheck = CHECK) -> HealthMonitor:
    monitor = HealthMonitor(check, lambda _timeout: True, started_at=0.0, clock=lambda: 0.0)
    for at, ok in results:
        monitor.record(ok, at)
    return monitor


def test_failures_inside_start_period_do_not_count() -> None:
    monitor = replay([(10, False), (20, False), (30, False), (40, False), (50, False)])
    assert status(monitor) == "UNKNOWN"
    assert not any(probe.counted for probe in monitor.history)


def test_retries_consecutive_failures_after_start_period_make_it_unhealthy() -> None:
    monitor = replay([(50, False), (60, False), (70, False)])
    assert status(monitor) == "UNKNOWN"
    monitor.record(False, 80)
    assert status(monitor) == "UNHEALTHY"
    assert [probe.counted for probe in monitor.history] == [False, True, True, True]


def test_a_success_inside_start_period_makes_it_healthy_and_failures_count_from_then() -> None:
    monitor = replay([(10, False), (20, True)])
    assert status(monitor) == "HEALTHY"
    for at in (30, 40):
        monitor.record(False, at)
    assert status(monitor) == "HEALTHY"  # two of three
    monitor.record(False, 50)  # still inside startPeriod, but counted: it was healthy
    assert status(monitor) == "UNHEALTHY"


def test_a_success_resets_the_streak() -> None:
    monitor = replay([(70, False), (80, False), (90, True), (100, False), (110, False)])
    assert status(monitor) == "HEALTHY"
    monitor.record(False, 120)
    assert status(monitor) == "UNHEALTHY"


def test_the_monitor_probes_every_interval_and_passes_the_timeout() -> None:
    calls: list[tuple[float, float]] = []
    started = time.monotonic()

    def probe(timeout: float) -> bool:
        calls.append((time.monotonic() - started, timeout))
        return len(calls) >= 2

    check = HealthCheck(command=["CMD", "true"], interval=0.2, timeout=4, retries=3, start_period=0)
    monitor = HealthMonitor(check, probe, started_at=started).start()
    try:
        assert monitor.wait_for("HEALTHY", timeout=5) is not None
    finally:
        monitor.stop()
    assert calls[0][0] >= 0.2  # the first probe waits one interval
    assert {timeout for _, timeout in calls} == {4}
    assert [probe.status for probe in monitor.history[:2]] == ["UNKNOWN", "HEALTHY"]


def test_time_scale_shrinks_interval_and_start_period_only() -> None:
    definition = {"command": ["CMD-SHELL", "exit 0"], "interval": 15, "timeout": 5, "retries": 3, "startPeriod": 60}
    check = HealthCheck.from_definition(definition, 0.2)
    assert (check.interval, check.start_period, check.timeout, check.retries) == (3, 12, 5, 3)
    assert check.argv() == ["/bin/sh", "-c", "exit 0"]
    defaults = HealthCheck.from_definition({"command": ["CMD", "x"]})
    assert (defaults.interval, defaults.timeout, defaults.retries, defaults.start_period) == (30, 5, 3, 0)


def test_spec_is_read_from_the_rendered_file(document: dict[str, Any]) -> None:
    spec = TaskSpec.from_task_definition(document)
    container = document["containerDefinitions"][0]
    assert spec.image == container["image"] == "localhost/short-cut-api:rules"
    assert spec.user == container["user"]
    assert spec.read_only_root is container["readonlyRootFilesystem"]
    assert spec.init is container["linuxParameters"]["initProcessEnabled"]
    assert spec.environment == {item["name"]: item["value"] for item in container["environment"]}
    assert [(m.container_path, m.volume) for m in spec.mounts] == [
        (point["containerPath"], point["sourceVolume"]) for point in container["mountPoints"]
    ]
    assert spec.health == container["healthCheck"]
    assert spec.stop_timeout == container["stopTimeout"]
    assert (spec.cpu_units, spec.memory_mib) == (int(document["cpu"]), int(document["memory"]))
    assert spec.log_driver == container["logConfiguration"]["logDriver"] == "awslogs"
    linux = container["linuxParameters"]
    assert spec.cap_drop == tuple(linux["capabilities"]["drop"]) and spec.cap_add == ()
    assert [(t.container_path, t.size_mib, list(t.mount_options)) for t in spec.tmpfs] == [
        (entry["containerPath"], entry["size"], entry.get("mountOptions", [])) for entry in linux["tmpfs"]
    ]


def test_a_changed_task_definition_changes_the_spec(document: dict[str, Any]) -> None:
    changed = copy.deepcopy(document)
    container = changed["containerDefinitions"][0]
    container["stopTimeout"] = 7
    container["user"] = "20002:20002"
    container["environment"].append({"name": "EXTRA", "value": "1"})
    spec = TaskSpec.from_task_definition(changed)
    assert (spec.stop_timeout, spec.user, spec.environment["EXTRA"]) == (7, "20002:20002", "1")


@pytest.mark.parametrize(
    ("change", "message"),
    [
        (lambda c, d: c.update(secrets=[{"name": "X", "valueFrom": "arn"}]), "secrets"),
        (lambda c, d: c.update(ulimits=[{"name": "nofile", "softLimit": 1, "hardLimit": 1}]), "ulimits"),
        (lambda c, d: c["linuxParameters"].update(devices=[{"hostPath": "/dev/fuse"}]), "devices"),
        (lambda c, d: c["linuxParameters"].update(sharedMemorySize=64), "sharedMemorySize"),
        (lambda c, d: d["volumes"][0].update(host={"sourcePath": "/data"}), "bind volume"),
        (lambda c, d: d.update(requiresCompatibilities=["EC2"]), "Fargate"),
    ],
    ids=["secrets", "ulimits", "devices", "shm-size", "host-path", "not-fargate"],
)
def test_what_the_runner_cannot_reproduce_is_refused(document: dict[str, Any], change: Any, message: str) -> None:
    changed = copy.deepcopy(document)
    change(changed["containerDefinitions"][0], changed)
    with pytest.raises(NotEmulated, match=message):
        TaskSpec.from_task_definition(changed)


def test_awslogs_lines_must_each_be_one_json_object() -> None:
    good = '{"message": "a"}\n\n{"message": "b"}\n'
    assert json_log_problems(good) == []
    assert json_log_problems('INFO: Started server process [1]\n{"message": "a"}') == [
        "INFO: Started server process [1]"
    ]
    assert json_log_problems('["a list"]\n"a string"') == ['["a list"]', '"a string"']


def test_monitor_stop_returns_promptly() -> None:
    check = HealthCheck(command=["CMD", "true"], interval=30, timeout=1, retries=3, start_period=0)
    monitor = HealthMonitor(check, lambda _timeout: True).start()
    started = time.monotonic()
    monitor.stop()
    assert time.monotonic() - started < 2  # not a whole interval


# The capabilities and tmpfs rules: API_KernelCapabilities (Fargate adds only SYS_PTRACE),
# API_Tmpfs (size in MiB, the listed mount options), aws/amazon-ecs-agent#2226 (size 0 refused).
@pytest.mark.parametrize(
    ("linux", "message"),
    [
        ({"capabilities": {"add": ["NET_ADMIN"]}}, "only SYS_PTRACE"),
        ({"capabilities": {"drop": ["ALL"], "add": ["SYS_PTRACE", "SYS_ADMIN"]}}, "SYS_ADMIN"),
        ({"tmpfs": [{"containerPath": "/run/x", "size": 0}]}, "non-zero"),
        ({"tmpfs": [{"containerPath": "/run/x", "size": -2}]}, "non-zero"),
        ({"tmpfs": [{"containerPath": "/run/x", "size": "4"}]}, "non-zero"),
        ({"tmpfs": [{"containerPath": "/run/x"}]}, "non-zero"),
        ({"tmpfs": [{"containerPath": "run/x", "size": 4}]}, "absolute"),
        ({"tmpfs": [{"containerPath": "/run/x", "size": 4, "mountOptions": ["noexec", "size=8m"]}]}, "size=8m"),
        ({"tmpfs": [{"containerPath": "/run/x", "size": 4, "mountOptions": ["tmpcopyup"]}]}, "tmpcopyup"),
        ({"tmpfs": [{"containerPath": "/run/x", "size": 4, "mountOptions": ["noexec=1"]}]}, "noexec=1"),
    ],
    ids=["add-net-admin", "add-sys-admin", "size-0", "size-negative", "size-string", "no-size", "relative",
         "size-option", "podman-only-option", "flag-with-value"],
)  # fmt: skip
def test_what_ecs_refuses_on_fargate_is_refused(document: dict[str, Any], linux: dict[str, Any], message: str) -> None:
    changed = copy.deepcopy(document)
    changed["containerDefinitions"][0]["linuxParameters"].update(linux)
    with pytest.raises(Refused, match=message):
        TaskSpec.from_task_definition(changed)


def test_capabilities_and_tmpfs_become_podman_flags(document: dict[str, Any]) -> None:
    changed = copy.deepcopy(document)
    linux = changed["containerDefinitions"][0]["linuxParameters"]
    linux["capabilities"] = {"drop": ["ALL"], "add": ["SYS_PTRACE"]}
    linux["tmpfs"] = [
        {"containerPath": "/scratch", "size": 12},
        {"containerPath": "/run/keys", "size": 2, "mountOptions": ["ro", "exec", "mode=0750"]},
        {"containerPath": "/run/own", "size": 1, "mountOptions": ["uid=20002", "gid=20003", "mode=0700"]},
    ]
    changed["containerDefinitions"][0]["user"] = "20002:20003"
    spec = TaskSpec.from_task_definition(changed)
    assert (spec.cap_drop, spec.cap_add) == (("ALL",), ("SYS_PTRACE",))
    values = [tmpfs.podman_value(spec.user) for tmpfs in spec.tmpfs]
    # Docker's default mode 1777 when none is named; the task definition's options come last.
    assert values == [
        "/scratch:rw,size=12m,mode=1777",
        "/run/keys:rw,size=2m,ro,exec,mode=0750",
        "/run/own:rw,size=1m,mode=0700,U",
    ]


def test_a_tmpfs_owner_other_than_the_containers_user_is_not_emulated() -> None:
    tmpfs = TmpfsMount.from_definition({"containerPath": "/run/x", "size": 1, "mountOptions": ["uid=10001"]})
    with pytest.raises(NotEmulated, match="owned by"):
        tmpfs.podman_value("10001:10001")  # gid left to the runtime's default: podman's U cannot say that
    both = TmpfsMount.from_definition({"containerPath": "/run/x", "size": 1, "mountOptions": ["uid=0", "gid=0"]})
    with pytest.raises(NotEmulated, match="owned by"):
        both.podman_value("10001:10001")
    assert both.podman_value("0:0").endswith(",U")
