"""SOQL parser: lexer, grammar and syntax tree, with no dependency on an org.

Shared by the app (which validates users' WHERE filters) and the local Salesforce
emulator (which evaluates queries against its data). It parses SELECT lists with
parent paths, aggregate functions and aliases, FROM one object, WHERE, GROUP BY,
HAVING, ORDER BY, LIMIT and OFFSET, and checks the rules Salesforce applies to the text
alone. Names are kept as written; checking them against a schema is the caller's job.

Typical use::

    query = parse("SELECT Industry, COUNT(Id) n FROM Account GROUP BY Industry")
    condition = parse_where("Email != null AND CreatedDate = LAST_N_DAYS:30")

Both raise ``SoqlError``; its ``refusal`` says what kind of problem it is, so callers
never need to read the message.
"""

from __future__ import annotations

from .errors import Refusal, SoqlError
from .nodes import (
    Aggregate,
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
    SelectItem,
    Term,
)
from .parser import parse, parse_where

__all__ = [
    "Aggregate",
    "And",
    "Comparison",
    "Condition",
    "FieldPath",
    "Literal",
    "Not",
    "Or",
    "OrderItem",
    "Query",
    "Refusal",
    "RelativeDate",
    "SelectItem",
    "SoqlError",
    "Term",
    "parse",
    "parse_where",
]
