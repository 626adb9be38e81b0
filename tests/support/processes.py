"""Starting and stopping the real processes the end-to-end tests talk to, on free loopback ports."""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path

import httpx

ROOT = Path(__file__).resolve().parents[2]
BIN = Path(sys.executable).parent
DUMMY_CREDENTIALS = {"AWS_ACCESS_KEY_ID": "testing", "AWS_SECRET_ACCESS_KEY": "testing"}


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def wait_for(url: str, *, timeout: float = 20.0, ok: tuple[int, ...] = (200,)) -> httpx.Response:
    deadline = time.monotonic() + timeout
    last: Exception | None = None
    while time.monotonic() < deadline:
        try:
            response = httpx.get(url, timeout=1.0)
            if response.status_code in ok:
                return response
        except httpx.HTTPError as exc:
            last = exc
        time.sleep(0.05)
    raise TimeoutError(f"{url} did not answer {ok} within {timeout}s ({last})")


def clean_environment(**extra: str) -> dict[str, str]:
    """A minimal environment: no AWS settings of the developer's leak into a test."""
    keep = ("PATH", "LANG", "LC_ALL", "TMPDIR", "SYSTEMROOT")
    env = {k: v for k, v in os.environ.items() if k in keep}
    env["PATH"] = f"{BIN}{os.pathsep}{env.get('PATH', '')}"
    env["HOME"] = str(ROOT / ".pytest_cache")  # no ~/.aws of the developer's
    env["AWS_EC2_METADATA_DISABLED"] = "true"
    env["AWS_CONFIG_FILE"] = os.devnull
    env["AWS_SHARED_CREDENTIALS_FILE"] = os.devnull
    env.update(extra)
    return env


@dataclass
class Process:
    """A child process with its output in a file; stop() always kills what was started."""

    args: list[str]
    env: Mapping[str, str]
    log_path: Path
    cwd: Path = ROOT
    proc: subprocess.Popen[bytes] | None = field(default=None, init=False)

    def start(self) -> Process:
        self._log = self.log_path.open("wb")
        self.proc = subprocess.Popen(
            self.args,
            cwd=self.cwd,
            env=dict(self.env),
            stdout=self._log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        return self

    @property
    def pid(self) -> int:
        assert self.proc is not None
        return self.proc.pid

    def output(self) -> str:
        return self.log_path.read_text(encoding="utf-8", errors="replace")

    def signal(self, sig: int) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.send_signal(sig)

    def wait(self, timeout: float) -> int:
        assert self.proc is not None
        return self.proc.wait(timeout=timeout)

    def stop(self, timeout: float = 10.0) -> int | None:
        if self.proc is None:
            return None
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout=timeout)
            except subprocess.TimeoutExpired:
                os.killpg(self.proc.pid, signal.SIGKILL)
                self.proc.wait(timeout=5)
        self._log.close()
        return self.proc.returncode


def start_moto(log_dir: Path) -> tuple[Process, str]:
    port = free_port()
    process = Process(
        # moto_server with Secrets Manager's deprecated versions as AWS shows them (tests.support.moto_aws).
        [str(BIN / "python"), "-m", "tests.support.moto_aws", "-H", "127.0.0.1", "-p", str(port)],
        clean_environment(**DUMMY_CREDENTIALS),
        log_dir / f"moto-{port}.log",
    ).start()
    url = f"http://127.0.0.1:{port}"
    wait_for(f"{url}/moto-api/", timeout=30)
    return process, url


@contextlib.contextmanager
def running_moto(log_dir: Path, start: Callable[[Path], tuple[Process, str]] = start_moto) -> Iterator[str]:
    """A moto_server on a free loopback port for the `with` block, stopped after whatever happens."""
    process, url = start(log_dir)
    try:
        yield url
    finally:
        process.stop()


def moto_client_kwargs(url: str, region: str = "us-east-1") -> dict[str, str]:
    """boto3 client arguments for a moto_server at `url`, with the dummy credentials."""
    return {
        "region_name": region,
        "endpoint_url": url,
        "aws_access_key_id": DUMMY_CREDENTIALS["AWS_ACCESS_KEY_ID"],
        "aws_secret_access_key": DUMMY_CREDENTIALS["AWS_SECRET_ACCESS_KEY"],
    }


def start_service(log_dir: Path, env: Mapping[str, str], *, port: int | None = None) -> tuple[Process, str]:
    """./entrypoint.sh on a free port with exactly the given environment (plus PATH and PORT)."""
    port = port or free_port()
    process = Process(
        [str(ROOT / "entrypoint.sh")],
        clean_environment(**{"PORT": str(port), "HOST": "127.0.0.1", **env}),
        log_dir / f"service-{port}.log",
    ).start()
    return process, f"http://127.0.0.1:{port}"
