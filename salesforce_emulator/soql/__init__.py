"""SOQL evaluation for the Salesforce org emulator; the parser is the ``soql`` package.

Evaluates what ``soql.parse`` accepts: SELECT field lists (parent dot-notation up to 5
levels), COUNT(), aggregate functions with GROUP BY / HAVING, FROM one object, WHERE
with comparisons, IN / NOT IN, LIKE, INCLUDES / EXCLUDES, AND / OR / NOT, date and
relative date literals, ORDER BY, LIMIT and OFFSET. Anything else Salesforce accepts is
refused with MALFORMED_QUERY so that a gap in the emulator shows up as an error rather
than as a wrong answer.

Typical use::

    query = parse("SELECT Id, Account.Name FROM Contact WHERE Email != null")
    result = execute(query, catalog, api_version="59.0", include_deleted=False)

``parse`` / ``parse_where`` need no schema; ``execute`` and ``columns`` validate names
against the catalog and raise ``SoqlError`` (INVALID_TYPE, INVALID_FIELD, ...).
"""

from __future__ import annotations

from soql import SoqlError, parse, parse_where
from soql.nodes import (
    And,
    Comparison,
    Condition,
    FieldPath,
    Literal,
    Not,
    Or,
    OrderItem,
    Query,
    RelativeDate,
)

from .engine import QueryResult, columns, execute
from .output import flat_row
from .resolve import Catalog
from .values import canonical_id, to_18

__all__ = [
    "And",
    "Catalog",
    "Comparison",
    "Condition",
    "FieldPath",
    "Literal",
    "Not",
    "Or",
    "OrderItem",
    "Query",
    "QueryResult",
    "RelativeDate",
    "SoqlError",
    "canonical_id",
    "columns",
    "execute",
    "flat_row",
    "parse",
    "parse_where",
    "to_18",
]
