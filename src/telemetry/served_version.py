"""The served-version record: what one task serves of one secret, the one signal `fleet` reads.

Contract:
- `ServedVersion` is the record: typed, frozen, with a schema version (`SCHEMA`). Fields:
  `event` (always `EVENT`), `schema`, `secret_name`, `version_id` (the version still served;
  None when nothing has been loaded yet), `task_arn` (None outside ECS), `status` (`ok`, or
  `failing` when the last load or refresh failed), `error_code` (None when ok), `reason`
  (`start`, `refresh`, `failure`, `heartbeat`) and `region` (the Region the served version was
  read from).
- `emit()` writes it as one INFO line of the logger `LOGGER` (whatever LOG_LEVEL says), whose message is `EVENT` and the
  record as compact JSON, and whose `extra` is the record's fields: a JSON line (LOG_FORMAT=json,
  what awslogs ships) carries them as top-level keys, a text line carries them in its message.
  The service calls it from one place (src.secrets_manager, `SecretsBootstrapper.report_served`).
- `parse_line()` is the only reader (`fleet` uses it on each row's @message): a whole log line
  in, a record out, None for any line that is not one, `RecordError` for a line that claims
  to be one (the logger and the event) but does not hold a valid record of this schema.
  A JSON line counts only with `logger` = LOGGER and `event` = EVENT as top-level keys (no
  request, message or `extra` of another logger can put them there); a text line only when
  it is exactly what the text formatter writes for LOGGER. Any other line, whatever fields it
  carries (`secret_name`, `version_id`, ...), is not a report.
- Both sides import this module; tests/unit/telemetry/test_served_version.py writes records with
  the service's real formatters (JSON and text) and reads them back with fleet's reader.

Bump `SCHEMA` for any change a reader of the old schema would misread; `parse_line` refuses
(RecordError) a schema it does not know, so fleet shows such a task as UNKNOWN, never current.
"""

from __future__ import annotations

import json
import logging
import re
from collections.abc import Mapping
from dataclasses import asdict, dataclass
from typing import Any, Literal, get_args

SCHEMA = 1
EVENT = "served_version"
LOGGER = "short_cut.served_version"
# How often the service writes a heartbeat record, whatever METRICS says.
HEARTBEAT_INTERVAL = 60.0

Status = Literal["ok", "failing"]
Reason = Literal["start", "refresh", "failure", "heartbeat"]
STATUSES: tuple[str, ...] = get_args(Status)
REASONS: tuple[str, ...] = get_args(Reason)

# The text formatter's line (src.telemetry.logs.formatter): "<asctime> <LEVEL padded> <logger>: <message>".
_TEXT_LINE = re.compile(
    r"\d{4}-\d\d-\d\d \d\d:\d\d:\d\d,\d{3} INFO {4}" + re.escape(LOGGER) + ": " + EVENT + r" (\{.*\})"
)


class RecordError(ValueError):
    """A line that claims to be a served-version record but is not a valid one of SCHEMA."""


@dataclass(frozen=True)
class ServedVersion:
    """What one task serves of one secret, and whether its last load or refresh succeeded."""

    secret_name: str
    version_id: str | None
    task_arn: str | None
    status: Status
    error_code: str | None
    reason: Reason
    region: str | None
    schema: int = SCHEMA
    event: str = EVENT

    def __post_init__(self) -> None:
        if self.event != EVENT or self.schema != SCHEMA:
            raise RecordError(f"not a served-version record of schema {SCHEMA}")
        if not isinstance(self.secret_name, str) or not self.secret_name:
            raise RecordError("secret_name must be a non-empty string")
        for name in ("version_id", "task_arn", "error_code", "region"):
            value = getattr(self, name)
            if value is not None and (not isinstance(value, str) or not value):
                raise RecordError(f"{name} must be a non-empty string or null")
        if self.status not in STATUSES or self.reason not in REASONS:
            raise RecordError("status or reason is not one of the schema's values")
        if (self.status == "ok") != (self.error_code is None):
            raise RecordError("error_code is set exactly when status is failing")

    @property
    def current_ok(self) -> bool:
        """The last load or refresh succeeded (the version served is what the task last confirmed)."""
        return self.status == "ok"

    def fields(self) -> dict[str, Any]:
        """The record as a flat mapping (the JSON line's keys; the text line's JSON)."""
        return asdict(self)

    def to_json(self) -> str:
        return json.dumps(self.fields(), separators=(",", ":"), sort_keys=True)

    @classmethod
    def from_fields(cls, fields: Mapping[str, Any]) -> ServedVersion:
        """A record from its fields; RecordError if they are not exactly this schema's."""
        if fields.get("event") != EVENT:
            raise RecordError("no served-version event")
        if fields.get("schema") != SCHEMA or isinstance(fields.get("schema"), bool):
            raise RecordError(f"schema {fields.get('schema')!r} is not {SCHEMA}")
        try:
            return cls(
                secret_name=fields["secret_name"],
                version_id=fields["version_id"],
                task_arn=fields["task_arn"],
                status=fields["status"],
                error_code=fields["error_code"],
                reason=fields["reason"],
                region=fields["region"],
            )
        except KeyError as missing:
            raise RecordError(f"field {missing} is missing") from None


# The record is written whatever LOG_LEVEL says (WARNING or ERROR would otherwise hide it, and
# fleet would see a running task as silent): the logger's own level decides, and a record that
# propagates to the root's handler is not filtered by the root's level again.
_LOGGER = logging.getLogger(LOGGER)
_LOGGER.setLevel(logging.INFO)


def emit(record: ServedVersion) -> None:
    """Write `record` as one INFO line of LOGGER (the only writer)."""
    _LOGGER.info("%s %s", EVENT, record.to_json(), extra=record.fields())


def parse_line(line: str) -> ServedVersion | None:
    """One log line (JSON or text, as the service writes them) -> its record, or None if it is not one.

    Raises RecordError for a line that claims to be a record (LOGGER and EVENT) but is not a valid one.
    """
    text = line.strip()
    if text.startswith("{"):
        try:
            document = json.loads(text)
        except ValueError:
            return None
        if not isinstance(document, dict) or document.get("logger") != LOGGER or document.get("event") != EVENT:
            return None
        return ServedVersion.from_fields(document)
    match = _TEXT_LINE.fullmatch(text)
    if match is None:
        return None
    try:
        fields = json.loads(match.group(1))
    except ValueError:
        raise RecordError("the record's JSON does not parse") from None
    if not isinstance(fields, dict):
        raise RecordError("the record is not a JSON object")
    return ServedVersion.from_fields(fields)
