"""Start-up overlap: fetch the secrets in a child process while the server imports.

In staging and production, `start()` runs first thing in `src/main.py`: it spawns
`python -m src.prefetch`, which imports boto3, builds a client and calls
GetSecretValue once per secret name, while the parent imports FastAPI on the
other core. The first load takes the child's answer instead of calling AWS
itself (still one call per name, validated the same way); if the child fails to
answer, the load fetches in-process as usual. Values travel only through the
child's stdout pipe: never a file, an argument or the environment.
SECRETS_PREFETCH=0 turns it off.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from dataclasses import asdict, dataclass
from typing import Any


@dataclass(frozen=True)
class Outcome:
    """What the child found: fetched secrets as JSON-able dicts, or one error."""

    secrets: tuple[dict[str, object], ...] = ()
    error: dict[str, str] | None = None

    def __repr__(self) -> str:
        return f"Outcome(names={[s.get('name') for s in self.secrets]}, error={self.error})"


_child: subprocess.Popen[bytes] | None = None


def wanted() -> bool:
    from src.app_env import AppEnv

    try:
        cloud = AppEnv(os.environ.get("APP_ENV", "local")).is_cloud
    except ValueError:
        return False
    return cloud and os.environ.get("SECRETS_PREFETCH", "1") != "0"


def start() -> None:
    global _child
    if _child is not None or not wanted():
        return
    try:
        _child = subprocess.Popen(
            [sys.executable, "-m", "src.prefetch"],
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.DEVNULL,
            cwd=os.path.dirname(os.path.dirname(os.path.abspath(__file__))),
        )
    except OSError:
        _child = None


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


def _settings_from_env() -> tuple[tuple[str, ...], str | None, dict[str, Any]]:
    """The few settings the child needs, read without pydantic-settings (too slow to import here).

    The names and defaults come from the same homes as Settings'; an unreadable value makes
    the child give up, and the parent's own load reports it.
    """
    from src.app_env import AppEnv, secret_names
    from src.aws import DEFAULT_CONNECT_TIMEOUT, DEFAULT_MAX_ATTEMPTS, DEFAULT_READ_TIMEOUT

    env = AppEnv(os.environ.get("APP_ENV", "local"))
    names = secret_names(os.environ.get("SECRET_NAME"), env)
    region = os.environ.get("AWS_REGION") or os.environ.get("AWS_DEFAULT_REGION")
    options = {
        "connect_timeout": float(os.environ.get("SECRETS_CONNECT_TIMEOUT", DEFAULT_CONNECT_TIMEOUT)),
        "read_timeout": float(os.environ.get("SECRETS_READ_TIMEOUT", DEFAULT_READ_TIMEOUT)),
        "max_attempts": int(os.environ.get("SECRETS_MAX_ATTEMPTS", DEFAULT_MAX_ATTEMPTS)),
    }
    return names, region, options


def _run() -> int:
    from src.aws import SecretsClient
    from src.errors import SecretsError

    try:
        names, region, options = _settings_from_env()
    except ValueError:
        return 1
    try:
        if not region:
            raise SecretsError("MissingRegion", "AWS_REGION is not set")
        client = SecretsClient(region, **options)
        payload: dict[str, object] = {"secrets": [asdict(client.get_secret(name)) for name in names]}
    except SecretsError as exc:
        payload = {"error": {**exc.to_dict(), "secret_name": exc.secret_name or ""}}
    sys.stdout.write(json.dumps(payload))
    sys.stdout.flush()
    return 0


if __name__ == "__main__":
    sys.exit(_run())
