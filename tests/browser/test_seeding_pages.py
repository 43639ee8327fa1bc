"""Issue 14 in a real Chromium: the transform picker of the template admin, the launch
form's seeding notes, the run page's Rollback button and the schedules pages. Keeps
the README's screenshots in docs/screenshots/."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest
from django.conf import settings
from django.contrib.auth.models import User
from playwright.sync_api import Page, expect
from pytest_django.live_server_helper import LiveServer

from migrations_app.models import (
    Run,
    Schedule,
    ScheduleLaunch,
    Template,
    TemplateObject,
)
from migrations_app.services.runs import run_create, run_execute
from tests.browser.conftest import skip_without_chromium
from tests.integration.conftest import OrgPair, make_template

pytestmark = [
    pytest.mark.browser,
    pytest.mark.integration,
    pytest.mark.django_db(transaction=True),
    skip_without_chromium,
]

SCREENSHOTS = Path(settings.BASE_DIR) / "docs" / "screenshots"
CONTACTS = {
    "sobject": "Contact",
    "fields": ["FirstName", "LastName", "Email", "Title"],
    "match_key": ["Email"],
}


def log_in(page: Page, live_server: LiveServer, user: User, next_path: str) -> None:
    page.goto(f"{live_server.url}/admin/login/?next={next_path}")
    page.fill("#id_username", user.get_username())
    page.fill("#id_password", "password")
    page.click("input[type=submit]")
    page.wait_for_url(f"{live_server.url}{next_path}")


def shoot(page: Page, name: str) -> None:
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(SCREENSHOTS / name), full_page=True)


def test_the_transform_picker_writes_the_transforms_and_they_save(
    page: Page, live_server: LiveServer, staff_user: User, orgs: OrgPair
) -> None:
    template = make_template("Contacts", CONTACTS)
    log_in(
        page,
        live_server,
        staff_user,
        f"/admin/migrations_app/template/{template.pk}/change/",
    )
    page.select_option("select.dm-describe-org", str(orgs.source.pk))
    row = page.locator("#template_objects-0")
    row.get_by_role("button", name="Pick fields").click()
    email = row.locator("tr[data-name='Email']")
    title = row.locator("tr[data-name='Title']")
    phone = row.locator("tr[data-name='Phone']")
    expect(phone.locator("select[data-role=transform]")).to_be_disabled()

    email.locator("select[data-role=transform]").select_option("mask")
    title.locator("select[data-role=transform]").select_option("prefix")
    title.locator("input[data-role=transform-value]").fill("T-")
    phone.get_by_label("Copy Phone").check()
    phone.locator("select[data-role=transform]").select_option("empty")

    transforms = row.locator("textarea.dm-transforms-input")
    expect(transforms).to_have_value(re.compile(r'"Email":"mask"'))
    assert json.loads(transforms.input_value()) == {
        "Email": "mask",
        "Title": {"prefix": "T-"},
        "Phone": "empty",
    }
    row.locator("tr[data-name='Email']").scroll_into_view_if_needed()
    shoot(page, "transform-picker.png")
    # Unticking "copy" drops the field's transform: the template stays valid.
    phone.get_by_label("Copy Phone").uncheck()
    assert "Phone" not in json.loads(transforms.input_value())
    page.click("input[name=_continue]")

    expect(page.locator(".messagelist .success")).to_be_visible()
    saved = TemplateObject.objects.get(template=template)
    assert saved.transforms == {"Email": "mask", "Title": {"prefix": "T-"}}


def test_the_launch_form_warns_about_unmasked_personal_data(
    page: Page, live_server: LiveServer, staff_user: User, orgs: OrgPair
) -> None:
    template = make_template(
        "Half masked",
        {**CONTACTS, "transforms": {"Email": "mask", "Title": {"fixed": "Seeded"}}},
    )
    log_in(page, live_server, staff_user, "/runs/new/")
    page.select_option("#id_template", str(template.pk))
    page.select_option("#id_source_org", str(orgs.source.pk))
    page.select_option("#id_target_org", str(orgs.target.pk))

    notes = page.locator("#seeding-notes")
    expect(notes.locator(".transforms-summary")).to_contain_text(
        "Contact: Email masked, Title fixed value 'Seeded'"
    )
    warning = notes.locator("[data-warning=personal-data]")
    expect(warning).to_contain_text("Contact.FirstName, Contact.LastName")
    expect(warning).not_to_contain_text("Contact.Email")
    expect(notes.locator("[data-same-id=no]")).to_be_visible()
    shoot(page, "launch-seeding-notes.png")


def test_the_rollback_button_undoes_a_run(
    page: Page, live_server: LiveServer, staff_user: User, orgs: OrgPair
) -> None:
    template = make_template("Contacts", CONTACTS)
    for i in range(3):
        orgs.source_org.insert(
            "Contact", {"LastName": f"L{i}", "Email": f"e{i}@corp.example.com"}
        )
    run = run_execute(
        run_id=run_create(
            template=template,
            source_org=orgs.source,
            target_org=orgs.target,
            strategy="veid",
        ).pk
    )
    assert orgs.target_org.count("Contact") == 3
    log_in(page, live_server, staff_user, f"/runs/{run.pk}/")

    page.locator("details.rollback summary").click()
    shoot(page, "rollback-button.png")
    page.get_by_role("button", name=f"Roll back run {run.pk}").click()

    expect(page.locator(".rollback-of")).to_contain_text(f"Rollback of run {run.pk}")
    rollback = Run.objects.get(rollback_of=run)
    # No worker in this test: the queued rollback is executed here, as a worker would.
    run_execute(run_id=rollback.pk)
    page.reload()
    expect(page.locator(".rollback-of")).to_contain_text("3 deleted, 0 restored")
    assert orgs.target_org.count("Contact") == 0
    page.goto(f"{live_server.url}/runs/{run.pk}/")
    expect(page.locator(".rolled-back-by")).to_contain_text(
        f"run {rollback.pk} (succeeded)"
    )
    expect(page.locator("details.rollback")).to_have_count(1)


def test_the_schedules_pages_create_list_and_disable(
    page: Page, live_server: LiveServer, staff_user: User, orgs: OrgPair
) -> None:
    template: Template = make_template("Contacts", CONTACTS)
    log_in(page, live_server, staff_user, "/schedules/")
    page.get_by_role("link", name="New schedule").click()
    page.fill("#id_name", "Nightly UAT seed")
    page.check("input[name=kind][value=run]")
    page.select_option("#id_template", str(template.pk))
    page.select_option("#id_source_org", str(orgs.source.pk))
    page.select_option("#id_target_org", str(orgs.target.pk))
    page.check("input[name=strategy][value=veid_match]")
    page.fill("#id_cron", "0 2 * * 25")
    page.get_by_role("button", name="Save schedule").click()
    expect(page.locator(".errorlist")).to_contain_text("not a valid cron expression")
    page.fill("#id_cron", "0 2 * * 1-5")
    page.get_by_role("button", name="Save schedule").click()

    expect(page.locator("h1")).to_contain_text("Schedule Nightly UAT seed")
    schedule = Schedule.objects.get(name="Nightly UAT seed")
    assert schedule.next_launch_at is not None
    assert (schedule.next_launch_at.hour, schedule.next_launch_at.minute) == (2, 0)
    ScheduleLaunch.objects.create(
        schedule=schedule,
        planned_at=schedule.next_launch_at,
        outcome="skipped",
        reason="run 7 on the pair is still running",
    )
    page.goto(f"{live_server.url}/schedules/")
    row = page.locator("tr[data-schedule='Nightly UAT seed']")
    expect(row.locator(".next-launch")).to_contain_text(
        schedule.next_launch_at.strftime("%Y-%m-%d 02:00:00")
    )
    expect(row.locator("[data-outcome=skipped]")).to_contain_text("still running")
    shoot(page, "schedules.png")

    row.get_by_role("link", name="Nightly UAT seed").click()
    page.get_by_role("button", name="Disable").click()
    expect(page.locator(".next-launch")).to_have_text("disabled")
    schedule.refresh_from_db()
    assert (schedule.enabled, schedule.next_launch_at) == (False, None)
