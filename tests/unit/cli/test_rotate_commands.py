"""rotate and rollback in-process against moto: the compare-and-set on AWSCURRENT, and each
failure code with its hint.

The compare-and-set relies on UpdateSecretVersionStage refusing the move when
RemoveFromVersionId does not name the version that holds the label ("If the label is attached
and you either do not specify this parameter, or the version ID does not match, then the
operation fails", UpdateSecretVersionStage API reference); moto enforces the same rule.
"""

from __future__ import annotations

import io
import json
from typing import Any

import pytest

from src.aws.client import SecretsClient
from src.cli import rotate_commands as rc
from src.cli.output import Output
from src.errors import SecretsError
from src.telemetry.mask import masker
from tests.support.canary import CANARY_VALUES, canary_secret_string, leaked
from tests.unit.cli.helpers import NAME, args


def stages(sm: Any) -> dict[str, list[str]]:
    """Every version's labels, unlabelled ones too (DescribeSecret lists only labelled versions, as on AWS)."""
    listed = sm.list_secret_version_ids(SecretId=NAME, IncludeDeprecated=True)["Versions"]
    return {v["VersionId"]: list(v.get("VersionStages", [])) for v in listed}


def current_payload(sm: Any) -> dict[str, Any]:
    # By its label: without one, AWS answers with AWSCURRENT (GetSecretValue API reference), but moto
    # 5.2 answers with its own default version, which UpdateSecretVersionStage does not move.
    answer = sm.get_secret_value(SecretId=NAME, VersionStage="AWSCURRENT")
    return dict(json.loads(answer["SecretString"]))


def test_rotate_does_not_overwrite_a_change_made_while_it_ran(sm: Any) -> None:
    """Another operator promotes a version between our read and our promotion: ours must fail."""
    sm.create_secret(Name=NAME, SecretString=canary_secret_string())
    client = SecretsClient("us-east-1")
    original_put = client.put_value
    theirs: list[str] = []

    def racing_put(name: str, secret_string: str, **kwargs: Any) -> str:
        version = original_put(name, secret_string, **kwargs)
        # The other operator's `rotate --key OPENAI_API_KEY` lands now, as a normal PutSecretValue.
        other = canary_secret_string(OPENAI_API_KEY="sk-CANARY-their-new-key")
        theirs.append(sm.put_secret_value(SecretId=name, SecretString=other)["VersionId"])
        return version

    client.put_value = racing_put  # type: ignore[method-assign]
    out = Output(as_json=True)
    with pytest.raises(SecretsError) as caught:
        rc.cmd_rotate(args(key="APP_SECRET_KEY"), client, out)
    assert caught.value.code == "CurrentVersionMoved" and caught.value.hint
    current = sm.get_secret_value(SecretId=NAME)
    assert current["VersionId"] == theirs[0]
    assert json.loads(current["SecretString"])["OPENAI_API_KEY"] == "sk-CANARY-their-new-key"
    stages = sm.describe_secret(SecretId=NAME)["VersionIdsToStages"]
    assert not any("AWSPENDING" in s for s in stages.values()), stages


def test_rotate_promotes_when_nothing_moved(sm: Any) -> None:
    first = sm.create_secret(Name=NAME, SecretString=canary_secret_string())["VersionId"]
    out = Output(as_json=True)
    assert rc.cmd_rotate(args(key="APP_SECRET_KEY"), SecretsClient("us-east-1"), out) == 0
    assert out.document["previous_version_id"] == first
    stages = sm.describe_secret(SecretId=NAME)["VersionIdsToStages"]
    assert stages[out.document["version_id"]] == ["AWSCURRENT"] and stages[first] == ["AWSPREVIOUS"]


def test_rotate_reads_a_provider_key_from_stdin_and_keeps_every_other_key(
    sm: Any, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    sm.create_secret(Name=NAME, SecretString=canary_secret_string())
    new_key = "sk-CANARY-rotated-openai-key"
    monkeypatch.setattr("sys.stdin", io.StringIO(new_key + "\n"))
    out = Output(as_json=False)
    assert rc.cmd_rotate(args(key="OPENAI_API_KEY", value_stdin=True), SecretsClient("us-east-1"), out) == 0
    payload = current_payload(sm)
    assert payload["OPENAI_API_KEY"] == new_key  # the trailing newline is not part of the value
    assert {k: v for k, v in payload.items() if k != "OPENAI_API_KEY"} == {
        k: v for k, v in json.loads(canary_secret_string()).items() if k != "OPENAI_API_KEY"
    }
    printed = capsys.readouterr().out
    assert printed.startswith(f"rotated OPENAI_API_KEY in {NAME}: AWSCURRENT ")
    assert new_key not in printed and leaked(printed) == []
    assert masker.mask(f"x {new_key} y") == "x *** y"  # a --debug traceback could not show it


def test_rotate_cannot_generate_a_provider_key(sm: Any) -> None:
    sm.create_secret(Name=NAME, SecretString=canary_secret_string())
    with pytest.raises(SecretsError) as caught:
        rc.cmd_rotate(args(key="PINECONE_API_KEY"), SecretsClient("us-east-1"), Output(as_json=False))
    assert caught.value.code == "ValueRequired"
    assert "rotate --key PINECONE_API_KEY --value-stdin" in caught.value.hint
    assert len(stages(sm)) == 1  # nothing was written


def test_rotate_refuses_an_unknown_key_unless_allowed(sm: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    sm.create_secret(Name=NAME, SecretString=canary_secret_string())
    monkeypatch.setattr("sys.stdin", io.StringIO("1"))
    with pytest.raises(SecretsError) as caught:
        rc.cmd_rotate(args(key="FEATURE_FLAG", value_stdin=True), SecretsClient("us-east-1"), Output(as_json=False))
    assert caught.value.code == "UnknownKeys" and "--allow-extra" in caught.value.hint
    monkeypatch.setattr("sys.stdin", io.StringIO("1"))
    rotate = args(key="FEATURE_FLAG", value_stdin=True, allow_extra=True)
    assert rc.cmd_rotate(rotate, SecretsClient("us-east-1"), Output(as_json=False)) == 0
    assert current_payload(sm)["FEATURE_FLAG"] == "1"


def test_rotate_refuses_a_value_the_service_would_refuse(sm: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    sm.create_secret(Name=NAME, SecretString=canary_secret_string())
    monkeypatch.setattr("sys.stdin", io.StringIO("not-a-port"))
    with pytest.raises(SecretsError) as caught:
        rc.cmd_rotate(args(key="MILVUS_PORT", value_stdin=True), SecretsClient("us-east-1"), Output(as_json=False))
    assert caught.value.code == "InvalidSecretValue" and caught.value.hint
    assert len(stages(sm)) == 1 and current_payload(sm)["MILVUS_PORT"] == CANARY_VALUES["MILVUS_PORT"]


def test_rotate_waits_for_a_rotation_in_progress(sm: Any) -> None:
    first = sm.create_secret(Name=NAME, SecretString=canary_secret_string())["VersionId"]
    pending = sm.put_secret_value(
        SecretId=NAME, SecretString=canary_secret_string(MILVUS_PORT="1"), VersionStages=["AWSPENDING"]
    )["VersionId"]
    with pytest.raises(SecretsError) as caught:
        rc.cmd_rotate(args(key="APP_SECRET_KEY"), SecretsClient("us-east-1"), Output(as_json=False))
    assert caught.value.code == "RotationInProgress" and pending in caught.value.message
    assert stages(sm) == {first: ["AWSCURRENT"], pending: ["AWSPENDING"]}


def test_rotate_refuses_a_secret_stored_as_binary(sm: Any) -> None:
    sm.create_secret(Name=NAME, SecretBinary=canary_secret_string().encode())
    with pytest.raises(SecretsError) as caught:
        rc.cmd_rotate(args(key="APP_SECRET_KEY"), SecretsClient("us-east-1"), Output(as_json=False))
    assert caught.value.code == "InvalidSecretJSON" and "SecretBinary" in caught.value.message


def test_rotate_of_a_missing_secret_is_resource_not_found(sm: Any) -> None:
    with pytest.raises(SecretsError) as caught:
        rc.cmd_rotate(args(key="APP_SECRET_KEY"), SecretsClient("us-east-1"), Output(as_json=False))
    assert caught.value.code == "ResourceNotFoundException" and caught.value.hint


def test_rollback_moves_awscurrent_back_to_awsprevious(sm: Any) -> None:
    first = sm.create_secret(Name=NAME, SecretString=canary_secret_string())["VersionId"]
    second = sm.put_secret_value(SecretId=NAME, SecretString=canary_secret_string(MILVUS_PORT="1"))["VersionId"]
    out = Output(as_json=True)
    assert rc.cmd_rollback(args(), SecretsClient("us-east-1"), out) == 0
    assert out.document == {
        "secret_name": NAME,
        "from_version_id": second,
        "to_version_id": first,
        "changed": True,
        "undo": False,
    }
    assert stages(sm) == {first: ["AWSCURRENT"], second: ["AWSPREVIOUS", rc.ROLLED_BACK]}


def three_versions(sm: Any) -> list[str]:
    first = sm.create_secret(Name=NAME, SecretString=canary_secret_string())["VersionId"]
    second = sm.put_secret_value(SecretId=NAME, SecretString=canary_secret_string(MILVUS_PORT="1"))["VersionId"]
    third = sm.put_secret_value(SecretId=NAME, SecretString=canary_secret_string(MILVUS_PORT="2"))["VersionId"]
    return [first, second, third]


def test_rollback_twice_is_not_a_silent_undo(sm: Any, capsys: pytest.CaptureFixture[str]) -> None:
    # Before: the second rollback moved AWSCURRENT back to the version the first rolled away from.
    _first, second, third = three_versions(sm)
    client = SecretsClient("us-east-1")
    assert rc.cmd_rollback(args(), client, Output(as_json=False)) == 0
    said = capsys.readouterr().out
    assert f"rolled back {NAME}: AWSCURRENT {third} -> {second}" in said
    assert f"rollback again refuses (it would undo this); to undo it: short-cut rollback --name {NAME}" in said
    with pytest.raises(SecretsError) as caught:
        rc.cmd_rollback(args(), client, Output(as_json=False))
    assert caught.value.code == "RollbackWouldUndo"
    assert f"--to-version {third}" in caught.value.hint and third in caught.value.message
    assert sm.get_secret_value(SecretId=NAME, VersionStage="AWSCURRENT")["VersionId"] == second


def test_rollback_to_version_goes_further_back_or_undoes(sm: Any, capsys: pytest.CaptureFixture[str]) -> None:
    first, second, third = three_versions(sm)
    client = SecretsClient("us-east-1")
    assert rc.cmd_rollback(args(), client, Output(as_json=False)) == 0  # third -> second
    assert rc.cmd_rollback(args(to_version=first), client, Output(as_json=False)) == 0  # further back
    assert stages(sm)[first] == ["AWSCURRENT"]
    assert rc.ROLLED_BACK in stages(sm)[second] and rc.ROLLED_BACK not in stages(sm)[third]
    capsys.readouterr()
    assert rc.cmd_rollback(args(to_version=second), client, Output(as_json=False)) == 0  # undo the last one
    assert "undid the rollback of" in capsys.readouterr().out
    assert stages(sm)[second] == ["AWSCURRENT"]
    assert all(rc.ROLLED_BACK not in labels for labels in stages(sm).values())


def test_rollback_to_an_unknown_version_or_the_current_one(sm: Any, capsys: pytest.CaptureFixture[str]) -> None:
    _first, _second, third = three_versions(sm)
    client = SecretsClient("us-east-1")
    with pytest.raises(SecretsError) as caught:
        rc.cmd_rollback(args(to_version="00000000-0000-4000-8000-000000000000"), client, Output(as_json=False))
    assert caught.value.code == "UnknownVersion" and f"describe --name {NAME}" in caught.value.hint
    assert rc.cmd_rollback(args(to_version=third), client, Output(as_json=False)) == 0
    assert "nothing to do" in capsys.readouterr().out
    assert stages(sm)[third] == ["AWSCURRENT"]


def test_rollback_refuses_while_a_version_holds_awspending(sm: Any) -> None:
    _first, second, third = three_versions(sm)
    pending = sm.put_secret_value(
        SecretId=NAME, SecretString=canary_secret_string(MILVUS_PORT="3"), VersionStages=["AWSPENDING"]
    )["VersionId"]
    with pytest.raises(SecretsError) as caught:
        rc.cmd_rollback(args(), SecretsClient("us-east-1"), Output(as_json=False))
    assert caught.value.code == "RotationInProgress"
    # The hint names the real secret and version, not <name>/<id>.
    assert f"--secret-id {NAME} --version-stage AWSPENDING --remove-from-version-id {pending}" in caught.value.hint
    assert "<name>" not in caught.value.hint and "<id>" not in caught.value.hint
    assert stages(sm)[third] == ["AWSCURRENT"] and stages(sm)[second] == ["AWSPREVIOUS"]


def test_rollback_without_a_previous_version(sm: Any) -> None:
    sm.create_secret(Name=NAME, SecretString=canary_secret_string())
    with pytest.raises(SecretsError) as caught:
        rc.cmd_rollback(args(), SecretsClient("us-east-1"), Output(as_json=False))
    assert caught.value.code == "NoPreviousVersion" and "describe" in caught.value.hint


def test_rollback_does_not_undo_a_change_made_while_it_ran(sm: Any) -> None:
    """Another operator puts a version between our read of the versions and our move: ours must fail."""
    sm.create_secret(Name=NAME, SecretString=canary_secret_string())
    sm.put_secret_value(SecretId=NAME, SecretString=canary_secret_string(MILVUS_PORT="1"))
    client = SecretsClient("us-east-1")
    original_list = client.list_versions
    theirs: list[str] = []

    def racing_list(name: str) -> dict[str, list[str]]:
        meta = original_list(name)
        if not theirs:  # the other operator acts once, right after our first look
            other = canary_secret_string(MILVUS_PORT="2")
            theirs.append(sm.put_secret_value(SecretId=name, SecretString=other)["VersionId"])
        return meta

    client.list_versions = racing_list  # type: ignore[method-assign]
    with pytest.raises(SecretsError) as caught:
        rc.cmd_rollback(args(), client, Output(as_json=False))
    assert caught.value.code == "CurrentVersionMoved" and caught.value.hint
    assert sm.get_secret_value(SecretId=NAME, VersionStage="AWSCURRENT")["VersionId"] == theirs[0]


class LostAnswer:
    """A client whose first UpdateSecretVersionStage is applied, but whose answer is lost, so
    botocore's retry meets a label that has already moved (review finding)."""

    def __init__(self, client: SecretsClient) -> None:
        self.client = client
        self.moves = 0

    def move_stage(self, name: str, stage: str, *, to_version: str, from_version: str | None) -> None:
        self.moves += 1
        self.client.move_stage(name, stage, to_version=to_version, from_version=from_version)
        # The retry of the same request: AWSCURRENT is no longer on from_version.
        self.client.move_stage(name, stage, to_version=to_version, from_version=from_version)


def test_rotate_reports_success_when_the_retry_of_an_applied_promotion_fails(sm: Any) -> None:
    sm.create_secret(Name=NAME, SecretString=canary_secret_string())
    client = SecretsClient("us-east-1")
    lossy = LostAnswer(SecretsClient("us-east-1"))
    client.move_stage = lossy.move_stage  # type: ignore[method-assign]
    out = Output(as_json=True)
    assert rc.cmd_rotate(args(key="APP_SECRET_KEY"), client, out) == 0
    assert lossy.moves == 1 and stages(sm)[out.document["version_id"]] == ["AWSCURRENT"]


def test_an_interrupted_rotate_leaves_no_awspending(sm: Any) -> None:
    sm.create_secret(Name=NAME, SecretString=canary_secret_string())
    client = SecretsClient("us-east-1")

    def interrupted(*_: Any, **__: Any) -> None:
        raise KeyboardInterrupt

    client.move_stage = interrupted  # type: ignore[method-assign]
    with pytest.raises(KeyboardInterrupt):
        rc.cmd_rotate(args(key="APP_SECRET_KEY"), client, Output(as_json=True))
    assert not any("AWSPENDING" in s for s in stages(sm).values()), stages(sm)


@pytest.mark.parametrize(
    ("bad", "code"),
    [
        (canary_secret_string(OPENAI_API_KEY="<YOUR_OPENAI_API_KEY>"), "PlaceholderValue"),
        (
            json.dumps({k: v for k, v in json.loads(canary_secret_string()).items() if k != "APP_SECRET_KEY"}),
            "MissingRequiredKeys",
        ),
        (canary_secret_string(MILVUS_PORT="٨٠"), "InvalidSecretValue"),
    ],
)
@pytest.mark.parametrize("explicit", [True, False], ids=["to-version", "awsprevious"])
def test_rollback_refuses_a_version_the_service_would_refuse(sm: Any, bad: str, code: str, explicit: bool) -> None:
    """Issue 29, item 6: rollback promoted any version; push and rotate refuse these values."""
    old = sm.create_secret(Name=NAME, SecretString=bad)["VersionId"]
    good = sm.put_secret_value(SecretId=NAME, SecretString=canary_secret_string())["VersionId"]
    before = stages(sm)
    with pytest.raises(SecretsError) as caught:
        rc.cmd_rollback(args(to_version=old if explicit else None), SecretsClient("us-east-1"), Output(as_json=False))
    assert caught.value.code == code, caught.value
    assert f"AWSCURRENT is still {good}" in caught.value.hint and old in caught.value.message
    assert stages(sm) == before and before[good] == ["AWSCURRENT"]
    assert leaked(caught.value.message, caught.value.hint) == []
