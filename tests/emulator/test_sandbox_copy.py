"""Sandbox copies: same records and ids, new Organization Id, refresh, logins that last."""

from __future__ import annotations

import itertools
import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import requests
from simple_salesforce import Salesforce
from simple_salesforce.exceptions import SalesforceExpiredSession

from salesforce_emulator import Emulator, Org
from salesforce_emulator.__main__ import main

from .conftest import INVOICE_SCHEMA

_names = itertools.count(1)


@pytest.fixture(scope="module")
def emulator() -> Iterator[Emulator]:
    with Emulator(["prod"], schema=[INVOICE_SCHEMA]) as emu:
        yield emu


@pytest.fixture
def prod(emulator: Emulator) -> Org:
    """Org "prod" with an account, two contacts, an invoice and one deleted contact."""
    org = emulator.org("prod")
    org.reset_data()
    account = org.insert("Account", {"Name": "Acme"})
    org.insert_many(
        "Contact",
        [
            {"LastName": "Ada", "AccountId": account, "Email": "ada@acme.example"},
            {"LastName": "Bob", "AccountId": account},
        ],
    )
    org.insert("Invoice__c", {"Account__c": account, "Number__c": "N-1"})
    org.delete("Contact", org.insert("Contact", {"LastName": "Deleted"}))
    return org


@pytest.fixture
def sandbox_name() -> str:
    return f"uat{next(_names)}"


def snapshot(org: Org, sobject: str) -> list[dict[str, Any]]:
    return org.records(sobject)


def client_credentials(emu: Emulator, org_name: str) -> dict[str, Any]:
    org = emu.org(org_name)
    with emu.session() as http:
        response = http.post(
            f"{emu.base_url}/services/oauth2/token",
            data={"grant_type": "client_credentials"},
            auth=(org.client_id, org.client_secret),
        )
    assert response.status_code == 200, response.text
    return dict(response.json())


def client(emu: Emulator, token: str) -> Salesforce:
    return Salesforce(
        instance_url=emu.base_url, session_id=token, session=emu.session()
    )


def test_sandbox_has_the_same_records_and_ids(
    emulator: Emulator, prod: Org, sandbox_name: str
) -> None:
    sandbox = emulator.create_sandbox(sandbox_name, "prod")

    for sobject in ("Account", "Contact", "Invoice__c", "RecordType"):
        assert snapshot(sandbox, sobject) == snapshot(prod, sobject)
    assert sandbox.count("Contact", include_deleted=True) == 2  # the bin stays behind
    assert sandbox.is_sandbox
    assert sandbox.sandbox_of == "prod"
    assert not prod.is_sandbox
    assert sandbox.organization_id != prod.organization_id
    assert sandbox.organization_id.startswith("00D")
    assert len(sandbox.organization_id) == 18


def test_sandbox_users_and_new_records(
    emulator: Emulator, prod: Org, sandbox_name: str
) -> None:
    sandbox = emulator.create_sandbox(sandbox_name, "prod")

    prod_user = prod.user(prod.integration_user_id)
    user = sandbox.user(sandbox.integration_user_id)
    assert prod_user is not None
    assert user is not None
    assert user["Id"] == prod_user["Id"]
    assert user["Username"] == f"{prod_user['Username']}.{sandbox_name}"
    assert user["Email"] == f"{prod_user['Email']}.invalid"
    assert sandbox.info()["username"] == user["Username"]
    # ids made in the sandbox never collide with production's
    new_id = sandbox.insert("Contact", {"LastName": "Sandbox only"})
    assert prod.get("Contact", new_id) is None
    assert new_id[3:5] != prod.ids.pod
    # auto numbers go on from production's counter
    [prod_invoice] = prod.records("Invoice__c")
    invoice = sandbox.insert("Invoice__c", {"Account__c": prod_invoice["Account__c"]})
    number = int(prod_invoice["Name"].removeprefix("INV-"))
    assert sandbox.get("Invoice__c", invoice)["Name"] == f"INV-{number + 1:04d}"  # type: ignore[index]
    assert prod.count("Contact") == 2


def test_logins_work_and_name_the_sandbox(
    emulator: Emulator, prod: Org, sandbox_name: str
) -> None:
    sandbox = emulator.create_sandbox(sandbox_name, "prod")

    token = client_credentials(emulator, sandbox_name)

    assert f"/id/{sandbox.organization_id}/" in token["id"]
    sf = client(emulator, token["access_token"])
    names = {r["LastName"] for r in sf.query("SELECT LastName FROM Contact")["records"]}
    assert names == {"Ada", "Bob"}


def test_refresh_replaces_data_and_organization_id(
    emulator: Emulator, prod: Org, sandbox_name: str
) -> None:
    sandbox = emulator.create_sandbox(sandbox_name, "prod")
    first_id = sandbox.organization_id
    credentials = (sandbox.client_id, sandbox.client_secret, sandbox.password)
    old_token = client_credentials(emulator, sandbox_name)["access_token"]
    sandbox.insert("Contact", {"LastName": "Made in the sandbox"})
    prod.insert("Contact", {"LastName": "Made in production"})

    refreshed = emulator.refresh_sandbox(sandbox_name)

    assert refreshed is sandbox
    assert sandbox.organization_id not in (first_id, prod.organization_id)
    assert snapshot(sandbox, "Contact") == snapshot(prod, "Contact")
    assert (sandbox.client_id, sandbox.client_secret, sandbox.password) == credentials
    with pytest.raises(SalesforceExpiredSession):
        client(emulator, old_token).query("SELECT Id FROM Contact")
    token = client_credentials(emulator, sandbox_name)  # the same connected app
    assert f"/id/{sandbox.organization_id}/" in token["id"]
    organization = client(emulator, token["access_token"]).query(
        "SELECT Id, IsSandbox FROM Organization"
    )["records"]
    assert [(r["Id"], r["IsSandbox"]) for r in organization] == [
        (sandbox.organization_id, True)
    ]
    assert client(emulator, token["access_token"]).query("SELECT Id FROM Contact")[
        "totalSize"
    ] == prod.count("Contact")


def test_refresh_needs_a_sandbox_and_names_are_unique(
    emulator: Emulator, prod: Org, sandbox_name: str
) -> None:
    with pytest.raises(ValueError, match="not a sandbox"):
        emulator.refresh_sandbox("prod")
    emulator.create_sandbox(sandbox_name, "prod")
    with pytest.raises(ValueError, match="already exists"):
        emulator.create_sandbox(sandbox_name, "prod")
    with pytest.raises(KeyError):
        emulator.create_sandbox(f"{sandbox_name}x", "nowhere")


def test_control_endpoint_creates_and_refreshes(
    emulator: Emulator, prod: Org, sandbox_name: str
) -> None:
    url = f"{emulator.base_url}/__emulator__/orgs"
    with emulator.session() as http:
        created = http.post(url, json={"name": sandbox_name, "sandbox_of": "prod"})
        assert created.status_code == 201
        info = created.json()
        assert info["is_sandbox"] is True
        assert info["sandbox_of"] == "prod"
        assert info["organization_id"] == emulator.org(sandbox_name).organization_id

        refreshed = http.post(f"{url}/{sandbox_name}/refresh")
        assert refreshed.status_code == 200
        assert refreshed.json()["organization_id"] != info["organization_id"]
        assert refreshed.json()["client_id"] == info["client_id"]

        not_sandbox = http.post(f"{url}/prod/refresh")
        assert not_sandbox.status_code == 400
        assert "not a sandbox" in not_sandbox.json()["error"]


def test_cli_creates_and_refreshes_a_saved_sandbox(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    data_dir = str(tmp_path)
    assert (
        main(["seed", "--data-dir", data_dir, "--org", "source", "--accounts", "3"])
        == 0
    )
    capsys.readouterr()

    def sandbox_command(*extra: str) -> tuple[int, str]:
        code = main(
            [
                "sandbox",
                "--data-dir",
                data_dir,
                "--org",
                "qa",
                "--source",
                "source",
                *extra,
            ]
        )
        return code, capsys.readouterr().out

    code, out = sandbox_command()
    assert code == 0
    created = json.loads(out)
    assert created["sandbox_of"] == "source"
    assert created["refreshed"] is False
    assert sandbox_command()[0] == 2  # exists already: --refresh needed
    code, out = sandbox_command("--refresh")
    assert code == 0
    assert json.loads(out)["organization_id"] != created["organization_id"]

    with Emulator(["source", "qa"], data_dir=data_dir) as emu:
        qa, source = emu.org("qa"), emu.org("source")
        assert qa.is_sandbox
        assert qa.sandbox_of == "source"
        assert qa.organization_id == json.loads(out)["organization_id"]
        assert snapshot(qa, "Account") == snapshot(source, "Account")
        token = client_credentials(emu, "qa")
        http = requests.Session()
        http.verify, http.trust_env = emu.ca_file, False
        response = http.get(
            f"{emu.base_url}/services/data/v59.0/query",
            params={"q": "SELECT COUNT() FROM Account"},
            headers={"Authorization": f"Bearer {token['access_token']}"},
        )
        assert response.json()["totalSize"] == 3
