"""The real Dockerfile, built and run with podman: read-only, non-root, health, fail-fast, SIGTERM, compose."""

from __future__ import annotations

import json
import os
import re
import subprocess
import time
from pathlib import Path
from typing import Any

import httpx
import yaml

from tests.container.conftest import (
    LIMITS,
    NO_CAPABILITIES,
    capability_problems,
    mounts,
    new_name,
    podman,
    processes,
    service_account_files,
)
from tests.support.canary import leaked
from tests.support.processes import BIN, ROOT, free_port, wait_for

RUN = ["run", "--network=host", *LIMITS]


def test_image_config(image: str) -> None:
    inspected = json.loads(podman("image", "inspect", image).stdout)[0]
    config = inspected["Config"]
    assert config["User"] == "10001:10001"
    assert config["Entrypoint"] == ["/app/entrypoint.sh"]
    assert inspected["Healthcheck"]["Test"] == ["CMD", "python", "/app/src/healthcheck.py"]
    # Fargate gives a non-root task a writable /tmp only when the image declares it a VOLUME.
    assert "/tmp" in (config.get("Volumes") or {})
    env = dict(item.split("=", 1) for item in config["Env"])
    assert env["PYTHONUNBUFFERED"] == "1" and env["PYTHONDONTWRITEBYTECODE"] == "1"


def test_image_holds_only_what_it_needs(image: str) -> None:
    listing = podman(*RUN, "--rm", "--entrypoint", "sh", image, "-c", "ls -A /app; ls -A /app/src").stdout.split()
    assert "entrypoint.sh" in listing and "main.py" in listing
    for unwanted in ("tests", ".env", "secrets-values.json", ".git", "Dockerfile", "infra", "pyproject.toml"):
        assert unwanted not in listing
    lf = podman(*RUN, "--rm", "--entrypoint", "sh", image, "-c", "grep -c $(printf '\\r') /app/entrypoint.sh || true")
    assert lf.stdout.strip() == "0"


def local_status_is_honest(body: dict[str, Any]) -> bool:
    """Local mode serves with required keys missing, and says so (issue 27): degraded with
    MissingRequiredKeys while any is missing, ok once none is (the image carries no .env)."""
    missing = body["secrets"]["missing"]
    if not missing:
        return bool(body["status"] == "ok")
    return bool(body["status"] == "degraded" and body["secrets"]["error"]["code"] == "MissingRequiredKeys")


def test_runs_read_only_as_non_root_and_is_healthy(image: str, containers: list[str]) -> None:
    name, port = new_name(containers), free_port()
    podman(*RUN, "-d", "--name", name, "--read-only", "--tmpfs", "/tmp", "-e", f"PORT={port}", image)
    body = wait_for(f"http://127.0.0.1:{port}/health", timeout=60).json()
    assert local_status_is_honest(body) and body["app_env"] == "local"
    assert podman("exec", name, "id", "-u").stdout.strip() == "10001"
    assert podman("exec", name, "python", "/app/src/healthcheck.py", check=False).returncode == 0
    assert podman("healthcheck", "run", name, check=False).returncode == 0
    assert podman("exec", name, "sh", "-c", "touch /app/x", check=False).returncode != 0  # read-only root

    started = time.monotonic()
    podman("stop", "-t", "30", name, timeout=60)
    assert time.monotonic() - started < 10
    logs = podman("logs", name).stdout + podman("logs", name).stderr
    assert "Application shutdown complete" in logs


def test_probe_fails_when_the_service_is_down(image: str) -> None:
    result = podman(
        *RUN,
        "--rm",
        "-e",
        f"PORT={free_port()}",
        "--entrypoint",
        "python",
        image,
        "/app/src/healthcheck.py",
        check=False,
    )
    assert result.returncode == 1


def test_production_without_region_exits_78(image: str) -> None:
    started = time.monotonic()
    result = podman(*RUN, "--rm", "--read-only", "-e", "APP_ENV=production", image, check=False)
    assert result.returncode == 78
    assert "AWS_REGION" in result.stderr
    assert time.monotonic() - started < 15


def compose(
    *args: str, env: dict[str, str], compose_file: Path = ROOT / "docker-compose.yml", run_args: str = ""
) -> subprocess.CompletedProcess[str]:
    files = ["-f", str(compose_file), "-f", str(ROOT / "tests/container/compose.host-network.yml")]
    extra = [f"--podman-run-args={run_args}"] if run_args else []
    return subprocess.run(
        [str(BIN / "podman-compose"), "-p", env["COMPOSE_PROJECT_NAME"], *files, *extra, *args],
        cwd=ROOT, env=env, capture_output=True, text=True, timeout=300, check=False,
    )  # fmt: skip


# podman's --read-only adds tmpfs on /tmp, /var/tmp and /run unless told not to; Docker and ECS
# add none. The image's VOLUME /tmp is ignored too, so compose's own `tmpfs:` is all /tmp has.
NO_IMPLICIT_TMP = "--read-only-tmpfs=false --image-volume=ignore"


def compose_container(project: str, service: str, *, all_states: bool = False) -> str:
    names = podman(
        "ps", *(["-a"] if all_states else []), "--filter", f"label=com.docker.compose.project={project}",
        "--filter", f"label=com.docker.compose.service={service}", "--format", "{{.Names}}",
    ).stdout.split()  # fmt: skip
    assert len(names) == 1, names
    return names[0]


# The service-account file's tmpfs in compose, as in the task definition.
KEY_TMPFS = "/run/short-cut"
HARDENING = ("tmpfs", "cap_drop", "security_opt")


def unhardened_compose_file(folder: Path) -> Path:
    """docker-compose.yml less the api service's tmpfs mounts, capability drop and
    no-new-privileges: the control that shows those keys, not podman's defaults, make the
    difference. A copy, not an override: podman-compose cannot `!reset` security_opt."""
    document = yaml.safe_load((ROOT / "docker-compose.yml").read_text(encoding="utf-8"))
    for key in HARDENING:
        assert document["services"]["api"].pop(key), key
    document = {key: value for key, value in document.items() if not key.startswith("x-")}
    path = folder / "docker-compose.yml"
    path.write_text(yaml.safe_dump(document), encoding="utf-8")
    return path


def test_compose_api_tmp_is_the_compose_tmpfs(image: str, tmp_path: Path) -> None:
    podman("tag", image, "short-cut-api:local")
    base = {**os.environ, "EMULATOR_PORT": str(free_port()), "API_AWS_PORT": str(free_port())}
    port = free_port()
    with_tmpfs = {**base, "COMPOSE_PROJECT_NAME": f"sctmp{os.getpid()}", "API_PORT": str(port)}
    without = {**base, "COMPOSE_PROJECT_NAME": f"scnotmp{os.getpid()}", "API_PORT": str(free_port())}
    try:
        up = compose("up", "-d", "--no-build", "api", env=with_tmpfs, run_args=NO_IMPLICIT_TMP)
        assert up.returncode == 0, up.stderr[-2000:]
        assert local_status_is_honest(wait_for(f"http://127.0.0.1:{port}/health", timeout=60).json())
        name = compose_container(with_tmpfs["COMPOSE_PROJECT_NAME"], "api")
        tmpfs = set(podman("exec", name, "awk", '$3 == "tmpfs" { print $2 }', "/proc/mounts").stdout.split())
        assert "/tmp" in tmpfs and not tmpfs & {"/var/tmp", "/run"}, tmpfs
        assert podman("exec", name, "stat", "-c", "%a", "/tmp").stdout.strip() == "1777"
        assert podman("exec", name, "sh", "-c", "touch /tmp/.probe", check=False).returncode == 0
        # The key's tmpfs: memory only, nothing executable, and only the size it needs.
        fstype, options = mounts(name)[KEY_TMPFS]
        assert fstype == "tmpfs" and {"rw", "noexec", "nosuid", "nodev", "size=1024k"} <= options, options
        # Least privilege (issue 20, item 6): every process, init and service, has no capability
        # in any set and no_new_privs, so not even a setuid binary could give it one.
        assert capability_problems(processes(name), no_new_privs=True) == []

        unhardened = unhardened_compose_file(tmp_path)
        up = compose("up", "-d", "--no-build", "api", env=without, compose_file=unhardened, run_args=NO_IMPLICIT_TMP)
        assert up.returncode == 0, up.stderr[-2000:]
        assert local_status_is_honest(wait_for(f"http://127.0.0.1:{without['API_PORT']}/health", timeout=60).json())
        name = compose_container(without["COMPOSE_PROJECT_NAME"], "api")
        assert podman("exec", name, "sh", "-c", "touch /tmp/.probe", check=False).returncode != 0
        assert KEY_TMPFS not in mounts(name)
        # Without the two keys podman's defaults are back: a bounding set, and no no_new_privs.
        service = [row for row in processes(name) if "uvicorn" in row["cmd"]]
        assert service and all(row["CapBnd"] != NO_CAPABILITIES and row["NoNewPrivs"] == "0" for row in service)
    finally:
        compose("down", "-v", "-t", "5", env=with_tmpfs)
        compose("down", "-v", "-t", "5", env=without, compose_file=tmp_path / "docker-compose.yml")


def test_compose_aws_profile_runs_the_production_path(image: str, moto_image: str, tmp_path: Path) -> None:
    podman("tag", image, "short-cut-api:local")
    emulator, api = free_port(), free_port()
    env = {
        **os.environ,
        "COMPOSE_PROJECT_NAME": f"sctest{os.getpid()}",
        "EMULATOR_PORT": str(emulator),
        "EMULATOR_URL": f"http://127.0.0.1:{emulator}",
        "API_PORT": str(free_port()),
        "API_AWS_PORT": str(api),
    }
    try:
        up = compose("--profile", "aws", "up", "-d", "--no-build", "aws-emulator", "aws-seed", "api-aws", env=env)
        assert up.returncode == 0, up.stderr[-2000:]
        deadline = time.monotonic() + 90
        body: dict[str, object] = {}
        while time.monotonic() < deadline:
            try:
                response = httpx.get(f"http://127.0.0.1:{api}/health", timeout=2)
                body = response.json()
                if response.status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            time.sleep(0.5)
        # The seed is infra/iam/secret-structure-example.json: loaded, served, and reported on
        # /health as example credentials (degraded, still 200), as production must report them.
        assert body.get("status") == "degraded", body
        secrets = body["secrets"]
        assert isinstance(secrets, dict)
        assert secrets["loaded"] is True and secrets["error"]["code"] == "ExampleCredentials", secrets
        assert secrets["source"] == "aws-secrets-manager" and secrets["secret_names"] == ["short-cut/prod/app"]
        assert len(secrets["keys"]) == 7
        logs = compose("--profile", "aws", "logs", "api-aws", env=env)
        assert "secrets loaded" in logs.stdout + logs.stderr
        project = env["COMPOSE_PROJECT_NAME"]
        # The key on compose's tmpfs, as on the task's: 0600 in a 0700 directory, uid 10001.
        api_aws = compose_container(project, "api-aws")
        assert mounts(api_aws)[KEY_TMPFS][0] == "tmpfs"
        files = service_account_files(api_aws)
        key_file = rf"700 10001 600 10001 {KEY_TMPFS}/([^/]+/)?service-account\.json"
        assert len(files) == 1 and re.fullmatch(key_file, files[0]), files
        assert capability_problems(processes(api_aws), no_new_privs=True) == []
        # The emulator and the seed run with nothing either (the seed has exited: its settings).
        for service in ("aws-emulator", "aws-seed"):
            inspected = json.loads(podman("inspect", compose_container(project, service, all_states=True)).stdout)[0]
            assert not inspected["EffectiveCaps"], (service, inspected["EffectiveCaps"])
            assert "no-new-privileges" in inspected["HostConfig"]["SecurityOpt"], service
    finally:
        compose("--profile", "aws", "down", "-v", "-t", "5", env=env)


def test_compose_file_is_valid_under_the_compose_spec() -> None:
    from compose_spec import PyCompose  # the compose-spec crate's own validation

    text = (ROOT / "docker-compose.yml").read_text()
    # Interpolate ${VAR:-default} as compose does before validating.
    document = yaml.safe_load(re.sub(r"\$\{[A-Z_]+:-([^}]*)\}", r"\1", text))
    compose_file = PyCompose.from_json(json.dumps(document))
    assert sorted(compose_file.service_names()) == ["api", "api-aws", "aws-emulator", "aws-seed"]
    api = document["services"]["api"]
    assert api["read_only"] is True and api["init"] is True and "/tmp" in api["tmpfs"][0]
    for name, service in document["services"].items():
        assert service["cap_drop"] == ["ALL"], name
        assert service["security_opt"] == ["no-new-privileges:true"], name
    assert api["environment"]["APP_ENV"] == "local"
    assert api["healthcheck"]["test"] == ["CMD", "python", "/app/src/healthcheck.py"]
    aws = document["services"]["api-aws"]
    assert aws["profiles"] == ["aws"] and aws["environment"]["APP_ENV"] == "production"
    assert aws["environment"]["AWS_ENDPOINT_URL_SECRETS_MANAGER"] == "http://aws-emulator:5000"
    broken = {**document, "services": {"api": {**api, "read_only": "maybe"}}}
    try:
        PyCompose.from_json(json.dumps(broken))
    except ValueError:
        pass
    else:
        raise AssertionError("the validator accepted read_only: maybe")


def test_no_canary_or_secret_file_in_the_image(image: str) -> None:
    history = podman("history", "--no-trunc", image).stdout
    assert leaked(history) == []
    assert "secrets-values" not in history


def test_runtime_layers_stay_small(image: str) -> None:
    size = int(podman("image", "inspect", "--format", "{{.Size}}", image).stdout)
    base = int(podman("image", "inspect", "--format", "{{.Size}}", "docker.io/library/python:3.12-slim").stdout)
    # On the base: the venv (FastAPI, uvicorn, pydantic, boto3) and src/, about 42 MB, and their
    # bytecode, 15 MB, measured; plus the standard library's bytecode, which python:3.12-slim
    # lacks (about 30 MB by docker-library/python#615; the stand-in's is rewritten, a like size).
    assert size - base < 100 * 1024 * 1024, (size - base) / 1e6


# Every .py the image may import: the standard library (less what the Dockerfile leaves out:
# the base's own site-packages, GUI and 2to3 tools), the venv and src/. The service's own
# imports on the way to ready are named too, so a module outside these trees shows up.
MISSING_BYTECODE = r"""
import json, os, re, sys, sysconfig, importlib.util
import uvicorn.main, src.main, src.loading.loader, botocore.session, src.aws.botocore_session
stdlib = sysconfig.get_path("stdlib")
skip = re.compile(r"/(site-packages|dist-packages|idlelib|tkinter|turtledemo|lib2to3|ensurepip)/")
files = [m.__file__ for m in list(sys.modules.values()) if (getattr(m, "__file__", None) or "").endswith(".py")]
for root in (stdlib, "/opt/venv/lib", "/app/src"):
    for folder, _, names in os.walk(root):
        if root == stdlib and skip.search(folder + "/"):
            continue
        files += [os.path.join(folder, n) for n in names if n.endswith(".py")]
missing = sorted({f for f in files if not os.path.exists(importlib.util.cache_from_source(f))})
print(json.dumps({"files": len(set(files)), "missing": missing[:20]}))
"""


def test_every_module_the_image_runs_is_precompiled(image: str) -> None:
    # Read-only root and PYTHONDONTWRITEBYTECODE: a module without bytecode in the image is
    # compiled again at every task start (the slim base ships its standard library without any).
    env = ["-e", "APP_ENV=production", "-e", "AWS_REGION=us-east-1", "-e", "SECRET_NAME=x", "-e", "SECRETS_PREFETCH=0"]
    out = podman(*RUN, "--rm", "--read-only", *env, "--entrypoint", "python", image, "-c", MISSING_BYTECODE).stdout
    seen = json.loads(out.strip().splitlines()[-1])
    assert seen["files"] > 1000
    assert seen["missing"] == []


def test_readme_podman_commands_are_the_ones_run_here() -> None:
    """The docs (docs/running-locally.md) tell a podman user to run `.venv/bin/podman-compose up` and
    `... --profile aws up`; the two compose tests above run exactly those global arguments (plus this sandbox's
    host-network override and `-d --no-build`), so the README's podman commands are what is
    proven to come up healthy."""
    from tests.support.readme_blocks import COMPOSE, compose_arguments, parse_documents, split_commands

    blocks = [block for block in parse_documents(ROOT) if block.mode == COMPOSE]  # docs/running-locally.md
    podman_lines = [
        command
        for block in blocks
        for command in split_commands(block.code)
        if command.split()[0].endswith("podman-compose") or command.startswith("podman ")
    ]
    assert [compose_arguments(command) for command in podman_lines] == [[], ["--profile", "aws"]], podman_lines
