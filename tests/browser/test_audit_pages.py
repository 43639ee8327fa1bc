"""The mapping audit in a real Chromium: run it from the org pair page, follow its
progress, look at the duplicates and the outdated mappings, and predict duplicates on
the launch form. Keeps the README's screenshots in docs/screenshots/."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import django_rq
import pytest
from django.contrib.auth.models import User
from playwright.sync_api import Page, expect
from pytest_django.live_server_helper import LiveServer
from rq import SimpleWorker

from migrations_app.models import MappingAudit, RecordMapping, Template
from tests.browser.conftest import skip_without_chromium
from tests.integration.conftest import OrgPair, make_template
from tests.integration.test_audit import other_user_client
from tests.integration.test_migration import (
    CONTACT,
    add_charlie_and_alice,
    seed_contacts,
)

pytestmark = [
    pytest.mark.browser,
    pytest.mark.integration,
    pytest.mark.django_db(transaction=True),
    skip_without_chromium,
]

SCREENSHOTS = Path(__file__).resolve().parents[2] / "docs" / "screenshots"


@pytest.fixture
def template(orgs: OrgPair) -> Template:
    """The documented scenario, plus two mapped records deleted in the target."""
    template = make_template("Contacts", CONTACT)
    ids = seed_contacts(orgs, 4)
    orgs.migrate(template, "veid")
    # Charlie and Alice, created by hand in both orgs (in the target by a colleague).
    colleague: Any = other_user_client(orgs)
    for first, last in (("Charlie", "Brown"), ("Alice", "Smith")):
        values = {
            "FirstName": first,
            "LastName": last,
            "Email": f"{first.lower()}@example.com",
        }
        orgs.source_org.insert("Contact", values)
        colleague.Contact.create(values)
    orgs.migrate(template, "veid")
    for source_id in ids[:2]:
        mapping = RecordMapping.objects.get(source_id=source_id)
        orgs.target_org.delete("Contact", mapping.target_id)
    orgs.target_org.empty_recycle_bin(
        [RecordMapping.objects.get(source_id=ids[0]).target_id]
    )
    return template


def log_in(page: Page, live_server: LiveServer, user: User, next_path: str) -> None:
    page.goto(f"{live_server.url}/admin/login/?next={next_path}")
    page.fill("#id_username", user.get_username())
    page.fill("#id_password", "password")
    page.click("input[type=submit]")
    page.wait_for_url(f"{live_server.url}{next_path}")


def run_queued_jobs() -> None:
    queue = django_rq.get_queue("default")
    SimpleWorker([queue], connection=queue.connection).work(burst=True)


def test_audit_from_the_pair_page_shows_duplicates_and_outdated_mappings(
    page: Page,
    live_server: LiveServer,
    staff_user: User,
    orgs: OrgPair,
    template: Template,
) -> None:
    django_rq.get_queue("default").empty()
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    log_in(page, live_server, staff_user, f"/pairs/{orgs.source.pk}/{orgs.target.pk}/")
    panel = page.locator("#pair-audit")
    expect(panel).to_contain_text("No audit of this pair has finished yet")

    panel.get_by_role("button", name="Run audit").click()
    page.wait_for_url(re.compile(r"/audits/\d+/$"))
    expect(page.locator("#audit-progress")).to_contain_text("Queued")
    run_queued_jobs()

    # The progress partial polls, sees the audit done and reloads the page.
    expect(page.locator("#audit-progress")).to_contain_text("Succeeded")
    made = page.locator('[data-kind="created_by_migration"]')
    expect(made).to_have_count(2)
    expect(made.first).to_contain_text("duplicate created by migration")
    expect(made.first.locator(".record.mapped")).to_contain_text("run ")
    row = page.locator('tr[data-object="Contact"]')
    expect(row).to_contain_text("2")
    page.locator("section.duplicates").first.screenshot(
        path=str(SCREENSHOTS / "audit-duplicates.png")
    )
    assert MappingAudit.objects.get().status == MappingAudit.Status.SUCCEEDED

    page.get_by_role("link", name="2 outdated Contact mappings").click()
    table = page.locator("table.mappings")
    expect(table.locator("tbody tr")).to_have_count(2)
    expect(table).to_contain_text("Target record deleted for good")
    expect(table).to_contain_text("Target record in the recycle bin")
    page.set_viewport_size({"width": 1280, "height": 420})
    page.screenshot(path=str(SCREENSHOTS / "outdated-mappings.png"))

    # The org pair page counts the duplicates per object from the last audit.
    page.goto(f"{live_server.url}/pairs/{orgs.source.pk}/{orgs.target.pk}/")
    expect(page.locator("#pair-audit tr[data-object='Contact']")).to_be_visible()


def test_launch_form_predicts_duplicates_before_a_veid_run(
    page: Page,
    live_server: LiveServer,
    staff_user: User,
    orgs: OrgPair,
) -> None:
    template = make_template("Contacts", CONTACT)
    seed_contacts(orgs, 2)
    orgs.migrate(template, "veid")
    add_charlie_and_alice(orgs)
    log_in(page, live_server, staff_user, "/runs/new/")

    page.select_option("#id_template", str(template.pk))
    page.select_option("#id_source_org", str(orgs.source.pk))
    page.select_option("#id_target_org", str(orgs.target.pk))

    preflight = page.locator("#preflight")
    expect(preflight).to_contain_text(
        "Contact: 2 unmapped records already have a match-key twin in the target"
    )
    expect(preflight).to_contain_text("veid_match")
