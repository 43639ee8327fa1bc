"""The dashboard in a real Chromium: log in, launch a run from /runs/new/, watch it
on a real worker process until the end without reloading, read the counts, download
both result files. Takes the README's screenshots of these pages."""

from __future__ import annotations

import csv
import io
import re
from collections.abc import Iterator
from pathlib import Path
from subprocess import Popen

import django_rq
import pytest
from django.conf import settings
from django.contrib.auth.models import User
from playwright.sync_api import Page, expect
from pytest_django.live_server_helper import LiveServer

from migrations_app.models import Run
from tests.browser.conftest import skip_without_chromium
from tests.integration.conftest import OrgPair, make_template
from tests.integration.workers import start_worker, stop_worker

pytestmark = [
    pytest.mark.browser,
    pytest.mark.integration,
    pytest.mark.django_db(transaction=True),
    skip_without_chromium,
]

SCREENSHOTS = Path(settings.BASE_DIR) / "docs" / "screenshots"
CONTACT_COUNT = 4500  # three pages of 2,000: the bars move page by page
ACCOUNTS = {"sobject": "Account", "fields": ["Name", "BillingCity"]}
CONTACTS = {
    "sobject": "Contact",
    "fields": ["LastName", "Email", "AccountId"],
    "match_key": ["Email"],
}


@pytest.fixture
def worker() -> Iterator[Popen[bytes]]:
    django_rq.get_queue("default").empty()
    process = start_worker()
    yield process
    stop_worker(process)


@pytest.fixture
def user() -> User:
    return User.objects.create_superuser("admin", "admin@example.com", "password")


def _seed(orgs: OrgPair) -> None:
    accounts = orgs.source_org.insert_many(
        "Account",
        ({"Name": f"Account {i:03d}", "BillingCity": "Lyon"} for i in range(40)),
    )
    orgs.source_org.insert_many(
        "Contact",
        (
            {
                "LastName": "Refused" if i == 7 else f"Contact {i:04d}",
                "Email": f"c{i}@example.com",
                "AccountId": accounts[i % 40],
            }
            for i in range(CONTACT_COUNT)
        ),
    )
    orgs.target_org.faults.update(
        latency_ms=150,
        validation_rules=[
            {"sobject": "Contact", "field": "LastName", "value": "Refused"}
        ],
    )


def _log_in(page: Page, live_server: LiveServer, next_path: str) -> None:
    page.goto(f"{live_server.url}/admin/login/?next={next_path}")
    page.fill("#id_username", "admin")
    page.fill("#id_password", "password")
    page.click("input[type=submit]")
    page.wait_for_url(f"{live_server.url}{next_path}")


def _download_csv(page: Page, link_text: str) -> list[dict[str, str]]:
    with page.expect_download() as download:
        page.get_by_role("link", name=link_text).click()
    path = download.value.path()
    return list(csv.DictReader(io.StringIO(Path(path).read_text())))


def test_launch_a_run_and_follow_it_to_the_end(
    page: Page,
    live_server: LiveServer,
    orgs: OrgPair,
    user: User,
    worker: Popen[bytes],
) -> None:
    _seed(orgs)
    template = make_template("Accounts and contacts", ACCOUNTS, CONTACTS)
    _log_in(page, live_server, "/runs/new/")

    page.select_option("#id_template", str(template.pk))
    page.select_option("#id_source_org", str(orgs.source.pk))
    page.select_option("#id_target_org", str(orgs.target.pk))
    page.check("input[name=strategy][value=veid]")
    # The form's pre-flight parts load by themselves once the choices are made.
    expect(page.locator("#preflight")).to_contain_text("Pre-flight")
    expect(page.locator("#seeding-notes")).to_contain_text("Field transforms")
    page.screenshot(path=SCREENSHOTS / "launch-form.png", full_page=True)
    page.get_by_role("button", name="Launch run").click()

    page.wait_for_url(f"{live_server.url}/runs/*/")
    page.evaluate("window.stillTheSamePage = true")
    contacts = page.locator("tr[data-object=Contact]")
    # The page opens on the run still under way; htmx then follows it.
    expect(page.locator("#run-progress .status")).to_have_text(
        re.compile("Queued|Running")
    )
    page.screenshot(path=SCREENSHOTS / "run-page-running.png", full_page=True)
    expect(page.locator("#run-progress .status")).to_have_text(
        "Completed with errors", timeout=120_000
    )

    assert page.evaluate("window.stillTheSamePage") is True  # never reloaded
    expect(contacts.locator("progress")).to_have_attribute("value", "100")
    cells = contacts.locator("td.num")
    expect(cells.nth(0)).to_have_text("4500")  # selected
    expect(cells.nth(1)).to_have_text("4499")  # inserted
    expect(cells.nth(5)).to_have_text("1")  # failed
    expect(page.locator("#issues")).to_contain_text("LastName = Refused")
    page.screenshot(path=SCREENSHOTS / "run-page.png", full_page=True)

    run = Run.objects.get()
    success = _download_csv(page, "success.csv")
    assert len(success) == 4539
    assert {row["action"] for row in success} == {"inserted"}
    assert sum(row["object"] == "Account" for row in success) == 40
    errors = _download_csv(page, "errors.csv")
    assert [(row["object"], row["error_code"]) for row in errors] == [
        ("Contact", "FIELD_CUSTOM_VALIDATION_EXCEPTION")
    ]
    assert '"LastName": "Refused"' in errors[0]["values"]
    assert run.inserted == 4539


def test_home_page_shows_orgs_and_runs(
    page: Page, live_server: LiveServer, orgs: OrgPair, user: User
) -> None:
    template = make_template("Accounts and contacts", ACCOUNTS, CONTACTS)
    orgs.source_org.insert_many(
        "Account", ({"Name": f"Home {i}", "BillingCity": "Paris"} for i in range(5))
    )
    orgs.migrate(template, "veid")
    orgs.migrate(template, "veid", dry_run=True)

    _log_in(page, live_server, "/")

    expect(page.get_by_role("link", name="New run")).to_be_visible()
    expect(page.locator("table.orgs")).to_contain_text(orgs.source.organization_id)
    expect(page.locator("table.runs").first).to_contain_text("Succeeded")
    page.screenshot(path=SCREENSHOTS / "home.png", full_page=True)
