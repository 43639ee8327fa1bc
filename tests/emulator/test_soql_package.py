"""The ``soql`` package on its own: the aggregate grammar, what kind of refusal each
error is, and that it depends on neither the app nor the emulator."""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

import pytest

import soql
from soql import Aggregate, FieldPath, Refusal, SoqlError, parse, parse_where

ROOT = Path(__file__).resolve().parents[2]


def error_of(function: object, text: str) -> SoqlError:
    assert callable(function)
    with pytest.raises(SoqlError) as caught:
        function(text)
    return caught.value


def test_aggregate_query_tree() -> None:
    query = parse(
        "SELECT Account.Industry, COUNT(Id) n, SUM(Amount), MAX(CloseDate) "
        "FROM Opportunity WHERE IsClosed = true GROUP BY Account.Industry "
        "HAVING COUNT(Id) > 1 ORDER BY SUM(Amount) DESC LIMIT 10"
    )

    assert [item.alias for item in query.select] == [None, "n", None, None]
    calls = [item.term for item in query.select[1:]]
    assert [(c.function, c.text) for c in calls if isinstance(c, Aggregate)] == [
        ("COUNT", "COUNT(Id)"),
        ("SUM", "SUM(Amount)"),
        ("MAX", "MAX(CloseDate)"),
    ]
    # Positions are offsets in the text, for error locations.
    first = calls[0]
    assert isinstance(first, Aggregate)
    assert query.text[first.position :].startswith("COUNT(Id)")
    assert query.fields == [FieldPath(("Account", "Industry"), 7)]
    assert [path.dotted for path in query.group_by] == ["Account.Industry"]
    assert isinstance(query.having, soql.Comparison)
    assert isinstance(query.having.field, Aggregate)
    assert isinstance(query.order_by[0].field, Aggregate)
    assert query.order_by[0].descending is True
    assert query.is_aggregate is True
    assert query.result_names() == ["Industry", "n", "expr0", "expr1"]


def test_group_by_without_aggregates_is_an_aggregate_query() -> None:
    assert parse("SELECT Name FROM Account GROUP BY Name").is_aggregate is True
    assert parse("SELECT Name FROM Account").is_aggregate is False


@pytest.mark.parametrize(
    ("text", "refusal", "construct", "column"),
    [
        ("Amount > 5 GROUP BY Name", Refusal.CLAUSE_IN_CONDITION, "GROUP BY", 12),
        ("Amount > 5 ORDER BY Name", Refusal.CLAUSE_IN_CONDITION, "ORDER BY", 12),
        ("Amount > 5 LIMIT 3", Refusal.CLAUSE_IN_CONDITION, "LIMIT", 12),
        ("Name = 'x' HAVING COUNT(Id) > 1", Refusal.CLAUSE_IN_CONDITION, "HAVING", 12),
        ("Name = :name", Refusal.APEX_BIND, "bind variable", 8),
        (
            "Id IN (SELECT AccountId FROM Contact)",
            Refusal.UNMODELLED,
            "semi-join and anti-join sub-queries",
            8,
        ),
        ("Name = = 'x'", Refusal.INVALID, "", 8),
    ],
)
def test_where_refusals_say_what_they_are(
    text: str, refusal: Refusal, construct: str, column: int
) -> None:
    error = error_of(parse_where, text)

    assert error.error_code == "MALFORMED_QUERY"
    assert error.refusal is refusal
    assert error.construct == construct
    assert error.column == column


def test_aggregate_in_where_is_refused_with_its_location() -> None:
    error = error_of(parse_where, "COUNT(Id) > 1")

    assert error.refusal is Refusal.INVALID
    assert error.detail.startswith("Aggregate functions are not allowed in the WHERE")
    assert error.column == 1


@pytest.mark.parametrize(
    ("text", "detail"),
    [
        (
            "SELECT Name, COUNT(Id) FROM Account",
            "Field must be grouped or aggregated: Name",
        ),
        (
            "SELECT Name FROM Account GROUP BY Name HAVING Industry = 'x'",
            "Field must be grouped or aggregated: Industry",
        ),
        (
            "SELECT Name FROM Account HAVING COUNT(Id) > 1",
            "Field must be grouped or aggregated: Name",
        ),
        (
            "SELECT Name FROM Account GROUP BY Name ORDER BY Industry",
            "Ordered field must be grouped or aggregated: Industry",
        ),
        ("SELECT SUM() FROM Account", "unexpected token: ')'"),
        (
            "SELECT COUNT(Id) c, MAX(Name) c FROM Account",
            "duplicate alias: c",
        ),
    ],
)
def test_aggregate_rules_checked_on_the_text(text: str, detail: str) -> None:
    assert error_of(parse, text).detail == detail


def test_the_package_imports_neither_django_nor_the_app_nor_the_emulator() -> None:
    code = (
        "import sys, soql; soql.parse('SELECT Id FROM Account'); "
        "bad = [m for m in sys.modules if m.split('.')[0] in "
        "('django', 'migrations_app', 'salesforce_emulator')]; "
        "assert not bad, bad"
    )
    subprocess.run([sys.executable, "-c", code], check=True, cwd=ROOT)


def _imported_modules(path: Path) -> set[str]:
    tree = ast.parse(path.read_text(encoding="utf-8"))
    names: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module:
            names.add(node.module)
    return names


def test_the_app_does_not_import_the_emulator() -> None:
    offenders = [
        str(path.relative_to(ROOT))
        for path in (ROOT / "migrations_app").rglob("*.py")
        if any(
            name.split(".")[0] == "salesforce_emulator"
            for name in _imported_modules(path)
        )
    ]

    assert offenders == []
