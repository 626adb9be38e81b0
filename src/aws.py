"""Secrets Manager access: one lazily built boto3 client, and AWS errors as `SecretsError`.

boto3 is imported only when a client is first needed, so local mode never pays
for it. The endpoint comes from boto3 itself, which honours
`AWS_ENDPOINT_URL_SECRETS_MANAGER`; credentials come from the default chain
(the ECS task role on Fargate). This module knows nothing of validation or of
the process environment.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

from src.errors import SecretsError

DEFAULT_CONNECT_TIMEOUT = 2.0
DEFAULT_READ_TIMEOUT = 5.0
DEFAULT_MAX_ATTEMPTS = 3

CURRENT = "AWSCURRENT"
PENDING = "AWSPENDING"
PREVIOUS = "AWSPREVIOUS"


@dataclass(frozen=True)
class FetchedSecret:
    name: str
    arn: str
    version_id: str
    secret_string: str | None = field(repr=False)
    has_binary: bool = False


@contextmanager
def aws_errors(secret_name: str | None = None) -> Iterator[None]:
    """Turn every botocore exception into `SecretsError` with the project's codes and hints.

    The order matters: botocore's timeouts, TLS and proxy faults are all `ConnectionError`s,
    and every one of its exceptions is a `BotoCoreError`, caught last so that none escapes.
    """
    try:
        from botocore import exceptions as bx
    except ImportError:  # pragma: no cover - exercised only without botocore
        yield
        return
    try:
        yield
    except bx.ClientError as exc:
        error = exc.response.get("Error", {})
        code = str(error.get("Code") or "ClientError")
        # AWS messages name ARNs and actions, never secret values. They may name the account,
        # role and session: fine for logs and the full /health body, never for the minimal one.
        message = str(error.get("Message") or exc)
        raise SecretsError(code, message, secret_name=secret_name) from None
    except bx.CredentialRetrievalError as exc:
        # Its message carries the credentials endpoint's answer: name the provider only.
        provider = exc.kwargs.get("provider", "unknown")
        raise SecretsError(
            "NoCredentials", f"the {provider} credential provider failed", secret_name=secret_name
        ) from None
    except (bx.NoCredentialsError, bx.PartialCredentialsError) as exc:
        raise SecretsError("NoCredentials", type(exc).__name__, secret_name=secret_name) from None
    except bx.NoRegionError:
        raise SecretsError("MissingRegion", "no AWS region is configured", secret_name=secret_name) from None
    except bx.ProfileNotFound:
        raise SecretsError(
            "InvalidConfiguration", "AWS_PROFILE names a profile that does not exist", secret_name=secret_name
        ) from None
    except (bx.ConnectTimeoutError, bx.ReadTimeoutError) as exc:
        raise SecretsError(
            "Timeout", f"Secrets Manager did not answer in time ({type(exc).__name__})", secret_name=secret_name
        ) from None
    except (bx.ConnectionError, bx.HTTPClientError) as exc:
        # EndpointConnectionError, SSLError, ProxyConnectionError, ConnectionClosedError, ...
        raise SecretsError(
            "EndpointUnreachable", f"could not reach Secrets Manager ({type(exc).__name__})", secret_name=secret_name
        ) from None
    except bx.ParamValidationError:
        raise SecretsError(
            "InvalidParameterException", "a request parameter is not valid", secret_name=secret_name
        ) from None
    except bx.BotoCoreError as exc:
        raise SecretsError("AWSClientError", type(exc).__name__, secret_name=secret_name) from None


def build_client(
    region: str | None,
    *,
    connect_timeout: float = DEFAULT_CONNECT_TIMEOUT,
    read_timeout: float = DEFAULT_READ_TIMEOUT,
    max_attempts: int = DEFAULT_MAX_ATTEMPTS,
    service: str = "secretsmanager",
    credentials: Mapping[str, str] | None = None,
) -> Any:
    """A Secrets Manager client with standard retries and explicit timeouts.

    Built on botocore's session, which boto3 wraps: the same credential chain and
    endpoint resolution, without importing boto3's resource layer and s3transfer
    (about 60 ms of start-up).
    """
    try:
        import botocore.session
        from botocore.config import Config
    except ImportError:
        raise SecretsError(
            "DependencyMissing", "boto3/botocore is not installed (pip install boto3 botocore)"
        ) from None
    config = Config(
        region_name=region,
        connect_timeout=connect_timeout,
        read_timeout=read_timeout,
        retries={"mode": "standard", "total_max_attempts": max_attempts},
    )
    creds = credentials or {}
    # A private session: a shared default session is not safe to use across threads.
    with aws_errors():
        return botocore.session.get_session().create_client(
            service,
            config=config,
            aws_access_key_id=creds.get("AccessKeyId"),
            aws_secret_access_key=creds.get("SecretAccessKey"),
            aws_session_token=creds.get("SessionToken"),
        )


class SecretsClient:
    """Reads secrets; the boto3 client is injected or built on first use."""

    def __init__(
        self,
        region: str | None = None,
        *,
        client: Any | None = None,
        connect_timeout: float = DEFAULT_CONNECT_TIMEOUT,
        read_timeout: float = DEFAULT_READ_TIMEOUT,
        max_attempts: int = DEFAULT_MAX_ATTEMPTS,
        on_build: Callable[[Any], None] | None = None,
    ) -> None:
        """`on_build(client)` runs once when the botocore client is built (metrics hooks)."""
        self._region = region
        self._client = client
        self._on_build = on_build
        self._connect_timeout, self._read_timeout, self._max_attempts = connect_timeout, read_timeout, max_attempts
        self._lock = threading.Lock()

    @property
    def region(self) -> str | None:
        return self._region

    @property
    def client(self) -> Any:
        if self._client is None:
            with self._lock:
                if self._client is None:
                    built = build_client(
                        self._region,
                        connect_timeout=self._connect_timeout,
                        read_timeout=self._read_timeout,
                        max_attempts=self._max_attempts,
                    )
                    if self._on_build is not None:
                        self._on_build(built)
                    self._client = built
        return self._client

    def get_secret(
        self, name: str, *, version_stage: str | None = CURRENT, version_id: str | None = None
    ) -> FetchedSecret:
        request: dict[str, str] = {"SecretId": name}
        if version_id:
            request["VersionId"] = version_id
        if version_stage:
            request["VersionStage"] = version_stage
        with aws_errors(name):
            response = self.client.get_secret_value(**request)
        if "VersionId" not in response or ("SecretString" not in response and "SecretBinary" not in response):
            raise _incomplete(name)
        return FetchedSecret(
            name=name,
            arn=str(response.get("ARN", "")),
            version_id=str(response.get("VersionId", "")),
            secret_string=response.get("SecretString"),
            has_binary="SecretBinary" in response,
        )

    def describe(self, name: str) -> dict[str, Any]:
        with aws_errors(name):
            return dict(self.client.describe_secret(SecretId=name))

    def current_version(self, name: str) -> str:
        """The version id that holds AWSCURRENT, from DescribeSecret (no value is read).

        A secret scheduled for deletion still describes, but can no longer be read:
        that is reported now, as GetSecretValue would, rather than at the next rotation.
        """
        metadata = self.describe(name)
        if "VersionIdsToStages" not in metadata and "ARN" not in metadata:
            raise _incomplete(name)
        if metadata.get("DeletedDate"):
            raise SecretsError(
                "InvalidRequestException",
                f"the secret is scheduled for deletion on {metadata['DeletedDate']}",
                secret_name=name,
            )
        version_id = version_with_stage(metadata, CURRENT)
        if version_id:
            return version_id
        raise SecretsError("ResourceNotFoundException", f"no version of {name} is labelled {CURRENT}", secret_name=name)

    # -- operator and rotation calls ------------------------------------------

    def create(self, name: str, secret_string: str, *, description: str, tags: dict[str, str]) -> str:
        """CreateSecret with the default aws/secretsmanager key (no KmsKeyId)."""
        with aws_errors(name):
            response = self.client.create_secret(
                Name=name,
                Description=description,
                SecretString=secret_string,
                Tags=[{"Key": k, "Value": v} for k, v in tags.items()],
            )
        return str(response["VersionId"])

    def put_value(
        self, name: str, secret_string: str, *, token: str | None = None, stages: list[str] | None = None
    ) -> str:
        request: dict[str, Any] = {"SecretId": name, "SecretString": secret_string}
        if token:
            request["ClientRequestToken"] = token
        if stages:
            request["VersionStages"] = stages
        with aws_errors(name):
            response = self.client.put_secret_value(**request)
        return str(response["VersionId"])

    def move_stage(self, name: str, stage: str, *, to_version: str, from_version: str | None) -> None:
        request: dict[str, Any] = {"SecretId": name, "VersionStage": stage, "MoveToVersionId": to_version}
        if from_version:
            request["RemoveFromVersionId"] = from_version
        with aws_errors(name):
            self.client.update_secret_version_stage(**request)

    def remove_stage(self, name: str, stage: str, *, from_version: str) -> None:
        with aws_errors(name):
            self.client.update_secret_version_stage(SecretId=name, VersionStage=stage, RemoveFromVersionId=from_version)

    def exists(self, name: str) -> bool:
        try:
            self.describe(name)
        except SecretsError as exc:
            if exc.code == "ResourceNotFoundException":
                return False
            raise
        return True


def _incomplete(name: str) -> SecretsError:
    # botocore turns a body cut short into a dict without the expected fields: a broken connection.
    return SecretsError("EndpointUnreachable", "the response from Secrets Manager was incomplete", secret_name=name)


def version_with_stage(metadata: dict[str, Any], stage: str) -> str | None:
    for version_id, stages in metadata.get("VersionIdsToStages", {}).items():
        if stage in stages:
            return str(version_id)
    return None
