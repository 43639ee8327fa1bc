"""The recycle bin: deletes are soft, queryAll shows IsDeleted, emptying and undelete."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
import requests

from salesforce_emulator import Emulator, Org, RecordFailure

from .conftest import INVOICE_SCHEMA, sobject


def ids_of(result: dict[str, Any]) -> list[str]:
    return [r["Id"] for r in result["records"]]


def deleted_flags(sf: Any, sobject: str) -> dict[str, bool]:
    """Id -> IsDeleted for every row queryAll returns."""
    result = sf.query_all(f"SELECT Id, IsDeleted FROM {sobject}", include_deleted=True)
    return {r["Id"]: r["IsDeleted"] for r in result["records"]}


def control(
    session: requests.Session, emu: Emulator, path: str, body: dict[str, Any]
) -> requests.Response:
    return session.post(f"{emu.base_url}/__emulator__/{path}", json=body)


def test_every_delete_path_goes_to_the_recycle_bin(sf: Any, org: Org) -> None:
    by_rest, by_collection, by_bulk, kept = org.insert_many(
        "Contact", [{"LastName": name} for name in ("Rest", "Coll", "Bulk", "Kept")]
    )
    sf.Contact.delete(by_rest)
    sf.restful("composite/sobjects", method="DELETE", params={"ids": by_collection})
    sf.bulk2.Contact.delete(records=[{"Id": by_bulk}], wait=0)

    assert ids_of(sf.query_all("SELECT Id FROM Contact")) == [kept]
    assert deleted_flags(sf, "Contact") == {
        by_rest: True,
        by_collection: True,
        by_bulk: True,
        kept: False,
    }
    assert {r["Id"] for r in org.recycle_bin("Contact")} == {
        by_rest,
        by_collection,
        by_bulk,
    }


def test_query_all_resource_over_plain_http(
    session: requests.Session, data_url: str, token: str, org: Org
) -> None:
    contact_id = org.insert("Contact", {"LastName": "Binned"})
    org.delete("Contact", contact_id)
    headers = {"Authorization": f"Bearer {token}"}
    soql = "SELECT Id, IsDeleted FROM Contact WHERE IsDeleted = true"

    query = session.get(f"{data_url}/query/", params={"q": soql}, headers=headers)
    query_all = session.get(
        f"{data_url}/queryAll/", params={"q": soql}, headers=headers
    )

    assert query.json()["totalSize"] == 0
    assert [(r["Id"], r["IsDeleted"]) for r in query_all.json()["records"]] == [
        (contact_id, True)
    ]


def test_emptied_records_are_gone_for_good(sf: Any, org: Org) -> None:
    purged, binned = org.insert_many("Contact", [{"LastName": "P"}, {"LastName": "B"}])
    org.delete("Contact", purged)
    org.delete("Contact", binned)

    assert org.empty_recycle_bin([purged]) == [purged]

    assert deleted_flags(sf, "Contact") == {binned: True}
    assert org.get("Contact", purged) is None
    with pytest.raises(RecordFailure) as raised:
        org.undelete([purged])
    assert raised.value.code == "UNDELETE_FAILED"


def test_emptying_refuses_records_not_in_the_bin(org: Org) -> None:
    live, binned = org.insert_many("Contact", [{"LastName": "L"}, {"LastName": "B"}])
    org.delete("Contact", binned)

    with pytest.raises(RecordFailure):
        org.empty_recycle_bin([binned, live])

    assert [r["Id"] for r in org.recycle_bin()] == [binned]  # nothing purged


def test_master_detail_children_follow_their_parent(org: Org) -> None:
    account = org.insert("Account", {"Name": "Parent"})
    earlier, with_parent = (
        org.insert("Invoice__c", {"Account__c": account, "Number__c": n})
        for n in ("N-1", "N-2")
    )
    org.delete("Invoice__c", earlier)  # deleted on its own, before the parent
    org.delete("Account", account)
    assert {r["Id"] for r in org.recycle_bin()} == {account, earlier, with_parent}

    with pytest.raises(RecordFailure) as raised:
        org.undelete([earlier])  # its master is still deleted
    assert raised.value.code == "UNDELETE_FAILED"

    assert sorted(org.undelete([account])) == sorted([account, with_parent])
    assert [r["Id"] for r in org.records("Invoice__c")] == [with_parent]

    org.delete("Account", account)
    assert sorted(org.empty_recycle_bin([account])) == sorted([account, with_parent])
    assert [r["Id"] for r in org.recycle_bin()] == [earlier]


def test_undelete_refuses_a_taken_unique_value(org: Org) -> None:
    account = org.insert("Account", {"Name": "A"})
    old = org.insert("Invoice__c", {"Account__c": account, "Number__c": "N-7"})
    org.delete("Invoice__c", old)
    org.insert("Invoice__c", {"Account__c": account, "Number__c": "N-7"})

    with pytest.raises(RecordFailure) as raised:
        org.undelete([old])

    assert raised.value.code == "DUPLICATE_VALUE"
    assert org.get("Invoice__c", old)["IsDeleted"] is True  # type: ignore[index]


def test_undeleted_record_is_updated_not_deleted(
    sf: Any, fresh: Emulator, org: Org
) -> None:
    contact_id = org.insert("Contact", {"LastName": "Back"})
    org.delete("Contact", contact_id)
    start = fresh.now() - timedelta(minutes=5)
    fresh.advance_clock(600)

    assert org.undelete([contact_id]) == [contact_id]
    fresh.advance_clock(60)
    now = fresh.now()

    assert ids_of(sf.query("SELECT Id FROM Contact")) == [contact_id]
    assert sf.Contact.deleted(start, now)["deletedRecords"] == []
    assert sf.Contact.updated(now - timedelta(minutes=5), now)["ids"] == [contact_id]


def test_control_endpoint_empties_and_undeletes(
    session: requests.Session, fresh: Emulator, org: Org
) -> None:
    first, second, third = org.insert_many(
        "Contact", [{"LastName": n} for n in ("1", "2", "3")]
    )
    for contact_id in (first, second, third):
        org.delete("Contact", contact_id)

    undone = control(session, fresh, "orgs/target/undelete", {"ids": [first]})
    assert undone.status_code == 200
    assert undone.json() == {"undeleted": 1, "ids": [first]}
    some = control(session, fresh, "orgs/target/empty-recycle-bin", {"ids": [second]})
    assert some.json() == {"purged": 1, "ids": [second]}
    rest = session.post(f"{fresh.base_url}/__emulator__/orgs/target/empty-recycle-bin")
    assert rest.json() == {"purged": 1, "ids": [third]}
    refused = control(session, fresh, "orgs/target/undelete", {"ids": [third]})
    assert refused.status_code == 400
    assert refused.json()["errorCode"] == "UNDELETE_FAILED"
    assert [r["Id"] for r in org.records("Contact", include_deleted=True)] == [first]


def test_delete_log_survives_a_restart(tmp_path: Path) -> None:
    with Emulator(["target"], data_dir=tmp_path, schema=[INVOICE_SCHEMA]) as emu:
        org = emu.org("target")
        purged, binned = org.insert_many(
            "Contact", [{"LastName": "P"}, {"LastName": "B"}]
        )
        org.delete("Contact", purged)
        org.delete("Contact", binned)
        org.empty_recycle_bin([purged])
        start = emu.now() - timedelta(minutes=5)

    with Emulator(["target"], data_dir=tmp_path, schema=[INVOICE_SCHEMA]) as emu:
        emu.advance_clock(60)
        sf = emu.salesforce("target")
        reported = sobject(sf, "Contact").deleted(start, emu.now())["deletedRecords"]
        assert {r["id"] for r in reported} == {purged, binned}
        assert deleted_flags(sf, "Contact") == {binned: True}
