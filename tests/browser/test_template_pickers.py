"""Template admin pickers in a real Chromium, against the live server and the emulator.

template_pickers.js fetches the describe of a real (emulated) org through the admin's
describe view, fills the sObject datalist and the field table, and writes the JSON
textareas that the admin form then validates and saves.
"""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest
from django.contrib.auth.models import User
from playwright.sync_api import Locator, Page, expect
from pytest_django.live_server_helper import LiveServer

from migrations_app.models import Template, TemplateObject
from tests.browser.conftest import skip_without_chromium
from tests.integration.conftest import OrgPair, make_template

pytestmark = [
    pytest.mark.browser,
    pytest.mark.integration,
    pytest.mark.django_db(transaction=True),
    skip_without_chromium,
]

ROW = "#template_objects-0"


@pytest.fixture
def template(orgs: OrgPair) -> Template:
    return make_template(
        "Contacts",
        {"sobject": "Contact", "fields": ["FirstName"], "match_key": []},
    )


def log_in(page: Page, live_server: LiveServer, user: User, next_path: str) -> None:
    """Log in through the admin login form and land on ``next_path``."""
    page.goto(f"{live_server.url}/admin/login/?next={next_path}")
    page.fill("#id_username", user.get_username())
    page.fill("#id_password", "password")
    page.click("input[type=submit]")
    page.wait_for_url(f"{live_server.url}{next_path}")


def open_change_page(
    page: Page, live_server: LiveServer, user: User, template: Template
) -> None:
    log_in(
        page, live_server, user, f"/admin/migrations_app/template/{template.pk}/change/"
    )


def choose_describe_org(page: Page, orgs: OrgPair) -> None:
    page.select_option("select.dm-describe-org", str(orgs.source.pk))
    status = page.locator("select.dm-describe-org ~ .dm-picker-status")
    expect(status).to_have_text(re.compile(r"^\d+ sObjects in source\.$"))


def screenshot(page: Page, path: Path) -> None:
    """Keep a picture of the page to look at (pytest -s prints where)."""
    page.screenshot(path=str(path), full_page=True)
    print(f"screenshot: {path}")


def textarea(page: Page, name: str) -> Locator:
    return page.locator(f"textarea[name='template_objects-0-{name}']")


def test_pickers_fill_the_template_object_and_it_saves(
    page: Page,
    live_server: LiveServer,
    staff_user: User,
    orgs: OrgPair,
    template: Template,
    tmp_path: Path,
) -> None:
    open_change_page(page, live_server, staff_user, template)
    choose_describe_org(page, orgs)

    # The sObject input suggests the org's sObjects through its datalist.
    sobject_input = page.locator(f"{ROW} input.dm-sobject-input")
    suggestions = sobject_input.evaluate(
        "input => Array.from(input.list ? input.list.options : [], o => o.value)"
    )
    assert {"Account", "Contact", "Opportunity"} <= set(suggestions)

    row = page.locator(ROW)
    row.get_by_role("button", name="Pick fields").click()
    expect(row.locator(".dm-picker-status")).to_contain_text("fields of Contact;")
    expect(row.locator(".dm-picker-table tbody tr")).not_to_have_count(0)
    expect(row.get_by_label("Copy FirstName")).to_be_checked()

    # Matching on Email also copies it; "Add required fields" adds LastName.
    row.get_by_label("Match on Email").check()
    expect(row.get_by_label("Copy Email")).to_be_checked()
    row.get_by_role("button", name="Add required fields").click()
    expect(row.get_by_label("Copy LastName")).to_be_checked()
    assert json.loads(textarea(page, "fields").input_value()) == [
        "FirstName",
        "Email",
        "LastName",
    ]
    assert json.loads(textarea(page, "match_key").input_value()) == ["Email"]

    screenshot(page, tmp_path / "template-pickers.png")

    # The search box hides the rows that do not match (label "Email Opt Out").
    row.get_by_placeholder("Filter by label, API name or type").fill("email")
    visible = row.locator(".dm-picker-table tbody tr:visible")
    expect(visible).to_have_count(2)
    assert sorted(visible.evaluate_all("rows => rows.map(r => r.dataset.name)")) == [
        "Email",
        "HasOptedOutOfEmail",
    ]

    page.click("input[name=_continue]")
    expect(page.locator(".messagelist .success")).to_contain_text("was changed")
    saved = TemplateObject.objects.get(template=template)
    assert saved.fields == ["FirstName", "Email", "LastName"]
    assert saved.match_key == ["Email"]


def test_a_malformed_filter_is_refused_on_save(
    page: Page,
    live_server: LiveServer,
    staff_user: User,
    orgs: OrgPair,
    template: Template,
    tmp_path: Path,
) -> None:
    open_change_page(page, live_server, staff_user, template)
    choose_describe_org(page, orgs)
    textarea(page, "filter").fill("Email = ")

    with page.expect_navigation() as navigation:
        page.click("input[name=_continue]")
    response = navigation.value
    assert response is not None
    assert response.status == 200  # refused with the form's errors, not a 500

    screenshot(page, tmp_path / "template-filter-error.png")
    expect(page.locator(".errornote")).to_be_visible()
    errors = page.locator(f"{ROW} .errorlist")
    expect(errors).to_be_visible()
    expect(errors).to_contain_text("unexpected token: '<EOF>' at column 8")
    assert TemplateObject.objects.get(template=template).filter == ""


def test_clearing_the_sobject_hides_its_field_table(
    page: Page,
    live_server: LiveServer,
    staff_user: User,
    orgs: OrgPair,
    template: Template,
) -> None:
    open_change_page(page, live_server, staff_user, template)
    choose_describe_org(page, orgs)
    row = page.locator(ROW)
    row.get_by_role("button", name="Pick fields").click()
    panel = row.locator(".dm-picker-panel")
    expect(panel).to_be_visible()

    # Contact's fields must not stay on show (and tickable) for an empty sObject.
    sobject_input = row.locator("input.dm-sobject-input")
    sobject_input.fill("")
    sobject_input.blur()  # a text input's change event fires when it loses focus
    expect(panel).to_be_hidden()
    expect(row.locator(".dm-picker-status")).to_have_text(
        "Type or choose an sObject first."
    )
    expect(row.get_by_role("button", name="Pick fields")).to_be_visible()

    # Typing another sObject and reopening shows that sObject's fields.
    sobject_input.fill("Account")
    row.get_by_role("button", name="Pick fields").click()
    expect(row.locator(".dm-picker-status")).to_contain_text("fields of Account;")
    expect(row.get_by_label("Copy Name", exact=True)).to_be_visible()
