"""Read-only system objects computed from an org: Organization, EntityDefinition and
FieldDefinition.

Their rows are not stored: each query builds them from the org's identity and from the
same object and field definitions describe reports, so they can never disagree with
describe. The SOQL engine reads them like any other object; the write routes do not
know them, so every write is refused.

- ``Organization``: one row, the org itself (Id = the Organization Id, IsSandbox from
  the org's sandbox flag).
- ``EntityDefinition``: one row per object; ``DurableId`` is the object's API name, as
  for standard objects in real orgs, and every row's ``Id`` is
  ``000000000000000AAA`` as Salesforce answers for this entity.
- ``FieldDefinition``: one row per field; ``EntityDefinitionId`` holds the object's
  DurableId, so both ``WHERE EntityDefinitionId = 'Account'`` and
  ``WHERE EntityDefinition.QualifiedApiName = 'Account'`` work.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Iterable
from typing import TYPE_CHECKING, Any, Final

from salesforce_emulator.metadata import (
    boolean,
    date,
    number,
    picklist,
    reference,
    text,
)
from salesforce_emulator.schema import NUMBER_TYPES, FieldDef, ObjectDef

if TYPE_CHECKING:
    from salesforce_emulator.org import Org

Row = dict[str, Any]

# What Salesforce returns as the Id of every EntityDefinition / FieldDefinition row.
SHARED_ID: Final = "000000000000000AAA"
ORGANIZATION_TYPE: Final = "Enterprise Edition"


def _read_only(fields: Iterable[FieldDef]) -> list[FieldDef]:
    return [dataclasses.replace(f, createable=False, updateable=False) for f in fields]


def _object(name: str, prefix: str, plural: str, fields: list[FieldDef]) -> ObjectDef:
    obj = ObjectDef(
        name,
        prefix,
        label=name,
        label_plural=plural,
        read_only=True,
        # Organization is an ordinary sObject; the definitions are setup entities.
        setup_storage=name != "Organization",
    )
    for field_def in _read_only(fields):
        obj.add(field_def)
    return obj


def _id_field() -> FieldDef:
    return FieldDef("Id", "id", label="Record ID", length=18, nillable=False)


def _audit_fields() -> list[FieldDef]:
    return [
        date("CreatedDate", "datetime", label="Created Date"),
        reference("CreatedById", ["User"], "CreatedBy", label="Created By ID"),
        date("LastModifiedDate", "datetime", label="Last Modified Date"),
        reference(
            "LastModifiedById", ["User"], "LastModifiedBy", label="Last Modified By ID"
        ),
        date("SystemModstamp", "datetime", label="System Modstamp"),
    ]


def _organization() -> ObjectDef:
    access = ("None", "Read", "Edit", "ReadEditTransfer", "ControlledByParent")
    fields = [
        _id_field(),
        text("Name", 80, label="Name", name_field=True),
        text("Division", 80),
        text("Street", 255, type="textarea"),
        text("City", 40),
        text("State", 80),
        text("PostalCode", 20, label="Zip/Postal Code"),
        text("Country", 80),
        text("Phone", 40, type="phone"),
        text("Fax", 40, type="phone"),
        text("PrimaryContact", 80),
        text("DefaultLocaleSidKey", 40, label="Locale"),
        text("TimeZoneSidKey", 40, label="Time Zone"),
        text("LanguageLocaleKey", 40, label="Language"),
        text("SignupCountryIsoCode", 2),
        text("UiSkin", 40),
        text("ComplianceBccEmail", 80, type="email"),
        text("InstanceName", 5, label="Instance Name"),
        text("NamespacePrefix", 15, label="Namespace Prefix"),
        picklist("OrganizationType", (ORGANIZATION_TYPE, "Developer Edition")),
        boolean("IsSandbox", label="Is Sandbox"),
        boolean("IsReadOnly", label="Is Read Only"),
        boolean("ReceivesInfoEmails"),
        boolean("ReceivesAdminInfoEmails"),
        boolean("PreferencesRequireOpportunityProducts"),
        boolean("UsesStartDateAsFiscalYearName"),
        number("FiscalYearStartMonth", "int", precision=2),
        picklist("DefaultAccountAccess", access),
        picklist("DefaultContactAccess", access),
        picklist("DefaultOpportunityAccess", access),
        picklist("DefaultLeadAccess", access),
        picklist("DefaultCaseAccess", access),
        date("TrialExpirationDate", "datetime"),
        *_audit_fields(),
    ]
    return _object("Organization", "00D", "Organizations", fields)


def _entity_definition() -> ObjectDef:
    flags = (
        "IsCustomizable",
        "IsCustomSetting",
        "IsApexTriggerable",
        "IsCompactLayoutable",
        "IsDeprecatedAndHidden",
        "IsEverCreatable",
        "IsEverDeletable",
        "IsEverUpdatable",
        "IsIdEnabled",
        "IsLayoutable",
        "IsQueryable",
        "IsReplicable",
        "IsRetrieveable",
        "IsSearchable",
        "IsTriggerable",
    )
    fields = [
        _id_field(),
        text("DurableId", 255),
        text("QualifiedApiName", 250, label="Qualified API Name"),
        text("DeveloperName", 40),
        text("MasterLabel", 40),
        text("Label", 40),
        text("PluralLabel", 40),
        text("NamespacePrefix", 15),
        text("KeyPrefix", 3),
        text("InternalSharingModel", 40),
        text("ExternalSharingModel", 40),
        text("PublisherId", 40),
        text("DetailUrl", 255, type="url"),
        text("EditUrl", 255, type="url"),
        text("NewUrl", 255, type="url"),
        *(boolean(flag) for flag in flags),
        date("LastModifiedDate", "datetime"),
        reference("LastModifiedById", ["User"], "LastModifiedBy"),
    ]
    return _object("EntityDefinition", "000", "Entity Definitions", fields)


def _field_definition() -> ObjectDef:
    flags = (
        "IsApiFilterable",
        "IsApiGroupable",
        "IsApiSortable",
        "IsCalculated",
        "IsCompactLayoutable",
        "IsCompound",
        "IsFieldHistoryTracked",
        "IsHighScaleNumber",
        "IsHtmlFormatted",
        "IsIndexed",
        "IsListVisible",
        "IsNameField",
        "IsNillable",
        "IsPolymorphicForeignKey",
        "IsWorkflowFilterable",
    )
    fields = [
        _id_field(),
        text("DurableId", 255),
        text("QualifiedApiName", 250, label="Qualified API Name"),
        text("DeveloperName", 40),
        text("MasterLabel", 40),
        text("Label", 40),
        text("NamespacePrefix", 15),
        text("DataType", 255, label="Data Type"),
        text("ValueTypeId", 255, label="Value Type ID"),
        text("ExtraTypeInfo", 255),
        text("RelationshipName", 255),
        text("ReferenceTargetField", 255),
        text("Description", 1000, type="textarea"),
        text("InlineHelpText", 510, type="textarea"),
        text("PublisherId", 40),
        text("ControllingFieldDefinitionId", 255),
        number("Length", "int", precision=9),
        number("Precision", "int", precision=9),
        number("Scale", "int", precision=9),
        number("Digits", "int", precision=9),
        *(boolean(flag) for flag in flags),
        # A DurableId, not a record id: typed as text so that it compares with
        # 'Account' in WHERE, and still followed as a relationship.
        text(
            "EntityDefinitionId",
            255,
            label="Entity Definition ID",
            reference_to=("EntityDefinition",),
            relationship_name="EntityDefinition",
        ),
        date("LastModifiedDate", "datetime"),
        reference("LastModifiedById", ["User"], "LastModifiedBy"),
    ]
    return _object("FieldDefinition", "000", "Field Definitions", fields)


SYSTEM_OBJECTS: Final[dict[str, ObjectDef]] = {
    obj.name.lower(): obj
    for obj in (_organization(), _entity_definition(), _field_definition())
}


def object_def(name: str) -> ObjectDef | None:
    """The system object called ``name`` (any case), or None."""
    return SYSTEM_OBJECTS.get(name.lower())


def rows(org: Org, sobject: str) -> list[Row]:
    """The rows of system object ``sobject``, computed now from ``org``."""
    return _ROWS[sobject.lower()](org)


def get(org: Org, sobject: str, key: str) -> Row | None:
    """The row of ``sobject`` whose Id (or DurableId, for definitions) is ``key``."""
    id_field = "Id" if sobject.lower() == "organization" else "DurableId"
    wanted = key.lower()
    return next((r for r in rows(org, sobject) if r[id_field].lower() == wanted), None)


def all_objects(org: Org) -> list[ObjectDef]:
    """Every object of ``org``, the system ones last (EntityDefinition's rows)."""
    return [*org.iter_objects(), *SYSTEM_OBJECTS.values()]


# -- rows -------------------------------------------------------------------------------


def _organization_rows(org: Org) -> list[Row]:
    admin = org.user(org.integration_user_id) or {}
    created = admin.get("CreatedDate")
    pod = org.organization_id[3:5]
    values: Row = {
        "Id": org.organization_id,
        "Name": admin.get("CompanyName") or f"{org.name} org",
        "InstanceName": f"EMU{pod}S" if org.is_sandbox else f"EMU{pod}",
        "NamespacePrefix": None,
        "OrganizationType": ORGANIZATION_TYPE,
        "IsSandbox": org.is_sandbox,
        "IsReadOnly": False,
        "DefaultLocaleSidKey": admin.get("LocaleSidKey") or "en_US",
        "TimeZoneSidKey": admin.get("TimeZoneSidKey") or "GMT",
        "LanguageLocaleKey": admin.get("LanguageLocaleKey") or "en_US",
        "SignupCountryIsoCode": "US",
        "UiSkin": "Theme3",
        "ReceivesInfoEmails": False,
        "ReceivesAdminInfoEmails": False,
        "PreferencesRequireOpportunityProducts": False,
        "UsesStartDateAsFiscalYearName": False,
        "FiscalYearStartMonth": 1,
        "DefaultAccountAccess": "Edit",
        "DefaultContactAccess": "ControlledByParent",
        "DefaultOpportunityAccess": "Edit",
        "DefaultLeadAccess": "ReadEditTransfer",
        "DefaultCaseAccess": "ReadEditTransfer",
        "CreatedDate": created,
        "CreatedById": org.integration_user_id,
        "LastModifiedDate": created,
        "LastModifiedById": org.integration_user_id,
        "SystemModstamp": created,
    }
    return [_complete(SYSTEM_OBJECTS["organization"], values)]


def _entity_rows(org: Org) -> list[Row]:
    return [
        _complete(SYSTEM_OBJECTS["entitydefinition"], _entity_values(org, obj))
        for obj in all_objects(org)
    ]


def _entity_values(org: Org, obj: ObjectDef) -> Row:
    writable = not obj.read_only
    return {
        "Id": SHARED_ID,
        "DurableId": obj.name,
        "QualifiedApiName": obj.name,
        "DeveloperName": obj.name.removesuffix("__c"),
        "MasterLabel": obj.label or obj.name,
        "Label": obj.label or obj.name,
        "PluralLabel": obj.label_plural or obj.label or obj.name,
        "NamespacePrefix": None,
        "KeyPrefix": obj.key_prefix,
        "InternalSharingModel": "ReadWrite" if writable else "None",
        "ExternalSharingModel": "Private" if writable else "None",
        "PublisherId": "<local>" if obj.custom else "System",
        "DetailUrl": None,
        "EditUrl": None,
        "NewUrl": None,
        "IsCustomizable": writable,
        "IsCustomSetting": False,
        "IsApexTriggerable": writable,
        "IsCompactLayoutable": writable,
        "IsDeprecatedAndHidden": False,
        "IsEverCreatable": writable,
        "IsEverDeletable": writable,
        "IsEverUpdatable": writable,
        "IsIdEnabled": True,
        "IsLayoutable": writable,
        "IsQueryable": True,
        "IsReplicable": writable,
        "IsRetrieveable": True,
        "IsSearchable": writable,
        "IsTriggerable": writable,
        "LastModifiedById": org.integration_user_id,
    }


def _field_rows(org: Org) -> list[Row]:
    definition = SYSTEM_OBJECTS["fielddefinition"]
    return [
        _complete(definition, _field_values(org, obj, field_def))
        for obj in all_objects(org)
        for field_def in obj.fields.values()
    ]


def _field_values(org: Org, obj: ObjectDef, field_def: FieldDef) -> Row:
    kind = field_def.type
    return {
        "Id": SHARED_ID,
        "DurableId": f"{obj.name}.{field_def.name}",
        "QualifiedApiName": field_def.name,
        "DeveloperName": field_def.name.removesuffix("__c"),
        "MasterLabel": field_def.label or field_def.name,
        "Label": field_def.label or field_def.name,
        "NamespacePrefix": None,
        "DataType": data_type(field_def),
        "ValueTypeId": _VALUE_TYPES.get(kind, "string"),
        "RelationshipName": field_def.relationship_name,
        "PublisherId": "<local>" if field_def.custom else "System",
        "Length": field_def.length if kind not in NUMBER_TYPES else 0,
        "Precision": field_def.precision,
        "Scale": field_def.scale,
        "Digits": field_def.precision if kind in ("int", "long") else 0,
        "IsApiFilterable": True,
        "IsApiGroupable": field_def.groupable,
        "IsApiSortable": kind not in ("multipicklist", "encryptedstring"),
        "IsCalculated": field_def.calculated or field_def.auto_number,
        "IsCompactLayoutable": True,
        "IsCompound": False,
        "IsFieldHistoryTracked": False,
        "IsHighScaleNumber": False,
        "IsHtmlFormatted": False,
        "IsIndexed": kind == "id" or field_def.external_id or field_def.unique,
        "IsListVisible": True,
        "IsNameField": field_def.name_field,
        "IsNillable": field_def.nillable,
        "IsPolymorphicForeignKey": len(field_def.reference_to) > 1,
        "IsWorkflowFilterable": True,
        "EntityDefinitionId": obj.name,
        "LastModifiedById": org.integration_user_id,
    }


_VALUE_TYPES: Final = {
    "id": "id",
    "reference": "id",
    "boolean": "boolean",
    "int": "integer",
    "long": "long",
    "double": "double",
    "currency": "double",
    "percent": "double",
    "date": "date",
    "datetime": "datetime",
    "time": "time",
}
_PLAIN_TYPES: Final = {
    "email": "Email",
    "phone": "Phone",
    "picklist": "Picklist",
    "multipicklist": "Picklist (Multi-Select)",
    "combobox": "Picklist",
    "boolean": "Checkbox",
    "date": "Date",
    "datetime": "Date/Time",
    "time": "Time",
    "id": "Lookup()",
}
_NUMBER_LABELS: Final = {
    "int": "Number",
    "long": "Number",
    "double": "Number",
    "currency": "Currency",
    "percent": "Percent",
}


def data_type(field_def: FieldDef) -> str:
    """FieldDefinition.DataType as Setup shows it: ``Text(80)``, ``Lookup(Account)``,
    ``Currency(16, 2)``, ``Checkbox``..."""
    kind = field_def.type
    if field_def.auto_number:
        return "Auto Number"
    if kind == "reference":
        relation = "Master-Detail" if field_def.cascade_delete else "Lookup"
        return f"{relation}({','.join(field_def.reference_to)})"
    if kind in _NUMBER_LABELS:
        whole = max(field_def.precision - field_def.scale, 0)
        return f"{_NUMBER_LABELS[kind]}({whole}, {field_def.scale})"
    if kind in _PLAIN_TYPES:
        return _PLAIN_TYPES[kind]
    if kind == "textarea":
        area = "Long Text Area" if field_def.length > 255 else "Text Area"
        return f"{area}({field_def.length})"
    if kind == "url":
        return f"URL({field_def.length})"
    return f"Text({field_def.length})"


def _complete(obj: ObjectDef, values: Row) -> Row:
    """A row with every field of ``obj`` present (None where not given)."""
    return {f.name: values.get(f.name) for f in obj.fields.values()}


_ROWS: Final[dict[str, Callable[[Org], list[Row]]]] = {
    "organization": _organization_rows,
    "entitydefinition": _entity_rows,
    "fielddefinition": _field_rows,
}
