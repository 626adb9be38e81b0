"""AWS errors become SecretsError with the project's codes and hints; requests are as specified."""

from __future__ import annotations

import os
import sys
from pathlib import Path
from typing import Any

import boto3
import pytest
from botocore import exceptions as bx
from botocore.stub import Stubber

from src.aws.client import SecretsClient, aws_errors, build_client
from src.errors import HINTS, SecretsError

_listdir = os.listdir

V1 = "11111111-1111-4111-8111-111111111111"
V2 = "22222222-2222-4222-8222-222222222222"


def stubbed() -> tuple[SecretsClient, Stubber]:
    client = boto3.client("secretsmanager", region_name="us-east-1", aws_access_key_id="x", aws_secret_access_key="x")
    return SecretsClient(client=client), Stubber(client)


@pytest.mark.parametrize(
    "code",
    [
        "AccessDeniedException",
        "ResourceNotFoundException",
        "DecryptionFailure",
        "InvalidRequestException",
        "ThrottlingException",
        "InternalServiceError",
    ],
)
def test_aws_error_codes_pass_through_with_their_hint(code: str) -> None:
    secrets, stub = stubbed()
    stub.add_client_error("get_secret_value", service_error_code=code, service_message=f"{code} happened")
    with stub, pytest.raises(SecretsError) as caught:
        secrets.get_secret("short-cut/prod/app")
    assert caught.value.code == code
    assert caught.value.hint == HINTS[code]
    assert caught.value.secret_name == "short-cut/prod/app"


def test_unknown_aws_code_keeps_its_code_with_a_generic_hint() -> None:
    secrets, stub = stubbed()
    stub.add_client_error("get_secret_value", service_error_code="SomethingNew")
    with stub, pytest.raises(SecretsError) as caught:
        secrets.get_secret("n")
    assert caught.value.code == "SomethingNew"
    assert "AWS documentation" in caught.value.hint


def test_get_secret_asks_for_awscurrent_explicitly() -> None:
    secrets, stub = stubbed()
    stub.add_response(
        "get_secret_value",
        {
            "ARN": "arn:aws:secretsmanager:us-east-1:123456789012:secret:n-AbCdEf",
            "Name": "n",
            "VersionId": V1,
            "SecretString": "{}",
        },
        {"SecretId": "n", "VersionStage": "AWSCURRENT"},
    )
    with stub:
        fetched = secrets.get_secret("n")
    assert (fetched.version_id, fetched.secret_string, fetched.has_binary) == (V1, "{}", False)
    assert "{}" not in repr(fetched)


def test_incomplete_response_is_a_broken_connection() -> None:
    secrets, stub = stubbed()
    stub.add_response("get_secret_value", {"Name": "n"}, {"SecretId": "n", "VersionStage": "AWSCURRENT"})
    with stub, pytest.raises(SecretsError) as caught:
        secrets.get_secret("n")
    assert caught.value.code == "EndpointUnreachable"


def test_current_version_reads_describe_secret() -> None:
    secrets, stub = stubbed()
    stub.add_response(
        "describe_secret",
        {"VersionIdsToStages": {V1: ["AWSPREVIOUS"], V2: ["AWSCURRENT"]}},
        {"SecretId": "n"},
    )
    with stub:
        assert secrets.current_version("n") == V2


@pytest.mark.parametrize(
    ("exc", "code"),
    [
        (bx.NoCredentialsError(), "NoCredentials"),
        (bx.PartialCredentialsError(provider="env", cred_var="AWS_SECRET_ACCESS_KEY"), "NoCredentials"),
        (bx.CredentialRetrievalError(provider="container-role", error_msg="bad"), "NoCredentials"),
        (bx.NoRegionError(), "MissingRegion"),
        (bx.ConnectTimeoutError(endpoint_url="http://x"), "Timeout"),
        (bx.ReadTimeoutError(endpoint_url="http://x"), "Timeout"),
        (bx.EndpointConnectionError(endpoint_url="http://x"), "EndpointUnreachable"),
        (bx.ConnectionClosedError(endpoint_url="http://x"), "EndpointUnreachable"),
    ],
)
def test_botocore_exceptions_map_to_local_codes(exc: Exception, code: str) -> None:
    with pytest.raises(SecretsError) as caught, aws_errors("n"):
        raise exc
    assert caught.value.code == code
    assert caught.value.hint == HINTS[code]


def test_missing_botocore_names_requirements_file(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ("botocore.config", "botocore.session", "src.aws.botocore_session"):
        monkeypatch.setitem(sys.modules, name, None)
    with pytest.raises(SecretsError) as caught:
        build_client("us-east-1")
    assert caught.value.code == "DependencyMissing"
    assert "requirements-api.txt" in caught.value.hint


def test_client_has_standard_retries_and_explicit_timeouts() -> None:
    client: Any = build_client("eu-west-1", connect_timeout=1.5, read_timeout=4.0, max_attempts=5)
    config = client.meta.config
    assert (config.connect_timeout, config.read_timeout) == (1.5, 4.0)
    assert config.retries == {"mode": "standard", "total_max_attempts": 5}
    assert client.meta.region_name == "eu-west-1"


def test_an_sts_client_for_assume_role_carries_the_given_credentials() -> None:
    # The CLI's `verify --as-role` builds STS (for AssumeRole) and then Secrets Manager with the
    # role's temporary credentials: both through build_client, with the same retries.
    credentials = {"AccessKeyId": "ASIAEXAMPLE", "SecretAccessKey": "secret", "SessionToken": "token"}
    sts = build_client("us-east-1", service="sts", max_attempts=4)
    assert sts.meta.service_model.service_name == "sts"
    assert sts.meta.config.retries == {"mode": "standard", "total_max_attempts": 4}
    secrets = build_client("us-east-1", credentials=credentials)
    assert secrets.meta.service_model.service_name == "secretsmanager"
    frozen = secrets._request_signer._credentials.get_frozen_credentials()  # type: ignore[attr-defined]
    assert (frozen.access_key, frozen.secret_key, frozen.token) == ("ASIAEXAMPLE", "secret", "token")


def test_endpoint_variable_is_honoured_by_boto3(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("AWS_ENDPOINT_URL_SECRETS_MANAGER", "http://127.0.0.1:4566")
    client: Any = build_client("us-east-1")
    assert client.meta.endpoint_url == "http://127.0.0.1:4566"


def test_client_is_built_once_on_first_use(monkeypatch: pytest.MonkeyPatch) -> None:
    built: list[str | None] = []

    def fake_build(region: str | None, **_: Any) -> object:
        built.append(region)
        return object()

    monkeypatch.setattr("src.aws.client.build_client", fake_build)
    secrets = SecretsClient("us-east-1")
    assert built == []
    first = secrets.client
    assert secrets.client is first
    assert built == ["us-east-1"]


# -- every botocore exception is mapped (issue 11, item 5) ------------------------------


@pytest.mark.parametrize(
    ("exc", "code"),
    [
        (
            bx.SSLError(endpoint_url="https://secretsmanager.us-east-1.amazonaws.com", error=OSError("bad cert")),
            "EndpointUnreachable",
        ),
        (
            bx.ProxyConnectionError(proxy_url="http://proxy.invalid:3128", error=OSError("refused")),
            "EndpointUnreachable",
        ),
        (bx.EndpointConnectionError(endpoint_url="https://x"), "EndpointUnreachable"),
        (bx.ConnectionClosedError(endpoint_url="https://x"), "EndpointUnreachable"),
        (bx.ConnectTimeoutError(endpoint_url="https://x"), "Timeout"),
        (bx.ReadTimeoutError(endpoint_url="https://x"), "Timeout"),
        (bx.ProfileNotFound(profile="nope"), "InvalidConfiguration"),
        (bx.ParamValidationError(report="Invalid length for parameter SecretId"), "InvalidParameterException"),
        (bx.NoCredentialsError(), "NoCredentials"),
        (bx.UnknownServiceError(service_name="x", known_service_names="y"), "AWSClientError"),
        (bx.DataNotFoundError(data_path="x"), "AWSClientError"),
    ],
    ids=lambda v: type(v).__name__ if isinstance(v, Exception) else v,
)
def test_every_botocore_error_becomes_a_code_with_a_specific_hint(exc: Exception, code: str) -> None:
    with pytest.raises(SecretsError) as caught, aws_errors("short-cut/prod/app"):
        raise exc
    assert caught.value.code == code
    assert caught.value.hint == HINTS[code]


def test_credential_endpoint_answers_never_reach_the_message() -> None:
    answer = '{"AccessKeyId": "ASIACANARY", "SecretAccessKey": "CANARYsecretaccess", "Token": "partial'
    exc = bx.CredentialRetrievalError(provider="container-role", error_msg=f"Unexpected response: {answer}")
    with pytest.raises(SecretsError) as caught, aws_errors():
        raise exc
    assert caught.value.code == "NoCredentials"
    assert "container-role" in caught.value.message
    assert "CANARY" not in str(caught.value) and "ASIA" not in str(caught.value)


def test_a_real_tls_failure_through_botocore_is_endpoint_unreachable() -> None:
    import socket
    import threading

    from botocore.config import Config

    # A TLS listener whose certificate botocore cannot trust: botocore raises SSLError.
    server = socket.socket()
    server.bind(("127.0.0.1", 0))
    server.listen(1)
    port = server.getsockname()[1]

    def serve_garbage() -> None:
        conn, _ = server.accept()
        conn.sendall(b"this is not TLS\r\n\r\n")
        conn.close()

    thread = threading.Thread(target=serve_garbage, daemon=True)
    thread.start()
    client = boto3.client(
        "secretsmanager",
        region_name="us-east-1",
        endpoint_url=f"https://127.0.0.1:{port}",
        aws_access_key_id="x",
        aws_secret_access_key="x",
        config=Config(retries={"total_max_attempts": 1}),
    )
    with pytest.raises(SecretsError) as caught:
        SecretsClient(client=client).get_secret("n")
    server.close()
    assert caught.value.code == "EndpointUnreachable"
    assert "SSLError" in caught.value.message


def test_the_data_loader_lists_only_the_services_a_client_may_need(monkeypatch: pytest.MonkeyPatch) -> None:
    # botocore would list all ~450 service directories on the first model load; see src/aws/botocore_session.
    from botocore.exceptions import UnknownServiceError

    from src.aws.botocore_session import CREDENTIAL_SERVICES, session_for

    listed: list[str] = []

    def listdir(path: str) -> list[str]:
        listed.append(path)
        return _listdir(path)

    monkeypatch.setattr(os, "listdir", listdir)
    session = session_for("secretsmanager")
    client: Any = session.create_client("secretsmanager", region_name="us-east-1")
    assert client.meta.service_model.service_name == "secretsmanager"
    assert client.meta.endpoint_url == "https://secretsmanager.us-east-1.amazonaws.com"
    names = ("secretsmanager", *CREDENTIAL_SERVICES)
    assert listed and all(os.path.basename(path) in names for path in listed), listed
    # The credential providers build their own clients on the session: STS (a role, a web
    # identity), SSO and SSO-OIDC (an SSO profile). Those stay known; anything else does not.
    for name in ("sts", "sso", "sso-oidc"):
        assert session.create_client(name, region_name="us-east-1").meta.service_model.service_name == name
    with pytest.raises(UnknownServiceError):
        session.create_client("s3", region_name="us-east-1")


def test_credentials_from_a_web_identity_token_still_work(
    sm: Any, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    # botocore's AssumeRoleWithWebIdentity provider (EKS IRSA, CI with OIDC) calls STS through a
    # client of its own, built on the same session as the Secrets Manager client.
    sm.create_secret(Name="short-cut/test/app", SecretString='{"MILVUS_HOST": "m"}')
    token = tmp_path / "token"
    token.write_text("header.payload.signature")
    for name in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY"):
        monkeypatch.delenv(name)
    monkeypatch.setenv("AWS_CONFIG_FILE", str(tmp_path / "no-config"))
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", str(tmp_path / "no-credentials"))
    monkeypatch.setenv("AWS_WEB_IDENTITY_TOKEN_FILE", str(token))
    monkeypatch.setenv("AWS_ROLE_ARN", "arn:aws:iam::123456789012:role/short-cut")
    client = SecretsClient("us-east-1")
    assert client.get_secret("short-cut/test/app").secret_string == '{"MILVUS_HOST": "m"}'
    signer: Any = client.client
    credentials = signer._request_signer._credentials
    assert type(credentials).__name__ == "DeferredRefreshableCredentials"


def test_the_data_loader_keeps_aws_data_path(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    from src.aws.botocore_session import session_for

    monkeypatch.setenv("AWS_DATA_PATH", f"{tmp_path}/a{os.pathsep}{tmp_path}/b")
    loader = session_for("secretsmanager").get_component("data_loader")
    assert loader.search_paths[:2] == [f"{tmp_path}/a", f"{tmp_path}/b"]


def _client_error(code: str | None, message: str, status: int) -> Exception:
    from botocore.exceptions import ClientError

    error = {"Code": code, "Message": message} if code else {}
    return ClientError({"Error": error, "ResponseMetadata": {"HTTPStatusCode": status}}, "DescribeSecret")  # type: ignore[typeddict-item]


@pytest.mark.parametrize(
    ("code", "message"),
    [
        ("404", "<!DOCTYPE html>\n<html><body><h1>Not Found</h1></body></html>"),
        ("502", "<html><head><title>502 Bad Gateway</title></head></html>"),
        (None, ""),  # the XML parser found a page where the Error belongs
        ("Whatever", "a first line\nand a second"),
    ],
)
def test_a_response_body_never_becomes_the_message(code: str | None, message: str) -> None:
    """Issue 29, item 9: botocore takes a body that is not JSON as the error's message."""
    from src.aws.client import aws_errors

    with pytest.raises(SecretsError) as caught, aws_errors("short-cut/prod/app"):
        raise _client_error(code, message, 404)
    assert caught.value.code == "AWSClientError"
    assert caught.value.message == "DescribeSecret got HTTP 404 with a body that is not an AWS error (not shown)"
    assert "AWS_ENDPOINT_URL" in caught.value.hint


def test_an_aws_message_quoting_a_placeholder_is_kept() -> None:
    from src.aws.client import aws_errors

    message = "Value '<ECR_URI>:<IMAGE_TAG>' at 'image' failed to satisfy constraint"
    with pytest.raises(SecretsError) as caught, aws_errors():
        raise _client_error("ValidationException", message, 400)
    assert (caught.value.code, caught.value.message) == ("ValidationException", message)


def test_list_versions_reads_every_page_with_deprecated_versions() -> None:
    """Issue 28 item 5: DescribeSecret omits unlabelled versions; ListSecretVersionIds with
    IncludeDeprecated lists them, a page at a time (NextToken; API reference, ListSecretVersionIds)."""
    client, stub = stubbed()
    v1, v2, v3 = (f"{n}" * 8 + "-1111-4111-8111-111111111111" for n in "abc")
    stub.add_response(
        "list_secret_version_ids",
        {"Versions": [{"VersionId": v3, "VersionStages": ["AWSCURRENT"]}, {"VersionId": v2,
                      "VersionStages": ["AWSPREVIOUS"]}], "NextToken": "page-2"},
        {"SecretId": "s", "IncludeDeprecated": True},
    )  # fmt: skip
    stub.add_response(
        "list_secret_version_ids",
        {"Versions": [{"VersionId": v1}]},
        {"SecretId": "s", "IncludeDeprecated": True, "NextToken": "page-2"},
    )
    with stub:
        assert client.list_versions("s") == {v3: ["AWSCURRENT"], v2: ["AWSPREVIOUS"], v1: []}
        stub.assert_no_pending_responses()
