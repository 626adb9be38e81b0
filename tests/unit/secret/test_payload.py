"""Every payload rule, as a table: each bad payload gives its code and no value in its message."""

from __future__ import annotations

import json

import pytest

from src.errors import SecretsError
from src.secret.payload import (
    REQUIRED_KEYS,
    allowed_keys,
    build_bundle,
    example_keys,
    is_placeholder,
    parse_secret,
    parse_values,
)
from tests.support.canary import CANARY_VALUES, SERVICE_ACCOUNT, canary_payload, canary_secret_string, leaked


def bundle_of(raw: str | bytes, *, strict: bool = True) -> object:
    return build_bundle([("s", parse_secret(raw, secret_name="s"))], strict=strict)


BAD_PAYLOADS: list[tuple[str, str | bytes, str]] = [
    ("not json", "CANARY{not json", "InvalidSecretJSON"),
    ("json array", json.dumps([CANARY_VALUES]), "InvalidSecretJSON"),
    ("json string", json.dumps("sk-CANARYopenai-7f3kZr9XwV2mN8bT"), "InvalidSecretJSON"),
    ("json null", "null", "InvalidSecretJSON"),
    ("empty", "", "InvalidSecretJSON"),
    ("blank", "   \n", "InvalidSecretJSON"),
    ("duplicate key", '{"OPENAI_API_KEY": "sk-CANARYa", "OPENAI_API_KEY": "sk-CANARYb"}', "InvalidSecretJSON"),
    ("NaN", '{"MILVUS_PORT": NaN}', "InvalidSecretJSON"),
    ("lower-case key", canary_secret_string(openai_api_key="sk-CANARYx"), "InvalidSecretJSON"),
    ("key with dash", canary_secret_string(**{"OPENAI-KEY": "CANARYx"}), "InvalidSecretJSON"),
    ("key starting with digit", canary_secret_string(**{"1KEY": "CANARYx"}), "InvalidSecretJSON"),
    ("PATH", canary_secret_string(PATH="/CANARY/bin"), "ForbiddenKey"),
    ("LD_PRELOAD", canary_secret_string(LD_PRELOAD="/CANARY.so"), "ForbiddenKey"),
    ("AWS_ACCESS_KEY_ID", canary_secret_string(AWS_ACCESS_KEY_ID="CANARYakid"), "ForbiddenKey"),
    ("PYTHONPATH", canary_secret_string(PYTHONPATH="/CANARY"), "ForbiddenKey"),
    ("PYTHONHOME", canary_secret_string(PYTHONHOME="/CANARY"), "ForbiddenKey"),
    ("APP_ENV", canary_secret_string(APP_ENV="local"), "ForbiddenKey"),
    ("SECRET_NAME", canary_secret_string(SECRET_NAME="other"), "ForbiddenKey"),
    ("HOME", canary_secret_string(HOME="/CANARY"), "ForbiddenKey"),
    ("null value", canary_secret_string(OPENAI_API_KEY=None), "InvalidSecretValue"),
    ("nested object", canary_secret_string(OPENAI_API_KEY={"k": "sk-CANARYx"}), "InvalidSecretValue"),
    ("list value", canary_secret_string(OPENAI_API_KEY=["sk-CANARYx"]), "InvalidSecretValue"),
    ("empty value", canary_secret_string(APP_SECRET_KEY=""), "InvalidSecretValue"),
    ("port zero", canary_secret_string(MILVUS_PORT=0), "InvalidSecretValue"),
    ("port too big", canary_secret_string(MILVUS_PORT="65536"), "InvalidSecretValue"),
    ("port not a number", canary_secret_string(MILVUS_PORT="CANARYport"), "InvalidSecretValue"),
    (
        "service account lacks private_key",
        canary_secret_string(
            GOOGLE_APPLICATION_CREDENTIALS_JSON={k: v for k, v in SERVICE_ACCOUNT.items() if k != "private_key"}
        ),
        "InvalidSecretValue",
    ),
    (
        "service account wrong type",
        canary_secret_string(GOOGLE_APPLICATION_CREDENTIALS_JSON={**SERVICE_ACCOUNT, "type": "authorized_user"}),
        "InvalidSecretValue",
    ),
    (
        "service account not JSON",
        canary_secret_string(GOOGLE_APPLICATION_CREDENTIALS_JSON="CANARY{"),
        "InvalidSecretValue",
    ),
    (
        "service account key not PEM",
        canary_secret_string(GOOGLE_APPLICATION_CREDENTIALS_JSON={**SERVICE_ACCOUNT, "private_key": "CANARYnotpem"}),
        "InvalidSecretValue",
    ),
    (
        "missing key",
        json.dumps({k: v for k, v in canary_payload().items() if k != "OPENAI_API_KEY"}),
        "MissingRequiredKeys",
    ),
    ("empty object", "{}", "MissingRequiredKeys"),
    ("guide placeholder", canary_secret_string(OPENAI_API_KEY="sk-실제키를입력하세요"), "PlaceholderValue"),
    ("guide host placeholder", canary_secret_string(MILVUS_HOST="프로덕션-Milvus-호스트"), "PlaceholderValue"),
    ("changeme", canary_secret_string(APP_SECRET_KEY="ChangeMe"), "PlaceholderValue"),
    ("dots", canary_secret_string(GCP_PROJECT_ID="..."), "PlaceholderValue"),
    ("angle brackets", canary_secret_string(PINECONE_API_KEY="<your-pinecone-key>"), "PlaceholderValue"),
    (
        "service account with ... fields",
        canary_secret_string(GOOGLE_APPLICATION_CREDENTIALS_JSON={**SERVICE_ACCOUNT, "private_key": "..."}),
        "PlaceholderValue",
    ),
    ("64 KB payload", canary_secret_string(PADDING="CANARY" + "x" * 65536), "InvalidSecretValue"),
    ("non-UTF-8 bytes", b'{"OPENAI_API_KEY": "sk-CANARY\xff\xfe"}', "InvalidSecretJSON"),
]


@pytest.mark.parametrize(
    ("raw", "code"), [(raw, code) for _, raw, code in BAD_PAYLOADS], ids=[n for n, _, _ in BAD_PAYLOADS]
)
def test_bad_payload_gives_its_code_and_no_value(raw: str | bytes, code: str) -> None:
    with pytest.raises(SecretsError) as caught:
        bundle_of(raw)
    error = caught.value
    assert error.code == code
    assert error.hint
    assert leaked(str(error), repr(error), error.message, error.hint) == []


def test_valid_payload_is_normalised() -> None:
    raw = canary_secret_string(MILVUS_PORT=19530, FEATURE_ON=True, RATIO=0.5)
    allowed = allowed_keys("FEATURE_ON,RATIO")
    bundle = build_bundle([("s", parse_secret(raw))], strict=True, allowed=allowed)
    assert bundle.values["MILVUS_PORT"] == "19530"
    assert bundle.values["FEATURE_ON"] == "true"
    assert bundle.values["RATIO"] == "0.5"
    assert json.loads(bundle.values["GOOGLE_APPLICATION_CREDENTIALS_JSON"]) == SERVICE_ACCOUNT
    assert bundle.missing == () and bundle.warnings == ()
    assert leaked(repr(bundle)) == []


def test_service_account_may_be_a_json_string() -> None:
    bundle = bundle_of(canary_secret_string(GOOGLE_APPLICATION_CREDENTIALS_JSON=json.dumps(SERVICE_ACCOUNT)))
    assert json.loads(bundle.values["GOOGLE_APPLICATION_CREDENTIALS_JSON"]) == SERVICE_ACCOUNT  # type: ignore[attr-defined]


def test_placeholders_and_missing_keys_are_warnings_outside_staging_and_production() -> None:
    raw = json.dumps({"OPENAI_API_KEY": "sk-실제키를입력하세요", "APP_SECRET_KEY": "changeme"})
    bundle = build_bundle([("s", parse_secret(raw))], strict=False)
    assert set(bundle.missing) == set(REQUIRED_KEYS) - {"OPENAI_API_KEY", "APP_SECRET_KEY"}
    assert "OPENAI_API_KEY holds a placeholder value" in bundle.warnings
    assert "APP_SECRET_KEY holds a placeholder value" in bundle.warnings


def test_unexpected_key_prefix_is_a_warning() -> None:
    bundle = bundle_of(canary_secret_string(OPENAI_API_KEY="CANARY-no-prefix"))
    assert bundle.warnings == ("OPENAI_API_KEY does not start with sk-",)  # type: ignore[attr-defined]


def test_later_secret_wins_and_collision_is_named() -> None:
    first = parse_secret(canary_secret_string(), secret_name="a")
    second = parse_secret(json.dumps({"MILVUS_HOST": "second.internal"}), secret_name="b")
    bundle = build_bundle([("a", first), ("b", second)], strict=True)
    assert bundle.values["MILVUS_HOST"] == "second.internal"
    assert bundle.collisions == ("MILVUS_HOST from b",)


def test_required_keys_are_checked_on_the_merged_secrets() -> None:
    values = canary_payload()
    first = parse_secret(json.dumps({k: v for k, v in values.items() if k != "MILVUS_HOST"}))
    second = parse_secret(json.dumps({"MILVUS_HOST": "h.internal"}))
    assert build_bundle([("a", first), ("b", second)], strict=True).missing == ()


def test_environment_values_skip_empty_ones() -> None:
    parsed = parse_values({"OPENAI_API_KEY": "", "MILVUS_HOST": "localhost"})
    assert dict(parsed.values) == {"MILVUS_HOST": "localhost"}


@pytest.mark.parametrize("value", ["sk-실제키를입력하세요", "changeme", "CHANGEME", "...", "<value>", " <x> "])
def test_is_placeholder(value: str) -> None:
    assert is_placeholder(value)


@pytest.mark.parametrize("value", ["sk-live-abc", "a.b", "<a><b>", "change-me-later-not"])
def test_is_not_placeholder(value: str) -> None:
    assert not is_placeholder(value)


def test_example_keys_names_secret_bearing_values_equal_to_the_example() -> None:
    example = {
        "OPENAI_API_KEY": "sk-EXAMPLE",
        "MILVUS_PORT": "19530",
        "MILVUS_HOST": "milvus.example",
        "GOOGLE_APPLICATION_CREDENTIALS_JSON": json.dumps(SERVICE_ACCOUNT),
    }
    # Milvus's default port and a shared host are real values, not the example's secrets.
    assert example_keys({"OPENAI_API_KEY": "sk-EXAMPLE", "MILVUS_PORT": "19530", "X": "1"}, example) == [
        "OPENAI_API_KEY",
    ]
    assert example_keys({"OPENAI_API_KEY": "sk-real", "MILVUS_HOST": "milvus.example"}, example) == []
    same_key = json.dumps({**SERVICE_ACCOUNT, "client_email": "real@x.iam.gserviceaccount.com"})
    other_key = json.dumps(
        {**SERVICE_ACCOUNT, "private_key": "-----BEGIN PRIVATE KEY-----\nREAL\n", "private_key_id": "r"}
    )
    assert example_keys({"GOOGLE_APPLICATION_CREDENTIALS_JSON": same_key}, example) == [
        "GOOGLE_APPLICATION_CREDENTIALS_JSON.private_key",
        "GOOGLE_APPLICATION_CREDENTIALS_JSON.private_key_id",
    ]
    assert example_keys({"GOOGLE_APPLICATION_CREDENTIALS_JSON": other_key}, example) == []


# -- the allow-list (issue 11, item 4) ----------------------------------------------


def test_keys_outside_the_allow_list_are_ignored_by_name_not_applied() -> None:
    raw = canary_secret_string(SENTRY_DSN="https://CANARYdsn@sentry.example/1", FEATURE_FLAGS="CANARYflags")
    bundle = bundle_of(raw)
    assert bundle.ignored == ("FEATURE_FLAGS", "SENTRY_DSN")  # type: ignore[attr-defined]
    assert "SENTRY_DSN" not in bundle.values and "FEATURE_FLAGS" not in bundle.values  # type: ignore[attr-defined]
    assert leaked(repr(bundle)) == []
    extra = build_bundle([("s", parse_secret(raw))], strict=True, allowed=allowed_keys(" SENTRY_DSN ,"))
    assert extra.values["SENTRY_DSN"] == "https://CANARYdsn@sentry.example/1"
    assert extra.ignored == ("FEATURE_FLAGS",)


@pytest.mark.parametrize(
    "key",
    [
        "HTTPS_PROXY",
        "HTTP_PROXY",
        "NO_PROXY",
        "ALL_PROXY",
        "REQUESTS_CA_BUNDLE",
        "SSL_CERT_FILE",
        "SSLKEYLOGFILE",
        "TMPDIR",
        "ENV_FILE",
        "OPENAI_BASE_URL",
        "GCE_METADATA_HOST",
        "GLIBC_TUNABLES",
        "UVICORN_HOST",
        "APP_SECRET_KEY_PREVIOUS",
        "APP_SECRET_KEY_PREVIOUS_EXPIRES_AT",
        "SECRETS_EXTRA_KEYS",
        "HEALTH_DETAILS",
        "HEALTH_ACCESS_LOG",
        "ECS_CONTAINER_METADATA_URI_V4",
    ],
)
def test_keys_that_reconfigure_the_process_are_refused_in_the_secret_and_in_the_extra_list(key: str) -> None:
    with pytest.raises(SecretsError) as in_secret:
        bundle_of(canary_secret_string(**{key: "CANARYvalue"}))
    assert in_secret.value.code == "ForbiddenKey"
    with pytest.raises(SecretsError) as in_extra:
        allowed_keys(f"SENTRY_DSN,{key}")
    assert in_extra.value.code == "InvalidConfiguration"
    assert "SECRETS_EXTRA_KEYS" in in_extra.value.message and in_extra.value.hint


def test_extra_key_names_must_be_valid() -> None:
    with pytest.raises(SecretsError) as caught:
        allowed_keys("sentry-dsn")
    assert caught.value.code == "InvalidConfiguration"
    assert allowed_keys(None) == allowed_keys("") == allowed_keys(" , ")


# -- nothing but SecretsError escapes the rules (issue 11, item 3) -------------------


@pytest.mark.parametrize(
    ("name", "raw"),
    [
        ("superscript digit port", canary_secret_string(MILVUS_PORT="1²")),
        ("arabic-indic digit port", canary_secret_string(MILVUS_PORT="٣٣")),
        ("fullwidth digit port", canary_secret_string(MILVUS_PORT="１２３")),
        (
            "deeply nested service account string",
            canary_secret_string(GOOGLE_APPLICATION_CREDENTIALS_JSON="[" * 100000),
        ),
    ],
)
def test_odd_values_give_invalid_secret_value_not_a_traceback(name: str, raw: str) -> None:
    with pytest.raises(SecretsError) as caught:
        bundle_of(raw)
    assert caught.value.code == "InvalidSecretValue", name


def test_an_unexpected_exception_in_the_rules_becomes_invalid_secret_value(monkeypatch: pytest.MonkeyPatch) -> None:
    import src.secret.payload as payload

    def explode(*_: object) -> None:
        raise OverflowError("CANARYboom")

    monkeypatch.setattr(payload, "check_port", explode)
    with pytest.raises(SecretsError) as caught:
        bundle_of(canary_secret_string())
    assert caught.value.code == "InvalidSecretValue"
    assert "OverflowError" in caught.value.message and leaked(str(caught.value)) == []


@pytest.mark.parametrize(
    "raw",
    [
        '{"OPENAI_API_KEY": "sk-\\ud800CANARY"}',
        json.dumps({"GOOGLE_APPLICATION_CREDENTIALS_JSON": {**SERVICE_ACCOUNT, "client_id": "x"}}).replace(
            '"client_id": "x"', '"client_id": "\\udfff"'
        ),
    ],
    ids=["lone surrogate in a value", "lone surrogate in the service account"],
)
def test_a_lone_surrogate_is_refused_before_anything_is_applied(raw: str) -> None:
    """JSON's \\ud800 escape decodes to a string os.environ and a UTF-8 file cannot hold."""
    with pytest.raises(SecretsError) as caught:
        parse_secret(raw)
    assert caught.value.code == "InvalidSecretValue" and "surrogate" in caught.value.message
