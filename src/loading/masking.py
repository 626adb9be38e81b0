"""Which values a load's log mask holds: the service's rule, shared by the service and the CLI.

Credentials only (src.secret.values.credentials decides which values those are), this load's
first, then the previous load's (a rotation's old key stays masked while it may still appear),
then the PEM body lines; the values of keys the service ignores are not credentials unless
SECRETS_EXTRA_KEYS lists them. src.telemetry.mask builds and applies the mask; the loader calls
`log_mask` in prepare; the CLI (src.cli.target) uses `credential_groups` with its own target
protected. Standard library and src.secret/src.telemetry only, so the CLI imports it cheaply.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence

from src.secret.values import credentials
from src.telemetry.mask import MIN_MASKED_LENGTH, MIN_PEM_LINE_LENGTH, Mask, build_mask

__all__ = ["credential_groups", "log_mask"]


def log_mask(
    current: Sequence[Mapping[str, str]],
    previous: Sequence[Mapping[str, str]] = (),
    *,
    extra: frozenset[str] = frozenset(),
    protected: Iterable[str] = (),
) -> Mask:
    """The mask of a load: this load's credentials first, then the previous load's, then the PEM
    body lines (src.telemetry.mask); `protected` strings (names, versions, the task) never masked inside.
    The values of keys the service ignores are not credentials unless SECRETS_EXTRA_KEYS (`extra`)
    lists them: they are never applied nor logged, and masking them would rewrite ordinary words."""
    groups, lines = credential_groups(current, previous, extra=extra)
    return build_mask(groups, lines=lines, protected=protected)


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
