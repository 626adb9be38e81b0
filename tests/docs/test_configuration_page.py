"""docs/configuration.md lists every setting with its real default (issue 32 §3).

Contract:
- every field of `Settings` (src/config.py) has a row whose first cell is its variable (the field's
  alias, else its name in upper case) and whose default cell is, for a field without a default
  (None), *unset* followed by what happens then, and otherwise starts with the default in code as
  the environment would spell it (`30`, not `30.0`; `local`, not `AppEnv.LOCAL`);
- the refresh interval's two derived defaults (300 s in staging/production, off elsewhere) are the
  ones the page states;
- every `${NAME:-default}` of entrypoint.sh has a row with that default;
- every row names a variable that the code reads (src/ or entrypoint.sh): no stale row.
"""

from __future__ import annotations

import enum
import re

import pytest

from src.config import Settings
from tests.docs.pages import first_code, page, table_rows
from tests.support.processes import ROOT

ENTRYPOINT_DEFAULT = re.compile(r"\$\{(?P<name>[A-Z_]+):-(?P<default>[^}$]*)\}")


def rows() -> dict[str, str]:
    documented = {}
    for cells in table_rows(page("configuration.md")):
        name = first_code(cells[0])
        if name and name.isupper() and len(cells) >= 3:
            documented[name] = cells[1]
    return documented


def variable(name: str) -> str:
    alias = Settings.model_fields[name].validation_alias
    return alias if isinstance(alias, str) else name.upper()


def spelled(value: object) -> str:
    if isinstance(value, enum.Enum):
        value = value.value
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return str(value)


def default_problem(name: str, cell: str | None, default: object) -> str | None:
    if cell is None:
        return f"{name}: no row"
    if default is None:
        return None if cell.startswith("unset") else f"{name}: has no default, but the page says {cell!r}"
    return None if first_code(cell) == spelled(default) else f"{name}: default {spelled(default)!r}, page {cell!r}"


def test_every_setting_has_a_row_with_its_real_default() -> None:
    documented = rows()
    problems = [
        default_problem(variable(name), documented.get(variable(name)), field.default)
        for name, field in Settings.model_fields.items()
    ]
    assert [p for p in problems if p] == []


def test_the_refresh_intervals_derived_defaults() -> None:
    cell = rows()["SECRETS_REFRESH_INTERVAL"]
    production = Settings(app_env="production", aws_region="us-east-1").refresh_interval
    local = Settings(app_env="local").refresh_interval
    assert f"`{spelled(production)}` in staging/production" in cell
    assert f"`{spelled(local)}` (off) elsewhere" in cell


def entrypoint_problem(name: str, cell: str | None, defaults: list[str | None]) -> str | None:
    """One default: the cell starts with it. Several (HOST's depends on APP_ENV): the cell names
    each of them in code."""
    if len(set(defaults)) == 1:
        return default_problem(name, cell, defaults[0])
    if cell is None:
        return f"{name}: no row"
    absent = [d for d in dict.fromkeys(defaults) if d is None or f"`{d}`" not in cell]
    return None if not absent else f"{name}: defaults {absent!r} not on the page, which says {cell!r}"


def test_every_entrypoint_default_has_a_row() -> None:
    documented = rows()
    script = (ROOT / "entrypoint.sh").read_text(encoding="utf-8")
    defaults: dict[str, list[str | None]] = {}
    for m in ENTRYPOINT_DEFAULT.finditer(script):
        defaults.setdefault(m["name"], []).append(m["default"] or None)
    problems = [entrypoint_problem(name, documented.get(name), found) for name, found in defaults.items()]
    assert [p for p in problems if p] == []


def test_the_several_defaults_rule_itself() -> None:
    both: list[str | None] = ["127.0.0.1", "0.0.0.0"]
    assert entrypoint_problem("HOST", "`127.0.0.1` in local mode, `0.0.0.0` elsewhere", both) is None
    assert entrypoint_problem("HOST", "`0.0.0.0`", ["127.0.0.1", "0.0.0.0"]) is not None
    assert entrypoint_problem("HOST", None, ["127.0.0.1", "0.0.0.0"]) is not None


def test_every_row_is_a_variable_the_code_reads() -> None:
    sources = [(ROOT / "entrypoint.sh").read_text(encoding="utf-8")]
    sources += [p.read_text(encoding="utf-8") for p in (ROOT / "src").rglob("*.py")]
    fields = {variable(name) for name in Settings.model_fields}
    stale = [n for n in rows() if n not in fields and not any(re.search(rf"\b{n}\b", s) for s in sources)]
    assert stale == []


@pytest.mark.parametrize(
    ("cell", "default", "wrong"),
    [("`30`", 30.0, False), ("`300`", 30.0, True), ("unset: polling only", None, False), ("`0`", None, True),
     ("unset", "info", True), ("`local`", "local", False)],
)  # fmt: skip
def test_the_rule_itself(cell: str, default: object, wrong: bool) -> None:
    assert (default_problem("X", cell, default) is not None) == wrong
