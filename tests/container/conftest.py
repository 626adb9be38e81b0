"""Container fixtures: the stand-in base image, the real Dockerfile built with podman, and
containers that are always removed. Flags are the ones that work in this sandbox."""

from __future__ import annotations

import json
import shutil
import subprocess
import uuid
from collections.abc import Iterator
from typing import Any

import pytest

from tests.support.processes import ROOT

IMAGE = "short-cut-api:test"
MOTO_IMAGE = "docker.io/motoserver/moto:5.2.5"
LIMITS = ["--ulimit", "nofile=1024:1024", "--ulimit", "nproc=1024:1024"]
# Lines the ECS runner wants in the test output whatever the verbosity: which credentials
# route ran, whether cpu/memory limits applied.
NOTES: list[str] = []


def pytest_terminal_summary(terminalreporter: pytest.TerminalReporter) -> None:
    if NOTES:
        terminalreporter.section("ECS task-definition runner")
        for line in NOTES:
            terminalreporter.write_line(line)


def podman(*args: str, timeout: float = 600, check: bool = True) -> subprocess.CompletedProcess[str]:
    result = subprocess.run(["podman", *args], capture_output=True, text=True, timeout=timeout, check=False)
    if check and result.returncode != 0:
        raise AssertionError(f"podman {' '.join(args[:3])} failed: {result.stderr[-2000:]}")
    return result


def build(tag: str, *args: str) -> None:
    podman("build", "-q", "--pull=never", "--network=host", "--format", "docker", *LIMITS, "-t", tag, *args)


@pytest.fixture(scope="session")
def image() -> str:
    assert shutil.which("podman"), "podman is missing: make container-test installs it"
    subprocess.run(["sh", str(ROOT / "tests/container/build-standin-base.sh")], check=True, timeout=600)
    build(IMAGE, str(ROOT))
    return IMAGE


@pytest.fixture(scope="session")
def moto_image(image: str) -> str:
    if podman("image", "exists", MOTO_IMAGE, check=False).returncode != 0:
        build(MOTO_IMAGE, "-f", str(ROOT / "tests/container/moto-standin.Containerfile"), str(ROOT / "tests/container"))
    return MOTO_IMAGE


@pytest.fixture
def containers() -> Iterator[list[str]]:
    """Names to give containers; each is force-removed at teardown, with the anonymous volume
    podman makes for the image's VOLUME /tmp."""
    names: list[str] = []
    yield names
    for name in names:
        podman("rm", "-f", "-v", "-t", "0", name, check=False, timeout=60)


def new_name(names: list[str]) -> str:
    name = f"short-cut-test-{uuid.uuid4().hex[:8]}"
    names.append(name)
    return name


# Every process in the container but the reader itself: pid, command line, user and the
# capability sets and no_new_privs from /proc/<pid>/status. With an init process, PID 1 is the
# init and the service (uvicorn, exec'd by entrypoint.sh) its child; both are listed.
PROCESS_STATUS = r"""
import json, os
rows = []
for pid in sorted((p for p in os.listdir("/proc") if p.isdigit()), key=int):
    if int(pid) == os.getpid():
        continue
    try:
        with open(f"/proc/{pid}/cmdline", "rb") as f:
            cmd = f.read().replace(b"\0", b" ").decode(errors="replace").strip()
        with open(f"/proc/{pid}/status") as f:
            fields = dict(line.rstrip("\n").split(":\t", 1) for line in f if ":\t" in line)
    except OSError:
        continue
    keep = ("Uid", "CapInh", "CapPrm", "CapEff", "CapBnd", "CapAmb", "NoNewPrivs")
    rows.append({"pid": int(pid), "cmd": cmd, **{k: fields[k].strip() for k in keep}})
print(json.dumps(rows))
"""
NO_CAPABILITIES = "0000000000000000"


def processes(container: str) -> list[dict[str, Any]]:
    """The container's processes with their capability sets (see PROCESS_STATUS)."""
    out = podman("exec", container, "python", "-c", PROCESS_STATUS, timeout=60).stdout
    rows: list[dict[str, Any]] = json.loads(out)
    assert any("uvicorn" in row["cmd"] for row in rows), rows  # the service is among them
    return rows


def capability_problems(rows: list[dict[str, Any]], *, no_new_privs: bool) -> list[str]:
    """What keeps these processes from having no capability at all (and no_new_privs set)."""
    problems = []
    for row in rows:
        for key in ("CapInh", "CapPrm", "CapEff", "CapBnd", "CapAmb"):
            if row[key] != NO_CAPABILITIES:
                problems.append(f"pid {row['pid']} ({row['cmd'][:40]}): {key} {row[key]}")
        if no_new_privs and row["NoNewPrivs"] != "1":
            problems.append(f"pid {row['pid']} ({row['cmd'][:40]}): NoNewPrivs {row['NoNewPrivs']}")
    return problems


def mounts(container: str) -> dict[str, tuple[str, set[str]]]:
    """/proc/mounts inside the container: mount point -> (fstype, options)."""
    out = podman("exec", container, "cat", "/proc/mounts", timeout=60).stdout
    table = {}
    for line in out.splitlines():
        _, point, fstype, options, *_ = line.split()
        table[point] = (fstype, set(options.split(",")))
    return table


# The service-account file wherever the service put it under `root`, with the modes and owners
# of the file and its directory: "<dir mode> <dir uid> <file mode> <file uid> <path>" lines.
SA_FILES = r"""
import os, stat, sys
for root in sys.argv[1:]:
  for folder, _, names in os.walk(root):
    if "service-account.json" in names:
      path = os.path.join(folder, "service-account.json")
      d, f = os.lstat(folder), os.lstat(path)
      print(f"{stat.S_IMODE(d.st_mode):o} {d.st_uid} {stat.S_IMODE(f.st_mode):o} {f.st_uid} {path}")
"""


# Where the service may put it: the task's tmpfs, then the fallbacks (src/loading/private_dir.py).
KEY_ROOTS = ("/run/short-cut", "/dev/shm", "/tmp", "/var/tmp")


def service_account_files(container: str, roots: tuple[str, ...] = KEY_ROOTS) -> list[str]:
    return podman("exec", container, "python", "-c", SA_FILES, *roots, timeout=60).stdout.splitlines()
