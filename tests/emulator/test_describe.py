"""Versions, resources, global describe, sObject describe, basic info."""

from __future__ import annotations

from typing import Any

import pytest
import requests
from simple_salesforce.exceptions import SalesforceResourceNotFound

from salesforce_emulator import Emulator
from salesforce_emulator.ids import MASTER_RECORD_TYPE_ID

FIELD_KEYS = sorted(
    [
        "aggregatable",
        "aiPredictionField",
        "autoNumber",
        "byteLength",
        "calculated",
        "calculatedFormula",
        "cascadeDelete",
        "caseSensitive",
        "compoundFieldName",
        "controllerName",
        "createable",
        "custom",
        "defaultValue",
        "defaultValueFormula",
        "defaultedOnCreate",
        "dependentPicklist",
        "deprecatedAndHidden",
        "digits",
        "displayLocationInDecimal",
        "encrypted",
        "externalId",
        "extraTypeInfo",
        "filterable",
        "filteredLookupInfo",
        "formulaTreatNullNumberAsZero",
        "groupable",
        "highScaleNumber",
        "htmlFormatted",
        "idLookup",
        "inlineHelpText",
        "label",
        "length",
        "mask",
        "maskType",
        "name",
        "nameField",
        "namePointing",
        "nillable",
        "permissionable",
        "picklistValues",
        "polymorphicForeignKey",
        "precision",
        "queryByDistance",
        "referenceTargetField",
        "referenceTo",
        "relationshipName",
        "relationshipOrder",
        "restrictedDelete",
        "restrictedPicklist",
        "scale",
        "searchPrefilterable",
        "soapType",
        "sortable",
        "type",
        "unique",
        "updateable",
        "writeRequiresMasterRead",
    ]
)


def test_versions_list_needs_no_auth(emu: Emulator, session: requests.Session) -> None:
    response = session.get(f"{emu.base_url}/services/data/")
    assert response.status_code == 200
    versions = response.json()
    assert {
        "label": "Winter '24",
        "url": "/services/data/v59.0",
        "version": "59.0",
    } in versions
    assert "Sforce-Limit-Info" not in response.headers


def test_resources_echo_the_version(
    sf: Any, session: requests.Session, emu: Emulator, token: str
) -> None:
    response = session.get(
        f"{emu.base_url}/services/data/v62.0/",
        headers={"Authorization": f"Bearer {token}"},
    )
    assert response.json()["sobjects"] == "/services/data/v62.0/sobjects"


def test_global_describe(sf: Any) -> None:
    data = sf.describe()
    assert data is not None
    assert data["maxBatchSize"] == 200
    by_name = {s["name"]: s for s in data["sobjects"]}
    for name in (
        "Account",
        "Contact",
        "Opportunity",
        "Lead",
        "Case",
        "User",
        "RecordType",
        "Invoice__c",
    ):
        assert name in by_name
    assert by_name["Account"]["keyPrefix"] == "001"
    assert by_name["Invoice__c"]["keyPrefix"] == "a00"
    assert by_name["Invoice__c"]["custom"] is True
    assert (
        by_name["Contact"]["urls"]["describe"]
        == "/services/data/v59.0/sobjects/Contact/describe"
    )


def _fields(sf: Any, name: str) -> dict[str, dict[str, Any]]:
    return {f["name"]: f for f in getattr(sf, name).describe()["fields"]}


def test_field_properties(sf: Any) -> None:
    fields = _fields(sf, "Account")
    assert all(sorted(f) == FIELD_KEYS for f in fields.values())
    name = fields["Name"]
    assert (name["type"], name["length"], name["nillable"], name["createable"]) == (
        "string",
        255,
        False,
        True,
    )
    assert name["nameField"] is True
    parent = fields["ParentId"]
    assert parent["referenceTo"] == ["Account"]
    assert parent["relationshipName"] == "Parent"
    owner = fields["OwnerId"]
    assert owner["defaultedOnCreate"] is True
    assert owner["relationshipName"] == "Owner"
    assert fields["RecordTypeId"]["referenceTo"] == ["RecordType"]
    for audit in (
        "CreatedDate",
        "LastModifiedDate",
        "SystemModstamp",
        "CreatedById",
        "LastModifiedById",
    ):
        assert not fields[audit]["createable"]
        assert not fields[audit]["updateable"]
    assert fields["Id"]["type"] == "id"
    assert fields["Id"]["idLookup"] is True
    legacy = fields["Legacy_Id__c"]
    assert legacy["externalId"]
    assert legacy["unique"]
    assert legacy["idLookup"]
    assert legacy["custom"]
    industry = fields["Industry"]
    assert industry["type"] == "picklist"
    assert {
        "active": True,
        "defaultValue": False,
        "label": "Energy",
        "validFor": None,
        "value": "Energy",
    } in industry["picklistValues"]
    assert fields["Region__c"]["custom"] is True


def test_contact_opportunity_lead_case_fields(sf: Any) -> None:
    contact = _fields(sf, "Contact")
    assert contact["Name"]["createable"] is False
    assert contact["Name"]["updateable"] is False
    assert contact["LastName"]["nillable"] is False
    assert contact["AccountId"]["relationshipName"] == "Account"
    opportunity = _fields(sf, "Opportunity")
    assert opportunity["StageName"]["restrictedPicklist"] is True
    assert opportunity["Amount"]["type"] == "currency"
    assert opportunity["CloseDate"]["type"] == "date"
    assert opportunity["IsClosed"]["calculated"] is True
    lead = _fields(sf, "Lead")
    assert lead["OwnerId"]["referenceTo"] == ["Group", "User"]
    assert lead["OwnerId"]["polymorphicForeignKey"] is True
    assert lead["Status"]["defaultedOnCreate"] is True
    case = _fields(sf, "Case")
    assert case["CaseNumber"]["autoNumber"] is True


def test_custom_object_describe(sf: Any) -> None:
    data = sf.Invoice__c.describe()
    fields = {f["name"]: f for f in data["fields"]}
    assert "OwnerId" not in fields  # master-detail children have no owner
    account = fields["Account__c"]
    assert account["cascadeDelete"] is True
    assert account["nillable"] is False
    assert account["relationshipName"] == "Account__r"
    assert fields["Number__c"]["externalId"] is True
    assert fields["Name"]["autoNumber"] is True
    children = {
        c["relationshipName"]: c for c in sf.Account.describe()["childRelationships"]
    }
    assert children["Invoices__r"]["childSObject"] == "Invoice__c"
    assert children["Invoices__r"]["cascadeDelete"] is True
    assert children["Contacts"]["field"] == "AccountId"
    assert children["ChildAccounts"]["field"] == "ParentId"


def test_record_type_infos(sf: Any, emu: Emulator) -> None:
    infos = sf.Account.describe()["recordTypeInfos"]
    by_name = {i["developerName"]: i for i in infos}
    assert set(by_name) == {"Business", "Partner", "Master"}
    assert by_name["Master"]["recordTypeId"] == MASTER_RECORD_TYPE_ID
    target_ids = {
        by_name["Business"]["recordTypeId"],
        by_name["Partner"]["recordTypeId"],
    }
    source_ids = {r["Id"] for r in emu.org("source").records("RecordType")}
    assert not target_ids & source_ids
    assert [i["developerName"] for i in sf.Contact.describe()["recordTypeInfos"]] == [
        "Master"
    ]


def test_basic_info_and_unknown_object(sf: Any) -> None:
    info = sf.Account.metadata()
    assert info["objectDescribe"]["name"] == "Account"
    assert info["recentItems"] == []
    with pytest.raises(SalesforceResourceNotFound):
        sf.Nope__c.describe()
