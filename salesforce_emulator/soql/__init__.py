"""SOQL engine of the Salesforce org emulator.

The subset of §8.1 of the emulator spec: SELECT field list (with parent dot-notation up
to 5 levels) or COUNT(), FROM one object, WHERE with comparisons, IN / NOT IN, LIKE,
INCLUDES / EXCLUDES, AND / OR / NOT, date and relative date literals, ORDER BY, LIMIT
and OFFSET. Anything else Salesforce accepts is refused with MALFORMED_QUERY so that a
gap in the emulator shows up as an error rather than as a wrong answer.

Typical use::

    query = parse("SELECT Id, Account.Name FROM Contact WHERE Email != null")
    result = execute(query, catalog, api_version="59.0", include_deleted=False)

``parse`` / ``parse_where`` need no schema; ``execute`` and ``columns`` validate names
against the catalog and raise ``SoqlError`` (INVALID_TYPE, INVALID_FIELD, ...).
"""

from __future__ import annotations

from .engine import QueryResult, columns, execute
from .errors import SoqlError
from .nodes import (
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
from .output import flat_row
from .parser import parse, parse_where
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
