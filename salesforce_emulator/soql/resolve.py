"""Binding field paths to the schema, and reading them from rows.

A path such as ``Account.Owner.Email`` is resolved once per query into the reference
fields to follow ("hops") and the final field; reading it from a row then only costs
dictionary look-ups, with parent rows cached for the whole query.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any, Protocol

from soql.nodes import FieldPath

from ..schema import FieldDef, ObjectDef
from .errors import bad_relationship, no_such_column, unsupported_type

Row = dict[str, Any]
Getter = Callable[[Row], Any]


class Catalog(Protocol):
    """What the engine needs from the store of one org."""

    def object_def(self, name: str) -> ObjectDef | None:
        """The object called ``name`` (any case), or None."""

    def records(self, sobject: str, *, include_deleted: bool) -> Iterable[Row]:
        """Rows keyed by canonical field names, every field present, insertion order."""

    def get(self, sobject: str, record_id: str) -> Row | None:
        """The row with this 18-character id, deleted rows included."""


@dataclass(frozen=True, slots=True)
class Hop:
    """Following one reference field to its parent record."""

    field: FieldDef
    # Possible parent objects; several for polymorphic lookups such as OwnerId.
    targets: tuple[ObjectDef, ...]

    @property
    def key(self) -> str:
        """Output key of the nested parent object: the canonical relationshipName."""
        assert self.field.relationship_name is not None
        return self.field.relationship_name


@dataclass(frozen=True, slots=True)
class ResolvedPath:
    hops: tuple[Hop, ...]
    field: FieldDef

    @property
    def column(self) -> str:
        """Canonical dotted name, e.g. ``Account.Owner.Email``."""
        return ".".join([*(hop.key for hop in self.hops), self.field.name])


def root_object(catalog: Catalog, name: str) -> ObjectDef:
    object_def = catalog.object_def(name)
    if object_def is None:
        raise unsupported_type(name)
    return object_def


def resolve_path(catalog: Catalog, root: ObjectDef, path: FieldPath) -> ResolvedPath:
    """Bind ``path`` to the schema or raise INVALID_FIELD like Salesforce."""
    parts = list(path.parts)
    # SOQL lets a path start with the queried object's own name (Account.Name FROM
    # Account) unless a relationship of that name exists.
    if (
        len(parts) > 1
        and parts[0].lower() == root.name.lower()
        and root.relationship(parts[0]) is None
    ):
        parts = parts[1:]
    objects: tuple[ObjectDef, ...] = (root,)
    hops: list[Hop] = []
    for name in parts[:-1]:
        hop = _hop(catalog, objects, name)
        hops.append(hop)
        objects = hop.targets
    return ResolvedPath(tuple(hops), _final_field(objects, parts[-1]))


def _hop(catalog: Catalog, objects: tuple[ObjectDef, ...], name: str) -> Hop:
    for object_def in objects:
        reference = object_def.relationship(name)
        if reference is None:
            continue
        targets = tuple(
            target
            for target_name in reference.reference_to
            if (target := catalog.object_def(target_name)) is not None
        )
        if targets:
            return Hop(reference, targets)
    raise bad_relationship(name)


def _final_field(objects: tuple[ObjectDef, ...], name: str) -> FieldDef:
    # Polymorphic parents: accept a field any possible parent type has; rows of the
    # other types simply read as null.
    for object_def in objects:
        field_def = object_def.field(name)
        if field_def is not None:
            return field_def
    raise no_such_column(name, objects[0].name)


class ParentCache:
    """Parent-row look-ups for one query execution, memoised by id."""

    def __init__(self, catalog: Catalog) -> None:
        self._catalog = catalog
        self._cache: dict[str, tuple[str, Row] | None] = {}

    def fetch(self, hop: Hop, record_id: str) -> tuple[str, Row] | None:
        """The parent's canonical object name and row, or None if it does not exist."""
        try:
            return self._cache[record_id]
        except KeyError:
            pass
        found = self._lookup(hop.targets, record_id)
        self._cache[record_id] = found
        return found

    def _lookup(
        self, targets: tuple[ObjectDef, ...], record_id: str
    ) -> tuple[str, Row] | None:
        if len(targets) > 1:
            # Polymorphic: the key prefix names the actual type; try it first, then
            # the rest in case a store uses unusual prefixes.
            prefix = record_id[:3]
            targets = tuple(sorted(targets, key=lambda t: t.key_prefix != prefix))
        for target in targets:
            row = self._catalog.get(target.name, record_id)
            if row is not None:
                return target.name, row
        return None


def path_getter(path: ResolvedPath, parents: ParentCache) -> Getter:
    """A function returning the raw value of ``path`` for a row (None along a null)."""
    name = path.field.name
    if not path.hops:
        return lambda row: row.get(name)
    hops = path.hops

    def get(row: Row) -> Any:
        current = row
        for hop in hops:
            parent_id = current.get(hop.field.name)
            if not parent_id:
                return None
            found = parents.fetch(hop, parent_id)
            if found is None:
                return None
            current = found[1]
        return current.get(name)

    return get
