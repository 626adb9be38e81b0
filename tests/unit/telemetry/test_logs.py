"""The log mask and the two formats."""

from __future__ import annotations

import json
import logging
import time

import pytest

from src.loading.masking import log_mask
from src.secret.payload import parse_secret
from src.telemetry import logs
from src.telemetry import mask as mask_module
from src.telemetry.logs import configure_logging, process_age_ms
from src.telemetry.mask import MASK, MAX_FORMS, MAX_MASK_CHARS, SecretMasker, build_mask
from tests.support.canary import CANARY_VALUES, SERVICE_ACCOUNT, canary_secret_string, leaked

# Short aliases: a traceback quotes the raising line, and the canary hunt looks for "CANARY".
SECRET, SA = CANARY_VALUES, SERVICE_ACCOUNT
FORMATS = pytest.mark.parametrize("json_lines", [True, False], ids=["json", "text"])


@pytest.fixture
def fresh_masker(monkeypatch: pytest.MonkeyPatch) -> SecretMasker:
    mask = SecretMasker()
    monkeypatch.setattr(mask_module, "masker", mask)
    # As a load builds it: from the parsed secret, credentials only.
    mask.install(log_mask([parse_secret(canary_secret_string()).values]))
    return mask


def emitted(capsys: pytest.CaptureFixture[str]) -> str:
    """What reached stdout and stderr; in JSON mode every stdout line must stay one JSON object."""
    captured = capsys.readouterr()
    if captured.out.startswith("{"):
        for line in captured.out.splitlines():
            assert isinstance(json.loads(line), dict), line
    return captured.out + captured.err


@FORMATS
def test_exception_text_is_masked(
    json_lines: bool, fresh_masker: SecretMasker, capsys: pytest.CaptureFixture[str]
) -> None:
    configure_logging(json_lines=json_lines, level="INFO")
    key = CANARY_VALUES["OPENAI_API_KEY"]
    try:
        raise ValueError(f"boom {key} and {SA['private_key']!r}")
    except ValueError:
        logging.getLogger("short_cut.test").exception("failed for %s", CANARY_VALUES["APP_SECRET_KEY"])
    text = emitted(capsys)
    assert "ValueError: boom" in text.replace("\\n", "\n")
    assert leaked(text) == [], text


@FORMATS
def test_stack_info_is_masked(json_lines: bool, fresh_masker: SecretMasker, capsys: pytest.CaptureFixture[str]) -> None:
    configure_logging(json_lines=json_lines, level="INFO")
    # A stack whose source line quotes a value: rendered by the formatter itself, not by the mask's caller.
    record = logging.LogRecord("short_cut.test", logging.INFO, __file__, 1, "with a stack", None, None)
    record.stack_info = (
        f'Stack (most recent call last):\n  File "x.py", line 1\n    key = "{CANARY_VALUES["PINECONE_API_KEY"]}"'
    )
    logging.getLogger().handlers[0].handle(record)
    logging.getLogger("short_cut.test").info("real stack", stack_info=True)
    text = emitted(capsys)
    assert "Stack (most recent call last)" in text
    assert leaked(text) == [], text


@FORMATS
def test_nested_extras_are_masked(
    json_lines: bool, fresh_masker: SecretMasker, capsys: pytest.CaptureFixture[str]
) -> None:
    configure_logging(json_lines=json_lines, level="INFO")
    key, pem_line = CANARY_VALUES["PINECONE_API_KEY"], SERVICE_ACCOUNT["private_key"].splitlines()[1]
    host = CANARY_VALUES["MILVUS_HOST"]
    extra = {
        "detail": {"inner": [key, {"deeper": pem_line}]},
        "flat": f"x{key}x",
        "items": [SERVICE_ACCOUNT],
        "host": host,
    }
    logging.getLogger("short_cut.test").warning("extras", extra=extra)
    text = emitted(capsys)
    assert leaked(text) == [], text
    if json_lines:
        # Identifiers are not credentials: the host and the service account's e-mail stay readable.
        assert host in text and SERVICE_ACCOUNT["client_email"] in text
        record = json.loads(text.strip().splitlines()[-1])
        assert record["flat"] == f"x{MASK}x" and record["detail"]["inner"][0] == MASK
        assert record["detail"]["inner"][1] == {"deeper": MASK} and record["items"][0]["private_key"] == MASK


@FORMATS
def test_uvicorn_exception_in_asgi_application_is_masked(
    json_lines: bool, fresh_masker: SecretMasker, capsys: pytest.CaptureFixture[str]
) -> None:
    configure_logging(json_lines=json_lines, level="INFO")
    try:
        raise KeyError(SECRET["APP_SECRET_KEY"])
    except KeyError as exc:
        # Word for word what uvicorn's protocols do with an app's exception.
        logging.getLogger("uvicorn.error").error("Exception in ASGI application\n", exc_info=exc)
    text = emitted(capsys)
    assert "Exception in ASGI application" in text and "KeyError" in text
    assert leaked(text) == [], text


@FORMATS
def test_botocore_output_is_masked_and_its_debug_held_back(
    json_lines: bool, fresh_masker: SecretMasker, capsys: pytest.CaptureFixture[str]
) -> None:
    configure_logging(json_lines=json_lines, level="DEBUG")
    body = json.dumps(
        {"SecretString": json.dumps({**CANARY_VALUES, "GOOGLE_APPLICATION_CREDENTIALS_JSON": SERVICE_ACCOUNT})}
    )
    logging.getLogger("botocore.parsers").debug("Response body:\n%s", body.encode())
    logging.getLogger("botocore.endpoint").info("Response body: %s", body)
    text = emitted(capsys)
    assert "Response body" in text
    assert "Response body:\n" not in text and "Response body:\\n" not in text  # the DEBUG line is held back
    assert leaked(text) == [], text


@FORMATS
def test_uncaught_thread_exception_goes_through_the_mask(
    json_lines: bool, fresh_masker: SecretMasker, capsys: pytest.CaptureFixture[str]
) -> None:
    import threading

    configure_logging(json_lines=json_lines, level="INFO")

    def crash() -> None:
        raise RuntimeError(SECRET["OPENAI_API_KEY"])

    thread = threading.Thread(target=crash, name="crasher")
    thread.start()
    thread.join()
    text = emitted(capsys)
    assert "crasher" in text and "RuntimeError" in text
    assert leaked(text) == [], text


def test_values_with_characters_json_escapes_are_masked_in_both_forms() -> None:
    mask = SecretMasker()
    value = 'pa"ss\\wörd-CANARY'
    mask.register([value])
    for text in (value, json.dumps(value), json.dumps(value, ensure_ascii=False), repr(value)):
        assert "CANARY" not in mask.mask(f"before {text} after"), text


def test_short_values_are_not_masked() -> None:
    mask = SecretMasker()
    mask.register(["1", "yes"])
    assert mask.mask("1 yes") == "1 yes"


def test_json_lines_format(capsys: pytest.CaptureFixture[str]) -> None:
    configure_logging(json_lines=True, level="INFO")
    logging.getLogger("short_cut.test").info("hello %s", "world", extra={"key_count": 7})
    line = capsys.readouterr().out.strip().splitlines()[-1]
    record = json.loads(line)
    assert record["message"] == "hello world"
    assert record["level"] == "INFO" and record["key_count"] == 7 and "time" in record
    from src.telemetry.logs import MaskingFormatter

    assert isinstance(logging.getLogger().handlers[0].formatter, MaskingFormatter)


def test_text_format(capsys: pytest.CaptureFixture[str]) -> None:
    configure_logging(json_lines=False, level="debug")
    logging.getLogger("short_cut.test").debug("plain")
    out = capsys.readouterr().out
    assert "DEBUG" in out and "plain" in out and not out.startswith("{")


def test_botocore_debug_output_is_held_back_even_at_debug_level() -> None:
    configure_logging(json_lines=False, level="DEBUG")
    assert not logging.getLogger("botocore.parsers").isEnabledFor(logging.DEBUG)
    assert logging.getLogger("short_cut.secrets").isEnabledFor(logging.DEBUG)


def test_process_age_is_this_process_age() -> None:
    first = process_age_ms()
    assert first is not None and first >= 0
    time.sleep(0.05)
    second = process_age_ms()
    # /proc/uptime has 10 ms resolution; the age grows with the wall clock.
    assert second is not None and 30 <= second - first <= 5000


@FORMATS
def test_a_record_that_cannot_be_formatted_never_prints_its_arguments(
    json_lines: bool, fresh_masker: SecretMasker, capsys: pytest.CaptureFixture[str]
) -> None:
    """logging's default handleError prints the raw args to stderr, past the mask (review finding)."""
    configure_logging(json_lines=json_lines, level="INFO")
    logging.getLogger("short_cut.test").info("port %d", SECRET["OPENAI_API_KEY"])
    text = emitted(capsys)
    assert "could not be formatted" in text
    assert leaked(text) == [], text


def test_json_lines_stay_json_when_a_short_value_looks_like_a_literal(
    fresh_masker: SecretMasker, capsys: pytest.CaptureFixture[str]
) -> None:
    """A value such as `true` or `19530` must not be masked inside numbers or JSON literals."""
    fresh_masker.register(["true", "19530", "nabcdefgh"])
    configure_logging(json_lines=True, level="INFO")
    logging.getLogger("short_cut.test").info(
        "ok true 19530", extra={"ok": True, "process_ms": 1195303.5, "port": 19530, "detail": "x\nabcdefgh"}
    )
    record = json.loads(emitted(capsys).strip().splitlines()[-1])
    assert record["ok"] is True and record["process_ms"] == 1195303.5 and record["port"] == 19530
    assert record["message"] == "ok *** ***"
    # The match began inside the "\n" escape: the whole string is masked rather than left broken.
    assert record["detail"] == "***"


def _access(path: str, status: int) -> None:
    # The record exactly as uvicorn's h11 and httptools protocols write it.
    logging.getLogger("uvicorn.access").info('%s - "%s %s HTTP/%s" %d', "10.0.1.9:51234", "GET", path, "1.1", status)


@FORMATS
@pytest.mark.parametrize("setting", ["failures", "all"])
def test_successful_probes_are_not_access_logged_unless_asked(
    json_lines: bool, setting: str, fresh_masker: SecretMasker, capsys: pytest.CaptureFixture[str]
) -> None:
    configure_logging(json_lines=json_lines, level="INFO", probe_access_log=setting)
    configure_logging(json_lines=json_lines, level="INFO", probe_access_log=setting)  # twice: one filter
    for path, status in [("/health", 200), ("/health/live", 200), ("/health", 503), ("/items", 200), ("/x", 404)]:
        _access(path, status)
    text = emitted(capsys)
    if json_lines:
        text = "\n".join(json.loads(line)["message"] for line in text.splitlines())
    assert '"GET /health HTTP/1.1" 503' in text
    assert '"GET /items HTTP/1.1" 200' in text and '"GET /x HTTP/1.1" 404' in text
    assert ('"GET /health HTTP/1.1" 200' in text) is (setting == "all")
    assert ('"GET /health/live HTTP/1.1" 200' in text) is (setting == "all")


def test_a_json_key_is_never_masked_only_string_values() -> None:
    mask = SecretMasker()
    mask.install(build_mask([(["message", "secret_names", "logger"], 4)]))
    record = logging.LogRecord("short_cut.test", logging.INFO, __file__, 1, "a message about secret_names", None, None)
    record.secret_names = ["message"]
    line = mask.mask_json(logs.formatter(json_lines=True).format(record))
    parsed = json.loads(line)
    assert set(parsed) == {"time", "level", "logger", "message", "secret_names"}
    assert parsed["message"] == f"a {MASK} about {MASK}" and parsed["secret_names"] == [MASK]


def test_protected_strings_are_never_masked_where_they_occur() -> None:
    name, version = "acme-7k2q/prod/app", "0f1e2d3c-4b5a-6978-8695-a4b3c2d1e0f9"
    mask = SecretMasker()
    mask.install(build_mask([(["acme-7k2q", "8695-a4b3"], 4)], protected=[name, version]))
    text = f"secret_name={name} version_id={version} and acme-7k2q alone, 8695-a4b3 too"
    assert mask.mask(text) == f"secret_name={name} version_id={version} and {MASK} alone, {MASK} too"
    line = json.dumps({"message": text, "secret_name": name, "version_ids": {name: version}})
    assert json.loads(mask.mask_json(line)) == {
        "message": f"secret_name={name} version_id={version} and {MASK} alone, {MASK} too",
        "secret_name": name,
        "version_ids": {name: version},
    }


def test_the_mask_is_bounded_credentials_first() -> None:
    credential = "sk-first-in-line-0123456789"
    many = [f"{n:06d}" * 12 for n in range(MAX_FORMS + 500)]
    mask = build_mask([([credential], 4), (many, 16)])
    assert mask.count <= MAX_FORMS and mask.dropped >= 500
    masker = SecretMasker()
    masker.install(mask)
    assert masker.mask(f"a {credential} b") == f"a {MASK} b"
    huge = ["".join(chr(0x4E00 + (n * 7 + i) % 2000) for i in range(4000)) for n in range(200)]
    bounded = build_mask([(huge, 4)])
    assert bounded.count > 0 and bounded.dropped > 0
    assert "count" in repr(bounded) and huge[0] not in repr(bounded)
    assert MAX_MASK_CHARS >= 4 * 65536  # room for a whole 64 KiB version in two forms, twice


def test_json_lines_carry_no_color_message_or_ansi_escapes(capsys: pytest.CaptureFixture[str]) -> None:
    """uvicorn adds `color_message` (ANSI-styled) to its records for its own console; a JSON line
    must carry neither it nor any escape code (issue 21). uvicorn's real loggers and code paths."""
    import uvicorn

    configure_logging(json_lines=True, level="INFO")
    config = uvicorn.Config("bench.reference_app:app", host="127.0.0.1", port=0, log_config=None)
    sock = config.bind_socket()  # logs "Uvicorn running on ..." with a color_message
    sock.close()
    logging.getLogger("uvicorn.error").info("styled \x1b[1m%s\x1b[0m", "bold", extra={"color_message": "\x1b[36mx"})
    out = capsys.readouterr().out
    records = [json.loads(line) for line in out.splitlines()]
    assert any(r["message"].startswith("Uvicorn running on http://127.0.0.1:") for r in records), out
    assert any(r["message"] == "styled bold" for r in records), out
    for record in records:
        assert "color_message" not in record
    assert "\x1b" not in out and "\\u001b" not in out and "[1m" not in out, out
