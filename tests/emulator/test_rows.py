"""sObject rows: create, read, update, delete, upsert by external id, and their errors."""

from __future__ import annotations

from typing import Any

import pytest
import requests
from simple_salesforce import format_external_id
from simple_salesforce.exceptions import (
    SalesforceGeneralError,
    SalesforceMalformedRequest,
    SalesforceMoreThanOneRecord,
    SalesforceResourceNotFound,
)

from salesforce_emulator import Emulator, Org

from .conftest import error_of


def test_create_get_update_delete(sf: Any, org: Org) -> None:
    created = sf.Account.create(
        {"Name": "Acme", "Industry": "Energy", "NumberOfEmployees": 12}
    )
    assert created["success"] is True
    assert created["errors"] == []
    account_id = created["id"]
    assert len(account_id) == 18
    assert account_id.startswith("001")
    record = sf.Account.get(account_id)
    assert record["attributes"] == {
        "type": "Account",
        "url": f"/services/data/v59.0/sobjects/Account/{account_id}",
    }
    assert record["Name"] == "Acme"
    assert record["NumberOfEmployees"] == 12
    assert record["OwnerId"] == org.integration_user_id
    assert record["CreatedById"] == org.integration_user_id
    assert record["IsDeleted"] is False
    assert record["CreatedDate"].endswith("+0000")
    assert len(record["CreatedDate"]) == 28
    assert sf.Account.get(account_id[:15])["Id"] == account_id

    assert sf.Account.update(account_id, {"Name": "Acme 2", "Website": None}) == 204
    updated = sf.Account.get(account_id)
    assert updated["Name"] == "Acme 2"
    assert updated["LastModifiedDate"] >= record["LastModifiedDate"]
    assert updated["CreatedDate"] == record["CreatedDate"]

    assert sf.Account.delete(account_id) == 204
    with pytest.raises(SalesforceResourceNotFound) as deleted:
        sf.Account.get(account_id)
    assert error_of(deleted.value)["errorCode"] == "ENTITY_IS_DELETED"
    with pytest.raises(SalesforceResourceNotFound) as again:
        sf.Account.update(account_id, {"Name": "x"})
    assert error_of(again.value)["errorCode"] == "ENTITY_IS_DELETED"
    assert org.get("Account", account_id)["IsDeleted"] is True  # type: ignore[index]


def test_get_with_fields_and_trailing_slash(
    sf: Any, session: requests.Session, data_url: str, token: str
) -> None:
    account_id = sf.Account.create({"Name": "Acme"})["id"]
    response = session.get(
        f"{data_url}/sobjects/Account/{account_id}/",
        params={"fields": "Name,Industry"},
        headers={"Authorization": f"Bearer {token}"},
    )
    assert response.status_code == 200
    assert list(response.json()) == ["attributes", "Name", "Industry"]


def test_name_is_compound_and_derived(sf: Any) -> None:
    contact_id = sf.Contact.create({"FirstName": "Ada", "LastName": "Lovelace"})["id"]
    assert sf.Contact.get(contact_id)["Name"] == "Ada Lovelace"
    with pytest.raises(SalesforceMalformedRequest) as exc:
        sf.Contact.create({"LastName": "X", "Name": "Y"})
    assert error_of(exc.value)["errorCode"] == "INVALID_FIELD_FOR_INSERT_UPDATE"


@pytest.mark.parametrize(
    ("sobject", "body", "code"),
    [
        ("Contact", {"FirstName": "No last name"}, "REQUIRED_FIELD_MISSING"),
        (
            "Opportunity",
            {"Name": "O", "CloseDate": "2024-01-01"},
            "REQUIRED_FIELD_MISSING",
        ),
        ("Account", {"Name": "x" * 256}, "STRING_TOO_LONG"),
        (
            "Opportunity",
            {"Name": "O", "StageName": "Dreaming", "CloseDate": "2024-01-01"},
            "INVALID_OR_NULL_FOR_RESTRICTED_PICKLIST",
        ),
        ("Account", {"Name": "A", "NumberOfEmployees": "many"}, "JSON_PARSER_ERROR"),
        (
            "Opportunity",
            {"Name": "O", "StageName": "Prospecting", "CloseDate": "soon"},
            "JSON_PARSER_ERROR",
        ),
        (
            "Account",
            {"Name": "A", "CreatedDate": "2024-01-01T00:00:00Z"},
            "INVALID_FIELD_FOR_INSERT_UPDATE",
        ),
        ("Account", {"Name": "A", "Nope__c": 1}, "INVALID_FIELD"),
        ("Account", {"Name": "A", "Id": "001000000000000AAA"}, "INVALID_FIELD"),
        ("Contact", {"LastName": "L", "AccountId": "not-an-id"}, "MALFORMED_ID"),
        (
            "Contact",
            {"LastName": "L", "AccountId": "001Zz0000000001AAA"},
            "INVALID_CROSS_REFERENCE_KEY",
        ),
        (
            "Contact",
            {"LastName": "L", "Email": "not an email"},
            "INVALID_EMAIL_ADDRESS",
        ),
    ],
)
def test_create_errors(sf: Any, sobject: str, body: dict[str, Any], code: str) -> None:
    with pytest.raises(SalesforceMalformedRequest) as exc:
        getattr(sf, sobject).create(body)
    error = error_of(exc.value)
    assert error["errorCode"] == code
    assert error["message"]


def test_required_field_message_and_fields(sf: Any) -> None:
    with pytest.raises(SalesforceMalformedRequest) as exc:
        sf.Account.create({"Industry": "Energy"})
    assert error_of(exc.value) == {
        "message": "Required fields are missing: [Name]",
        "errorCode": "REQUIRED_FIELD_MISSING",
        "fields": ["Name"],
    }


def test_lookup_to_deleted_or_wrong_type(sf: Any) -> None:
    account_id = sf.Account.create({"Name": "A"})["id"]
    contact_id = sf.Contact.create({"LastName": "C"})["id"]
    with pytest.raises(SalesforceMalformedRequest) as wrong_type:
        sf.Contact.create({"LastName": "L", "AccountId": contact_id})
    assert error_of(wrong_type.value)["errorCode"] == "INVALID_CROSS_REFERENCE_KEY"
    sf.Account.delete(account_id)
    with pytest.raises(SalesforceMalformedRequest) as deleted:
        sf.Contact.create({"LastName": "L", "AccountId": account_id})
    assert error_of(deleted.value)["errorCode"] == "INVALID_CROSS_REFERENCE_KEY"


def test_record_type_must_belong_to_object(sf: Any, org: Org) -> None:
    business = next(
        r["Id"] for r in org.records("RecordType") if r["DeveloperName"] == "Business"
    )
    account_id = sf.Account.create({"Name": "A", "RecordTypeId": business})["id"]
    assert sf.Account.get(account_id)["RecordTypeId"] == business
    with pytest.raises(SalesforceMalformedRequest) as exc:
        sf.Contact.create({"LastName": "L", "RecordTypeId": business})
    assert error_of(exc.value)["errorCode"] == "INVALID_CROSS_REFERENCE_KEY"


def test_unique_external_id(sf: Any) -> None:
    first = sf.Account.create({"Name": "A", "Legacy_Id__c": "L-1"})["id"]
    with pytest.raises(SalesforceMalformedRequest) as exc:
        sf.Account.create({"Name": "B", "Legacy_Id__c": "l-1"})
    error = error_of(exc.value)
    assert error["errorCode"] == "DUPLICATE_VALUE"
    assert first in error["message"]


def test_update_errors(sf: Any) -> None:
    account_id = sf.Account.create({"Name": "A"})["id"]
    with pytest.raises(SalesforceMalformedRequest) as required:
        sf.Account.update(account_id, {"Name": None})
    assert error_of(required.value)["errorCode"] == "REQUIRED_FIELD_MISSING"
    with pytest.raises(SalesforceMalformedRequest) as read_only:
        sf.Account.update(account_id, {"SystemModstamp": "2024-01-01T00:00:00Z"})
    assert error_of(read_only.value)["errorCode"] == "INVALID_FIELD_FOR_INSERT_UPDATE"
    with pytest.raises(SalesforceResourceNotFound) as missing:
        sf.Account.update("001Zz0000000001AAA", {"Name": "x"})
    assert error_of(missing.value)["errorCode"] == "NOT_FOUND"
    with pytest.raises(SalesforceResourceNotFound):
        sf.Account.delete("001Zz0000000001AAA")


def test_relationship_by_external_id(sf: Any) -> None:
    account_id = sf.Account.create({"Name": "Parent", "Legacy_Id__c": "P-1"})["id"]
    contact_id = sf.Contact.create(
        {"LastName": "Kid", "Account": {"Legacy_Id__c": "P-1"}}
    )["id"]
    assert sf.Contact.get(contact_id)["AccountId"] == account_id
    with pytest.raises(SalesforceMalformedRequest) as exc:
        sf.Contact.create({"LastName": "Kid", "Account": {"Legacy_Id__c": "nope"}})
    assert error_of(exc.value)["errorCode"] == "INVALID_FIELD"


def test_get_by_external_id(sf: Any) -> None:
    account_id = sf.Account.create({"Name": "A", "Legacy_Id__c": "with space/slash"})[
        "id"
    ]
    record = sf.Account.get_by_custom_id("Legacy_Id__c", "with space/slash")
    assert record["Id"] == account_id
    with pytest.raises(SalesforceResourceNotFound):
        sf.Account.get_by_custom_id("Legacy_Id__c", "missing")
    with pytest.raises(SalesforceResourceNotFound) as no_field:
        sf.Account.get_by_custom_id("Industry", "Energy")
    assert "external ID field" in error_of(no_field.value)["message"]


def test_upsert_insert_update_and_multiple(
    sf: Any, org: Org, session: requests.Session, data_url: str, token: str
) -> None:
    path = format_external_id("Legacy_Id__c", "U 1")
    response = sf.Account.upsert(path, {"Name": "Created"}, raw_response=True)
    assert response.status_code == 201
    body = response.json()
    assert body["created"] is True
    assert body["success"] is True
    assert sf.Account.upsert(path, {"Name": "Updated"}) == 200
    assert sf.Account.get(body["id"])["Name"] == "Updated"
    assert sf.Account.get(body["id"])["Legacy_Id__c"] == "U 1"
    old = session.patch(
        f"{data_url.replace('59.0', '45.0')}/sobjects/Account/{path}",
        json={"Name": "Old API"},
        headers={"Authorization": f"Bearer {token}"},
    )
    assert old.status_code == 204
    with pytest.raises(SalesforceResourceNotFound):
        sf.Account.upsert("Nope__c/1", {"Name": "x"})
    with pytest.raises(SalesforceMalformedRequest):
        sf.Account.upsert(path, {"Name": "x", "Id": body["id"]})


def test_multiple_matches_give_300(sf: Any, org: Org) -> None:
    # Code__c is an external id without a unique constraint.
    first = org.insert("Account", {"Name": "A", "Code__c": "SAME"})
    second = org.insert("Account", {"Name": "B", "Code__c": "same"})
    with pytest.raises(SalesforceMoreThanOneRecord) as exc:
        sf.Account.get_by_custom_id("Code__c", "SAME")
    urls: Any = exc.value.content
    assert sorted(u.rsplit("/", 1)[1] for u in urls) == sorted([first, second])
    with pytest.raises(SalesforceMoreThanOneRecord):
        sf.Account.upsert("Code__c/SAME", {"Name": "C"})


def test_deleted_and_updated_windows(sf: Any, emu: Emulator) -> None:
    from datetime import UTC, datetime, timedelta

    start = datetime.now(UTC) - timedelta(minutes=5)
    end = datetime.now(UTC) + timedelta(minutes=5)
    keep = sf.Account.create({"Name": "Keep"})["id"]
    gone = sf.Account.create({"Name": "Gone"})["id"]
    sf.Account.delete(gone)
    # Replication works per whole minute: changes show once their minute is over.
    emu.advance_clock(60)
    deleted = sf.Account.deleted(start, end)
    assert [r["id"] for r in deleted["deletedRecords"]] == [gone]
    assert keep in sf.Account.updated(start, end)["ids"]


def test_method_not_allowed(
    session: requests.Session, data_url: str, token: str
) -> None:
    response = session.put(
        f"{data_url}/sobjects/Account",
        json={},
        headers={"Authorization": f"Bearer {token}"},
    )
    assert response.status_code == 405
    assert response.json()[0]["errorCode"] == "METHOD_NOT_ALLOWED"


def test_unparsable_body(session: requests.Session, data_url: str, token: str) -> None:
    response = session.post(
        f"{data_url}/sobjects/Account/",
        data="{nope",
        headers={
            "Authorization": f"Bearer {token}",
            "Content-Type": "application/json",
        },
    )
    assert response.status_code == 400
    assert response.json()[0]["errorCode"] == "JSON_PARSER_ERROR"


def test_unknown_route(sf: Any) -> None:
    with pytest.raises(SalesforceResourceNotFound):
        sf.restful("nothing/here")
    with pytest.raises(SalesforceGeneralError):
        sf.restful("sobjects/Account", method="PUT")


def test_inactive_owner(sf: Any, org: Org) -> None:
    user = org.insert(
        "User",
        {
            "LastName": "Gone",
            "Email": "gone@example.com",
            "Alias": "gone",
            "Username": "gone@example.com.t",
            "IsActive": False,
        },
    )
    with pytest.raises(SalesforceMalformedRequest) as exc:
        sf.Account.create({"Name": "A", "OwnerId": user})
    assert error_of(exc.value)["errorCode"] == "INACTIVE_OWNER_OR_USER"
