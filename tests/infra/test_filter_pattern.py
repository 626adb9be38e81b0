"""The JSON filter-pattern evaluator (tests/infra/filter_pattern.py) against the examples of
"Using filter patterns to match terms in JSON log events" (CloudWatch Logs user guide)."""

from __future__ import annotations

import json

import pytest

from tests.infra.filter_pattern import matches

# The guide's example event, and one of its compound-expression examples.
EVENT = json.dumps(
    {
        "eventType": "UpdateTrail",
        "sourceIPAddress": "111.111.111.111",
        "arrayKey": ["value", "another value"],
        "objectList": [{"name": "a", "id": 1}, {"name": "b", "id": 2}],
        "SomeObject": None,
        "ThisFlag": True,
        "latency": 650,
    }
)
USERS = json.dumps(
    {
        "user": {"id": 1, "email": "John.Stiles@example.com"},
        "users": [{"id": 2, "email": "John.Doe@example.com"}, {"id": 3, "email": "Jane.Doe@example.com"}],
        "actions": ["GET", "PUT", "DELETE"],
    }
)


@pytest.mark.parametrize(
    ("pattern", "line", "expected"),
    [
        ('{ $.eventType = "UpdateTrail" }', EVENT, True),
        ('{ $.eventType = "Update*" }', EVENT, True),
        ('{ $.eventType = "CreateTrail" }', EVENT, False),
        ("{ $.sourceIPAddress != 123.123.* }", EVENT, True),
        ("{ $.sourceIPAddress != 111.111.* }", EVENT, False),
        ('{ $.arrayKey[0] = "value" }', EVENT, True),
        ("{ $.objectList[1].id = 2 }", EVENT, True),
        ("{ $.objectList[1].id = 1 }", EVENT, False),
        ("{ $.SomeObject IS NULL }", EVENT, True),
        ("{ $.SomeOtherObject NOT EXISTS }", EVENT, True),
        ("{ $.SomeObject NOT EXISTS }", EVENT, False),
        ("{ $.ThisFlag IS TRUE }", EVENT, True),
        ("{ $.ThisFlag IS FALSE }", EVENT, False),
        ("{ $.latency > 500 }", EVENT, True),
        ("{ $.latency <= 500 }", EVENT, False),
        ("{ $.missing >= 0 }", EVENT, False),
        ('{ ($.user.id = 1) && ($.users[0].email = "John.Doe@example.com") }', USERS, True),
        ('{ ($.user.id = 2 && $.users[0].email = "nonmatch") || $.actions[2] = "GET" }', USERS, False),
        ('{ $.user.email = "John.Stiles@example.com" || $.coordinates[0][1] = "nonmatch" }', USERS, True),
        ('{ $.eventType = "UpdateTrail" }', "UpdateTrail as plain text", False),
        ("{ $.latency = 650 }", '{"latency": "650"}', False),  # a string is not the number
    ],
)
def test_the_guides_examples(pattern: str, line: str, expected: bool) -> None:
    assert matches(pattern, line) is expected


@pytest.mark.parametrize("pattern", ["$.a = 1", "{ $.a = 1 && }", "{ ($.a = 1 }", '{ $.a > "x" }'])
def test_a_malformed_pattern_is_an_error(pattern: str) -> None:
    with pytest.raises(ValueError):
        matches(pattern, '{"a": 1}')
