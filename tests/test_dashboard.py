"""Dashboard pages through Django's test client: launch form rules, run page, CSV
files, cancel and resume, filters that never answer 500."""

from __future__ import annotations

import csv
import io

import pytest
from django.contrib.auth.models import Permission, User
from django.test import Client
from django.urls import reverse

from migrations_app.models import (
    AuditEvent,
    IssueKind,
    Org,
    RecordIssue,
    RecordResult,
    Run,
    Template,
)
from migrations_app.services.runs import run_claim, run_create
from migrations_app.services.templates import template_import

pytestmark = pytest.mark.django_db


@pytest.fixture
def connected_pair(org_pair: tuple[Org, Org]) -> tuple[Org, Org]:
    source, target = org_pair
    Org.objects.filter(pk=source.pk).update(organization_id="00D000000000001AAA")
    Org.objects.filter(pk=target.pk).update(organization_id="00D000000000002AAA")
    source.refresh_from_db()
    target.refresh_from_db()
    return source, target


@pytest.fixture
def template() -> Template:
    return template_import(
        data={
            "name": "Contacts",
            "objects": [{"sobject": "Contact", "fields": ["LastName"]}],
        }
    )


@pytest.fixture
def admin_client(staff_user: User) -> Client:
    client = Client()
    client.force_login(staff_user)
    return client


def _queued_run(pair: tuple[Org, Org], template: Template) -> Run:
    source, target = pair
    return run_create(
        template=template, source_org=source, target_org=target, strategy="veid"
    )


def _launch_data(
    template: Template, source: Org, target: Org, **extra: str
) -> dict[str, str]:
    return {
        "template": str(template.pk),
        "source_org": str(source.pk),
        "target_org": str(target.pk),
        "strategy": "veid",
        "launch": "1",
        **extra,
    }


def test_pages_need_a_login(client: Client) -> None:
    for name in (
        "migrations_app:home",
        "migrations_app:run-list",
        "migrations_app:run-new",
    ):
        response = client.get(reverse(name))
        assert response.status_code == 302
        assert "/login/" in response["Location"]


def test_home_lists_orgs_and_runs(
    admin_client: Client, connected_pair: tuple[Org, Org], template: Template
) -> None:
    source, target = connected_pair
    run_create(template=template, source_org=source, target_org=target, strategy="veid")

    page = admin_client.get(reverse("migrations_app:home")).content.decode()

    assert "00D000000000001AAA" in page
    assert "New run" in page
    assert "Queued" in page


def test_launch_saves_the_run_and_enqueues_it_after_commit(
    admin_client: Client,
    connected_pair: tuple[Org, Org],
    template: Template,
    django_capture_on_commit_callbacks: pytest.FixtureRequest,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    source, target = connected_pair
    enqueued: list[int] = []
    monkeypatch.setattr(
        "migrations_app.jobs.enqueue_run", lambda *, run_id: enqueued.append(run_id)
    )

    with django_capture_on_commit_callbacks(execute=False) as callbacks:  # type: ignore[operator]
        response = admin_client.post(
            reverse("migrations_app:run-new"), _launch_data(template, source, target)
        )
        assert enqueued == []  # nothing reaches Redis before the commit

    run = Run.objects.get()
    assert response.status_code == 302
    assert response["Location"] == reverse("migrations_app:run-detail", args=[run.pk])
    for callback in callbacks:
        callback()
    assert enqueued == [run.pk]
    assert (run.strategy, run.dry_run, run.status) == ("veid", False, "queued")
    event = AuditEvent.objects.get(action="run_launched")
    assert (event.run_id, event.actor.get_username()) == (run.pk, "admin")  # type: ignore[union-attr]


def test_the_dry_run_button_launches_a_dry_run(
    admin_client: Client,
    connected_pair: tuple[Org, Org],
    template: Template,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    source, target = connected_pair
    monkeypatch.setattr("migrations_app.jobs.enqueue_run", lambda *, run_id: None)
    data = _launch_data(template, source, target)
    del data["launch"]
    data["dry_run"] = "1"

    admin_client.post(reverse("migrations_app:run-new"), data)

    assert Run.objects.get().dry_run is True


@pytest.mark.parametrize(
    ("change", "field", "message"),
    [
        ("same_org", "target_org", "other than the source"),
        ("never_connected", "source_org", "has never connected"),
        ("no_objects", "template", "has no objects"),
        ("production", "confirm_target", "type its name to confirm"),
    ],
)
def test_the_launch_form_refuses_what_cannot_run(
    admin_client: Client,
    connected_pair: tuple[Org, Org],
    template: Template,
    change: str,
    field: str,
    message: str,
) -> None:
    source, target = connected_pair
    if change == "same_org":
        target = source
    elif change == "never_connected":
        Org.objects.filter(pk=source.pk).update(organization_id="")
    elif change == "no_objects":
        template.template_objects.all().delete()
    elif change == "production":
        Org.objects.filter(pk=target.pk).update(environment="production")

    response = admin_client.post(
        reverse("migrations_app:run-new"), _launch_data(template, source, target)
    )

    assert response.status_code == 200
    assert message in " ".join(response.context["form"].errors[field])
    assert not Run.objects.exists()


def test_a_production_target_is_accepted_with_its_name_typed(
    admin_client: Client,
    connected_pair: tuple[Org, Org],
    template: Template,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    source, target = connected_pair
    Org.objects.filter(pk=target.pk).update(environment="production")
    monkeypatch.setattr("migrations_app.jobs.enqueue_run", lambda *, run_id: None)

    admin_client.post(
        reverse("migrations_app:run-new"),
        _launch_data(template, source, target, confirm_target=target.name),
    )

    assert Run.objects.count() == 1


def test_a_user_without_the_launch_permission_cannot_launch(
    connected_pair: tuple[Org, Org], template: Template
) -> None:
    viewer = User.objects.create_user("viewer", password="x")
    viewer.user_permissions.add(Permission.objects.get(codename="view_run"))
    client = Client()
    client.force_login(viewer)
    source, target = connected_pair

    assert client.get(reverse("migrations_app:run-list")).status_code == 200
    response = client.post(
        reverse("migrations_app:run-new"), _launch_data(template, source, target)
    )

    assert response.status_code == 403
    assert not Run.objects.exists()


def test_run_page_shows_counts_and_a_live_progress_part(
    admin_client: Client, connected_pair: tuple[Org, Org], template: Template
) -> None:
    run = _queued_run(connected_pair, template)
    run.object_stats.update(selected=40, inserted=30, unchanged=10, expected=80)
    Run.objects.filter(pk=run.pk).update(selected=40, inserted=30, unchanged=10)

    page = admin_client.get(reverse("migrations_app:run-detail", args=[run.pk]))
    part = admin_client.get(reverse("migrations_app:run-progress", args=[run.pk]))

    assert page.status_code == part.status_code == 200
    assert 'hx-trigger="every 1s"' in page.content.decode()
    assert 'value="50"' in part.content.decode()  # 40 of 80 selected so far


def test_the_progress_part_says_when_the_run_ended(
    admin_client: Client, connected_pair: tuple[Org, Org], template: Template
) -> None:
    run = _queued_run(connected_pair, template)
    Run.objects.filter(pk=run.pk).update(status=Run.Status.SUCCEEDED)

    part = admin_client.get(
        reverse("migrations_app:run-progress", args=[run.pk]), HTTP_HX_REQUEST="true"
    )

    assert part["HX-Trigger"] == "run-ended"
    assert "hx-trigger" not in part.content.decode()


def _csv(response: object) -> list[list[str]]:
    body = b"".join(response.streaming_content).decode()  # type: ignore[attr-defined]
    return list(csv.reader(io.StringIO(body)))


def test_result_files_list_what_was_written_and_what_failed(
    admin_client: Client, connected_pair: tuple[Org, Org], template: Template
) -> None:
    run = _queued_run(connected_pair, template)
    RecordResult.objects.create(
        run=run,
        sobject="Contact",
        source_id="003000000000001AAA",
        target_id="003000000000009AAA",
        action="inserted",
    )
    RecordIssue.objects.create(
        run=run,
        kind=IssueKind.FAILED,
        sobject="Contact",
        source_id="003000000000002AAA",
        error_code="FIELD_CUSTOM_VALIDATION_EXCEPTION",
        message="Last name, please",
        fields=["LastName"],
        values={"LastName": ""},
    )
    # Messages quote the org's data: one a spreadsheet would run stays text.
    RecordIssue.objects.create(
        run=run,
        kind=IssueKind.FAILED,
        sobject="Contact",
        source_id="003000000000003AAA",
        error_code="FIELD_CUSTOM_VALIDATION_EXCEPTION",
        message='=HYPERLINK("https://example.com","click")',
        fields=["Title"],
    )

    success = _csv(
        admin_client.get(reverse("migrations_app:run-success-csv", args=[run.pk]))
    )
    errors = _csv(
        admin_client.get(reverse("migrations_app:run-errors-csv", args=[run.pk]))
    )

    assert success == [
        ["object", "source_id", "target_id", "action"],
        ["Contact", "003000000000001AAA", "003000000000009AAA", "inserted"],
    ]
    assert errors[1] == [
        "Contact",
        "003000000000002AAA",
        "",
        "failed",
        "FIELD_CUSTOM_VALIDATION_EXCEPTION",
        "Last name, please",
        "LastName",
        '{"LastName": ""}',
    ]
    assert errors[2][5] == '\'=HYPERLINK("https://example.com","click")'


def test_cancel_a_queued_run_at_once_and_a_running_one_between_pages(
    admin_client: Client, connected_pair: tuple[Org, Org], template: Template
) -> None:
    queued = _queued_run(connected_pair, template)
    admin_client.post(reverse("migrations_app:run-cancel", args=[queued.pk]))
    queued.refresh_from_db()
    assert queued.status == Run.Status.CANCELLED

    running = _queued_run(connected_pair, template)
    run_claim(run_id=running.pk)
    admin_client.post(reverse("migrations_app:run-cancel", args=[running.pk]))
    running.refresh_from_db()
    assert running.status == Run.Status.RUNNING
    assert running.cancel_requested_at is not None
    assert AuditEvent.objects.filter(action="run_cancelled").count() == 2


def test_resume_queues_an_interrupted_run_again(
    admin_client: Client,
    connected_pair: tuple[Org, Org],
    template: Template,
    monkeypatch: pytest.MonkeyPatch,
    django_capture_on_commit_callbacks: pytest.FixtureRequest,
) -> None:
    enqueued: list[int] = []
    monkeypatch.setattr(
        "migrations_app.jobs.enqueue_run", lambda *, run_id: enqueued.append(run_id)
    )
    run = _queued_run(connected_pair, template)
    Run.objects.filter(pk=run.pk).update(status=Run.Status.INTERRUPTED, error="lost")

    with django_capture_on_commit_callbacks(execute=True):  # type: ignore[operator]
        response = admin_client.post(
            reverse("migrations_app:run-resume", args=[run.pk])
        )

    run.refresh_from_db()
    assert response.status_code == 302
    assert (run.status, run.error, enqueued) == (Run.Status.QUEUED, "", [run.pk])
    assert AuditEvent.objects.filter(action="run_resumed", run=run).exists()


def test_resuming_a_run_that_is_not_interrupted_says_why(
    admin_client: Client, connected_pair: tuple[Org, Org], template: Template
) -> None:
    run = _queued_run(connected_pair, template)
    Run.objects.filter(pk=run.pk).update(status=Run.Status.SUCCEEDED)

    response = admin_client.post(
        reverse("migrations_app:run-resume", args=[run.pk]), follow=True
    )

    assert "only an interrupted run can be resumed" in response.content.decode()


@pytest.mark.parametrize(
    "query",
    [
        "status=nonsense",
        "source_org=abc",
        "since=yesterday",
        "template=99999",
        "page=-3",
        "page=abc",
        "source_org=%00",
    ],
)
def test_run_list_filters_ignore_bad_values(admin_client: Client, query: str) -> None:
    assert (
        admin_client.get(reverse("migrations_app:run-list") + "?" + query).status_code
        == 200
    )


def test_run_issues_can_be_filtered(
    admin_client: Client, connected_pair: tuple[Org, Org], template: Template
) -> None:
    run = _queued_run(connected_pair, template)
    for code in ("A_CODE", "B_CODE"):
        RecordIssue.objects.create(
            run=run, sobject="Contact", error_code=code, message=f"{code} happened"
        )

    part = admin_client.get(
        reverse("migrations_app:run-issues", args=[run.pk]) + "?error_code=B_CODE"
    ).content.decode()

    assert "B_CODE happened" in part
    assert "A_CODE happened" not in part


def test_org_pair_page_charts_the_runs(
    admin_client: Client, connected_pair: tuple[Org, Org], template: Template
) -> None:
    source, target = connected_pair
    run = _queued_run(connected_pair, template)
    Run.objects.filter(pk=run.pk).update(inserted=7, updated=3)

    page = admin_client.get(
        reverse("migrations_app:org-pair", args=[source.pk, target.pk])
    ).content.decode()

    assert 'class="bar-inserted"' in page
    assert f"Run {run.pk}" in page


def test_unknown_ids_are_404_not_500(admin_client: Client) -> None:
    for name in ("run-detail", "run-progress", "run-success-csv", "run-errors-csv"):
        assert (
            admin_client.get(reverse(f"migrations_app:{name}", args=[999])).status_code
            == 404
        )
    assert admin_client.get("/runs/abc/").status_code == 404
