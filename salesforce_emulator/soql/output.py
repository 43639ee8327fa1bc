"""Shaping matched rows as REST JSON records and Bulk API CSV rows."""

from __future__ import annotations

import re
from decimal import Decimal
from typing import Any, Final

from .resolve import Hop, ParentCache, ResolvedPath, Row
from .values import datetime_key

_DATETIME_RE: Final = re.compile(
    r"\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(?:\.\d+)?(?:Z|[+-]\d{2}:?\d{2})"
)


class RecordShape:
    """The nested key layout of one record (or parent record) in a query result.

    Keys appear in select-list order; a relationship's nested object sits where the
    first field through it was selected, and later fields through it join that object.
    """

    def __init__(self) -> None:
        # A field name, or (hop, shape of the parent record).
        self.entries: list[str | tuple[Hop, RecordShape]] = []
        self._children: dict[str, RecordShape] = {}

    @classmethod
    def build(cls, paths: list[ResolvedPath]) -> RecordShape:
        root = cls()
        for path in paths:
            node = root
            for hop in path.hops:
                node = node._child(hop)
            if path.field.name not in node.entries:
                node.entries.append(path.field.name)
        return root

    def _child(self, hop: Hop) -> RecordShape:
        key = hop.key.lower()
        child = self._children.get(key)
        if child is None:
            child = self._children[key] = RecordShape()
            self.entries.append((hop, child))
        return child

    def emit(
        self, row: Row, type_name: str, url_base: str, parents: ParentCache
    ) -> dict[str, Any]:
        """The REST JSON object for ``row``; ``type_name`` is its canonical object."""
        record: dict[str, Any] = {
            "attributes": {
                "type": type_name,
                "url": f"{url_base}{type_name}/{row.get('Id')}",
            }
        }
        for entry in self.entries:
            if isinstance(entry, str):
                record[entry] = row.get(entry)
                continue
            hop, child = entry
            parent_id = row.get(hop.field.name)
            found = parents.fetch(hop, parent_id) if parent_id else None
            # An empty (or dangling) lookup is a null object, not an object of nulls.
            record[hop.key] = (
                None
                if found is None
                else child.emit(found[1], found[0], url_base, parents)
            )
        return record


def flat_row(record: dict[str, Any], columns: list[str]) -> list[str]:
    """One Bulk API CSV row: walk dotted columns through nested parent objects."""
    return [_csv_value(_walk(record, column.split("."))) for column in columns]


def _walk(record: dict[str, Any], parts: list[str]) -> Any:
    value: Any = record
    for part in parts:
        if not isinstance(value, dict):
            return None
        if part in value:
            value = value[part]
            continue
        # Tolerate a column spelled in another case than the canonical key.
        lowered = part.lower()
        value = next((v for k, v in value.items() if k.lower() == lowered), None)
    return value


def _csv_value(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float):
        # Plain decimal notation, never 1e+16.
        return format(Decimal(repr(value)), "f") if "e" in repr(value) else repr(value)
    # The slice test skips the regex for the vast majority of strings.
    if isinstance(value, str) and value[10:11] == "T" and _DATETIME_RE.fullmatch(value):
        # Bulk CSV writes datetimes in UTC with a Z suffix, REST JSON with +0000.
        return f"{datetime_key(value)}Z"
    return str(value)
