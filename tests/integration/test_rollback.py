"""Undo a run (issue 14) against the emulator: delete inserts, restore updates."""

from __future__ import annotations

import json
from datetime import timedelta
from io import StringIO
from typing import Any

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError
from django.utils import timezone
from pytest_django import Settings
from simple_salesforce import Salesforce

from migrations_app.models import (
    AuditEvent,
    BeforeImage,
    Org,
    RecordAction,
    RecordIssue,
    RecordMapping,
    RecordResult,
    Run,
    WriteJournal,
)
from migrations_app.services.errors import MigrationError
from migrations_app.services.rollback import (
    mappings_retire_rolled_back,
    rollback_create,
    rollback_result,
)
from migrations_app.services.runs import run_execute
from tests.integration.conftest import OrgPair, make_template

pytestmark = [pytest.mark.django_db, pytest.mark.integration]

CONTACT = {
    "sobject": "Contact",
    "fields": ["FirstName", "LastName", "Email", "Title"],
    "match_key": ["Email"],
}
ACCOUNT = {"sobject": "Account", "fields": ["Name", "Industry"]}
CONTACT_WITH_ACCOUNT = {
    "sobject": "Contact",
    "fields": ["FirstName", "LastName", "Email", "AccountId"],
    "match_key": ["Email"],
}
FIELDS = ("FirstName", "LastName", "Email", "Title", "AccountId")


def snapshot(pair: OrgPair) -> dict[str, dict[str, Any]]:
    """Every target contact and account, by Id, with the fields the tests touch."""
    records = {}
    for sobject in ("Account", "Contact"):
        for record in pair.target_org.records(sobject):
            records[record["Id"]] = {
                name: record.get(name) for name in (*FIELDS, "Name", "Industry")
            }
    return records


def rollback(run: Run, *, dry_run: bool = False) -> dict[str, Any]:
    created = rollback_create(run=run, dry_run=dry_run)
    return rollback_result(run=run_execute(run_id=created.pk))


def migrate(pair: OrgPair, template: Any, strategy: str = "veid_match") -> Run:
    pair.migrate(template, strategy, keep_before_images=True)
    return Run.objects.order_by("-pk").first()  # type: ignore[return-value]


def other_user(pair: OrgPair) -> Any:
    org = pair.target_org
    user = org.query(
        f"SELECT Id FROM User WHERE Id != '{org.integration_user_id}' LIMIT 1"
    )[0]
    return Salesforce(
        instance_url=pair.emulator.base_url,
        session_id=org.issue_token(user["Id"]),
        session=pair.emulator.session(),
    )


@pytest.fixture
def scenario(orgs: OrgPair) -> tuple[OrgPair, Any, dict[str, Any], Run]:
    """A target with hand-made contacts, one adopted and one updated by the run, plus
    inserted accounts and contacts; returns the target as it was before the run."""
    template = make_template("Accounts and contacts", ACCOUNT, CONTACT_WITH_ACCOUNT)
    twin = {"FirstName": "Ann", "LastName": "Twin", "Email": "ann@corp.example.com"}
    orgs.source_org.insert("Contact", twin)
    orgs.target_org.insert("Contact", {**twin, "LastName": "Twin (by hand)"})
    for i in range(3):
        account = orgs.source_org.insert("Account", {"Name": f"Acme {i}"})
        orgs.source_org.insert(
            "Contact",
            {
                "LastName": f"L{i}",
                "Email": f"p{i}@corp.example.com",
                "AccountId": account,
            },
        )
    before = snapshot(orgs)
    run = migrate(orgs, template)
    return orgs, template, before, run


def test_a_rollback_restores_the_target_exactly(
    scenario: tuple[OrgPair, Any, dict[str, Any], Run],
) -> None:
    pair, _, before, run = scenario
    assert (run.inserted, run.adopted) == (6, 1)
    assert pair.target_org.count("Contact") == 4

    result = rollback(run)

    assert result["status"] == Run.Status.SUCCEEDED
    assert result["totals"]["deleted"] == 6
    assert result["totals"]["restored"] == 1
    assert result["objects"]["Contact"]["deleted"] == 3
    assert result["objects"]["Account"]["deleted"] == 3
    assert result["rollback_of"] == run.pk
    assert snapshot(pair) == before
    # The mappings the run created are retired, each with an audit event.
    assert not RecordMapping.objects.exists()
    assert AuditEvent.objects.filter(action="mapping_retired").count() == 7
    rolled_back = Run.objects.get(pk=result["run_id"])
    assert rolled_back.results.filter(action=RecordAction.DELETED).count() == 6
    assert rolled_back.results.filter(action=RecordAction.RESTORED).count() == 1
    assert rolled_back.journal.filter(operation="delete", state="done").count() == 2


def test_a_rollback_is_idempotent(
    scenario: tuple[OrgPair, Any, dict[str, Any], Run],
) -> None:
    pair, _, before, run = scenario
    rollback(run)

    again = rollback(run)

    assert again["status"] == Run.Status.SUCCEEDED
    assert (again["totals"]["deleted"], again["totals"]["restored"]) == (0, 0)
    assert again["totals"]["unchanged"] == again["totals"]["selected"] == 7
    assert snapshot(pair) == before


def test_a_record_someone_else_changed_is_left_alone_and_listed(
    scenario: tuple[OrgPair, Any, dict[str, Any], Run],
) -> None:
    pair, _, _before, run = scenario
    inserted = RecordResult.objects.filter(
        run=run, sobject="Contact", action="inserted"
    ).first()
    assert inserted is not None
    other_user(pair).Contact.update(inserted.target_id, {"Title": "Edited by hand"})
    adopted = RecordResult.objects.get(run=run, action="adopted")
    pair.target_org.update("Contact", adopted.target_id, {"LastName": "Changed later"})

    result = rollback(run)

    assert result["status"] == Run.Status.COMPLETED_WITH_ERRORS
    assert result["changed_since_run"] == 2
    assert result["totals"]["deleted"] == 5
    assert result["totals"]["restored"] == 0
    kept = pair.target_org.get("Contact", inserted.target_id)
    assert kept["Title"] == "Edited by hand"
    assert (
        pair.target_org.get("Contact", adopted.target_id)["LastName"] == "Changed later"
    )
    listed = RecordIssue.objects.filter(
        run_id=result["run_id"], error_code="CHANGED_SINCE_RUN"
    )
    assert {issue.target_id for issue in listed} == {
        inserted.target_id,
        adopted.target_id,
    }
    # Their mappings stay: the next run updates them rather than duplicating them.
    assert RecordMapping.objects.filter(target_id=inserted.target_id).exists()
    assert RecordMapping.objects.filter(target_id=adopted.target_id).exists()


def test_a_dry_run_rollback_counts_and_writes_nothing(
    scenario: tuple[OrgPair, Any, dict[str, Any], Run],
) -> None:
    pair, _, _, run = scenario
    after_run = snapshot(pair)

    result = rollback(run, dry_run=True)

    assert result["dry_run"] is True
    assert (result["totals"]["deleted"], result["totals"]["restored"]) == (6, 1)
    assert snapshot(pair) == after_run
    assert RecordMapping.objects.count() == 7
    assert not WriteJournal.objects.filter(run_id=result["run_id"]).exists()


def test_updated_records_get_their_values_back(orgs: OrgPair) -> None:
    template = make_template("Contacts", CONTACT)
    source_id = orgs.source_org.insert(
        "Contact",
        {"LastName": "Original", "Title": "CEO", "Email": "x@corp.example.com"},
    )
    first = migrate(orgs, template)
    orgs.source_org.update("Contact", source_id, {"LastName": "Renamed", "Title": None})
    before = snapshot(orgs)
    second = migrate(orgs, template)
    assert second.updated == 1
    assert BeforeImage.objects.filter(run=second).count() == 1

    result = rollback(second)

    assert result["totals"]["restored"] == 1
    assert snapshot(orgs) == before
    # The mapping stays (the first run made it) and forgets what was last sent, so the
    # next run writes the source's values again.
    mapping = RecordMapping.objects.get(source_id=source_id)
    assert (mapping.created_by_run_id, mapping.values_hash) == (first.pk, "")
    assert migrate(orgs, template).updated == 1


def test_without_before_images_updates_are_listed_not_restored(orgs: OrgPair) -> None:
    template = make_template("Contacts", CONTACT)
    source_id = orgs.source_org.insert("Contact", {"LastName": "Original"})
    orgs.migrate(template, "veid")
    orgs.source_org.update("Contact", source_id, {"LastName": "Renamed"})
    orgs.migrate(template, "veid")  # a sandbox target: no before-images by default
    second = Run.objects.order_by("-pk").first()
    assert second is not None
    assert not BeforeImage.objects.filter(run=second).exists()

    result = rollback(second)

    assert result["status"] == Run.Status.COMPLETED_WITH_ERRORS
    issue = RecordIssue.objects.get(
        run_id=result["run_id"], error_code="NO_BEFORE_IMAGE"
    )
    assert issue.count == 1


def test_production_targets_keep_before_images_by_default(orgs: OrgPair) -> None:
    Org.objects.filter(pk=orgs.target.pk).update(environment=Org.Environment.PRODUCTION)
    template = make_template("Contacts", CONTACT)
    source_id = orgs.source_org.insert("Contact", {"LastName": "Original"})
    orgs.migrate(template, "veid")
    orgs.source_org.update("Contact", source_id, {"LastName": "Renamed"})

    orgs.migrate(template, "veid")

    assert BeforeImage.objects.count() == 1


def test_what_cannot_be_rolled_back_is_refused(
    scenario: tuple[OrgPair, Any, dict[str, Any], Run],
) -> None:
    pair, template, _, run = scenario
    undo = Run.objects.get(pk=rollback(run)["run_id"])
    with pytest.raises(MigrationError, match="is itself a rollback"):
        rollback_create(run=undo)
    dry = pair.migrate(template, "veid", dry_run=True)
    with pytest.raises(MigrationError, match="was a dry run"):
        rollback_create(run=Run.objects.get(pk=dry["run_id"]))


def test_the_command_prints_the_run_migration_shape_with_deleted_and_restored(
    scenario: tuple[OrgPair, Any, dict[str, Any], Run],
) -> None:
    _, _, _, run = scenario
    out = StringIO()

    call_command("run_rollback", str(run.pk), "--json", "--dry-run", stdout=out)

    data = json.loads(out.getvalue())
    assert set(data) >= {"run_id", "status", "objects", "totals", "api_calls"}
    assert set(data["totals"]) == {
        "selected", "inserted", "updated", "adopted", "unchanged", "failed",
        "ambiguous", "deleted", "restored",
    }  # fmt: skip
    assert data["totals"]["deleted"] == 6
    with pytest.raises(CommandError, match="no run 999999"):
        call_command("run_rollback", "999999")


def test_an_incremental_run_after_a_rollback_writes_the_undone_records_again(
    orgs: OrgPair,
) -> None:
    """Neither the rollback nor the run it undid is the base of an incremental run."""
    template = make_template("Contacts", CONTACT)
    orgs.source_org.insert(
        "Contact", {"LastName": "Kept", "Email": "k@corp.example.com"}
    )
    first = migrate(orgs, template)
    orgs.source_org.insert(
        "Contact", {"LastName": "New", "Email": "n@corp.example.com"}
    )
    second = migrate(orgs, template)
    assert second.inserted == 1
    undo = Run.objects.get(pk=rollback(second)["run_id"])
    assert orgs.target_org.count("Contact") == 1
    # Started long after anything in the source changed: as bases, they would read
    # nothing.
    later = timezone.now() + timedelta(days=1)
    Run.objects.filter(pk__in=[second.pk, undo.pk]).update(started_at=later)
    Run.objects.filter(pk=first.pk).update(
        started_at=timezone.now() - timedelta(days=1)
    )

    again = orgs.migrate(template, "veid", incremental=True)

    assert again["totals"]["inserted"] == 1
    assert orgs.target_org.count("Contact") == 2


def test_updates_sent_in_one_bulk_job_are_restored_in_calls_of_200(
    orgs: OrgPair, settings: Settings
) -> None:
    """One before-image row holds a whole write call: here a Bulk API job of 450
    updates, more than one Collections call restores."""
    settings.BULK_WRITE_THRESHOLD = 100
    template = make_template("Contacts", CONTACT)
    ids = orgs.source_org.insert_many(
        "Contact",
        (
            {"LastName": f"Original {i}", "Email": f"c{i}@example.com"}
            for i in range(450)
        ),
    )
    migrate(orgs, template)
    for source_id in ids:
        orgs.source_org.update("Contact", source_id, {"LastName": "Renamed"})
    before = snapshot(orgs)
    second = migrate(orgs, template)
    assert second.updated == 450
    assert BeforeImage.objects.filter(run=second).count() == 1

    result = rollback(second)

    assert result["status"] == Run.Status.SUCCEEDED, result
    assert result["totals"]["restored"] == 450
    assert snapshot(orgs) == before


def test_retiring_a_chunk_of_mappings_takes_a_few_statements_not_two_each(
    org_pair: tuple[Org, Org], django_assert_max_num_queries: Any
) -> None:
    source, target = org_pair
    runs = [
        Run.objects.create(
            template_snapshot={"name": "t", "objects": []},
            source_org=source,
            target_org=target,
            strategy="veid",
            status=Run.Status.SUCCEEDED,
        )
        for _ in range(2)
    ]
    original, undo = runs
    undo.rollback_of = original
    mappings = RecordMapping.objects.bulk_create(
        RecordMapping(
            source_org=source,
            target_org=target,
            sobject="Contact",
            source_id=f"003A{i:014d}",
            target_id=f"003B{i:014d}",
            created_by_run=original,
        )
        for i in range(200)
    )

    with django_assert_max_num_queries(3):
        mappings_retire_rolled_back(mappings=mappings, rollback=undo, actor=None)

    assert not RecordMapping.objects.exists()
    events = AuditEvent.objects.filter(action="mapping_retired", run=undo)
    assert events.count() == 200
    event = events.get(details__mapping_id=mappings[7].pk)
    assert event.details["reason"] == f"rollback {undo.pk} of run {original.pk}"
    assert event.details["before"]["target_id"] == "003B00000000000007"
    assert event.details["org_name"] == target.name
