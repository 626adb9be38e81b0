"""The log mask: which values are masked in a log line, in which forms, and where never.

Used by src.telemetry.logs (the formatter applies it to each rendered line) and built by
src.loading.loader in prepare. Standard library and ahocorasick-rs only.

What is masked, and what never is:
- Credentials only (`src.secret.values.credentials` says which values those are): the
  API keys, APP_SECRET_KEY (and a previous one the config still accepts), the service
  account's private_key (whole, and each PEM body line of at least `MIN_PEM_LINE_LENGTH`
  characters) and private_key_id, and every key listed in SECRETS_EXTRA_KEYS. The values
  of keys the service ignores are not masked: they are never applied nor logged, and an
  ordinary value (`us-east-1`) would otherwise rewrite every line. Identifiers (the project
  id, Milvus host and port, the service account's e-mail and URIs) are not masked.
- Never inside a protected string: the secret names, version ids and task ARN that identify
  what a line is about. A hit lying strictly inside one is dropped; a credential that
  reaches past one (contains it) or equals it is masked whole (credentials win). Identity fields
  (`version_id` of an event not yet loaded, ...) are not protected by name: the mask holds
  credentials only, which are masked everywhere. A JSON line keeps its structure: only the contents of strings change,
  and the record's own field names (top-level keys) never do; a nested key is masked like
  a value.

A `Mask` is immutable and compiled once, in prepare, off the event loop
(`build_mask`); the commit installs it by a reference swap (`SecretMasker.install`).
It holds at most `MAX_FORMS` forms of at most `MAX_MASK_CHARS` characters in all, filled by
priority: first the `required` groups (the version being loaded: the plain form of every
credential, then the private key's PEM body lines, then every escaped form of them, the
private key's JSON-escaped forms included), then the rest (the previous version's) in the
same order. A required value with a form that does not fit is named in `Mask.unfit`: the
loader refuses such a version whole (MaskBudgetExceeded, src.loading.masking), so a
credential is never served with a partial mask. Only the rest may be dropped (`dropped`).
The search is one Aho-Corasick pass (ahocorasick-rs), so a line
with no credential in it costs the same however many forms the mask holds.

(A little over 250 lines: one concept, the mask and its bounds; the formatters that apply it
are src.telemetry.logs.)
"""

from __future__ import annotations

import json
import re
import threading
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field

import ahocorasick_rs

MASK = "***"
# Shorter values are not masked: masking "1" or "true" would garble every line.
MIN_MASKED_LENGTH = 4
# A PEM body line on its own: real keys have 64-character lines; a short last line says little.
MIN_PEM_LINE_LENGTH = 16
# Bounds on one mask, whatever the secret holds (a 64 KiB version, two versions kept).
MAX_FORMS = 4096
MAX_MASK_CHARS = 512 * 1024
DFA_MAX_CHARS = 8 * 1024


def forms(value: str) -> set[str]:
    """The ways a formatter may write `value`: as it is, repr-escaped, JSON-escaped (ASCII or not)."""
    # repr writes ' as \' when the enclosing string holds a " too (repr of a longer text, %r of a
    # list): that form is the value's repr inside single quotes, the suffix forcing them.
    found = {value, repr(value)[1:-1], repr(value + "\"'")[1:-4]}
    for form in tuple(found):
        found.add(json.dumps(form)[1:-1])
        found.add(json.dumps(form, ensure_ascii=False)[1:-1])
    return found


@dataclass(frozen=True)
class Mask:
    """A compiled, immutable mask. Repr shows counts only."""

    count: int = 0
    dropped: int = 0
    protected: tuple[str, ...] = field(default=(), repr=False)
    automaton: ahocorasick_rs.AhoCorasick | None = field(default=None, repr=False, compare=False)
    # What it was built from, so the CLI can add to it (`SecretMasker.add`).
    groups: tuple[tuple[tuple[str, ...], int], ...] = field(default=(), repr=False, compare=False)
    lines: tuple[tuple[tuple[str, ...], int], ...] = field(default=(), repr=False, compare=False)
    # Required values (see build_mask) with a form that did not fit: the caller refuses the mask.
    unfit: tuple[str, ...] = field(default=(), repr=False, compare=False)

    def spans(self, text: str) -> list[tuple[int, int]]:
        """The merged spans of `text` to hide: every form found, less any hit lying entirely inside
        a protected occurrence. A hit reaching past one (a credential that contains a secret name)
        is masked whole: credentials win."""
        automaton = self.automaton
        if automaton is None:
            return []
        # The common case, no credential in the line: one non-overlapping pass (the fastest).
        if not automaton.find_matches_as_indexes(text):
            return []
        hits = automaton.find_matches_as_indexes(text, overlapping=True)
        guarded = [(at, at + len(p)) for p in self.protected for at in _occurrences(text, p)]
        merged: list[tuple[int, int]] = []
        for start, end in sorted((s, e) for _, s, e in hits):
            # Strictly inside: a credential exactly equal to a protected string is still a credential.
            if any(g_start <= start and end <= g_end and end - start < g_end - g_start for g_start, g_end in guarded):
                continue
            if merged and start <= merged[-1][1]:
                merged[-1] = (merged[-1][0], max(end, merged[-1][1]))
            else:
                merged.append((start, end))
        return merged


EMPTY_MASK = Mask()


def _occurrences(text: str, needle: str) -> Iterable[int]:
    at = text.find(needle)
    while at != -1:
        yield at
        at = text.find(needle, at + 1)


Group = tuple[tuple[str, ...], int]


def build_mask(
    groups: Sequence[tuple[Iterable[str], int]],
    *,
    lines: Sequence[tuple[Iterable[str], int]] = (),
    protected: Iterable[str] = (),
    required: int = 0,
) -> Mask:
    """Compile a mask from `(values, minimum length)` groups, in priority order.

    Forms go in while the bounds allow (MAX_FORMS forms, MAX_MASK_CHARS characters). The first
    `required` groups and `lines` groups go first, in this order: the plain form of every value,
    the plain PEM lines, every escaped form of the values, every escaped form of the lines; a
    required value with a form that does not fit is named in `unfit`. Then the other groups in
    the same order, the old rule: the plain form of every value, then their escaped forms, then
    every form of `lines` (the PEM body lines, which the whole private key already covers in one
    piece). Every value with a form that does not fit is counted in `dropped`. `protected`
    strings are never masked where they occur (see `Mask.spans`).
    """
    kept: tuple[Group, ...] = tuple((tuple(values), minimum) for values, minimum in groups)
    kept_lines: tuple[Group, ...] = tuple((tuple(values), minimum) for values, minimum in lines)
    chosen: dict[str, None] = {}
    short: set[tuple[int, str]] = set()
    chars = 0

    def add(tier: int, value: str, candidates: Iterable[str], minimum: int) -> None:
        nonlocal chars
        new = [f for f in candidates if len(f) >= max(minimum, MIN_MASKED_LENGTH) and f not in chosen]
        size = sum(map(len, new))
        if len(chosen) + len(new) > MAX_FORMS or chars + size > MAX_MASK_CHARS:
            short.add((tier, value))
            return
        chosen.update(dict.fromkeys(new))
        chars += size

    must, must_lines = kept[:required], kept_lines[:required]
    for values, minimum in must:
        for value in values:
            add(-2, value, (value,), minimum)
    for values, minimum in must_lines:
        for value in values:
            add(-1, value, (value,), minimum)
    for values, minimum in must:
        for value in values:
            add(-2, value, _escaped_first(value), minimum)
    for values, minimum in must_lines:
        for value in values:
            add(-1, value, sorted(forms(value) - {value}), minimum)
    unfit = tuple(dict.fromkeys(value for tier, value in sorted(short) if tier < 0))
    rest, rest_lines = kept[required:], kept_lines[required:]
    for values, minimum in rest:
        for value in values:
            add(0, value, (value,), minimum)
    for values, minimum in rest:
        for value in values:
            add(0, value, sorted(forms(value) - {value}), minimum)
    for values, minimum in rest_lines:
        for value in values:
            add(1, value, sorted(forms(value)), minimum)
    dropped = len(short)
    guard = tuple(sorted({p for p in protected if p}, key=len, reverse=True))
    if not chosen:
        return Mask(dropped=dropped, protected=guard, groups=kept, lines=kept_lines, unfit=unfit)
    # A DFA searches fastest but its construction grows with states times byte classes (seconds
    # for a 64 KiB key of CJK text): only for a mask of typical size; past it, the contiguous NFA.
    kind = ahocorasick_rs.Implementation.DFA if chars <= DFA_MAX_CHARS else ahocorasick_rs.Implementation.ContiguousNFA
    automaton = ahocorasick_rs.AhoCorasick(list(chosen), store_patterns=False, implementation=kind)
    return Mask(len(chosen), dropped, guard, automaton, kept, kept_lines, unfit)


def _escaped_first(value: str) -> list[str]:
    """The escaped forms of `value`, the JSON ones (what a JSON log line holds) before the repr ones."""
    escaped = forms(value) - {value}
    json_forms = {json.dumps(value)[1:-1], json.dumps(value, ensure_ascii=False)[1:-1]} & escaped
    return sorted(json_forms) + sorted(escaped - json_forms)


class SecretMasker:
    """Applies the installed `Mask` to a text or a JSON line; the mask is swapped whole."""

    def __init__(self) -> None:
        self._mask = EMPTY_MASK
        self._lock = threading.Lock()

    def __repr__(self) -> str:
        return f"SecretMasker(forms={self._mask.count})"

    @property
    def current(self) -> Mask:
        return self._mask

    def install(self, mask: Mask) -> None:
        """Put a mask built in prepare in use: one reference assignment, nothing compiled here."""
        self._mask = mask

    def add(
        self,
        groups: Sequence[tuple[Iterable[str], int]] = (),
        *,
        lines: Sequence[tuple[Iterable[str], int]] = (),
        protected: Iterable[str] = (),
    ) -> None:
        """Add credentials and protected strings to the mask in use (the CLI's own use: it compiles
        now, so not on an event loop). The service builds whole masks in prepare instead."""
        with self._lock:
            mask = self._mask
            self._mask = build_mask(
                [*mask.groups, *groups], lines=[*mask.lines, *lines], protected=(*mask.protected, *protected)
            )

    def register(self, values: Iterable[str]) -> None:
        """Add values to mask as credentials, whole (a key typed in, a session's AWS keys)."""
        self.add([(tuple(values), MIN_MASKED_LENGTH)])

    def protect(self, *names: str) -> None:
        """Never mask these strings where they occur (the secret the CLI works on)."""
        self.add(protected=names)

    def mask(self, text: str) -> str:
        """Every form, anywhere but in a protected string: for plain text (the text format, the CLI)."""
        spans = self._mask.spans(text)
        if not spans:
            return text
        parts, last = [], 0
        for start, end in spans:
            parts += [text[last:start], MASK]
            last = end
        parts.append(text[last:])
        return "".join(parts)

    def mask_json(self, line: str) -> str:
        """Inside strings only, so the line stays the same JSON document (CloudWatch Logs Insights
        parses it). The record's own field names (the top-level keys) are never touched; a nested
        key is masked like a value. Credentials are masked in every value, the identity fields
        (`secret_name`, `version_id`, ...) included: the mask holds credentials only, and a
        credential is never a name or a version id (the known ones are protected strings).
        A string the mask would leave broken is masked whole."""
        mask = self._mask
        if mask.automaton is None or not mask.automaton.find_matches_as_indexes(line):
            return line
        tokens: list[tuple[int, int, bool]] = []  # (start, end, whether a field name)
        depth, last = 0, 0
        for token in _JSON_STRING.finditer(line):
            start, end = token.span()
            between = line[last:start]
            depth += between.count("{") + between.count("[") - between.count("}") - between.count("]")
            last = end
            tokens.append((start, end, depth == 1 and _is_key(line, end)))
        spans = mask.spans(line)
        if not spans:
            return line
        out, last = [], 0
        for start, end, is_field in tokens:
            inside = [(max(s, start + 1), min(e, end - 1)) for s, e in spans if s < end - 1 and start + 1 < e]
            if not inside or is_field:
                continue
            out += [line[last:start], _masked_token(line[start:end], [(s - start, e - start) for s, e in inside])]
            last = end
        out.append(line[last:])
        return "".join(out)


_JSON_STRING = re.compile(r'"(?:[^"\\]|\\.)*"')


def _is_key(line: str, end: int) -> bool:
    """Whether the string token ending at `end` is an object key (followed by a colon)."""
    rest = line[end : end + 8].lstrip()
    return rest.startswith(":")


def _masked_token(token: str, spans: list[tuple[int, int]]) -> str:
    parts, last = [], 0
    for start, end in spans:
        parts += [token[last:start], MASK]
        last = end
    parts.append(token[last:])
    masked = "".join(parts)
    try:
        json.loads(masked)
    except ValueError:
        # A span began or ended inside an escape sequence (the "n" of "\n..."): mask the whole string.
        return json.dumps(MASK)
    return masked


masker = SecretMasker()
