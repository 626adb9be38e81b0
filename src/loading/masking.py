"""Which values a load's log mask holds: the service's rule, shared by the service and the CLI.

Credentials only (src.secret.values.credentials decides which values those are), this load's
first, then the previous load's (a rotation's old key stays masked while it may still appear),
then the PEM body lines; the values of keys the service ignores are not credentials unless
SECRETS_EXTRA_KEYS lists them. src.telemetry.mask builds and applies the mask; the loader calls
`log_mask` in prepare; the CLI (src.cli.target) uses `credential_groups` with its own target
protected. Standard library and src.secret/src.telemetry only, so the CLI imports it cheaply.

The mask fails closed. Every form of this load's credentials (`current`: the version being
loaded, and the previous APP_SECRET_KEY the config still accepts) is required: if one does not
fit the mask's budget (src.telemetry.mask: MAX_FORMS forms, MAX_MASK_CHARS characters),
`log_mask` raises MaskBudgetExceeded naming the keys (never a value), in prepare, so the version
is refused whole and the last good one keeps serving. Only the previous load's forms (`previous`,
kept for a rotation's overlap) may be dropped, with a WARNING at commit.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence

from src.errors import ErrorCode, SecretsError
from src.secret.keys import SERVICE_ACCOUNT_KEY
from src.secret.values import credentials
from src.telemetry import mask as bounds
from src.telemetry.mask import MIN_MASKED_LENGTH, MIN_PEM_LINE_LENGTH, Mask, build_mask

__all__ = ["credential_groups", "log_mask"]


def log_mask(
    current: Sequence[Mapping[str, str]],
    previous: Sequence[Mapping[str, str]] = (),
    *,
    extra: frozenset[str] = frozenset(),
    protected: Iterable[str] = (),
    secret_name: str | None = None,
) -> Mask:
    """The mask of a load: every form of this load's credentials and PEM body lines (required),
    then the previous load's (src.telemetry.mask); `protected` strings (names, versions, the task)
    never masked inside. The values of keys the service ignores are not credentials unless
    SECRETS_EXTRA_KEYS (`extra`) lists them: they are never applied nor logged, and masking them
    would rewrite ordinary words. Raises MaskBudgetExceeded (`secret_name` on it) when a form of
    this load's credentials does not fit."""
    groups, lines = credential_groups(current, previous, extra=extra)
    mask = build_mask(groups, lines=lines, protected=protected, required=1)
    if mask.unfit:
        raise SecretsError(
            ErrorCode.MaskBudgetExceeded,
            f"the log mask cannot hold every form of {', '.join(_names(current, mask.unfit, extra))}: "
            f"it holds at most {bounds.MAX_FORMS} forms of {bounds.MAX_MASK_CHARS} characters in all, "
            "and this version's credentials need more",
            secret_name=secret_name,
        )
    return mask


def _names(current: Sequence[Mapping[str, str]], unfit: tuple[str, ...], extra: frozenset[str]) -> list[str]:
    """The keys whose values (or the private key's PEM lines) did not fit; never a value."""
    found = [credentials(values, extra=extra) for values in current]
    left = set(unfit)
    names = [name for one in found for value, name in zip(one.values, one.names, strict=True) if value in left]
    if any(line in left for one in found for line in one.pem_lines):
        names.append(f"{SERVICE_ACCOUNT_KEY}.private_key (its PEM lines)")
    return sorted(dict.fromkeys(names)) or ["this version's credentials"]


Groups = list[tuple[list[str], int]]


def credential_groups(
    current: Sequence[Mapping[str, str]],
    previous: Sequence[Mapping[str, str]] = (),
    *,
    extra: frozenset[str] = frozenset(),
) -> tuple[Groups, Groups]:
    """The credentials of `current` then `previous` (`groups`), and their PEM body lines (`lines`),
    each with its minimum length: what `build_mask` takes (the service's mask and the CLI's)."""
    mine = [credentials(values, extra=extra) for values in current]
    before = [credentials(values, extra=extra) for values in previous]
    groups = [
        ([value for found in generation for value in found.values], MIN_MASKED_LENGTH) for generation in (mine, before)
    ]
    lines = [
        ([value for found in generation for value in found.pem_lines], MIN_PEM_LINE_LENGTH)
        for generation in (mine, before)
    ]
    return groups, lines
