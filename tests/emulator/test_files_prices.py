"""Files, attachments, documents and prices in the emulator, through simple-salesforce."""

from __future__ import annotations

import base64
import hashlib
import json
from typing import Any

import pytest
import requests
from simple_salesforce.exceptions import SalesforceError

from salesforce_emulator import Org
from tests.emulator.conftest import error_of

pytestmark = pytest.mark.integration


def b64(data: bytes) -> str:
    return base64.b64encode(data).decode()


def new_file(sf: Any, data: bytes, **fields: Any) -> str:
    fields.setdefault("PathOnClient", "report.pdf")
    result = sf.ContentVersion.create({"VersionData": b64(data), **fields})
    return str(result["id"])


def multipart_insert(
    sf: Any,
    session: requests.Session,
    sobject: str,
    entity: dict[str, Any],
    field: str,
    data: bytes,
) -> requests.Response:
    boundary = "emulator-test-boundary"
    body = (
        (
            f'--{boundary}\r\nContent-Disposition: form-data; name="entity_content"\r\n'
            "Content-Type: application/json\r\n\r\n"
            f"{json.dumps(entity)}\r\n--{boundary}\r\n"
            f'Content-Disposition: form-data; name="{field}"; filename="f.bin"\r\n'
            "Content-Type: application/octet-stream\r\n\r\n"
        ).encode()
        + data
        + f"\r\n--{boundary}--\r\n".encode()
    )
    return session.post(
        f"{sf.base_url}sobjects/{sobject}/",
        data=body,
        headers={
            "Authorization": f"Bearer {sf.session_id}",
            "Content-Type": f"multipart/form-data; boundary={boundary}",
        },
    )


def download(sf: Any, session: requests.Session, path: str) -> bytes:
    response = session.get(
        f"https://{sf.sf_instance}{path}",
        headers={"Authorization": f"Bearer {sf.session_id}"},
    )
    assert response.status_code == 200, response.text
    return response.content


def version(sf: Any, version_id: str) -> dict[str, Any]:
    return dict(sf.ContentVersion.get(version_id))


def test_first_version_creates_its_document_and_owner_link(sf: Any) -> None:
    data = b"quarterly numbers" * 10
    version_id = new_file(sf, data, Title="Q3")

    created = version(sf, version_id)
    document = sf.ContentDocument.get(created["ContentDocumentId"])
    links = sf.query(
        "SELECT LinkedEntityId, ShareType FROM ContentDocumentLink "
        f"WHERE ContentDocumentId = '{created['ContentDocumentId']}'"
    )["records"]

    assert created["Checksum"] == hashlib.md5(data).hexdigest()
    assert created["ContentSize"] == len(data)
    assert created["IsLatest"] is True
    assert created["FileExtension"] == "pdf"
    assert document["LatestPublishedVersionId"] == version_id
    assert [(link["LinkedEntityId"], link["ShareType"]) for link in links] == [
        (created["OwnerId"], "I")
    ]


def test_new_version_moves_is_latest_and_keeps_one_document(sf: Any) -> None:
    first = new_file(sf, b"v1")
    document_id = version(sf, first)["ContentDocumentId"]

    second = new_file(sf, b"v2", ContentDocumentId=document_id)

    assert version(sf, first)["IsLatest"] is False
    assert version(sf, second)["IsLatest"] is True
    assert version(sf, second)["VersionNumber"] == "2"
    assert sf.ContentDocument.get(document_id)["LatestPublishedVersionId"] == second
    assert sf.query("SELECT COUNT() FROM ContentDocument")["totalSize"] == 1


def test_version_data_downloads_as_binary(sf: Any, session: requests.Session) -> None:
    data = bytes(range(256)) * 3
    version_id = new_file(sf, data)
    path = sf.query(
        f"SELECT VersionData FROM ContentVersion WHERE Id = '{version_id}'"
    )["records"][0]["VersionData"]

    assert path.endswith(f"/sobjects/ContentVersion/{version_id}/VersionData")
    assert download(sf, session, path) == data


def test_multipart_insert_is_accepted(sf: Any, session: requests.Session) -> None:
    data = b"\x00\x01binary\xff" * 100

    response = multipart_insert(
        sf, session, "ContentVersion", {"PathOnClient": "raw.bin"}, "VersionData", data
    )

    assert response.status_code == 201, response.text
    created = version(sf, response.json()["id"])
    assert created["Checksum"] == hashlib.md5(data).hexdigest()


def test_size_limits_apply(sf: Any, session: requests.Session, org: Org) -> None:
    org.file_limits.json_base64 = 100
    org.file_limits.content_version = 200

    with pytest.raises(SalesforceError) as too_big_for_json:
        new_file(sf, b"x" * 150)
    over_limit = multipart_insert(
        sf,
        session,
        "ContentVersion",
        {"PathOnClient": "a.bin"},
        "VersionData",
        b"x" * 201,
    )
    within = multipart_insert(
        sf,
        session,
        "ContentVersion",
        {"PathOnClient": "a.bin"},
        "VersionData",
        b"x" * 150,
    )

    assert error_of(too_big_for_json.value)["errorCode"] == "JSON_PARSER_ERROR"
    assert over_limit.status_code == 400
    assert over_limit.json()[0]["errorCode"] == "MAXIMUM_SIZE_OF_DOCUMENT"
    assert within.status_code == 201


def test_duplicate_link_is_refused_and_owner_link_stays(sf: Any) -> None:
    account = sf.Account.create({"Name": "Acme"})["id"]
    document_id = version(sf, new_file(sf, b"x"))["ContentDocumentId"]
    link = {"ContentDocumentId": document_id, "LinkedEntityId": account}
    sf.ContentDocumentLink.create({**link, "ShareType": "V"})
    owner_link = sf.query(
        "SELECT Id FROM ContentDocumentLink WHERE ContentDocumentId = "
        f"'{document_id}' AND ShareType = 'I'"
    )["records"][0]["Id"]

    with pytest.raises(SalesforceError) as duplicate:
        sf.ContentDocumentLink.create({**link, "ShareType": "C"})
    with pytest.raises(SalesforceError) as owner_delete:
        sf.ContentDocumentLink.delete(owner_link)

    assert error_of(duplicate.value)["errorCode"] == "DUPLICATE_VALUE"
    assert error_of(owner_delete.value)["errorCode"] == "INVALID_OPERATION"


def test_content_document_cannot_be_inserted(sf: Any) -> None:
    with pytest.raises(SalesforceError) as refused:
        sf.ContentDocument.create({})

    assert error_of(refused.value)["errorCode"] == "INVALID_TYPE_FOR_OPERATION"


def test_attachment_and_document_keep_their_body(
    sf: Any, session: requests.Session, org: Org
) -> None:
    account = sf.Account.create({"Name": "Acme"})["id"]
    attachment = sf.Attachment.create(
        {"ParentId": account, "Name": "a.txt", "Body": b64(b"hello")}
    )["id"]
    folder = sf.Folder.create(
        {"Name": "Shared", "DeveloperName": "Shared", "Type": "Document"}
    )["id"]
    org.file_limits.document = 10
    document = multipart_insert(
        sf,
        session,
        "Document",
        {"FolderId": folder, "Name": "Logo", "DeveloperName": "Logo"},
        "Body",
        b"png!",
    )
    too_big = multipart_insert(
        sf,
        session,
        "Document",
        {"FolderId": folder, "Name": "Big", "DeveloperName": "Big"},
        "Body",
        b"x" * 11,
    )

    assert sf.Attachment.get(attachment)["BodyLength"] == 5
    assert download(sf, session, sf.Attachment.get(attachment)["Body"]) == b"hello"
    assert document.status_code == 201, document.text
    body_path = sf.Document.get(document.json()["id"])["Body"]
    assert download(sf, session, body_path) == b"png!"
    assert too_big.json()[0]["errorCode"] == "MAXIMUM_SIZE_OF_DOCUMENT"


def test_an_update_replaces_a_document_body_within_its_limit(
    sf: Any, session: requests.Session, org: Org
) -> None:
    folder = sf.Folder.create(
        {"Name": "Shared", "DeveloperName": "Shared", "Type": "Document"}
    )["id"]
    document = sf.Document.create(
        {
            "FolderId": folder,
            "Name": "Logo",
            "DeveloperName": "Logo",
            "Body": b64(b"old"),
        }
    )["id"]
    org.file_limits.document = 10

    sf.Document.update(document, {"Body": b64(b"new body")})
    with pytest.raises(SalesforceError) as too_big:
        sf.Document.update(document, {"Body": b64(b"x" * 11)})

    updated = sf.Document.get(document)
    assert updated["BodyLength"] == 8
    assert download(sf, session, updated["Body"]) == b"new body"
    assert error_of(too_big.value)["errorCode"] == "MAXIMUM_SIZE_OF_DOCUMENT"


def standard_book(sf: Any) -> str:
    records = sf.query("SELECT Id FROM Pricebook2 WHERE IsStandard = true")["records"]
    assert len(records) == 1
    return str(records[0]["Id"])


def test_each_org_has_its_own_standard_price_book(sf: Any, fresh: Any) -> None:
    other = fresh.org("source")

    assert standard_book(sf) != next(
        r["Id"] for r in other.records("Pricebook2") if r["IsStandard"]
    )
    with pytest.raises(SalesforceError) as create_standard:
        sf.Pricebook2.create({"Name": "Second standard", "IsStandard": True})
    assert error_of(create_standard.value)["errorCode"] == (
        "INVALID_FIELD_FOR_INSERT_UPDATE"
    )


def test_price_book_entry_rules(sf: Any) -> None:
    product = sf.Product2.create({"Name": "Widget", "IsActive": True})["id"]
    custom = sf.Pricebook2.create({"Name": "Partners", "IsActive": True})["id"]
    standard = standard_book(sf)

    with pytest.raises(SalesforceError) as no_standard:
        sf.PricebookEntry.create(
            {"Pricebook2Id": custom, "Product2Id": product, "UnitPrice": 8}
        )
    sf.PricebookEntry.create(
        {"Pricebook2Id": standard, "Product2Id": product, "UnitPrice": 10}
    )
    with pytest.raises(SalesforceError) as duplicate:
        sf.PricebookEntry.create(
            {"Pricebook2Id": standard, "Product2Id": product, "UnitPrice": 11}
        )
    entry = sf.PricebookEntry.create(
        {"Pricebook2Id": custom, "Product2Id": product, "UnitPrice": 8}
    )

    assert error_of(no_standard.value)["errorCode"] == "STANDARD_PRICE_NOT_DEFINED"
    assert error_of(duplicate.value)["errorCode"] == "DUPLICATE_VALUE"
    assert sf.PricebookEntry.get(entry["id"])["Name"] == "Widget"


def test_line_item_takes_the_price_book_of_its_entry(sf: Any) -> None:
    product = sf.Product2.create({"Name": "Widget", "IsActive": True})["id"]
    entry = sf.PricebookEntry.create(
        {
            "Pricebook2Id": standard_book(sf),
            "Product2Id": product,
            "UnitPrice": 10,
            "IsActive": True,
        }
    )["id"]
    opportunity = sf.Opportunity.create(
        {"Name": "Deal", "StageName": "Prospecting", "CloseDate": "2026-12-31"}
    )["id"]

    line = sf.OpportunityLineItem.create(
        {
            "OpportunityId": opportunity,
            "PricebookEntryId": entry,
            "Quantity": 3,
            "UnitPrice": 9,
        }
    )["id"]

    created = sf.OpportunityLineItem.get(line)
    assert (created["TotalPrice"], created["ListPrice"]) == (27.0, 10.0)
    assert created["Product2Id"] == product
    assert sf.Opportunity.get(opportunity)["Pricebook2Id"] == standard_book(sf)
