"""Org settings are tested on save, refused field by field, and Connect org works.

Against the emulator, through the admin: the real token flows, the versions list,
``Organization.IsSandbox`` and the limits resource.
"""

from __future__ import annotations

from http import HTTPStatus
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest
import requests
from django.contrib.auth.models import User
from django.test import Client
from django.urls import reverse

from migrations_app.models import AuditEvent, Org
from migrations_app.services.org_oauth import SESSION_KEY
from salesforce_emulator import Emulator
from tests.integration.conftest import OrgPair

pytestmark = [pytest.mark.django_db, pytest.mark.integration]


@pytest.fixture
def admin(client: Client, staff_user: User) -> Client:
    client.force_login(staff_user)
    return client


def org_form(info: dict[str, Any], **changes: str) -> dict[str, str]:
    return {
        "name": "prod",
        "environment": "production",
        "login_url": info["login_url"],
        "api_version": "59.0",
        "ca_file": info["ca_file"],
        "auth_method": "client_credentials",
        "client_id": info["client_id"],
        "client_secret": info["client_secret"],
        **changes,
    }


def add_org(admin: Client, data: dict[str, str]) -> Any:
    return admin.post(reverse("admin:migrations_app_org_add"), data, follow=True)


def field_errors(response: Any) -> dict[str, list[str]]:
    form = response.context["adminform"].form
    return {field: list(errors) for field, errors in form.errors.items()}


def test_saving_an_org_tests_it_and_shows_what_it_found(
    emulator: Emulator, admin: Client
) -> None:
    info = emulator.org("source").info()

    response = add_org(admin, org_form(info))

    org = Org.objects.get(name="prod")
    assert org.organization_id == info["organization_id"]
    assert org.connection_status == Org.ConnectionStatus.CONNECTED
    text = response.content.decode()
    assert f"Tested: {info['organization_id']} as {info['username']}" in text
    assert "not a sandbox" in text
    assert "API version 59.0" in text
    assert "API calls left today" in text
    event = AuditEvent.objects.get(action="org_added")
    assert event.details["after"]["login_url"] == info["login_url"]
    assert info["client_secret"] not in str(event.details)


@pytest.mark.parametrize(
    ("changes", "field", "says"),
    [
        (
            {"login_url": "ftp://login.example.com"},
            "login_url",
            "must start with https://",
        ),
        (
            {"login_url": "http://login.salesforce.com"},
            "login_url",
            "must start with https://",
        ),
        (
            {"ca_file": "/no/such/ca.pem"},
            "ca_file",
            "There is no file at /no/such/ca.pem",
        ),
        ({"api_version": "abc"}, "api_version", "is not an API version"),
        ({"api_version": "99.0"}, "api_version", "does not offer API version 99.0"),
        ({"client_secret": "wrong"}, "client_secret", "consumer secret"),
        ({"client_secret": "sécret"}, "client_secret", "invalid_client"),
        ({"client_id": "nobody"}, "client_id", "consumer key"),
    ],
)
def test_each_refusal_names_the_field_and_saves_nothing(
    emulator: Emulator,
    admin: Client,
    changes: dict[str, str],
    field: str,
    says: str,
) -> None:
    response = add_org(admin, org_form(emulator.org("source").info(), **changes))

    assert response.status_code == HTTPStatus.OK
    errors = field_errors(response)
    assert says in " ".join(errors.get(field, [])), errors
    assert not Org.objects.filter(name="prod").exists()


def test_a_ca_file_that_is_not_pem_is_refused(
    emulator: Emulator, admin: Client, tmp_path: Path
) -> None:
    not_pem = tmp_path / "ca.pem"
    not_pem.write_text("hello")

    response = add_org(
        admin, org_form(emulator.org("source").info(), ca_file=str(not_pem))
    )

    assert "holds no PEM certificate" in " ".join(field_errors(response)["ca_file"])


def test_a_second_row_for_the_same_org_is_refused_naming_the_first(
    orgs: OrgPair, admin: Client
) -> None:
    response = add_org(admin, org_form(emulator_info(orgs, "source"), name="again"))

    errors = " ".join(field_errors(response).get("__all__", []))
    assert f"which the org “{orgs.source.name}” already is" in errors
    assert not Org.objects.filter(name="again").exists()


def emulator_info(orgs: OrgPair, name: str) -> dict[str, Any]:
    return dict(orgs.emulator.org(name).info())


def test_a_login_url_that_is_no_login_host_is_a_short_sentence(
    emulator: Emulator, admin: Client
) -> None:
    info = emulator.org("source").info()
    response = add_org(
        admin, org_form(info, login_url=info["login_url"] + "/no/such/path")
    )

    message = " ".join(field_errors(response)["login_url"])
    assert "without an OAuth error" in message
    assert "<" not in message


def test_the_test_connection_button_reports_and_records(
    orgs: OrgPair, admin: Client
) -> None:
    url = reverse("admin:migrations_app_org_test", args=[orgs.target.pk])

    response = admin.post(url, follow=True)

    text = response.content.decode()
    assert f"connected to {orgs.target.organization_id}" in text
    assert AuditEvent.objects.filter(action="org_tested", org=orgs.target).exists()
    assert admin.get(url).status_code == HTTPStatus.METHOD_NOT_ALLOWED


def connect(admin: Client, org: Org, ca_file: str) -> str:
    """Press Connect org, approve on the emulator's page; return the callback URL."""
    response = admin.post(reverse("admin:migrations_app_org_connect", args=[org.pk]))
    assert response.status_code == HTTPStatus.FOUND
    authorize = response["Location"]
    query = parse_qs(urlsplit(authorize).query)
    assert query["code_challenge_method"] == ["S256"]
    assert query["state"]
    page = requests.get(authorize, verify=ca_file, timeout=10)
    assert "Allow access" in page.text
    params = {key: values[0] for key, values in query.items()}
    approved = requests.post(
        authorize.split("?")[0],
        data={**params, "action": "approve"},
        verify=ca_file,
        allow_redirects=False,
        timeout=10,
    )
    return str(approved.headers["Location"])


def web_server_org(emulator: Emulator, name: str = "target") -> Org:
    info = emulator.org(name).info()
    org = Org.objects.create(
        name="web",
        login_url=info["login_url"],
        ca_file=info["ca_file"],
        auth_method=Org.AuthMethod.WEB_SERVER,
        client_id=info["client_id"],
    )
    org.set_credentials({"client_secret": info["client_secret"]})
    org.save()
    return org


def test_connect_org_stores_the_refresh_token_encrypted(
    emulator: Emulator, admin: Client
) -> None:
    org = web_server_org(emulator)
    info = emulator.org("target").info()

    callback = connect(admin, org, info["ca_file"])
    assert callback.startswith("http://testserver/admin/migrations_app/org/connect/")
    response = admin.get(callback.removeprefix("http://testserver"), follow=True)

    org.refresh_from_db()
    refresh_token = org.credentials["refresh_token"]
    assert refresh_token
    assert refresh_token not in org.credentials_encrypted
    assert org.organization_id == info["organization_id"]
    assert f"connected to {info['organization_id']}" in response.content.decode()
    event = AuditEvent.objects.get(action="org_connected")
    assert refresh_token not in str(event.details)


def test_a_callback_with_a_foreign_state_stores_nothing(
    emulator: Emulator, admin: Client
) -> None:
    org = web_server_org(emulator)
    callback = connect(admin, org, emulator.org("target").info()["ca_file"])
    forged = callback.replace("state=", "state=x")

    response = admin.get(forged.removeprefix("http://testserver"), follow=True)

    assert "start Connect org again" in response.content.decode()
    org.refresh_from_db()
    assert "refresh_token" not in org.credentials


def test_a_callback_is_good_once(emulator: Emulator, admin: Client) -> None:
    org = web_server_org(emulator)
    callback = connect(admin, org, emulator.org("target").info()["ca_file"])
    path = callback.removeprefix("http://testserver")
    admin.get(path)
    assert not admin.session[SESSION_KEY]

    response = admin.get(path, follow=True)

    assert "start Connect org again" in response.content.decode()


def test_a_denied_authorization_is_a_message(emulator: Emulator, admin: Client) -> None:
    org = web_server_org(emulator)
    response = admin.post(reverse("admin:migrations_app_org_connect", args=[org.pk]))
    state = parse_qs(urlsplit(response["Location"]).query)["state"][0]
    callback = reverse("admin:migrations_app_org_connect_callback")

    response = admin.get(
        callback,
        {
            "error": "access_denied",
            "error_description": "end-user denied",
            "state": state,
        },
        follow=True,
    )

    assert "did not grant access (access_denied: end-user denied)" in (
        response.content.decode()
    )
    assert AuditEvent.objects.filter(action="org_connect_failed").exists()
