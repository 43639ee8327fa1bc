"""Files and prices follow their records, between two emulated orgs (issue 13)."""

from __future__ import annotations

import base64
import hashlib
from typing import Any

import pytest
from pytest_django.fixtures import Settings

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
