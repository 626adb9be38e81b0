"""botocore's exceptions as `SecretsError`: the project's codes and hints, and no secret in a message.

Contract: inside `with aws_errors(name):` every botocore exception becomes a `SecretsError`
(the AWS error code as it is for a `ClientError`, a local code otherwise), raised without
its cause, so no traceback carries a request or a response. Without botocore installed it
does nothing. Used by `src.aws` (which re-exports it) and by the CLI's own AWS calls.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

from src.errors import ErrorCode, SecretsError


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
        raise SecretsError.from_aws(code, message, secret_name=secret_name) from None
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
        raise SecretsError(
            ErrorCode.Timeout, f"Secrets Manager did not answer in time ({type(exc).__name__})", secret_name=secret_name
        ) from None
    except (bx.ConnectionError, bx.HTTPClientError) as exc:
        # EndpointConnectionError, SSLError, ProxyConnectionError, ConnectionClosedError, ...
        raise SecretsError(
            ErrorCode.EndpointUnreachable,
            f"could not reach Secrets Manager ({type(exc).__name__})",
            secret_name=secret_name,
        ) from None
    except bx.ParamValidationError:
        raise SecretsError(
            ErrorCode.InvalidParameterException, "a request parameter is not valid", secret_name=secret_name
        ) from None
    except bx.BotoCoreError as exc:
        raise SecretsError(ErrorCode.AWSClientError, type(exc).__name__, secret_name=secret_name) from None
