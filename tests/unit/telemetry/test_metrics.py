"""EMF metric lines: valid by the specification, never leaking, never interleaved, on only where meant."""

from __future__ import annotations

import asyncio
import io
import json
import logging
import re
import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from types import SimpleNamespace
from typing import Any

import pytest

from src.errors import ErrorCode, SecretsError
from src.loading.masking import log_mask
from src.secret.payload import parse_secret
from src.telemetry import metrics
from src.telemetry.mask import SecretMasker
from tests.support.canary import CANARY_PRIVATE_KEY, CANARY_VALUES, SERVICE_ACCOUNT, canary_secret_string, leaked
from tests.support.emf import EMFError, emf_lines, metric_names, parse_line, validate_document

VERSION = "a1b2c3d4-5678-90ab-cdef-111122223333"
ACCOUNT_ARN = "arn:aws:secretsmanager:us-east-1:123456789012:secret:short-cut/prod/app-AbCdEf"


def make(*, masker: SecretMasker | None = None, environment: str = "prod") -> tuple[metrics.Emitter, io.StringIO]:
    stream = io.StringIO()
    emitter = metrics.Emitter(environment=environment, enabled=True, stream=stream, masker=masker or SecretMasker())
    return emitter, stream


@pytest.fixture
def emitted(monkeypatch: pytest.MonkeyPatch) -> io.StringIO:
    """The module-level API, enabled and writing to a buffer."""
    emitter, stream = make()
    monkeypatch.setattr(metrics, "_emitter", emitter)
    return stream


def every_call() -> None:
    metrics.load_succeeded(startup_ms=812.34)
    metrics.load_failed("AccessDeniedException")
    metrics.refresh_failed(SecretsError(ErrorCode.ThrottlingException, "rate exceeded"))
    metrics.version_changed("short-cut/prod/app", VERSION)
    metrics.secret_age(42.0, {"short-cut/prod/app": VERSION, "short-cut/prod/extra": VERSION})
    metrics.throttling_retries(2)
    metrics.replica_read("short-cut/prod/app", "us-west-2", "InternalServiceError")


# -- the specification ----------------------------------------------------------


def test_every_line_the_module_emits_is_valid_emf(emitted: io.StringIO) -> None:
    every_call()
    lines = emitted.getvalue().splitlines()
    documents = [parse_line(line) for line in lines]
    assert [metric_names(d) for d in documents] == [
        ["SecretLoadSuccess", "SecretStartupMs"],
        ["SecretLoadFailure"],
        ["SecretRefreshFailure"],
        ["SecretVersionChange"],
        ["SecretAgeSeconds"],
        ["SecretAgeSeconds"],
        ["ThrottlingRetries"],
        ["SecretReplicaRead"],
    ]
    assert (documents[-1]["region"], documents[-1]["error_code"]) == ("us-west-2", "InternalServiceError")
    for document in documents:
        directive = document["_aws"]["CloudWatchMetrics"][0]
        assert directive["Namespace"] == "ShortCut"
        assert directive["Dimensions"] == [["Service", "Environment"]]
        assert (document["Service"], document["Environment"]) == ("short-cut-api", "prod")
        assert abs(document["_aws"]["Timestamp"] - time.time() * 1000) < 60_000
        for definition in directive["Metrics"]:
            assert definition["Unit"] == metrics.UNITS[definition["Name"]]
    assert documents[0]["SecretStartupMs"] == 812.3
    assert documents[1]["error_code"] == "AccessDeniedException"
    assert documents[2]["error_code"] == "ThrottlingException"
    # Error codes and names are properties, never dimensions: cardinality stays at one series per env.
    assert all(d["_aws"]["CloudWatchMetrics"][0]["Dimensions"] == [["Service", "Environment"]] for d in documents)
    assert {(d["secret_name"], d["version_id"]) for d in documents[4:6]} == {
        ("short-cut/prod/app", VERSION),
        ("short-cut/prod/extra", VERSION),
    }
    assert documents[6]["ThrottlingRetries"] == 2


GOOD: dict[str, Any] = {
    "_aws": {
        "Timestamp": 1574109732004,
        "CloudWatchMetrics": [
            {
                "Namespace": "ns",
                "Dimensions": [["functionVersion"]],
                "Metrics": [{"Name": "time", "Unit": "Milliseconds"}],
            }
        ],
    },
    "functionVersion": "$LATEST",
    "time": 100,
}


def broken(change: Callable[[dict[str, Any]], None]) -> dict[str, Any]:
    document: dict[str, Any] = json.loads(json.dumps(GOOD))
    change(document)
    return document


@pytest.mark.parametrize(
    ("change", "rule"),
    [
        (lambda d: d.pop("_aws"), "_aws must be an object"),
        (lambda d: d["_aws"].pop("Timestamp"), "Timestamp"),
        (lambda d: d["_aws"].update(Timestamp=1.5), "Timestamp"),
        (lambda d: d["_aws"].update(CloudWatchMetrics=[]), "CloudWatchMetrics"),
        (lambda d: d["_aws"]["CloudWatchMetrics"][0].pop("Namespace"), "Namespace"),
        (lambda d: d["_aws"]["CloudWatchMetrics"][0].update(Dimensions=["functionVersion"]), "DimensionSet"),
        (lambda d: d.pop("functionVersion"), "dimension 'functionVersion'"),
        (lambda d: d.update(functionVersion=3), "dimension 'functionVersion'"),
        (lambda d: d.pop("time"), "no value at the root"),
        (lambda d: d.update(time="100"), "finite number"),
        (lambda d: d.update(time=float("nan")), "finite number"),
        (lambda d: d.update(time=list(range(101))), "array value"),
        (lambda d: d["_aws"]["CloudWatchMetrics"][0]["Metrics"][0].update(Unit="Parsecs"), "invalid Unit"),
        (
            lambda d: d["_aws"]["CloudWatchMetrics"][0].update(Metrics=[{"Name": f"m{i}"} for i in range(101)]),
            "at most 100",
        ),
        (
            lambda d: (
                d["_aws"]["CloudWatchMetrics"][0].update(Dimensions=[[f"d{i}" for i in range(31)]]),
                d.update({f"d{i}": "x" for i in range(31)}),
            ),
            "at most 30",
        ),
    ],
)
def test_the_validator_rejects_each_broken_rule(change: Callable[[dict[str, Any]], None], rule: str) -> None:
    validate_document(GOOD)
    with pytest.raises(EMFError, match=re.escape(rule)):
        validate_document(broken(change))


def test_the_validator_wants_the_whole_line_to_be_the_object() -> None:
    line = json.dumps(GOOD)
    assert parse_line(line)["time"] == 100
    with pytest.raises(EMFError, match="not one JSON object"):
        parse_line("INFO " + line)
    with pytest.raises(EMFError, match="not one JSON object"):
        emf_lines(line + " trailing")


# -- on, off, and what never gets in --------------------------------------------


@pytest.mark.parametrize(
    ("app_env", "setting", "expected"),
    [
        ("production", None, True),
        ("staging", "", True),
        ("production", "off", False),
        ("staging", " OFF ", False),
        ("local", None, False),
        ("development", None, False),
        ("test", None, False),
        ("local", "emf", True),
        ("test", "EMF", True),
    ],
)
def test_on_by_default_only_in_the_cloud(app_env: str, setting: str | None, expected: bool) -> None:
    assert metrics.enabled_for(app_env, setting) is expected


def test_an_unknown_metrics_setting_is_a_configuration_error() -> None:
    with pytest.raises(SecretsError) as caught:
        metrics.configure("production", "on")
    assert caught.value.code == "InvalidConfiguration"
    assert "METRICS=emf" in caught.value.hint


def test_configure_sets_the_environment_dimension(monkeypatch: pytest.MonkeyPatch) -> None:
    stream = io.StringIO()
    monkeypatch.setattr(metrics, "_emitter", metrics._emitter)
    emitter = metrics.configure("staging", None, stream=stream)
    assert metrics.emitter() is emitter and metrics.enabled()
    metrics.refresh_failed("Timeout")
    assert parse_line(stream.getvalue())["Environment"] == "staging"


def test_off_writes_nothing(monkeypatch: pytest.MonkeyPatch) -> None:
    stream = io.StringIO()
    monkeypatch.setattr(metrics, "_emitter", metrics.configure("local", None, stream=stream))
    every_call()
    assert stream.getvalue() == ""


def test_properties_are_an_allow_list_and_metrics_are_known() -> None:
    emitter, stream = make()
    with pytest.raises(ValueError, match="allow-list"):
        emitter.render({"SecretLoadFailure": 1}, {"message": "anything"})
    with pytest.raises(ValueError, match="unknown metric"):
        emitter.render({"Whatever": 1})
    emitter.emit({"SecretLoadFailure": 1}, hint="free text")
    emitter.emit({"SecretAgeSeconds": float("inf")})
    assert stream.getvalue() == ""  # dropped, not raised into the caller


def test_no_canary_value_or_account_id_reaches_a_metric_line() -> None:
    masker = SecretMasker()
    masker.install(log_mask([parse_secret(canary_secret_string()).values]))  # as a load builds it
    emitter, stream = make(masker=masker)
    suspects = [
        *CANARY_VALUES.values(),
        SERVICE_ACCOUNT["private_key_id"],
        SERVICE_ACCOUNT["client_email"],
        *[line for line in CANARY_PRIVATE_KEY.splitlines() if "-----" not in line],
        "CANARYonlyLetters",  # code-shaped, but the masker does not know it: caught below by the canary hunt
        ACCOUNT_ARN,
        "arn:aws:iam::123456789012:role/x",
        "123456789012",
    ]
    for text in suspects:
        emitter.emit({"SecretLoadFailure": 1}, error_code=metrics.safe_code(text))
        emitter.emit({"SecretVersionChange": 1}, secret_name=text, version_id=text)
    output = stream.getvalue()
    documents = emf_lines(output)
    assert len(documents) == 2 * len(suspects)
    # The one code-shaped canary passes the shape check: only the masker stops real values.
    letters_only = [d for d in documents if d.get("error_code") == "CANARYonlyLetters"]
    assert len(letters_only) == 1
    rest = output.replace("CANARYonlyLetters", "")
    assert leaked(rest) == []
    assert "123456789012" not in output and "arn:" not in output
    # An ARN given as a secret name keeps only its name part.
    assert any(d.get("secret_name") == "short-cut/prod/app-AbCdEf" for d in documents)


def test_a_loaded_value_shaped_like_a_code_is_redacted_by_the_masker() -> None:
    masker = SecretMasker()
    masker.register(["LooksLikeAnErrorCode"])
    emitter, stream = make(masker=masker)
    emitter.emit({"SecretLoadFailure": 1}, error_code="LooksLikeAnErrorCode")
    assert parse_line(stream.getvalue())["error_code"] == metrics.REDACTED


@pytest.mark.parametrize(
    ("given", "kept"),
    [
        ("AccessDeniedException", "AccessDeniedException"),
        ("MissingRequiredKeys", "MissingRequiredKeys"),
        ("SomeNewAwsCode", "SomeNewAwsCode"),
        ("sk-abc123", metrics.UNRECOGNISED),
        ("Has Space", metrics.UNRECOGNISED),
        ("Abc123", metrics.UNRECOGNISED),
        ("x" * 100, metrics.UNRECOGNISED),
    ],
)
def test_error_codes_are_code_strings_only(given: str, kept: str) -> None:
    assert metrics.safe_code(given) == kept


def test_a_closed_stdout_never_raises() -> None:
    emitter, stream = make()
    stream.close()
    emitter.emit({"SecretLoadFailure": 1}, error_code="Timeout")


# -- one line at a time ---------------------------------------------------------


class ChoppyStream(io.StringIO):
    """Writes each string in small pieces, yielding the GIL between them, as a pipe under load may."""

    def write(self, text: str) -> int:
        for start in range(0, len(text), 7):
            super().write(text[start : start + 7])
            time.sleep(0)
        return len(text)


def test_metric_lines_never_interleave_with_log_lines(monkeypatch: pytest.MonkeyPatch) -> None:
    stream = ChoppyStream()
    handler = logging.StreamHandler(stream)
    root = logging.getLogger()
    monkeypatch.setattr(root, "handlers", [handler])
    root.setLevel(logging.INFO)
    emitter = metrics.Emitter(environment="prod", enabled=True, stream=stream, masker=SecretMasker())
    logger = logging.getLogger("test.interleave")

    def log_lines() -> None:
        for i in range(200):
            logger.info("log line %d %s", i, "x" * 60)

    def metric_lines() -> None:
        for _ in range(200):
            emitter.emit({"SecretAgeSeconds": 1.0}, secret_name="short-cut/prod/app", version_id=VERSION)

    threads = [threading.Thread(target=log_lines), threading.Thread(target=metric_lines)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    lines = stream.getvalue().splitlines()
    assert len(lines) == 400
    assert sum(1 for line in lines if line.startswith("log line ")) == 200
    assert len(emf_lines("\n".join(line for line in lines if not line.startswith("log line ")))) == 200


# -- the age ticker -------------------------------------------------------------


@dataclass
class FakeStatus:
    loaded: bool
    versions: dict[str, str] = field(default_factory=dict)
    age: float | None = 12.0

    @property
    def version_ids(self) -> Mapping[str, str]:
        return self.versions

    def age_seconds(self) -> float | None:
        return self.age


def test_the_age_ticker_reports_each_secret_every_interval_and_stops_when_cancelled(emitted: io.StringIO) -> None:
    status = FakeStatus(loaded=False)

    async def run() -> None:
        task = asyncio.create_task(metrics.age_ticker(lambda: status, interval=0.02))
        await asyncio.sleep(0.05)  # not loaded yet: nothing
        status.loaded, status.versions = True, {"short-cut/prod/app": VERSION}
        await asyncio.sleep(0.09)
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task

    asyncio.run(run())
    documents = emf_lines(emitted.getvalue())
    assert 2 <= len(documents) <= 6
    assert all(metric_names(d) == ["SecretAgeSeconds"] and d["SecretAgeSeconds"] == 12.0 for d in documents)
    assert all(d["version_id"] == VERSION for d in documents)


# -- throttling retries, counted from botocore's own events ---------------------


class ScriptedSecretsManager:
    """A loopback HTTP server answering GetSecretValue from a script of error codes (None: success)."""

    def __init__(self, script: list[str | None]) -> None:
        self.script = list(script)
        self.requests = 0
        outer = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, format: str, *args: object) -> None:
                return

            def do_POST(self) -> None:
                self.rfile.read(int(self.headers.get("Content-Length", "0")))
                outer.requests += 1
                code = outer.script.pop(0) if outer.script else None
                if code is None:
                    status, body = 200, {"ARN": ACCOUNT_ARN, "Name": "x", "VersionId": VERSION, "SecretString": "{}"}
                else:
                    # Secrets Manager's JSON protocol names the error in __type.
                    status, body = (500 if code == "InternalServiceError" else 400), {"__type": code, "message": "no"}
                data = json.dumps(body).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/x-amz-json-1.1")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    def __enter__(self) -> str:
        self.thread.start()
        return f"http://127.0.0.1:{self.server.server_address[1]}"

    def __exit__(self, *exc: object) -> None:
        self.server.shutdown()
        self.server.server_close()


def counted_client(url: str, counts: list[int], max_attempts: int = 3) -> Any:
    import botocore.session
    from botocore.config import Config

    client = botocore.session.get_session().create_client(
        "secretsmanager",
        region_name="us-east-1",
        endpoint_url=url,
        aws_access_key_id="testing",
        aws_secret_access_key="testing",
        config=Config(retries={"mode": "standard", "total_max_attempts": max_attempts}),
    )
    metrics.count_throttling_retries(client, counts.append)
    metrics.count_throttling_retries(client, counts.append)  # registering twice counts once
    return client


@pytest.fixture
def no_retry_sleep(monkeypatch: pytest.MonkeyPatch) -> None:
    # botocore sleeps its jittered backoff between attempts (its only use of `time` in
    # endpoint.py); the count does not depend on it. Only botocore's reference is replaced.
    import botocore.endpoint

    monkeypatch.setattr(botocore.endpoint, "time", SimpleNamespace(sleep=lambda _seconds: None))


@pytest.mark.parametrize(
    ("script", "max_attempts", "requests", "retries", "fails"),
    [
        (["ThrottlingException", "ThrottlingException", None], 3, 3, 2, False),
        # Three throttled attempts of three: two retries were made, the last one is not retried.
        (["ThrottlingException"] * 3, 3, 3, 2, True),
        # Retried, but not for throttling.
        (["InternalServiceError", None], 3, 2, 0, False),
        ([None], 3, 1, 0, False),
    ],
)
@pytest.mark.usefixtures("no_retry_sleep")
def test_throttling_retries_are_counted_from_botocore_events(
    script: list[str | None], max_attempts: int, requests: int, retries: int, fails: bool
) -> None:
    # Standard retry mode retries ThrottlingException and 5xx (botocore/retries/standard.py,
    # https://docs.aws.amazon.com/sdkref/latest/guide/feature-retry-behavior.html).
    counts: list[int] = []
    server = ScriptedSecretsManager(script)
    with server as url:
        client = counted_client(url, counts, max_attempts)
        if fails:
            from botocore.exceptions import ClientError

            with pytest.raises(ClientError):
                client.get_secret_value(SecretId="x")
        else:
            assert client.get_secret_value(SecretId="x")["VersionId"] == VERSION
    assert server.requests == requests
    assert sum(counts) == retries


@pytest.mark.usefixtures("no_retry_sleep")
def test_the_default_counter_writes_throttling_retry_lines(emitted: io.StringIO) -> None:
    with ScriptedSecretsManager(["ThrottlingException", None]) as url:
        import botocore.session

        client: Any = botocore.session.get_session().create_client(
            "secretsmanager",
            region_name="us-east-1",
            endpoint_url=url,
            aws_access_key_id="testing",
            aws_secret_access_key="testing",
        )
        metrics.count_throttling_retries(client)
        client.get_secret_value(SecretId="x")
    documents = emf_lines(emitted.getvalue())
    assert [(metric_names(d), d["ThrottlingRetries"]) for d in documents] == [(["ThrottlingRetries"], 1)]


def test_zero_retries_write_nothing(emitted: io.StringIO) -> None:
    metrics.throttling_retries(0)
    assert emitted.getvalue() == ""
