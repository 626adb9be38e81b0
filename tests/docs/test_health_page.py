"""docs/health.md explains every field of both /health bodies, every status, and its example
bodies are real bodies (issue 32 §3).

Contract:
- the models (src/web/health_models.py) are the fields' list; they are first held to the bodies
  the service really renders (SecretStatus.full / minimal, HealthRenderer), so a field added to a
  body and not to the models fails too;
- "Fields of the full body" has one row per field path of HealthBody (`secrets.error.code`), and
  "Fields of the minimal body" one per path of MinimalHealthBody, each with its meaning; no row
  names a field that does not exist;
- every value of each Literal (status, source, events.state) is named on the page;
- every JSON block is a body of one of the two models, key for key, with the hint its code carries
  (src/errors.py), and together they show `local`, `ok`, `degraded` and `unavailable`.
"""

from __future__ import annotations

import json
import re
import types
import typing
from typing import Any, Literal

from pydantic import BaseModel

from src.errors import HINTS, ErrorCode, fill_hint
from src.events.source import EventSourceState
from src.secret.status import SecretStatus
from src.web.health import HealthRenderer
from src.web.health_models import EventsHealth, HealthBody, MinimalHealthBody, MinimalSecretsHealth, SecretsHealth
from tests.docs.pages import first_code, page, section, table_rows

TEXT = page("health.md")


def model_of(annotation: Any) -> type[BaseModel] | None:
    """The model inside an annotation (`HealthError | None` -> HealthError), if any."""
    candidates = typing.get_args(annotation) if isinstance(annotation, types.UnionType) else (annotation,)
    for candidate in candidates:
        if isinstance(candidate, type) and issubclass(candidate, BaseModel):
            return candidate
    return None


def paths(model: type[BaseModel], prefix: str = "") -> list[str]:
    found = []
    for name, field in model.model_fields.items():
        found.append(prefix + name)
        inner = model_of(field.annotation)
        if inner is not None:
            found += paths(inner, f"{prefix}{name}.")
    return found


def literals(model: type[BaseModel]) -> set[str]:
    values = set()
    for field in model.model_fields.values():
        for candidate in (field.annotation, *typing.get_args(field.annotation)):
            if typing.get_origin(candidate) is Literal:
                values |= set(typing.get_args(candidate))
        inner = model_of(field.annotation)
        if inner is not None:
            values |= literals(inner)
    return values


def documented(heading: str) -> dict[str, str]:
    return {first_code(cells[0]) or "": cells[2] for cells in table_rows(section(TEXT, heading)) if len(cells) >= 3}


def test_the_models_are_the_bodies_the_service_renders() -> None:
    status = SecretStatus()
    assert set(status.full()) == set(SecretsHealth.model_fields)
    assert set(status.minimal()) == set(MinimalSecretsHealth.model_fields)
    renderer = HealthRenderer(lambda: status, app_env="production", version="0", events=EventSourceState)
    for full, model in ((True, HealthBody), (False, MinimalHealthBody)):
        _, body = renderer.render(full=full)
        document = json.loads(body)
        assert set(document) == set(model.model_fields)
    assert set(EventsHealth.model_fields) == set(json.loads(renderer.render(full=True)[1])["events"])


def test_every_field_of_the_full_body_is_explained() -> None:
    rows = documented("Fields of the full body")
    assert set(paths(HealthBody)) - set(rows) == set(), "fields of the full body the page does not explain"
    assert set(rows) - set(paths(HealthBody)) == set(), "rows for fields the full body does not have"
    assert [p for p, meaning in rows.items() if len(meaning) < 10] == []


def test_every_field_of_the_minimal_body_is_explained() -> None:
    rows = documented("Fields of the minimal body")
    assert set(rows) == set(paths(MinimalHealthBody))
    assert [p for p, meaning in rows.items() if len(meaning) < 10] == []


def test_every_status_source_and_event_state_is_named() -> None:
    named = set(re.findall(r"`([^`]+)`", TEXT))
    assert literals(HealthBody) - named == set()
    statuses = {first_code(cells[0]) for cells in table_rows(section(TEXT, "Statuses"))}
    assert statuses == set(typing.get_args(HealthBody.model_fields["status"].annotation))


def keys_problems(document: Any, model: type[BaseModel], where: str = "") -> list[str]:
    if not isinstance(document, dict):
        return [f"{where or 'body'} is not an object"]
    problems = []
    if set(document) != set(model.model_fields):
        problems.append(f"{where or 'body'}: keys {sorted(document)} != {sorted(model.model_fields)}")
    for name, field in model.model_fields.items():
        inner = model_of(field.annotation)
        if inner is not None and document.get(name) is not None:
            problems += keys_problems(document[name], inner, f"{where}{name}.")
    return problems


def examples() -> list[dict[str, Any]]:
    blocks = re.findall(r"^```json\n(.*?)^```", TEXT, re.MULTILINE | re.DOTALL)
    return [json.loads(block) for block in blocks]


def test_every_example_is_a_real_body() -> None:
    seen = set()
    for document in examples():
        model = MinimalHealthBody if "events" not in document else HealthBody
        model.model_validate(document)
        assert keys_problems(document, model) == [], document
        seen |= {document["status"], document["app_env"]}
        error = document["secrets"]["error"]
        if error is not None and "hint" in error:  # the hint each code really carries
            assert error["hint"] in rendered_hints(error["code"], document["secrets"])
    assert {"local", "ok", "degraded", "unavailable"} <= seen


def rendered_hints(code: str, secrets: dict[str, Any]) -> set[str]:
    """The hints a body may carry for `code`: the generic one with its stand-ins filled as the
    service fills them (src.errors.filled: the one secret's name, the Region), and for
    MissingRequiredKeys the status's own (SecretStatus.problem: local or AWS source)."""
    names = secrets["secret_names"]
    generic = HINTS[code]
    hints = {fill_hint(generic, secret_name=names[0] if len(names) == 1 else None, region=secrets["region"])}
    if code == ErrorCode.MissingRequiredKeys:
        hints = {problem_hint(secrets["source"])}
    return hints


def problem_hint(source: str) -> str:
    status = SecretStatus(loaded=True, source=source, missing=("MILVUS_PORT",))
    problem = status.problem
    assert problem is not None
    return problem.hint


def test_the_hint_rule_itself() -> None:
    secrets = {"secret_names": ["short-cut/prod/app"], "region": "us-east-1", "source": "aws-secrets-manager"}
    assert "short-cut/prod/app" in next(iter(rendered_hints("ResourceNotFoundException", secrets)))
    assert HINTS["ResourceNotFoundException"] not in rendered_hints("ResourceNotFoundException", secrets)
    assert "Local mode" in next(iter(rendered_hints("MissingRequiredKeys", {**secrets, "source": "environment"})))


def test_the_key_check_itself() -> None:
    body = json.loads(json.dumps(examples()[0]))
    del body["secrets"]["age_seconds"]
    assert keys_problems(body, HealthBody) != []
