"""Object and field definitions of an emulated org.

These dataclasses are shared by the SOQL engine, the store and the HTTP layer. Field and
object names are looked up case-insensitively, as Salesforce does, but always reported
with their canonical spelling.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

# Salesforce field types the emulator knows. Values are stored as they appear in REST
# JSON: str for text, picklists, ids, dates ("2024-01-15") and datetimes
# ("2024-01-15T10:30:00.000+0000"); int / float for numbers; bool for booleans.
TEXT_TYPES = frozenset(
    {
        "string",
        "textarea",
        "email",
        "phone",
        "url",
        "picklist",
        "multipicklist",
        "combobox",
        "encryptedstring",
    }
)
NUMBER_TYPES = frozenset({"int", "long", "double", "currency", "percent"})
# Types describe reports as groupable: false (SOQL refuses them in GROUP BY).
NOT_GROUPABLE_TYPES = frozenset(
    {
        "textarea",
        "double",
        "currency",
        "percent",
        "datetime",
        "multipicklist",
        "encryptedstring",
    }
)


@dataclass(frozen=True)
class FieldDef:
    name: str
    type: str
    label: str = ""
    length: int = 0
    precision: int = 0
    scale: int = 0
    nillable: bool = True
    createable: bool = True
    updateable: bool = True
    defaulted_on_create: bool = False
    calculated: bool = False
    auto_number: bool = False
    unique: bool = False
    case_sensitive: bool = False
    external_id: bool = False
    id_lookup: bool = False
    name_field: bool = False
    custom: bool = False
    reference_to: tuple[str, ...] = ()
    relationship_name: str | None = None
    # Master-detail relationships are required and cascade deletes.
    cascade_delete: bool = False
    picklist_values: tuple[str, ...] = ()
    restricted_picklist: bool = False
    default_value: Any = None
    # Name of the child relationship that the parent object reports for this lookup
    # (Account.Contacts for Contact.AccountId); None when the parent lists none.
    child_relationship_name: str | None = None
    # Auto-number display format, e.g. "INV-{0000}".
    display_format: str | None = None

    @property
    def is_reference(self) -> bool:
        return self.type == "reference"

    @property
    def groupable(self) -> bool:
        """Whether SOQL may GROUP BY this field (describe's ``groupable``)."""
        if self.type == "textarea":
            return self.length <= 255  # long text areas cannot be grouped
        return self.type not in NOT_GROUPABLE_TYPES

    @property
    def required_on_create(self) -> bool:
        """Whether a create must supply a value (describe's derived rule)."""
        return self.createable and not self.nillable and not self.defaulted_on_create


@dataclass
class ObjectDef:
    name: str
    key_prefix: str
    label: str = ""
    label_plural: str = ""
    custom: bool = False
    # System objects computed from the org (Organization...): queryable, not writable.
    read_only: bool = False
    # Stored like Salesforce's setup entities, whose SOQL is limited (restrictions.py).
    setup_storage: bool = False
    fields: dict[str, FieldDef] = field(
        default_factory=dict
    )  # keyed by lower-case name

    def add(self, field_def: FieldDef) -> None:
        self.fields[field_def.name.lower()] = field_def

    def field(self, name: str) -> FieldDef | None:
        """Return the field called ``name`` (any case), or None."""
        return self.fields.get(name.lower())

    def relationship(self, relationship_name: str) -> FieldDef | None:
        """Return the reference field whose relationshipName is ``relationship_name``."""
        wanted = relationship_name.lower()
        for field_def in self.fields.values():
            if (
                field_def.relationship_name
                and field_def.relationship_name.lower() == wanted
            ):
                return field_def
        return None
