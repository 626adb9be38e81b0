"""The one error type of short-cut, and every error code with its operator hint.

Messages and hints name keys, secrets and settings, never a value. Every
failure the service, the CLI or the rotation Lambda reports is a `SecretsError`
whose code is an `ErrorCode` member, except an AWS error code this project has no
member for, which `SecretsError.from_aws` passes through with a generic hint. The
wire format (`/health`, CLI output, metric properties) is the code's string.

(Over 250 lines, `ErrorCode` over 150: a data table, one member and its hint per code.)
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from enum import StrEnum
from types import MappingProxyType
from typing import Any


class ErrorCode(StrEnum):
    """Every code short-cut reports, each with its hint beside it.

    Longer than the ~150 lines a class gets here, on purpose: it is a table, one entry
    per code, and splitting it would separate codes from their hints.
    """

    hint: str

    def __new__(cls, value: str, hint: str) -> ErrorCode:
        member = str.__new__(cls, value)
        member._value_ = value
        member.hint = hint
        return member

    AccessDeniedException = (
        "AccessDeniedException",
        (
            "The task role cannot read the secret: check the task definition's taskRoleArn, that the inline "
            "policy ShortCutSecretsReadPolicy is attached, and that its resource ARN matches the secret's "
            "ARN (...:secret:<SECRET_NAME>-XXXXXX)."
        ),
    )
    ResourceNotFoundException = (
        "ResourceNotFoundException",
        (
            "The secret does not exist in this region: check SECRET_NAME and AWS_REGION, and that the secret "
            "exists there (aws secretsmanager describe-secret --secret-id <name>)."
        ),
    )
    DecryptionFailure = (
        "DecryptionFailure",
        (
            "Secrets Manager could not decrypt the secret with its KMS key: check the key is enabled and "
            "that the task role may kms:Decrypt via secretsmanager.<region>.amazonaws.com."
        ),
    )
    KMSInvalidStateException = (
        "KMSInvalidStateException",
        (
            "The secret's KMS key is disabled or pending deletion, so Secrets Manager cannot decrypt the "
            "secret: enable the key (aws kms enable-key) or cancel its deletion (aws kms cancel-key-deletion)."
        ),
    )
    InvalidRequestException = (
        "InvalidRequestException",
        (
            "The request is not valid for the secret's state, often because the secret is scheduled for "
            "deletion: restore it (aws secretsmanager restore-secret) or point SECRET_NAME elsewhere."
        ),
    )
    InvalidParameterException = ("InvalidParameterException", "A request parameter is invalid: check SECRET_NAME.")
    ThrottlingException = (
        "ThrottlingException",
        (
            "Secrets Manager is throttling requests: the service retries with backoff; reduce concurrent "
            "starts or raise SECRETS_REFRESH_INTERVAL."
        ),
    )
    InternalServiceError = (
        "InternalServiceError",
        ("Secrets Manager had an internal error: the service retries; check the AWS Health Dashboard if it persists."),
    )
    NoCredentials = (
        "NoCredentials",
        (
            "No AWS credentials were found: on ECS set taskRoleArn in the task definition; locally export "
            "AWS_PROFILE or AWS_ACCESS_KEY_ID/AWS_SECRET_ACCESS_KEY."
        ),
    )
    EndpointUnreachable = (
        "EndpointUnreachable",
        (
            "The Secrets Manager endpoint could not be reached: check the task's network (NAT gateway or a "
            "secretsmanager VPC endpoint), AWS_REGION, and AWS_ENDPOINT_URL_SECRETS_MANAGER if set."
        ),
    )
    Timeout = (
        "Timeout",
        (
            "Secrets Manager did not answer in time: check the network path; raise SECRETS_CONNECT_TIMEOUT "
            "or SECRETS_READ_TIMEOUT if the link is slow."
        ),
    )
    MissingRegion = ("MissingRegion", "No AWS region is set: set AWS_REGION (for example us-east-1).")
    DependencyMissing = (
        "DependencyMissing",
        (
            "boto3 is not installed: requirements-api.txt must list boto3>=1.34.0 and botocore>=1.34.0; run "
            "pip install -r requirements-api.txt."
        ),
    )
    InvalidSecretJSON = (
        "InvalidSecretJSON",
        (
            "The secret must be one JSON object stored as SecretString (plaintext, type 'other'): check it "
            "with aws secretsmanager get-secret-value ... --query SecretString --output text | python -m "
            "json.tool."
        ),
    )
    InvalidSecretValue = (
        "InvalidSecretValue",
        (
            "A value in the secret has the wrong type or shape: values are strings, numbers or booleans; "
            "GOOGLE_APPLICATION_CREDENTIALS_JSON is a service-account key object; MILVUS_PORT is 1-65535."
        ),
    )
    ForbiddenKey = (
        "ForbiddenKey",
        (
            "The secret holds a key that would change the process itself (PATH, HOME, APP_ENV, SECRET_NAME, "
            "GOOGLE_APPLICATION_CREDENTIALS or a PYTHON*, LD_*, AWS_*, SECRETS_* name): remove it."
        ),
    )
    MissingRequiredKeys = (
        "MissingRequiredKeys",
        (
            "Add the missing keys to the secret; staging and production need OPENAI_API_KEY, "
            "PINECONE_API_KEY, GCP_PROJECT_ID, GOOGLE_APPLICATION_CREDENTIALS_JSON, APP_SECRET_KEY, "
            "MILVUS_HOST and MILVUS_PORT."
        ),
    )
    PlaceholderValue = (
        "PlaceholderValue",
        (
            "The secret still holds an example value from the operations guide or a placeholder (changeme, "
            "..., a word in angle brackets): put the real value in."
        ),
    )
    InvalidConfiguration = (
        "InvalidConfiguration",
        (
            "A setting of the service itself is invalid: fix the named environment variable (or AWS_PROFILE, "
            "if it names a profile that does not exist)."
        ),
    )
    AWSClientError = (
        "AWSClientError",
        (
            "botocore failed before or while calling Secrets Manager: check AWS_REGION, the "
            "AWS_ENDPOINT_URL_* settings and the CA bundle; run the CLI with --debug for details."
        ),
    )
    InternalError = (
        "InternalError",
        (
            "An unexpected error in the secrets loader: the service keeps retrying; the log has the "
            "traceback (values masked). Report it with the log line."
        ),
    )
    RotationInProgress = (
        "RotationInProgress",
        (
            "Another version holds AWSPENDING, so a rotation is under way (the rotation Lambda or another "
            "operator): wait for it, and see it with python -m src.cli describe. If that rotation failed, "
            "take the label off: aws secretsmanager update-secret-version-stage --secret-id <name> "
            "--version-stage AWSPENDING --remove-from-version-id <id>."
        ),
    )
    CurrentVersionMoved = (
        "CurrentVersionMoved",
        (
            "AWSCURRENT moved to another version while this command ran (another operator or the rotation "
            "Lambda): nothing was promoted; run the command again on the new version."
        ),
    )
    ExampleCredentials = (
        "ExampleCredentials",
        (
            "The secret holds the example values of infra/iam/secret-structure-example.json for the named "
            "secret-bearing keys: put the real values in (python -m src.cli push refuses example values "
            "without --allow-example). The service serves meanwhile, and reports degraded until then."
        ),
    )
    PlaceholderLeft = (
        "PlaceholderLeft",
        ("A placeholder is left after rendering: pass the missing option (see render --help)."),
    )
    RotationNotEnabled = (
        "RotationNotEnabled",
        (
            "Rotation is not enabled for the secret: enable it with the stack's RotationSchedule "
            "(RotationCodeBucket) or aws secretsmanager rotate-secret."
        ),
    )
    UnknownVersion = (
        "UnknownVersion",
        ("The rotation event names a version the secret does not have: check the event's ClientRequestToken."),
    )
    VersionNotPending = (
        "VersionNotPending",
        (
            "The rotation event's version is not AWSPENDING: another rotation may have replaced it; Secrets "
            "Manager retries with the right version."
        ),
    )
    StaleRotation = (
        "StaleRotation",
        (
            "The pending version differs from AWSCURRENT in a key other than APP_SECRET_KEY: an operator "
            "changed the secret during the rotation. Cancel it (aws secretsmanager cancel-rotate-secret), "
            "remove AWSPENDING, and rotate again."
        ),
    )
    ServiceAccountFile = (
        "ServiceAccountFile",
        (
            "The service-account file could not be written: none of /run/short-cut (the task's tmpfs), "
            "/dev/shm, TMPDIR, /tmp, /var/tmp is a writable directory. Give the task the tmpfs at "
            "/run/short-cut or a writable volume at /tmp (the image declares VOLUME /tmp), or point "
            "SECRETS_FILE_DIR at a writable directory."
        ),
    )
    InvalidArgument = ("InvalidArgument", "A command-line argument is invalid: see the command's --help.")
    ImageTagRequired = (
        "ImageTagRequired",
        (
            "Give a release tag or a digest, e.g. "
            "123456789012.dkr.ecr.us-east-1.amazonaws.com/short-cut-api:1.0.0 or ...short-cut-api@sha256: and "
            "the digest's 64 hex digits; enable tag immutability on the ECR repository."
        ),
    )
    InvalidImageReference = (
        "InvalidImageReference",
        (
            "The image is not a reference a registry accepts: registry/repository:tag or "
            "registry/repository@sha256: and the digest's 64 hex digits, lowercase repository path, no quotes, "
            "commas or spaces."
        ),
    )
    ConfirmationRequired = (
        "ConfirmationRequired",
        (
            "A write to production (push, rotate, rollback) is confirmed on a terminal by answering yes; "
            "without a terminal (scripts, CI) pass --yes. Nothing was written."
        ),
    )
    RollbackWouldUndo = (
        "RollbackWouldUndo",
        (
            "AWSPREVIOUS is the version an earlier rollback moved away from, so another rollback would undo "
            "it: pass --to-version with the version you want (see describe). Nothing was changed."
        ),
    )
    FileNotFound = ("FileNotFound", "Pass the path of the JSON file, or - for stdin.")
    FileTrackedByGit = (
        "FileTrackedByGit",
        (
            "A file with real keys must never be committed: git rm --cached it, add it to .gitignore, and "
            "rotate the keys."
        ),
    )
    UnknownKeys = (
        "UnknownKeys",
        (
            "Remove them, or pass --allow-extra if they are meant to be there; the service applies them only "
            "when the task definition lists them in SECRETS_EXTRA_KEYS."
        ),
    )
    ValueRequired = (
        "ValueRequired",
        ("Re-issue the key at its provider, then: python -m src.cli rotate --key <KEY> --value-stdin."),
    )
    NoPreviousVersion = ("NoPreviousVersion", "Nothing to roll back to; use describe to see the versions.")
    AssumeRoleDenied = (
        "AssumeRoleDenied",
        (
            "Your identity may not assume the task role: its trust policy allows only "
            "ecs-tasks.amazonaws.com. Add a temporary trust statement for your principal (and remove it "
            "after), or run verify inside a task with ECS Exec."
        ),
    )
    QueryFailed = ("QueryFailed", "The Logs Insights query failed: run fleet again; if it persists, narrow --since.")
    QueryTimeout = (
        "QueryTimeout",
        ("The Logs Insights query did not finish in time: narrow --since or raise --timeout."),
    )
    InvalidRotationStep = (
        "InvalidRotationStep",
        (
            "The rotation event's Step must be createSecret, setSecret, testSecret or finishSecret: check "
            "what invoked the Lambda."
        ),
    )
    EventPathBlind = (
        "EventPathBlind",
        (
            "The event queue is full of messages this task has already seen (SQS returns at most 10 per "
            "receive and nobody deletes them), so a new event may be hidden until they expire (60 s): the "
            "service refreshes every SECRETS_EVENTS_FALLBACK_INTERVAL seconds meanwhile. Find who sends to "
            "the queue besides the stack's rule (the queue policy denies everyone else), or whether many "
            "labels moved within a minute."
        ),
    )
    MaskBudgetExceeded = (
        "MaskBudgetExceeded",
        (
            "The secret's credentials have more log-mask forms than the mask can hold, so not every form "
            "of them could be hidden in the logs: the version was refused whole and the last good one "
            "keeps serving. Shorten the named keys' values (an API key or APP_SECRET_KEY of a few hundred "
            "ASCII characters at most) and push the secret again."
        ),
    )
    ServingFromReplica = (
        "ServingFromReplica",
        (
            "The secret's own Region (AWS_REGION) failed with a 5xx, a timeout, an unreachable endpoint or "
            "throttling that outlasted the retries, so the values in use were read from its replica in "
            "SECRETS_FAILOVER_REGION (the same version ids). Every refresh tries the primary first and returns "
            "to it on its own; check the AWS Health Dashboard for Secrets Manager in the primary Region."
        ),
    )


HINTS: Mapping[str, str] = MappingProxyType({code.value: code.hint for code in ErrorCode})
DEFAULT_HINT = "Unexpected error from AWS: see the code and the AWS documentation for the call that failed."


class SecretsError(Exception):
    """A failure with a stable code, a message without values, and an operator hint."""

    def __init__(
        self, code: ErrorCode, message: str, *, hint: str | None = None, secret_name: str | None = None
    ) -> None:
        super().__init__(message)
        self.code: str = str(code)
        self.message = message
        self.hint = hint if hint is not None else HINTS.get(self.code, DEFAULT_HINT)
        self.secret_name = secret_name
        # The HTTP status of the AWS answer, when there was one (src.aws.errors sets it): the
        # failover policy (src.aws.failover) tells a 5xx from the caller's own error by it.
        self.http_status: int | None = None

    @classmethod
    def from_aws(cls, code: str, message: str, *, secret_name: str | None = None) -> SecretsError:
        """An AWS error code, kept as AWS spelled it; its hint if this project knows the code."""
        known = ErrorCode._value2member_map_.get(code)
        if isinstance(known, ErrorCode):
            return cls(known, message, secret_name=secret_name)
        error = cls(ErrorCode.AWSClientError, message, hint=DEFAULT_HINT, secret_name=secret_name)
        error.code = code
        return error

    def with_hint(self, hint: str) -> SecretsError:
        """The same error with a hint fit for another caller (the CLI's fleet, for example)."""
        error = SecretsError(ErrorCode.InternalError, self.message, hint=hint, secret_name=self.secret_name)
        error.code = self.code
        return error

    def __str__(self) -> str:
        return f"{self.code}: {self.message}"

    def __repr__(self) -> str:
        return f"SecretsError(code={self.code!r}, message={self.message!r})"

    def to_dict(self) -> dict[str, Any]:
        return {"code": self.code, "message": self.message, "hint": self.hint}


# The stand-ins a generic hint holds, and the context that fills each (`fill_hint`). The service
# fills them from what it loads (the secret, its Region), the CLI from its target; a stand-in with
# no context left is replaced by words, so no rendered hint holds an unfilled `<...>`.
HINT_SLOTS: Mapping[str, tuple[str, str]] = MappingProxyType(
    {
        "<SECRET_NAME>": ("secret_name", "the secret's name"),
        "<name>": ("secret_name", "the secret's name"),
        "<region>": ("region", "its Region"),
        "<id>": ("version_id", "the version's id"),
        "<KEY>": ("key", "the key"),
    }
)
UNFILLED = re.compile(r"<[^<>\s]+(?: [^<>\s]+)*>")


def fill_hint(
    hint: str,
    *,
    secret_name: str | None = None,
    region: str | None = None,
    version_id: str | None = None,
    key: str | None = None,
) -> str:
    """`hint` with every stand-in of HINT_SLOTS replaced: by the context when known, else by words."""
    context = {"secret_name": secret_name, "region": region, "version_id": version_id, "key": key}
    for slot, (name, words) in HINT_SLOTS.items():
        if slot in hint:
            hint = hint.replace(slot, context[name] or words)
    return hint


def filled(error: SecretsError, *, region: str | None = None, secret_names: tuple[str, ...] = ()) -> SecretsError:
    """The error with its hint's stand-ins filled: its own secret_name, else the one secret of
    `secret_names`, and the Region; the error itself when nothing changes."""
    secret_name = error.secret_name or (secret_names[0] if len(secret_names) == 1 else None)
    hint = fill_hint(error.hint, secret_name=secret_name, region=region)
    if hint == error.hint:
        return error
    found = error.with_hint(hint)
    found.secret_name = secret_name
    return found
