"""Seeding sandboxes (issue 14) against the emulator: masking and same-Id matching."""

from __future__ import annotations

import re
from datetime import date
from typing import Any

import pytest

from migrations_app.models import Org, RecordMapping, Run
from migrations_app.selectors import run_result
from migrations_app.services.runs import run_create, run_execute
from migrations_app.services.seeding import seeding_notes
from salesforce_emulator import Emulator
from tests.integration.conftest import OrgPair, make_template, register

pytestmark = [pytest.mark.django_db, pytest.mark.integration]

MASKED = {
    "sobject": "Contact",
    "fields": [
        "FirstName",
        "LastName",
        "Email",
        "Phone",
        "Birthdate",
        "LeadSource",
        "MailingCity",
        "Title",
        "Department",
        "Description",
    ],
    "match_key": ["Email"],
    "transforms": {
        "FirstName": "mask",
        "LastName": "mask",
        "Email": "mask",
        "Phone": "mask",
        "Birthdate": "mask",
        "LeadSource": "mask",
        "MailingCity": "mask",
        "Title": {"prefix": "T-"},
        "Department": {"fixed": "Seeded"},
        "Description": "empty",
    },
}
PICKLIST = ("Web", "Phone Inquiry", "Partner Referral", "Purchased List", "Other")


def seed_people(pair: OrgPair, count: int) -> list[dict[str, Any]]:
    people = [
        {
            "FirstName": f"Real{i}",
            "LastName": f"Person{i}",
            "Email": f"real.person{i}@corp.example.com",
            "Phone": f"+44 20 7946 0{i:03d}",
            "Birthdate": f"198{i % 10}-0{i % 9 + 1}-1{i % 9}",
            "LeadSource": "Web",
            "MailingCity": "London",
            "Title": f"Engineer {i}",
            "Department": "R&D",
            "Description": f"Private notes about person {i}",
        }
        for i in range(count)
    ]
    for person in people:
        person["Id"] = pair.source_org.insert("Contact", person)
    return people


def target_by_source(pair: OrgPair) -> dict[str, dict[str, Any]]:
    mapped = dict(RecordMapping.objects.values_list("source_id", "target_id"))
    records = {c["Id"]: c for c in pair.target_org.records("Contact")}
    return {source: records[target] for source, target in mapped.items()}


def test_masked_values_are_valid_deterministic_and_never_the_source(
    orgs: OrgPair,
) -> None:
    template = make_template("Masked contacts", MASKED)
    people = seed_people(orgs, 12)

    first = orgs.migrate(template, "veid")

    assert (first["status"], first["totals"]["inserted"]) == (Run.Status.SUCCEEDED, 12)
    written = target_by_source(orgs)
    emails = set()
    for person in people:
        record = written[person["Id"]]
        for name in ("FirstName", "LastName", "Email", "Phone", "MailingCity"):
            assert record[name], name
            assert record[name] != person[name], name
            assert person[name] not in str(record[name])
        assert re.fullmatch(
            r"[a-z]+\.[a-z]+\.[0-9a-f]{10}@example\.invalid", record["Email"]
        )
        assert re.fullmatch(r"\+1 \(555\) \d{3}-\d{4}", record["Phone"])
        assert date.fromisoformat(record["Birthdate"]).year in range(1950, 2005)
        assert record["LeadSource"] in PICKLIST
        assert record["Title"] == f"T-{person['Title']}"
        assert record["Department"] == "Seeded"
        assert record["Description"] is None
        emails.add(record["Email"])
    assert len(emails) == len(people)
    # The source is never touched.
    assert [orgs.source_org.get("Contact", p["Id"])["Email"] for p in people] == [
        p["Email"] for p in people
    ]


def test_an_unchanged_repeat_of_a_masked_run_writes_nothing(orgs: OrgPair) -> None:
    template = make_template("Masked contacts", MASKED)
    seed_people(orgs, 5)
    orgs.migrate(template, "veid_match")
    before = {c["Id"]: dict(c) for c in orgs.target_org.records("Contact")}

    second = orgs.migrate(template, "veid_match")

    assert second["totals"]["unchanged"] == 5
    assert second["totals"]["updated"] == second["totals"]["inserted"] == 0
    after = {c["Id"]: dict(c) for c in orgs.target_org.records("Contact")}
    assert after == before


def test_masking_follows_the_source_value_and_the_secret(
    orgs: OrgPair, settings: Any
) -> None:
    template = make_template("Masked contacts", MASKED)
    person = seed_people(orgs, 1)[0]
    orgs.migrate(template, "veid")
    first_email = target_by_source(orgs)[person["Id"]]["Email"]
    orgs.source_org.update(
        "Contact", person["Id"], {"Email": "changed@corp.example.com"}
    )

    changed = orgs.migrate(template, "veid")

    assert changed["totals"]["updated"] == 1
    second_email = target_by_source(orgs)[person["Id"]]["Email"]
    assert second_email != first_email
    assert second_email.endswith("@example.invalid")
    settings.MASKING_KEY = "another secret"
    assert orgs.migrate(template, "veid")["totals"]["updated"] == 1
    assert target_by_source(orgs)[person["Id"]]["Email"] != second_email


def test_veid_match_matches_on_the_masked_value(orgs: OrgPair) -> None:
    """A target record the first run inserted and whose mapping was lost is adopted
    by the next veid_match run: the match key compares the value as written."""
    template = make_template("Masked contacts", MASKED)
    seed_people(orgs, 3)
    orgs.migrate(template, "veid")
    RecordMapping.objects.all().delete()

    again = orgs.migrate(template, "veid_match")

    assert (again["totals"]["adopted"], again["totals"]["inserted"]) == (3, 0)
    assert orgs.target_org.count("Contact") == 3


def test_a_transform_the_target_field_cannot_take_blocks_the_run(orgs: OrgPair) -> None:
    template = make_template(
        "Empty last name",
        {
            "sobject": "Contact",
            "fields": ["LastName", "AccountId"],
            "transforms": {"LastName": "empty", "AccountId": "mask"},
        },
    )
    result = orgs.migrate(template, "veid")

    assert result["status"] == Run.Status.FAILED
    assert "Contact.LastName: is required in the target org" in result["error"]
    assert "Contact.AccountId: lookups and ids are mapped" in result["error"]


# Same-Id matching --------------------------------------------------------------------

ACCOUNT = {"sobject": "Account", "fields": ["Name", "Industry"]}
CONTACT = {
    "sobject": "Contact",
    "fields": ["FirstName", "LastName", "Email", "AccountId"],
    "match_key": ["Email"],
}


def copy_to_sandbox(orgs: OrgPair, emulator: Emulator) -> OrgPair:
    """The source, and a sandbox copy of it (as it is now) as the target."""
    if any(org.name == "uat" for org in emulator.all_orgs()):
        emulator.refresh_sandbox("uat")
    else:
        emulator.create_sandbox("uat", "source")
    target = register(emulator, "uat")
    target.environment = Org.Environment.SANDBOX
    target.save(update_fields=["environment"])
    return OrgPair(emulator, orgs.source, target)


def seed_accounts_and_contacts(pair: OrgPair, count: int) -> None:
    for i in range(count):
        account = pair.source_org.insert(
            "Account", {"Name": f"Acme {i}", "Industry": "Banking"}
        )
        pair.source_org.insert(
            "Contact",
            {
                "FirstName": f"F{i}",
                "LastName": f"L{i}",
                "Email": f"p{i}@corp.example.com",
                "AccountId": account,
            },
        )


@pytest.mark.parametrize("strategy", ["veid", "veid_match"])
def test_first_run_into_a_sandbox_copy_adopts_every_record_by_id(
    orgs: OrgPair, emulator: Emulator, strategy: str
) -> None:
    seed_accounts_and_contacts(orgs, 4)
    pair = copy_to_sandbox(orgs, emulator)
    template = make_template("Accounts and contacts", ACCOUNT, CONTACT)
    counts_before = {
        name: emulator.org("uat").count(name) for name in ("Account", "Contact")
    }

    result = pair.migrate(template, strategy)

    assert result["status"] == Run.Status.SUCCEEDED
    assert result["totals"]["inserted"] == 0
    assert result["totals"]["adopted"] == 8
    assert {
        name: emulator.org("uat").count(name) for name in ("Account", "Contact")
    } == (counts_before)
    mappings = RecordMapping.objects.filter(target_org=pair.target)
    assert mappings.count() == 8
    assert all(m.source_id == m.target_id for m in mappings)
    # The next run finds everything mapped and unchanged.
    assert pair.migrate(template, strategy)["totals"]["unchanged"] == 8


def test_a_record_created_after_the_copy_is_inserted(
    orgs: OrgPair, emulator: Emulator
) -> None:
    seed_accounts_and_contacts(orgs, 2)
    pair = copy_to_sandbox(orgs, emulator)
    orgs.source_org.insert("Account", {"Name": "New after copy"})
    template = make_template("Accounts", ACCOUNT)

    result = pair.migrate(template, "veid")

    assert (result["totals"]["adopted"], result["totals"]["inserted"]) == (2, 1)


def test_same_id_matching_spends_one_query_per_chunk_of_unmapped_records(
    orgs: OrgPair, emulator: Emulator
) -> None:
    seed_accounts_and_contacts(orgs, 3)
    pair = copy_to_sandbox(orgs, emulator)
    template = make_template("Accounts", ACCOUNT)
    plain = run_create(
        template=template,
        source_org=orgs.source,
        target_org=orgs.target,
        strategy="veid",
    )
    into_plain_org = run_execute(run_id=plain.pk)
    copy = run_create(
        template=template,
        source_org=pair.source,
        target_org=pair.target,
        strategy="veid",
    )

    into_copy = run_execute(run_id=copy.pk)

    assert run_result(run=into_plain_org)["totals"]["inserted"] == 3
    assert run_result(run=into_copy)["totals"]["adopted"] == 3
    # Into the copy: the sandbox check and one Id probe, then one update call; into
    # the plain org: the sandbox check, then one insert call.
    assert into_copy.target_api_calls == into_plain_org.target_api_calls + 1


def test_the_launch_notes_say_when_same_id_matching_applies(
    orgs: OrgPair, emulator: Emulator
) -> None:
    seed_accounts_and_contacts(orgs, 2)
    pair = copy_to_sandbox(orgs, emulator)
    template = make_template("Accounts and contacts", ACCOUNT, CONTACT)

    into_copy = seeding_notes(
        template=template,
        source_org=pair.source,
        target_org=pair.target,
        strategy="veid",
    )
    into_plain = seeding_notes(
        template=template,
        source_org=orgs.source,
        target_org=orgs.target,
        strategy="veid",
    )
    with_none = seeding_notes(
        template=template,
        source_org=pair.source,
        target_org=pair.target,
        strategy="none",
    )

    assert (into_copy.same_id, into_plain.same_id, with_none.same_id) == (
        True,
        False,
        False,
    )
    assert into_copy.unmasked_into_sandbox == [
        "Contact.FirstName",
        "Contact.LastName",
        "Contact.Email",
    ]
