"""Issue 14's dashboard views with the test client: access, input errors."""

from __future__ import annotations

from http import HTTPStatus
from typing import Any

import pytest
from django.contrib.auth.models import Group, Permission, User
from django.test import Client
from django.urls import reverse

from migrations_app.models import Org, Run, Schedule, Strategy, Template

pytestmark = pytest.mark.django_db


@pytest.fixture
def operator() -> User:
    user = User.objects.create_user("operator", password="password", is_staff=True)
    user.groups.add(Group.objects.get(name="operators"))
    return user


@pytest.fixture
def client_for(operator: User) -> Client:
    client = Client()
    client.force_login(operator)
    return client


def finished_run(source: Org, target: Org) -> Run:
    return Run.objects.create(
        template=Template.objects.create(name="Contacts"),
        template_snapshot={"name": "Contacts", "objects": []},
        source_org=source,
        target_org=target,
        strategy=Strategy.VEID,
        status=Run.Status.SUCCEEDED,
    )


def test_rollback_needs_the_right_to_launch_into_the_target(
    client_for: Client, org_pair: tuple[Org, Org]
) -> None:
    source, target = org_pair
    run = finished_run(source, target)
    target.target_users.add(User.objects.create_user("someone else"))

    response = client_for.post(reverse("migrations_app:run-rollback", args=[run.pk]))

    assert response.status_code == HTTPStatus.FORBIDDEN
    assert not Run.objects.filter(rollback_of=run).exists()


def test_a_rollback_is_queued_as_a_run_of_its_own(
    client_for: Client,
    org_pair: tuple[Org, Org],
    django_capture_on_commit_callbacks: Any,
) -> None:
    source, target = org_pair
    run = finished_run(source, target)

    with django_capture_on_commit_callbacks() as callbacks:
        response = client_for.post(
            reverse("migrations_app:run-rollback", args=[run.pk]), {"dry_run": "1"}
        )

    rollback = Run.objects.get(rollback_of=run)
    assert response["Location"] == reverse(
        "migrations_app:run-detail", args=[rollback.pk]
    )
    assert (rollback.dry_run, rollback.status, rollback.template_id) == (
        True,
        Run.Status.QUEUED,
        run.template_id,
    )
    assert len(callbacks) == 1  # the enqueue, after the commit
    again = client_for.post(reverse("migrations_app:run-rollback", args=[rollback.pk]))
    assert again.status_code == HTTPStatus.FOUND
    assert Run.objects.filter(rollback_of=rollback).count() == 0


def test_the_schedule_form_refuses_bad_input(
    client_for: Client, org_pair: tuple[Org, Org]
) -> None:
    source, target = org_pair
    Org.objects.filter(pk=target.pk).update(environment=Org.Environment.PRODUCTION)
    template = Template.objects.create(name="Contacts")
    data = {
        "name": "Too often",
        "kind": "run",
        "template": template.pk,
        "source_org": source.pk,
        "target_org": target.pk,
        "strategy": "veid",
        "interval_seconds": 5,
        "enabled": "on",
    }

    response = client_for.post(reverse("migrations_app:schedule-new"), data)

    assert response.status_code == HTTPStatus.OK
    errors = response.context["form"].errors
    assert "At least 60 seconds" in str(errors["interval_seconds"])
    data["interval_seconds"] = 3600
    response = client_for.post(reverse("migrations_app:schedule-new"), data)
    assert "production org: type its name" in str(response.context["form"].errors)
    assert not Schedule.objects.exists()


@pytest.mark.parametrize(
    ("timing", "field", "message"),
    [
        ({"cron": "0 0 30 2 *"}, "cron", "never comes round"),  # February 30th
        ({"interval_seconds": 10**12}, "interval_seconds", "At most"),
    ],
)
def test_a_schedule_that_could_never_launch_is_a_form_error(
    client_for: Client,
    admin_client: Client,
    org_pair: tuple[Org, Org],
    timing: dict[str, object],
    field: str,
    message: str,
) -> None:
    source, target = org_pair
    data = {
        "name": "Never",
        "kind": "audit",
        "source_org": source.pk,
        "target_org": target.pk,
        "enabled": "on",
        "options": "{}",
        "launches-TOTAL_FORMS": "0",
        "launches-INITIAL_FORMS": "0",
        **timing,
    }

    page = client_for.post(reverse("migrations_app:schedule-new"), data)
    admin_page = admin_client.post(reverse("admin:migrations_app_schedule_add"), data)

    assert page.status_code == admin_page.status_code == HTTPStatus.OK
    assert message in str(page.context["form"].errors[field])
    assert message in admin_page.content.decode()
    assert not Schedule.objects.exists()


def test_the_admin_refuses_schedule_options_that_are_not_an_object(
    admin_client: Client, org_pair: tuple[Org, Org]
) -> None:
    source, target = org_pair
    data = {
        "name": "Odd options",
        "kind": "audit",
        "source_org": source.pk,
        "target_org": target.pk,
        "cron": "0 2 * * 1",
        "enabled": "on",
        "launches-TOTAL_FORMS": "0",
        "launches-INITIAL_FORMS": "0",
    }
    url = reverse("admin:migrations_app_schedule_add")

    for options in ("[1]", "[" * 5000 + "]" * 5000):
        refused = admin_client.post(url, {**data, "options": options})
        assert refused.status_code == HTTPStatus.OK
    assert not Schedule.objects.exists()


def test_the_admin_saves_a_schedule_through_the_service(
    admin_client: Client, org_pair: tuple[Org, Org]
) -> None:
    source, target = org_pair
    template = Template.objects.create(name="Contacts")
    data = {
        "name": "Nightly",
        "kind": "run",
        "template": template.pk,
        "source_org": source.pk,
        "target_org": target.pk,
        "strategy": "veid",
        "options": "{}",
        "cron": "0 2 * * 8",
        "enabled": "on",
        "launches-TOTAL_FORMS": "0",
        "launches-INITIAL_FORMS": "0",
    }
    url = reverse("admin:migrations_app_schedule_add")

    refused = admin_client.post(url, data)

    assert "not a valid cron expression" in refused.content.decode()
    data["cron"] = "0 2 * * 1"
    assert admin_client.post(url, data).status_code == HTTPStatus.FOUND
    schedule = Schedule.objects.get()
    assert schedule.next_launch_at is not None
    assert (schedule.next_launch_at.weekday(), schedule.next_launch_at.hour) == (0, 2)


def test_an_audit_schedule_asks_for_the_audit_right_and_the_target(
    org_pair: tuple[Org, Org],
) -> None:
    source, target = org_pair
    launcher = User.objects.create_user("launcher")
    launcher.groups.add(Group.objects.get(name="viewers"))
    launcher.user_permissions.add(
        Permission.objects.get(codename="launch_run"),
    )
    target.target_users.add(User.objects.create_user("someone else"))
    data = {
        "name": "Nightly audit",
        "kind": "audit",
        "source_org": source.pk,
        "target_org": target.pk,
        "cron": "0 2 * * *",
        "enabled": "on",
    }
    client = Client()
    client.force_login(launcher)

    response = client.post(reverse("migrations_app:schedule-new"), data)

    assert response.status_code == HTTPStatus.OK
    errors = response.context["form"].errors
    assert "may not run mapping audits" in str(errors["kind"])
    assert "may not launch runs that write into" in str(errors["target_org"])
    assert not Schedule.objects.exists()
