"""``GET /query?q=...&columns=true``: the query's column metadata instead of records.

Salesforce answers this (what the Developer Console and the sf CLI ask for to lay out
results) with one entry per selected column: parent paths nest as ``joinColumns``
under the relationship's column, aggregate queries list ``AggregateResult`` columns
named as the rows will be (alias, field name, or ``expr0``...). Names are checked
against the schema exactly as when the query runs, with the same errors.
"""

from __future__ import annotations

from typing import Any, Final

from soql import nodes

from ..schema import NUMBER_TYPES, TEXT_TYPES, FieldDef, ObjectDef
from .resolve import Catalog, Hop, resolve_path, root_object

_APEX_TYPES: Final = {
    "id": "Id",
    "reference": "Id",
    "boolean": "Boolean",
    "int": "Integer",
    "long": "Long",
    "double": "Double",
    "currency": "Decimal",
    "percent": "Double",
    "date": "Date",
    "datetime": "Datetime",
    "time": "Time",
}


def column_metadata(query: nodes.Query, catalog: Catalog) -> dict[str, Any]:
    root = root_object(catalog, query.sobject)
    aggregate = query.is_aggregate
    if aggregate:
        columns = _aggregate_columns(query, catalog, root)
    else:
        columns = _record_columns(query, catalog, root)
    return {
        "columnMetadata": columns,
        "entityName": "AggregateResult" if aggregate else root.name,
        "groupBy": bool(query.group_by),
        "idSelected": any(
            len(path.parts) == 1 and path.parts[0].lower() == "id"
            for path in query.fields
        ),
        "keyPrefix": None if aggregate else root.key_prefix,
    }


def _record_columns(
    query: nodes.Query, catalog: Catalog, root: ObjectDef
) -> list[dict[str, Any]]:
    columns: list[dict[str, Any]] = []
    by_relationship: dict[str, dict[str, Any]] = {}
    for path in query.fields:
        resolved = resolve_path(catalog, root, path)
        leaf = _field_column(resolved.field, resolved.column)
        _place(columns, by_relationship, list(resolved.hops), leaf)
    return columns


def _place(
    columns: list[dict[str, Any]],
    by_relationship: dict[str, dict[str, Any]],
    hops: list[Hop],
    leaf: dict[str, Any],
) -> None:
    """Put ``leaf`` under the nested relationship columns of ``hops``, creating the
    relationship columns the first time a path goes through them."""
    level, prefix = columns, ""
    for hop in hops:
        prefix = f"{prefix}{hop.key}."
        parent = by_relationship.get(prefix.lower())
        if parent is None:
            parent = _column(hop.key, prefix[:-1], apex_type=None)
            parent["joinColumns"] = []
            by_relationship[prefix.lower()] = parent
            level.append(parent)
        level = parent["joinColumns"]
    if hops:
        leaf["columnName"] = leaf["displayName"].rsplit(".", 1)[-1]
    level.append(leaf)


def _aggregate_columns(
    query: nodes.Query, catalog: Catalog, root: ObjectDef
) -> list[dict[str, Any]]:
    columns = []
    for item, name in zip(query.select, query.result_names(), strict=True):
        term = item.term
        if isinstance(term, nodes.Aggregate):
            apex_type = _aggregate_apex_type(term, catalog, root)
            column = _column(name, item.alias or term.text, apex_type=apex_type)
            column["numberType"] = apex_type in ("Integer", "Double", "Decimal")
        else:
            field = resolve_path(catalog, root, term).field
            column = _field_column(field, item.alias or field.name)
            column["columnName"] = item.alias or field.name
        column["aggregate"] = True
        column["insertable"] = column["updatable"] = False
        columns.append(column)
    return columns


def _aggregate_apex_type(
    call: nodes.Aggregate, catalog: Catalog, root: ObjectDef
) -> str:
    if call.function in ("COUNT", "COUNT_DISTINCT"):
        return "Integer"
    assert call.field is not None
    field = resolve_path(catalog, root, call.field).field
    if call.function == "AVG":
        return "Decimal"
    return _APEX_TYPES.get(field.type, "String")


def _field_column(field: FieldDef, display_name: str) -> dict[str, Any]:
    column = _column(field.name, display_name, apex_type=_apex_type(field))
    column.update(
        {
            "booleanType": field.type == "boolean",
            "custom": field.custom,
            "insertable": field.createable,
            "numberType": field.type in NUMBER_TYPES,
            "textType": field.type in TEXT_TYPES,
            "updatable": field.updateable,
        }
    )
    return column


def _apex_type(field: FieldDef) -> str:
    return _APEX_TYPES.get(field.type, "String")


def _column(name: str, display_name: str, *, apex_type: str | None) -> dict[str, Any]:
    return {
        "aggregate": False,
        "apexType": apex_type,
        "booleanType": False,
        "columnName": name,
        "custom": False,
        "displayName": display_name,
        "foreignKeyName": None,
        "insertable": False,
        "joinColumns": [],
        "numberType": False,
        "textType": False,
        "updatable": False,
    }
