"""sObject Collections through ``sf.restful``: create, update, upsert, retrieve, delete."""

from __future__ import annotations

from typing import Any

import pytest
from simple_salesforce.exceptions import SalesforceMalformedRequest

from salesforce_emulator import Org

from .conftest import error_of


def contact(**fields: Any) -> dict[str, Any]:
    return {"attributes": {"type": "Contact"}, **fields}


def test_create_partial_success(sf: Any, org: Org) -> None:
    results = sf.restful(
        "composite/sobjects",
        method="POST",
        json={
            "allOrNone": False,
            "records": [
                contact(LastName="A"),
                contact(FirstName="no last name"),
                {"attributes": {"type": "Account"}, "Name": "Acme"},
            ],
        },
    )
    assert results[0]["success"] is True
    assert results[0]["id"].startswith("003")
    assert results[1] == {
        "success": False,
        "errors": [
            {
                "statusCode": "REQUIRED_FIELD_MISSING",
                "message": "Required fields are missing: [LastName]",
                "fields": ["LastName"],
            }
        ],
    }
    assert results[2]["id"].startswith("001")
    assert org.count("Contact") == 1
    assert org.count("Account") == 1


def test_create_all_or_none_rolls_back(sf: Any, org: Org) -> None:
    results = sf.restful(
        "composite/sobjects",
        method="POST",
        json={
            "allOrNone": True,
            "records": [
                contact(LastName="A", Legacy_Id__c="X"),
                contact(LastName="B", Legacy_Id__c="X"),
            ],
        },
    )
    assert results[0]["success"] is False
    assert results[0]["errors"][0]["statusCode"] == "ALL_OR_NONE_OPERATION_ROLLED_BACK"
    assert results[1]["errors"][0]["statusCode"] == "DUPLICATE_VALUE"
    assert org.count("Contact") == 0


def test_create_with_id_and_limit(sf: Any) -> None:
    results = sf.restful(
        "composite/sobjects",
        method="POST",
        json={"records": [contact(LastName="A", id="003000000000000AAA")]},
    )
    assert results[0]["errors"][0]["statusCode"] == "INVALID_FIELD"
    with pytest.raises(SalesforceMalformedRequest) as exc:
        sf.restful(
            "composite/sobjects",
            method="POST",
            json={"records": [contact(LastName=str(i)) for i in range(201)]},
        )
    assert error_of(exc.value)["errorCode"] == "EXCEEDED_ID_LIMIT"
    with pytest.raises(SalesforceMalformedRequest) as no_type:
        sf.restful(
            "composite/sobjects", method="POST", json={"records": [{"LastName": "A"}]}
        )
    assert error_of(no_type.value)["errorCode"] == "INVALID_TYPE"
    with pytest.raises(SalesforceMalformedRequest) as wrong_type:
        sf.restful(
            "composite/sobjects",
            method="POST",
            json={"records": [contact(LastName="A", Birthdate="yesterday")]},
        )
    assert error_of(wrong_type.value)["errorCode"] == "JSON_PARSER_ERROR"


def test_update(sf: Any, org: Org) -> None:
    first = org.insert("Contact", {"LastName": "A"})
    deleted = org.insert("Contact", {"LastName": "B"})
    org.delete("Contact", deleted)
    results = sf.restful(
        "composite/sobjects",
        method="PATCH",
        json={
            "allOrNone": False,
            "records": [
                contact(id=first, Title="CEO"),
                contact(Id=deleted, Title="CFO"),
                contact(Title="no id"),
                contact(id="003Zz0000000001AAA", Title="x"),
                contact(id=first, LastName=None),
            ],
        },
    )
    assert results[0] == {"id": first, "success": True, "errors": []}
    assert results[1]["errors"][0]["statusCode"] == "ENTITY_IS_DELETED"
    assert results[1]["id"] == deleted
    assert results[2]["errors"][0]["statusCode"] == "MISSING_ARGUMENT"
    assert results[3]["errors"][0]["statusCode"] == "INVALID_CROSS_REFERENCE_KEY"
    assert results[4]["errors"][0]["statusCode"] == "REQUIRED_FIELD_MISSING"
    assert org.get("Contact", first)["Title"] == "CEO"  # type: ignore[index]


def test_update_all_or_none(sf: Any, org: Org) -> None:
    first = org.insert("Contact", {"LastName": "A"})
    results = sf.restful(
        "composite/sobjects",
        method="PATCH",
        json={
            "allOrNone": True,
            "records": [contact(id=first, Title="CEO"), contact(id=first, Email="bad")],
        },
    )
    assert results[0] == {
        "id": first,
        "success": False,
        "errors": [
            {
                "statusCode": "ALL_OR_NONE_OPERATION_ROLLED_BACK",
                "message": "Record rolled back because not all records were valid and the request was "
                "using AllOrNone header",
                "fields": [],
            }
        ],
    }
    assert org.get("Contact", first)["Title"] is None  # type: ignore[index]


def test_upsert(sf: Any, org: Org) -> None:
    existing = org.insert("Contact", {"LastName": "Old", "Legacy_Id__c": "E-1"})
    results = sf.restful(
        "composite/sobjects/Contact/Legacy_Id__c",
        method="PATCH",
        json={
            "allOrNone": False,
            "records": [
                contact(LastName="New", Legacy_Id__c="E-1"),
                contact(LastName="Fresh", Legacy_Id__c="E-2"),
                contact(LastName="No key"),
            ],
        },
    )
    assert results[0] == {
        "id": existing,
        "success": True,
        "errors": [],
        "created": False,
    }
    assert results[1]["created"] is True
    assert results[1]["success"] is True
    assert results[2]["success"] is False
    assert org.get("Contact", existing)["LastName"] == "New"  # type: ignore[index]


def test_retrieve_get_and_post(sf: Any, org: Org) -> None:
    first = org.insert("Contact", {"LastName": "A", "Email": "a@example.com"})
    gone = org.insert("Contact", {"LastName": "B"})
    org.delete("Contact", gone)
    rows = sf.restful(
        "composite/sobjects/Contact",
        params={"ids": f"{first},{gone},003Zz0000000001AAA", "fields": "Id,Email"},
    )
    assert rows[0]["Email"] == "a@example.com"
    assert list(rows[0]) == ["attributes", "Id", "Email"]
    assert rows[1] is None
    assert rows[2] is None
    posted = sf.restful(
        "composite/sobjects/Contact",
        method="POST",
        json={"ids": [first], "fields": ["LastName"]},
    )
    assert posted[0]["LastName"] == "A"
    with pytest.raises(SalesforceMalformedRequest) as exc:
        sf.restful(
            "composite/sobjects/Contact", params={"ids": first, "fields": "Nope"}
        )
    assert error_of(exc.value)["errorCode"] == "INVALID_FIELD"


def test_delete(sf: Any, org: Org) -> None:
    account = org.insert("Account", {"Name": "A"})
    first = org.insert("Contact", {"LastName": "A"})
    results = sf.restful(
        "composite/sobjects",
        method="DELETE",
        params={"ids": f"{account},{first},bogus", "allOrNone": "false"},
    )
    assert [r["success"] for r in results] == [True, True, False]
    assert results[2]["errors"][0]["statusCode"] == "MALFORMED_ID"
    assert org.count("Account") == 0
    assert org.count("Contact") == 0
    again = sf.restful("composite/sobjects", method="DELETE", params={"ids": first})
    assert again[0]["errors"][0]["statusCode"] == "ENTITY_IS_DELETED"


def test_delete_all_or_none(sf: Any, org: Org) -> None:
    account = org.insert("Account", {"Name": "A"})
    results = sf.restful(
        "composite/sobjects",
        method="DELETE",
        params={"ids": f"{account},001Zz0000000001AAA", "allOrNone": "true"},
    )
    assert results[0]["errors"][0]["statusCode"] == "ALL_OR_NONE_OPERATION_ROLLED_BACK"
    assert org.count("Account") == 1


def test_master_detail_cascade(sf: Any, org: Org) -> None:
    account = org.insert("Account", {"Name": "A"})
    invoice = org.insert("Invoice__c", {"Account__c": account, "Number__c": "N-1"})
    assert org.get("Invoice__c", invoice)["Name"] == "INV-0001"  # type: ignore[index]
    with pytest.raises(SalesforceMalformedRequest) as required:
        sf.Invoice__c.create({"Number__c": "N-2"})
    assert error_of(required.value)["errorCode"] == "REQUIRED_FIELD_MISSING"
    with pytest.raises(SalesforceMalformedRequest) as picklist:
        sf.Invoice__c.create({"Account__c": account, "Status__c": "Paid"})
    assert (
        error_of(picklist.value)["errorCode"]
        == "INVALID_OR_NULL_FOR_RESTRICTED_PICKLIST"
    )
    sf.Account.delete(account)
    assert org.get("Invoice__c", invoice)["IsDeleted"] is True  # type: ignore[index]
