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


AGGREGATE_FUNCTIONS = frozenset({"AVG", "COUNT", "COUNT_DISTINCT", "MAX", "MIN", "SUM"})


@dataclass(frozen=True, slots=True)
class Aggregate:
    """``COUNT()``, ``COUNT(Id)``, ``SUM(Amount)``...; ``field`` is None for COUNT()."""

    function: str  # upper case, one of AGGREGATE_FUNCTIONS
    field: FieldPath | None
    position: int = 0

    @property
    def text(self) -> str:
        """How Salesforce names the call, e.g. ``COUNT(Id)`` (columns=true shows it)."""
        return f"{self.function}({self.field.dotted if self.field else ''})"

    @property
    def key(self) -> str:
        """Case-insensitive identity: ``count(id)`` and ``COUNT(Id)`` are one term."""
        return self.text.lower()


Term = FieldPath | Aggregate


@dataclass(frozen=True, slots=True)
class SelectItem:
    """One entry of the select list, with its alias when one was written."""

    term: Term
    alias: str | None = None


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
    NOT IN, INCLUDES and EXCLUDES. ``field`` is an aggregate only in HAVING.
    """

    field: Term
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
    field: Term  # an aggregate only in aggregate queries
    descending: bool = False
    # None means the default: nulls first ascending, last descending.
    nulls_first: bool | None = None

    @property
    def effective_nulls_first(self) -> bool:
        return (not self.descending) if self.nulls_first is None else self.nulls_first


@dataclass(slots=True)
class Query:
    sobject: str  # as written
    # The plain field paths of the select list, in order; empty for COUNT().
    fields: list[FieldPath] = field(default_factory=list)
    # Every select-list entry (fields and aggregates) with its alias, in order.
    select: list[SelectItem] = field(default_factory=list)
    where: Condition | None = None
    group_by: list[FieldPath] = field(default_factory=list)
    having: Condition | None = None
    order_by: list[OrderItem] = field(default_factory=list)
    limit: int | None = None
    offset: int | None = None
    is_count: bool = False
    text: str = ""

    @property
    def is_aggregate(self) -> bool:
        """Whether rows are AggregateResult rows (an aggregate or GROUP BY is used)."""
        return bool(self.group_by) or any(
            isinstance(item.term, Aggregate) for item in self.select
        )

    def result_names(self) -> list[str]:
        """Keys of an AggregateResult row in select order: the alias, the field's own
        name for a grouped field, or ``expr0``, ``expr1``... for unaliased aggregates
        (numbered among those only, as Salesforce does)."""
        names: list[str] = []
        unnamed = 0
        for item in self.select:
            if item.alias:
                names.append(item.alias)
            elif isinstance(item.term, Aggregate):
                names.append(f"expr{unnamed}")
                unnamed += 1
            else:
                names.append(item.term.parts[-1])
        return names
