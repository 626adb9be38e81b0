"""The log mask's cost per line, whatever the secret holds (issue 19), for `make bench`.

Every log line goes through the mask. Issue 19 found that a valid 64 KiB version made of
thousands of short PEM-like lines made each masked line ~300x slower (one regex
alternation of every form of every value). The target: a line costs at most 2x what a
typical line cost before, with a typical secret.

Measured in one process, interleaved, median of the runs:
- today's mask (src.telemetry.mask, built by src.loading.masking.log_mask as a load builds it) with a typical
  secret (the canary) and with a 64 KiB secret of many short PEM-like lines;
- the mask as it was before issue 19 (every parsed value of 4+ characters, each
  service-account field and PEM line, in one regex alternation: reproduced below) with
  the typical secret: "the old typical line", the judged reference.
The line is a typical JSON access line with no secret in it (the common case); a line
holding a credential (the slow path) is reported for information.
"""

from __future__ import annotations

import json
import re
import statistics
import time
from collections.abc import Callable, Iterable
from typing import Any

from src.loading.masking import log_mask
from src.secret.payload import parse_secret
from src.telemetry.mask import SecretMasker
from tests.support.canary import CANARY_VALUES, SERVICE_ACCOUNT, canary_secret_string

SECTION = "log mask"
LINE = json.dumps(
    {
        "time": "2026-03-01 10:00:00,123",
        "level": "INFO",
        "logger": "uvicorn.access",
        "message": '10.0.3.17:51234 - "GET /v1/search?q=vector+index&limit=20 HTTP/1.1" 200',
    }
)


def short_line_secret(line_length: int = 16) -> str:
    """A valid version just under 64 KiB: the private key is thousands of `line_length` lines."""

    def payload(count: int) -> str:
        body = "\n".join((f"M{n:07d}q" * 8)[:line_length] for n in range(count))
        key = f"-----BEGIN PRIVATE KEY-----\n{body}\n-----END PRIVATE KEY-----\n"
        return canary_secret_string(GOOGLE_APPLICATION_CREDENTIALS_JSON={**SERVICE_ACCOUNT, "private_key": key})

    count = (65536 - len(payload(0).encode())) // (line_length + 2)
    return payload(count)


def legacy_mask(values: Iterable[str]) -> Callable[[str], str]:
    """The mask before issue 19 (src/logs.py at 5a0d3eb), JSON mode: one alternation of the
    JSON-escaped forms of every value, its service-account fields and PEM lines, 4+ characters."""
    forms: set[str] = set()
    for value in values:
        parts = [value]
        if value.startswith("{"):
            data = json.loads(value)
            public = {"type", "auth_uri", "token_uri", "auth_provider_x509_cert_url", "universe_domain"}
            for name, field in data.items():
                if isinstance(field, str) and name not in public:
                    parts.append(field)
                    parts.extend(line for line in field.splitlines() if "-----" not in line)
        for fragment in parts:
            for form in (fragment, repr(fragment)[1:-1]):
                forms.update({json.dumps(form)[1:-1], json.dumps(form, ensure_ascii=False)[1:-1]})
    ordered = sorted((f for f in forms if len(f) >= 4), key=len, reverse=True)
    pattern = re.compile("|".join(map(re.escape, ordered)))
    string = re.compile(r'"(?:[^"\\]|\\.)*"')

    def mask(line: str) -> str:
        if not pattern.search(line):
            return line
        return string.sub(lambda m: pattern.sub("***", m.group(0)), line)

    return mask


def masker_for(secret: str) -> tuple[SecretMasker, float]:
    """The mask a load of `secret` installs, and the ms it took to build (in prepare)."""
    values = parse_secret(secret).values
    started = time.perf_counter()
    mask = log_mask([values])
    built_ms = (time.perf_counter() - started) * 1000
    masker = SecretMasker()
    masker.install(mask)
    return masker, built_ms


def per_line_us(mask: Callable[[str], str], line: str, lines: int) -> float:
    started = time.perf_counter()
    for _ in range(lines):
        mask(line)
    return (time.perf_counter() - started) / lines * 1e6


def add_rows(add_ratio: Callable[..., None], *, runs: int, smoke: bool, details: dict[str, Any]) -> None:
    """Append the mask rows through the benchmark's `add_ratio`."""
    typical = canary_secret_string()
    heavy_secret = short_line_secret()
    typical_mask, typical_ms = masker_for(typical)
    heavy_mask, heavy_ms = masker_for(heavy_secret)
    old = legacy_mask(parse_secret(typical).values.values())
    credential_line = json.dumps({"level": "ERROR", "message": f"boom {CANARY_VALUES['OPENAI_API_KEY']}"})
    lines = 2_000 if smoke else 20_000
    cases: dict[str, tuple[Callable[[str], str], str]] = {
        "new, typical": (typical_mask.mask_json, LINE),
        "new, 64 KiB short lines": (heavy_mask.mask_json, LINE),
        "old, typical": (old, LINE),
        "new, 64 KiB short lines, credential line": (heavy_mask.mask_json, credential_line),
        "old, typical, credential line": (old, credential_line),
    }
    results: dict[str, list[float]] = {name: [] for name in cases}
    names = list(cases)
    for i in range(max(runs, 3)):
        for name in names[i % len(names) :] + names[: i % len(names)]:
            mask, line = cases[name]
            results[name].append(per_line_us(mask, line, lines))
    details["mask_us_per_line"] = results
    details["mask_build_ms"] = {"typical": round(typical_ms, 2), "64 KiB short lines": round(heavy_ms, 2)}
    heavy = results["new, 64 KiB short lines"]
    note = (
        f"mask forms: {heavy_mask.current.count} vs {typical_mask.current.count}; "
        f"built in prepare in {heavy_ms:.0f} ms vs {typical_ms:.1f} ms"
    )
    add_ratio(
        SECTION, "mask per JSON line, 64 KiB secret of short lines (us)", heavy, results["old, typical"],
        "old mask, typical secret", "<= 2.0", 2.0, note=note,
    )  # fmt: skip
    add_ratio(
        SECTION, "mask per JSON line, 64 KiB secret of short lines (us)", heavy, results["new, typical"],
        "new mask, typical secret", "info", None,
    )  # fmt: skip
    add_ratio(
        SECTION, "mask per JSON line holding a credential (us)",
        results["new, 64 KiB short lines, credential line"], results["old, typical, credential line"],
        "old mask, typical secret", "info", None,
    )  # fmt: skip
    if statistics.median(heavy) <= 0:
        raise RuntimeError("the mask measurement measured nothing")
