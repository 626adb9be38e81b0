"""Secrets Manager access: one lazily built boto3 client, and AWS errors as `SecretsError`.

boto3 is imported only when a client is first needed, so local mode never pays
for it. The endpoint comes from boto3 itself, which honours
`AWS_ENDPOINT_URL_SECRETS_MANAGER`; credentials come from the default chain
(the ECS task role on Fargate). This module knows nothing of validation or of
the process environment. Translating botocore's exceptions is `src.aws.errors`.

A little over the ~250 lines a module gets here: the typed overloads of
`build_client` repeat its signature, which is the price of a typed client.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Literal, overload

# Re-exported: callers take the client and its error translation from one place.
from src.aws.errors import aws_errors as aws_errors
from src.errors import ErrorCode, SecretsError

if TYPE_CHECKING:
    # Stubs only (boto3-stubs[secretsmanager], a dev dependency): never imported at run time,
    # so the rotation Lambda's zip needs nothing beyond the runtime's own botocore.
    from mypy_boto3_secretsmanager import SecretsManagerClient
    from mypy_boto3_secretsmanager.type_defs import (
        GetSecretValueRequestTypeDef,
        PutSecretValueRequestTypeDef,
        UpdateSecretVersionStageRequestTypeDef,
    )

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
    # The Region it was read from, and the primary's error code when that is the failover
    # Region (src.aws.failover sets both; a plain SecretsClient read leaves them None).
    region: str | None = None
    failover_cause: str | None = None


@overload
def build_client(
    region: str | None,
    *,
    connect_timeout: float = ...,
    read_timeout: float = ...,
    max_attempts: int = ...,
    service: Literal["secretsmanager"] = ...,
    credentials: Mapping[str, str] | None = ...,
) -> SecretsManagerClient: ...


# mypy_boto3_sts is not installed (only the secretsmanager stubs are a dev dependency): an STS client is Any.
@overload
def build_client(
    region: str | None,
    *,
    connect_timeout: float = ...,
    read_timeout: float = ...,
    max_attempts: int = ...,
    service: Literal["sts"],
    credentials: Mapping[str, str] | None = ...,
) -> Any: ...


def build_client(
    region: str | None,
    *,
    connect_timeout: float = DEFAULT_CONNECT_TIMEOUT,
    read_timeout: float = DEFAULT_READ_TIMEOUT,
    max_attempts: int = DEFAULT_MAX_ATTEMPTS,
    service: Literal["secretsmanager", "sts"] = "secretsmanager",
    credentials: Mapping[str, str] | None = None,
) -> Any:
    """A Secrets Manager (or, for the CLI's AssumeRole, STS) client with standard retries and explicit timeouts.

    Built on botocore's session, which boto3 wraps: the same credential chain and
    endpoint resolution, without importing boto3's resource layer and s3transfer
    (about 60 ms of start-up).
    """
    try:
        from botocore.config import Config

        from src.aws.botocore_session import session_for
    except ImportError:
        raise SecretsError(
            ErrorCode.DependencyMissing, "boto3/botocore is not installed (pip install boto3 botocore)"
        ) from None
    config = Config(
        region_name=region,
        connect_timeout=connect_timeout,
        read_timeout=read_timeout,
        retries={"mode": "standard", "total_max_attempts": max_attempts},
    )
    creds = credentials or {}
    with aws_errors():
        return session_for(service).create_client(
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
        client: SecretsManagerClient | None = None,
        connect_timeout: float = DEFAULT_CONNECT_TIMEOUT,
        read_timeout: float = DEFAULT_READ_TIMEOUT,
        max_attempts: int = DEFAULT_MAX_ATTEMPTS,
        on_build: Callable[[SecretsManagerClient], None] | None = None,
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
    def client(self) -> SecretsManagerClient:
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
        request: GetSecretValueRequestTypeDef = {"SecretId": name}
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

    def list_versions(self, name: str) -> dict[str, list[str]]:
        """Every version of the secret with its staging labels, unlabelled ("deprecated") ones included.

        DescribeSecret's VersionIdsToStages lists only labelled versions ("Versions that don't have
        staging labels are considered deprecated and Secrets Manager can delete them", API reference,
        DescribeSecret); ListSecretVersionIds lists them with IncludeDeprecated, a page at a time.
        """
        versions: dict[str, list[str]] = {}
        token = ""
        with aws_errors(name):
            while True:
                page = (
                    self.client.list_secret_version_ids(SecretId=name, IncludeDeprecated=True, NextToken=token)
                    if token
                    else self.client.list_secret_version_ids(SecretId=name, IncludeDeprecated=True)
                )
                for version in page.get("Versions", []):
                    versions[str(version["VersionId"])] = list(version.get("VersionStages", []))
                token = str(page.get("NextToken") or "")
                if not token:
                    return versions

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
                ErrorCode.InvalidRequestException,
                f"the secret is scheduled for deletion on {metadata['DeletedDate']}",
                secret_name=name,
            )
        version_id = version_with_stage(metadata, CURRENT)
        if version_id:
            return version_id
        raise SecretsError(
            ErrorCode.ResourceNotFoundException, f"no version of {name} is labelled {CURRENT}", secret_name=name
        )

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
        request: PutSecretValueRequestTypeDef = {"SecretId": name, "SecretString": secret_string}
        if token:
            request["ClientRequestToken"] = token
        if stages:
            request["VersionStages"] = stages
        with aws_errors(name):
            response = self.client.put_secret_value(**request)
        return str(response["VersionId"])

    def move_stage(self, name: str, stage: str, *, to_version: str, from_version: str | None) -> None:
        request: UpdateSecretVersionStageRequestTypeDef = {
            "SecretId": name,
            "VersionStage": stage,
            "MoveToVersionId": to_version,
        }
        if from_version:
            request["RemoveFromVersionId"] = from_version
        with aws_errors(name):
            self.client.update_secret_version_stage(**request)

    def remove_stage(self, name: str, stage: str, *, from_version: str) -> None:
        with aws_errors(name):
            self.client.update_secret_version_stage(SecretId=name, VersionStage=stage, RemoveFromVersionId=from_version)

    def describe_if_exists(self, name: str) -> dict[str, Any] | None:
        """DescribeSecret's answer, or None when there is no such secret."""
        try:
            return self.describe(name)
        except SecretsError as exc:
            if exc.code == ErrorCode.ResourceNotFoundException:
                return None
            raise


def _incomplete(name: str) -> SecretsError:
    # botocore turns a body cut short into a dict without the expected fields: a broken connection.
    return SecretsError(
        ErrorCode.EndpointUnreachable, "the response from Secrets Manager was incomplete", secret_name=name
    )


def version_with_stage(metadata: dict[str, Any], stage: str) -> str | None:
    for version_id, stages in metadata.get("VersionIdsToStages", {}).items():
        if stage in stages:
            return str(version_id)
    return None
