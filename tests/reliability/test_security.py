"""The security review's findings as reliability rows (issue 11), each against the real service
started through ./entrypoint.sh, with the peer, the log format and the secret an attacker or an
unlucky operator would bring."""

from __future__ import annotations

import json
import logging
import socket
import subprocess
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from src.loading.masking import log_mask
from src.secret.payload import parse_secret
from src.telemetry import mask as mask_module
from src.telemetry.logs import configure_logging
from src.telemetry.mask import SecretMasker
from tests.e2e.conftest import ServiceFactory, production_env
from tests.reliability import report
from tests.reliability.conftest import SEEN
from tests.reliability.test_faults import FAST, wait_until
from tests.support.canary import CANARY_VALUES, SERVICE_ACCOUNT, canary_payload, leaked
from tests.support.processes import free_port, wait_for

SECRET, SA = CANARY_VALUES, SERVICE_ACCOUNT


def interface_address() -> str:
    """The machine's own address on a non-loopback interface: a peer outside 127.0.0.0/8 and ::1."""
    out = subprocess.run(["ip", "-o", "-4", "addr", "show", "scope", "global"], capture_output=True, text=True)
    for line in out.stdout.splitlines():
        fields = line.split()
        address = fields[3].split("/")[0]
        # Not lo: the ECS credentials stand-in's 169.254.170.2 may sit there during the container tests.
        if fields[1] != "lo" and not address.startswith("127."):
            return address
    raise AssertionError("this machine has no non-loopback IPv4 address to connect from: " + out.stdout)


def test_strangers_see_the_minimal_health_body(
    service: ServiceFactory, sm: Any, secret_name: str, moto_url: str
) -> None:
    sm.create_secret(Name=secret_name, SecretString=json.dumps(canary_payload(SENTRY_DSN="https://CANARY@s/1")))
    port = free_port()
    env = production_env(secret_name, HOST="0.0.0.0")
    process, _ = service(env, endpoint=moto_url, port=port)
    local = wait_for(f"http://127.0.0.1:{port}/health", timeout=30).json()
    address = interface_address()
    # The client socket is bound to the interface address, so the server's peer is really that address.
    transport = httpx.HTTPTransport(local_address=address)
    with httpx.Client(transport=transport, timeout=5) as client:
        response = client.get(f"http://{address}:{port}/health", headers={"X-Forwarded-For": "127.0.0.1"})
    SEEN.extend([response.text, json.dumps(local)])
    stranger = response.json()
    minimal = set(stranger) == {"status", "app_env", "version", "secrets"} and set(stranger["secrets"]) == {
        "loaded",
        "age_seconds",
        "error",
    }
    hidden = all(
        n not in response.text
        for n in (secret_name, "SENTRY_DSN", "OPENAI_API_KEY", *local["secrets"]["version_ids"].values())
    )
    full = local["secrets"]["ignored"] == ["SENTRY_DSN"] and local["secrets"]["secret_names"] == [secret_name]
    report.record(
        f"/health from a non-loopback peer ({address}, X-Forwarded-For: 127.0.0.1)",
        "minimal body, same 200; full body on 127.0.0.1",
        f"{response.status_code}, keys {sorted(stranger['secrets'])}; "
        f"loopback sees ignored={local['secrets']['ignored']}",
        response.status_code == 200 and minimal and hidden and full,
    )
    assert response.status_code == 200 and minimal and hidden and full, (stranger, local)
    assert leaked(response.text, process.output()) == []


def test_a_late_failing_version_changes_nothing(
    service: ServiceFactory, sm: Any, secret_name: str, moto_url: str, tmp_path: Path
) -> None:
    sm.create_secret(Name=secret_name, SecretString=json.dumps(canary_payload()))
    process, url = service(production_env(secret_name, SECRETS_REFRESH_INTERVAL="1", **FAST), endpoint=moto_url)
    _, good, _ = wait_until(url, lambda c, b: c == 200, 30)
    (sa_file,) = list(tmp_path.glob("short-cut-*/service-account.json"))
    before = sa_file.read_text()
    # Passes every payload rule; the typed config refuses the port (Arabic-Indic digits), and the
    # service-account key changes too, so a half-applied version would show in the file.
    bad = canary_payload(
        MILVUS_PORT="٤٧٩١٣", GOOGLE_APPLICATION_CREDENTIALS_JSON={**SA, "private_key_id": "CANARYrotatedkeyid"}
    )
    sm.put_secret_value(SecretId=secret_name, SecretString=json.dumps(bad))
    code, body, took = wait_until(url, lambda c, b: b["status"] == "degraded", 15)
    SEEN.extend([json.dumps(good), json.dumps(body), process.output()])
    unchanged = (
        sa_file.read_text() == before
        and body["secrets"]["version_ids"] == good["secrets"]["version_ids"]
        and body["secrets"]["error"]["code"] == "InvalidSecretValue"
    )
    report.record(
        "late-failing version (config refuses MILVUS_PORT)",
        "degraded, InvalidSecretValue; file, version and config unchanged",
        f"{code} {body['status']} {body['secrets']['error']['code']}; file unchanged={sa_file.read_text() == before}",
        code == 200 and unchanged,
        took,
    )
    assert code == 200 and unchanged, body
    # The failure line names the secret and the version still served (src.secrets_manager.failure_text).
    served = good["secrets"]["version_ids"][secret_name]
    assert f"refresh failed for {secret_name}, still serving {secret_name}={served}" in process.output()


def test_keys_outside_the_allow_list_are_ignored_and_named(
    service: ServiceFactory, sm: Any, secret_name: str, moto_url: str
) -> None:
    payload = canary_payload(SENTRY_DSN="https://CANARY@sentry.example/1", NEW_FEATURE_KEY="CANARYsoon")
    sm.create_secret(Name=secret_name, SecretString=json.dumps(payload))
    process, url = service(production_env(secret_name), endpoint=moto_url)
    code, body, _ = wait_until(url, lambda c, b: c == 200, 30)
    log = process.output()
    SEEN.extend([json.dumps(body), log])
    ignored = body["secrets"]["ignored"]
    ok = (
        body["status"] == "ok"
        and ignored == ["NEW_FEATURE_KEY", "SENTRY_DSN"]
        and "SENTRY_DSN" not in body["secrets"]["keys"]
    )
    warned = any("ignored" in line and "SENTRY_DSN" in line and '"WARNING"' in line for line in log.splitlines())
    report.record(
        "secret holds keys outside the allow-list",
        "ok; keys not applied, named as ignored in /health and a WARNING",
        f"{code} {body['status']}, ignored={ignored}, warning logged={warned}",
        ok and warned,
    )
    assert ok and warned, body


class NotTLS:
    """A loopback listener that answers a TLS handshake with plain text: botocore's SSLError."""

    def __init__(self) -> None:
        self._sock = socket.create_server(("127.0.0.1", 0))
        self.port = int(self._sock.getsockname()[1])
        self._stop = False
        threading.Thread(target=self._serve, daemon=True).start()

    def _serve(self) -> None:
        self._sock.settimeout(0.2)
        while not self._stop:
            try:
                conn, _ = self._sock.accept()
            except OSError:
                continue
            conn.sendall(b"HTTP/1.1 400 Not TLS\r\n\r\n")
            conn.close()

    def close(self) -> None:
        self._stop = True
        self._sock.close()


@pytest.fixture
def not_tls() -> Iterator[NotTLS]:
    server = NotTLS()
    yield server
    server.close()


@pytest.mark.parametrize("fault", ["tls", "proxy", "profile"])
def test_newly_mapped_botocore_errors_are_reported_and_retried(
    fault: str, service: ServiceFactory, secret_name: str, not_tls: NotTLS
) -> None:
    closed = free_port()
    env = production_env(secret_name, **FAST)
    env.update({"AWS_ACCESS_KEY_ID": "testing", "AWS_SECRET_ACCESS_KEY": "testing"})
    expected = {"tls": "EndpointUnreachable", "proxy": "EndpointUnreachable", "profile": "InvalidConfiguration"}[fault]
    if fault == "tls":
        env["AWS_ENDPOINT_URL_SECRETS_MANAGER"] = f"https://127.0.0.1:{not_tls.port}"
    elif fault == "proxy":
        env["AWS_ENDPOINT_URL_SECRETS_MANAGER"] = "https://secretsmanager.us-east-1.amazonaws.com"
        env["HTTPS_PROXY"] = f"http://127.0.0.1:{closed}"
    else:
        env = {k: v for k, v in env.items() if not k.startswith("AWS_ACCESS") and not k.startswith("AWS_SECRET")}
        env["AWS_PROFILE"] = "no-such-profile"
    process, url = service(env)
    code, body, took = wait_until(url, lambda c, b: bool(b["secrets"]["error"]), 30)
    time.sleep(2)
    attempts = process.output().count("secrets not loaded")
    alive = process.proc is not None and process.proc.poll() is None
    SEEN.extend([json.dumps(body), process.output()])
    error = body["secrets"]["error"]
    report.record(
        f"botocore {fault} fault at start",
        f"503 {expected}, hint, retried, process up",
        f"{code} {error['code']}, {attempts} attempts, alive={alive}",
        code == 503 and error["code"] == expected and bool(error["hint"]) and attempts >= 2 and alive,
        took,
    )
    assert code == 503 and error["code"] == expected and error["hint"] and attempts >= 2 and alive, body


LOG_PATHS = ("exception text", "stack_info", "nested extras", "uvicorn ASGI exception", "botocore")


def emit_every_path() -> None:
    try:
        raise ValueError(f"boom {SECRET['OPENAI_API_KEY']} {SA['private_key']!r}")
    except ValueError:
        logging.getLogger("short_cut.x").exception("failed")
    record = logging.LogRecord("short_cut.x", logging.INFO, __file__, 1, "stack", None, None)
    record.stack_info = f"Stack:\n  {SECRET['PINECONE_API_KEY']}"
    logging.getLogger().handlers[0].handle(record)
    logging.getLogger("short_cut.x").info("extra", extra={"d": {"l": [SECRET["MILVUS_HOST"], SA]}})
    try:
        raise KeyError(SECRET["APP_SECRET_KEY"])
    except KeyError as exc:
        logging.getLogger("uvicorn.error").error("Exception in ASGI application\n", exc_info=exc)
    logging.getLogger("botocore.endpoint").info("Response body: %s", json.dumps({"SecretString": json.dumps(SECRET)}))


@pytest.mark.parametrize("json_lines", [True, False], ids=["json", "text"])
def test_no_logging_path_leaks_in_either_format(
    json_lines: bool, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    mask = SecretMasker()
    monkeypatch.setattr(mask_module, "masker", mask)
    # The mask the service builds in prepare: its credentials rule over the parsed secret.
    mask.install(log_mask([parse_secret(json.dumps(canary_payload())).values]))
    configure_logging(json_lines=json_lines, level="DEBUG")
    emit_every_path()
    captured = capsys.readouterr()
    lines = captured.out.splitlines()
    parsed = all(isinstance(json.loads(line), dict) for line in lines) if json_lines else True
    found = leaked(captured.out, captured.err)
    report.record(
        f"log leaks, {'JSON' if json_lines else 'text'} format ({len(LOG_PATHS)} paths)",
        "0 canaries" + ("; every line one JSON object" if json_lines else ""),
        f"{len(found)} canaries in {len(lines)} lines" + (f"; parsed={parsed}" if json_lines else ""),
        not found and parsed,
    )
    assert not found and parsed, captured.out
