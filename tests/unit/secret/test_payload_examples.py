"""The repository's example credentials, known to the service by fingerprint (issue 21, item 4).

The image carries `src/` but not `infra/`: the service knows the secret-bearing example values
of infra/iam/secret-structure-example.json only as sha256 fingerprints kept in
src/secret/values.py. This test keeps them equal to the file, so editing the example without
updating them fails here.
"""

from __future__ import annotations

import json
from pathlib import Path

from src.secret.payload import parse_secret
from src.secret.values import EXAMPLE_FINGERPRINTS, example_fingerprints, example_keys, known_example_keys
from tests.support.canary import CANARY_VALUES, SERVICE_ACCOUNT

EXAMPLE_FILE = Path(__file__).resolve().parents[3] / "infra/iam/secret-structure-example.json"


def example_values() -> dict[str, str]:
    return dict(parse_secret(EXAMPLE_FILE.read_text(encoding="utf-8")).values)


def test_the_fingerprints_are_those_of_the_example_file() -> None:
    assert dict(EXAMPLE_FINGERPRINTS) == example_fingerprints(example_values())
    assert set(EXAMPLE_FINGERPRINTS) == {
        "APP_SECRET_KEY",
        "OPENAI_API_KEY",
        "PINECONE_API_KEY",
        "GOOGLE_APPLICATION_CREDENTIALS_JSON.private_key",
        "GOOGLE_APPLICATION_CREDENTIALS_JSON.private_key_id",
    }


def test_known_example_keys_agree_with_the_file_rule() -> None:
    example = example_values()
    assert known_example_keys(example) == example_keys(example, example) != []
    mixed = {**example, "OPENAI_API_KEY": CANARY_VALUES["OPENAI_API_KEY"]}
    assert known_example_keys(mixed) == example_keys(mixed, example)
    assert "OPENAI_API_KEY" not in known_example_keys(mixed) and "APP_SECRET_KEY" in known_example_keys(mixed)


def test_only_secret_bearing_values_count() -> None:
    example = example_values()
    # The port, the host, the project id and Google's standard URIs may equal the example's: real values.
    real = {**CANARY_VALUES, "GOOGLE_APPLICATION_CREDENTIALS_JSON": json.dumps(SERVICE_ACCOUNT)}
    real.update({k: example[k] for k in ("MILVUS_PORT", "MILVUS_HOST", "GCP_PROJECT_ID")})
    assert known_example_keys(real) == []
    # Only the service account's private key left at the example's: named by its field.
    example_sa = json.loads(example["GOOGLE_APPLICATION_CREDENTIALS_JSON"])
    sa = {**SERVICE_ACCOUNT, "private_key": example_sa["private_key"]}
    assert known_example_keys({**real, "GOOGLE_APPLICATION_CREDENTIALS_JSON": json.dumps(sa)}) == [
        "GOOGLE_APPLICATION_CREDENTIALS_JSON.private_key"
    ]
    # A near miss is not the example value (whole values only).
    assert known_example_keys({"APP_SECRET_KEY": example["APP_SECRET_KEY"] + " "}) == []
