"""Files and prices follow their records, between two emulated orgs (issue 13)."""

from __future__ import annotations

import base64
import hashlib
from typing import Any

import pytest
from pytest_django.fixtures import Settings
from simple_salesforce import Salesforce

from migrations_app.models import RecordIssue, RecordResult, Run
from tests.integration.conftest import OrgPair, last_run, make_template

pytestmark = [pytest.mark.django_db, pytest.mark.integration]

CONTACTS_WITH_FILES = {
    "sobject": "Contact",
    "fields": ["FirstName", "LastName", "Email"],
    "include_files": True,
}
INLINE_MAX = 1000


@pytest.fixture(autouse=True)
def small_files(settings: Settings) -> None:
    # Content above this is streamed as multipart: small sizes keep tests quick.
    settings.FILES_INLINE_MAX_BYTES = INLINE_MAX


def content(size: int, seed: int = 0) -> bytes:
    return bytes((i * 7 + seed) % 251 for i in range(size))


def add_contact(pair: OrgPair, name: str) -> str:
    return str(
        pair.source_org.insert(
            "Contact", {"LastName": name, "Email": f"{name.lower()}@example.com"}
        )
    )


def add_file(pair: OrgPair, data: bytes, name: str, record: str = "") -> str:
    """A new source file (its first version); returns its document id."""
    values: dict[str, Any] = {
        "PathOnClient": name,
        "VersionData": base64.b64encode(data).decode(),
    }
    if record:
        values["FirstPublishLocationId"] = record
    version = pair.source_org.insert("ContentVersion", values)
    return str(pair.source_org.get("ContentVersion", version)["ContentDocumentId"])


def link(pair: OrgPair, document: str, record: str) -> None:
    pair.source_org.insert(
        "ContentDocumentLink",
        {"ContentDocumentId": document, "LinkedEntityId": record, "ShareType": "V"},
    )


def target_versions(pair: OrgPair) -> list[dict[str, Any]]:
    return list(pair.target_org.records("ContentVersion"))


def target_contact(pair: OrgPair, name: str) -> str:
    return next(
        c["Id"] for c in pair.target_org.records("Contact") if c["LastName"] == name
    )


def linked_documents(pair: OrgPair, record: str) -> set[str]:
    return {
        row["ContentDocumentId"]
        for row in pair.target_org.records("ContentDocumentLink")
        if row["LinkedEntityId"] == record
    }


def actions(run: Run) -> list[str]:
    return sorted(
        RecordResult.objects.filter(run=run, sobject="ContentDocument").values_list(
            "action", flat=True
        )
    )


def test_files_of_different_sizes_arrive_with_identical_checksums(
    orgs: OrgPair,
) -> None:
    contact = add_contact(orgs, "Lovelace")
    sizes = (10, 600, 5 * INLINE_MAX + 3)  # the last one goes as streamed multipart
    for number, size in enumerate(sizes):
        add_file(orgs, content(size, number), f"file{number}.bin", contact)

    result = orgs.migrate(make_template("Files", CONTACTS_WITH_FILES), "veid")

    source = sorted(v["Checksum"] for v in orgs.source_org.records("ContentVersion"))
    target = target_versions(orgs)
    assert sorted(v["Checksum"] for v in target) == source
    assert sorted(v["ContentSize"] for v in target) == sorted(sizes)
    assert len(linked_documents(orgs, target_contact(orgs, "Lovelace"))) == 3
    assert result["files"]["Contact"] == {
        "uploaded": 3,
        "bytes": sum(sizes),
        "links": 3,
    }
    assert actions(last_run()) == ["uploaded"] * 3


def test_a_repeat_run_uploads_nothing(orgs: OrgPair) -> None:
    contact = add_contact(orgs, "Hopper")
    add_file(orgs, content(50), "a.txt", contact)
    add_file(orgs, content(3 * INLINE_MAX), "b.bin", contact)
    template = make_template("Files", CONTACTS_WITH_FILES)
    orgs.migrate(template, "veid")
    versions_before = len(target_versions(orgs))

    result = orgs.migrate(template, "veid")

    assert len(target_versions(orgs)) == versions_before == 2
    assert result["files"]["Contact"] == {"unchanged": 2}
    assert actions(last_run()) == ["unchanged", "unchanged"]


def test_a_new_source_version_becomes_a_new_target_version(orgs: OrgPair) -> None:
    contact = add_contact(orgs, "Turing")
    document = add_file(orgs, content(100), "plan.txt", contact)
    template = make_template("Files", CONTACTS_WITH_FILES)
    orgs.migrate(template, "veid")
    new_content = content(2 * INLINE_MAX, seed=5)
    orgs.source_org.insert(
        "ContentVersion",
        {
            "ContentDocumentId": document,
            "PathOnClient": "plan.txt",
            "VersionData": base64.b64encode(new_content).decode(),
        },
    )

    result = orgs.migrate(template, "veid")

    documents = list(orgs.target_org.records("ContentDocument"))
    versions = target_versions(orgs)
    latest = [v for v in versions if v["IsLatest"]]
    assert len(documents) == 1
    assert len(versions) == 2
    assert {v["ContentDocumentId"] for v in versions} == {documents[0]["Id"]}
    assert latest[0]["Checksum"] == hashlib.md5(new_content).hexdigest()
    assert result["files"]["Contact"]["versioned"] == 1
    assert actions(last_run()) == ["versioned"]


def test_a_file_linked_to_two_migrated_records_gets_both_links(
    orgs: OrgPair,
) -> None:
    first = add_contact(orgs, "Curie")
    second = add_contact(orgs, "Noether")
    document = add_file(orgs, content(300), "shared.pdf", first)
    link(orgs, document, second)

    orgs.migrate(make_template("Files", CONTACTS_WITH_FILES), "veid")

    [target_document] = [d["Id"] for d in orgs.target_org.records("ContentDocument")]
    assert linked_documents(orgs, target_contact(orgs, "Curie")) == {target_document}
    assert linked_documents(orgs, target_contact(orgs, "Noether")) == {target_document}
    shares = {
        row["LinkedEntityId"][:3]: row["ShareType"]
        for row in orgs.target_org.records("ContentDocumentLink")
        if row["ContentDocumentId"] == target_document
    }
    assert shares == {"003": "V", "005": "I"}  # the two contacts and the owner


PRODUCTS = (
    {"sobject": "Product2", "fields": ["Name", "ProductCode", "IsActive"]},
    {"sobject": "Pricebook2", "fields": ["Name", "IsActive"]},
    {
        "sobject": "PricebookEntry",
        "fields": ["Pricebook2Id", "Product2Id", "UnitPrice", "IsActive"],
    },
    {
        "sobject": "Opportunity",
        "fields": ["Name", "StageName", "CloseDate", "Pricebook2Id"],
    },
    {
        "sobject": "OpportunityLineItem",
        "fields": ["OpportunityId", "PricebookEntryId", "Quantity", "UnitPrice"],
    },
)


def seed_deal(pair: OrgPair) -> None:
    org = pair.source_org
    standard = next(r["Id"] for r in org.records("Pricebook2") if r["IsStandard"])
    partners = org.insert("Pricebook2", {"Name": "Partners", "IsActive": True})
    product = org.insert(
        "Product2", {"Name": "Widget", "ProductCode": "W-1", "IsActive": True}
    )
    org.insert(
        "PricebookEntry",
        {
            "Pricebook2Id": standard,
            "Product2Id": product,
            "UnitPrice": 100,
            "IsActive": True,
        },
    )
    custom = org.insert(
        "PricebookEntry",
        {
            "Pricebook2Id": partners,
            "Product2Id": product,
            "UnitPrice": 80,
            "IsActive": True,
        },
    )
    deal = org.insert(
        "Opportunity",
        {"Name": "Big deal", "StageName": "Prospecting", "CloseDate": "2026-12-31"},
    )
    org.insert(
        "OpportunityLineItem",
        {
            "OpportunityId": deal,
            "PricebookEntryId": custom,
            "Quantity": 2,
            "UnitPrice": 75,
        },
    )


def test_opportunity_products_arrive_with_standard_and_custom_prices(
    orgs: OrgPair,
) -> None:
    seed_deal(orgs)
    template = make_template("Deals", *PRODUCTS)

    first = orgs.migrate(template, "veid")
    second = orgs.migrate(template, "veid")

    target = orgs.target_org
    books = {r["Id"]: r for r in target.records("Pricebook2")}
    [standard] = [i for i, r in books.items() if r["IsStandard"]]
    prices = {
        (books[e["Pricebook2Id"]]["Name"], e["UnitPrice"])
        for e in target.records("PricebookEntry")
    }
    [line] = list(target.records("OpportunityLineItem"))
    [deal] = list(target.records("Opportunity"))
    assert first["status"] == second["status"] == Run.Status.SUCCEEDED
    assert len(books) == 2  # the target's own standard book, and Partners
    assert prices == {(books[standard]["Name"], 100.0), ("Partners", 80.0)}
    assert (line["UnitPrice"], line["TotalPrice"], line["ListPrice"]) == (
        75.0,
        150.0,
        80.0,
    )
    assert books[deal["Pricebook2Id"]]["Name"] == "Partners"
    assert first["objects"]["PricebookEntry"]["inserted"] == 2
    assert second["totals"]["inserted"] == 0


def test_an_oversize_file_fails_alone_and_the_run_goes_on(
    orgs: OrgPair, settings: Settings
) -> None:
    settings.FILES_MAX_BYTES = 4 * INLINE_MAX
    contact = add_contact(orgs, "Babbage")
    add_contact(orgs, "Somerville")
    big = add_file(orgs, content(4 * INLINE_MAX + 1), "huge.iso", contact)
    add_file(orgs, content(2 * INLINE_MAX), "fine.bin", contact)

    result = orgs.migrate(make_template("Files", CONTACTS_WITH_FILES), "veid")

    [issue] = RecordIssue.objects.filter(run=last_run(), kind="failed")
    assert (issue.sobject, issue.source_id, issue.error_code) == (
        "ContentDocument",
        big,
        "FILE_TOO_LARGE",
    )
    assert "huge.iso" in issue.message
    assert result["status"] == Run.Status.COMPLETED_WITH_ERRORS
    assert result["objects"]["Contact"]["inserted"] == 2
    assert [v["PathOnClient"] for v in target_versions(orgs)] == ["fine.bin"]
    assert result["files"]["Contact"]["failed"] == 1


# -- Documents (in folders) ------------------------------------------------------------

DOCUMENTS = {
    "sobject": "Document",
    "fields": ["Name", "DeveloperName", "FolderId", "Body", "ContentType"],
}


def add_folder(org: Any, name: str) -> str:
    values = {"Name": name, "DeveloperName": name, "Type": "Document"}
    return str(org.insert("Folder", values))


def add_document(pair: OrgPair, folder: str, data: bytes, name: str) -> str:
    values = {
        "FolderId": folder,
        "Name": f"{name}.bin",
        "DeveloperName": name,
        "ContentType": "application/octet-stream",
        "Body": base64.b64encode(data).decode(),
    }
    return str(pair.source_org.insert("Document", values))


def client(pair: OrgPair, org: Any) -> Salesforce:
    return Salesforce(
        instance_url=pair.emulator.base_url,
        session_id=org.issue_token(),
        session=pair.emulator.session(),
    )


def body(sf: Salesforce, document: str) -> bytes:
    """A document's Body, downloaded through simple-salesforce's session."""
    url = f"{sf.base_url}sobjects/Document/{document}/Body"
    response = sf.session.get(url, headers=sf.headers)
    response.raise_for_status()
    return bytes(response.content)


def target_documents(pair: OrgPair) -> dict[str, dict[str, Any]]:
    """Target documents by DeveloperName."""
    return {d["DeveloperName"]: d for d in pair.target_org.records("Document")}


def document_actions(run: Run) -> list[str]:
    return sorted(
        RecordResult.objects.filter(run=run, sobject="Document").values_list(
            "action", flat=True
        )
    )


def demo_user(org: Any) -> tuple[str, str]:
    """A user other than the integration user: (id, email)."""
    [user] = org.query(
        "SELECT Id, Email FROM User "
        f"WHERE Id != '{org.integration_user_id}' ORDER BY Email LIMIT 1"
    )
    return str(user["Id"]), str(user["Email"])


def test_a_document_in_a_folder_arrives_with_identical_body(orgs: OrgPair) -> None:
    folder = add_folder(orgs.source_org, "Brochures")
    target_folder = add_folder(orgs.target_org, "Brochures")
    small, large = content(300), content(3 * INLINE_MAX + 7, seed=3)
    add_document(orgs, folder, small, "Price_list")
    add_document(orgs, folder, large, "Catalogue")  # streamed as multipart
    owner, email = demo_user(orgs.source_org)
    add_document(orgs, owner, content(40, seed=9), "Notes")  # a personal folder

    result = orgs.migrate(make_template("Docs", DOCUMENTS), "veid")

    documents = target_documents(orgs)
    target = client(orgs, orgs.target_org)
    assert body(target, documents["Price_list"]["Id"]) == small
    assert body(target, documents["Catalogue"]["Id"]) == large
    assert documents["Price_list"]["FolderId"] == target_folder
    assert documents["Catalogue"]["ContentType"] == "application/octet-stream"
    target_owner = orgs.target_org.query(
        f"SELECT Id FROM User WHERE Email = '{email}'"
    )[0]["Id"]
    assert documents["Notes"]["FolderId"] == target_owner
    assert result["status"] == Run.Status.SUCCEEDED
    assert result["files"]["Document"] == {
        "uploaded": 3,
        "bytes": len(small) + len(large) + 40,
    }
    assert document_actions(last_run()) == ["uploaded"] * 3


def test_a_repeat_run_sends_no_document(orgs: OrgPair) -> None:
    folder = add_folder(orgs.source_org, "Forms")
    add_folder(orgs.target_org, "Forms")
    add_document(orgs, folder, content(500), "Form_A")
    add_document(orgs, folder, content(2 * INLINE_MAX), "Form_B")
    template = make_template("Docs", DOCUMENTS)
    orgs.migrate(template, "veid")
    before = {d["Id"]: d["SystemModstamp"] for d in orgs.target_org.records("Document")}

    result = orgs.migrate(template, "veid")

    after = {d["Id"]: d["SystemModstamp"] for d in orgs.target_org.records("Document")}
    assert after == before
    assert result["files"]["Document"] == {"unchanged": 2}
    assert document_actions(last_run()) == ["unchanged", "unchanged"]


def test_a_changed_body_updates_the_mapped_target_document(orgs: OrgPair) -> None:
    folder = add_folder(orgs.source_org, "Policies")
    add_folder(orgs.target_org, "Policies")
    document = add_document(orgs, folder, content(200), "Policy")
    template = make_template("Docs", DOCUMENTS)
    orgs.migrate(template, "veid")
    [mapped] = orgs.target_org.records("Document")
    new_body = content(2 * INLINE_MAX + 1, seed=4)
    source: Any = client(orgs, orgs.source_org)
    source.Document.update(document, {"Body": base64.b64encode(new_body).decode()})

    result = orgs.migrate(template, "veid")

    [updated] = orgs.target_org.records("Document")
    assert updated["Id"] == mapped["Id"]
    assert updated["BodyLength"] == len(new_body)
    assert body(client(orgs, orgs.target_org), updated["Id"]) == new_body
    assert result["files"]["Document"] == {"versioned": 1, "bytes": len(new_body)}
    assert document_actions(last_run()) == ["versioned"]


def test_a_document_whose_folder_the_target_lacks_fails_alone(orgs: OrgPair) -> None:
    shared = add_folder(orgs.source_org, "Shared")
    add_folder(orgs.target_org, "Shared")
    private = add_folder(orgs.source_org, "Board_only")
    add_document(orgs, shared, content(100), "Agenda")
    lost = add_document(orgs, private, content(100, seed=1), "Minutes")

    result = orgs.migrate(make_template("Docs", DOCUMENTS), "veid")

    [issue] = RecordIssue.objects.filter(run=last_run(), kind="failed")
    assert (issue.sobject, issue.source_id, issue.error_code) == (
        "Document",
        lost,
        "FOLDER_NOT_FOUND",
    )
    assert "Board_only" in issue.message
    assert result["status"] == Run.Status.COMPLETED_WITH_ERRORS
    assert set(target_documents(orgs)) == {"Agenda"}
    assert result["files"]["Document"] == {"uploaded": 1, "failed": 1, "bytes": 100}


def test_an_oversize_document_fails_alone_and_the_run_goes_on(
    orgs: OrgPair, settings: Settings
) -> None:
    settings.FILES_MAX_BYTES = 4 * INLINE_MAX
    folder = add_folder(orgs.source_org, "Media")
    add_folder(orgs.target_org, "Media")
    big = add_document(orgs, folder, content(4 * INLINE_MAX + 1), "Video")
    add_document(orgs, folder, content(2 * INLINE_MAX), "Poster")
    add_contact(orgs, "Lamarr")
    template = make_template("Docs", DOCUMENTS, CONTACTS_WITH_FILES)

    result = orgs.migrate(template, "veid")

    [issue] = RecordIssue.objects.filter(run=last_run(), kind="failed")
    assert (issue.sobject, issue.source_id, issue.error_code) == (
        "Document",
        big,
        "FILE_TOO_LARGE",
    )
    assert "Video.bin" in issue.message
    assert result["status"] == Run.Status.COMPLETED_WITH_ERRORS
    assert set(target_documents(orgs)) == {"Poster"}
    assert result["objects"]["Contact"]["inserted"] == 1
    assert result["files"]["Document"]["failed"] == 1
