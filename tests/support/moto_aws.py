"""moto, made to behave as AWS where the tests rely on it: `patch()` in-process (tests/conftest.py
applies it to every test), `python -m tests.support.moto_aws -H ... -p ...` as a moto_server
(tests.support.processes.start_moto runs it).

Secrets Manager's versions without a staging label ("deprecated"):
- DescribeSecret's VersionIdsToStages is "A list of the versions of the secret that have staging
  labels attached. Versions that don't have staging labels are considered deprecated and Secrets
  Manager can delete them" (Secrets Manager API reference, DescribeSecret, Response Elements);
  ListSecrets' SecretVersionsToStages likewise lists the assigned labels. moto 5.2 lists every
  version, labelled or not, so code that looked a deprecated version up there passed the tests
  and failed on AWS with UnknownVersion (issue 28 item 5).
- ListSecretVersionIds: "IncludeDeprecated: Specifies whether to include versions of secrets that
  don't have any staging labels attached to them. ... By default, versions without staging labels
  aren't included", and it pages with MaxResults and NextToken (API reference,
  ListSecretVersionIds). moto ignores both and returns every version in one page; and it answers
  an unknown secret with a 500 where AWS says ResourceNotFoundException.
"""

from __future__ import annotations

import json
import sys
from typing import Any

_PATCHED = "_short_cut_aws_behaviour"


def patch() -> None:
    """Apply the AWS behaviour above to moto's Secrets Manager (idempotent)."""
    from moto.secretsmanager.models import FakeSecret
    from moto.secretsmanager.responses import SecretsManagerResponse

    if getattr(FakeSecret, _PATCHED, False):
        return

    def labelled_only(self: Any) -> dict[str, Any]:
        return {vid: v["version_stages"] for vid, v in self.versions.items() if v.get("version_stages")}

    def list_secret_version_ids(self: Any) -> str:
        # moto answers an unknown secret with a 500 (a KeyError); AWS with ResourceNotFoundException.
        self.backend.describe_secret(self._get_param("SecretId", if_none=""))
        answer = json.loads(ORIGINAL_LIST(self))
        versions = answer.get("Versions", [])
        if not self._get_bool_param("IncludeDeprecated", False):
            versions = [v for v in versions if v.get("VersionStages")]
        size = int(self._get_param("MaxResults") or 100)
        start = int(self._get_param("NextToken") or 0)
        answer["Versions"] = versions[start : start + size]
        answer.pop("NextToken", None)
        if start + size < len(versions):
            answer["NextToken"] = str(start + size)
        return json.dumps(answer)

    ORIGINAL_LIST = SecretsManagerResponse.list_secret_version_ids
    FakeSecret._form_version_ids_to_stages = labelled_only  # type: ignore[method-assign]
    SecretsManagerResponse.list_secret_version_ids = list_secret_version_ids  # type: ignore[method-assign]
    setattr(FakeSecret, _PATCHED, True)


def main() -> None:
    patch()
    from moto.server import main as moto_main

    moto_main(sys.argv[1:])


if __name__ == "__main__":
    main()
