"""The one error type of short-cut, and the operator hint for every error code.

Messages and hints name keys, secrets and settings, never a value. Every
failure the service, the CLI or the rotation Lambda reports is a `SecretsError`.
"""

from __future__ import annotations

from typing import Any

HINTS: dict[str, str] = {
    "AccessDeniedException": (
        "The task role cannot read the secret: check the task definition's taskRoleArn, "
        "that the inline policy ShortCutSecretsReadPolicy is attached, and that its resource "
        "ARN matches the secret's ARN (...:secret:<SECRET_NAME>-XXXXXX)."
    ),
    "ResourceNotFoundException": (
        "The secret does not exist in this region: check SECRET_NAME and AWS_REGION, and that "
        "the secret exists there (aws secretsmanager describe-secret --secret-id <name>)."
    ),
    "DecryptionFailure": (
        "Secrets Manager could not decrypt the secret with its KMS key: check the key is "
        "enabled and that the task role may kms:Decrypt via secretsmanager.<region>.amazonaws.com."
    ),
    "InvalidRequestException": (
        "The request is not valid for the secret's state, often because the secret is scheduled "
        "for deletion: restore it (aws secretsmanager restore-secret) or point SECRET_NAME elsewhere."
    ),
    "InvalidParameterException": "A request parameter is invalid: check SECRET_NAME.",
    "ThrottlingException": (
        "Secrets Manager is throttling requests: the service retries with backoff; reduce "
        "concurrent starts or raise SECRETS_REFRESH_INTERVAL."
    ),
    "InternalServiceError": (
        "Secrets Manager had an internal error: the service retries; check the AWS Health Dashboard if it persists."
    ),
    "NoCredentials": (
        "No AWS credentials were found: on ECS set taskRoleArn in the task definition; locally "
        "export AWS_PROFILE or AWS_ACCESS_KEY_ID/AWS_SECRET_ACCESS_KEY."
    ),
    "EndpointUnreachable": (
        "The Secrets Manager endpoint could not be reached: check the task's network (NAT gateway "
        "or a secretsmanager VPC endpoint), AWS_REGION, and AWS_ENDPOINT_URL_SECRETS_MANAGER if set."
    ),
    "Timeout": (
        "Secrets Manager did not answer in time: check the network path; raise "
        "SECRETS_CONNECT_TIMEOUT or SECRETS_READ_TIMEOUT if the link is slow."
    ),
    "MissingRegion": "No AWS region is set: set AWS_REGION (for example us-east-1).",
    "DependencyMissing": (
        "boto3 is not installed: requirements-api.txt must list boto3>=1.34.0 and "
        "botocore>=1.34.0; run pip install -r requirements-api.txt."
    ),
    "InvalidSecretJSON": (
        "The secret must be one JSON object stored as SecretString (plaintext, type 'other'): "
        "check it with aws secretsmanager get-secret-value ... --query SecretString --output text "
        "| python -m json.tool."
    ),
    "InvalidSecretValue": (
        "A value in the secret has the wrong type or shape: values are strings, numbers or "
        "booleans; GOOGLE_APPLICATION_CREDENTIALS_JSON is a service-account key object; MILVUS_PORT is 1-65535."
    ),
    "ForbiddenKey": (
        "The secret holds a key that would change the process itself (PATH, HOME, APP_ENV, "
        "SECRET_NAME, GOOGLE_APPLICATION_CREDENTIALS or a PYTHON*, LD_*, AWS_*, SECRETS_* name): remove it."
    ),
    "MissingRequiredKeys": (
        "Add the missing keys to the secret; staging and production need OPENAI_API_KEY, "
        "PINECONE_API_KEY, GCP_PROJECT_ID, GOOGLE_APPLICATION_CREDENTIALS_JSON, APP_SECRET_KEY, "
        "MILVUS_HOST and MILVUS_PORT."
    ),
    "PlaceholderValue": (
        "The secret still holds an example value from the operations guide or a placeholder "
        "(changeme, ..., <...>): put the real value in."
    ),
    "InvalidConfiguration": (
        "A setting of the service itself is invalid: fix the named environment variable "
        "(or AWS_PROFILE, if it names a profile that does not exist)."
    ),
    "AWSClientError": (
        "botocore failed before or while calling Secrets Manager: check AWS_REGION, the "
        "AWS_ENDPOINT_URL_* settings and the CA bundle; run the CLI with --debug for details."
    ),
    "InternalError": (
        "An unexpected error in the secrets loader: the service keeps retrying; the log has the "
        "traceback (values masked). Report it with the log line."
    ),
    "RotationInProgress": (
        "Another version holds AWSPENDING, so a rotation is under way (the rotation Lambda or "
        "another operator): wait for it to finish, or inspect it with python -m src.cli describe."
    ),
    "CurrentVersionMoved": (
        "AWSCURRENT moved to another version while this command ran (another operator or the "
        "rotation Lambda): nothing was promoted; run the command again on the new version."
    ),
    "PlaceholderLeft": "A placeholder is left after rendering: pass the missing option (see render --help).",
    "RotationNotEnabled": (
        "Rotation is not enabled for the secret: enable it with the stack's RotationSchedule "
        "(RotationCodeBucket) or aws secretsmanager rotate-secret."
    ),
    "UnknownVersion": (
        "The rotation event names a version the secret does not have: check the event's ClientRequestToken."
    ),
    "VersionNotPending": (
        "The rotation event's version is not AWSPENDING: another rotation may have replaced it; "
        "Secrets Manager retries with the right version."
    ),
    "StaleRotation": (
        "The pending version differs from AWSCURRENT in a key other than APP_SECRET_KEY: an "
        "operator changed the secret during the rotation. Cancel it (aws secretsmanager "
        "cancel-rotate-secret), remove AWSPENDING, and rotate again."
    ),
    "ServiceAccountFile": (
        "The service-account file could not be written: none of /dev/shm, TMPDIR, /tmp, /var/tmp is a "
        "writable directory. Give the task a tmpfs or a writable volume at /tmp (the image declares "
        "VOLUME /tmp), or point SECRETS_FILE_DIR at a writable directory."
    ),
}

DEFAULT_HINT = "Unexpected error from AWS: see the code and the AWS documentation for GetSecretValue."


class SecretsError(Exception):
    """A failure with a stable code, a message without values, and an operator hint."""

    def __init__(self, code: str, message: str, *, hint: str | None = None, secret_name: str | None = None) -> None:
        super().__init__(message)
        self.code = code
        self.message = message
        self.hint = hint if hint is not None else HINTS.get(code, DEFAULT_HINT)
        self.secret_name = secret_name

    def __str__(self) -> str:
        return f"{self.code}: {self.message}"

    def __repr__(self) -> str:
        return f"SecretsError(code={self.code!r}, message={self.message!r})"

    def to_dict(self) -> dict[str, Any]:
        return {"code": self.code, "message": self.message, "hint": self.hint}
