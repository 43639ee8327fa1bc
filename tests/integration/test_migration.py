"""End to end: templates run between two emulated orgs through simple-salesforce."""

from __future__ import annotations

from typing import Any

import pytest
from django.core.management import call_command

from migrations_app.engine import pages
from migrations_app.models import RecordIssue, RecordMapping, Run
from migrations_app.services import runs
from tests.integration.conftest import OrgPair, make_template

pytestmark = [pytest.mark.django_db, pytest.mark.integration]

CONTACT = {
    "sobject": "Contact",
    "fields": ["FirstName", "LastName", "Email"],
    "filter": "",
    "match_key": ["Email"],
}


def seed_contacts(pair: OrgPair, count: int) -> list[str]:
    return [
        pair.source_org.insert(
            "Contact",
            {
                "FirstName": f"First{i}",
                "LastName": f"Last{i}",
                "Email": f"c{i}@example.com",
            },
        )
        for i in range(count)
    ]


def target_contacts(pair: OrgPair, email: str) -> list[dict[str, Any]]:
    return [
        c
        for c in pair.target_org.records("Contact")
        if (c["Email"] or "").lower() == email
    ]


def add_charlie_and_alice(pair: OrgPair) -> None:
    for org in (pair.source_org, pair.target_org):
        org.insert(
            "Contact",
            {
                "FirstName": "Charlie",
                "LastName": "Brown",
                "Email": "charlie@example.com",
            },
        )
        org.insert(
            "Contact",
            {"FirstName": "Alice", "LastName": "Smith", "Email": "alice@example.com"},
        )


def test_veid_duplicates_records_created_by_hand_as_the_documentation_says(
    orgs: OrgPair,
) -> None:
    template = make_template("Contacts", CONTACT)
    seed_contacts(orgs, 5)
    first = orgs.migrate(template, "veid")
    assert first["totals"]["inserted"] == 5
    add_charlie_and_alice(orgs)

    second = orgs.migrate(template, "veid")

    assert second["totals"]["inserted"] == 2
    assert second["totals"]["unchanged"] == 5
    assert len(target_contacts(orgs, "charlie@example.com")) == 2
    assert len(target_contacts(orgs, "alice@example.com")) == 2
    assert orgs.target_org.count("Contact") == 9


def test_veid_match_adopts_records_created_by_hand(orgs: OrgPair) -> None:
    template = make_template("Contacts", CONTACT)
    seed_contacts(orgs, 5)
    orgs.migrate(template, "veid_match")
    add_charlie_and_alice(orgs)

    second = orgs.migrate(template, "veid_match")

    assert second["totals"]["adopted"] == 2
    assert second["totals"]["inserted"] == 0
    assert len(target_contacts(orgs, "charlie@example.com")) == 1
    assert orgs.target_org.count("Contact") == 7
    charlie = target_contacts(orgs, "charlie@example.com")[0]
    assert RecordMapping.objects.filter(target_id=charlie["Id"]).count() == 1


def test_veid_match_reports_ambiguous_matches_and_writes_nothing_for_them(
    orgs: OrgPair,
) -> None:
    template = make_template("Contacts", CONTACT)
    orgs.source_org.insert("Contact", {"LastName": "Twin", "Email": "twin@example.com"})
    for _ in range(2):
        orgs.target_org.insert(
            "Contact", {"LastName": "Twin", "Email": "twin@example.com"}
        )

    result = orgs.migrate(template, "veid_match")

    assert result["status"] == Run.Status.COMPLETED_WITH_ERRORS
    assert result["totals"]["ambiguous"] == 1
    assert orgs.target_org.count("Contact") == 2
    issue = RecordIssue.objects.get(kind="ambiguous")
    assert issue.error_code == "AMBIGUOUS_MATCH"
    twins = [r["Id"] for r in target_contacts(orgs, "twin@example.com")]
    assert issue.message.startswith("2 target records have the same match key (Email)")
    assert sorted(issue.message.rsplit(": ", 1)[1].split(", ")) == sorted(twins)


def test_two_source_records_wanting_one_twin_are_both_ambiguous(orgs: OrgPair) -> None:
    template = make_template("Contacts", CONTACT)
    for name in ("First", "Second"):
        orgs.source_org.insert(
            "Contact", {"LastName": name, "Email": "one@example.com"}
        )
    twin = orgs.target_org.insert(
        "Contact", {"LastName": "Only", "Email": "one@example.com"}
    )

    result = orgs.migrate(template, "veid_match")

    assert result["totals"]["ambiguous"] == 2
    messages = {issue.message for issue in RecordIssue.objects.filter(kind="ambiguous")}
    assert messages == {
        f"Its match-key twin (Email) in the target, {twin}, is also the twin of "
        "another source record; adopt one of them by hand"
    }


def test_second_veid_run_without_changes_writes_nothing(orgs: OrgPair) -> None:
    template = make_template("Contacts", CONTACT)
    seed_contacts(orgs, 30)
    orgs.migrate(template, "veid")
    before = [dict(c) for c in orgs.target_org.records("Contact")]

    second = orgs.migrate(template, "veid")

    assert second["status"] == Run.Status.SUCCEEDED
    assert second["totals"] == {
        "selected": 30,
        "inserted": 0,
        "updated": 0,
        "adopted": 0,
        "unchanged": 30,
        "failed": 0,
        "ambiguous": 0,
    }
    assert [c["LastModifiedDate"] for c in orgs.target_org.records("Contact")] == [
        c["LastModifiedDate"] for c in before
    ]


def test_changed_source_records_are_updated_in_place(orgs: OrgPair) -> None:
    template = make_template("Contacts", CONTACT)
    ids = seed_contacts(orgs, 3)
    orgs.migrate(template, "veid")
    orgs.source_org.update("Contact", ids[0], {"LastName": "Renamed"})

    second = orgs.migrate(template, "veid")

    assert (second["totals"]["updated"], second["totals"]["unchanged"]) == (1, 2)
    mapping = RecordMapping.objects.get(source_id=ids[0])
    assert orgs.target_org.get("Contact", mapping.target_id)["LastName"] == "Renamed"
    assert orgs.target_org.count("Contact") == 3


def test_none_inserts_everything_every_time_and_writes_no_mapping(
    orgs: OrgPair,
) -> None:
    template = make_template("Contacts", CONTACT)
    seed_contacts(orgs, 4)
    orgs.migrate(template, "none")
    second = orgs.migrate(template, "none")
    assert second["totals"]["inserted"] == 4
    assert orgs.target_org.count("Contact") == 8
    assert RecordMapping.objects.count() == 0


def build_hierarchy(pair: OrgPair) -> dict[str, str]:
    org = pair.source_org
    ids = {"root": org.insert("Account", {"Name": "Root Holdings"})}
    ids["mid"] = org.insert(
        "Account", {"Name": "Mid Division", "ParentId": ids["root"]}
    )
    ids["leaf"] = org.insert("Account", {"Name": "Leaf Branch", "ParentId": ids["mid"]})
    ids["contact"] = org.insert(
        "Contact", {"LastName": "Leafworker", "AccountId": ids["leaf"]}
    )
    ids["opportunity"] = org.insert(
        "Opportunity",
        {
            "Name": "Big deal",
            "StageName": "Prospecting",
            "CloseDate": "2026-12-31",
            "AccountId": ids["mid"],
        },
    )
    return ids


HIERARCHY_OBJECTS = (
    {
        "sobject": "Opportunity",
        "fields": ["Name", "StageName", "CloseDate", "AccountId"],
    },
    {"sobject": "Contact", "fields": ["LastName", "AccountId"]},
    {"sobject": "Account", "fields": ["Name", "ParentId"]},
)


def test_hierarchy_contacts_and_opportunities_keep_every_relationship(
    orgs: OrgPair,
) -> None:
    ids = build_hierarchy(orgs)
    template = make_template("Accounts", *HIERARCHY_OBJECTS)

    result = orgs.migrate(template, "veid")

    assert result["status"] == Run.Status.SUCCEEDED, result
    assert result["totals"]["inserted"] == 5
    target = {
        key: RecordMapping.objects.get(source_id=source_id).target_id
        for key, source_id in ids.items()
    }
    get = orgs.target_org.get
    assert get("Account", target["root"])["ParentId"] is None
    assert get("Account", target["mid"])["ParentId"] == target["root"]
    assert get("Account", target["leaf"])["ParentId"] == target["mid"]
    assert get("Contact", target["contact"])["AccountId"] == target["leaf"]
    assert get("Opportunity", target["opportunity"])["AccountId"] == target["mid"]
    assert list(Run.objects.get().report["order"]) == [
        "Account",
        "Opportunity",
        "Contact",
    ]


def test_lookups_resolve_through_mappings_of_an_earlier_run(orgs: OrgPair) -> None:
    ids = build_hierarchy(orgs)
    orgs.migrate(
        make_template(
            "Accounts only", {"sobject": "Account", "fields": ["Name", "ParentId"]}
        ),
        "veid",
    )

    result = orgs.migrate(
        make_template(
            "Contacts only", {"sobject": "Contact", "fields": ["LastName", "AccountId"]}
        ),
        "veid",
    )

    assert result["totals"]["inserted"] == 1
    contact = RecordMapping.objects.get(source_id=ids["contact"]).target_id
    leaf = RecordMapping.objects.get(source_id=ids["leaf"]).target_id
    assert orgs.target_org.get("Contact", contact)["AccountId"] == leaf


def test_missing_parent_policy_fail_record(orgs: OrgPair) -> None:
    build_hierarchy(orgs)
    template = make_template(
        "Contacts strict",
        {
            "sobject": "Contact",
            "fields": ["LastName", "AccountId"],
            "missing_parent_policy": "fail_record",
        },
    )
    result = orgs.migrate(template, "veid")
    assert result["totals"]["failed"] == 1
    assert RecordIssue.objects.get().error_code == "MISSING_PARENT"
    assert orgs.target_org.count("Contact") == 0


def test_none_resolves_lookups_through_its_own_inserts(orgs: OrgPair) -> None:
    ids = build_hierarchy(orgs)
    orgs.migrate(make_template("Accounts", *HIERARCHY_OBJECTS), "none")
    contact = orgs.target_org.records("Contact")[0]
    account = orgs.target_org.get("Account", contact["AccountId"])
    assert account["Name"] == "Leaf Branch"
    assert ids


def test_validation_failure_is_reported_and_other_records_succeed(
    orgs: OrgPair,
) -> None:
    template = make_template("Contacts", CONTACT)
    ids = seed_contacts(orgs, 5)
    orgs.target_org.faults.update(
        validation_rules=[
            {
                "sobject": "Contact",
                "field": "LastName",
                "value": "Last2",
                "message": "No Last2 here",
            }
        ]
    )

    result = orgs.migrate(template, "veid")

    assert result["status"] == Run.Status.COMPLETED_WITH_ERRORS
    assert (result["totals"]["inserted"], result["totals"]["failed"]) == (4, 1)
    issue = RecordIssue.objects.get()
    assert (issue.source_id, issue.error_code, issue.message) == (
        ids[2],
        "FIELD_CUSTOM_VALIDATION_EXCEPTION",
        "No Last2 here",
    )
    assert not RecordMapping.objects.filter(source_id=ids[2]).exists()


def test_dry_run_changes_nothing(orgs: OrgPair) -> None:
    build_hierarchy(orgs)
    template = make_template("Accounts", *HIERARCHY_OBJECTS)
    calls_before = orgs.target_org.api_calls

    result = orgs.migrate(template, "veid", dry_run=True)

    assert result["totals"]["inserted"] == 5
    assert result["totals"]["failed"] == 0
    assert orgs.target_org.count("Account") == 0
    assert RecordMapping.objects.count() == 0
    assert orgs.target_org.api_calls - calls_before == result["api_calls"]["target"]


def test_deleted_target_record_fails_and_marks_its_mapping_outdated(
    orgs: OrgPair,
) -> None:
    template = make_template("Contacts", CONTACT)
    ids = seed_contacts(orgs, 2)
    orgs.migrate(template, "veid")
    mapping = RecordMapping.objects.get(source_id=ids[0])
    orgs.target_org.delete("Contact", mapping.target_id)
    orgs.source_org.update("Contact", ids[0], {"LastName": "Changed"})

    result = orgs.migrate(template, "veid")

    assert result["totals"]["failed"] == 1
    assert RecordIssue.objects.get().error_code == "TARGET_DELETED"
    mapping.refresh_from_db()
    assert mapping.status == RecordMapping.Status.OUTDATED
    assert orgs.target_org.count("Contact") == 1
    again = orgs.migrate(template, "veid")
    assert again["totals"]["failed"] == 1
    assert orgs.target_org.count("Contact") == 1


def test_preflight_stops_a_run_that_cannot_succeed(orgs: OrgPair) -> None:
    seed_contacts(orgs, 1)
    template = make_template(
        "Bad", {"sobject": "Contact", "fields": ["FirstName", "Email"]}
    )

    result = orgs.migrate(template, "veid")

    assert result["status"] == Run.Status.FAILED
    assert "LastName: is required in the target org but not selected" in result["error"]
    assert orgs.target_org.count("Contact") == 0


def test_lost_answer_interrupts_and_the_next_run_creates_no_duplicate(
    orgs: OrgPair, settings: Any
) -> None:
    settings.RUN_RETRY_BUDGET = 0  # no retry in place: the crash path
    # One call at a time, so that exactly the first one is answered by nobody.
    settings.WRITE_CONCURRENCY = 1
    template = make_template("Contacts", CONTACT)
    seed_contacts(orgs, 250)
    orgs.target_org.faults.update(fail_after_writes=1)

    first = orgs.migrate(template, "veid")

    assert first["status"] == Run.Status.INTERRUPTED
    assert (
        orgs.target_org.count("Contact") == 200
    )  # the first batch was applied, its answer lost
    second = orgs.migrate(template, "veid")
    assert second["status"] == Run.Status.SUCCEEDED
    assert orgs.target_org.count("Contact") == 250
    assert RecordMapping.objects.count() == 250


def test_run_migration_command_prints_json(
    orgs: OrgPair, capsys: pytest.CaptureFixture[str]
) -> None:
    import json

    make_template("Contacts", CONTACT)
    seed_contacts(orgs, 3)
    call_command(
        "run_migration",
        "--template",
        "Contacts",
        "--source",
        "source",
        "--target",
        "target",
        "--strategy",
        "veid",
        "--json",
    )
    output = json.loads(capsys.readouterr().out)
    assert set(output) >= {"run_id", "status", "objects", "totals", "api_calls"}
    assert output["objects"]["Contact"]["inserted"] == 3
    assert output["api_calls"]["target"] > 0


@pytest.mark.parametrize(("every_seconds", "saves"), [(0, 3 + 1), (3600, 1 + 1)])
def test_api_call_counts_are_saved_between_pages_at_most_once_a_period(
    orgs: OrgPair, monkeypatch: pytest.MonkeyPatch, every_seconds: int, saves: int
) -> None:
    """Three pages: counts saved after each, or only after the first when a period
    has not passed since; and always at the run's end, with every call counted."""
    monkeypatch.setattr(pages, "PAGE_SIZE", 200)
    monkeypatch.setattr(runs, "API_CALLS_SAVED_EVERY_SECONDS", every_seconds)
    saved: list[int] = []
    record = runs._record_api_calls

    def counting(context: Any) -> None:
        saved.append(context.target.usage.calls)
        record(context)

    monkeypatch.setattr(runs, "_record_api_calls", counting)
    seed_contacts(orgs, 600)
    calls_before = orgs.target_org.api_calls

    result = orgs.migrate(make_template("Contacts", CONTACT), "veid")

    assert result["totals"]["inserted"] == 600
    assert len(saved) == saves
    assert orgs.target_org.api_calls - calls_before == result["api_calls"]["target"]
