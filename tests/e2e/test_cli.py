"""The operator CLI as a subprocess against moto_server: every command, every failure, no value printed."""

from __future__ import annotations

import json
import subprocess
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.e2e.conftest import moto_client
from tests.support.canary import CANARY_VALUES, canary_payload, canary_secret_string, leaked
from tests.support.fault_proxy import Fault, FaultProxy
from tests.support.processes import BIN, DUMMY_CREDENTIALS, ROOT, clean_environment, free_port

OUTPUTS: list[str] = []


@pytest.fixture(autouse=True, scope="module")
def _no_canary_in_any_output() -> Iterator[None]:
    yield
    assert leaked(*OUTPUTS) == []


def cli(
    *args: str, endpoint: str | None, stdin: str | None = None, creds: bool = True, cwd: Path = ROOT
) -> subprocess.CompletedProcess[str]:
    env = clean_environment(AWS_REGION="us-east-1", **(DUMMY_CREDENTIALS if creds else {}))
    if endpoint:
        env["AWS_ENDPOINT_URL_SECRETS_MANAGER"] = endpoint
    return run_cli(args, env, stdin=stdin, cwd=cwd)


def run_cli(
    args: tuple[str, ...], env: dict[str, str], *, stdin: str | None, cwd: Path = ROOT, timeout: float = 60
) -> subprocess.CompletedProcess[str]:
    """`python -m src.cli` with `env`; its output joins OUTPUTS (the leak hunt reads them all)."""
    # A new session: no controlling terminal, as in CI, so a production write cannot ask.
    result = subprocess.run(
        [str(BIN / "python"), "-m", "src.cli", *args],
        cwd=cwd, env=env, input=stdin, capture_output=True, text=True, timeout=timeout, check=False,
        start_new_session=True,
    )  # fmt: skip
    OUTPUTS.extend([result.stdout, result.stderr])
    return result


@pytest.fixture
def name() -> str:
    return f"short-cut/test/app-cli-{uuid.uuid4().hex[:8]}"


@pytest.fixture
def values_file(tmp_path: Path) -> Path:
    path = tmp_path / "secrets-values.json"
    path.write_text(canary_secret_string())
    return path


def test_push_creates_with_tags_then_puts_a_new_version(moto_url: str, sm: Any, name: str, values_file: Path) -> None:
    first = cli("push", "--env", "prod", "--name", name, "--file", str(values_file), endpoint=moto_url)
    assert first.returncode == 0, first.stderr
    assert first.stdout.startswith(f"created {name}: version ")
    assert "delete the file given (--file)" in first.stderr and str(values_file) not in first.stderr  # issue 29
    meta = sm.describe_secret(SecretId=name)
    assert {t["Key"]: t["Value"] for t in meta["Tags"]} == {
        "Project": "short-cut",
        "Environment": "prod",
        "ManagedBy": "devops",
    }
    assert "KmsKeyId" not in meta
    assert meta["Description"] == "Short-Cut production app secret – API keys, GCP credentials"
    second = cli(
        "push",
        "--env",
        "prod",
        "--name",
        name,
        "--file",
        "-",
        stdin=canary_secret_string(MILVUS_PORT="19531"),
        endpoint=moto_url,
    )
    assert second.returncode == 0
    assert second.stdout.startswith(f"put a new version of {name}")
    assert json.loads(sm.get_secret_value(SecretId=name)["SecretString"])["MILVUS_PORT"] == "19531"


@pytest.mark.parametrize(
    ("payload", "code", "extra"),
    [
        (canary_secret_string(OPENAI_API_KEY="sk-실제키를입력하세요"), "PlaceholderValue", []),
        (canary_secret_string(EXTRA_FLAG="1"), "UnknownKeys", []),
        (canary_secret_string(PATH="/x"), "ForbiddenKey", []),
        ("[1, 2]", "InvalidSecretJSON", []),
        (json.dumps({"OPENAI_API_KEY": CANARY_VALUES["OPENAI_API_KEY"]}), "MissingRequiredKeys", []),
    ],
)
def test_push_refuses_bad_payloads_and_changes_nothing(
    moto_url: str, sm: Any, name: str, payload: str, code: str, extra: list[str]
) -> None:
    result = cli("push", "--name", name, "--file", "-", *extra, stdin=payload, endpoint=moto_url)
    assert result.returncode == 3
    assert result.stderr.startswith(f"error: {code}: ")
    assert "hint:" in result.stderr and len(result.stderr.strip().splitlines()) == 1
    assert "Traceback" not in result.stderr
    with pytest.raises(sm.exceptions.ResourceNotFoundException):
        sm.describe_secret(SecretId=name)


def test_push_refuses_the_example_file_unless_allowed(moto_url: str, sm: Any, name: str) -> None:
    example = (ROOT / "infra/iam/secret-structure-example.json").read_text()
    refused = cli("push", "--name", name, "--file", "-", stdin=example, endpoint=moto_url)
    assert refused.returncode == 3
    assert refused.stderr.startswith("error: PlaceholderValue:") and "example values" in refused.stderr
    with pytest.raises(sm.exceptions.ResourceNotFoundException):
        sm.describe_secret(SecretId=name)
    allowed = cli("push", "--name", name, "--file", "-", "--allow-example", stdin=example, endpoint=moto_url)
    assert allowed.returncode == 0, allowed.stderr


def test_push_allow_extra(moto_url: str, name: str) -> None:
    result = cli(
        "push",
        "--name",
        name,
        "--file",
        "-",
        "--allow-extra",
        stdin=canary_secret_string(EXTRA_FLAG="1"),
        endpoint=moto_url,
    )
    assert result.returncode == 0, result.stderr
    assert "EXTRA_FLAG" in result.stdout


def test_push_refuses_a_file_tracked_by_git(moto_url: str, name: str, tmp_path: Path) -> None:
    repo = tmp_path / "repo"
    repo.mkdir()
    (repo / "secrets-values.json").write_text(canary_secret_string())
    for args in (["init", "-q"], ["add", "secrets-values.json"]):
        subprocess.run(["git", *args], cwd=repo, check=True, capture_output=True)
    result = cli("push", "--name", name, "--file", str(repo / "secrets-values.json"), endpoint=moto_url)
    assert result.returncode == 3
    assert result.stderr.startswith("error: FileTrackedByGit:")


def test_verify_ok_and_fail_lines(moto_url: str, sm: Any, name: str) -> None:
    version = sm.create_secret(Name=name, SecretString=canary_secret_string())["VersionId"]
    ok = cli("verify", "--name", name, endpoint=moto_url)
    assert ok.returncode == 0, ok.stderr
    lines = ok.stdout.splitlines()
    assert sum(line.endswith(" OK") for line in lines) == 7
    assert f"version {version} of {name}" in ok.stdout

    bad = dict(canary_payload(OPENAI_API_KEY="sk-실제키를입력하세요", MILVUS_PORT="0"))
    del bad["APP_SECRET_KEY"]
    sm.put_secret_value(SecretId=name, SecretString=json.dumps(bad))
    failed = cli("verify", "--name", name, "--json", endpoint=moto_url)
    assert failed.returncode == 1
    doc = json.loads(failed.stdout)
    assert doc["keys"]["OPENAI_API_KEY"] == "placeholder"
    assert doc["keys"]["APP_SECRET_KEY"] == "missing"
    assert doc["keys"]["MILVUS_PORT"].startswith("invalid")
    assert doc["keys"]["PINECONE_API_KEY"] == "OK"
    assert doc["ok"] is False


def test_describe_shows_metadata_only(moto_url: str, sm: Any, name: str) -> None:
    sm.create_secret(Name=name, SecretString=canary_secret_string(), Tags=[{"Key": "Project", "Value": "short-cut"}])
    plain = cli("describe", "--name", name, endpoint=moto_url)
    assert plain.returncode == 0
    for label in (
        "name:",
        "arn:",
        "kms_key:",
        "rotation_enabled:",
        "last_rotated:",
        "next_rotation:",
        "versions:",
        "tags:",
    ):
        assert label in plain.stdout
    assert "AWSCURRENT" in plain.stdout and "aws/secretsmanager" in plain.stdout
    doc = json.loads(cli("describe", "--name", name, "--json", endpoint=moto_url).stdout)
    assert doc["name"] == name and doc["tags"] == {"Project": "short-cut"}


def test_rotate_generated_and_provider_keys_then_rollback(moto_url: str, sm: Any, name: str) -> None:
    v1 = sm.create_secret(Name=name, SecretString=canary_secret_string())["VersionId"]
    rotated = cli("rotate", "--name", name, "--key", "APP_SECRET_KEY", "--json", endpoint=moto_url)
    assert rotated.returncode == 0, rotated.stderr
    v2 = json.loads(rotated.stdout)["version_id"]
    current = json.loads(sm.get_secret_value(SecretId=name, VersionStage="AWSCURRENT")["SecretString"])
    assert current["APP_SECRET_KEY"] != CANARY_VALUES["APP_SECRET_KEY"] and len(current["APP_SECRET_KEY"]) >= 86
    assert current["APP_SECRET_KEY"] not in rotated.stdout + rotated.stderr
    assert {k: v for k, v in current.items() if k != "APP_SECRET_KEY"} == {
        k: v for k, v in canary_payload().items() if k != "APP_SECRET_KEY"
    }

    needs_value = cli("rotate", "--name", name, "--key", "OPENAI_API_KEY", endpoint=moto_url)
    assert needs_value.returncode == 3 and needs_value.stderr.startswith("error: ValueRequired:")
    provider = cli(
        "rotate",
        "--name",
        name,
        "--key",
        "OPENAI_API_KEY",
        "--value-stdin",
        stdin="sk-CANARYnew-provider-key\n",
        endpoint=moto_url,
    )
    assert provider.returncode == 0, provider.stderr
    v3 = provider.stdout.split("-> ")[-1].strip()
    assert (
        json.loads(sm.get_secret_value(SecretId=name, VersionId=v3)["SecretString"])["OPENAI_API_KEY"]
        == "sk-CANARYnew-provider-key"
    )

    back = cli("rollback", "--name", name, endpoint=moto_url)
    assert back.returncode == 0, back.stderr
    assert f"AWSCURRENT {v3} -> {v2}" in back.stdout
    stages = sm.describe_secret(SecretId=name)["VersionIdsToStages"]
    assert "AWSCURRENT" in stages[v2]
    assert v1 != v2


def test_rotate_refuses_an_invalid_new_value(moto_url: str, sm: Any, name: str) -> None:
    sm.create_secret(Name=name, SecretString=canary_secret_string())
    result = cli("rotate", "--name", name, "--key", "MILVUS_PORT", "--value-stdin", stdin="99999", endpoint=moto_url)
    assert result.returncode == 3 and result.stderr.startswith("error: InvalidSecretValue:")
    assert len(sm.describe_secret(SecretId=name)["VersionIdsToStages"]) == 1


# -- issue 28 item 5: a version that has lost its labels ----------------------------------
# DescribeSecret lists only labelled versions: "Versions that don't have staging labels are
# considered deprecated and Secrets Manager can delete them" (API reference, DescribeSecret).
# moto_server here behaves so (tests.support.moto_aws); rollback and describe read
# ListSecretVersionIds with IncludeDeprecated instead.


def test_the_emulator_hides_unlabelled_versions_as_aws_does(moto_url: str, sm: Any, name: str) -> None:
    first = sm.create_secret(Name=name, SecretString=canary_secret_string())["VersionId"]
    sm.put_secret_value(SecretId=name, SecretString=canary_secret_string(APP_SECRET_KEY="v2"))
    sm.put_secret_value(SecretId=name, SecretString=canary_secret_string(APP_SECRET_KEY="v3"))
    assert first not in sm.describe_secret(SecretId=name)["VersionIdsToStages"]
    listed = {v["VersionId"] for v in sm.list_secret_version_ids(SecretId=name)["Versions"]}
    assert first not in listed and len(listed) == 2
    page = sm.list_secret_version_ids(SecretId=name, IncludeDeprecated=True, MaxResults=2)
    assert len(page["Versions"]) == 2 and page["NextToken"]
    rest = sm.list_secret_version_ids(SecretId=name, IncludeDeprecated=True, NextToken=page["NextToken"])
    assert len(rest["Versions"]) == 1 and not rest.get("NextToken")
    assert first in {v["VersionId"] for v in page["Versions"] + rest["Versions"]}


def test_rollback_and_describe_reach_a_deprecated_version(moto_url: str, sm: Any, name: str) -> None:
    first = sm.create_secret(Name=name, SecretString=canary_secret_string())["VersionId"]
    sm.put_secret_value(SecretId=name, SecretString=canary_secret_string(APP_SECRET_KEY="v2"))
    sm.put_secret_value(SecretId=name, SecretString=canary_secret_string(APP_SECRET_KEY="v3"))
    described = cli("--json", "describe", "--name", name, endpoint=moto_url)
    assert described.returncode == 0, described.stderr
    document = json.loads(described.stdout)
    assert document["versions"][first] == [] and document["deprecated_versions"] == [first]
    plain = cli("describe", "--name", name, endpoint=moto_url).stdout
    assert f"{first}  - (deprecated" in plain
    back = cli("rollback", "--name", name, "--to-version", first, endpoint=moto_url)
    assert back.returncode == 0, back.stderr
    assert "deprecated" in back.stdout
    assert sm.describe_secret(SecretId=name)["VersionIdsToStages"][first] == ["AWSCURRENT"]


def test_rollback_without_previous_version(moto_url: str, sm: Any, name: str) -> None:
    sm.create_secret(Name=name, SecretString=canary_secret_string())
    result = cli("rollback", "--name", name, endpoint=moto_url)
    assert result.returncode == 3 and result.stderr.startswith("error: NoPreviousVersion:")


@pytest.mark.parametrize("command", ["verify", "describe", "rollback"])
def test_missing_secret_is_resource_not_found(moto_url: str, name: str, command: str) -> None:
    result = cli(command, "--name", name, endpoint=moto_url)
    assert result.returncode == 3
    assert result.stderr.startswith("error: ResourceNotFoundException:")
    assert "SECRET_NAME" in result.stderr


def test_access_denied_is_one_line_with_the_hint(proxy: FaultProxy, name: str) -> None:
    proxy.set_fault(Fault("error", "AccessDeniedException"))
    result = cli("verify", "--name", name, endpoint=proxy.url)
    assert result.returncode == 3
    assert result.stderr.startswith("error: AccessDeniedException:")
    assert "taskRoleArn" in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1
    debug = cli("verify", "--name", name, "--debug", endpoint=proxy.url)
    assert "Traceback" in debug.stderr


def test_no_credentials(moto_url: str, name: str) -> None:
    result = cli("describe", "--name", name, endpoint=moto_url, creds=False)
    assert result.returncode == 3 and result.stderr.startswith("error: NoCredentials:")


def test_unreachable_endpoint(name: str) -> None:
    result = cli("describe", "--name", name, endpoint=f"http://127.0.0.1:{free_port()}")
    assert result.returncode == 3 and result.stderr.startswith("error: EndpointUnreachable:")


def test_json_errors(moto_url: str, name: str) -> None:
    result = cli("describe", "--name", name, "--json", endpoint=moto_url)
    assert json.loads(result.stderr)["error"]["code"] == "ResourceNotFoundException"


@pytest.mark.parametrize("command", ["push", "verify", "describe", "rotate", "rollback", "audit", "render"])
def test_every_command_has_help(command: str) -> None:
    result = cli(command, "--help", endpoint=None)
    assert result.returncode == 0
    assert "usage:" in result.stdout and "--region" in result.stdout and "--json" in result.stdout


# -- issue 11, item 6: operator tools that do not fight each other ------------------------


def test_push_accepts_a_real_secret_that_shares_the_examples_port_and_host(moto_url: str, name: str) -> None:
    example = json.loads((ROOT / "infra/iam/secret-structure-example.json").read_text())
    real = canary_payload(MILVUS_PORT=example["MILVUS_PORT"], MILVUS_HOST=example["MILVUS_HOST"])
    pushed = cli("push", "--name", name, "--file", "-", stdin=json.dumps(real), endpoint=moto_url)
    assert pushed.returncode == 0, pushed.stderr
    only_key = canary_payload(OPENAI_API_KEY=example["OPENAI_API_KEY"])
    refused = cli("push", "--name", name, "--file", "-", stdin=json.dumps(only_key), endpoint=moto_url)
    assert refused.returncode == 3 and "OPENAI_API_KEY" in refused.stderr and "MILVUS" not in refused.stderr


def test_rotate_refuses_while_another_version_holds_awspending(moto_url: str, sm: Any, name: str) -> None:
    sm.create_secret(Name=name, SecretString=canary_secret_string())
    current = sm.describe_secret(SecretId=name)
    pending = sm.put_secret_value(
        SecretId=name,
        SecretString=canary_secret_string(APP_SECRET_KEY="pending-from-lambda"),
        VersionStages=["AWSPENDING"],
    )["VersionId"]
    result = cli("rotate", "--name", name, "--key", "APP_SECRET_KEY", endpoint=moto_url)
    assert result.returncode == 3
    assert result.stderr.startswith("error: RotationInProgress:") and pending in result.stderr
    assert sm.describe_secret(SecretId=name)["VersionIdsToStages"] == {
        **current["VersionIdsToStages"],
        pending: ["AWSPENDING"],
    }


def test_rotate_leaves_no_awspending_behind(moto_url: str, sm: Any, name: str) -> None:
    sm.create_secret(Name=name, SecretString=canary_secret_string())
    result = cli("--json", "rotate", "--name", name, "--key", "APP_SECRET_KEY", endpoint=moto_url)
    assert result.returncode == 0, result.stderr
    version = json.loads(result.stdout)["version_id"]
    stages = sm.describe_secret(SecretId=name)["VersionIdsToStages"]
    assert stages[version] == ["AWSCURRENT"]
    assert not any("AWSPENDING" in s for s in stages.values())


# -- issue 12: the guide's step 5-3, reading as the task role -----------------------------


def test_verify_as_role_assumes_then_reads(moto_url: str, sm: Any, name: str) -> None:
    iam = moto_client("iam", moto_url)
    trust = (ROOT / "infra/iam/ecs-task-trust-policy.json").read_text().replace("<ACCOUNT_ID>", "123456789012")
    trust = trust.replace("<REGION>", "us-east-1")
    role = iam.create_role(RoleName=f"shortcut-ecs-task-role-{uuid.uuid4().hex[:6]}", AssumeRolePolicyDocument=trust)
    sm.create_secret(Name=name, SecretString=canary_secret_string())
    result = cli_sts("verify", "--name", name, "--as-role", role["Role"]["Arn"], endpoint=moto_url)
    assert result.returncode == 0, result.stderr
    assert f"reading as {role['Role']['Arn']}" in result.stdout and "OPENAI_API_KEY" in result.stdout
    for secret_part in ("ASIA", "SessionToken", "SecretAccessKey", "FQoG"):
        assert secret_part not in result.stdout + result.stderr


def cli_sts(*args: str, endpoint: str) -> subprocess.CompletedProcess[str]:
    env = clean_environment(AWS_REGION="us-east-1", **DUMMY_CREDENTIALS)
    env["AWS_ENDPOINT_URL_SECRETS_MANAGER"] = endpoint
    env["AWS_ENDPOINT_URL_STS"] = endpoint
    result = subprocess.run(
        [str(BIN / "python"), "-m", "src.cli", *args],
        cwd=ROOT, env=env, capture_output=True, text=True, timeout=60, check=False,
    )  # fmt: skip
    OUTPUTS.extend([result.stdout, result.stderr])
    return result


# -- issue 21, item 4: a CLI for people in a hurry ---------------------------------------


@pytest.fixture
def prod_name() -> str:
    return f"short-cut/prod/app-cli-{uuid.uuid4().hex[:8]}"


def on_a_terminal(*args: str, answer: str, endpoint: str) -> tuple[int, str]:
    """Run the CLI with a pty as its terminal (stdin, stdout, stderr) and type `answer`."""
    import os
    import pty
    import select

    main_fd, child_fd = pty.openpty()
    env = clean_environment(AWS_REGION="us-east-1", AWS_ENDPOINT_URL=endpoint, **DUMMY_CREDENTIALS)
    process = subprocess.Popen(
        [str(BIN / "python"), "-m", "src.cli", *args],
        cwd=ROOT, env=env, stdin=child_fd, stdout=child_fd, stderr=child_fd, start_new_session=True,
    )  # fmt: skip
    os.close(child_fd)
    seen = b""
    answered = False
    try:
        while True:
            ready, _, _ = select.select([main_fd], [], [], 30)
            if not ready:
                break
            try:
                chunk = os.read(main_fd, 4096)
            except OSError:  # the child closed the pty
                break
            if not chunk:
                break
            seen += chunk
            if not answered and b"Type yes to go on:" in seen:
                os.write(main_fd, answer.encode() + b"\n")
                answered = True
        code = process.wait(timeout=30)
    finally:
        process.kill()
        os.close(main_fd)
    text = seen.decode(errors="replace")
    OUTPUTS.append(text)
    return code, text


@pytest.mark.parametrize("answer", ["yes", "no"])
def test_push_to_production_asks_on_a_terminal(
    moto_url: str, sm: Any, prod_name: str, values_file: Path, answer: str
) -> None:
    code, text = on_a_terminal(
        "push", "--env", "production", "--name", prod_name, "--file", str(values_file), answer=answer,
        endpoint=moto_url,
    )  # fmt: skip
    assert f"This writes to production ({prod_name}). Type yes to go on:" in text
    if answer == "yes":
        assert code == 0, text
        assert sm.describe_secret(SecretId=prod_name)["Name"] == prod_name
    else:
        assert code == 3 and "ConfirmationRequired" in text and "nothing was written" in text
        with pytest.raises(sm.exceptions.ResourceNotFoundException):
            sm.describe_secret(SecretId=prod_name)


@pytest.mark.parametrize(
    "command",
    [
        ["push", "--file", "-"],
        ["rotate", "--key", "APP_SECRET_KEY"],
        ["rollback"],
    ],
)
def test_production_writes_without_a_terminal_need_yes(
    moto_url: str, sm: Any, prod_name: str, command: list[str]
) -> None:
    sm.create_secret(Name=prod_name, SecretString=canary_secret_string())
    sm.put_secret_value(SecretId=prod_name, SecretString=canary_secret_string(MILVUS_PORT="1"))
    before = sm.describe_secret(SecretId=prod_name)["VersionIdsToStages"]
    payload = canary_secret_string(MILVUS_PORT="2")
    refused = cli(*command, "--name", prod_name, stdin=payload, endpoint=moto_url)
    assert refused.returncode == 3, refused.stdout + refused.stderr
    assert refused.stderr.startswith("error: ConfirmationRequired:") and "--yes" in refused.stderr
    assert sm.describe_secret(SecretId=prod_name)["VersionIdsToStages"] == before
    done = cli(*command, "--name", prod_name, "--yes", stdin=payload, endpoint=moto_url)
    assert done.returncode == 0, done.stderr
    assert sm.describe_secret(SecretId=prod_name)["VersionIdsToStages"] != before


def test_staging_writes_do_not_ask(moto_url: str, sm: Any) -> None:
    staging = f"short-cut/staging/app-cli-{uuid.uuid4().hex[:8]}"
    result = cli("push", "--env", "staging", "--name", staging, "--file", "-", stdin=canary_secret_string(),
                 endpoint=moto_url)  # fmt: skip
    assert result.returncode == 0, result.stderr


@pytest.mark.parametrize(
    ("text", "where"),
    [
        ('{"OPENAI_API_KEY": "sk-CANARY-x",\n  "PINECONE_API_KEY": "CANARYpine"\n  "X": 1}', "line 3, column 3"),
        ('{"OPENAI_API_KEY": "sk-CANARY-trailing",}', "line 1, column 41"),
        ("", "line 1, column 1"),
    ],
)
def test_push_of_a_file_that_is_not_json_says_where(
    moto_url: str, sm: Any, name: str, tmp_path: Path, text: str, where: str
) -> None:
    bad = tmp_path / "secrets-values.json"
    bad.write_text(text)
    result = cli("push", "--name", name, "--file", str(bad), endpoint=moto_url)
    assert result.returncode == 3
    assert result.stderr.startswith("error: InvalidSecretJSON: the file given (--file) is not valid JSON: ")
    assert where in result.stderr
    assert "get-secret-value" not in result.stderr  # not how to inspect the remote secret
    assert "CANARY" not in result.stderr
    with pytest.raises(sm.exceptions.ResourceNotFoundException):
        sm.describe_secret(SecretId=name)


def test_verify_warns_about_example_values(moto_url: str, sm: Any, name: str) -> None:
    example = json.loads((ROOT / "infra/iam/secret-structure-example.json").read_text())
    payload = canary_payload(PINECONE_API_KEY=example["PINECONE_API_KEY"])
    sm.create_secret(Name=name, SecretString=json.dumps(payload))
    result = cli("verify", "--name", name, endpoint=moto_url)
    assert "WARN PINECONE_API_KEY still hold the example values" in result.stdout
    document = json.loads(cli("verify", "--name", name, "--json", endpoint=moto_url).stdout)
    assert document["example_values"] == ["PINECONE_API_KEY"]
    clean = cli("verify", "--name", name.replace("cli", "clean"), endpoint=moto_url)
    assert "WARN" not in clean.stdout


def test_hints_name_the_real_secret(moto_url: str, name: str) -> None:
    result = cli("describe", "--name", name, endpoint=moto_url)
    assert result.returncode == 3
    assert f"describe-secret --secret-id {name})" in result.stderr and "<name>" not in result.stderr


# One switch for the emulator: botocore's global AWS_ENDPOINT_URL ("the endpoint for all
# services", https://docs.aws.amazon.com/sdkref/latest/guide/feature-ss-endpoints.html) reaches
# every service the CLI calls, with no AWS_ENDPOINT_URL_<SERVICE> set.


def only_global_endpoint(*args: str, endpoint: str, stdin: str | None = None) -> subprocess.CompletedProcess[str]:
    env = clean_environment(AWS_REGION="us-east-1", AWS_ENDPOINT_URL=endpoint, **DUMMY_CREDENTIALS)
    assert not any(key.startswith("AWS_ENDPOINT_URL_") for key in env)
    return run_cli(args, env, stdin=stdin, timeout=120)


def test_aws_endpoint_url_reaches_every_service_the_cli_calls(moto_url: str, sm: Any, name: str) -> None:
    iam = moto_client("iam", moto_url)
    trust = (ROOT / "infra/iam/ecs-task-trust-policy.json").read_text().replace("<ACCOUNT_ID>", "123456789012")
    role = iam.create_role(
        RoleName=f"shortcut-ecs-task-role-{uuid.uuid4().hex[:6]}",
        AssumeRolePolicyDocument=trust.replace("<REGION>", "us-east-1"),
    )["Role"]["Arn"]
    group = f"/ecs/short-cut-api-e2e-{uuid.uuid4().hex[:6]}"
    moto_client("logs", moto_url).create_log_group(logGroupName=group)
    steps = [
        (["push", "--name", name, "--file", "-"], 0),  # Secrets Manager
        (["verify", "--name", name], 0),
        (["verify", "--name", name, "--as-role", role], 0),  # STS, then Secrets Manager as the role
        (["describe", "--name", name], 0),
        (["rotate", "--name", name, "--key", "APP_SECRET_KEY"], 0),
        (["rollback", "--name", name], 0),
        (["fleet", "--name", name, "--log-group", group], 1),  # CloudWatch Logs (no task reported: 1)
    ]
    for argv, expected in steps:
        result = only_global_endpoint(*argv, endpoint=moto_url, stdin=canary_secret_string())
        assert result.returncode == expected, f"{argv[0]}: {result.stdout}{result.stderr}"
        assert "EndpointUnreachable" not in result.stderr and "NoCredentials" not in result.stderr
    # audit --aws calls STS, IAM, CloudWatch Logs, CloudWatch (and SNS): its checks may fail on
    # this bare account, but every call reaches the emulator.
    audit = only_global_endpoint("audit", "--aws", endpoint=moto_url)
    assert audit.returncode in (0, 1), audit.stdout + audit.stderr
    assert "EndpointUnreachable" not in audit.stdout + audit.stderr


@pytest.mark.parametrize(
    ("argv", "service", "variable"),
    [
        (["describe"], "Secrets Manager", "AWS_ENDPOINT_URL_SECRETS_MANAGER"),
        (["verify", "--as-role", "arn:aws:iam::123456789012:role/r"], "STS", "AWS_ENDPOINT_URL_STS"),
        (["fleet", "--log-group", "/ecs/x"], "CloudWatch Logs", "AWS_ENDPOINT_URL_CLOUDWATCH_LOGS"),
    ],
)
def test_endpoint_unreachable_names_the_service(
    moto_url: str, sm: Any, name: str, argv: list[str], service: str, variable: str
) -> None:
    # Only the service under test points at a closed port; the others reach moto_server.
    sm.create_secret(Name=name, SecretString=canary_secret_string())
    env = clean_environment(AWS_REGION="us-east-1", AWS_ENDPOINT_URL=moto_url, **DUMMY_CREDENTIALS)
    env[variable] = f"http://127.0.0.1:{free_port()}"
    result = subprocess.run(
        [str(BIN / "python"), "-m", "src.cli", *argv, "--name", name],
        cwd=ROOT, env=env, capture_output=True, text=True, timeout=120, check=False, start_new_session=True,
    )  # fmt: skip
    OUTPUTS.extend([result.stdout, result.stderr])
    assert result.returncode == 3, result.stderr
    assert result.stderr.startswith(f"error: EndpointUnreachable: could not reach {service} "), result.stderr
    assert variable in result.stderr


def test_the_console_script_runs_without_activating_the_venv() -> None:
    script = BIN / "short-cut"
    assert script.is_file(), "make cli installs the project (-e .): run make cli"
    result = subprocess.run(
        [str(script), "--help"], cwd=ROOT, env=clean_environment(), capture_output=True, text=True, timeout=60,
        check=False,
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    assert result.stdout.startswith("usage: short-cut ")
    assert "AWS_ENDPOINT_URL" in result.stdout
