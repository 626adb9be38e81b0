"""The whole path: ./entrypoint.sh -> uvicorn -> bootstrap over HTTP against moto_server."""

from __future__ import annotations

import json
import os
import signal
import stat
import subprocess
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.e2e.conftest import REGION, ServiceFactory, production_env
from tests.support.big_mask import BIG_APP_SECRET_KEY, big_secret_string
from tests.support.canary import canary_payload, leaked
from tests.support.fault_proxy import Fault, FaultProxy
from tests.support.processes import DUMMY_CREDENTIALS, ROOT, clean_environment, free_port

FAST_RETRY = {"SECRETS_RETRY_MAX_BACKOFF": "0.5", "SECRETS_CONNECT_TIMEOUT": "1", "SECRETS_READ_TIMEOUT": "1"}


def health(url: str) -> tuple[int, dict[str, Any]]:
    response = httpx.get(f"{url}/health", timeout=5)
    return response.status_code, response.json()


def wait_health(url: str, expect: int, timeout: float = 20.0) -> dict[str, Any]:
    deadline = time.monotonic() + timeout
    body: dict[str, Any] = {}
    while time.monotonic() < deadline:
        try:
            code, body = health(url)
            if code == expect:
                return body
        except httpx.HTTPError:
            pass
        time.sleep(0.1)
    raise AssertionError(f"/health never answered {expect}; last body {body}")


def credentials_files(root: Path) -> list[Path]:
    return list(root.glob("short-cut-*/service-account.json"))


@pytest.mark.parametrize("prefetch", ["1", "0"], ids=["prefetch", "no-prefetch"])
def test_production_loads_secret_and_reports_truthfully(
    prefetch: str,
    service: ServiceFactory,
    create_secret: Callable[..., str],
    secret_name: str,
    moto_url: str,
    tmp_path: Path,
) -> None:
    version = create_secret(secret_name, canary_payload())
    process, url = service(production_env(secret_name, SECRETS_PREFETCH=prefetch), endpoint=moto_url)
    body = wait_health(url, 200)

    assert body["status"] == "ok"
    assert body["app_env"] == "production"
    secrets = body["secrets"]
    assert secrets["loaded"] is True
    assert secrets["source"] == "aws-secrets-manager"
    assert secrets["secret_names"] == [secret_name]
    assert secrets["version_ids"] == {secret_name: version}
    assert set(secrets["keys"]) == set(canary_payload())
    assert secrets["missing"] == [] and secrets["error"] is None and secrets["loaded_at"]
    assert httpx.get(f"{url}/health/live").status_code == 200
    # Docs are off in production.
    assert httpx.get(f"{url}/docs").status_code == 404
    assert httpx.get(f"{url}/openapi.json").status_code == 404

    files = credentials_files(tmp_path)
    assert len(files) == 1
    assert stat.S_IMODE(files[0].stat().st_mode) == 0o600
    assert stat.S_IMODE(files[0].parent.stat().st_mode) == 0o700
    assert json.loads(files[0].read_text())["type"] == "service_account"

    cmdline = Path(f"/proc/{process.pid}/cmdline").read_bytes()
    environ = Path(f"/proc/{process.pid}/environ").read_bytes()
    assert leaked(cmdline, environ, json.dumps(body)) == []

    process.signal(signal.SIGTERM)
    started = time.monotonic()
    # uvicorn shuts down gracefully, then re-raises the signal it caught.
    assert process.wait(timeout=10) in (0, -signal.SIGTERM)
    assert time.monotonic() - started < 10
    assert "Application shutdown complete" in process.output()
    assert credentials_files(tmp_path) == []

    log = process.output()
    assert leaked(log) == []
    lines = [json.loads(line) for line in log.splitlines() if line.startswith("{")]
    loaded = [line for line in lines if str(line.get("message", "")).startswith("secrets loaded")]
    assert loaded and loaded[0]["version_ids"] == {secret_name: version} and loaded[0]["key_count"] == 7
    # Which path the first load took shows in its timings.
    assert ("prefetch_wait" in loaded[0]["timings_ms"]) is (prefetch == "1")
    # Every line is JSON: a log record with its level, or a CloudWatch EMF metric (tests/e2e/test_metrics.py).
    assert all(line.get("level") or "_aws" in line for line in lines)
    # Access lines: the 404s are there; the probes that succeeded are not (HEALTH_ACCESS_LOG=failures).
    access = [str(line["message"]) for line in lines if line.get("logger") == "uvicorn.access"]
    assert any('"GET /docs HTTP/1.1" 404' in message for message in access), access
    assert not any("/health" in message for message in access), access


def test_missing_secret_reports_not_ready_then_heals_without_restart(
    service: ServiceFactory, create_secret: Callable[..., str], secret_name: str, moto_url: str
) -> None:
    process, url = service(production_env(secret_name, **FAST_RETRY), endpoint=moto_url)
    body = wait_health(url, 503)
    assert body["status"] == "unavailable"
    assert body["secrets"]["loaded"] is False
    error = body["secrets"]["error"]
    assert error["code"] == "ResourceNotFoundException"
    assert "SECRET_NAME" in error["hint"] and "AWS_REGION" in error["hint"]
    # Where it looked (issue 27: it said "source":"environment","secret_names":[], and "<name>").
    secrets = body["secrets"]
    assert (secrets["source"], secrets["secret_names"], secrets["region"]) == (
        "aws-secrets-manager",
        [secret_name],
        REGION,
    )
    assert f"--secret-id {secret_name})" in error["hint"] and "<" not in error["hint"]
    assert httpx.get(f"{url}/health/live").status_code == 200

    version = create_secret(secret_name, canary_payload())
    healed = wait_health(url, 200)
    assert healed["secrets"]["version_ids"] == {secret_name: version}
    assert process.proc is not None and process.proc.poll() is None
    assert "ResourceNotFoundException" in process.output()
    # A failed probe is access-logged even when the successful ones are not.
    messages = [json.loads(line).get("message") for line in process.output().splitlines() if line.startswith("{")]
    assert any('"GET /health HTTP/1.1" 503' in str(m) for m in messages)


@pytest.mark.parametrize(
    ("code", "hint_fragment"),
    [
        ("AccessDeniedException", "taskRoleArn"),
        ("DecryptionFailure", "kms:Decrypt"),
        ("ThrottlingException", "throttling"),
        ("InternalServiceError", "internal error"),
    ],
)
def test_aws_errors_pass_through_with_hint_and_recover(
    code: str,
    hint_fragment: str,
    service: ServiceFactory,
    create_secret: Callable[..., str],
    secret_name: str,
    proxy: FaultProxy,
) -> None:
    create_secret(secret_name, canary_payload())
    proxy.set_fault(Fault("error", code))
    process, url = service(production_env(secret_name, **FAST_RETRY), endpoint=proxy.url)
    body = wait_health(url, 503)
    assert body["secrets"]["error"]["code"] == code
    assert hint_fragment in body["secrets"]["error"]["hint"]
    proxy.clear()
    assert wait_health(url, 200)["status"] == "ok"
    assert leaked(process.output()) == []


def test_secret_scheduled_for_deletion_is_invalid_request(
    service: ServiceFactory, create_secret: Callable[..., str], secret_name: str, sm: Any, moto_url: str
) -> None:
    create_secret(secret_name, canary_payload())
    sm.delete_secret(SecretId=secret_name, RecoveryWindowInDays=7)
    _, url = service(production_env(secret_name, **FAST_RETRY), endpoint=moto_url)
    error = wait_health(url, 503)["secrets"]["error"]
    assert error["code"] == "InvalidRequestException"
    assert "restore" in error["hint"]
    sm.restore_secret(SecretId=secret_name)
    wait_health(url, 200)


def test_unreachable_endpoint(service: ServiceFactory, secret_name: str) -> None:
    _, url = service(production_env(secret_name, **FAST_RETRY), endpoint=f"http://127.0.0.1:{free_port()}")
    error = wait_health(url, 503)["secrets"]["error"]
    assert error["code"] == "EndpointUnreachable"
    assert "AWS_ENDPOINT_URL_SECRETS_MANAGER" in error["hint"]


def test_slow_endpoint_is_a_timeout(
    service: ServiceFactory, create_secret: Callable[..., str], secret_name: str, proxy: FaultProxy
) -> None:
    create_secret(secret_name, canary_payload())
    proxy.set_fault(Fault("slow", delay=3.0))
    _, url = service(production_env(secret_name, **FAST_RETRY, SECRETS_MAX_ATTEMPTS="1"), endpoint=proxy.url)
    error = wait_health(url, 503)["secrets"]["error"]
    assert error["code"] == "Timeout"
    proxy.clear()
    wait_health(url, 200)


def test_connection_closed_mid_response(
    service: ServiceFactory, create_secret: Callable[..., str], secret_name: str, proxy: FaultProxy
) -> None:
    create_secret(secret_name, canary_payload())
    proxy.set_fault(Fault("close"))
    _, url = service(production_env(secret_name, **FAST_RETRY, SECRETS_MAX_ATTEMPTS="1"), endpoint=proxy.url)
    error = wait_health(url, 503)["secrets"]["error"]
    assert error["code"] == "EndpointUnreachable"
    proxy.clear()
    wait_health(url, 200)


def test_no_credentials(service: ServiceFactory, secret_name: str, moto_url: str) -> None:
    env = production_env(secret_name, AWS_ENDPOINT_URL_SECRETS_MANAGER=moto_url, **FAST_RETRY)
    _, url = service(env)  # no endpoint= : no dummy credentials either
    error = wait_health(url, 503)["secrets"]["error"]
    assert error["code"] == "NoCredentials"
    assert "taskRoleArn" in error["hint"]


@pytest.mark.parametrize(
    ("payload", "code"),
    [
        ("not json", "InvalidSecretJSON"),
        (json.dumps(canary_payload(PATH="/tmp/evil")), "ForbiddenKey"),
        (json.dumps({k: v for k, v in canary_payload().items() if k != "APP_SECRET_KEY"}), "MissingRequiredKeys"),
        (json.dumps(canary_payload(OPENAI_API_KEY="sk-실제키를입력하세요")), "PlaceholderValue"),
        (json.dumps(canary_payload(MILVUS_PORT=70000)), "InvalidSecretValue"),
    ],
)
def test_bad_payload_is_refused_whole(
    payload: str,
    code: str,
    service: ServiceFactory,
    create_secret: Callable[..., str],
    secret_name: str,
    moto_url: str,
    tmp_path: Path,
) -> None:
    create_secret(secret_name, payload)
    process, url = service(production_env(secret_name, **FAST_RETRY), endpoint=moto_url)
    body = wait_health(url, 503)
    assert body["secrets"]["error"]["code"] == code
    assert body["secrets"]["keys"] == []
    assert credentials_files(tmp_path) == []
    assert leaked(process.output(), json.dumps(body)) == []


def test_several_secrets_later_wins_and_collisions_are_logged(
    service: ServiceFactory, create_secret: Callable[..., str], secret_name: str, moto_url: str
) -> None:
    extra = f"{secret_name}-extra"
    first = create_secret(secret_name, canary_payload())
    second = create_secret(extra, {"MILVUS_HOST": "canary-milvus-second.internal", "FEATURE_FLAG": True})
    env = production_env(f"{secret_name},{extra}", SECRETS_EXTRA_KEYS="FEATURE_FLAG")
    process, url = service(env, endpoint=moto_url)
    secrets = wait_health(url, 200)["secrets"]
    assert secrets["secret_names"] == [secret_name, extra]
    assert secrets["version_ids"] == {secret_name: first, extra: second}
    assert "FEATURE_FLAG" in secrets["keys"] and secrets["ignored"] == []
    assert f"MILVUS_HOST from {extra}" in process.output()


def test_process_environment_wins_and_is_reported(
    service: ServiceFactory, create_secret: Callable[..., str], secret_name: str, moto_url: str
) -> None:
    create_secret(secret_name, canary_payload())
    process, url = service(production_env(secret_name, MILVUS_HOST="milvus.override.local"), endpoint=moto_url)
    secrets = wait_health(url, 200)["secrets"]
    assert secrets["overridden"] == ["MILVUS_HOST"]
    assert "MILVUS_HOST set before bootstrap wins" in process.output()


def test_aws_calls_counted_on_the_wire(
    service: ServiceFactory, create_secret: Callable[..., str], secret_name: str, proxy: FaultProxy
) -> None:
    create_secret(secret_name, canary_payload())
    _, url = service(production_env(secret_name), endpoint=proxy.url)
    wait_health(url, 200)
    for _ in range(200):
        assert httpx.get(f"{url}/health").status_code == 200
    assert proxy.calls["GetSecretValue"] == 1
    assert sum(proxy.calls.values()) == 1


def test_local_mode_makes_no_aws_call_and_serves_docs(
    service: ServiceFactory, proxy: FaultProxy, tmp_path: Path
) -> None:
    env_file = tmp_path / "local.env"
    env_file.write_text(
        "OPENAI_API_KEY=sk-CANARYopenai-7f3kZr9XwV2mN8bT\nMILVUS_HOST=localhost\nAPP_SECRET_KEY=changeme\n"
    )
    process, url = service({"AWS_REGION": REGION, "ENV_FILE": str(env_file), **DUMMY_CREDENTIALS}, endpoint=proxy.url)
    body = wait_health(url, 200)
    assert body["app_env"] == "local"
    assert body["secrets"]["source"] == "environment"
    assert "OPENAI_API_KEY" in body["secrets"]["keys"]
    assert "APP_SECRET_KEY holds a placeholder value" in body["secrets"]["warnings"]
    # Four of seven required keys missing: served, and said (issue 27: it said ok).
    missing = ["PINECONE_API_KEY", "GCP_PROJECT_ID", "GOOGLE_APPLICATION_CREDENTIALS_JSON", "MILVUS_PORT"]
    assert body["status"] == "degraded" and body["secrets"]["missing"] == missing
    assert body["secrets"]["error"]["code"] == "MissingRequiredKeys" and ".env" in body["secrets"]["error"]["hint"]
    assert all(key in body["secrets"]["error"]["message"] for key in missing)
    assert body["secrets"]["region"] is None
    openapi = httpx.get(f"{url}/openapi.json")
    assert openapi.status_code == 200
    assert httpx.get(f"{url}/docs").status_code == 200
    assert sum(proxy.calls.values()) == 0
    assert leaked(process.output(), openapi.text, json.dumps(body)) == []


def test_operator_snippet_leaves_no_private_key_behind(
    create_secret: Callable[..., str], secret_name: str, moto_url: str, tmp_path: Path
) -> None:
    create_secret(secret_name, canary_payload())
    snippet = (
        "import os; from src.secrets_manager import bootstrap_secrets; bootstrap_secrets(); "
        "print(*[k + (' OK' if os.environ.get(k) else ' FAIL') for k in "
        "('OPENAI_API_KEY', 'PINECONE_API_KEY', 'GCP_PROJECT_ID')], sep='\\n'); "
        "print('FILE', os.path.exists(os.environ['GOOGLE_APPLICATION_CREDENTIALS']))"
    )
    env = clean_environment(
        APP_ENV="production",
        AWS_REGION=REGION,
        SECRET_NAME=secret_name,
        AWS_ENDPOINT_URL_SECRETS_MANAGER=moto_url,
        SECRETS_FILE_DIR=str(tmp_path),
        ENV_FILE=str(tmp_path / "absent.env"),
        **DUMMY_CREDENTIALS,
    )
    result = subprocess.run(
        ["python", "-c", snippet], cwd=ROOT, env=env, capture_output=True, text=True, timeout=60, check=False
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.split("\n")[:4] == [
        "OPENAI_API_KEY OK",
        "PINECONE_API_KEY OK",
        "GCP_PROJECT_ID OK",
        "FILE True",
    ]
    assert credentials_files(tmp_path) == []
    assert leaked(result.stdout, result.stderr) == []
    assert os.listdir(tmp_path) == []


# A running task notices lost access (issue 20, item 1). On AWS, removing secretsmanager:GetSecretValue
# from the task role, a resource policy that denies it, or disabling the secret's KMS key fails
# GetSecretValue while DescribeSecret still answers: DescribeSecret returns no value, so it needs
# neither GetSecretValue nor kms:Decrypt (API_DescribeSecret and API_GetSecretValue "Required
# permissions"; Secrets Manager calls KMS Decrypt in response to GetSecretValue:
# https://docs.aws.amazon.com/secretsmanager/latest/userguide/security-encryption.html). The codes:
# AccessDeniedException and DecryptionFailure (HTTP 400, CommonErrors), KMSInvalidStateException for a
# key disabled or pending deletion (https://docs.aws.amazon.com/kms/latest/developerguide/key-state.html).
# moto enforces none of it, so the fault proxy refuses GetSecretValue by X-Amz-Target and forwards
# DescribeSecret to moto_server.
@pytest.mark.parametrize(
    ("code", "log_format"),
    [("AccessDeniedException", "json"), ("KMSInvalidStateException", "text"), ("DecryptionFailure", "json")],
)
def test_lost_read_access_degrades_a_running_task_and_keeps_its_values(
    code: str,
    log_format: str,
    service: ServiceFactory,
    create_secret: Callable[..., str],
    secret_name: str,
    proxy: FaultProxy,
    tmp_path: Path,
) -> None:
    from tests.support.emf import emf_lines, metric_names

    version = create_secret(secret_name, canary_payload())
    env = production_env(
        secret_name,
        SECRETS_REFRESH_INTERVAL="0.3",
        SECRETS_VERIFY_EVERY="3",
        SECRETS_RETRY_MAX_BACKOFF="0.3",
        LOG_FORMAT=log_format,
        METRICS="emf",
    )
    process, url = service(env, endpoint=proxy.url)
    assert wait_health(url, 200)["status"] == "ok"
    (sa_file,) = credentials_files(tmp_path)
    before = sa_file.read_text()
    time.sleep(1.5)  # at least one verifying read has passed: it did not degrade anything
    assert httpx.get(f"{url}/health").json()["status"] == "ok"
    reads = proxy.calls["GetSecretValue"]
    assert reads >= 2, proxy.calls  # the start, then the version in use read again

    proxy.set_fault(Fault("error", code, actions=("GetSecretValue",)))
    describes = proxy.calls["DescribeSecret"]
    deadline = time.monotonic() + 15
    body = httpx.get(f"{url}/health").json()
    while body["status"] != "degraded" and time.monotonic() < deadline:
        time.sleep(0.1)
        body = httpx.get(f"{url}/health").json()
    assert body["status"] == "degraded", body
    error = body["secrets"]["error"]
    assert error["code"] == code and version in error["message"]
    assert "DescribeSecret still answers" in error["hint"]
    assert proxy.calls["DescribeSecret"] > describes  # DescribeSecret kept answering
    assert body["secrets"]["version_ids"] == {secret_name: version}
    assert sa_file.read_text() == before  # the values in use are kept
    time.sleep(1.0)  # later refreshes (DescribeSecret answering) do not clear it
    assert httpx.get(f"{url}/health").json()["secrets"]["error"]["code"] == code

    proxy.clear()
    deadline = time.monotonic() + 15
    while body["status"] != "ok" and time.monotonic() < deadline:
        time.sleep(0.1)
        body = httpx.get(f"{url}/health").json()
    assert body["status"] == "ok" and body["secrets"]["error"] is None
    output = process.output()
    failures = [d for d in emf_lines(output) if metric_names(d) == ["SecretRefreshFailure"]]
    assert failures and {d["error_code"] for d in failures} == {code}
    assert "reading the version in use" in output  # the WARNING names the refused read
    assert leaked(output) == []


# Example credentials in staging or production (issue 21, item 4): the example file passes every
# payload rule on purpose (the emulator serves it), so the service loads it, and says so.
EXAMPLE_FILE = ROOT / "infra/iam/secret-structure-example.json"


@pytest.mark.parametrize("app_env", ["production", "staging", "local"])
def test_example_credentials_are_reported_on_health_in_the_cloud(
    app_env: str, service: ServiceFactory, create_secret: Callable[..., str], secret_name: str, moto_url: str
) -> None:
    example = json.loads(EXAMPLE_FILE.read_text())
    # A real OpenAI key; the rest as the example file has it.
    create_secret(secret_name, {**example, "OPENAI_API_KEY": "sk-e2e-real-looking-key-9q8w7e"})
    env = {**production_env(secret_name), "APP_ENV": app_env}
    process, url = service(env, endpoint=moto_url)
    body = wait_health(url, 200)
    secrets = body["secrets"]
    assert secrets["loaded"] is True
    if app_env == "local":  # the emulator's example payload is expected there
        assert body["status"] == "ok" and secrets["error"] is None
        return
    assert body["status"] == "degraded", body
    error = secrets["error"]
    assert error["code"] == "ExampleCredentials"
    sa = "GOOGLE_APPLICATION_CREDENTIALS_JSON"
    named = f"APP_SECRET_KEY, {sa}.private_key, {sa}.private_key_id, PINECONE_API_KEY"
    assert named in error["message"] and "OPENAI_API_KEY" not in error["message"]
    log = process.output()
    assert "ExampleCredentials" in log or "example values" in log
    assert example["APP_SECRET_KEY"] not in log + json.dumps(body)


def test_a_version_the_mask_cannot_hold_is_refused_and_the_last_good_one_serves(
    service: ServiceFactory, create_secret: Callable[..., str], sm: Any, secret_name: str, moto_url: str
) -> None:
    """Issue 27's secret (tests/support/big_mask.py): valid and 62.7 KB, yet its credentials have more log-mask
    forms than the mask holds. A refresh to it keeps the version served (degraded with MaskBudgetExceeded);
    a first load of it is refused (503). Never served with a partial mask."""
    first = create_secret(secret_name, canary_payload())
    process, url = service(production_env(secret_name, SECRETS_REFRESH_INTERVAL="1"), endpoint=moto_url)
    wait_health(url, 200)
    sm.put_secret_value(SecretId=secret_name, SecretString=big_secret_string())
    deadline = time.monotonic() + 20
    body: dict[str, Any] = {}
    while time.monotonic() < deadline and body.get("status") != "degraded":
        body = health(url)[1]
        time.sleep(0.2)
    assert body["status"] == "degraded", body
    assert body["secrets"]["error"]["code"] == "MaskBudgetExceeded"
    assert "APP_SECRET_KEY" in body["secrets"]["error"]["message"]
    assert body["secrets"]["version_ids"] == {secret_name: first}
    assert BIG_APP_SECRET_KEY[:20] not in process.output()

    # A task started now meets only the big version: refused, nothing served.
    _, fresh = service(production_env(secret_name, **FAST_RETRY), endpoint=moto_url)
    refused = wait_health(fresh, 503)
    assert refused["status"] == "unavailable" and refused["secrets"]["loaded"] is False
    assert refused["secrets"]["error"]["code"] == "MaskBudgetExceeded"
