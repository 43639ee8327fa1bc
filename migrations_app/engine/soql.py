"""SOQL text for the queries the engine sends. Values are always quoted here."""

from __future__ import annotations

from collections.abc import Iterable, Sequence

# A self-lookup hierarchy is read level by level through relationship paths; SOQL
# allows five levels of parent traversal, deeper records are handled by a final pass.
MAX_LEVEL_DEPTH = 5


def quote(value: object) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int | float):
        return repr(value)
    text = str(value).replace("\\", "\\\\").replace("'", "\\'")
    return f"'{text}'"


def in_list(field: str, values: Iterable[object]) -> str:
    return f"{field} IN ({', '.join(quote(value) for value in values)})"


def conjunction(conditions: Sequence[str]) -> str:
    """AND the non-empty conditions together, each in parentheses."""
    return " AND ".join(f"({condition})" for condition in conditions if condition)


def select(
    sobject: str,
    fields: Sequence[str],
    conditions: Sequence[str] = (),
    *,
    order_by: str = "",
) -> str:
    soql = f"SELECT {', '.join(fields)} FROM {sobject}"
    where = conjunction(conditions)
    if where:
        soql += f" WHERE {where}"
    return f"{soql} ORDER BY {order_by}" if order_by else soql


def hierarchy_level(lookup: str, relationship: str, level: int) -> str:
    """Records exactly ``level`` steps below a root (roots are level 0).

    The last level, MAX_LEVEL_DEPTH, collects everything deeper.
    """

    def path(depth: int) -> str:
        return f"{relationship}." * depth + lookup

    if level == 0:
        return f"{lookup} = null"
    if level >= MAX_LEVEL_DEPTH:
        return f"{path(MAX_LEVEL_DEPTH - 1)} != null"
    return f"{path(level - 1)} != null AND {path(level)} = null"
