"""REST query / queryAll through simple-salesforce, with paging (page size 5 here)."""

from __future__ import annotations

from typing import Any

import pytest
import requests
from simple_salesforce.exceptions import SalesforceMalformedRequest

from salesforce_emulator import Org

from .conftest import PAGE_SIZE, error_of


def _seed_contacts(org: Org, count: int) -> list[str]:
    account_id = org.insert("Account", {"Name": "Acme"})
    return org.insert_many(
        "Contact",
        [
            {
                "LastName": f"Person {i:02d}",
                "AccountId": account_id,
                "Email": f"p{i}@example.com",
            }
            for i in range(count)
        ],
    )


def test_query_all_pages_through_next_records_url(sf: Any, org: Org) -> None:
    ids = _seed_contacts(org, 13)
    first = sf.query("SELECT Id, Name, Account.Name FROM Contact ORDER BY LastName")
    assert first["totalSize"] == 13
    assert first["done"] is False
    assert len(first["records"]) == PAGE_SIZE
    assert first["nextRecordsUrl"].startswith("/services/data/v59.0/query/01g")
    assert first["nextRecordsUrl"].endswith(f"-{PAGE_SIZE}")
    result = sf.query_all(
        "SELECT Id, Name, Account.Name FROM Contact ORDER BY LastName"
    )
    assert result["totalSize"] == 13
    assert [r["Id"] for r in result["records"]] == ids
    assert result["records"][0]["Account"]["Name"] == "Acme"
    assert list(sf.query_all_iter("SELECT Id FROM Contact")) == [
        r for r in sf.query_all("SELECT Id FROM Contact")["records"]
    ]


def test_last_page_has_no_next_url(sf: Any, org: Org) -> None:
    _seed_contacts(org, 3)
    result = sf.query("SELECT Id FROM Contact")
    assert result["done"] is True
    assert "nextRecordsUrl" not in result


def test_query_more_by_locator_id(sf: Any, org: Org) -> None:
    _seed_contacts(org, 7)
    first = sf.query("SELECT Id FROM Contact")
    locator = first["nextRecordsUrl"].rsplit("/", 1)[1]
    second = sf.query_more(locator)
    assert second["done"] is True
    assert len(second["records"]) == 2
    again = sf.query_more(first["nextRecordsUrl"], identifier_is_url=True)
    assert again["records"] == second["records"]  # locators can be re-read (retries)


def test_invalid_query_locator(sf: Any) -> None:
    with pytest.raises(SalesforceMalformedRequest) as exc:
        sf.query_more("01gXX0000000001AAA-200")
    assert error_of(exc.value)["errorCode"] == "INVALID_QUERY_LOCATOR"


def test_query_all_sees_deleted_rows(sf: Any, org: Org) -> None:
    ids = _seed_contacts(org, 2)
    sf.Contact.delete(ids[0])
    live = sf.query_all("SELECT Id FROM Contact")
    assert [r["Id"] for r in live["records"]] == [ids[1]]
    everything = sf.query_all("SELECT Id, IsDeleted FROM Contact", include_deleted=True)
    assert {r["Id"]: r["IsDeleted"] for r in everything["records"]} == {
        ids[0]: True,
        ids[1]: False,
    }


def test_count(sf: Any, org: Org) -> None:
    _seed_contacts(org, 12)
    result = sf.query("SELECT COUNT() FROM Contact WHERE Email LIKE 'p1%'")
    assert result == {"totalSize": 3, "done": True, "records": []}


def test_batch_size_header(
    sf: Any, org: Org, session: requests.Session, data_url: str, token: str
) -> None:
    _seed_contacts(org, 7)
    response = session.get(
        f"{data_url}/query",
        params={"q": "SELECT Id FROM Contact"},
        headers={
            "Authorization": f"Bearer {token}",
            "Sforce-Query-Options": "batchSize=200",
        },
    )
    assert (
        len(response.json()["records"]) == PAGE_SIZE
    )  # the org's page size still caps


@pytest.mark.parametrize(
    ("soql", "code"),
    [
        ("SELEC Id FROM Account", "MALFORMED_QUERY"),
        ("SELECT Nope__c FROM Account", "INVALID_FIELD"),
        ("SELECT Id FROM Nope__c", "INVALID_TYPE"),
        ("SELECT Id FROM Account OFFSET 2001", "NUMBER_OUTSIDE_VALID_RANGE"),
    ],
)
def test_query_errors(sf: Any, soql: str, code: str) -> None:
    with pytest.raises(SalesforceMalformedRequest) as exc:
        sf.query(soql)
    assert error_of(exc.value)["errorCode"] == code


def test_users_and_record_types_are_queryable(sf: Any, org: Org) -> None:
    users = sf.query_all("SELECT Id, Username, Email FROM User ORDER BY Username")[
        "records"
    ]
    emails = {u["Email"] for u in users}
    assert {
        "ada.lovelace@example.com",
        "grace.hopper@example.com",
        "alan.turing@example.com",
    } <= emails
    assert "ada.lovelace@example.com.target" in {u["Username"] for u in users}
    types = sf.query(
        "SELECT Id, DeveloperName FROM RecordType WHERE SobjectType = 'Account'"
    )
    assert sorted(r["DeveloperName"] for r in types["records"]) == [
        "Business",
        "Partner",
    ]


def test_parent_relationships_in_results(sf: Any, org: Org) -> None:
    parent = org.insert("Account", {"Name": "Parent"})
    child = org.insert("Account", {"Name": "Child", "ParentId": parent})
    rows = sf.query(
        "SELECT Name, Parent.Name, Owner.Username FROM Account ORDER BY Name"
    )["records"]
    by_name = {r["Name"]: r for r in rows}
    assert by_name["Child"]["Parent"]["Name"] == "Parent"
    assert by_name["Parent"]["Parent"] is None
    assert by_name["Child"]["Owner"]["Username"].startswith("integration@")
    assert child


def test_query_route_with_trailing_slash_and_plus(
    session: requests.Session, data_url: str, token: str, org: Org
) -> None:
    org.insert("Account", {"Name": "A"})
    response = session.get(
        f"{data_url}/query/?q=SELECT+Id+FROM+Account",
        headers={"Authorization": f"Bearer {token}"},
    )
    assert response.status_code == 200
    assert response.json()["totalSize"] == 1
