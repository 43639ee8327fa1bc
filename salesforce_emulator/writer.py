"""Record writes with Salesforce's validation, precomputed per object.

A ``Writer`` turns request input (JSON objects or CSV rows) into field values and
creates, updates, upserts or deletes records, raising ``RecordFailure`` with the error
code Salesforce would report. It runs inside the org's store transaction.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from salesforce_emulator.errors import FieldValueError, RecordError, RecordFailure
from salesforce_emulator.ids import normalize_id
from salesforce_emulator.recycle_bin import deletion_date
from salesforce_emulator.schema import FieldDef, ObjectDef
from salesforce_emulator.store import Record, Table
from salesforce_emulator.values import Converter, json_converter

if TYPE_CHECKING:
    from salesforce_emulator.files import Hooks
    from salesforce_emulator.org import Org

NULL_MARKER = "#N/A"


@dataclass(frozen=True)
class ExtRef:
    """A lookup given by the parent's external id: ``{"Account": {"Ext__c": "A-1"}}``."""

    field: FieldDef  # the lookup field on the child (AccountId)
    target: str | None  # object named in attributes.type / the CSV header, if any
    ext_field: str
    value: Any


@dataclass(frozen=True)
class Column:
    """One Bulk CSV column: a field, or a relationship by external id."""

    index: int
    header: str
    field: FieldDef
    convert: Converter | None  # None for external-id relationship columns
    target: str | None = None
    ext_field: str | None = None


def _unknown_field(obj: ObjectDef, name: str) -> RecordFailure:
    return RecordFailure.of(
        "INVALID_FIELD",
        f"No such column '{name}' on sobject of type {obj.name}",
        (name,),
    )


def _field_list(fields: Sequence[FieldDef]) -> str:
    return ", ".join(f.name for f in fields)


class Writer:
    """Validating writes for one object of one org."""

    def __init__(self, org: Org, table: Table) -> None:
        self.org = org
        self.table = table
        self.obj = table.obj
        fields = list(self.obj.fields.values())
        self.converters: dict[str, Converter] = {
            f.name.lower(): json_converter(f) for f in fields
        }
        self.relationships: dict[str, FieldDef] = {
            f.relationship_name.lower(): f
            for f in fields
            if f.is_reference and f.relationship_name
        }
        self.required = [f for f in fields if f.required_on_create]
        self.non_nillable = {f.name for f in fields if not f.nillable and f.createable}
        self.references = [f for f in fields if f.is_reference]
        self.unique = [f for f in table.indexed if f.unique]
        self.auto_numbers = [f for f in fields if f.auto_number]
        self.has_owner = self.obj.field("OwnerId") is not None
        self.name_field = self.obj.field("Name")
        self.derive = _derivation(self.obj)
        self.hooks = _hooks(self.obj)

    # -- input ----------------------------------------------------------------------

    def prepare(self, body: Mapping[str, Any], *, for_create: bool) -> dict[str, Any]:
        """Field values from a JSON record (keys any case; ``attributes`` ignored).

        Raises RecordFailure for unknown fields, FieldValueError for wrong types.
        """
        values: dict[str, Any] = {}
        fields = self.obj.fields
        for key, value in body.items():
            lowered = key.lower()
            if lowered == "attributes":
                continue
            field_def = fields.get(lowered)
            if field_def is None:
                rel = self.relationships.get(lowered)
                if rel is not None and isinstance(value, Mapping):
                    values[rel.name] = self._ext_ref(rel, value)
                    continue
                raise _unknown_field(self.obj, key)
            if lowered == "id" and for_create:
                raise RecordFailure.of(
                    "INVALID_FIELD",
                    "The Id field should not be specified in the sobject data.",
                )
            if value is None:
                values[field_def.name] = False if field_def.type == "boolean" else None
            else:
                values[field_def.name] = self.converters[lowered](value)
        return values

    def _ext_ref(self, rel: FieldDef, value: Mapping[str, Any]) -> ExtRef:
        attributes = value.get("attributes")
        target = attributes.get("type") if isinstance(attributes, Mapping) else None
        keys = [k for k in value if k != "attributes"]
        if len(keys) != 1:
            raise RecordFailure.of(
                "INVALID_FIELD",
                f"Foreign key reference for {rel.relationship_name} must name exactly one "
                "external id field",
                (rel.name,),
            )
        return ExtRef(rel, target, keys[0], value[keys[0]])

    def columns(self, header: Sequence[str]) -> list[Column]:
        """Plan the columns of a Bulk CSV header; raises ValueError for unknown ones."""
        plan = []
        for index, raw in enumerate(header):
            name = raw.strip()
            if "." in name:
                rel_part, ext_field = name.split(".", 1)
                target = None
                if ":" in rel_part:
                    target, rel_part = rel_part.split(":", 1)
                rel = self.relationships.get(rel_part.lower())
                if rel is None:
                    raise ValueError(f"Field name not found : {name}")
                plan.append(Column(index, name, rel, None, target, ext_field))
                continue
            field_def = self.obj.field(name)
            if field_def is None:
                raise ValueError(f"Field name not found : {name}")
            plan.append(Column(index, name, field_def, self.converters[name.lower()]))
        return plan

    def row_values(self, plan: Sequence[Column], row: Sequence[str]) -> dict[str, Any]:
        """Field values of one CSV row: empty = not given, ``#N/A`` = null."""
        values: dict[str, Any] = {}
        width = len(row)
        for column in plan:
            cell = row[column.index] if column.index < width else ""
            if cell == "":
                continue
            field_def = column.field
            if cell == NULL_MARKER:
                values[field_def.name] = False if field_def.type == "boolean" else None
            elif column.convert is None:
                values[field_def.name] = ExtRef(
                    field_def, column.target, column.ext_field or "", cell
                )
            else:
                values[field_def.name] = column.convert(cell)
        return values

    # -- operations -------------------------------------------------------------------

    def insert(self, values: dict[str, Any], user_id: str, now: str) -> str:
        self._check_access(values, creating=True)
        record = self.table.blank()
        record.update(values)
        self._resolve_references(record, values)
        if self.has_owner and record["OwnerId"] is None:
            record["OwnerId"] = user_id
        self._check_required(record)
        record_id = self.org.ids.next_id(self.obj.key_prefix)
        record["Id"] = record_id
        for field_def in self.auto_numbers:
            record[field_def.name] = self.org.next_auto_number(self.obj, field_def)
        if self.name_field is not None and record["Name"] is None and not self.derive:
            record["Name"] = record_id
        if self.derive:
            self.derive(record)
        record["IsDeleted"] = False
        record["CreatedDate"] = record["LastModifiedDate"] = record[
            "SystemModstamp"
        ] = now
        record["CreatedById"] = record["LastModifiedById"] = user_id
        self._check_unique(record, None)
        self._check_rules(record)
        if self.hooks and self.hooks.before_insert:
            self.hooks.before_insert(self, record)
        self.org.store.put(self.table, record)
        if self.hooks and self.hooks.after_insert:
            self.hooks.after_insert(self, record)
        return record_id

    def _own_id(self, raw_id: Any) -> str:
        """``raw_id`` as an 18-character id of this object, or MALFORMED_ID."""
        record_id = normalize_id(raw_id)
        if record_id is None or not record_id.startswith(self.obj.key_prefix):
            raise RecordFailure.of(
                "MALFORMED_ID",
                f"{self.obj.label} ID: id value of incorrect type: {raw_id}",
                ("Id",),
            )
        return record_id

    def existing(self, raw_id: Any) -> Record:
        """The live record with id ``raw_id``, or RecordFailure."""
        record_id = self._own_id(raw_id)
        record = self.table.rows.get(record_id)
        if record is None:
            raise RecordFailure.of(
                "INVALID_CROSS_REFERENCE_KEY", "invalid cross reference id"
            )
        if record["IsDeleted"]:
            raise RecordFailure.of("ENTITY_IS_DELETED", "entity is deleted")
        return record

    def update(
        self, raw_id: Any, values: dict[str, Any], user_id: str, now: str
    ) -> str:
        old = self.existing(raw_id)
        values.pop("Id", None)
        self._check_access(values, creating=False, current=old)
        record = old.copy()
        record.update(values)
        self._resolve_references(record, values)
        missing = [
            name
            for name in values
            if record[name] is None and name in self.non_nillable
        ]
        if missing:
            raise RecordFailure.of(
                "REQUIRED_FIELD_MISSING",
                f"Required fields are missing: [{', '.join(missing)}]",
                missing,
            )
        if self.derive:
            self.derive(record)
        record["LastModifiedDate"] = record["SystemModstamp"] = now
        record["LastModifiedById"] = user_id
        self._check_unique(record, old)
        self._check_rules(record)
        if self.hooks and self.hooks.before_update:
            self.hooks.before_update(self, record, values)
        self.org.store.put(self.table, record)
        return str(record["Id"])

    def upsert(
        self, ext_field: FieldDef, values: dict[str, Any], user_id: str, now: str
    ) -> tuple[str, bool]:
        """Insert or update by ``ext_field``; returns (id, created)."""
        if ext_field.type == "id":
            raw = values.pop("Id", None)
            if raw is None:
                return self.insert(values, user_id, now), True
            return self.update(raw, values, user_id, now), False
        value = values.get(ext_field.name)
        if value is None:
            raise RecordFailure.of(
                "REQUIRED_FIELD_MISSING",
                f"Required fields are missing: [{ext_field.name}]",
                (ext_field.name,),
            )
        matches = self.table.find(ext_field, value)
        if not matches:
            return self.insert(values, user_id, now), True
        if len(matches) > 1:
            raise RecordFailure.of(
                "DUPLICATE_EXTERNAL_ID",
                f"{ext_field.name}: more than one record found for external id field: "
                f"[{', '.join(matches)}]",
                (ext_field.name,),
            )
        if not ext_field.updateable:
            values.pop(ext_field.name, None)
        return self.update(matches[0], values, user_id, now), False

    def delete(self, raw_id: Any, user_id: str, now: str) -> str:
        record = self.existing(raw_id).copy()
        if self.hooks and self.hooks.before_delete:
            self.hooks.before_delete(self, record)
        record["IsDeleted"] = True
        record["LastModifiedDate"] = record["SystemModstamp"] = now
        record["LastModifiedById"] = user_id
        self.org.store.put(self.table, record)
        self.org.cascade_delete(self.obj, record["Id"], user_id, now)
        return str(record["Id"])

    def hard_delete(self, raw_id: Any) -> str:
        """Delete for good, bypassing the recycle bin; Get Deleted still reports it."""
        record_id = self._own_id(raw_id)
        record = self.table.rows.get(record_id)
        if record is None:
            raise RecordFailure.of(
                "INVALID_CROSS_REFERENCE_KEY", "invalid cross reference id"
            )
        self.org.store.remove(self.table, record_id)
        self.org.delete_log.add(
            self.obj.name, record_id, deletion_date(record, self.org.clock.now_text())
        )
        self.org.cascade_hard_delete(self.obj, record_id)
        return record_id

    # -- checks -----------------------------------------------------------------------

    def _check_access(
        self,
        values: Mapping[str, Any],
        *,
        creating: bool,
        current: Record | None = None,
    ) -> None:
        fields = self.obj.fields
        refused = []
        for name, value in values.items():
            field_def = fields[name.lower()]
            if creating and not field_def.createable:
                refused.append(field_def)
            elif not creating and not field_def.updateable:
                unchanged = current is not None and current.get(name) == value
                if not (field_def.createable and unchanged) and field_def.type != "id":
                    refused.append(field_def)
        if refused:
            raise RecordFailure.of(
                "INVALID_FIELD_FOR_INSERT_UPDATE",
                f"Unable to create/update fields: {_field_list(refused)}. Please check the "
                "security settings of this field and verify that it is read/write for your "
                "profile or permission set.",
                [f.name for f in refused],
            )

    def _check_required(self, record: Record) -> None:
        missing = [f.name for f in self.required if record[f.name] is None]
        if missing:
            raise RecordFailure.of(
                "REQUIRED_FIELD_MISSING",
                f"Required fields are missing: [{', '.join(missing)}]",
                missing,
            )

    def _resolve_references(self, record: Record, values: Mapping[str, Any]) -> None:
        for field_def in self.references:
            name = field_def.name
            if name not in values:
                continue
            value = record[name]
            if value is None:
                continue
            if isinstance(value, ExtRef):
                record[name] = self.org.resolve_ext_ref(value)
            else:
                record[name] = self.org.check_reference(self.obj, field_def, value)

    def _check_unique(self, record: Record, old: Record | None) -> None:
        for field_def in self.unique:
            value = record[field_def.name]
            if value is None or (old is not None and old[field_def.name] == value):
                continue
            others = [i for i in self.table.find(field_def, value) if i != record["Id"]]
            if others:
                raise RecordFailure.of(
                    "DUPLICATE_VALUE",
                    f"duplicate value found: {field_def.name} duplicates value on record "
                    f"with id: {others[0]}",
                    (field_def.name,),
                )

    def _check_rules(self, record: Record) -> None:
        for rule in self.org.faults.rules_for(self.obj.name):
            if rule.matches(record):
                raise RecordFailure(
                    RecordError(
                        "FIELD_CUSTOM_VALIDATION_EXCEPTION", rule.message, (rule.field,)
                    )
                )


def convert_value_error(error: FieldValueError) -> RecordFailure:
    return RecordFailure(error.record_error())


# -- derived (formula-like) fields ------------------------------------------------------


def _full_name(record: Record) -> None:
    parts = [record.get("FirstName"), record.get("LastName")]
    record["Name"] = " ".join(p for p in parts if p) or None


def _opportunity(record: Record) -> None:
    stage = record.get("StageName") or ""
    record["IsClosed"] = stage.startswith("Closed")
    record["IsWon"] = stage == "Closed Won"


def _case(record: Record) -> None:
    record["IsClosed"] = record.get("Status") == "Closed"


_DERIVATIONS: dict[str, Callable[[Record], None]] = {
    "Contact": _full_name,
    "Lead": _full_name,
    "User": _full_name,
    "Opportunity": _opportunity,
    "Case": _case,
}


def _derivation(obj: ObjectDef) -> Callable[[Record], None] | None:
    return _DERIVATIONS.get(obj.name)


def _hooks(obj: ObjectDef) -> Hooks | None:
    """The rules of files and prices (files.py, pricebooks.py), if the object has any."""
    from salesforce_emulator import files, pricebooks

    key = obj.name.lower()
    return files.HOOKS.get(key) or pricebooks.HOOKS.get(key)


def format_auto_number(display_format: str | None, number: int) -> str:
    """Apply an auto-number format such as ``INV-{0000}``."""
    fmt = display_format or "{0}"
    match = re.search(r"\{(0+)\}", fmt)
    if match is None:
        return f"{fmt}{number}"
    width = len(match.group(1))
    return fmt[: match.start()] + str(number).zfill(width) + fmt[match.end() :]
