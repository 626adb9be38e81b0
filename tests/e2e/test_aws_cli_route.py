"""The guide's console/CLI route, replayed with the real AWS CLI against moto_server."""

from __future__ import annotations

import json
import subprocess
import uuid
from pathlib import Path
from typing import Any

from tests.infra.conftest import infra_bin
from tests.support.canary import canary_payload, leaked
from tests.support.processes import BIN, DUMMY_CREDENTIALS, ROOT, clean_environment

ACCOUNT = "123456789012"  # moto's account


def aws(moto_url: str, *args: str) -> Any:
    env = clean_environment(AWS_ENDPOINT_URL=moto_url, AWS_DEFAULT_REGION="us-east-1", **DUMMY_CREDENTIALS)
    result = subprocess.run(
        [str(infra_bin("aws")), *args, "--output", "json"],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert result.returncode == 0, f"aws {' '.join(args[:2])}: {result.stderr}"
    return json.loads(result.stdout) if result.stdout.strip() else None


def render(env: str, out: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [
            str(BIN / "python"), "-m", "src.cli", "render", "--account-id", ACCOUNT, "--region", "us-east-1",
            "--env", env, "--image", f"{ACCOUNT}.dkr.ecr.us-east-1.amazonaws.com/short-cut-api:1.0.0",
            "--out", str(out),
        ],
        cwd=ROOT, capture_output=True, text=True, timeout=60, check=False,
    )  # fmt: skip


def test_the_guides_cli_route(moto_url: str, tmp_path: Path) -> None:
    rendered_root = tmp_path / "rendered"
    result = render("prod", rendered_root)
    assert result.returncode == 0, result.stderr
    rendered = rendered_root / "prod"

    values = tmp_path / "secrets-values.json"
    values.write_text(json.dumps(canary_payload()))
    name = "short-cut/prod/app"
    created = aws(
        moto_url, "secretsmanager", "create-secret", "--name", name,
        "--description", "Short-Cut production app secret – API keys, GCP credentials",
        "--secret-string", f"file://{values}", "--region", "us-east-1",
        "--tags", '[{"Key":"Project","Value":"short-cut"},{"Key":"Environment","Value":"prod"},'
        '{"Key":"ManagedBy","Value":"devops"}]',
    )  # fmt: skip
    assert leaked(json.dumps(created)) == []
    described = aws(moto_url, "secretsmanager", "describe-secret", "--secret-id", name)
    assert {t["Key"]: t["Value"] for t in described["Tags"]}["Environment"] == "prod"

    trust = rendered / "iam/ecs-task-trust-policy.json"
    read = rendered / "iam/secrets-read-policy.json"
    role = aws(
        moto_url, "iam", "create-role", "--role-name", "shortcut-ecs-task-role",
        "--assume-role-policy-document", f"file://{trust}",
    )  # fmt: skip
    assert role["Role"]["RoleName"] == "shortcut-ecs-task-role"
    aws(
        moto_url, "iam", "put-role-policy", "--role-name", "shortcut-ecs-task-role",
        "--policy-name", "ShortCutSecretsReadPolicy", "--policy-document", f"file://{read}",
    )  # fmt: skip
    policy = aws(
        moto_url, "iam", "get-role-policy", "--role-name", "shortcut-ecs-task-role",
        "--policy-name", "ShortCutSecretsReadPolicy",
    )  # fmt: skip
    assert policy["PolicyDocument"] == json.loads(read.read_text())
    aws(moto_url, "iam", "get-role", "--role-name", "shortcut-ecs-task-role")

    task = aws(
        moto_url, "ecs", "register-task-definition", "--cli-input-json", f"file://{rendered}/ecs/task-definition.json"
    )
    definition = task["taskDefinition"]
    assert definition["family"] == "short-cut-api"
    assert definition["taskRoleArn"] == f"arn:aws:iam::{ACCOUNT}:role/shortcut-ecs-task-role"
    assert definition["containerDefinitions"][0]["readonlyRootFilesystem"] is True


def test_staging_and_production_side_by_side_in_one_account(moto_url: str, tmp_path: Path) -> None:
    """Both environments through the console route in one account: neither overwrites the other.

    IAM role names and inline policy names (per role), task definition families and log group
    names are unique in an account (IAM: "Role names must be unique within the account",
    https://docs.aws.amazon.com/IAM/latest/APIReference/API_CreateRole.html; a second
    RegisterTaskDefinition of a family adds a revision to it,
    https://docs.aws.amazon.com/AmazonECS/latest/APIReference/API_RegisterTaskDefinition.html).
    """
    out = tmp_path / "rendered"
    names: dict[str, dict[str, str]] = {}
    for env in ("prod", "staging"):
        result = render(env, out)
        assert result.returncode == 0, result.stderr
        names[env] = {
            "role": f"shortcut-ecs-task-role{'' if env == 'prod' else '-staging'}",
            # An inline policy is the role's own: the roles differ, the policy name need not.
            "policy": "ShortCutSecretsReadPolicy",
        }
        assert f"task role {names[env]['role']}, read policy {names[env]['policy']}" in result.stdout
    suffix = uuid.uuid4().hex[:6]  # moto keeps IAM state for the whole session
    families = {}
    for env in ("prod", "staging"):
        role = f"{names[env]['role']}-{suffix}"
        aws(
            moto_url, "iam", "create-role", "--role-name", role,
            "--assume-role-policy-document", f"file://{out / env}/iam/ecs-task-trust-policy.json",
        )  # fmt: skip
        aws(
            moto_url, "iam", "put-role-policy", "--role-name", role, "--policy-name", names[env]["policy"],
            "--policy-document", f"file://{out / env}/iam/secrets-read-policy.json",
        )  # fmt: skip
        task = aws(
            moto_url, "ecs", "register-task-definition",
            "--cli-input-json", f"file://{out / env}/ecs/task-definition.json",
        )  # fmt: skip
        families[env] = task["taskDefinition"]["family"]
    assert families == {"prod": "short-cut-api", "staging": "short-cut-api-staging"}
    for env in ("prod", "staging"):
        policy = aws(
            moto_url, "iam", "get-role-policy", "--role-name", f"{names[env]['role']}-{suffix}",
            "--policy-name", names[env]["policy"],
        )  # fmt: skip
        # Production's read policy still reads production's secret only, after staging's route ran.
        resource = policy["PolicyDocument"]["Statement"][0]["Resource"]
        assert resource.endswith(f":secret:short-cut/{env}/app-??????")
