"""Connecting orgs through the real OAuth client-credentials flow."""

from __future__ import annotations

import pytest
from django.contrib.auth.models import User
from django.core.exceptions import ValidationError
from django.core.management import CommandError, call_command
from django.test import Client
from django.urls import reverse

from migrations_app.models import Org, RecordMapping
from migrations_app.services.orgs import org_add, org_check_connection
from salesforce_emulator import Emulator
from tests.integration.conftest import OrgPair

pytestmark = [pytest.mark.django_db, pytest.mark.integration]


def test_org_add_records_the_organization_id_and_encrypts_the_secret(
    emulator: Emulator, capsys: pytest.CaptureFixture[str]
) -> None:
    info = emulator.org("source").info()
    call_command(
        "org_add",
        "prod",
        "--login-url",
        info["login_url"],
        "--client-id",
        info["client_id"],
        "--client-secret",
        info["client_secret"],
        "--ca-file",
        info["ca_file"],
        "--environment",
        "production",
    )
    assert capsys.readouterr().out.strip() == info["organization_id"]
    org = Org.objects.get(name="prod")
    assert org.organization_id == info["organization_id"]
    assert org.connection_status == Org.ConnectionStatus.CONNECTED
    assert info["client_secret"] not in org.credentials_encrypted
    assert org.credentials["client_secret"] == info["client_secret"]


def test_wrong_secret_is_a_clear_error_and_saves_nothing(emulator: Emulator) -> None:
    info = emulator.org("source").info()
    with pytest.raises(CommandError, match="refused the login: invalid_client"):
        call_command(
            "org_add",
            "bad",
            "--login-url",
            info["login_url"],
            "--client-id",
            info["client_id"],
            "--client-secret",
            "wrong",
            "--ca-file",
            info["ca_file"],
        )
    assert not Org.objects.filter(name="bad").exists()


def test_unreachable_org_is_a_clear_error() -> None:
    with pytest.raises(ValidationError, match=r"Cannot reach https://127\.0\.0\.1:9"):
        org_add(
            name="nowhere",
            login_url="https://127.0.0.1:9",
            client_id="x",
            client_secret="y",
        )


def test_a_changed_organization_id_outdates_the_mappings(orgs: OrgPair) -> None:
    RecordMapping.objects.create(
        source_org=orgs.source,
        target_org=orgs.target,
        sobject="Contact",
        source_id="0030A0000000001AAA",
        target_id="0030B0000000001AAA",
    )
    Org.objects.filter(pk=orgs.target.pk).update(organization_id="00D000000000001AAA")
    orgs.target.refresh_from_db()

    org_check_connection(org=orgs.target)

    mapping = RecordMapping.objects.get()
    assert mapping.status == RecordMapping.Status.OUTDATED
    assert "no longer 00D000000000001AAA" in mapping.outdated_reason


def test_admin_check_connection_action_reports_the_org(
    orgs: OrgPair, client: Client, staff_user: User
) -> None:
    client.force_login(staff_user)
    url = reverse("admin:migrations_app_org_changelist")
    data = {"action": "check_connection", "_selected_action": [orgs.source.pk]}

    response = client.post(url, data, follow=True)

    text = response.content.decode()
    assert f"Source: connected to {orgs.source.organization_id}" in text
    Org.objects.filter(pk=orgs.target.pk).update(login_url="https://127.0.0.1:9")
    response = client.post(
        url,
        {"action": "check_connection", "_selected_action": [orgs.target.pk]},
        follow=True,
    )
    assert "Target: Cannot reach https://127.0.0.1:9" in response.content.decode()
    assert (
        Org.objects.get(pk=orgs.target.pk).connection_status
        == Org.ConnectionStatus.FAILED
    )
