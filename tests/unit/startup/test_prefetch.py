"""The start-up prefetch: used once, only for the names asked, and never trusted when malformed;
started only when the process can really run two things at once (CPUs, CFS quota, ECS task limit)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

from src.startup import prefetch
from tests.support.processes import ROOT


class FakeChild:
    def __init__(self, out: bytes, *, hang: bool = False) -> None:
        self.out, self.hang, self.killed = out, hang, False

    def communicate(self, timeout: float | None = None) -> tuple[bytes, bytes]:
        if self.hang and not self.killed:
            raise subprocess.TimeoutExpired("x", timeout or 0)
        return self.out, b""

    def kill(self) -> None:
        self.killed = True


def use(monkeypatch: pytest.MonkeyPatch, child: FakeChild | None) -> None:
    monkeypatch.setattr(prefetch, "_child", child)


def test_no_child_means_no_answer(monkeypatch: pytest.MonkeyPatch) -> None:
    use(monkeypatch, None)
    assert prefetch.take(("a",), timeout=1) is None


def test_answer_is_used_once(monkeypatch: pytest.MonkeyPatch) -> None:
    secret = {"name": "a", "arn": "arn", "version_id": "v1", "secret_string": "{}", "has_binary": False}
    use(monkeypatch, FakeChild(json.dumps({"secrets": [secret]}).encode()))
    outcome = prefetch.take(("a",), timeout=1)
    assert outcome is not None and outcome.secrets[0]["version_id"] == "v1"
    assert "{}" not in repr(outcome)
    assert prefetch.take(("a",), timeout=1) is None


@pytest.mark.parametrize("out", [b"", b"not json", json.dumps({"secrets": [{"name": "other"}]}).encode()])
def test_malformed_or_mismatched_answers_are_ignored(monkeypatch: pytest.MonkeyPatch, out: bytes) -> None:
    use(monkeypatch, FakeChild(out))
    assert prefetch.take(("a",), timeout=1) is None


def test_error_is_passed_on(monkeypatch: pytest.MonkeyPatch) -> None:
    error = {"code": "AccessDeniedException", "message": "denied", "hint": "h", "secret_name": "a"}
    use(monkeypatch, FakeChild(json.dumps({"error": error}).encode()))
    outcome = prefetch.take(("a",), timeout=1)
    assert outcome is not None and outcome.error == error


def test_a_hung_child_is_killed(monkeypatch: pytest.MonkeyPatch) -> None:
    child = FakeChild(b"", hang=True)
    use(monkeypatch, child)
    assert prefetch.take(("a",), timeout=0.01) is None
    assert child.killed


@pytest.mark.parametrize(
    ("env", "cpus", "wanted"),
    [({"APP_ENV": "production"}, 2.0, True), ({"APP_ENV": "staging"}, 4.0, True),
     ({"APP_ENV": "local"}, 4.0, False), ({"APP_ENV": "production", "SECRETS_PREFETCH": "0"}, 4.0, False),
     # auto, the default: one CPU, or a quota below two, means no child.
     ({"APP_ENV": "production"}, 1.0, False), ({"APP_ENV": "production"}, 0.5, False),
     ({"APP_ENV": "production"}, 1.5, False), ({"APP_ENV": "production", "SECRETS_PREFETCH": "auto"}, 0.5, False),
     # The override wins over the count, both ways.
     ({"APP_ENV": "production", "SECRETS_PREFETCH": "1"}, 0.5, True),
     ({"APP_ENV": "Production", "SECRETS_PREFETCH": "off"}, 8.0, False)],
)  # fmt: skip
def test_the_child_is_chosen_from_env_and_usable_cpus(env: dict[str, str], cpus: float, wanted: bool) -> None:
    assert prefetch.wanted(env, cpus=lambda: cpus) is wanted
    assert prefetch.decide(env, cpus=lambda: cpus)[1].startswith("on" if wanted else "off")


def test_the_override_does_not_read_the_cpus() -> None:
    def boom() -> float:
        raise AssertionError("SECRETS_PREFETCH=0/1 must not look at the CPUs")

    assert prefetch.wanted({"APP_ENV": "production", "SECRETS_PREFETCH": "0"}, cpus=boom) is False
    assert prefetch.wanted({"APP_ENV": "production", "SECRETS_PREFETCH": "1"}, cpus=boom) is True


# -- CPU and quota detection, against fake /proc/self/cgroup and cgroup files --------------


def write(path: Path, text: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)


def fake_v1(tmp_path: Path, own: str, files: dict[str, tuple[str, str]], mount: str = "cpu,cpuacct") -> Path:
    """/proc/self/cgroup for cgroup v1 (as on this machine: a `0::/` line too) and quota files."""
    proc = tmp_path / "proc-self-cgroup"
    write(proc, f"9:name=systemd:/\n4:memory:{own}\n3:cpuset:/\n2:{mount}:{own}\n0::/\n")
    for directory, (quota, period) in files.items():
        write(tmp_path / "cg" / mount / directory.strip("/") / "cpu.cfs_quota_us", quota + "\n")
        write(tmp_path / "cg" / mount / directory.strip("/") / "cpu.cfs_period_us", period + "\n")
    return proc


def fake_v2(tmp_path: Path, own: str, files: dict[str, str]) -> Path:
    proc = tmp_path / "proc-self-cgroup"
    write(proc, f"0::{own}\n")
    for directory, cpu_max in files.items():
        write(tmp_path / "cg" / directory.strip("/") / "cpu.max", cpu_max + "\n")
    return proc


def test_v1_quota_of_the_own_group(tmp_path: Path) -> None:
    proc = fake_v1(tmp_path, "/app", {"/app": ("50000", "100000"), "/": ("-1", "100000")})
    assert prefetch.cpu_quota(proc, tmp_path / "cg") == 0.5
    assert prefetch.usable_cpus(affinity=2, proc_cgroup=proc, cgroup_root=tmp_path / "cg", environ={}) == 0.5


def test_v1_quota_of_a_parent_binds_too(tmp_path: Path) -> None:
    # ECS: the task's limit sits on /ecs/<task>, the container's own group has none (-1).
    files = {"/ecs/task/ctr": ("-1", "100000"), "/ecs/task": ("50000", "100000"), "/": ("-1", "100000")}
    proc = fake_v1(tmp_path, "/ecs/task/ctr", files, mount="cpu")
    assert prefetch.cpu_quota(proc, tmp_path / "cg") == 0.5


def test_v1_inside_a_container_reads_the_mount_root(tmp_path: Path) -> None:
    # No cgroup namespace: /proc/self/cgroup names the host path, the mount shows our group at its root.
    proc = fake_v1(tmp_path, "/docker/abc123", {"/": ("150000", "100000")})
    assert prefetch.cpu_quota(proc, tmp_path / "cg") == 1.5


def test_v1_without_quota_is_no_quota(tmp_path: Path) -> None:
    proc = fake_v1(tmp_path, "/", {"/": ("-1", "100000")})
    assert prefetch.cpu_quota(proc, tmp_path / "cg") is None
    assert prefetch.usable_cpus(affinity=2, proc_cgroup=proc, cgroup_root=tmp_path / "cg", environ={}) == 2


def test_v2_cpu_max(tmp_path: Path) -> None:
    proc = fake_v2(
        tmp_path,
        "/ecstasks.slice/t.slice",
        {"/ecstasks.slice/t.slice": "max 100000", "/ecstasks.slice": "100000 50000"},
    )
    assert prefetch.cpu_quota(proc, tmp_path / "cg") == 2.0
    assert prefetch.usable_cpus(affinity=4, proc_cgroup=proc, cgroup_root=tmp_path / "cg", environ={}) == 2.0
    assert prefetch.usable_cpus(affinity=1, proc_cgroup=proc, cgroup_root=tmp_path / "cg", environ={}) == 1.0


def test_v2_unlimited_and_garbage_are_no_quota(tmp_path: Path) -> None:
    proc = fake_v2(tmp_path, "/a", {"/a": "max 100000", "/": "not a quota"})
    assert prefetch.cpu_quota(proc, tmp_path / "cg") is None


def test_no_cgroup_file_means_affinity_only(tmp_path: Path) -> None:
    assert prefetch.cpu_quota(tmp_path / "absent", tmp_path / "cg") is None
    assert prefetch.usable_cpus(affinity=3, proc_cgroup=tmp_path / "absent", cgroup_root=tmp_path, environ={}) == 3


def test_affinity_is_read_from_the_real_process() -> None:
    # A real child pinned to one CPU (as taskset does) counts one CPU; unpinned, all of ours.
    code = "from src.startup import prefetch; print(prefetch.usable_cpus(environ={}))"
    cpu = min(os.sched_getaffinity(0))
    pinned = subprocess.run(
        [sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, check=True,
        preexec_fn=lambda: os.sched_setaffinity(0, {cpu}),
    )  # fmt: skip
    assert float(pinned.stdout) <= 1.0
    free = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, check=True)
    assert float(free.stdout) <= len(os.sched_getaffinity(0))


# -- the ECS task limit, from a real HTTP server on loopback standing in for the metadata endpoint --


@pytest.fixture
def metadata() -> Iterator[tuple[str, dict[str, object]]]:
    answer: dict[str, object] = {"status": 200, "body": {}, "paths": []}

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            answer["paths"].append(self.path)  # type: ignore[attr-defined]
            body = json.dumps(answer["body"]).encode()
            self.send_response(int(answer["status"]))  # type: ignore[call-overload]
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args: object) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}/v4/abc", answer
    finally:
        server.shutdown()
        server.server_close()


def test_ecs_task_limit_caps_the_cpus(tmp_path: Path, metadata: tuple[str, dict[str, object]]) -> None:
    url, answer = metadata
    # The Fargate task response: task-level Limits.CPU in vCPUs.
    answer["body"] = {"TaskARN": "arn:aws:ecs:us-east-1:111122223333:task/c/1", "Limits": {"CPU": 0.5, "Memory": 1024}}
    env = {"ECS_CONTAINER_METADATA_URI_V4": url}
    none = tmp_path / "absent"
    assert prefetch.usable_cpus(affinity=2, proc_cgroup=none, cgroup_root=tmp_path, environ=env) == 0.5
    assert answer["paths"] == ["/v4/abc/task"]
    # The real decision path reads the same endpoint: half a vCPU means no child.
    assert prefetch.decide({"APP_ENV": "production", **env})[0] is False
    answer["body"] = {"Limits": {"CPU": 2}}
    assert prefetch.usable_cpus(affinity=2, proc_cgroup=none, cgroup_root=tmp_path, environ=env) == 2


def test_ecs_metadata_is_not_asked_when_the_cpus_already_say_no(
    tmp_path: Path, metadata: tuple[str, dict[str, object]]
) -> None:
    url, answer = metadata
    env = {"ECS_CONTAINER_METADATA_URI_V4": url}
    assert prefetch.usable_cpus(affinity=1, proc_cgroup=tmp_path / "absent", cgroup_root=tmp_path, environ=env) == 1
    assert answer["paths"] == []


@pytest.mark.parametrize(
    ("status", "body"),
    [(500, {"Limits": {"CPU": 0.5}}), (200, {}), (200, {"Limits": {"CPU": "half"}}), (200, {"Limits": {"CPU": 0}}),
     (200, {"Limits": {"CPU": True}})],
)  # fmt: skip
def test_ecs_metadata_that_is_unusable_changes_nothing(
    tmp_path: Path, metadata: tuple[str, dict[str, object]], status: int, body: dict[str, object]
) -> None:
    url, answer = metadata
    answer["status"], answer["body"] = status, body
    assert prefetch.task_cpu_limit(url) is None
    env = {"ECS_CONTAINER_METADATA_URI_V4": url}
    assert prefetch.usable_cpus(affinity=2, proc_cgroup=tmp_path / "absent", cgroup_root=tmp_path, environ=env) == 2


def test_ecs_metadata_unreachable_or_not_http_changes_nothing() -> None:
    assert prefetch.task_cpu_limit("http://127.0.0.1:1/v4", timeout=0.2) is None
    assert prefetch.task_cpu_limit("file:///etc/passwd") is None


def test_start_spawns_no_child_on_one_cpu(monkeypatch: pytest.MonkeyPatch) -> None:
    def no_spawn(*args: object, **kwargs: object) -> None:
        raise AssertionError("no child on one CPU")

    monkeypatch.setattr(prefetch, "_child", None)
    monkeypatch.setattr(prefetch, "usable_cpus", lambda **_: 1.0)
    monkeypatch.setattr(subprocess, "Popen", no_spawn)
    for key, value in {"APP_ENV": "production", "SECRETS_PREFETCH": "auto"}.items():
        monkeypatch.setenv(key, value)
    prefetch.start()
    assert prefetch.take(("a",), timeout=1) is None
    assert prefetch.decision() == "off: auto, 1 CPUs usable (the child needs 2)"


@pytest.mark.parametrize(
    ("env", "region"),
    [
        ({"AWS_REGION": "eu-west-1", "AWS_DEFAULT_REGION": "us-east-1"}, "eu-west-1"),
        ({"AWS_DEFAULT_REGION": "us-east-1"}, "us-east-1"),
        ({"AWS_REGION": "", "AWS_DEFAULT_REGION": "ap-south-1"}, "ap-south-1"),
        ({}, None),
    ],
)
def test_the_child_reads_the_region_as_settings_do(
    monkeypatch: pytest.MonkeyPatch, env: dict[str, str], region: str | None
) -> None:
    from src.config import Settings

    monkeypatch.setenv("APP_ENV", "production")
    for key, value in env.items():
        monkeypatch.setenv(key, value)
    names, child_region, _, _ = prefetch._settings_from_env()
    assert child_region == region == Settings().region
    assert names == Settings().secret_names


@pytest.mark.parametrize(("value", "expected"), [("", None), (" us-west-2 ", "us-west-2")])
def test_the_child_reads_the_failover_region_as_settings_do(
    monkeypatch: pytest.MonkeyPatch, value: str, expected: str | None
) -> None:
    from src.config import Settings

    monkeypatch.setenv("APP_ENV", "production")
    monkeypatch.setenv("AWS_REGION", "us-east-1")
    monkeypatch.setenv("SECRETS_FAILOVER_REGION", value)
    *_, failover = prefetch._settings_from_env()
    assert failover == expected == Settings().secrets_failover_region
    reader = prefetch.reader("us-east-1", {}, failover)
    assert (reader.primary_region, reader.failover_region) == ("us-east-1", expected)


@pytest.mark.parametrize("value", ["us-east-1", "not a region"])
def test_the_child_gives_up_on_a_failover_region_settings_refuse(monkeypatch: pytest.MonkeyPatch, value: str) -> None:
    # The parent's own load then reports it (InvalidConfiguration), as for any unreadable setting.
    monkeypatch.setenv("APP_ENV", "production")
    monkeypatch.setenv("AWS_REGION", "us-east-1")
    monkeypatch.setenv("SECRETS_FAILOVER_REGION", value)
    with pytest.raises(ValueError):
        prefetch._settings_from_env()
