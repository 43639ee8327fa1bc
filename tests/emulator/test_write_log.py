"""The org's write log: every call that changed data, with its caller and timing."""

from __future__ import annotations

from email.message import Message
from typing import Any

import requests

from salesforce_emulator import Emulator, Org
from salesforce_emulator.transport import Request
from salesforce_emulator.write_log import WriteLog


def test_write_calls_are_logged_with_their_caller_and_reads_are_not(
    sf: Any, org: Org, session: requests.Session, fresh: Emulator
) -> None:
    org.write_log.clear()
    session.headers["Sforce-Call-Options"] = (
        "client=datamigrator-run-7, defaultNamespace=x"
    )
    created = sf.Account.create({"Name": "A"})
    sf.Account.update(created["id"], {"Name": "B"})
    sf.query("SELECT Id FROM Account")
    sf.restful(
        "composite/sobjects",
        method="POST",
        json={
            "allOrNone": False,
            "records": [{"attributes": {"type": "Account"}, "Name": "C"}],
        },
    )

    entries = org.write_log.entries()

    assert [e.kind for e in entries] == [
        "POST sobjects/Account",
        "PATCH sobjects/Account",
        "POST composite/sobjects",
    ]
    assert {e.caller for e in entries} == {"datamigrator-run-7"}
    assert len({e.token for e in entries}) == 1
    assert entries[0].token
    assert all(e.started <= e.applied for e in entries)
    assert entries[0].applied <= entries[1].started


def test_the_write_log_over_http_and_its_bound(
    sf: Any, org: Org, session: requests.Session, fresh: Emulator
) -> None:
    org.write_log.clear()
    sf.Account.create({"Name": "A"})
    url = f"{fresh.base_url}/__emulator__/orgs/{org.name}/write-log"

    logged = session.get(url).json()
    assert [entry["kind"] for entry in logged] == ["POST sobjects/Account"]
    assert logged[0]["caller"] == ""
    assert session.post(url, json={"clear": True}).json() == []

    small = WriteLog(size=2)
    for number in range(3):
        request = Request(
            "POST", f"/services/data/v59.0/sobjects/Account{number}", {}, Message(), b""
        )
        small.record(request, started=number, applied=number)
    assert [e.kind for e in small.entries()] == [
        "POST sobjects/Account1",
        "POST sobjects/Account2",
    ]  # the oldest went first
