"""What an event is: `Secret Label Updated` as EventBridge puts it on the queue, parsed and bounded,
and the memory of the ids already handled.

The contract (which events wake a refresh and why the ids are remembered) is in src.events.source,
the loop that uses these. Standard library only, plus src.aws.client (the AWSCURRENT label) and
src.errors.
"""

from __future__ import annotations

import hashlib
import json
import re
import time
from collections import OrderedDict
from collections.abc import Callable, Mapping
from dataclasses import dataclass

from src.aws.client import CURRENT

__all__ = ["MalformedEvent", "SecretEvent", "SeenIds", "parse_event", "stale_name"]

SOURCE = "aws.secretsmanager"
DETAIL_TYPE = "Secret Label Updated"
# Remember this many ids, each for this long: far past the queue's 60 s retention.
SEEN_CAPACITY = 4096
SEEN_TTL = 900.0
# An id longer than this (a message body is the sender's to fill) is remembered by its sha256.
MAX_ID_LENGTH = 128
# Secrets Manager version ids are UUIDs (32-64 characters of letters, digits and hyphens, per
# https://docs.aws.amazon.com/secretsmanager/latest/apireference/API_GetSecretValue.html);
# secret names are 1-512 of letters, digits and /_+=.@- (CreateSecret's Name), an ARN up to 2048.
VERSION_ID = re.compile(r"[A-Za-z0-9-]{32,64}")
SECRET_NAME = re.compile(r"[A-Za-z0-9/_+=.@:-]{1,2048}")
LABEL = re.compile(r"[A-Za-z0-9/_+=.@-]{1,256}")


@dataclass(frozen=True)
class SecretEvent:
    """The parts of a `Secret Label Updated` event the service uses; never a value (it carries none)."""

    name: str
    label: str
    version_id: str
    resources: tuple[str, ...] = ()
    event_id: str = ""


class MalformedEvent(ValueError):
    """A `Secret Label Updated` event whose name, label or versionId is not of Secrets Manager's shape."""


def parse_event(body: str) -> SecretEvent | None:
    """The event in an SQS message body as EventBridge delivers it, or None if it is not one.

    Raises MalformedEvent when it claims to be one but its name, label or versionId does not
    have Secrets Manager's shape: nothing of such a body is compared, remembered or logged.
    """
    try:
        event = json.loads(body)
    except (ValueError, RecursionError):
        return None
    if not isinstance(event, dict) or event.get("source") != SOURCE or event.get("detail-type") != DETAIL_TYPE:
        return None
    detail = event.get("detail")
    if not isinstance(detail, dict):
        return None
    name, label, version_id = detail.get("name"), detail.get("labelUpdated"), detail.get("versionId")
    if not all(isinstance(v, str) and v for v in (name, label, version_id)):
        return None
    shapes = ((SECRET_NAME, name), (LABEL, label), (VERSION_ID, version_id))
    if not all(pattern.fullmatch(str(value)) for pattern, value in shapes):
        raise MalformedEvent("name, labelUpdated or versionId")
    raw = event.get("resources")
    resources = tuple(r for r in raw if isinstance(r, str)) if isinstance(raw, list) else ()
    event_id = event.get("id")
    return SecretEvent(str(name), str(label), str(version_id), resources, event_id if isinstance(event_id, str) else "")


def stale_name(event: SecretEvent, names: tuple[str, ...], served: Mapping[str, str]) -> str | None:
    """The served secret this event says has moved on, if any: AWSCURRENT now on another version.

    SECRET_NAME may be a name or an ARN: the event names the secret both ways (`detail.name`,
    `resources`). A name not loaded yet counts as stale (the Supervisor is retrying it anyway).
    """
    if event.label != CURRENT:
        return None
    for name in names:
        if (name == event.name or name in event.resources) and served.get(name) != event.version_id:
            return name
    return None


class SeenIds:
    """Message and event ids already handled: at most `capacity`, each kept `ttl` seconds."""

    def __init__(
        self, capacity: int = SEEN_CAPACITY, ttl: float = SEEN_TTL, clock: Callable[[], float] = time.monotonic
    ) -> None:
        self._ids: OrderedDict[str, float] = OrderedDict()
        self._capacity, self._ttl, self._clock = capacity, ttl, clock

    def __len__(self) -> int:
        return len(self._ids)

    def add(self, *ids: str) -> bool:
        """Remember the ids; True when none of the non-empty ones was known.

        An id over MAX_ID_LENGTH characters is kept as its sha256, so the memory is bounded by
        the capacity whatever the bodies hold."""
        ids = tuple(_bounded(i) for i in ids)
        moment = self._clock()
        while self._ids and (len(self._ids) > self._capacity or next(iter(self._ids.values())) < moment - self._ttl):
            self._ids.popitem(last=False)
        known = [i for i in ids if i]
        fresh = not any(i in self._ids for i in known)
        for i in known:
            self._ids[i] = moment
            self._ids.move_to_end(i)
        while len(self._ids) > self._capacity:
            self._ids.popitem(last=False)
        return fresh


def _bounded(identifier: str) -> str:
    if len(identifier) <= MAX_ID_LENGTH:
        return identifier
    return "sha256:" + hashlib.sha256(identifier.encode("utf-8", "surrogatepass")).hexdigest()
