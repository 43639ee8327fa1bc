"""What the engine needs to know of an sObject's describe, as plain data."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

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


@dataclass(frozen=True)
class FieldInfo:
    name: str
    type: str
    createable: bool = True
    updateable: bool = True
    nillable: bool = True
    defaulted_on_create: bool = False
    reference_to: tuple[str, ...] = ()
    relationship_name: str | None = None
    # What a masked value must fit (issue 14): text length, digits, picklist values.
    length: int = 0
    precision: int = 0
    scale: int = 0
    digits: int = 0
    picklist_values: tuple[str, ...] = ()

    @property
    def required_on_insert(self) -> bool:
        return self.createable and not self.nillable and not self.defaulted_on_create

    @property
    def type_family(self) -> str:
        if self.type in TEXT_TYPES:
            return "text"
        if self.type in NUMBER_TYPES:
            return "number"
        return self.type


@dataclass(frozen=True)
class ObjectSchema:
    name: str
    fields: dict[str, FieldInfo]  # keyed by lower-case API name

    def field(self, name: str) -> FieldInfo | None:
        return self.fields.get(name.lower())


def object_schema(describe: dict[str, Any]) -> ObjectSchema:
    """Build an ObjectSchema from an sObject describe response."""
    fields = {
        item["name"].lower(): FieldInfo(
            name=item["name"],
            type=item["type"],
            createable=bool(item.get("createable")),
            updateable=bool(item.get("updateable")),
            nillable=bool(item.get("nillable", True)),
            defaulted_on_create=bool(item.get("defaultedOnCreate")),
            reference_to=tuple(item.get("referenceTo") or ()),
            relationship_name=item.get("relationshipName"),
            length=int(item.get("length") or 0),
            precision=int(item.get("precision") or 0),
            scale=int(item.get("scale") or 0),
            digits=int(item.get("digits") or 0),
            picklist_values=_active_values(item),
        )
        for item in describe["fields"]
    }
    return ObjectSchema(name=describe["name"], fields=fields)


def _active_values(item: dict[str, Any]) -> tuple[str, ...]:
    return tuple(
        str(value["value"])
        for value in item.get("picklistValues") or ()
        if value.get("active", True) and value.get("value") is not None
    )
