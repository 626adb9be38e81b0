"""`render`: fill the console-route files (IAM policies, task definition) for a real
account id, region, environment and image, refusing to leave a placeholder behind.

The documents are built as JSON, never as text: each template is parsed, placeholders are
filled inside string values only, and the environment's names (src.cli.environments:
family, task and execution role, log group) are set on the parsed task definition. So no
option can add a field or change the document's structure; json.dumps writes the result.
The image must also be a reference a registry accepts (the OCI distribution reference
grammar, IMAGE_PATTERN) that names a release: a tag other than `latest`, or an `@sha256:`
digest. Anything else is refused before a file is written.

Each environment renders into its own folder (`<out>/<env>/`), so staging and production
never overwrite each other's files, and none of their resource names are shared.

(A little over 250 lines: the image grammar, the account id and Region checks, the replica's
second ARN and the per-environment names are all one command's validation of its own inputs.)
"""

from __future__ import annotations

import argparse
import json
import os
import re
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

from src.app_env import REGION_PATTERN, SHORT_NAMES
from src.cli.environments import CLOUD_ENVS, add_env_option, names_for
from src.cli.output import Output
from src.cli.region import resolve_region
from src.errors import ErrorCode, SecretsError

__all__ = ["CLOUD_ENVS", "IMAGE_PATTERN", "IMAGE_SLOT", "PLACEHOLDER", "TEMPLATES", "render_all", "values_for"]

ROOT = Path(__file__).resolve().parents[2]
TRUST_POLICY = "infra/iam/ecs-task-trust-policy.json"
READ_POLICY = "infra/iam/secrets-read-policy.json"
TASK_DEFINITION = "infra/ecs/task-definition.json"
TEMPLATES = (TRUST_POLICY, READ_POLICY, TASK_DEFINITION)
PLACEHOLDER = re.compile(r"<[A-Z_]+>")
IMAGE_SLOT = "<ECR_URI>:<IMAGE_TAG>"
IMAGE_KEY = "<IMAGE>"  # the image in render's values; it is set on the container, never substituted
REPLICA_KEY = "<REPLICA_REGION>"  # the stack's ReplicaRegion: added to the documents, never substituted

# The OCI distribution reference grammar (github.com/distribution/reference, reference.go):
#   reference := domain "/" path [":" tag] ["@" digest]; domain := host [":" port]
#   path component := [a-z0-9]+ (separator [a-z0-9]+)*, separator := [_.] | "__" | "-"+
#   tag := [\w][\w.-]{0,127}; digest here: sha256 only, 64 lowercase hex.
# A registry host is required (ECR, or any registry by name), the tag may not be latest, and a
# tag or a digest must be there. ASCII classes, not \w: Python's \w matches any letter.
_DOMAIN_COMPONENT = r"(?:[A-Za-z0-9]|[A-Za-z0-9][A-Za-z0-9-]*[A-Za-z0-9])"
# The first component names a registry only with a `.` or a `:` in it, or as `localhost` (as
# Docker and the distribution library read it, reference's splitDockerDomain): `acme/api:1.0`
# is Docker Hub's `docker.io/acme/api`, which an ECS task must never pull by accident.
_HOST = (
    rf"(?:localhost(?::[0-9]+)?|{_DOMAIN_COMPONENT}(?:\.{_DOMAIN_COMPONENT})+(?::[0-9]+)?"
    rf"|{_DOMAIN_COMPONENT}:[0-9]+)"
)
_COMPONENT = r"[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*"
_TAG = r"(?!latest(?:@|$))[A-Za-z0-9_][A-Za-z0-9_.-]{0,127}"
_DIGEST = r"sha256:[0-9a-f]{64}"
IMAGE_PATTERN = rf"{_HOST}/{_COMPONENT}(?:/{_COMPONENT})*(?::{_TAG}(?:@{_DIGEST})?|@{_DIGEST})"
# The name (host and path) may be at most 255 characters (reference.go, NameTotalLengthMax).
NAME_MAX = 255
IMAGE_CHARACTERS = re.compile(r"[A-Za-z0-9._:/@-]")
IMAGE_HINT = (
    "ECR is expected: give a registry host, a repository and a release tag or a digest, e.g. "
    "123456789012.dkr.ecr.us-east-1.amazonaws.com/short-cut-api:1.0.0 or ...short-cut-api@sha256: and the "
    "digest's 64 hex digits; "
    "enable tag immutability on the ECR repository."
)


def _invalid(what: str, hint: str) -> SecretsError:
    return SecretsError(ErrorCode.InvalidArgument, what, hint=hint)


def values_for(*, account_id: str, region: str, env: str, image: str, replica: str | None = None) -> dict[str, str]:
    """The checked values render fills in; raises SecretsError on the first bad one."""
    if replica is not None and (not REGION_PATTERN.fullmatch(replica) or replica == region):
        raise _invalid(f"--replica-region {replica!r} is not another AWS region name", "For example us-west-2.")
    # [0-9], not \d: \d matches any script's digits ("١٢٣..."), which would land in policy ARNs.
    if not re.fullmatch(r"[0-9]{12}", account_id):
        raise _invalid("--account-id must be 12 digits", "Use aws sts get-caller-identity --query Account.")
    if not REGION_PATTERN.fullmatch(region):
        raise _invalid(f"--region {region!r} is not an AWS region name", "For example us-east-1.")
    if env not in CLOUD_ENVS:
        raise _invalid(f"--env must be one of {', '.join(CLOUD_ENVS)}", "Staging and production run on ECS.")
    check_image(image)
    return {
        "<ACCOUNT_ID>": account_id,
        "<REGION>": region,
        "<ENV>": env,
        "<APP_ENV>": SHORT_NAMES[env].value,
        IMAGE_KEY: image,
        **({REPLICA_KEY: replica} if replica else {}),
    }


def check_image(image: str) -> None:
    """A reference a registry accepts, naming a release the task definition can be rolled back to."""
    bad = next((c for c in image if not IMAGE_CHARACTERS.fullmatch(c)), None)
    if bad is not None:
        raise SecretsError(
            ErrorCode.InvalidImageReference,
            f"--image holds {bad!r} at character {image.index(bad) + 1}, which no image reference may contain",
            hint=IMAGE_HINT,
        )
    name = image.split("@", 1)[0]
    last = name.rsplit("/", 1)[-1]
    tag = last.partition(":")[2] if ":" in last else ""
    if len(image) > NAME_MAX + 1 + 128 + 1 + len(_DIGEST) or len(name.removesuffix(f":{tag}")) > NAME_MAX:
        raise SecretsError(ErrorCode.InvalidImageReference, "--image is too long for a registry", hint=IMAGE_HINT)
    if re.fullmatch(IMAGE_PATTERN, image):
        return
    first = image.split("/", 1)[0]
    if "/" not in image or not ("." in first or ":" in first or first == "localhost"):
        raise SecretsError(
            ErrorCode.InvalidImageReference,
            f"--image {image!r} names no registry host (a first part with a '.' or a ':', or localhost): "
            "it would be pulled from Docker Hub",
            hint=IMAGE_HINT,
        )
    if "/" in image and (tag == "latest" or (not tag and "@" not in image)):
        # ECS resolves the tag when a task starts: after the next push, new tasks and the circuit
        # breaker's rollback run whatever latest is then, not the code this definition was made for.
        what = "uses the tag latest" if tag == "latest" else "has no tag or digest"
        raise SecretsError(ErrorCode.ImageTagRequired, f"--image {image!r} {what}", hint=IMAGE_HINT)
    raise SecretsError(
        ErrorCode.InvalidImageReference,
        f"--image {image!r} is not an image reference (registry/repository:tag or @sha256:digest)",
        hint=IMAGE_HINT,
    )


def _fill(value: Any, fill: Callable[[str], str]) -> Any:
    """The document with `fill` applied to every string value (keys are left as they are)."""
    if isinstance(value, dict):
        return {key: _fill(item, fill) for key, item in value.items()}
    if isinstance(value, list):
        return [_fill(item, fill) for item in value]
    return fill(value) if isinstance(value, str) else value


def _strings(value: Any) -> list[str]:
    if isinstance(value, dict):
        return [*value, *(s for item in value.values() for s in _strings(item))]
    if isinstance(value, list):
        return [s for item in value for s in _strings(item)]
    return [value] if isinstance(value, str) else []


def _set_environment_names(task: dict[str, Any], values: Mapping[str, str]) -> None:
    """The environment's own names on the task definition, and the image on its container.

    The template holds production's names; another environment's are the same with `-<env>`
    appended (the rule of src.cli.environments and of the stack). They are derived from the
    template rather than written over it, so `audit` still sees a template that names the
    wrong role or log group.
    """
    suffix = names_for(values["<ENV>"]).suffix
    containers = task.get("containerDefinitions")
    if not isinstance(containers, list) or len(containers) != 1:
        raise SecretsError(ErrorCode.PlaceholderLeft, f"{TASK_DEFINITION} must define exactly one container")
    container = containers[0]
    if container.get("image") != IMAGE_SLOT:
        raise SecretsError(ErrorCode.PlaceholderLeft, f"{TASK_DEFINITION}: the container's image is not {IMAGE_SLOT}")
    container["image"] = values[IMAGE_KEY]
    options = container.get("logConfiguration", {}).get("options", {})
    for holder, key in (
        (task, "family"),
        (task, "taskRoleArn"),
        (task, "executionRoleArn"),
        (options, "awslogs-group"),
    ):
        if isinstance(holder.get(key), str):
            holder[key] += suffix


def _add_replica(documents: dict[str, Any], region: str, replica: str) -> None:
    """The stack's ReplicaRegion on the filled documents: the read policy names the secret's ARN and
    kms:ViaService in both Regions (each named, no wildcard Region), and the task fails over to it."""
    for statement in documents[READ_POLICY]["Statement"]:
        resource = statement["Resource"]
        statement["Resource"] = [resource, resource.replace(f":{region}:", f":{replica}:", 1)]
        via = statement.get("Condition", {}).get("StringEquals", {})
        if "kms:ViaService" in via:
            via["kms:ViaService"] = [via["kms:ViaService"], f"secretsmanager.{replica}.amazonaws.com"]
    (container,) = documents[TASK_DEFINITION]["containerDefinitions"]
    container["environment"].append({"name": "SECRETS_FAILOVER_REGION", "value": replica})


def render_all(values: Mapping[str, str], root: Path = ROOT) -> dict[str, Any]:
    """Each template, parsed and filled; nothing is written."""

    def fill(text: str) -> str:
        for placeholder, value in values.items():
            if placeholder not in (IMAGE_KEY, REPLICA_KEY):
                text = text.replace(placeholder, value)
        return text

    documents = {name: json.loads((root / name).read_text(encoding="utf-8")) for name in TEMPLATES}
    _set_environment_names(documents[TASK_DEFINITION], values)
    documents = {name: _fill(document, fill) for name, document in documents.items()}
    if values.get(REPLICA_KEY):
        _add_replica(documents, values["<REGION>"], values[REPLICA_KEY])
    left = sorted({p for document in documents.values() for s in _strings(document) for p in PLACEHOLDER.findall(s)})
    if left:
        raise SecretsError(ErrorCode.PlaceholderLeft, f"placeholders left after rendering: {', '.join(left)}")
    return documents


def cmd_render(args: argparse.Namespace, _client: object, out: Output) -> int:
    region = resolve_region(args.region, os.environ).name  # never a silent default: the ARNs name it
    replica = getattr(args, "replica_region", None)
    values = values_for(account_id=args.account_id, region=region, env=args.env, image=args.image, replica=replica)
    rendered = render_all(values)  # everything is checked before the first file is written
    out_dir = Path(args.out) / args.env
    written = []
    for name, document in rendered.items():
        target = out_dir / Path(name).relative_to("infra")
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_text(json.dumps(document, indent=2) + "\n", encoding="utf-8")
        written.append(str(target))
        out.line(f"wrote {target}")
    names = names_for(args.env)
    out.line(
        f"{args.env} names: task role {names.task_role}, read policy {names.read_policy}, "
        f"execution role {names.execution_role}, family {names.family}, log group {names.log_group}"
    )
    out.set(written=written, env=args.env, names=names.as_dict())
    return 0


def add_parser(commands: argparse._SubParsersAction[argparse.ArgumentParser], common: argparse.ArgumentParser) -> None:
    parser = commands.add_parser(
        "render",
        parents=[common],
        help="fill the IAM policies and task definition for the console/CLI route",
        description="Writes the rendered files under --out/<env>; refuses to leave a "
        "placeholder, and refuses an image that is not a registry reference with a release tag or digest. "
        "The Region (ARNs, awslogs-region) is --region, else AWS_REGION, else AWS_DEFAULT_REGION; none is an error.",
    )
    parser.add_argument("--account-id", required=True, help="the 12-digit AWS account id")
    add_env_option(parser, cloud_only=True)
    parser.add_argument(
        "--image",
        required=True,
        help="image reference with a release tag or digest (not latest), "
        "e.g. <account>.dkr.ecr.<region>.amazonaws.com/short-cut-api:1.0.0",
    )
    parser.add_argument(
        "--out", default="build/infra", help="output folder; files go to <out>/<env> (default: build/infra)"
    )
    parser.add_argument(
        "--replica-region",
        default=None,
        help="the stack's ReplicaRegion, if any: the read policy names the secret in both Regions and the "
        "task definition sets SECRETS_FAILOVER_REGION (default: none)",
    )
    parser.set_defaults(handler=cmd_render)
