"""sObject Collections limits: at most ten chunks of same-type records per create or
update request, at most 200 records; read-only system objects cannot be written."""

from __future__ import annotations

from typing import Any

import pytest
from simple_salesforce import Salesforce
from simple_salesforce.exceptions import SalesforceMalformedRequest

from salesforce_emulator import Org
from salesforce_emulator.collection_limits import chunk_count

from .conftest import error_of

TOO_MANY_CHUNKS = {
    "errorCode": "EXCEEDED_MAX_TYPES_LIMIT",
    "message": "Cannot have more than 10 chunks in a single operation. Please "
    "rearrange the data to reduce chunking.",
}


def alternating(chunks: int) -> list[dict[str, Any]]:
    """``chunks`` records alternating Account and Contact: one chunk each."""
    records = []
    for index in range(chunks):
        if index % 2 == 0:
            records.append({"attributes": {"type": "Account"}, "Name": f"A{index}"})
        else:
            records.append({"attributes": {"type": "Contact"}, "LastName": f"C{index}"})
    return records


def create(sf: Salesforce, records: list[dict[str, Any]]) -> Any:
    return sf.restful(
        "composite/sobjects",
        method="POST",
        json={"allOrNone": False, "records": records},
    )


def test_chunks_are_runs_of_one_type() -> None:
    records = [
        {"attributes": {"type": "Account"}},
        {"attributes": {"type": "account"}},
        {"attributes": {"type": "Contact"}},
        {"attributes": {"type": "Account"}},
    ]

    assert chunk_count(records) == 3
    assert chunk_count([]) == 0


def test_ten_chunks_are_accepted(sf: Salesforce, org: Org) -> None:
    results = create(sf, alternating(10))

    assert [r["success"] for r in results] == [True] * 10
    assert (org.count("Account"), org.count("Contact")) == (5, 5)


def test_eleven_chunks_are_refused_before_any_write(sf: Salesforce, org: Org) -> None:
    with pytest.raises(SalesforceMalformedRequest) as caught:
        create(sf, alternating(11))

    assert error_of(caught.value) == TOO_MANY_CHUNKS
    assert (org.count("Account"), org.count("Contact")) == (0, 0)


def test_many_records_of_two_types_in_two_chunks_are_accepted(sf: Salesforce) -> None:
    records = [r for r in alternating(200) if r["attributes"]["type"] == "Account"]
    records += [r for r in alternating(200) if r["attributes"]["type"] == "Contact"]

    results = create(sf, records)

    assert len(results) == 200
    assert all(r["success"] for r in results)


def test_update_has_the_same_chunk_limit(sf: Salesforce, org: Org) -> None:
    records = []
    for index, record in enumerate(alternating(11)):
        sobject = record["attributes"]["type"]
        values = {k: v for k, v in record.items() if k != "attributes"}
        record_id = org.insert(sobject, values)
        records.append({"attributes": {"type": sobject}, "id": record_id})
        records[-1]["Description" if sobject == "Account" else "Title"] = str(index)

    with pytest.raises(SalesforceMalformedRequest) as caught:
        sf.restful("composite/sobjects", method="PATCH", json={"records": records})

    assert error_of(caught.value) == TOO_MANY_CHUNKS


def test_more_than_200_records_is_exceeded_id_limit(sf: Salesforce) -> None:
    records = [{"attributes": {"type": "Account"}, "Name": str(i)} for i in range(201)]

    with pytest.raises(SalesforceMalformedRequest) as caught:
        create(sf, records)

    assert error_of(caught.value) == {
        "errorCode": "EXCEEDED_ID_LIMIT",
        "message": "record limit reached. cannot submit more than 200 records into "
        "this call",
    }


def test_system_objects_cannot_be_created_through_collections(sf: Salesforce) -> None:
    with pytest.raises(SalesforceMalformedRequest) as caught:
        create(sf, [{"attributes": {"type": "Organization"}, "Name": "Hijacked"}])

    assert error_of(caught.value) == {
        "errorCode": "INVALID_TYPE",
        "message": "sObject type 'Organization' is not supported.",
    }
