"""Bulk API 1.0: simple-salesforce's ``sf.bulk`` unchanged, and the protocol itself
(XML and JSON job info, CSV batches, batch states, results, errors) through requests."""

from __future__ import annotations

import csv
import io
import json
import re
from datetime import UTC, datetime
from typing import Any
from xml.etree import ElementTree

import pytest
import requests
from simple_salesforce import Salesforce
from simple_salesforce.exceptions import SalesforceGeneralError

from salesforce_emulator import Emulator, Org, bulk_v1

from .conftest import API_VERSION, bulk_handle

NS = "{http://www.force.com/2009/06/asyncapi/dataload}"


# -- through simple-salesforce ----------------------------------------------------------


def test_bulk_insert_reports_each_record(sf: Salesforce, org: Org) -> None:
    results = bulk_handle(sf, "Contact").insert(
        [
            {"LastName": "Lovelace", "Email": "ada@example.com"},
            {"FirstName": "No last name"},
            {"LastName": "Hopper"},
        ],
        batch_size=2,
    )

    assert [r["success"] for r in results] == [True, False, True]
    assert [r["created"] for r in results] == [True, False, True]
    assert results[1] == {
        "success": False,
        "created": False,
        "id": None,
        "errors": [
            {
                "message": "Required fields are missing: [LastName]",
                "fields": ["LastName"],
                "statusCode": "REQUIRED_FIELD_MISSING",
            }
        ],
    }
    stored = {r["Id"]: r["LastName"] for r in org.records("Contact")}
    assert stored == {results[0]["id"]: "Lovelace", results[2]["id"]: "Hopper"}


def test_bulk_update_upsert_and_delete(sf: Salesforce, org: Org) -> None:
    first = org.insert("Contact", {"LastName": "One", "Legacy_Id__c": "L-1"})
    second = org.insert("Contact", {"LastName": "Two"})

    updated = bulk_handle(sf, "Contact").update([{"Id": second, "LastName": "Deux"}])
    upserted = bulk_handle(sf, "Contact").upsert(
        [
            {"Legacy_Id__c": "L-1", "LastName": "Uno"},
            {"Legacy_Id__c": "L-3", "LastName": "Tres"},
        ],
        "Legacy_Id__c",
    )
    deleted = bulk_handle(sf, "Contact").delete([{"Id": first}])

    assert updated == [{"success": True, "created": False, "id": second, "errors": []}]
    assert [(r["id"] == first, r["created"]) for r in upserted] == [
        (True, False),
        (False, True),
    ]
    assert deleted == [{"success": True, "created": False, "id": first, "errors": []}]
    live = {r["LastName"] for r in org.records("Contact")}
    assert live == {"Deux", "Tres"}


def test_bulk_delete_of_an_unknown_id_fails_that_record(
    sf: Salesforce, org: Org
) -> None:
    gone = org.insert("Contact", {"LastName": "Gone"})
    org.delete("Contact", gone)

    results = bulk_handle(sf, "Contact").delete([{"Id": gone}])

    assert results[0]["success"] is False
    assert results[0]["id"] == gone
    assert results[0]["errors"][0]["statusCode"] == "ENTITY_IS_DELETED"


def test_bulk_query_returns_records_with_epoch_dates(sf: Salesforce, org: Org) -> None:
    account = org.insert("Account", {"Name": "Acme"})
    contact = org.insert("Contact", {"LastName": "Lovelace", "AccountId": account})
    created = org.get("Contact", contact)
    assert created is not None

    records = bulk_handle(sf, "Contact").query(
        "SELECT Id, LastName, Account.Name, CreatedDate FROM Contact", wait=0
    )

    assert len(records) == 1
    record = records[0]
    assert record["attributes"]["type"] == "Contact"
    assert record["Id"] == contact
    assert record["Account"]["Name"] == "Acme"
    # Bulk API 1.0 JSON gives datetimes as milliseconds since the epoch.
    moment = datetime.strptime(created["CreatedDate"], "%Y-%m-%dT%H:%M:%S.%f%z")
    assert record["CreatedDate"] == int(moment.astimezone(UTC).timestamp() * 1000)


def test_bulk_query_all_includes_deleted_records(sf: Salesforce, org: Org) -> None:
    kept = org.insert("Contact", {"LastName": "Kept"})
    gone = org.insert("Contact", {"LastName": "Gone"})
    org.delete("Contact", gone)

    live = bulk_handle(sf, "Contact").query("SELECT Id FROM Contact", wait=0)
    everything = bulk_handle(sf, "Contact").query_all("SELECT Id FROM Contact", wait=0)

    assert [r["Id"] for r in live] == [kept]
    assert sorted(r["Id"] for r in everything) == sorted([kept, gone])


def test_a_bad_bulk_query_fails_its_batch(sf: Salesforce) -> None:
    with pytest.raises(SalesforceGeneralError) as caught:
        bulk_handle(sf, "Contact").query("SELECT Nope FROM Contact", wait=0)

    # simple-salesforce raises it with the batch's state message, a str (typed bytes).
    message: object = caught.value.content
    assert isinstance(message, str), message
    assert message.startswith(
        "InvalidBatch : Failed to process query: INVALID_FIELD: No such column 'Nope'"
    )


# -- the protocol through requests -------------------------------------------------------


class Bulk:
    """A tiny Bulk API 1.0 client speaking XML job info and CSV batches."""

    def __init__(self, session: requests.Session, base_url: str, token: str) -> None:
        self.http = session
        self.root = f"{base_url}/services/async/{API_VERSION}"
        self.token = token

    def call(
        self,
        method: str,
        path: str,
        body: str | bytes = b"",
        content_type: str = "application/xml; charset=UTF-8",
        accept: str | None = None,
    ) -> requests.Response:
        headers = {"X-SFDC-Session": self.token, "Content-Type": content_type}
        if accept:
            headers["Accept"] = accept
        data = body.encode() if isinstance(body, str) else body
        return self.http.request(
            method, f"{self.root}/{path}", data=data, headers=headers
        )

    def create_job(
        self, operation: str, sobject: str, extra: str = ""
    ) -> requests.Response:
        return self.call(
            "POST",
            "job",
            f'<?xml version="1.0" encoding="UTF-8"?><jobInfo xmlns="{NS[1:-1]}">'
            f"<operation>{operation}</operation><object>{sobject}</object>{extra}"
            "<contentType>CSV</contentType></jobInfo>",
        )

    def set_state(self, job_id: str, state: str) -> requests.Response:
        return self.call(
            "POST",
            f"job/{job_id}",
            f'<jobInfo xmlns="{NS[1:-1]}"><state>{state}</state></jobInfo>',
        )

    def add_csv_batch(self, job_id: str, text: str) -> requests.Response:
        return self.call("POST", f"job/{job_id}/batch", text, "text/csv; charset=UTF-8")


def xml_fields(response: requests.Response) -> dict[str, str | None]:
    root = ElementTree.fromstring(response.content)
    return {child.tag.removeprefix(NS): child.text for child in root}


def xml_error(response: requests.Response) -> dict[str, str | None]:
    assert response.status_code == 400, response.text
    root = ElementTree.fromstring(response.content)
    assert root.tag == f"{NS}error"
    return xml_fields(response)


@pytest.fixture
def bulk(fresh: Emulator, session: requests.Session, token: str) -> Bulk:
    return Bulk(session, fresh.base_url, token)


def test_xml_job_info_follows_the_documented_shape(bulk: Bulk, org: Org) -> None:
    response = bulk.create_job("insert", "account")

    assert response.status_code == 201
    assert response.headers["Content-Type"].startswith("application/xml")
    assert ElementTree.fromstring(response.content).tag == f"{NS}jobInfo"
    info = xml_fields(response)
    assert list(info) == [
        "id", "operation", "object", "createdById", "createdDate", "systemModstamp",
        "state", "concurrencyMode", "contentType", "numberBatchesQueued",
        "numberBatchesInProgress", "numberBatchesCompleted", "numberBatchesFailed",
        "numberBatchesTotal", "numberRecordsProcessed", "numberRetries", "apiVersion",
        "numberRecordsFailed", "totalProcessingTime", "apiActiveProcessingTime",
        "apexProcessingTime",
    ]  # fmt: skip
    assert info["id"] is not None
    assert info["id"].startswith("750")
    assert (info["object"], info["state"], info["contentType"]) == (
        "Account",
        "Open",
        "CSV",
    )
    assert info["createdById"] == org.integration_user_id
    assert re.fullmatch(
        r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z", info["createdDate"] or ""
    )
    assert info["apiVersion"] == API_VERSION


def test_csv_batch_lifecycle_and_results(bulk: Bulk, org: Org) -> None:
    job_id = xml_fields(bulk.create_job("insert", "Account"))["id"]
    assert job_id is not None

    accepted = bulk.add_csv_batch(job_id, 'Name,Industry\nAcme,Energy\n"",Media\n')

    assert accepted.status_code == 201
    batch = xml_fields(accepted)
    assert batch["state"] == "Queued"
    assert batch["jobId"] == job_id
    batch_id = str(batch["id"])
    done = xml_fields(bulk.call("GET", f"job/{job_id}/batch/{batch_id}"))
    assert (done["state"], done["numberRecordsProcessed"]) == ("Completed", "2")
    assert done["numberRecordsFailed"] == "1"
    results = bulk.call("GET", f"job/{job_id}/batch/{batch_id}/result")
    rows = list(csv.reader(io.StringIO(results.text)))
    acme = org.records("Account")[0]["Id"]
    assert rows == [
        ["Id", "Success", "Created", "Error"],
        [acme, "true", "true", ""],
        ["", "false", "false", "REQUIRED_FIELD_MISSING:Required fields are missing: "
         "[Name]:Name --"],
    ]  # fmt: skip
    request_body = bulk.call("GET", f"job/{job_id}/batch/{batch_id}/request")
    assert request_body.text == 'Name,Industry\nAcme,Energy\n"",Media\n'

    closed = xml_fields(bulk.set_state(job_id, "Closed"))

    assert closed["state"] == "Closed"
    assert closed["numberBatchesCompleted"] == closed["numberBatchesTotal"] == "1"
    assert (closed["numberRecordsProcessed"], closed["numberRecordsFailed"]) == (
        "2",
        "1",
    )
    refused = xml_error(bulk.add_csv_batch(job_id, "Name\nLate\n"))
    assert refused["exceptionCode"] == "InvalidJobState"
    assert [r["Name"] for r in org.records("Account")] == ["Acme"]


def test_csv_query_batch_gives_a_result_id_then_rows(bulk: Bulk, org: Org) -> None:
    org.insert("Account", {"Name": "Acme", "Industry": "Energy"})
    job_id = str(xml_fields(bulk.create_job("query", "Account"))["id"])
    batch_id = str(
        xml_fields(
            bulk.call(
                "POST",
                f"job/{job_id}/batch",
                "SELECT Name, Industry FROM Account",
                "text/csv",
            )
        )["id"]
    )

    listing = bulk.call("GET", f"job/{job_id}/batch/{batch_id}/result")

    root = ElementTree.fromstring(listing.content)
    assert root.tag == f"{NS}result-list"
    result_id = root.findtext(f"{NS}result")
    assert result_id is not None
    assert result_id.startswith("752")
    rows = bulk.call("GET", f"job/{job_id}/batch/{batch_id}/result/{result_id}")
    assert rows.headers["Content-Type"].startswith("text/csv")
    assert rows.text == '"Name","Industry"\n"Acme","Energy"\n'


def test_json_is_answered_when_asked(bulk: Bulk) -> None:
    response = bulk.call(
        "POST",
        "job",
        json.dumps({"operation": "insert", "object": "Account", "contentType": "CSV"}),
        "application/json",
    )

    assert response.status_code == 201
    info = response.json()
    assert info["state"] == "Open"
    assert info["apiVersion"] == float(API_VERSION)
    assert info["createdDate"].endswith("+0000")
    listing = bulk.call("GET", f"job/{info['id']}/batch", accept="application/json")
    assert listing.json() == {"batchInfo": []}


def test_aborting_a_job(bulk: Bulk) -> None:
    job_id = str(xml_fields(bulk.create_job("insert", "Account"))["id"])

    aborted = xml_fields(bulk.set_state(job_id, "Aborted"))

    assert aborted["state"] == "Aborted"
    again = xml_error(bulk.set_state(job_id, "Closed"))
    assert again["exceptionCode"] == "InvalidJobState"


def test_a_batch_over_the_record_limit_fails(
    bulk: Bulk, org: Org, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Salesforce's limit is 10,000 records; a lower one keeps the test fast.
    monkeypatch.setattr(bulk_v1, "MAX_RECORDS_PER_BATCH", 2)
    job_id = str(xml_fields(bulk.create_job("insert", "Account"))["id"])
    batch_id = str(xml_fields(bulk.add_csv_batch(job_id, "Name\nA\nB\nC\n"))["id"])

    batch = xml_fields(bulk.call("GET", f"job/{job_id}/batch/{batch_id}"))

    assert batch["state"] == "Failed"
    assert batch["stateMessage"] == (
        "InvalidBatch : Records in a batch can't exceed 2: 3 given"
    )
    assert org.count("Account") == 0
    no_results = xml_error(bulk.call("GET", f"job/{job_id}/batch/{batch_id}/result"))
    assert no_results["exceptionCode"] == "InvalidBatch"


def test_an_unknown_csv_column_fails_the_batch(bulk: Bulk, org: Org) -> None:
    job_id = str(xml_fields(bulk.create_job("insert", "Account"))["id"])
    batch_id = str(xml_fields(bulk.add_csv_batch(job_id, "Name,Nope\nA,1\n"))["id"])

    batch = xml_fields(bulk.call("GET", f"job/{job_id}/batch/{batch_id}"))

    assert batch["state"] == "Failed"
    assert batch["stateMessage"] == "InvalidBatch : Field name not found : Nope"
    assert org.count("Account") == 0


@pytest.mark.parametrize(
    ("path", "body", "code", "message"),
    [
        (
            "job/750000000000000AAA",
            "",
            "InvalidJob",
            "Invalid job id: 750000000000000AAA",
        ),
        (
            "job",
            f'<jobInfo xmlns="{NS[1:-1]}"><operation>insert</operation>'
            "<object>Nope__c</object></jobInfo>",
            "InvalidJob",
            "Unable to find object: Nope__c",
        ),
        (
            "job",
            f'<jobInfo xmlns="{NS[1:-1]}"><operation>upsert</operation>'
            "<object>Contact</object><contentType>CSV</contentType></jobInfo>",
            "InvalidJob",
            "External ID was blank for Contact. An External ID must be specified for "
            "upsert.",
        ),
        (
            "job",
            f'<jobInfo xmlns="{NS[1:-1]}"><operation>merge</operation>'
            "<object>Contact</object></jobInfo>",
            "InvalidJob",
            "Invalid operation: merge",
        ),
        ("job", "<jobInfo", "InvalidXML", None),
    ],
)
def test_protocol_errors(
    bulk: Bulk, path: str, body: str, code: str, message: str | None
) -> None:
    response = bulk.call("POST" if body else "GET", path, body)

    error = xml_error(response)
    assert error["exceptionCode"] == code
    if message is not None:
        assert error["exceptionMessage"] == message


def test_a_bad_session_is_invalid_session_id(bulk: Bulk) -> None:
    bulk.token = "00Dnope!nope"

    as_xml = xml_error(bulk.create_job("insert", "Account"))
    as_json = bulk.call("GET", "job/750000000000000AAA", accept="application/json")

    assert as_xml == {
        "exceptionCode": "InvalidSessionId",
        "exceptionMessage": "Invalid session id",
    }
    assert as_json.status_code == 400
    expected: dict[str, Any] = {
        "exceptionCode": "InvalidSessionId",
        "exceptionMessage": "Invalid session id",
    }
    assert as_json.json() == expected
