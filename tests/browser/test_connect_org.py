"""Connect org in a real Chromium: the OAuth web-server flow end to end, then a run.

From the org's admin page, Connect org goes to the emulated org's authorize page,
the user approves, the browser comes back with a code, and the refresh token is
stored encrypted. A migration into that org then works with it.
"""

from __future__ import annotations

import re
from collections.abc import Iterator

import pytest
from django.contrib.auth.models import User
from playwright.sync_api import Browser, Page, expect
from pytest_django.live_server_helper import LiveServer

from migrations_app.models import AuditEvent, Org, Run
from migrations_app.services.runs import run_create, run_execute
from salesforce_emulator import Emulator
from tests.browser.conftest import checked_page, skip_without_chromium
from tests.browser.test_template_pickers import log_in
from tests.integration.conftest import make_template, register

pytestmark = [
    pytest.mark.browser,
    pytest.mark.integration,
    pytest.mark.django_db(transaction=True),
    skip_without_chromium,
]


@pytest.fixture
def trusting_page(browser: Browser) -> Iterator[Page]:
    """A page that trusts the emulator's private CA, as a machine that installed it
    would, and fails the test on any browser error (CSP refusals included)."""
    with checked_page(browser, ignore_https_errors=True) as page:
        yield page


def web_server_org(emulator: Emulator) -> Org:
    info = emulator.org("target").info()
    org = Org(
        name="target",
        login_url=info["login_url"],
        ca_file=info["ca_file"],
        auth_method=Org.AuthMethod.WEB_SERVER,
        client_id=info["client_id"],
        username=info["username"],
    )
    org.set_credentials({"client_secret": info["client_secret"]})
    org.save()
    return org


def test_connect_org_in_chromium_and_migrate_with_it(
    trusting_page: Page,
    live_server: LiveServer,
    emulator: Emulator,
    staff_user: User,
) -> None:
    page = trusting_page
    for name in ("source", "target"):
        emulator.org(name).reset_data()
    source = register(emulator, "source")
    target = web_server_org(emulator)
    info = emulator.org("target").info()
    change_page = f"/admin/migrations_app/org/{target.pk}/change/"
    log_in(page, live_server, staff_user, change_page)

    page.get_by_role("button", name="Connect org").click()
    page.wait_for_url(re.compile(r"/services/oauth2/authorize\?"))
    expect(page.get_by_role("heading")).to_contain_text("Allow access to org target")
    page.get_by_role("button", name="Approve").click()
    page.wait_for_url(f"{live_server.url}{change_page}")

    expect(page.locator(".messagelist .success")).to_contain_text(
        f"connected to {info['organization_id']} as {info['username']}"
    )
    target.refresh_from_db()
    refresh_token = target.credentials["refresh_token"]
    assert refresh_token
    assert refresh_token not in target.credentials_encrypted
    assert target.organization_id == info["organization_id"]
    assert target.connection_status == Org.ConnectionStatus.CONNECTED
    assert AuditEvent.objects.filter(action="org_connected", org=target).exists()

    for number in range(3):
        emulator.org("source").insert("Account", {"Name": f"Connected {number}"})
    template = make_template(
        "Accounts", {"sobject": "Account", "fields": ["Name"], "match_key": []}
    )
    run = run_create(
        template=template, source_org=source, target_org=target, strategy="veid"
    )
    run = run_execute(run_id=run.pk)

    assert run.status == Run.Status.SUCCEEDED, run.error
    names = {record["Name"] for record in emulator.org("target").records("Account")}
    assert {"Connected 0", "Connected 1", "Connected 2"} <= names
