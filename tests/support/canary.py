"""Distinctive secret values for every key, and one helper that searches text for the credentials.

Credentials (the API keys, APP_SECRET_KEY, the private key, its lines and its id) must never
appear anywhere. Identifiers (the project id, the Milvus host and port, the service account's
e-mail, client id and URIs) may: they name things and grant nothing, and the service does
not mask them (issue 19). `leaked()` takes them out of a text before it hunts.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable

CANARY_PRIVATE_KEY = (
    "-----BEGIN PRIVATE KEY-----\n"
    "CANARYpkLINEoneQ7f3kZr9XwV2mN8bT4yH6uJ1cL0sD5aE3gR7iO9pK2qW\n"
    "CANARYpkLINEtwoM4nB8vC1xZ6lK3jH9gF2dS5aP7oI0uY4tR8eW1qQ3mN\n"
    "-----END PRIVATE KEY-----\n"
)

SERVICE_ACCOUNT = {
    "type": "service_account",
    "project_id": "canary-gcp-project-7q2x",
    "private_key_id": "canarypkid0f9e8d7c6b5a4",
    "private_key": CANARY_PRIVATE_KEY,
    "client_email": "canary-sa-5k9w@canary-gcp-project-7q2x.iam.gserviceaccount.com",
    "client_id": "104729000000000000017",
    "auth_uri": "https://accounts.google.com/o/oauth2/auth",
    "token_uri": "https://oauth2.googleapis.com/token",
    "auth_provider_x509_cert_url": "https://www.googleapis.com/oauth2/v1/certs",
    "client_x509_cert_url": "https://www.googleapis.com/robot/v1/metadata/x509/canary-sa-5k9w",
}

CANARY_VALUES: dict[str, str] = {
    "OPENAI_API_KEY": "sk-CANARYopenai-7f3kZr9XwV2mN8bT",
    "PINECONE_API_KEY": "pcsk_CANARYpinecone-4yH6uJ1cL0sD",
    "GCP_PROJECT_ID": "canary-gcp-project-7q2x",
    "APP_SECRET_KEY": "CANARYappsecret-5aE3gR7iO9pK2qWzz",
    "MILVUS_HOST": "canary-milvus-9d8c.internal",
    "MILVUS_PORT": "47913",
}


def canary_payload(**overrides: object) -> dict[str, object]:
    payload: dict[str, object] = {**CANARY_VALUES, "GOOGLE_APPLICATION_CREDENTIALS_JSON": SERVICE_ACCOUNT}
    payload.update(overrides)
    return payload


def canary_secret_string(**overrides: object) -> str:
    return json.dumps(canary_payload(**overrides))


CREDENTIAL_KEYS = ("OPENAI_API_KEY", "PINECONE_API_KEY", "APP_SECRET_KEY")
IDENTIFIERS = (
    CANARY_VALUES["GCP_PROJECT_ID"],
    CANARY_VALUES["MILVUS_HOST"],
    CANARY_VALUES["MILVUS_PORT"],
    SERVICE_ACCOUNT["project_id"],
    SERVICE_ACCOUNT["client_email"],
    SERVICE_ACCOUNT["client_id"],
    SERVICE_ACCOUNT["client_x509_cert_url"],
)
# Longest first, so the e-mail goes whole before the project id inside it.
_IDENTIFIER = re.compile("|".join(map(re.escape, sorted(set(IDENTIFIERS), key=len, reverse=True))), re.IGNORECASE)


def _needles() -> list[str]:
    needles = [CANARY_VALUES[key] for key in CREDENTIAL_KEYS]
    needles.append(SERVICE_ACCOUNT["private_key_id"])
    needles += [line for line in CANARY_PRIVATE_KEY.splitlines() if "-----" not in line]
    # Any fragment of a credential: every credential above holds "canary", no identifier is left to.
    needles.append("CANARY")
    return needles


def leaked(*texts: str | bytes | Iterable[str]) -> list[str]:
    """Every credential canary found in the given texts (an empty list means nothing leaked).
    Identifiers are allowed, so they are taken out first."""
    found: set[str] = set()
    for text in texts:
        if isinstance(text, bytes):
            text = text.decode("utf-8", "replace")
        if not isinstance(text, str):
            text = "\n".join(text)
        text = _IDENTIFIER.sub("<identifier>", text)
        for needle in _needles():
            if needle in text or needle.lower() in text.lower():
                found.add(needle)
    return sorted(found)
