"""Fixtures of the emulator tests: one in-memory emulator for the session, small pages."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
import requests
from simple_salesforce import Salesforce, SFType
from simple_salesforce.bulk2 import SFBulk2Handler, SFBulk2Type
from simple_salesforce.exceptions import SalesforceError

from salesforce_emulator import Emulator, Org

API_VERSION = "59.0"
INVOICE_SCHEMA: dict[str, Any] = {
    "objects": [
        {
            "name": "Invoice__c",
            "label": "Invoice",
            "nameField": {"type": "autonumber", "displayFormat": "INV-{0000}"},
            "fields": [
                {
                    "name": "Account__c",
                    "type": "reference",
                    "referenceTo": ["Account"],
                    "relationshipName": "Account__r",
                    "masterDetail": True,
                },
                {
                    "name": "Number__c",
                    "type": "string",
                    "length": 40,
                    "externalId": True,
                    "unique": True,
                },
                {
                    "name": "Status__c",
                    "type": "picklist",
                    "values": ["Draft", "Sent"],
                    "restricted": True,
                },
                {"name": "Total__c", "type": "currency", "precision": 16, "scale": 2},
            ],
        },
        {
            "name": "Account",
            "fields": [
                {"name": "Region__c", "type": "string", "length": 20},
                {"name": "Code__c", "type": "string", "length": 20, "externalId": True},
            ],
        },
    ]
}
PAGE_SIZE = 5


def sobject(sf: Salesforce, name: str) -> SFType:
    """``sf.<name>``, simple-salesforce's REST handle of one sObject.

    ``Salesforce.__getattr__`` is typed as a union with the bulk handlers, since it
    also answers ``sf.bulk`` and ``sf.bulk2``; for an sObject name it is an SFType.
    """
    handle = getattr(sf, name)
    assert isinstance(handle, SFType), handle
    return handle


def bulk_handle(sf: Salesforce, name: str) -> Any:
    """``sf.bulk.<name>``, the Bulk API 1.0 handle of one sObject.

    Any on purpose: simple-salesforce's hints for it don't fit its real use (``query``
    takes a SOQL string; results are lists of dicts, indexed by the tests).
    """
    return getattr(sf.bulk, name)


def bulk2_handle(sf: Salesforce, name: str) -> SFBulk2Type:
    """``sf.bulk2.<name>``, the Bulk API 2.0 handle of one sObject."""
    handler = sf.bulk2
    assert isinstance(handler, SFBulk2Handler), handler
    handle: SFBulk2Type = getattr(handler, name)
    return handle


def error_of(error: SalesforceError) -> dict[str, Any]:
    """The first error object of a simple-salesforce exception (a JSON list body)."""
    content: Any = error.content
    assert isinstance(content, list), content
    return dict(content[0])


@pytest.fixture(scope="session")
def emu() -> Iterator[Emulator]:
    with Emulator(
        orgs=["source", "target"], page_size=PAGE_SIZE, schema=[INVOICE_SCHEMA]
    ) as emulator:
        yield emulator


@pytest.fixture
def fresh(emu: Emulator) -> Emulator:
    emu.set_clock_offset(0)
    for org in emu.all_orgs():
        org.reset_data()
        org.auto_approve = False
        org.redirect_uris = []
    return emu


@pytest.fixture
def org(fresh: Emulator) -> Org:
    return fresh.org("target")


@pytest.fixture
def session(emu: Emulator) -> Iterator[requests.Session]:
    http = requests.Session()
    http.verify = emu.ca_file
    http.trust_env = False
    yield http
    http.close()


def client_credentials_token(
    emu: Emulator, session: requests.Session, org_name: str
) -> str:
    org = emu.org(org_name)
    response = session.post(
        f"{emu.base_url}/services/oauth2/token",
        data={"grant_type": "client_credentials"},
        auth=(org.client_id, org.client_secret),
    )
    assert response.status_code == 200, response.text
    return str(response.json()["access_token"])


@pytest.fixture
def token(fresh: Emulator, session: requests.Session) -> str:
    return client_credentials_token(fresh, session, "target")


@pytest.fixture
def sf(fresh: Emulator, session: requests.Session, token: str) -> Salesforce:
    return Salesforce(
        instance_url=fresh.base_url,
        session_id=token,
        session=session,
        version=API_VERSION,
    )


@pytest.fixture
def data_url(emu: Emulator) -> str:
    return f"{emu.base_url}/services/data/v{API_VERSION}"
