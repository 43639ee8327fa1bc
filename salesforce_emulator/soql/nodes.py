"""Syntax tree produced by the parser. Pure data: no schema has been consulted yet."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, datetime
from decimal import Decimal

# Literal kinds.
STRING = "string"
NUMBER = "number"
BOOLEAN = "boolean"
NULL = "null"
DATE = "date"
DATETIME = "datetime"
DATE_RANGE = "date_literal"  # TODAY, LAST_N_DAYS:7, ...


@dataclass(frozen=True, slots=True)
class FieldPath:
    """``Name`` or ``Account.Owner.Email`` exactly as written."""

    parts: tuple[str, ...]
    position: int = 0

    @property
    def dotted(self) -> str:
        return ".".join(self.parts)


@dataclass(frozen=True, slots=True)
class RelativeDate:
    """A relative date literal such as ``THIS_WEEK`` or ``LAST_N_DAYS:30``."""

    name: str  # upper case
    n: int | None = None

    def __str__(self) -> str:
        return self.name if self.n is None else f"{self.name}:{self.n}"


LiteralValue = str | Decimal | bool | date | datetime | RelativeDate | None


@dataclass(frozen=True, slots=True)
class Literal:
    kind: str
    value: LiteralValue
    position: int = 0
    # For strings, the body with its escapes (LIKE treats \% differently from %).
    raw: str = ""


@dataclass(frozen=True, slots=True)
class Comparison:
    """``field op value``; op is one of = != < <= > >= LIKE IN NOT IN INCLUDES EXCLUDES.

    ``<>`` is normalised to ``!=``. ``values`` holds one literal, or the list for IN,
    NOT IN, INCLUDES and EXCLUDES.
    """

    field: FieldPath
    op: str
    values: tuple[Literal, ...]

    @property
    def value(self) -> Literal:
        return self.values[0]


@dataclass(frozen=True, slots=True)
class And:
    items: tuple[Condition, ...]


@dataclass(frozen=True, slots=True)
class Or:
    items: tuple[Condition, ...]


@dataclass(frozen=True, slots=True)
class Not:
    item: Condition


Condition = Comparison | And | Or | Not


@dataclass(frozen=True, slots=True)
class OrderItem:
    field: FieldPath
    descending: bool = False
    # None means the default: nulls first ascending, last descending.
    nulls_first: bool | None = None

    @property
    def effective_nulls_first(self) -> bool:
        return (not self.descending) if self.nulls_first is None else self.nulls_first


@dataclass(slots=True)
class Query:
    sobject: str  # as written
    fields: list[FieldPath] = field(default_factory=list)  # empty for COUNT()
    where: Condition | None = None
    order_by: list[OrderItem] = field(default_factory=list)
    limit: int | None = None
    offset: int | None = None
    is_count: bool = False
    text: str = ""
