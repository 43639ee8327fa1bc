"""Global describe, sObject describe and basic-info JSON."""

from __future__ import annotations

from typing import Any

from salesforce_emulator import system_objects
from salesforce_emulator.ids import MASTER_RECORD_TYPE_ID
from salesforce_emulator.org import Org
from salesforce_emulator.schema import (
    NUMBER_TYPES,
    FieldDef,
    ObjectDef,
)

_SOAP_TYPES = {
    "id": "tns:ID",
    "reference": "tns:ID",
    "boolean": "xsd:boolean",
    "int": "xsd:int",
    "long": "xsd:long",
    "double": "xsd:double",
    "currency": "xsd:double",
    "percent": "xsd:double",
    "date": "xsd:date",
    "datetime": "xsd:dateTime",
    "time": "xsd:time",
    "base64": "xsd:base64Binary",
    "address": "urn:address",
    "location": "urn:location",
    "anyType": "xsd:anyType",
}
_NOT_SORTABLE = frozenset({"multipicklist", "encryptedstring"})


def _urls(obj: ObjectDef, version: str) -> dict[str, str]:
    base = f"/services/data/v{version}/sobjects/{obj.name}"
    return {
        "compactLayouts": f"{base}/describe/compactLayouts",
        "rowTemplate": f"{base}/{{ID}}",
        "approvalLayouts": f"{base}/describe/approvalLayouts",
        "defaultValues": f"{base}/defaultValues?recordTypeId&fields",
        "listviews": f"{base}/listviews",
        "describe": f"{base}/describe",
        "quickActions": f"{base}/quickActions",
        "layouts": f"{base}/describe/layouts",
        "sobject": base,
    }


def _flags(obj: ObjectDef) -> dict[str, Any]:
    system = obj.name in ("User", "RecordType", "Group") or obj.read_only
    writable = not obj.read_only
    return {
        "activateable": False,
        "associateEntityType": None,
        "associateParentEntity": None,
        "createable": writable,
        "custom": obj.custom,
        "customSetting": False,
        "deepCloneable": False,
        "deletable": not system,
        "deprecatedAndHidden": False,
        "feedEnabled": not system,
        "hasSubtypes": False,
        "isInterface": False,
        "isSubtype": False,
        "layoutable": writable,
        "mergeable": obj.name in ("Account", "Contact", "Lead"),
        "mruEnabled": writable,
        "queryable": True,
        "replicateable": writable,
        "retrieveable": True,
        "searchable": writable,
        "triggerable": writable,
        "undeletable": not system,
        "updateable": writable,
    }


def global_entry(obj: ObjectDef, version: str) -> dict[str, Any]:
    """One entry of ``GET /sobjects``."""
    return {
        **_flags(obj),
        "keyPrefix": obj.key_prefix,
        "label": obj.label or obj.name,
        "labelPlural": obj.label_plural or obj.label or obj.name,
        "name": obj.name,
        "urls": _urls(obj, version),
    }


def global_describe(org: Org, version: str) -> dict[str, Any]:
    return {
        "encoding": "UTF-8",
        "maxBatchSize": 200,
        "sobjects": [
            global_entry(obj, version) for obj in system_objects.all_objects(org)
        ],
    }


def basic_info(org: Org, obj: ObjectDef, version: str) -> dict[str, Any]:
    return {"objectDescribe": global_entry(obj, version), "recentItems": []}


def _picklist_values(field_def: FieldDef) -> list[dict[str, Any]]:
    return [
        {
            "active": True,
            "defaultValue": value == field_def.default_value,
            "label": value,
            "validFor": None,
            "value": value,
        }
        for value in field_def.picklist_values
    ]


def _byte_length(field_def: FieldDef) -> int:
    if field_def.type in ("id", "reference"):
        return 18
    return field_def.length * 3 if field_def.length else 0


def field_describe(obj: ObjectDef, field_def: FieldDef) -> dict[str, Any]:
    """One entry of ``fields`` in an sObject describe (every documented key)."""
    kind = field_def.type
    numeric = kind in NUMBER_TYPES
    integral = kind in ("int", "long")
    long_text = kind == "textarea" and field_def.length > 255
    return {
        "aggregatable": not long_text and kind not in ("boolean", "multipicklist"),
        "aiPredictionField": False,
        "autoNumber": field_def.auto_number,
        "byteLength": _byte_length(field_def),
        "calculated": field_def.calculated,
        "calculatedFormula": None,
        "cascadeDelete": field_def.cascade_delete,
        "caseSensitive": field_def.case_sensitive,
        "compoundFieldName": None,
        "controllerName": None,
        "createable": field_def.createable,
        "custom": field_def.custom,
        "defaultValue": field_def.default_value,
        "defaultValueFormula": None,
        "defaultedOnCreate": field_def.defaulted_on_create,
        "dependentPicklist": False,
        "deprecatedAndHidden": False,
        "digits": field_def.precision if integral else 0,
        "displayLocationInDecimal": False,
        "encrypted": kind == "encryptedstring",
        "externalId": field_def.external_id,
        "extraTypeInfo": _extra_type_info(field_def),
        "filterable": not long_text,
        "filteredLookupInfo": None,
        "formulaTreatNullNumberAsZero": False,
        "groupable": field_def.groupable,
        "highScaleNumber": False,
        "htmlFormatted": False,
        "idLookup": field_def.id_lookup,
        "inlineHelpText": None,
        "label": field_def.label or field_def.name,
        "length": 0
        if numeric or kind in ("boolean", "date", "datetime", "time")
        else field_def.length,
        "mask": None,
        "maskType": None,
        "name": field_def.name,
        "nameField": field_def.name_field,
        "namePointing": len(field_def.reference_to) > 1,
        "nillable": field_def.nillable,
        "permissionable": field_def.nillable
        and not field_def.calculated
        and field_def.type != "id",
        "picklistValues": _picklist_values(field_def),
        "polymorphicForeignKey": len(field_def.reference_to) > 1,
        "precision": field_def.precision if numeric and not integral else 0,
        "queryByDistance": False,
        "referenceTargetField": None,
        "referenceTo": list(field_def.reference_to),
        "relationshipName": field_def.relationship_name,
        "relationshipOrder": 0 if field_def.cascade_delete else None,
        "restrictedDelete": False,
        "restrictedPicklist": field_def.restricted_picklist,
        "scale": field_def.scale if numeric and not integral else 0,
        "searchPrefilterable": kind == "reference",
        "soapType": _SOAP_TYPES.get(kind, "xsd:string"),
        "sortable": kind not in _NOT_SORTABLE and not long_text,
        "type": kind,
        "unique": field_def.unique,
        "updateable": field_def.updateable,
        "writeRequiresMasterRead": field_def.cascade_delete,
    }


def _extra_type_info(field_def: FieldDef) -> str | None:
    return "plaintextarea" if field_def.type == "textarea" else None


def child_relationships(org: Org, obj: ObjectDef) -> list[dict[str, Any]]:
    children = []
    for child in org.iter_objects():
        for field_def in child.fields.values():
            if obj.name not in field_def.reference_to:
                continue
            children.append(
                {
                    "cascadeDelete": field_def.cascade_delete,
                    "childSObject": child.name,
                    "deprecatedAndHidden": False,
                    "field": field_def.name,
                    "junctionIdListNames": [],
                    "junctionReferenceTo": [],
                    "relationshipName": field_def.child_relationship_name,
                    "restrictedDelete": False,
                }
            )
    return children


def record_type_infos(org: Org, obj: ObjectDef, version: str) -> list[dict[str, Any]]:
    rows = org.record_types(obj.name)
    infos = []
    for index, row in enumerate(rows):
        infos.append(
            {
                "active": bool(row["IsActive"]),
                "available": True,
                "defaultRecordTypeMapping": index == 0,
                "developerName": row["DeveloperName"],
                "master": False,
                "name": row["Name"],
                "recordTypeId": row["Id"],
                "urls": {
                    "layout": f"/services/data/v{version}/sobjects/{obj.name}/describe/"
                    f"layouts/{row['Id']}"
                },
            }
        )
    infos.append(
        {
            "active": True,
            "available": True,
            "defaultRecordTypeMapping": not rows,
            "developerName": "Master",
            "master": True,
            "name": "Master",
            "recordTypeId": MASTER_RECORD_TYPE_ID,
            "urls": {
                "layout": f"/services/data/v{version}/sobjects/{obj.name}/describe/"
                f"layouts/{MASTER_RECORD_TYPE_ID}"
            },
        }
    )
    return infos


def sobject_describe(org: Org, obj: ObjectDef, version: str) -> dict[str, Any]:
    return {
        **global_entry(obj, version),
        "actionOverrides": [],
        "childRelationships": child_relationships(org, obj),
        "compactLayoutable": True,
        "fields": [field_describe(obj, f) for f in obj.fields.values()],
        "listviewable": None,
        "lookupLayoutable": None,
        "namedLayoutInfos": [],
        "networkScopeFieldName": None,
        "recordTypeInfos": record_type_infos(org, obj, version),
        "searchLayoutable": True,
        "sobjectDescribeOption": "FULL",
        "supportedScopes": [
            {"label": "All records", "name": "everything"},
            {"label": "My records", "name": "mine"},
        ],
    }
