"""`render`: fill the console-route files (IAM policies, task definition) with a real
account id, region, environment and image, refusing to leave a placeholder behind.

The image must name a release: a tag other than `latest`, or an `@sha256:` digest. The
stack's ImageUri parameter enforces the same pattern (IMAGE_PATTERN), so both routes agree.
"""

from __future__ import annotations

import argparse
import json
import re
from pathlib import Path
from typing import Any

from src.app_env import DEFAULT_REGION, REGION_PATTERN, SHORT_NAMES
from src.cli.output import Output
from src.errors import ErrorCode, SecretsError

ROOT = Path(__file__).resolve().parents[2]
TEMPLATES = (
    "infra/iam/ecs-task-trust-policy.json",
    "infra/iam/secrets-read-policy.json",
    "infra/ecs/task-definition.json",
)
PLACEHOLDER = re.compile(r"<[A-Z_]+>")
CLOUD_ENVS = ("prod", "staging")
IMAGE_SLOT = "<ECR_URI>:<IMAGE_TAG>"
# registry/repository, then a tag (not latest, optionally pinned by a digest) or a digest alone.
IMAGE_PATTERN = (
    r"^[^\s@]+/[^\s:@/]+"
    r"(:(?!latest(@|$))[A-Za-z0-9_][A-Za-z0-9_.-]{0,127}(@sha256:[0-9a-f]{64})?|@sha256:[0-9a-f]{64})$"
)
IMAGE_HINT = (
    "Give a release tag or a digest, e.g. 123456789012.dkr.ecr.us-east-1.amazonaws.com/short-cut-api:1.0.0 "
    "or ...short-cut-api@sha256:<64 hex>; enable tag immutability on the ECR repository."
)


def _invalid(what: str, hint: str) -> SecretsError:
    return SecretsError(ErrorCode.InvalidArgument, what, hint=hint)


def values_for(*, account_id: str, region: str, env: str, image: str) -> dict[str, str]:
    if not re.fullmatch(r"\d{12}", account_id):
        raise _invalid("--account-id must be 12 digits", "Use aws sts get-caller-identity --query Account.")
    if not REGION_PATTERN.match(region):
        raise _invalid(f"--region {region!r} is not an AWS region name", "For example us-east-1.")
    if env not in CLOUD_ENVS:
        raise _invalid(f"--env must be one of {', '.join(CLOUD_ENVS)}", "Staging and production run on ECS.")
    check_image(image)
    return {
        "<ACCOUNT_ID>": account_id,
        "<REGION>": region,
        "<ENV>": env,
        "<APP_ENV>": SHORT_NAMES[env].value,
        IMAGE_SLOT: image,
    }


def check_image(image: str) -> None:
    """A release the task definition can be rolled back to: `latest` moves under a running service."""
    if not image or any(c.isspace() for c in image) or "<" in image or "/" not in image:
        raise _invalid("--image must be an image URI (registry/repository:tag)", IMAGE_HINT)
    if re.fullmatch(IMAGE_PATTERN, image):
        return
    name = image.rsplit("/", 1)[-1]
    tag = name.split("@", 1)[0].partition(":")[2]
    if tag == "latest":
        # ECS resolves the tag when a task starts: after the next push, new tasks and the circuit
        # breaker's rollback run whatever latest is then, not the code this definition was made for.
        raise SecretsError(ErrorCode.ImageTagRequired, f"--image {image!r} uses the tag latest", hint=IMAGE_HINT)
    if not tag and "@" not in name:
        raise SecretsError(ErrorCode.ImageTagRequired, f"--image {image!r} has no tag or digest", hint=IMAGE_HINT)
    raise _invalid(f"--image {image!r} is not a valid image reference", IMAGE_HINT)


def render_text(text: str, values: dict[str, str]) -> str:
    # Dict order: the image slot (two placeholders) goes before any single placeholder.
    for placeholder, value in values.items():
        text = text.replace(placeholder, value)
    left = sorted(set(PLACEHOLDER.findall(text)))
    if left:
        raise SecretsError(ErrorCode.PlaceholderLeft, f"placeholders left after rendering: {', '.join(left)}")
    return text


def render_all(values: dict[str, str], root: Path = ROOT) -> dict[str, Any]:
    """Each template, rendered and parsed; nothing is written."""
    return {name: json.loads(render_text((root / name).read_text(encoding="utf-8"), values)) for name in TEMPLATES}


def cmd_render(args: argparse.Namespace, _client: object, out: Output) -> int:
    region = args.region or DEFAULT_REGION
    values = values_for(account_id=args.account_id, region=region, env=args.env, image=args.image)
    rendered = render_all(values)
    out_dir = Path(args.out)
    written = []
    for name, document in rendered.items():
        target = out_dir / Path(name).relative_to("infra")
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_text(json.dumps(document, indent=2) + "\n", encoding="utf-8")
        written.append(str(target))
        out.line(f"wrote {target}")
    out.set(written=written)
    return 0


def add_parser(commands: argparse._SubParsersAction[argparse.ArgumentParser], common: argparse.ArgumentParser) -> None:
    parser = commands.add_parser(
        "render",
        parents=[common],
        help="fill the IAM policies and task definition for the console/CLI route",
        description="Writes the rendered files under --out (default build/infra); refuses to leave a placeholder. "
        "--region defaults to us-east-1 here.",
    )
    parser.add_argument("--account-id", required=True, help="the 12-digit AWS account id")
    parser.add_argument("--env", default="prod", choices=CLOUD_ENVS, help="environment (default prod)")
    parser.add_argument(
        "--image",
        required=True,
        help="image URI with a release tag or digest (not latest), "
        "e.g. <account>.dkr.ecr.<region>.amazonaws.com/short-cut-api:1.0.0",
    )
    parser.add_argument("--out", default="build/infra", help="output folder (default build/infra)")
    parser.set_defaults(handler=cmd_render)
