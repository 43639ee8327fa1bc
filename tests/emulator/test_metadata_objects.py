"""The versioned resource list, Organization / EntityDefinition / FieldDefinition,
the Tooling API query and ``columns=true``, through plain requests and
simple-salesforce."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
import requests
from simple_salesforce import Salesforce
from simple_salesforce.exceptions import (
    SalesforceMalformedRequest,
    SalesforceResourceNotFound,
)

from salesforce_emulator import Emulator, Org

from .conftest import API_VERSION, PAGE_SIZE, error_of, sobject

INVALID_TYPE_MESSAGE = (
    "sObject type '{name}' is not supported. If you are attempting to use a custom "
    "object, be sure to append the '__c' after the entity name. Please reference your "
    "WSDL or the describe call for the appropriate names."
)


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


# -- GET /services/data/vXX.X ----------------------------------------------------------


def test_resource_list_has_identity_and_every_resource(
    session: requests.Session, data_url: str, token: str, org: Org
) -> None:
    response = session.get(data_url, headers=bearer(token))

    assert response.status_code == 200
    resources = response.json()
    user_id = org.tokens.user_for(token)
    assert resources["identity"] == (
        f"{org.base_url}/id/{org.organization_id}/{user_id}"
    )
    for name in ("sobjects", "query", "queryAll", "tooling", "composite", "jobs"):
        assert resources[name] == f"/services/data/v{API_VERSION}/{name}"
    assert len(resources) == 51
    # The identity URL answers for the same user.
    identity = session.get(resources["identity"], headers=bearer(token))
    assert identity.json()["user_id"] == user_id


def test_resource_list_matches_the_version_list(
    session: requests.Session, emu: Emulator, token: str
) -> None:
    versions = session.get(f"{emu.base_url}/services/data/").json()

    for entry in (versions[0], versions[-1]):
        listed = session.get(f"{emu.base_url}{entry['url']}", headers=bearer(token))
        assert listed.status_code == 200
        assert listed.json()["sobjects"] == f"{entry['url']}/sobjects"
    unlisted = session.get(f"{emu.base_url}/services/data/v99.0", headers=bearer(token))
    assert unlisted.status_code == 404
    assert unlisted.json() == [
        {"message": "The requested resource does not exist", "errorCode": "NOT_FOUND"}
    ]


# -- Organization -------------------------------------------------------------------------


def test_organization_is_one_row_describing_the_org(sf: Salesforce, org: Org) -> None:
    result = sf.query(
        "SELECT Id, Name, IsSandbox, OrganizationType, InstanceName, "
        "NamespacePrefix FROM Organization"
    )

    assert result["totalSize"] == 1
    row = result["records"][0]
    assert row["attributes"]["type"] == "Organization"
    assert row["Id"] == org.organization_id
    assert row["Name"] == "target org"
    assert row["IsSandbox"] is False
    assert row["OrganizationType"] == "Enterprise Edition"
    assert row["InstanceName"].startswith("EMU")
    assert row["NamespacePrefix"] is None


def test_organization_is_describable_and_read_only(sf: Salesforce) -> None:
    describe = sobject(sf, "Organization").describe()

    assert describe["keyPrefix"] == "00D"
    assert describe["queryable"] is True
    assert (describe["createable"], describe["updateable"]) == (False, False)
    assert describe["deletable"] is False
    fields = {f["name"]: f for f in describe["fields"]}
    assert {"IsSandbox", "OrganizationType", "InstanceName"} <= set(fields)
    assert not any(f["createable"] or f["updateable"] for f in fields.values())
    global_describe = sf.describe()
    assert global_describe is not None
    listed = {s["name"]: s for s in global_describe["sobjects"]}
    assert listed["Organization"]["createable"] is False


def test_writes_to_organization_are_refused(sf: Salesforce) -> None:
    with pytest.raises(SalesforceResourceNotFound) as caught:
        sobject(sf, "Organization").create({"Name": "Hijacked"})

    assert error_of(caught.value)["errorCode"] == "NOT_FOUND"
    assert sf.query("SELECT Name FROM Organization")["records"][0]["Name"] == (
        "target org"
    )


@pytest.fixture(scope="module")
def sandbox_emu() -> Iterator[Emulator]:
    with Emulator(orgs=["prod"]) as emulator:
        emulator.create_sandbox("uat", "prod")
        yield emulator


def test_is_sandbox_is_true_in_a_sandbox(sandbox_emu: Emulator) -> None:
    sandbox = sandbox_emu.salesforce("uat", version=API_VERSION)
    production = sandbox_emu.salesforce("prod", version=API_VERSION)
    soql = "SELECT IsSandbox, InstanceName FROM Organization"

    sandbox_row = sandbox.query(soql)["records"][0]
    production_row = production.query(soql)["records"][0]

    assert sandbox_row["IsSandbox"] is True
    assert production_row["IsSandbox"] is False
    assert sandbox_row["InstanceName"].endswith("S")


# -- EntityDefinition and FieldDefinition ------------------------------------------------


def test_entity_definitions_come_from_describe(sf: Salesforce) -> None:
    result = sf.query(
        "SELECT QualifiedApiName, Label, KeyPrefix, IsCustomizable "
        "FROM EntityDefinition WHERE QualifiedApiName IN ('Account', 'Invoice__c') "
        "ORDER BY QualifiedApiName"
    )

    describe = sobject(sf, "Invoice__c").describe()
    assert [
        {k: v for k, v in r.items() if k != "attributes"} for r in result["records"]
    ] == [
        {
            "QualifiedApiName": "Account",
            "Label": "Account",
            "KeyPrefix": "001",
            "IsCustomizable": True,
        },
        {
            "QualifiedApiName": "Invoice__c",
            "Label": describe["label"],
            "KeyPrefix": describe["keyPrefix"],
            "IsCustomizable": True,
        },
    ]


def test_field_definitions_of_one_object(sf: Salesforce) -> None:
    result = sf.query_all(
        "SELECT QualifiedApiName, Label, DataType, IsNillable FROM FieldDefinition "
        "WHERE EntityDefinition.QualifiedApiName = 'Invoice__c'"
    )

    by_name = {r["QualifiedApiName"]: r for r in result["records"]}
    described = {f["name"]: f for f in sobject(sf, "Invoice__c").describe()["fields"]}
    assert set(by_name) == set(described)
    assert by_name["Account__c"]["DataType"] == "Master-Detail(Account)"
    assert by_name["Number__c"]["DataType"] == "Text(40)"
    assert by_name["Total__c"]["DataType"] == "Currency(14, 2)"
    assert by_name["Status__c"]["DataType"] == "Picklist"
    assert by_name["Name"]["DataType"] == "Auto Number"
    for name, row in by_name.items():
        assert row["Label"] == described[name]["label"]
        assert row["IsNillable"] is described[name]["nillable"]
    same = sf.query_all(
        "SELECT DurableId FROM FieldDefinition WHERE EntityDefinitionId = 'Invoice__c'"
    )
    assert sorted(r["DurableId"] for r in same["records"]) == sorted(
        f"Invoice__c.{name}" for name in by_name
    )


NOT_SUPPORTED = (
    "The requested operation is not yet supported by this SObject storage type, "
    "contact salesforce.com support for more information."
)


@pytest.mark.parametrize(
    ("where", "message"),
    [
        ("QualifiedApiName != 'Account'", "Only equals comparisons permitted"),
        ("NOT QualifiedApiName = 'Account'", "Only equals comparisons permitted"),
        ("QualifiedApiName LIKE 'Acc%'", "Only equals comparisons permitted"),
        (
            "QualifiedApiName = 'Account' OR KeyPrefix = '003'",
            "Disjunctions not supported",
        ),
        ("QualifiedApiName INCLUDES ('Account')", "Unsupported filter type"),
    ],
)
def test_definitions_refuse_what_their_storage_cannot_answer(
    sf: Salesforce, where: str, message: str
) -> None:
    with pytest.raises(SalesforceMalformedRequest) as caught:
        sf.query(f"SELECT QualifiedApiName FROM EntityDefinition WHERE {where}")

    assert error_of(caught.value) == {
        "errorCode": "MALFORMED_QUERY",
        "message": message,
    }


@pytest.mark.parametrize(
    "soql",
    [
        "SELECT COUNT() FROM FieldDefinition WHERE EntityDefinitionId = 'Account'",
        "SELECT DataType, COUNT(Id) FROM FieldDefinition "
        "WHERE EntityDefinitionId = 'Account' GROUP BY DataType",
    ],
)
def test_definitions_refuse_aggregates(sf: Salesforce, soql: str) -> None:
    with pytest.raises(SalesforceMalformedRequest) as caught:
        sf.query(soql)

    assert error_of(caught.value) == {
        "errorCode": "MALFORMED_QUERY",
        "message": NOT_SUPPORTED,
    }
    # Organization is an ordinary object: aggregates work there.
    assert sf.query("SELECT COUNT() FROM Organization")["totalSize"] == 1


# -- Tooling API -----------------------------------------------------------------------


def tooling_get(
    session: requests.Session, data_url: str, token: str, soql: str
) -> requests.Response:
    return session.get(
        f"{data_url}/tooling/query/", params={"q": soql}, headers=bearer(token)
    )


def test_tooling_query_answers_entity_definitions(
    session: requests.Session, data_url: str, token: str
) -> None:
    response = tooling_get(
        session,
        data_url,
        token,
        "SELECT DurableId, QualifiedApiName FROM EntityDefinition "
        "WHERE QualifiedApiName = 'Contact'",
    )

    assert response.status_code == 200
    body = response.json()
    record = body.pop("records")[0]
    assert body == {
        "size": 1,
        "totalSize": 1,
        "done": True,
        "queryLocator": None,
        "entityTypeName": "EntityDefinition",
    }
    assert record["attributes"]["type"] == "EntityDefinition"
    assert record["attributes"]["url"].startswith(
        f"/services/data/v{API_VERSION}/tooling/sobjects/EntityDefinition/"
    )
    assert (record["DurableId"], record["QualifiedApiName"]) == ("Contact", "Contact")


def test_tooling_query_pages_field_definitions(
    sf: Salesforce, emu: Emulator, session: requests.Session, data_url: str, token: str
) -> None:
    soql = (
        "SELECT QualifiedApiName FROM FieldDefinition "
        "WHERE EntityDefinitionId = 'Account'"
    )
    first = tooling_get(session, data_url, token, soql).json()

    assert first["done"] is False
    assert len(first["records"]) == PAGE_SIZE
    locator = first["queryLocator"]
    assert first["nextRecordsUrl"].endswith(f"/tooling/query/{locator}")
    names = [r["QualifiedApiName"] for r in first["records"]]
    url: str | None = first["nextRecordsUrl"]
    while url:
        page = session.get(f"{emu.base_url}{url}", headers=bearer(token)).json()
        names += [r["QualifiedApiName"] for r in page["records"]]
        url = page.get("nextRecordsUrl")
    assert names == [f["name"] for f in sobject(sf, "Account").describe()["fields"]]


@pytest.mark.parametrize("name", ["SandboxProcess", "Account", "Nope__c"])
def test_tooling_query_of_an_object_it_does_not_model_is_invalid_type(
    session: requests.Session, data_url: str, token: str, name: str
) -> None:
    response = tooling_get(session, data_url, token, f"SELECT Id FROM {name}")

    assert response.status_code == 400
    assert response.json() == [
        {"message": INVALID_TYPE_MESSAGE.format(name=name), "errorCode": "INVALID_TYPE"}
    ]


# -- columns=true --------------------------------------------------------------------------


def columns_of(
    session: requests.Session, data_url: str, token: str, soql: str
) -> requests.Response:
    return session.get(
        f"{data_url}/query/",
        params={"q": soql, "columns": "true"},
        headers=bearer(token),
    )


def test_columns_true_describes_the_columns_not_the_records(
    session: requests.Session, data_url: str, token: str, org: Org
) -> None:
    org.insert("Contact", {"LastName": "Kept out of the answer"})

    response = columns_of(
        session, data_url, token, "SELECT Id, LastName, Account.Name FROM Contact"
    )

    assert response.status_code == 200
    body = response.json()
    assert "records" not in body
    assert {k: v for k, v in body.items() if k != "columnMetadata"} == {
        "entityName": "Contact",
        "groupBy": False,
        "idSelected": True,
        "keyPrefix": "003",
    }
    columns = body["columnMetadata"]
    assert [c["columnName"] for c in columns] == ["Id", "LastName", "Account"]
    last_name = columns[1]
    assert last_name == {
        "aggregate": False,
        "apexType": "String",
        "booleanType": False,
        "columnName": "LastName",
        "custom": False,
        "displayName": "LastName",
        "foreignKeyName": None,
        "insertable": True,
        "joinColumns": [],
        "numberType": False,
        "textType": True,
        "updatable": True,
    }
    account = columns[2]
    assert account["displayName"] == "Account"
    assert [(c["columnName"], c["displayName"]) for c in account["joinColumns"]] == [
        ("Name", "Account.Name")
    ]


def test_columns_true_for_an_aggregate_query(
    session: requests.Session, data_url: str, token: str
) -> None:
    body = columns_of(
        session,
        data_url,
        token,
        "SELECT Industry, COUNT(Id), SUM(AnnualRevenue) total FROM Account "
        "GROUP BY Industry",
    ).json()

    assert body["entityName"] == "AggregateResult"
    assert body["groupBy"] is True
    summary = [
        (c["columnName"], c["displayName"], c["apexType"], c["aggregate"])
        for c in body["columnMetadata"]
    ]
    assert summary == [
        ("Industry", "Industry", "String", True),
        ("expr0", "COUNT(Id)", "Integer", True),
        ("total", "total", "Decimal", True),
    ]


def test_columns_true_checks_names_like_the_query(
    session: requests.Session, data_url: str, token: str
) -> None:
    response = columns_of(session, data_url, token, "SELECT Nope FROM Account")

    assert response.status_code == 400
    error: dict[str, Any] = response.json()[0]
    assert error["errorCode"] == "INVALID_FIELD"
    assert error["message"].startswith("No such column 'Nope' on entity 'Account'")


def test_describe_of_an_unknown_object_is_still_not_found(sf: Salesforce) -> None:
    with pytest.raises(SalesforceResourceNotFound):
        sobject(sf, "Nope__c").describe()
    with pytest.raises(SalesforceMalformedRequest):
        sf.query("SELECT Id FROM Nope__c")
