"""Bulk API 2.0 through ``sf.bulk2`` (wait=0): ingest operations, results, query jobs."""

from __future__ import annotations

import csv
import io
from typing import Any

import pytest
import requests
from simple_salesforce.exceptions import (
    SalesforceMalformedRequest,
    SalesforceOperationError,
)

from salesforce_emulator import Org


def rows(text: str) -> list[dict[str, str]]:
    return list(csv.DictReader(io.StringIO(text)))


def test_insert_and_results(sf: Any, org: Org) -> None:
    result = sf.bulk2.Contact.insert(
        records=[
            {"LastName": "A", "Email": "a@example.com"},
            {"LastName": "", "Email": "b@example.com"},
            {"LastName": "C", "Email": "not-an-email"},
        ],
        wait=0,
    )
    assert result[0]["numberRecordsProcessed"] == 3
    assert result[0]["numberRecordsFailed"] == 2
    job_id = result[0]["job_id"]
    assert job_id.startswith("750")
    successes = rows(sf.bulk2.Contact.get_successful_records(job_id))
    assert len(successes) == 1
    assert successes[0]["sf__Created"] == "true"
    assert successes[0]["sf__Id"].startswith("003")
    assert successes[0]["LastName"] == "A"
    failures = rows(sf.bulk2.Contact.get_failed_records(job_id))
    errors = sorted(f["sf__Error"] for f in failures)
    assert errors[0].startswith("INVALID_EMAIL_ADDRESS:")
    assert (
        errors[1]
        == "REQUIRED_FIELD_MISSING:Required fields are missing: [LastName]:LastName --"
    )
    assert all(f["sf__Id"] == "" for f in failures)
    assert sf.bulk2.Contact.get_unprocessed_records(job_id).strip() != ""  # header only
    assert rows(sf.bulk2.Contact.get_unprocessed_records(job_id)) == []
    assert org.count("Contact") == 1


def test_update_empty_means_unchanged_and_na_means_null(sf: Any, org: Org) -> None:
    contact_id = org.insert(
        "Contact", {"LastName": "A", "Title": "CEO", "Phone": "123"}
    )
    result = sf.bulk2.Contact.update(
        records=[
            {"Id": contact_id, "Title": None, "Phone": "#N/A", "Department": "Sales"}
        ],
        wait=0,
    )
    assert result[0]["numberRecordsFailed"] == 0
    record = org.get("Contact", contact_id)
    assert record is not None
    assert (record["Title"], record["Phone"], record["Department"]) == (
        "CEO",
        None,
        "Sales",
    )


def test_upsert_with_relationship_by_external_id(sf: Any, org: Org) -> None:
    account_id = org.insert("Account", {"Name": "Acme", "Legacy_Id__c": "ACC-1"})
    existing = org.insert("Contact", {"LastName": "Old", "Legacy_Id__c": "C-1"})
    result = sf.bulk2.Contact.upsert(
        records=[
            {
                "Legacy_Id__c": "C-1",
                "LastName": "Updated",
                "Account.Legacy_Id__c": "ACC-1",
            },
            {
                "Legacy_Id__c": "C-2",
                "LastName": "Created",
                "Account.Legacy_Id__c": "ACC-1",
            },
        ],
        external_id_field="Legacy_Id__c",
        wait=0,
    )
    assert result[0]["numberRecordsFailed"] == 0
    successes = rows(sf.bulk2.Contact.get_successful_records(result[0]["job_id"]))
    assert sorted(s["sf__Created"] for s in successes) == ["false", "true"]
    updated = org.get("Contact", existing)
    assert updated is not None
    assert updated["LastName"] == "Updated"
    assert updated["AccountId"] == account_id
    assert org.count("Contact") == 2


def test_delete_and_hard_delete(sf: Any, org: Org) -> None:
    ids = org.insert_many("Account", [{"Name": f"A{i}"} for i in range(4)])
    soft = sf.bulk2.Account.delete(records=[{"Id": ids[0]}, {"Id": ids[1]}], wait=0)
    assert soft[0]["numberRecordsFailed"] == 0
    assert org.get("Account", ids[0])["IsDeleted"] is True  # type: ignore[index]
    hard = sf.bulk2.Account.hard_delete(
        records=[{"Id": ids[2]}, {"Id": "001Zz0000000001AAA"}], wait=0
    )
    assert hard[0]["numberRecordsFailed"] == 1
    assert org.get("Account", ids[2]) is None
    assert org.count("Account") == 1


def test_bad_header_fails_the_job(sf: Any, org: Org) -> None:
    with pytest.raises(SalesforceOperationError) as exc:
        sf.bulk2.Contact.insert(records=[{"LastName": "A", "Nope__c": "x"}], wait=0)
    assert "Nope__c" in str(exc.value)
    assert org.count("Contact") == 0


def test_type_errors_are_per_row(sf: Any, org: Org) -> None:
    result = sf.bulk2.Account.insert(
        records=[
            {"Name": "A", "NumberOfEmployees": "lots"},
            {"Name": "B", "NumberOfEmployees": "12"},
        ],
        wait=0,
    )
    assert result[0]["numberRecordsFailed"] == 1
    failures = rows(sf.bulk2.Account.get_failed_records(result[0]["job_id"]))
    assert failures[0]["sf__Error"].startswith("INVALID_TYPE_ON_FIELD_IN_RECORD:")
    assert org.records("Account")[0]["NumberOfEmployees"] == 12


def test_query_job_paging(sf: Any, org: Org) -> None:
    account_id = org.insert("Account", {"Name": 'Acme, "Inc"'})
    org.insert_many(
        "Contact", [{"LastName": f"L{i}", "AccountId": account_id} for i in range(7)]
    )
    pages = list(
        sf.bulk2.Contact.query(
            "SELECT Id, LastName, Account.Name, CreatedDate "
            "FROM Contact ORDER BY LastName",
            max_records=3,
            wait=0,
        )
    )
    assert len(pages) == 3
    all_rows = [r for page in pages for r in rows(page)]
    assert [r["LastName"] for r in all_rows] == [f"L{i}" for i in range(7)]
    assert all_rows[0]["Account.Name"] == 'Acme, "Inc"'
    assert all_rows[0]["CreatedDate"].endswith("Z")
    assert next(csv.reader(io.StringIO(pages[0]))) == [
        "Id",
        "LastName",
        "Account.Name",
        "CreatedDate",
    ]


def test_query_all_job_includes_deleted(sf: Any, org: Org) -> None:
    ids = org.insert_many("Account", [{"Name": "A"}, {"Name": "B"}])
    org.delete("Account", ids[0])
    live = [
        r
        for page in sf.bulk2.Account.query("SELECT Id FROM Account", wait=0)
        for r in rows(page)
    ]
    assert [r["Id"] for r in live] == [ids[1]]
    every = [
        r
        for page in sf.bulk2.Account.query_all(
            "SELECT Id, IsDeleted FROM Account", wait=0
        )
        for r in rows(page)
    ]
    assert {r["Id"]: r["IsDeleted"] for r in every} == {ids[0]: "true", ids[1]: "false"}


def test_query_job_errors(sf: Any) -> None:
    with pytest.raises(SalesforceMalformedRequest):
        list(sf.bulk2.Account.query("SELECT Nope__c FROM Account", wait=0))
    with pytest.raises(SalesforceMalformedRequest):
        list(sf.bulk2.Account.query("SELECT Id FROM Account OFFSET 5", wait=0))


def test_job_info_list_abort_and_delete(
    sf: Any, session: requests.Session, data_url: str, token: str
) -> None:
    headers = {"Authorization": f"Bearer {token}"}
    created = session.post(
        f"{data_url}/jobs/ingest",
        headers=headers,
        json={
            "operation": "insert",
            "object": "Account",
            "contentType": "CSV",
            "columnDelimiter": "COMMA",
            "lineEnding": "LF",
        },
    ).json()
    assert created["state"] == "Open"
    assert created["apiVersion"] == 59.0
    assert (
        created["contentUrl"]
        == f"services/data/v59.0/jobs/ingest/{created['id']}/batches"
    )
    upload = session.put(
        f"{data_url}/jobs/ingest/{created['id']}/batches",
        data=b"Name\nA\n",
        headers={**headers, "Content-Type": "text/csv"},
    )
    assert upload.status_code == 201
    aborted = session.patch(
        f"{data_url}/jobs/ingest/{created['id']}",
        headers=headers,
        json={"state": "Aborted"},
    ).json()
    assert aborted["state"] == "Aborted"
    unprocessed = session.get(
        f"{data_url}/jobs/ingest/{created['id']}/unprocessedrecords", headers=headers
    )
    assert rows(unprocessed.text) == [{"Name": "A"}]
    listing = session.get(f"{data_url}/jobs/ingest", headers=headers).json()
    assert created["id"] in [j["id"] for j in listing["records"]]
    deleted = session.delete(f"{data_url}/jobs/ingest/{created['id']}", headers=headers)
    assert deleted.status_code == 204
    missing = session.get(f"{data_url}/jobs/ingest/{created['id']}", headers=headers)
    assert missing.status_code == 404


def test_a_job_uploaded_twice_cannot_be_closed_and_loads_nothing(
    sf: Any, org: Org
) -> None:
    """Salesforce takes one upload per job: a client that sends its data again (a
    retried PUT) gets the job refused at close, never its rows loaded twice."""
    client = sf.bulk2.Contact._client
    job_id = client.create_job("insert")["id"]
    data = "LastName,Email\nA,a@example.com\n"
    client.upload_job_data(job_id, data)
    client.upload_job_data(job_id, data)

    with pytest.raises(SalesforceMalformedRequest) as refused:
        client.close_job(job_id)

    assert "INVALIDJOB" in str(refused.value)
    assert "only do 'PUT' once" in str(refused.value)
    assert client.get_job(job_id, False)["state"] == "Open"
    assert org.count("Contact") == 0
