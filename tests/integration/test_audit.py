"""The mapping audit against the emulator: outdated, drifted and duplicated records."""

from __future__ import annotations

import json
import time
import uuid
from collections.abc import Iterator
from datetime import datetime, timedelta
from http import HTTPStatus
from io import StringIO
from typing import Any

import django_rq
import pytest
from django.contrib.auth.models import Permission, User
from django.core.management import CommandError, call_command
from django.test import Client
from django.urls import reverse
from django.utils import timezone
from rq import SimpleWorker
from simple_salesforce import Salesforce

from migrations_app.models import MappingAudit, RecordIssue, RecordMapping, Run
from migrations_app.services.audit import (
    audit_create,
    audit_execute,
    audit_launch,
    audit_result,
)
from migrations_app.services.duplicates import preflight_duplicates
from migrations_app.services.templates import template_snapshot
from salesforce_emulator import Emulator
from tests.integration.conftest import OrgPair, make_template, register
from tests.integration.test_migration import (
    CONTACT,
    add_charlie_and_alice,
    seed_contacts,
)

pytestmark = [pytest.mark.django_db, pytest.mark.integration]

NO_OUTDATED = {
    "target_deleted": 0,
    "target_in_recycle_bin": 0,
    "source_deleted": 0,
    "source_in_recycle_bin": 0,
    "target_org_changed": 0,
    "source_org_changed": 0,
}


@pytest.fixture(autouse=True)
def _real_time(emulator: Emulator) -> Iterator[None]:
    """Tests move the emulator's clock forward; later tests start at real time."""
    yield
    emulator.set_clock_offset(0)


def audit(pair: OrgPair, **options: Any) -> MappingAudit:
    created = audit_create(source_org=pair.source, target_org=pair.target, **options)
    return audit_execute(audit_id=created.pk)


def contacts(pair: OrgPair, count: int) -> tuple[Any, list[str]]:
    template = make_template(f"Contacts {uuid.uuid4().hex[:6]}", CONTACT)
    ids = seed_contacts(pair, count)
    pair.migrate(template, "veid")
    return template, ids


def target_of(source_id: str) -> str:
    return RecordMapping.objects.get(source_id=source_id).target_id


def later(pair: OrgPair, minutes: int = 2) -> None:
    """Let time pass at Salesforce: Get Deleted covers whole minutes up to its now."""
    pair.emulator.advance_clock(minutes * 60)


def test_first_audit_tells_recycle_bin_from_gone_for_good(orgs: OrgPair) -> None:
    _, ids = contacts(orgs, 4)
    orgs.target_org.delete("Contact", target_of(ids[0]))
    orgs.target_org.delete("Contact", target_of(ids[1]))
    orgs.target_org.empty_recycle_bin([target_of(ids[1])])
    orgs.source_org.delete("Contact", ids[2])

    done = audit(orgs)

    assert done.status == MappingAudit.Status.SUCCEEDED
    assert done.methods["Contact"]["target"]["method"] == "mapped_ids"
    counts = done.results["objects"]["Contact"]
    assert counts["checked"] == 4
    assert counts["active"] == 1
    assert counts["outdated"] == {
        **NO_OUTDATED,
        "target_in_recycle_bin": 1,
        "target_deleted": 1,
        "source_in_recycle_bin": 1,
    }
    binned = RecordMapping.objects.get(source_id=ids[0])
    assert binned.outdated_reason_code == "target_in_recycle_bin"
    assert binned.outdated_at is not None
    alive = RecordMapping.objects.get(source_id=ids[3])
    assert alive.status == "active"
    assert alive.last_verified_at == done.started_at


def test_next_audit_uses_get_deleted_and_sees_a_record_restored(
    orgs: OrgPair,
) -> None:
    _, ids = contacts(orgs, 3)
    audit(orgs)
    orgs.target_org.delete("Contact", target_of(ids[0]))
    orgs.source_org.delete("Contact", ids[1])
    later(orgs)

    second = audit(orgs)

    assert second.methods["Contact"]["target"]["method"] == "replication"
    assert second.methods["Contact"]["source"]["method"] == "replication"
    assert second.results["objects"]["Contact"]["outdated"] == {
        **NO_OUTDATED,
        "target_in_recycle_bin": 1,
        "source_in_recycle_bin": 1,
    }
    orgs.target_org.undelete([target_of(ids[0])])
    orgs.source_org.empty_recycle_bin([ids[1]])
    later(orgs)

    third = audit(orgs)

    assert third.methods["Contact"]["target"]["method"] == "replication"
    assert third.results["objects"]["Contact"]["outdated"] == {
        **NO_OUTDATED,
        "source_deleted": 1,
    }
    assert RecordMapping.objects.get(source_id=ids[0]).status == "active"


def test_coverage_is_kept_by_the_org_s_clock_when_this_server_s_runs_ahead(
    orgs: OrgPair, monkeypatch: pytest.MonkeyPatch
) -> None:
    _, ids = contacts(orgs, 2)
    real_now = timezone.now
    monkeypatch.setattr(timezone, "now", lambda: real_now() + timedelta(hours=1))
    first = audit(orgs)
    covered = datetime.fromisoformat(
        first.methods["Contact"]["target"]["covered_through"]
    )
    assert covered <= orgs.emulator.now() < timezone.now()
    # Deleted after the first audit, within the hour this server's clock is ahead.
    orgs.target_org.delete("Contact", target_of(ids[0]))
    later(orgs, minutes=90)

    second = audit(orgs)

    assert second.methods["Contact"]["target"]["method"] == "replication"
    assert second.results["objects"]["Contact"]["outdated"] == {
        **NO_OUTDATED,
        "target_in_recycle_bin": 1,
    }


def test_past_the_delete_log_the_audit_checks_mapped_ids(orgs: OrgPair) -> None:
    _, ids = contacts(orgs, 2)
    audit(orgs)
    orgs.target_org.delete("Contact", target_of(ids[0]))
    orgs.emulator.advance_clock(16 * 24 * 3600)

    second = audit(orgs)

    assert second.methods["Contact"]["target"]["method"] == "mapped_ids"
    # Sixteen days later the recycle bin has been emptied: gone for good.
    assert second.results["objects"]["Contact"]["outdated"]["target_deleted"] == 1


@pytest.mark.parametrize("bulk", [False, True], ids=["rest", "bulk"])
def test_next_run_reports_a_deleted_target_instead_of_unchanged(
    orgs: OrgPair, settings: Any, bulk: bool
) -> None:
    if bulk:
        settings.BULK_QUERY_THRESHOLD = settings.BULK_WRITE_THRESHOLD = 1
    template, ids = contacts(orgs, 3)
    orgs.target_org.delete("Contact", target_of(ids[0]))
    later(orgs)

    result = orgs.migrate(template, "veid")

    assert result["status"] == Run.Status.COMPLETED_WITH_ERRORS
    assert (result["totals"]["failed"], result["totals"]["unchanged"]) == (1, 2)
    issue = RecordIssue.objects.get(run=result["run_id"])
    assert (issue.error_code, issue.source_id) == ("TARGET_DELETED", ids[0])
    mapping = RecordMapping.objects.get(source_id=ids[0])
    assert mapping.outdated_reason_code == "target_in_recycle_bin"
    assert orgs.target_org.count("Contact") == 2


def test_refreshed_sandbox_outdates_its_mappings_and_no_run_writes_through_them(
    orgs: OrgPair,
) -> None:
    name = f"sandbox-{uuid.uuid4().hex[:6]}"
    orgs.emulator.create_sandbox(name, "target")
    sandbox = register(orgs.emulator, name)
    pair = OrgPair(orgs.emulator, orgs.source, sandbox)
    template = make_template("Contacts", CONTACT)
    ids = seed_contacts(orgs, 2)
    pair.migrate(template, "veid")
    orgs.emulator.refresh_sandbox(name)
    orgs.source_org.update("Contact", ids[0], {"LastName": "Changed"})

    done = audit(pair)

    counts = done.results["objects"]["Contact"]
    assert counts["outdated"] == {**NO_OUTDATED, "target_org_changed": 2}
    result = pair.migrate(template, "veid")
    assert result["totals"]["failed"] == 2
    assert result["totals"]["updated"] == result["totals"]["inserted"] == 0
    assert {i.error_code for i in RecordIssue.objects.filter(run=result["run_id"])} == {
        "MAPPING_OUTDATED"
    }


def other_user_client(pair: OrgPair) -> Salesforce:
    org = pair.target_org
    user = org.query(
        f"SELECT Id FROM User WHERE Id != '{org.integration_user_id}' LIMIT 1"
    )[0]
    return Salesforce(
        instance_url=pair.emulator.base_url,
        session_id=org.issue_token(user["Id"]),
        session=pair.emulator.session(),
    )


def test_a_record_edited_in_the_target_by_someone_else_is_drifted(
    orgs: OrgPair,
) -> None:
    template, ids = contacts(orgs, 3)
    audit(orgs)
    other_user: Any = other_user_client(orgs)
    other_user.Contact.update(target_of(ids[0]), {"LastName": "Edited"})
    later(orgs)

    second = audit(orgs)

    counts = second.results["objects"]["Contact"]
    assert (counts["drifted"], counts["active"]) == (1, 3)
    drifted = RecordMapping.objects.get(source_id=ids[0])
    assert drifted.drift_found_at is not None
    assert drifted.drift_modified_by != ""
    # The next run that writes the record takes it back: no longer drifted.
    orgs.source_org.update("Contact", ids[0], {"LastName": "From source"})
    orgs.migrate(template, "veid")
    later(orgs)
    assert audit(orgs).results["objects"]["Contact"]["drifted"] == 0


def test_documented_scenario_gives_two_duplicates_created_by_migration(
    orgs: OrgPair,
) -> None:
    template, _ = contacts(orgs, 3)
    add_charlie_and_alice(orgs)
    second = orgs.migrate(template, "veid")
    for _ in range(2):
        orgs.target_org.insert("Contact", {"LastName": "Twin", "Email": "t@x.com"})

    done = audit(orgs, template=template)

    counts = done.results["objects"]["Contact"]["duplicates"]
    assert counts == {"created_by_migration": 2, "preexisting": 1}
    made = [
        g
        for g in done.duplicate_groups["Contact"]
        if g["kind"] == "created_by_migration"
    ]
    assert sorted(g["key"][0] for g in made) == [
        "alice@example.com",
        "charlie@example.com",
    ]
    for group in made:
        runs = [r["created_by_run"] for r in group["records"] if r["mapped"]]
        assert runs == [second["run_id"]]
        assert len(group["records"]) == 2


def test_preflight_predicts_the_duplicates_a_veid_run_creates(
    orgs: OrgPair,
) -> None:
    template, _ = contacts(orgs, 3)
    add_charlie_and_alice(orgs)
    orgs.source_org.insert("Contact", {"LastName": "New", "Email": "new@x.com"})

    orgs.source_org.reset_api_calls()
    orgs.target_org.reset_api_calls()
    predicted = preflight_duplicates(
        template_snapshot=dict(template_snapshot(template=template)),
        source_org=orgs.source,
        target_org=orgs.target,
    )
    # One page of source records, one query for its keys in the target.
    assert (orgs.source_org.api_calls, orgs.target_org.api_calls) == (1, 1)
    before = orgs.target_org.count("Contact")
    orgs.migrate(template, "veid")

    assert predicted == {"Contact": 2}
    emails = [c["Email"] for c in orgs.target_org.records("Contact")]
    duplicated = {e for e in emails if emails.count(e) > 1}
    assert len(duplicated) == predicted["Contact"]
    assert orgs.target_org.count("Contact") == before + 3


def seed_mapped(pair: OrgPair, target_name: str, count: int) -> None:
    """``count`` mapped records, written straight into both orgs and the table."""
    target = pair.emulator.org(target_name)
    source_ids = pair.source_org.insert_many(
        "Contact", [{"LastName": f"S{i}"} for i in range(count)]
    )
    target_ids = target.insert_many(
        "Contact", [{"LastName": f"S{i}"} for i in range(count)]
    )
    org = register(pair.emulator, target_name)
    RecordMapping.objects.bulk_create(
        RecordMapping(
            source_org=pair.source,
            target_org=org,
            sobject="Contact",
            source_id=source_id,
            target_id=target_id,
            target_organization_id=target.organization_id,
        )
        for source_id, target_id in zip(source_ids, target_ids, strict=True)
    )


def audit_calls(pair: OrgPair, target_name: str) -> tuple[int, int]:
    target = register(pair.emulator, target_name)
    pair.source_org.reset_api_calls()
    pair.emulator.org(target_name).reset_api_calls()
    done = audit(OrgPair(pair.emulator, pair.source, target))
    assert done.status == MappingAudit.Status.SUCCEEDED, done.error
    return done.source_api_calls, done.target_api_calls


def early_in_a_minute(seconds_needed: float = 20) -> None:
    """Wait for the next minute unless ``seconds_needed`` are left in this one.

    Get Updated covers whole minutes, so a record written in the minute an audit
    started is looked at again by the next audit. Two orgs compared call for call
    must then be written and audited within the same minute (whole minutes apart
    on the emulator's clock, which tests move by whole minutes).
    """
    left = 60 - time.time() % 60
    if left < seconds_needed:
        time.sleep(left + 0.1)


def test_audit_calls_follow_the_mappings_not_the_size_of_the_org(
    orgs: OrgPair,
) -> None:
    small = f"small-{uuid.uuid4().hex[:6]}"
    orgs.emulator.add_org(small)
    early_in_a_minute()
    seed_mapped(orgs, "target", 1000)
    seed_mapped(orgs, small, 1000)
    orgs.target_org.insert_many(
        "Contact", [{"LastName": f"Unmapped {i}"} for i in range(6000)]
    )

    first = audit_calls(orgs, "target"), audit_calls(orgs, small)
    # The big org gets busier; both lose two mapped records.
    orgs.target_org.insert_many(
        "Contact", [{"LastName": f"Later {i}"} for i in range(3000)]
    )
    for name in ("target", small):
        delete_mapped(orgs, name, 2)
    later(orgs)
    second = audit_calls(orgs, "target"), audit_calls(orgs, small)

    # The first audit checks the 1,000 mapped ids in at most 2 calls per org.
    assert first[0] == first[1]
    assert first[0] <= (2, 2)
    # The next ones ask Get Deleted (source, target) and Get Updated (target) and
    # read only the mapped records they name: here the 2 deleted ones, and the 1,000
    # written in the minute before the first audit (a window starts on a whole
    # minute, so that minute is looked at again).
    assert second[0] == second[1]
    source_calls, target_calls = second[0]
    assert source_calls == 1
    assert target_calls <= 1 + 1 + 1 + 2
    for name in ("target", small):
        org = register(orgs.emulator, name)
        assert (
            RecordMapping.objects.filter(target_org=org, status="outdated").count() == 2
        )


def delete_mapped(pair: OrgPair, target_name: str, count: int) -> None:
    org = register(pair.emulator, target_name)
    for mapping in RecordMapping.objects.filter(target_org=org)[:count]:
        pair.emulator.org(target_name).delete("Contact", mapping.target_id)


def test_audit_mappings_command_prints_the_json_shape(orgs: OrgPair) -> None:
    _template, ids = contacts(orgs, 2)
    orgs.target_org.delete("Contact", target_of(ids[0]))
    out = _call("--source", "source", "--target", "target", "--json")

    data = json.loads(out)
    assert data["objects"]["Contact"] == {
        "checked": 2,
        "active": 1,
        "outdated": {**NO_OUTDATED, "target_in_recycle_bin": 1},
        "drifted": 0,
        "duplicates": {"created_by_migration": 0, "preexisting": 0},
    }
    assert set(data["api_calls"]) == {"source", "target"}
    assert data["api_calls"]["target"] > 0
    assert data == audit_result(audit=MappingAudit.objects.get())


@pytest.mark.parametrize(
    ("arguments", "message"),
    [
        (["--source", "nope", "--target", "target"], "No org named 'nope'"),
        (
            ["--source", "source", "--target", "target", "--template", "x"],
            "No template named 'x'",
        ),
        (["--source", "source", "--target", "source"], "must be different orgs"),
    ],
)
def test_audit_mappings_command_refuses_bad_arguments_in_one_line(
    orgs: OrgPair, arguments: list[str], message: str
) -> None:
    with pytest.raises(CommandError, match=message):
        _call(*arguments)


def _call(*arguments: str) -> str:
    out = StringIO()
    call_command("audit_mappings", *arguments, stdout=out)
    return out.getvalue()


def test_dry_run_prints_the_preflight_prediction(orgs: OrgPair) -> None:
    template, _ = contacts(orgs, 2)
    add_charlie_and_alice(orgs)
    out = StringIO()

    call_command(
        "run_migration",
        "--template",
        template.name,
        "--source",
        "source",
        "--target",
        "target",
        "--dry-run",
        stdout=out,
    )

    assert (
        "Pre-flight: Contact: 2 unmapped record(s) already have a match-key twin"
        in out.getvalue()
    )
    assert "use --strategy veid_match" in out.getvalue()


def viewer(*codenames: str) -> Client:
    user = User.objects.create_user(f"viewer-{uuid.uuid4().hex[:6]}")
    user.user_permissions.set(
        Permission.objects.filter(
            content_type__app_label="migrations_app", codename__in=codenames
        )
    )
    client = Client()
    client.force_login(user)
    return client


def test_launch_form_preflight_fragment(orgs: OrgPair) -> None:
    template, _ = contacts(orgs, 2)
    add_charlie_and_alice(orgs)

    response = viewer("view_recordmapping").get(
        reverse("migrations_app:mapping-preflight"),
        {
            "template": template.pk,
            "source_org": orgs.source.pk,
            "target_org": orgs.target.pk,
        },
    )

    html = response.content.decode()
    assert response.status_code == HTTPStatus.OK
    assert "Contact: 2 unmapped records already have a match-key twin" in html
    assert "veid_match" in html


def test_audit_page_shows_each_duplicate_group_side_by_side(orgs: OrgPair) -> None:
    template, _ = contacts(orgs, 2)
    add_charlie_and_alice(orgs)
    second = orgs.migrate(template, "veid")
    done = audit(orgs, template=template)

    html = (
        viewer("view_recordmapping")
        .get(reverse("migrations_app:audit-detail", kwargs={"audit_id": done.pk}))
        .content.decode()
    )

    assert html.count('data-kind="created_by_migration"') == 2
    assert f"run {second['run_id']}</a>" in html
    assert f"{orgs.target.instance_url}/" in html


@pytest.mark.django_db(transaction=True)
def test_a_launched_audit_is_run_by_a_worker_once(orgs: OrgPair) -> None:
    _template, ids = contacts(orgs, 2)
    orgs.target_org.delete("Contact", target_of(ids[0]))
    queue = django_rq.get_queue("default")
    queue.empty()

    launched = audit_launch(source_org=orgs.source, target_org=orgs.target)
    joined = audit_launch(source_org=orgs.source, target_org=orgs.target)
    assert queue.count == 1
    SimpleWorker([queue], connection=queue.connection).work(burst=True)

    assert joined.pk == launched.pk
    launched.refresh_from_db()
    assert launched.status == MappingAudit.Status.SUCCEEDED
    assert launched.progress == 100
    assert (
        launched.results["objects"]["Contact"]["outdated"]["target_in_recycle_bin"] == 1
    )
    assert audit_execute(audit_id=launched.pk).finished_at == launched.finished_at


def test_audit_mappings_command_prints_a_line_per_object(orgs: OrgPair) -> None:
    _template, ids = contacts(orgs, 2)
    orgs.target_org.delete("Contact", target_of(ids[0]))

    out = _call("--source", "source", "--target", "target", "--object", "Contact")

    assert "Contact: 2 checked, 1 active, 0 drifted" in out
    assert "target record in the recycle bin: 1" in out
    assert MappingAudit.objects.get().sobject == "Contact"
