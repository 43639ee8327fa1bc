"""The audit log records who did what, with before and after, and history stays.

Runs, their counts, mappings, record issues, journal entries, audit events and mapping
audits cannot be changed or deleted through the admin (DESIGN invariant 11).
"""

from __future__ import annotations

import io
import json
from http import HTTPStatus
from typing import Any

import pytest
from django.contrib.auth.models import User
from django.core.management import call_command
from django.db.models import ProtectedError
from django.test import Client
from django.urls import reverse

from migrations_app.models import (
    AuditEvent,
    Org,
    RecordIssue,
    RecordMapping,
    Run,
    RunObjectStat,
    Strategy,
    Template,
    WriteJournal,
)
from migrations_app.salesforce.client import Identity
from migrations_app.services.events import REDACTED, event_record
from migrations_app.services.orgs import OrgReport

pytestmark = pytest.mark.django_db

SECRET = "s3cret-value-never-logged"


@pytest.fixture
def admin(client: Client, staff_user: User) -> Client:
    client.force_login(staff_user)
    return client


@pytest.fixture
def run(org_pair: tuple[Org, Org]) -> Run:
    source, target = org_pair
    run = Run.objects.create(
        template_snapshot={"name": "Contacts", "objects": []},
        source_org=source,
        target_org=target,
        strategy=Strategy.VEID,
        status=Run.Status.INTERRUPTED,
    )
    RunObjectStat.objects.create(run=run, sobject="Contact")
    RecordIssue.objects.create(run=run, sobject="Contact", message="failed")
    WriteJournal.objects.create(run=run, sobject="Contact", operation="insert")
    RecordMapping.objects.create(
        source_org=source,
        target_org=target,
        sobject="Contact",
        source_id="0030A0000000001AAA",
        target_id="0030B0000000001AAA",
        created_by_run=run,
    )
    AuditEvent.objects.create(action="run_launched", run=run)
    return run


HISTORY = [Run, RecordMapping, RecordIssue, WriteJournal, AuditEvent]


@pytest.mark.parametrize("model", HISTORY, ids=lambda m: m._meta.model_name)
def test_history_cannot_be_deleted_or_changed_in_the_admin(
    admin: Client, run: Run, model: type[Any]
) -> None:
    obj = model.objects.first()
    name = model._meta.model_name
    delete = reverse(f"admin:migrations_app_{name}_delete", args=[obj.pk])
    change = reverse(f"admin:migrations_app_{name}_change", args=[obj.pk])
    changelist = reverse(f"admin:migrations_app_{name}_changelist")

    assert admin.post(delete, {"post": "yes"}).status_code == HTTPStatus.FORBIDDEN
    admin.post(
        changelist,
        {"action": "delete_selected", "_selected_action": [obj.pk], "post": "yes"},
    )
    page = admin.get(change).content.decode()

    assert model.objects.filter(pk=obj.pk).exists()
    assert 'name="_save"' not in page
    assert "delete_selected" not in admin.get(changelist).content.decode()


def test_a_journal_entry_outlives_any_attempt_to_delete_its_run(run: Run) -> None:
    with pytest.raises(ProtectedError):
        run.delete()
    assert WriteJournal.objects.filter(run=run).exists()


def test_event_record_keeps_only_changes_and_never_secrets(staff_user: User) -> None:
    event = event_record(
        actor=staff_user,
        action="org_changed",
        details={"nested": {"client_secret": SECRET, "ok": "\x00kept"}},
        before={"login_url": "https://a", "private_key": SECRET, "same": 1},
        after={"login_url": "https://b", "private_key": SECRET + "2", "same": 1},
    )

    assert event.details["before"] == {
        "login_url": "https://a",
        "private_key": REDACTED,
    }
    assert event.details["after"]["login_url"] == "https://b"
    assert event.details["nested"] == {"client_secret": REDACTED, "ok": "kept"}
    assert event.details["actor"] == staff_user.username
    assert SECRET not in json.dumps(event.details)


def report(org: Org) -> OrgReport:
    return OrgReport(
        identity=Identity(
            organization_id="00D000000000009AAA", user_id="005", username="u@x"
        ),
        instance_url="https://instance.example.com",
        api_version=org.api_version,
        api_versions=[org.api_version],
        is_sandbox=False,
        allowance=None,
    )


def test_an_org_change_in_the_admin_is_recorded_with_before_and_after(
    admin: Client, org_pair: tuple[Org, Org], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr("migrations_app.services.orgs.org_inspect", report)
    org = org_pair[0]
    admin.post(
        reverse("admin:migrations_app_org_change", args=[org.pk]),
        {
            "name": "source",
            "environment": "production",
            "login_url": "https://login.example.com",
            "api_version": "60.0",
            "auth_method": "client_credentials",
            "client_id": "abc",
            "client_secret": SECRET,
        },
    )

    event = AuditEvent.objects.get(action="org_changed")
    assert event.actor is not None
    assert event.org == org
    assert event.details["before"]["api_version"] == "59.0"
    assert event.details["after"]["api_version"] == "60.0"
    assert event.details["after"]["environment"] == "production"
    assert SECRET not in json.dumps(event.details)


def test_deleting_an_org_is_recorded_by_name(
    admin: Client, org_pair: tuple[Org, Org]
) -> None:
    org = org_pair[0]
    admin.post(
        reverse("admin:migrations_app_org_delete", args=[org.pk]), {"post": "yes"}
    )

    assert not Org.objects.filter(pk=org.pk).exists()
    event = AuditEvent.objects.get(action="org_deleted")
    assert event.details["org_name"] == "source"
    assert event.details["before"]["login_url"] == "https://login.example.com"


def template_form(name: str, fields: str) -> dict[str, str]:
    return {
        "name": name,
        "description": "",
        "template_objects-TOTAL_FORMS": "1",
        "template_objects-INITIAL_FORMS": "0",
        "template_objects-MIN_NUM_FORMS": "0",
        "template_objects-MAX_NUM_FORMS": "1000",
        "template_objects-0-position": "0",
        "template_objects-0-sobject": "Contact",
        "template_objects-0-fields": fields,
        "template_objects-0-filter": "",
        "template_objects-0-match_key": "[]",
        "template_objects-0-missing_parent_policy": "leave_empty",
        "template_objects-0-options": "{}",
    }


def test_template_created_changed_and_deleted_are_recorded(admin: Client) -> None:
    admin.post(
        reverse("admin:migrations_app_template_add"),
        template_form("Contacts", '["LastName"]'),
    )
    template = Template.objects.get(name="Contacts")
    item = template.template_objects.get()
    edit = template_form("Contacts", '["LastName", "Email"]')
    edit.update(
        {
            "template_objects-INITIAL_FORMS": "1",
            "template_objects-0-id": str(item.pk),
            "template_objects-0-template": str(template.pk),
        }
    )
    admin.post(
        reverse("admin:migrations_app_template_change", args=[template.pk]), edit
    )
    admin.post(
        reverse("admin:migrations_app_template_delete", args=[template.pk]),
        {"post": "yes"},
    )

    created, changed, deleted = (
        AuditEvent.objects.get(action=action)
        for action in ("template_created", "template_changed", "template_deleted")
    )
    assert created.details["after"]["name"] == "Contacts"
    assert changed.details["before"]["objects"][0]["fields"] == ["LastName"]
    assert changed.details["after"]["objects"][0]["fields"] == ["LastName", "Email"]
    assert deleted.details["template"] == "Contacts"


def test_template_imports_are_recorded(admin: Client) -> None:
    document = {
        "name": "Imported",
        "objects": [{"sobject": "Account", "fields": ["Name"]}],
    }
    upload = io.BytesIO(json.dumps(document).encode())
    upload.name = "t.json"
    admin.post(reverse("admin:migrations_app_template_import"), {"file": upload})
    call_command(
        "template_import", "-", "--replace", stdin=io.StringIO(json.dumps(document))
    )

    events = AuditEvent.objects.filter(action="template_imported").order_by("pk")
    assert [event.actor is not None for event in events] == [True, False]
    assert events[0].details["after"]["name"] == "Imported"


def test_login_failures_are_recorded_without_the_password(client: Client) -> None:
    User.objects.create_user("ann", password="right-password", is_staff=True)
    client.post(
        reverse("admin:login"), {"username": "ann", "password": "wrong-password"}
    )

    event = AuditEvent.objects.get(action="login_failed")
    assert event.details["username"] == "ann"
    assert "wrong-password" not in json.dumps(event.details)


def test_viewers_cannot_read_the_audit_log(client: Client) -> None:
    from django.contrib.auth.models import Group

    viewer = User.objects.create_user("v", is_staff=True)
    viewer.groups.add(Group.objects.get(name="viewers"))
    client.force_login(viewer)
    url = reverse("admin:migrations_app_auditevent_changelist")
    assert client.get(url).status_code == HTTPStatus.FORBIDDEN
