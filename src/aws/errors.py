"""botocore's exceptions as `SecretsError`: the project's codes and hints, and no secret in a message.

Contract: inside `with aws_errors(name):` every botocore exception becomes a `SecretsError`
(the AWS error code as it is for a `ClientError`, a local code otherwise), raised without
its cause, so no traceback carries a request or a response. Without botocore installed it
does nothing. Used by `src.aws.client` (which re-exports it) and by the CLI's own AWS calls.

An unreachable endpoint or a timeout names the service that was called: the caller says
which (`service=LOGS`); otherwise the endpoint's host names it when it is an AWS one
(`logs.us-east-1.amazonaws.com`), and otherwise it is Secrets Manager, the service's own.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from urllib.parse import urlsplit

from src.errors import ErrorCode, SecretsError


@dataclass(frozen=True)
class Service:
    """An AWS service as an operator knows it: its name, the botocore setting that points it
    at another endpoint, and the VPC endpoint a private subnet needs for it."""

    name: str
    endpoint_variable: str  # botocore's AWS_ENDPOINT_URL_<SERVICE ID>
    host_prefix: str  # the first label of its AWS endpoint host, also its VPC endpoint's name


SECRETS_MANAGER = Service("Secrets Manager", "AWS_ENDPOINT_URL_SECRETS_MANAGER", "secretsmanager")
LOGS = Service("CloudWatch Logs", "AWS_ENDPOINT_URL_CLOUDWATCH_LOGS", "logs")
STS = Service("STS", "AWS_ENDPOINT_URL_STS", "sts")
IAM = Service("IAM", "AWS_ENDPOINT_URL_IAM", "iam")
CLOUDWATCH = Service("CloudWatch", "AWS_ENDPOINT_URL_CLOUDWATCH", "monitoring")
SNS = Service("SNS", "AWS_ENDPOINT_URL_SNS", "sns")
KMS = Service("KMS", "AWS_ENDPOINT_URL_KMS", "kms")
SERVICES = (SECRETS_MANAGER, LOGS, STS, IAM, CLOUDWATCH, SNS, KMS)
# AWS error messages are one sentence; longer "messages" are bodies (an HTML page).
MESSAGE_MAX = 1024
# A page, not a sentence: AWS messages may quote a <PLACEHOLDER>, never a tag like these.
_MARKUP = re.compile(r"<(?:!doctype|html|head|body|title|h1|p>|\?xml|/[a-z0-9]+>)", re.IGNORECASE)


def service_of(exc: Exception, given: Service | None) -> Service:
    """The service a connection fault was talking to: as given, else by its AWS host."""
    if given is not None:
        return given
    url = getattr(exc, "kwargs", {}).get("endpoint_url") or ""
    host = urlsplit(str(url)).hostname or ""
    if host.endswith((".amazonaws.com", ".amazonaws.com.cn")):
        for service in SERVICES:
            if host.split(".", 1)[0] in (service.host_prefix, f"{service.host_prefix}-fips"):
                return service
    return SECRETS_MANAGER


def _unreachable_hint(service: Service) -> str | None:
    if service == SECRETS_MANAGER:
        return None  # the code's own hint
    return (
        f"The {service.name} endpoint could not be reached: check the network (a NAT gateway or a "
        f"{service.host_prefix} VPC endpoint), the region, and {service.endpoint_variable} or "
        "AWS_ENDPOINT_URL if set."
    )


def _timeout_hint(service: Service) -> str | None:
    if service == SECRETS_MANAGER:
        return None
    return f"{service.name} did not answer in time: check the network path and run the command again."


def _is_a_body(code: str, message: str) -> bool:
    """Whether botocore's "message" is a response body, not an AWS error: it takes a body that
    is not JSON as the message (JSON protocols), and names a generic answer by its status."""
    return code.isdecimal() or bool(_MARKUP.search(message)) or "\n" in message.strip() or len(message) > MESSAGE_MAX


def _one_line(message: str) -> str:
    return " ".join(message.split())


def _not_an_aws_answer(status: object, operation: str, given: Service | None, secret_name: str | None) -> SecretsError:
    setting = f"{given.endpoint_variable} or AWS_ENDPOINT_URL" if given else "AWS_ENDPOINT_URL(_<SERVICE>)"
    return SecretsError(
        ErrorCode.AWSClientError,
        f"{operation} got HTTP {status} with a body that is not an AWS error (not shown)",
        hint=f"Check {setting} and the region: the endpoint is not that AWS API (an emulator may not "
        "implement the call).",
        secret_name=secret_name,
    )


@contextmanager
def aws_errors(secret_name: str | None = None, *, service: Service | None = None) -> Iterator[None]:
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
        status = exc.response.get("ResponseMetadata", {}).get("HTTPStatusCode")
        # No Error at all: an XML (query protocol) parser found a page where an AWS error belongs.
        if not error.get("Code") or _is_a_body(code, message):
            found = _not_an_aws_answer(status, exc.operation_name, service, secret_name)
        else:
            found = SecretsError.from_aws(code, _one_line(message), secret_name=secret_name)
        # The failover policy (src.aws.failover) reads it: a 5xx page from a proxy is an outage too.
        found.http_status = status if isinstance(status, int) else None
        raise found from None
    except bx.CredentialRetrievalError as exc:
        # Its message carries the credentials endpoint's answer: name the provider only.
        provider = exc.kwargs.get("provider", "unknown")
        raise SecretsError(
            ErrorCode.NoCredentials, f"the {provider} credential provider failed", secret_name=secret_name
        ) from None
    except (bx.NoCredentialsError, bx.PartialCredentialsError) as exc:
        raise SecretsError(ErrorCode.NoCredentials, type(exc).__name__, secret_name=secret_name) from None
    except bx.NoRegionError:
        raise SecretsError(ErrorCode.MissingRegion, "no AWS region is configured", secret_name=secret_name) from None
    except bx.ProfileNotFound:
        raise SecretsError(
            ErrorCode.InvalidConfiguration, "AWS_PROFILE names a profile that does not exist", secret_name=secret_name
        ) from None
    except (bx.ConnectTimeoutError, bx.ReadTimeoutError) as exc:
        called = service_of(exc, service)
        raise SecretsError(
            ErrorCode.Timeout,
            f"{called.name} did not answer in time ({type(exc).__name__})",
            hint=_timeout_hint(called),
            secret_name=secret_name,
        ) from None
    except (bx.ConnectionError, bx.HTTPClientError) as exc:
        # EndpointConnectionError, SSLError, ProxyConnectionError, ConnectionClosedError, ...
        called = service_of(exc, service)
        raise SecretsError(
            ErrorCode.EndpointUnreachable,
            f"could not reach {called.name} ({type(exc).__name__})",
            hint=_unreachable_hint(called),
            secret_name=secret_name,
        ) from None
    except bx.ParamValidationError:
        raise SecretsError(
            ErrorCode.InvalidParameterException, "a request parameter is not valid", secret_name=secret_name
        ) from None
    except bx.BotoCoreError as exc:
        raise SecretsError(ErrorCode.AWSClientError, type(exc).__name__, secret_name=secret_name) from None
