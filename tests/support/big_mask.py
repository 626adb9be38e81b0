"""The secret of issue 27 that filled the log mask: valid, within the 64 KiB limit, and yet its
APP_SECRET_KEY alone has more forms than the mask holds.

APP_SECRET_KEY is 59 ASCII characters then 15,404 U+F0000 (a private-use character, 4 bytes in
UTF-8): its plain form is 15,463 characters, its JSON-escaped form 184,907 (each character a
surrogate pair, \\udb80\\udc00), its repr form 154,099 (\\U000f0000) and that repr JSON-escaped
308,139: over the mask's 512 KiB budget together. The SecretString is written as UTF-8, not
ASCII-escaped, so it is 62.7 KB, within Secrets Manager's 65,536 bytes
(https://docs.aws.amazon.com/secretsmanager/latest/userguide/reference_limits.html).
"""

from __future__ import annotations

import json

from tests.support.canary import canary_payload

SECRETS_MANAGER_MAX_BYTES = 65536
BIG_APP_SECRET_KEY = "CANARYbigappkey-" + "k" * 43 + "\U000f0000" * 15404


def big_secret_string() -> str:
    text = json.dumps(canary_payload(APP_SECRET_KEY=BIG_APP_SECRET_KEY), ensure_ascii=False)
    assert len(text.encode("utf-8")) <= SECRETS_MANAGER_MAX_BYTES
    return text
