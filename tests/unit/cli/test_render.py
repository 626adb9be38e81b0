"""render builds JSON: it fills every placeholder inside values or refuses, takes only image
references a registry accepts, and names each environment's resources apart."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import pytest

from src.cli import main
from src.cli.environments import CLOUD_ENVS, names_for
from src.cli.render import IMAGE_PATTERN, IMAGE_SLOT, PLACEHOLDER, TEMPLATES, render_all, values_for
from src.errors import SecretsError
from tests.support import cfn
from tests.support.processes import ROOT

DIGEST = "sha256:" + "a" * 64


def values(**overrides: str) -> dict[str, str]:
    args = {
        "account_id": "111122223333",
        "region": "eu-west-1",
        "env": "staging",
        "image": "registry.example.com/short-cut-api:1.2.3",
    }
    args.update(overrides)
    return values_for(**args)


def test_templates_hold_placeholders() -> None:
    for name in TEMPLATES:
        assert PLACEHOLDER.search((ROOT / name).read_text())


def test_render_fills_everything() -> None:
    docs = render_all(values())
    text = json.dumps(docs)
    assert not PLACEHOLDER.search(text)
    task = docs["infra/ecs/task-definition.json"]
    env = {e["name"]: e["value"] for e in task["containerDefinitions"][0]["environment"]}
    assert env == {"APP_ENV": "staging", "AWS_REGION": "eu-west-1", "SECRET_NAME": "short-cut/staging/app"}
    assert task["containerDefinitions"][0]["image"] == "registry.example.com/short-cut-api:1.2.3"
    assert "111122223333" in task["taskRoleArn"]


def test_the_task_definition_holds_an_image_slot_not_latest() -> None:
    text = (ROOT / "infra/ecs/task-definition.json").read_text()
    assert IMAGE_SLOT in text
    assert ":latest" not in text


@pytest.mark.parametrize(
    "image",
    [
        "registry.example.com/short-cut-api:1.2.3",
        f"registry.example.com/api@{DIGEST}",
        f"localhost:5000/api:1.2.3@{DIGEST}",
        "123456789012.dkr.ecr.us-east-1.amazonaws.com/team/short-cut-api:git-0a1b2c3",
        "localhost:5000/short-cut-api:v1",
    ],
)
def test_an_image_with_a_tag_or_digest_is_used_as_given(image: str) -> None:
    task = render_all(values(image=image))["infra/ecs/task-definition.json"]
    assert task["containerDefinitions"][0]["image"] == image


@pytest.mark.parametrize(
    "image",
    [
        "registry.example.com/short-cut-api",
        "registry.example.com/short-cut-api:latest",
        f"registry.example.com/short-cut-api:latest@{DIGEST}",
        "localhost:5000/short-cut-api",
        "123456789012.dkr.ecr.us-east-1.amazonaws.com/short-cut-api:latest",
    ],
)
def test_an_image_without_a_release_tag_is_refused(image: str) -> None:
    with pytest.raises(SecretsError) as caught:
        values(image=image)
    assert caught.value.code == "ImageTagRequired"
    assert "digest" in caught.value.hint and "immutab" in caught.value.hint


ACCEPTED = [
    "registry.example.com/short-cut-api:1.2.3",
    f"registry.example.com/api@{DIGEST}",
    f"r.io/api:1.2.3@{DIGEST}",
    "localhost/short-cut-api:v1",
    "registry:5000/team/short-cut-api:v1",
    "123456789012.dkr.ecr.us-east-1.amazonaws.com/team/short-cut-api:git-0a1b2c3",
    "localhost:5000/short-cut-api:v1",
    "registry.example.com/a__b/c-d--e/f.g_h:V1.0_rc-2",
]


@pytest.mark.parametrize("image", ACCEPTED)
def test_the_stack_accepts_every_image_render_accepts(image: str) -> None:
    # An image that works on one route works on the other. The stack's AllowedPattern is a
    # CloudFormation parameter value (no text substitution, so no injection there); a tighter
    # pattern in the stack is for its owners to adopt (render's IMAGE_PATTERN is Java-regex safe).
    template = cfn.load(ROOT / "infra/cloudformation/short-cut.yaml")
    assert re.fullmatch(template["Parameters"]["ImageUri"]["AllowedPattern"], image)
    assert re.fullmatch(IMAGE_PATTERN, image)


# Issue 29, item 4: a first component with no '.' or ':' that is not localhost is a Docker Hub
# namespace (reference's splitDockerDomain): the task would pull acme/short-cut-api from Docker Hub.
NO_REGISTRY = [
    "acme/short-cut-api:1.0.0",
    f"acme/short-cut-api@{DIGEST}",
    "acme/team/short-cut-api:1.0.0",
    "short-cut-api:1.0.0",
    "localhostx/short-cut-api:1.0.0",
    "acme/short-cut-api:latest",
]


@pytest.mark.parametrize("image", NO_REGISTRY)
def test_an_image_with_no_registry_host_is_refused_on_both_routes(image: str) -> None:
    with pytest.raises(SecretsError) as caught:
        values(image=image)
    assert caught.value.code == "InvalidImageReference"
    assert "registry host" in caught.value.message and "ECR is expected" in caught.value.hint
    template = cfn.load(ROOT / "infra/cloudformation/short-cut.yaml")
    assert not re.fullmatch(template["Parameters"]["ImageUri"]["AllowedPattern"], image)
    assert not re.fullmatch(IMAGE_PATTERN, image)


@pytest.mark.parametrize("account_id", ["١٢٣٤٥٦٧٨٩٠١٢", "12345678901٢", "１２３４５６７８９０１２", "12345678901"])
def test_an_account_id_is_ascii_digits_only(account_id: str) -> None:
    # \d matches Arabic-Indic and fullwidth digits: they would land in the policies' ARNs.
    with pytest.raises(SecretsError) as caught:
        values(account_id=account_id)
    assert caught.value.code == "InvalidArgument" and "--account-id" in caught.value.message


# Issue 20: text substitution let an image string close the JSON string and add fields.
INJECTIONS = [
    'r.io/x","privileged":true,"entryPoint":["sh"],"y":"z/api:1.0',
    'registry.example.com/api:1.0","privileged":true,"x":"1',
    'registry.example.com/api:1.0\\","user":"0',
    'r.io/api:1.0"}],"taskRoleArn":"arn:aws:iam::999999999999:role/admin","x":[{"a":"b',
    "r.io/api:1.0\nprivileged",
    "r.io/api:1.0,privileged",
    "r.io/Api:1.0",  # uppercase is not allowed in a repository path
    "r.io/api:1.0\u0022",
    "r.io/api:1.0'",
    "r.io/api:ok<ENV>",
]


@pytest.mark.parametrize("image", INJECTIONS)
def test_an_image_that_is_not_a_registry_reference_is_refused(image: str) -> None:
    with pytest.raises(SecretsError) as caught:
        values(image=image)
    assert caught.value.code == "InvalidImageReference"
    assert "registry" in caught.value.hint


@pytest.mark.parametrize("image", INJECTIONS[:4])
def test_an_injecting_image_writes_nothing(image: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    argv = ["render", "--region", "us-east-1", "--account-id", "111122223333", "--image", image]
    argv += ["--out", str(tmp_path / "out")]
    assert main(argv) == 3
    assert capsys.readouterr().err.startswith("error: InvalidImageReference: --image holds ")
    assert not (tmp_path / "out").exists()


def test_values_cannot_change_the_documents_structure(tmp_path: Path) -> None:
    # Even a value render would never accept cannot add a field: values fill strings of the
    # parsed document, so a quote stays inside its string.
    templates = tmp_path / "infra"
    for name in TEMPLATES:
        (tmp_path / name).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / name).write_text((ROOT / name).read_text())
    assert templates.is_dir()
    trusted = values()
    trusted["<REGION>"] = 'eu-west-1","privileged":true,"x":"'
    task = render_all(trusted, tmp_path)["infra/ecs/task-definition.json"]
    container = task["containerDefinitions"][0]
    assert "privileged" not in container and "privileged" not in task
    env = {e["name"]: e["value"] for e in container["environment"]}
    assert env["AWS_REGION"] == 'eu-west-1","privileged":true,"x":"'


def test_every_environment_names_its_resources_apart(tmp_path: Path) -> None:
    # Issue 21: render --env staging wrote production's family, task role, policy and log group
    # into the same folder as production.
    found: dict[str, set[str]] = {}
    for env in CLOUD_ENVS:
        argv = [
            "render",
            "--region",
            "us-east-1",
            "--env",
            env,
            "--account-id",
            "111122223333",
            "--image",
            "r.io/api:1.0",
        ]
        assert main([*argv, "--out", str(tmp_path)]) == 0
        task = json.loads((tmp_path / env / "ecs/task-definition.json").read_text())
        read = json.loads((tmp_path / env / "iam/secrets-read-policy.json").read_text())
        container = task["containerDefinitions"][0]
        env_vars = {e["name"]: e["value"] for e in container["environment"]}
        names = names_for(env)
        assert task["family"] == names.family
        assert task["taskRoleArn"].endswith(f":role/{names.task_role}")
        assert container["logConfiguration"]["options"]["awslogs-group"] == names.log_group
        assert env_vars["SECRET_NAME"] == names.secret
        found[env] = {
            task["family"],
            task["taskRoleArn"],
            task["executionRoleArn"],
            container["logConfiguration"]["options"]["awslogs-group"],
            env_vars["SECRET_NAME"],
            read["Statement"][0]["Resource"],
            *names.account_names().values(),
        }
    assert found["prod"] & found["staging"] == set()
    assert {p.name for p in tmp_path.iterdir()} == {"prod", "staging"}


def test_env_takes_the_app_env_name(tmp_path: Path) -> None:
    argv = ["render", "--region", "us-east-1", "--env", "production", "--account-id", "111122223333"]
    argv += ["--image", "r.io/api:1.0"]
    assert main([*argv, "--out", str(tmp_path)]) == 0
    assert json.loads((tmp_path / "prod/ecs/task-definition.json").read_text())["family"] == "short-cut-api"


@pytest.mark.parametrize(
    "bad",
    [
        {"account_id": "12345"},
        {"region": "US-EAST-1"},
        {"env": "dev"},
    ],
)
def test_bad_values_are_refused(bad: dict[str, str]) -> None:
    with pytest.raises(SecretsError) as caught:
        values(**bad)
    assert caught.value.code == "InvalidArgument"


@pytest.mark.parametrize(
    "image",
    ["", "a b", "<ECR_URI>", "short-cut-api:1.0.0", "repo/api:bad tag", "repo/api@sha256:short", "/api:1"],
)
def test_bad_images_are_refused(image: str) -> None:
    with pytest.raises(SecretsError) as caught:
        values(image=image)
    assert caught.value.code in ("InvalidImageReference", "ImageTagRequired")


def test_a_leftover_placeholder_is_refused(tmp_path: Path) -> None:
    for name in TEMPLATES:
        (tmp_path / name).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / name).write_text((ROOT / name).read_text())
    (tmp_path / TEMPLATES[0]).write_text('{"a": "<NEW_THING>"}')
    with pytest.raises(SecretsError) as caught:
        render_all(values(), tmp_path)
    assert caught.value.code == "PlaceholderLeft"
    assert "<NEW_THING>" in caught.value.message


# --- Issue 28 item 9: the Region, by the CLI's one rule (src.cli.region), never a silent us-east-1 ---
RENDER = ["render", "--account-id", "111122223333", "--image", "r.io/api:1.0"]


def _task(out: Path) -> dict[str, Any]:
    return dict(json.loads((out / "prod/ecs/task-definition.json").read_text()))


def test_render_takes_the_region_from_aws_region(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("AWS_REGION", "eu-west-2")
    monkeypatch.setenv("AWS_DEFAULT_REGION", "ap-south-1")
    assert main([*RENDER, "--out", str(tmp_path)]) == 0
    task = _task(tmp_path)
    assert task["containerDefinitions"][0]["logConfiguration"]["options"]["awslogs-region"] == "eu-west-2"
    assert ":eu-west-2:" in json.dumps(json.loads((tmp_path / "prod/iam/secrets-read-policy.json").read_text()))
    assert "region: eu-west-2 (from AWS_REGION)" in capsys.readouterr().err


def test_render_then_aws_default_region_then_the_flag(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("AWS_DEFAULT_REGION", "ap-south-1")
    assert main([*RENDER, "--out", str(tmp_path / "a")]) == 0
    assert _task(tmp_path / "a")["containerDefinitions"][0]["logConfiguration"]["options"]["awslogs-region"] == (
        "ap-south-1"
    )
    assert "region: ap-south-1 (from AWS_DEFAULT_REGION)" in capsys.readouterr().err
    assert main([*RENDER, "--region", "eu-central-1", "--json", "--out", str(tmp_path / "b")]) == 0
    document = json.loads(capsys.readouterr().out)
    assert (document["region"], document["region_source"]) == ("eu-central-1", "--region")


def test_render_without_any_region_refuses_and_writes_nothing(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main([*RENDER, "--out", str(tmp_path / "out")]) == 3
    assert capsys.readouterr().err.startswith("error: MissingRegion: ")
    assert not (tmp_path / "out").exists()


def test_render_help_no_longer_promises_us_east_1(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit):
        main(["render", "--help"])
    text = " ".join(capsys.readouterr().out.split())
    assert "us-east-1 here" not in text and "defaults to us-east-1" not in text
    assert "AWS_REGION" in text
