"""The JSON the client reads and sends: query records as plain dicts, without the
"attributes" Salesforce adds to each record and each related record; inserts sent
as the texts they were hashed and journaled from.

Real simple-salesforce client and requests session against the emulator."""

from __future__ import annotations

import json
from typing import Any

import pytest

from migrations_app.engine.records import canonical_json
from migrations_app.salesforce.client import EncodedRecords
from salesforce_emulator import Emulator, Org
from tests.integration.conftest import client_of

pytestmark = pytest.mark.integration


def test_query_yields_plain_dicts_without_attributes_at_any_depth(
    emulator: Emulator, target: Org
) -> None:
    account_id = target.insert("Account", {"Name": "Acme"})
    target.insert("Contact", {"LastName": "Ng", "AccountId": account_id})

    [record] = client_of(emulator).query(
        "SELECT Id, LastName, Account.Name, Account.Owner.Email FROM Contact"
    )

    assert type(record) is dict
    assert "attributes" not in record
    account = record["Account"]
    assert type(account) is dict
    assert set(account) == {"Name", "Owner"}
    assert account["Name"] == "Acme"
    assert "attributes" not in account["Owner"]
    assert account["Owner"]["Email"]


def test_query_keeps_an_empty_relationship_as_null(
    emulator: Emulator, target: Org
) -> None:
    target.insert("Contact", {"LastName": "Alone"})

    [record] = client_of(emulator).query("SELECT Id, Account.Name FROM Contact")

    assert record["Account"] is None


def test_answers_are_parsed_into_plain_dicts(emulator: Emulator, target: Org) -> None:
    # simple-salesforce parses into OrderedDicts unless told otherwise, two and a
    # half times slower on a page of records.
    describe = client_of(emulator).describe("Contact")

    assert type(describe) is dict
    assert all(type(field) is dict for field in describe["fields"])


SENT: list[dict[str, Any]] = [
    {"LastName": 'Dupont "le grand"', "FirstName": "Zoë", "Phone": None},
    {"LastName": "Ng", "Title": "Ünïcode ☃", "Email": "ng@example.com"},
]


def encoded(records: list[dict[str, Any]]) -> EncodedRecords:
    return EncodedRecords(records, [canonical_json(r) for r in records])


def test_an_encoded_body_is_the_body_the_records_would_make() -> None:
    body = json.loads(encoded([*SENT, {}]).body("Contact"))

    assert body == {
        "allOrNone": False,
        "records": [
            {"attributes": {"type": "Contact"}, **record} for record in [*SENT, {}]
        ],
    }


def test_a_record_without_its_text_is_refused() -> None:
    with pytest.raises(ValueError, match="one text per record"):
        EncodedRecords(SENT, [canonical_json(SENT[0])])


def test_encoded_records_are_inserted_with_their_values(
    emulator: Emulator, target: Org
) -> None:
    results = client_of(emulator).create("Contact", encoded(SENT))

    assert [result.success for result in results] == [True, True]
    for result, values in zip(results, SENT, strict=True):
        assert result.id is not None
        stored = target.get("Contact", result.id)
        assert stored is not None
        assert {name: stored.get(name) for name in values} == values


def test_more_encoded_records_than_a_call_takes_are_refused_before_sending(
    emulator: Emulator, target: Org
) -> None:
    calls = target.api_calls

    with pytest.raises(ValueError, match="at most 200 records"):
        client_of(emulator).create("Contact", encoded([{"LastName": "Ng"}] * 201))

    assert target.api_calls == calls
