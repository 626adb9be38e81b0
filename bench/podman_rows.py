"""Half a vCPU, in the image: `podman run --cpus 0.5` (and 2, information) from run to the first
200, the image against the bare app and the peer in the same image.
"""

from __future__ import annotations

import shutil
import subprocess
import time
import uuid

from bench.apps import BARE, CONTAINER_LIMITS, IMAGE, PEER, ROOT, SHORT_CUT, UVICORN_FLAGS
from bench.measure import wait_ready
from bench.runner import Runner
from tests.support.processes import free_port


def half_vcpu(bench: Runner, *, build: bool) -> str | None:
    """`podman run --cpus 0.5` (and 2, info): the image against the bare app and the peer in it.

    Returns why the section was skipped, or None.
    """
    if bench.smoke:
        return "smoke run"
    if not shutil.which("podman"):
        return "podman is not installed (make container-test installs it)"
    if build:
        try:
            subprocess.run(["sh", str(ROOT / "tests/container/build-standin-base.sh")], check=True, timeout=900)
            subprocess.run(
                ["podman", "build", "-q", "--pull=never", "--network=host", "--format", "docker",
                 *CONTAINER_LIMITS, "-t", IMAGE, str(ROOT)],
                check=True, timeout=900, capture_output=True, text=True,
            )  # fmt: skip
        except (subprocess.CalledProcessError, subprocess.TimeoutExpired) as exc:
            stderr = getattr(exc, "stderr", "") or ""
            return f"the image did not build: {stderr.strip()[-300:] or exc}"
    elif subprocess.run(["podman", "image", "exists", IMAGE], check=False).returncode != 0:
        return f"{IMAGE} does not exist and --no-build was given"
    apps = [SHORT_CUT, PEER, BARE]
    runs = bench.startup_runs
    for cpus, judged in (("0.5", True), ("2", False)):
        section = f"podman --cpus {cpus}" + ("" if judged else " (info)")
        wall: dict[str, list[float]] = {app: [] for app in apps}
        for i in range(runs):
            for app in apps[i % len(apps) :] + apps[: i % len(apps)]:
                wall[app].append(container_start(bench, app, cpus))
        bench.details[f"startup {section}"] = wall
        bench.add_ratio(section, "run to first 200 (s)", wall[SHORT_CUT], wall[PEER], PEER,
                       "<= 0.90" if judged else "info", 0.90 if judged else None)  # fmt: skip
        bench.add_ratio(section, "run to first 200 (s)", wall[SHORT_CUT], wall[BARE], BARE, "info", None)
    return None


def container_start(bench: Runner, app: str, cpus: str) -> float:
    """From `podman run` to the first 200, container start included; started as the task
    definition runs it: read-only root, uid 10001, an init process, a writable /tmp."""
    name = f"short-cut-bench-{uuid.uuid4().hex[:8]}"
    port = free_port()
    env = {
        "PORT": str(port),
        "HOST": "127.0.0.1",
        **bench.service_env(),
        "TMPDIR": "/tmp",
        "ENV_FILE": "/tmp/absent",
    }
    args = ["podman", "run", "-d", "--name", name, "--network=host", "--cpus", cpus, *CONTAINER_LIMITS,
            "--read-only", "--tmpfs", "/tmp", "--user", "10001:10001", "--init"]  # fmt: skip
    for key, value in env.items():
        args += ["-e", f"{key}={value}"]
    if app != SHORT_CUT:
        module = "bench.peer_app:app" if app == PEER else "bench.reference_app:app"
        args += ["-v", f"{ROOT / 'bench'}:/app/bench:ro", "--entrypoint", "python", IMAGE,
                 "-m", "uvicorn", module, *UVICORN_FLAGS, "--port", str(port)]  # fmt: skip
    else:
        args.append(IMAGE)
    started = time.perf_counter()
    launcher = subprocess.Popen(args, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    try:
        wait_ready(port, timeout=120)
        return time.perf_counter() - started
    finally:
        launcher.wait(timeout=60)
        subprocess.run(["podman", "rm", "-f", "-t", "0", name], capture_output=True, timeout=60, check=False)
