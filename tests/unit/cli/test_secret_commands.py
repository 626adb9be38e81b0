"""push, verify and describe in-process against moto: what each writes and prints, each failure
code with its hint, the as-role read, and masked --debug. No test output holds a canary value."""

from __future__ import annotations

import io
import json
import subprocess
from pathlib import Path
from typing import Any

import pytest

from src import cli
from src.aws.client import SecretsClient
from src.cli import secret_commands as sc
from src.cli.output import Output
from src.errors import SecretsError
from tests.support.canary import CANARY_VALUES, SERVICE_ACCOUNT, canary_payload, canary_secret_string, leaked
from tests.support.processes import ROOT
from tests.unit.cli.helpers import NAME, ROLE, TEMPORARY, args, stubbed

EXAMPLE = ROOT / "infra/iam/secret-structure-example.json"


@pytest.fixture
def values_file(tmp_path: Path) -> Path:
    path = tmp_path / "secrets-values.json"
    path.write_text(canary_secret_string())
    return path


def push(file: str, **options: Any) -> tuple[int, Output]:
    out = Output(as_json=True)
    return sc.cmd_push(args(file=file, **options), SecretsClient("us-east-1"), out), out


# --- push -------------------------------------------------------------------------------


def test_push_creates_with_tags_then_puts_a_new_version(
    sm: Any, values_file: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    code, out = push(str(values_file))
    assert code == 0 and out.document["action"] == "created"
    assert out.document["keys"] == sorted(canary_payload())
    meta = sm.describe_secret(SecretId=NAME)
    assert {t["Key"]: t["Value"] for t in meta["Tags"]} == {
        "Project": "short-cut",
        "Environment": "prod",
        "ManagedBy": "devops",
    }
    assert meta["Description"] == "Short-Cut production app secret – API keys, GCP credentials"
    assert "KmsKeyId" not in meta  # the default aws/secretsmanager key
    reminder = capsys.readouterr().err
    assert "delete the file given (--file)" in reminder and str(values_file) not in reminder  # issue 29, item 3

    values_file.write_text(canary_secret_string(MILVUS_PORT="19531"))
    code, out = push(str(values_file))
    assert code == 0 and out.document["action"] == "put a new version of"
    current = sm.get_secret_value(SecretId=NAME, VersionStage="AWSCURRENT")
    assert current["VersionId"] == out.document["version_id"]
    assert json.loads(current["SecretString"])["MILVUS_PORT"] == "19531"


def test_push_from_stdin_needs_no_reminder(
    sm: Any, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setattr("sys.stdin", io.StringIO(canary_secret_string()))
    code, _out = push("-")
    assert code == 0
    printed = capsys.readouterr()
    assert "delete" not in printed.err and leaked(printed.out, printed.err) == []
    assert json.loads(sm.get_secret_value(SecretId=NAME)["SecretString"]) == canary_payload()


def refused(file: str, **options: Any) -> SecretsError:
    with pytest.raises(SecretsError) as caught:
        push(file, **options)
    assert caught.value.hint, caught.value.code  # every failure tells the operator what to do
    assert leaked(caught.value.message, caught.value.hint) == []
    return caught.value


def test_push_refuses_a_path_that_is_not_a_file(sm: Any, tmp_path: Path) -> None:
    assert refused(str(tmp_path / "missing.json")).code == "FileNotFound"
    assert refused(str(tmp_path)).code == "FileNotFound"


def test_push_refuses_a_file_tracked_by_git(sm: Any, tmp_path: Path) -> None:
    (tmp_path / "secrets-values.json").write_text(canary_secret_string())
    for git in (["init", "-q"], ["add", "secrets-values.json"]):
        subprocess.run(["git", *git], cwd=tmp_path, check=True, capture_output=True)
    error = refused(str(tmp_path / "secrets-values.json"))
    assert error.code == "FileTrackedByGit" and "rotate the keys" in error.hint


def test_push_refuses_a_file_that_is_not_utf8(sm: Any, tmp_path: Path) -> None:
    path = tmp_path / "secrets-values.json"
    path.write_bytes(canary_secret_string().encode("utf-16"))
    assert refused(str(path)).code == "InvalidSecretJSON"


@pytest.mark.parametrize(
    ("payload", "code"),
    [
        ("[1, 2]", "InvalidSecretJSON"),
        (json.dumps({"OPENAI_API_KEY": CANARY_VALUES["OPENAI_API_KEY"]}), "MissingRequiredKeys"),
        (canary_secret_string(OPENAI_API_KEY="sk-실제키를입력하세요"), "PlaceholderValue"),
        (canary_secret_string(EXTRA_FLAG="1"), "UnknownKeys"),
    ],
)
def test_push_refuses_what_the_service_would_refuse(sm: Any, tmp_path: Path, payload: str, code: str) -> None:
    path = tmp_path / "secrets-values.json"
    path.write_text(payload)
    assert refused(str(path)).code == code
    assert sm.list_secrets()["SecretList"] == []  # nothing was written


def test_push_allow_extra_keeps_the_extra_key(sm: Any, tmp_path: Path) -> None:
    path = tmp_path / "secrets-values.json"
    path.write_text(canary_secret_string(EXTRA_FLAG="1"))
    code, out = push(str(path), allow_extra=True)
    assert code == 0 and "EXTRA_FLAG" in out.document["keys"]


def test_push_refuses_the_example_values_unless_allowed(sm: Any, tmp_path: Path) -> None:
    path = tmp_path / "secrets-values.json"
    path.write_text(EXAMPLE.read_text())
    error = refused(str(path))
    assert error.code == "PlaceholderValue" and "example values" in error.message
    assert sm.list_secrets()["SecretList"] == []
    assert push(str(path), allow_example=True)[0] == 0


# --- verify -----------------------------------------------------------------------------


def verify(capsys: pytest.CaptureFixture[str], **options: Any) -> tuple[int, dict[str, Any]]:
    out = Output(as_json=True)
    code = sc.cmd_verify(args(**options), SecretsClient("us-east-1"), out)
    assert leaked(*capsys.readouterr()) == []
    return code, out.document


def test_verify_passes_a_valid_secret(sm: Any, capsys: pytest.CaptureFixture[str]) -> None:
    version = sm.create_secret(Name=NAME, SecretString=canary_secret_string())["VersionId"]
    code, document = verify(capsys)
    assert code == 0 and document["ok"] is True and document["error"] is None
    assert document["version_id"] == version and set(document["keys"].values()) == {"OK"}
    assert len(document["keys"]) == 7


def test_verify_warns_on_the_line_of_each_key_holding_an_example_value(
    sm: Any, capsys: pytest.CaptureFixture[str]
) -> None:
    """The example file's values pass every rule (the emulator serves them): each key holding one says
    WARN on its own line, not OK; the other keys say OK (issue 27)."""
    example = json.loads(EXAMPLE.read_text())
    service_account = {**SERVICE_ACCOUNT, "private_key": example["GOOGLE_APPLICATION_CREDENTIALS_JSON"]["private_key"]}
    payload = canary_payload(
        PINECONE_API_KEY=example["PINECONE_API_KEY"], GOOGLE_APPLICATION_CREDENTIALS_JSON=service_account
    )
    sm.create_secret(Name=NAME, SecretString=json.dumps(payload))
    code = sc.cmd_verify(args(), SecretsClient("us-east-1"), Output(as_json=False))
    lines = {line.split()[0]: line for line in capsys.readouterr().out.splitlines() if line}
    assert code == 0
    assert lines["PINECONE_API_KEY"].split(None, 1)[1] == "WARN (example value: PINECONE_API_KEY)"
    assert lines["GOOGLE_APPLICATION_CREDENTIALS_JSON"].split(None, 1)[1] == (
        "WARN (example value: GOOGLE_APPLICATION_CREDENTIALS_JSON.private_key)"
    )
    for key in ("OPENAI_API_KEY", "APP_SECRET_KEY", "MILVUS_HOST", "MILVUS_PORT", "GCP_PROJECT_ID"):
        assert lines[key].split(None, 1)[1] == "OK", lines[key]
    assert lines["WARN"].startswith("WARN GOOGLE_APPLICATION_CREDENTIALS_JSON.private_key, PINECONE_API_KEY still hold")


def test_verify_names_each_bad_key(sm: Any, capsys: pytest.CaptureFixture[str]) -> None:
    bad = dict(canary_payload(OPENAI_API_KEY="sk-실제키를입력하세요", MILVUS_PORT="0"))
    del bad["APP_SECRET_KEY"]
    sm.create_secret(Name=NAME, SecretString=json.dumps(bad))
    code, document = verify(capsys)
    assert code == 1 and document["ok"] is False
    assert document["keys"]["OPENAI_API_KEY"] == "placeholder"
    assert document["keys"]["APP_SECRET_KEY"] == "missing"
    assert document["keys"]["MILVUS_PORT"].startswith("invalid")
    assert document["error"]["code"] in ("MissingRequiredKeys", "PlaceholderValue", "InvalidSecretValue")


def test_verify_fails_a_secret_whose_keys_pass_but_the_whole_does_not(
    sm: Any, capsys: pytest.CaptureFixture[str]
) -> None:
    """Every required key is fine, but a key the service forbids is there too."""
    sm.create_secret(Name=NAME, SecretString=canary_secret_string(AWS_SECRET_ACCESS_KEY="CANARYawssecretkey"))
    out = Output(as_json=False)
    assert sc.cmd_verify(args(), SecretsClient("us-east-1"), out) == 1
    printed = capsys.readouterr().out
    assert "FAIL secret as a whole: ForbiddenKey: " in printed
    assert "CANARYawssecretkey" not in printed


def test_verify_of_a_missing_secret_is_resource_not_found(sm: Any) -> None:
    with pytest.raises(SecretsError) as caught:
        sc.cmd_verify(args(), SecretsClient("us-east-1"), Output(as_json=False))
    assert caught.value.code == "ResourceNotFoundException" and caught.value.hint


# --- describe ---------------------------------------------------------------------------


def test_describe_shows_metadata_and_never_the_value(sm: Any, capsys: pytest.CaptureFixture[str]) -> None:
    first = sm.create_secret(
        Name=NAME, SecretString=canary_secret_string(), Tags=[{"Key": "Project", "Value": "short-cut"}]
    )["VersionId"]
    second = sm.put_secret_value(SecretId=NAME, SecretString=canary_secret_string(MILVUS_PORT="1"))["VersionId"]
    out = Output(as_json=False)
    assert sc.cmd_describe(args(), SecretsClient("us-east-1"), out) == 0
    assert out.document["name"] == NAME and out.document["tags"] == {"Project": "short-cut"}
    assert out.document["kms_key"] == "aws/secretsmanager (default)"
    assert out.document["rotation_enabled"] is False
    assert out.document["versions"] == {first: ["AWSPREVIOUS"], second: ["AWSCURRENT"]}
    printed = capsys.readouterr().out
    assert f"  {second}  AWSCURRENT" in printed and "tags:            Project=short-cut" in printed
    assert "rotation_lambda: -" in printed
    assert leaked(printed, json.dumps(out.document, default=str)) == []


# --- verify --as-role and --debug -------------------------------------------------------


def test_as_role_reports_a_refused_read_with_the_task_role_hint(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """moto does not check resource ARNs in IAM, so the refused read is stubbed as AWS answers it."""
    sts, sts_stub = stubbed("sts")
    sts_stub.add_response("assume_role", {"Credentials": TEMPORARY}, {
        "RoleArn": ROLE, "RoleSessionName": "short-cut-verify", "DurationSeconds": 900,
    })  # fmt: skip
    secrets, sm_stub = stubbed("secretsmanager")
    sm_stub.add_client_error(
        "get_secret_value",
        service_error_code="AccessDeniedException",
        service_message=f"User: {ROLE} is not authorized to perform: secretsmanager:GetSecretValue",
    )
    made: list[Any] = []

    def fake_build(region: str | None, *, service: str = "secretsmanager", credentials: Any = None, **_: Any) -> Any:
        made.append((service, credentials))
        return sts if service == "sts" else secrets

    monkeypatch.setattr("src.aws.client.build_client", fake_build)
    with sts_stub, sm_stub, pytest.raises(SecretsError) as caught:
        sc.cmd_verify(args(as_role=ROLE), SecretsClient("us-east-1"), Output(as_json=False))
    assert caught.value.code == "AccessDeniedException" and "taskRoleArn" in caught.value.hint
    assert made[1][1]["SessionToken"] == TEMPORARY["SessionToken"]  # the read used the role's credentials
    assert leaked(capsys.readouterr().out) == []


def test_debug_tracebacks_are_masked(
    sm: Any, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    sm.create_secret(Name=NAME, SecretString=canary_secret_string())

    def buggy(secret_string: str | None, *_: Any, **__: Any) -> str:
        raise RuntimeError(f"a bug that quotes {json.loads(secret_string or '{}')['APP_SECRET_KEY']}")

    monkeypatch.setattr(sc, "require_string", buggy)
    code = cli.main(["--debug", "verify", "--name", NAME])
    err = capsys.readouterr().err
    assert code == 3
    assert "RuntimeError: a bug that quotes ***" in err and "Traceback" in err
    assert CANARY_VALUES["APP_SECRET_KEY"] not in err


# Issue 29, item 3: an operator who pastes the JSON where the path goes must not get it back.
PASTED = [
    canary_secret_string(),  # the whole document: far over NAME_MAX, so an OSError (ENAMETOOLONG)
    json.dumps({"OPENAI_API_KEY": CANARY_VALUES["OPENAI_API_KEY"]}),  # short: "not a file"
    CANARY_VALUES["APP_SECRET_KEY"] * 12,  # one long key: ENAMETOOLONG on the path's last part
    CANARY_VALUES["APP_SECRET_KEY"] + "\0",  # a NUL byte: ValueError, not OSError
]


@pytest.mark.parametrize("flags", [[], ["--json"], ["--debug"], ["--json", "--debug"]])
@pytest.mark.parametrize("pasted", PASTED)
def test_push_never_echoes_what_file_was_given(
    sm: Any, capsys: pytest.CaptureFixture[str], flags: list[str], pasted: str
) -> None:
    code = cli.main([*flags, "push", "--env", "staging", "--file", pasted])
    printed = capsys.readouterr()
    assert code == 3
    assert "FileNotFound" in printed.err and "the path given" in printed.err
    for value in (*CANARY_VALUES.values(), pasted):
        if value not in (CANARY_VALUES["MILVUS_PORT"],):  # 5 digits: may occur in a traceback's line numbers
            assert value not in printed.out + printed.err
    assert leaked(printed.out, printed.err) == []
    assert "pcsk_" not in printed.err and "sk-CANARY" not in printed.err and "CANARYapp" not in printed.err


def test_an_oserror_traceback_names_no_file(capsys: pytest.CaptureFixture[str]) -> None:
    # --debug's traceback of an unexpected OSError: its filename may be a pasted value.
    secret = CANARY_VALUES["PINECONE_API_KEY"]
    try:
        try:
            open(f"/nonexistent/{secret}")  # noqa: SIM115 - it fails
        except OSError as exc:
            raise RuntimeError("wrapped") from exc
    except RuntimeError:
        cli.print_traceback()
    err = capsys.readouterr().err
    assert "FileNotFoundError" in err and "<the path given>" in err
    assert secret not in err
