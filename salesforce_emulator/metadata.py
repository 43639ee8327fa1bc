"""The schema of an emulated org: standard objects plus custom ones from JSON files.

Schema file format (any number of files may be given)::

    {"objects": [
        {"name": "Invoice__c", "label": "Invoice", "labelPlural": "Invoices",
         "nameField": {"label": "Invoice Number", "type": "autonumber",
                       "displayFormat": "INV-{0000}"},
         "fields": [
            {"name": "Account__c", "type": "reference", "referenceTo": ["Account"],
             "relationshipName": "Account__r", "masterDetail": true,
             "childRelationshipName": "Invoices__r"},
            {"name": "Number__c", "type": "string", "length": 40,
             "externalId": true, "unique": true},
            {"name": "Status__c", "type": "picklist",
             "values": ["Draft", "Sent"], "restricted": true},
            {"name": "Total__c", "type": "currency", "precision": 16, "scale": 2,
             "required": true}]},
        {"name": "Account", "fields": [{"name": "Region__c", "type": "string"}]}],
     "fields": {"Contact": [{"name": "Nickname__c", "type": "string"}]}}

An entry of ``objects`` naming an existing object adds its fields to that object; the
top-level ``fields`` map does the same. Custom objects get key prefixes a00, a01, ...
in declaration order, a Name field, OwnerId (unless they have a master-detail field)
and the system fields.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import replace
from pathlib import Path
from typing import Any

from salesforce_emulator.ids import BASE62
from salesforce_emulator.schema import NUMBER_TYPES, TEXT_TYPES, FieldDef, ObjectDef


class SchemaError(ValueError):
    """A schema file is invalid."""


def _label(name: str) -> str:
    """``AccountId`` -> "Account ID", ``Legacy_Id__c`` -> "Legacy Id"."""
    base = name[:-3] if name.endswith("__c") else name
    suffix = ""
    if base.endswith("Id") and len(base) > 2 and not name.endswith("__c"):
        base, suffix = base[:-2], " ID"
    words = re.sub(r"(?<=[a-z])(?=[A-Z])", " ", base.replace("_", " ")).strip()
    return (words + suffix) if words else name


def text(name: str, length: int = 255, **kw: Any) -> FieldDef:
    return FieldDef(
        name=name,
        type=kw.pop("type", "string"),
        label=kw.pop("label", _label(name)),
        length=length,
        **kw,
    )


def picklist(name: str, values: Sequence[str], **kw: Any) -> FieldDef:
    return FieldDef(
        name=name,
        type=kw.pop("type", "picklist"),
        label=kw.pop("label", _label(name)),
        length=kw.pop("length", 255),
        picklist_values=tuple(values),
        **kw,
    )


def number(
    name: str, type_: str = "double", precision: int = 18, scale: int = 0, **kw: Any
) -> FieldDef:
    return FieldDef(
        name=name,
        type=type_,
        label=kw.pop("label", _label(name)),
        precision=precision,
        scale=scale,
        **kw,
    )


def boolean(name: str, default: bool = False, **kw: Any) -> FieldDef:
    return FieldDef(
        name=name,
        type="boolean",
        label=kw.pop("label", _label(name)),
        nillable=False,
        defaulted_on_create=True,
        default_value=default,
        **kw,
    )


def date(name: str, type_: str = "date", **kw: Any) -> FieldDef:
    return FieldDef(name=name, type=type_, label=kw.pop("label", _label(name)), **kw)


def reference(
    name: str, to: Sequence[str], relationship: str, child: str | None = None, **kw: Any
) -> FieldDef:
    return FieldDef(
        name=name,
        type="reference",
        label=kw.pop("label", _label(name) or name),
        length=18,
        reference_to=tuple(to),
        relationship_name=relationship,
        child_relationship_name=child,
        **kw,
    )


def legacy_id() -> FieldDef:
    return text(
        "Legacy_Id__c",
        255,
        label="Legacy Id",
        custom=True,
        external_id=True,
        unique=True,
        id_lookup=True,
    )


READ_ONLY: dict[str, Any] = {"createable": False, "updateable": False}


def system_fields(owner_to: Sequence[str] | None) -> list[FieldDef]:
    """Fields every object has; OwnerId when ``owner_to`` is given."""
    audit: dict[str, Any] = {
        **READ_ONLY,
        "nillable": False,
        "defaulted_on_create": True,
    }
    fields = [
        FieldDef(
            name="Id",
            type="id",
            label="Record ID",
            length=18,
            nillable=False,
            id_lookup=True,
            defaulted_on_create=True,
            createable=False,
            updateable=False,
        ),
        FieldDef(
            name="IsDeleted",
            type="boolean",
            label="Deleted",
            default_value=False,
            **audit,
        ),
    ]
    if owner_to:
        fields.append(
            reference(
                "OwnerId",
                owner_to,
                "Owner",
                None,
                label="Owner ID",
                nillable=False,
                defaulted_on_create=True,
            )
        )
    fields += [
        date("CreatedDate", "datetime", label="Created Date", **audit),
        reference(
            "CreatedById", ["User"], "CreatedBy", None, label="Created By ID", **audit
        ),
        date("LastModifiedDate", "datetime", label="Last Modified Date", **audit),
        reference(
            "LastModifiedById",
            ["User"],
            "LastModifiedBy",
            None,
            label="Last Modified By ID",
            **audit,
        ),
        date("SystemModstamp", "datetime", label="System Modstamp", **audit),
    ]
    return fields


def _object(
    name: str,
    prefix: str,
    label: str,
    plural: str,
    owner: Sequence[str] | None,
    fields: Iterable[FieldDef],
    custom: bool = False,
) -> ObjectDef:
    obj = ObjectDef(
        name=name, key_prefix=prefix, label=label, label_plural=plural, custom=custom
    )
    system = system_fields(owner)
    for field_def in system[:2]:
        obj.add(field_def)
    for field_def in fields:
        obj.add(field_def)
    for field_def in system[2:]:
        obj.add(field_def)
    return obj


def _record_type(child: str | None = None) -> FieldDef:
    return reference(
        "RecordTypeId", ["RecordType"], "RecordType", child, label="Record Type ID"
    )


def _address(prefix: str) -> list[FieldDef]:
    return [
        text(f"{prefix}Street", 255, type="textarea"),
        text(f"{prefix}City", 40),
        text(f"{prefix}State", 80),
        text(f"{prefix}PostalCode", 20),
        text(f"{prefix}Country", 80),
    ]


INDUSTRIES = (
    "Agriculture",
    "Apparel",
    "Banking",
    "Biotechnology",
    "Chemicals",
    "Communications",
    "Construction",
    "Consulting",
    "Education",
    "Electronics",
    "Energy",
    "Engineering",
    "Entertainment",
    "Environmental",
    "Finance",
    "Food & Beverage",
    "Government",
    "Healthcare",
    "Hospitality",
    "Insurance",
    "Machinery",
    "Manufacturing",
    "Media",
    "Not For Profit",
    "Recreation",
    "Retail",
    "Shipping",
    "Technology",
    "Telecommunications",
    "Transportation",
    "Utilities",
    "Other",
)
ACCOUNT_TYPES = (
    "Prospect",
    "Customer - Direct",
    "Customer - Channel",
    "Channel Partner / Reseller",
    "Installation Partner",
    "Technology Partner",
    "Other",
)
LEAD_SOURCES = ("Web", "Phone Inquiry", "Partner Referral", "Purchased List", "Other")
OPPORTUNITY_STAGES = (
    "Prospecting",
    "Qualification",
    "Needs Analysis",
    "Value Proposition",
    "Id. Decision Makers",
    "Perception Analysis",
    "Proposal/Price Quote",
    "Negotiation/Review",
    "Closed Won",
    "Closed Lost",
)
LEAD_STATUSES = (
    "Open - Not Contacted",
    "Working - Contacted",
    "Closed - Converted",
    "Closed - Not Converted",
)
CASE_STATUSES = ("New", "Working", "Escalated", "Closed")


def account() -> ObjectDef:
    return _object(
        "Account",
        "001",
        "Account",
        "Accounts",
        ["User"],
        [
            text("Name", 255, label="Account Name", nillable=False, name_field=True),
            reference(
                "ParentId",
                ["Account"],
                "Parent",
                "ChildAccounts",
                label="Parent Account ID",
            ),
            _record_type(),
            picklist("Type", ACCOUNT_TYPES, label="Account Type"),
            picklist("Industry", INDUSTRIES),
            picklist("Rating", ("Hot", "Warm", "Cold")),
            picklist("AccountSource", LEAD_SOURCES),
            text("AccountNumber", 40),
            text("Site", 80, label="Account Site"),
            text("Phone", 40, type="phone"),
            text("Fax", 40, type="phone"),
            text("Website", 255, type="url"),
            number("NumberOfEmployees", "int", 8, 0, label="Employees"),
            number("AnnualRevenue", "currency", 18, 0),
            *_address("Billing"),
            *_address("Shipping"),
            text("Description", 32000, type="textarea"),
            legacy_id(),
        ],
    )


def contact() -> ObjectDef:
    return _object(
        "Contact",
        "003",
        "Contact",
        "Contacts",
        ["User"],
        [
            picklist("Salutation", ("Mr.", "Ms.", "Mrs.", "Dr.", "Prof.")),
            text("FirstName", 40),
            text("LastName", 80, nillable=False),
            text("Name", 121, label="Full Name", name_field=True, **READ_ONLY),
            reference("AccountId", ["Account"], "Account", "Contacts"),
            _record_type(),
            reference("ReportsToId", ["Contact"], "ReportsTo", "ReportsTo__r"),
            text("Email", 80, type="email"),
            text("Phone", 40, type="phone"),
            text("MobilePhone", 40, type="phone"),
            text("Title", 128),
            text("Department", 80),
            date("Birthdate"),
            picklist("LeadSource", LEAD_SOURCES),
            boolean("HasOptedOutOfEmail", label="Email Opt Out"),
            *_address("Mailing"),
            text("Description", 32000, type="textarea"),
            legacy_id(),
        ],
    )


def opportunity() -> ObjectDef:
    return _object(
        "Opportunity",
        "006",
        "Opportunity",
        "Opportunities",
        ["User"],
        [
            text("Name", 120, nillable=False, name_field=True),
            reference("AccountId", ["Account"], "Account", "Opportunities"),
            _record_type(),
            reference(
                "Pricebook2Id",
                ["Pricebook2"],
                "Pricebook2",
                "Opportunities",
                label="Price Book ID",
            ),
            picklist(
                "StageName",
                OPPORTUNITY_STAGES,
                label="Stage",
                nillable=False,
                restricted_picklist=True,
            ),
            number("Amount", "currency", 16, 2),
            number("Probability", "percent", 3, 0, label="Probability (%)"),
            date("CloseDate", nillable=False),
            picklist(
                "Type",
                (
                    "Existing Customer - Upgrade",
                    "Existing Customer - Replacement",
                    "Existing Customer - Downgrade",
                    "New Customer",
                ),
                label="Opportunity Type",
            ),
            picklist("LeadSource", LEAD_SOURCES),
            text("NextStep", 255),
            FieldDef(
                name="IsClosed",
                type="boolean",
                label="Closed",
                nillable=False,
                defaulted_on_create=True,
                calculated=True,
                default_value=False,
                **READ_ONLY,
            ),
            FieldDef(
                name="IsWon",
                type="boolean",
                label="Won",
                nillable=False,
                defaulted_on_create=True,
                calculated=True,
                default_value=False,
                **READ_ONLY,
            ),
            text("Description", 32000, type="textarea"),
            legacy_id(),
        ],
    )


def lead() -> ObjectDef:
    return _object(
        "Lead",
        "00Q",
        "Lead",
        "Leads",
        ["Group", "User"],
        [
            picklist("Salutation", ("Mr.", "Ms.", "Mrs.", "Dr.", "Prof.")),
            text("FirstName", 40),
            text("LastName", 80, nillable=False),
            text("Name", 121, label="Full Name", name_field=True, **READ_ONLY),
            text("Company", 255, nillable=False),
            _record_type(),
            text("Email", 80, type="email"),
            text("Phone", 40, type="phone"),
            text("Title", 128),
            picklist(
                "Status",
                LEAD_STATUSES,
                nillable=False,
                defaulted_on_create=True,
                default_value=LEAD_STATUSES[0],
            ),
            picklist("LeadSource", LEAD_SOURCES),
            picklist("Industry", INDUSTRIES),
            picklist("Rating", ("Hot", "Warm", "Cold")),
            number("AnnualRevenue", "currency", 18, 0),
            number("NumberOfEmployees", "int", 8, 0, label="Employees"),
            *_address(""),
            boolean("IsConverted", label="Converted"),
            text("Description", 32000, type="textarea"),
            legacy_id(),
        ],
    )


def case() -> ObjectDef:
    return _object(
        "Case",
        "500",
        "Case",
        "Cases",
        ["Group", "User"],
        [
            FieldDef(
                name="CaseNumber",
                type="string",
                label="Case Number",
                length=30,
                nillable=False,
                defaulted_on_create=True,
                auto_number=True,
                name_field=True,
                display_format="{00000000}",
                **READ_ONLY,
            ),
            reference("AccountId", ["Account"], "Account", "Cases"),
            reference("ContactId", ["Contact"], "Contact", "Cases"),
            reference("ParentId", ["Case"], "Parent", "Cases"),
            _record_type(),
            text("Subject", 255),
            picklist(
                "Status",
                CASE_STATUSES,
                nillable=False,
                defaulted_on_create=True,
                default_value="New",
            ),
            picklist(
                "Priority",
                ("High", "Medium", "Low"),
                defaulted_on_create=True,
                default_value="Medium",
            ),
            picklist("Origin", ("Phone", "Email", "Web"), label="Case Origin"),
            picklist(
                "Type", ("Question", "Problem", "Feature Request"), label="Case Type"
            ),
            picklist(
                "Reason",
                (
                    "Installation",
                    "Equipment Complexity",
                    "Performance",
                    "Breakdown",
                    "Other",
                ),
                label="Case Reason",
            ),
            text("SuppliedName", 80, label="Web Name"),
            text("SuppliedEmail", 80, type="email", label="Web Email"),
            FieldDef(
                name="IsClosed",
                type="boolean",
                label="Closed",
                nillable=False,
                defaulted_on_create=True,
                calculated=True,
                default_value=False,
                **READ_ONLY,
            ),
            text("Description", 32000, type="textarea"),
            legacy_id(),
        ],
    )


def user() -> ObjectDef:
    zones = (
        "America/Los_Angeles",
        "America/New_York",
        "Europe/London",
        "Europe/Paris",
        "GMT",
    )
    return _object(
        "User",
        "005",
        "User",
        "Users",
        None,
        [
            text("Username", 80, nillable=False, unique=True, id_lookup=True),
            text("FirstName", 40),
            text("LastName", 80, nillable=False),
            text("Name", 121, label="Full Name", name_field=True, **READ_ONLY),
            text("Email", 128, type="email", nillable=False),
            text("Alias", 8, nillable=False),
            text("CommunityNickname", 40, label="Nickname"),
            boolean("IsActive", True, label="Active"),
            text("Title", 80),
            text("Department", 80),
            text("CompanyName", 80),
            reference("ManagerId", ["User"], "Manager", "ManagedUsers"),
            picklist(
                "TimeZoneSidKey",
                zones,
                label="Time Zone",
                nillable=False,
                defaulted_on_create=True,
                default_value="GMT",
            ),
            picklist(
                "LocaleSidKey",
                ("en_US", "en_GB", "fr_FR", "de_DE"),
                label="Locale",
                nillable=False,
                defaulted_on_create=True,
                default_value="en_US",
            ),
            picklist(
                "LanguageLocaleKey",
                ("en_US", "fr", "de"),
                label="Language",
                nillable=False,
                defaulted_on_create=True,
                default_value="en_US",
            ),
            picklist(
                "EmailEncodingKey",
                ("UTF-8", "ISO-8859-1"),
                label="Email Encoding",
                nillable=False,
                defaulted_on_create=True,
                default_value="UTF-8",
            ),
            picklist(
                "UserType",
                ("Standard", "AutomatedProcess"),
                defaulted_on_create=True,
                default_value="Standard",
                **READ_ONLY,
            ),
        ],
    )


def record_type() -> ObjectDef:
    return _object(
        "RecordType",
        "012",
        "Record Type",
        "Record Types",
        None,
        [
            text("Name", 80, label="Record Type Name", nillable=False, name_field=True),
            text("DeveloperName", 80, label="Record Type Name", nillable=False),
            text("NamespacePrefix", 15, **READ_ONLY),
            text("Description", 255),
            picklist(
                "SobjectType",
                (),
                type="picklist",
                label="SObject Type Name",
                nillable=False,
                updateable=False,
            ),
            boolean("IsActive", True, label="Active"),
        ],
    )


def group() -> ObjectDef:
    return _object(
        "Group",
        "00G",
        "Group",
        "Groups",
        None,
        [
            text("Name", 40, nillable=False, name_field=True),
            text("DeveloperName", 80),
            picklist(
                "Type",
                ("Regular", "Queue"),
                nillable=False,
                defaulted_on_create=True,
                default_value="Regular",
            ),
            text("Email", 255, type="email"),
        ],
    )


def standard_objects() -> list[ObjectDef]:
    # Imported here: both modules build their objects with this module's helpers.
    from salesforce_emulator import files, pricebooks

    return [
        account(),
        contact(),
        opportunity(),
        lead(),
        case(),
        user(),
        record_type(),
        group(),
        *files.file_objects(),
        *pricebooks.price_objects(),
    ]


# ---------------------------------------------------------------------------
# schema files

_TYPE_ALIASES = {
    "text": "string",
    "number": "double",
    "checkbox": "boolean",
    "lookup": "reference",
    "masterdetail": "reference",
    "longtextarea": "textarea",
    "richtextarea": "textarea",
    "autonumber": "string",
    "integer": "int",
    "datetime": "datetime",
    "decimal": "double",
}
_KNOWN_TYPES = (
    TEXT_TYPES | NUMBER_TYPES | {"boolean", "date", "datetime", "time", "reference"}
)
_DEFAULT_LENGTH = {
    "string": 255,
    "textarea": 32768,
    "email": 80,
    "phone": 40,
    "url": 255,
    "picklist": 255,
    "multipicklist": 4099,
    "combobox": 255,
    "encryptedstring": 175,
    "reference": 18,
}
_DEFAULT_PRECISION = {"int": 9, "long": 18, "double": 18, "currency": 18, "percent": 18}


def _custom_field(spec: Mapping[str, Any]) -> FieldDef:
    """Build a FieldDef from one field entry of a schema file."""
    name = str(spec.get("name") or "")
    if not re.fullmatch(r"[A-Za-z][A-Za-z0-9_]*__c", name):
        raise SchemaError(f"custom field name must end with __c: {name!r}")
    raw_type = str(spec.get("type", "string")).lower()
    type_ = _TYPE_ALIASES.get(raw_type, raw_type)
    if type_ not in _KNOWN_TYPES:
        raise SchemaError(f"{name}: unknown field type {spec.get('type')!r}")
    master = bool(spec.get("masterDetail") or raw_type == "masterdetail")
    auto = bool(spec.get("autoNumber") or raw_type == "autonumber")
    calculated = bool(spec.get("calculated"))
    values = tuple(str(v) for v in spec.get("values", spec.get("picklistValues", ())))
    to = tuple(spec.get("referenceTo", ()))
    if type_ == "reference" and not to:
        raise SchemaError(f"{name}: reference fields need referenceTo")
    read_only = auto or calculated
    required = bool(spec.get("required")) or master
    is_bool = type_ == "boolean"
    return FieldDef(
        name=name,
        type=type_,
        label=str(spec.get("label") or _label(name)),
        length=int(spec.get("length", _DEFAULT_LENGTH.get(type_, 0))),
        precision=int(spec.get("precision", _DEFAULT_PRECISION.get(type_, 0))),
        scale=int(spec.get("scale", 2 if type_ == "currency" else 0)),
        nillable=bool(spec.get("nillable", not required and not is_bool and not auto)),
        createable=bool(spec.get("createable", not read_only)),
        updateable=bool(spec.get("updateable", not read_only and not master)),
        defaulted_on_create=is_bool or auto or "defaultValue" in spec,
        calculated=calculated,
        auto_number=auto,
        unique=bool(spec.get("unique")),
        case_sensitive=bool(spec.get("caseSensitive")),
        external_id=bool(spec.get("externalId")),
        id_lookup=bool(spec.get("externalId") or auto),
        custom=True,
        reference_to=to,
        relationship_name=(spec.get("relationshipName") or name[:-3] + "__r")
        if type_ == "reference"
        else None,
        cascade_delete=master,
        picklist_values=values,
        restricted_picklist=bool(spec.get("restricted")),
        default_value=spec.get("defaultValue", False if is_bool else None),
        child_relationship_name=spec.get("childRelationshipName"),
        display_format=spec.get("displayFormat") if auto else None,
    )


def _name_field(spec: Mapping[str, Any] | None, label: str) -> FieldDef:
    spec = spec or {}
    if str(spec.get("type", "string")).lower() == "autonumber":
        return FieldDef(
            name="Name",
            type="string",
            label=spec.get("label", f"{label} Name"),
            length=80,
            nillable=False,
            defaulted_on_create=True,
            auto_number=True,
            id_lookup=True,
            name_field=True,
            display_format=spec.get("displayFormat", "{0000}"),
            **READ_ONLY,
        )
    return FieldDef(
        name="Name",
        type="string",
        label=spec.get("label", f"{label} Name"),
        length=int(spec.get("length", 80)),
        defaulted_on_create=True,
        name_field=True,
    )


def _custom_prefix(index: int) -> str:
    return "a" + BASE62[index // 62] + BASE62[index % 62]


class SchemaBuilder:
    """Accumulates objects: the standard ones, then schema files in order."""

    def __init__(self) -> None:
        self.objects: dict[str, ObjectDef] = {
            o.name.lower(): o for o in standard_objects()
        }
        self._custom_count = 0

    def load_file(self, path: str | Path) -> None:
        try:
            data = json.loads(Path(path).read_text(encoding="utf-8"))
        except (OSError, ValueError) as exc:
            raise SchemaError(f"cannot read schema file {path}: {exc}") from exc
        self.load(data)

    def load(self, data: Mapping[str, Any]) -> None:
        if not isinstance(data, Mapping):
            raise SchemaError("schema must be a JSON object")
        for spec in data.get("objects", ()):
            self._load_object(spec)
        for object_name, fields in dict(data.get("fields", {})).items():
            self._add_fields(self._existing(object_name), fields)

    def _existing(self, name: str) -> ObjectDef:
        obj = self.objects.get(name.lower())
        if obj is None:
            raise SchemaError(f"unknown object {name!r}")
        return obj

    def _add_fields(self, obj: ObjectDef, specs: Iterable[Mapping[str, Any]]) -> None:
        for spec in specs:
            field_def = _with_child_name(_custom_field(spec), obj)
            if obj.field(field_def.name) is not None:
                raise SchemaError(f"{obj.name}.{field_def.name} is defined twice")
            _insert_before_system(obj, field_def)

    def _load_object(self, spec: Mapping[str, Any]) -> None:
        name = str(spec.get("name") or "")
        if name.lower() in self.objects:
            self._add_fields(self.objects[name.lower()], spec.get("fields", ()))
            return
        if not re.fullmatch(r"[A-Za-z][A-Za-z0-9_]*__c", name):
            raise SchemaError(f"custom object name must end with __c: {name!r}")
        fields = [_custom_field(f) for f in spec.get("fields", ())]
        master = any(f.cascade_delete for f in fields)
        label = str(spec.get("label") or _label(name))
        plural = str(spec.get("labelPlural") or label + "s")
        prefix = str(spec.get("keyPrefix") or _custom_prefix(self._custom_count))
        self._custom_count += 1
        obj = _object(
            name,
            prefix,
            label,
            plural,
            None if master else ["User"],
            [_name_field(spec.get("nameField"), label)],
            custom=True,
        )
        for field_def in fields:
            _insert_before_system(obj, _with_child_name(field_def, obj))
        self.objects[name.lower()] = obj

    def build(self) -> dict[str, ObjectDef]:
        from salesforce_emulator.files import widen_parent_references

        widen_parent_references(self.objects)
        self._check_references()
        return self.objects

    def _check_references(self) -> None:
        for obj in self.objects.values():
            for field_def in obj.fields.values():
                for target in field_def.reference_to:
                    if target.lower() not in self.objects:
                        raise SchemaError(
                            f"{obj.name}.{field_def.name} refers to unknown object {target}"
                        )


def _with_child_name(field_def: FieldDef, obj: ObjectDef) -> FieldDef:
    """Give a custom lookup a default child relationship name (``Invoices__r``)."""
    if not field_def.is_reference or field_def.child_relationship_name:
        return field_def
    base = re.sub(r"\W+", "_", obj.label_plural or obj.name).strip("_") or obj.name
    return replace(field_def, child_relationship_name=f"{base}__r")


def _insert_before_system(obj: ObjectDef, field_def: FieldDef) -> None:
    """Add a field before the trailing audit fields, keeping describe order natural."""
    tail_names = {
        "createddate",
        "createdbyid",
        "lastmodifieddate",
        "lastmodifiedbyid",
        "systemmodstamp",
    }
    tail = [f for key, f in obj.fields.items() if key in tail_names]
    for f in tail:
        del obj.fields[f.name.lower()]
    obj.add(field_def)
    for f in tail:
        obj.add(f)


def build_schema(
    schema_files: Sequence[str | Path] = (), extra: Sequence[Mapping[str, Any]] = ()
) -> dict[str, ObjectDef]:
    """Return all objects keyed by lower-case name: standard + files + inline dicts."""
    builder = SchemaBuilder()
    for path in schema_files:
        builder.load_file(path)
    for data in extra:
        builder.load(data)
    return builder.build()
