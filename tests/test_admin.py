"""The admin renders for staff, turns anonymous users away and never shows secrets."""

from __future__ import annotations

from http import HTTPStatus
from typing import Any

import pytest
from django.contrib.auth.models import User
from django.test import Client
from django.urls import reverse

from migrations_app.models import Org, RecordIssue, RecordMapping, Run, Strategy
from migrations_app.salesforce.client import Identity
from migrations_app.services.orgs import OrgReport

pytestmark = pytest.mark.django_db

SECRET = "client-secret-that-must-never-show"


@pytest.fixture
def populated(org_pair: tuple[Org, Org]) -> dict[str, Any]:
    source, target = org_pair
    source.set_credentials(
        {"client_secret": SECRET, "refresh_token": SECRET + "-refresh"}
    )
    source.save()
    run = Run.objects.create(
        template_snapshot={"name": "Contacts", "objects": []},
        source_org=source,
        target_org=target,
        strategy=Strategy.VEID,
    )
    mapping = RecordMapping.objects.create(
        source_org=source,
        target_org=target,
        sobject="Contact",
        source_id="0030A0000000001AAA",
        target_id="0030B0000000001AAA",
        created_by_run=run,
    )
    issue = RecordIssue.objects.create(
        run=run,
        sobject="Contact",
        source_id="0030A0000000002AAA",
        error_code="REQUIRED_FIELD_MISSING",
        message="Required fields are missing: [LastName]",
    )
    return {"org": source, "run": run, "mapping": mapping, "issue": issue}


ADMIN_MODELS = [
    "org",
    "template",
    "run",
    "recordmapping",
    "recordissue",
    "writejournal",
    "auditevent",
]


@pytest.mark.parametrize("model", ADMIN_MODELS)
def test_changelist_renders_for_staff_without_secrets(
    client: Client, staff_user: User, populated: dict[str, Any], model: str
) -> None:
    client.force_login(staff_user)
    response = client.get(reverse(f"admin:migrations_app_{model}_changelist"))
    assert response.status_code == HTTPStatus.OK
    assert SECRET not in response.content.decode()


@pytest.mark.parametrize("name", ["org", "run", "mapping", "issue"])
def test_change_page_renders_without_secrets(
    client: Client, staff_user: User, populated: dict[str, Any], name: str
) -> None:
    client.force_login(staff_user)
    obj = populated[name]
    model = obj._meta.model_name
    response = client.get(
        reverse(f"admin:migrations_app_{model}_change", args=[obj.pk])
    )
    assert response.status_code == HTTPStatus.OK
    assert SECRET not in response.content.decode()


def test_secrets_are_not_searchable(
    client: Client, staff_user: User, populated: dict[str, Any]
) -> None:
    client.force_login(staff_user)
    url = reverse("admin:migrations_app_org_changelist")
    response = client.get(url, {"q": SECRET})
    assert "0 orgs" in response.content.decode()
    response = client.get(url, {"credentials_encrypted__contains": "a"})
    assert response.status_code == HTTPStatus.BAD_REQUEST or "?e=1" in response.get(
        "Location", ""
    )


@pytest.mark.parametrize("model", ADMIN_MODELS)
def test_anonymous_users_are_sent_to_login(client: Client, model: str) -> None:
    url = reverse(f"admin:migrations_app_{model}_changelist")
    response = client.get(url)
    assert response.status_code == HTTPStatus.FOUND
    assert response["Location"].startswith(reverse("admin:login"))


def test_runs_cannot_be_added_through_the_admin(
    client: Client, staff_user: User
) -> None:
    client.force_login(staff_user)
    response = client.get(reverse("admin:migrations_app_run_add"))
    assert response.status_code == HTTPStatus.FORBIDDEN


def test_mappings_are_read_only(
    client: Client, staff_user: User, populated: dict[str, Any]
) -> None:
    client.force_login(staff_user)
    mapping = populated["mapping"]
    url = reverse("admin:migrations_app_recordmapping_change", args=[mapping.pk])
    client.post(url, {"target_id": "0030B0000000009AAA"})
    mapping.refresh_from_db()
    assert mapping.target_id == "0030B0000000001AAA"


def passing_report(org: Org) -> OrgReport:
    return OrgReport(
        identity=Identity(
            organization_id="00D000000000001AAA", user_id="005", username="u@x"
        ),
        instance_url="https://instance.example.com",
        api_version=org.api_version,
        api_versions=["59.0"],
        is_sandbox=True,
        allowance=None,
    )


def test_saving_an_org_with_a_blank_secret_keeps_the_stored_one(
    client: Client,
    staff_user: User,
    populated: dict[str, Any],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # Saving tests the org; tests/integration/test_org_admin.py does it for real.
    monkeypatch.setattr(
        "migrations_app.services.orgs.org_inspect",
        lambda org: passing_report(org),
    )
    client.force_login(staff_user)
    org = populated["org"]
    url = reverse("admin:migrations_app_org_change", args=[org.pk])
    response = client.post(
        url,
        {
            "name": "source",
            "environment": "sandbox",
            "login_url": "https://login.example.com",
            "api_version": "59.0",
            "auth_method": "client_credentials",
            "client_id": "abc",
            "client_secret": "",
        },
    )
    assert response.status_code == HTTPStatus.FOUND
    assert Org.objects.get(pk=org.pk).credentials["client_secret"] == SECRET
