"""Strategy decisions, payload building and SOQL text."""

from __future__ import annotations

import hashlib
import json
from datetime import UTC, datetime
from decimal import Decimal

import pytest
from hypothesis import given
from hypothesis import strategies as st

from migrations_app.engine import soql
from migrations_app.engine.records import (
    build_payload,
    canonical_json,
    match_key_value,
    same_values,
    values_hash,
)
from migrations_app.engine.strategy import Action, Mapped, Strategy, decide

TARGET = "0030B0000000001AAA"
OTHER = "0030B0000000002AAA"


@pytest.mark.parametrize(
    ("strategy", "mapping", "matches", "action", "target"),
    [
        (Strategy.NONE, Mapped(TARGET), [OTHER], Action.INSERT, None),
        (Strategy.VEID, None, [OTHER], Action.INSERT, None),
        (Strategy.VEID, Mapped(TARGET), [], Action.UPDATE, TARGET),
        (Strategy.VEID, Mapped(TARGET, outdated=True), [], Action.OUTDATED, TARGET),
        (Strategy.VEID_MATCH, None, [], Action.INSERT, None),
        (Strategy.VEID_MATCH, None, [OTHER], Action.ADOPT, OTHER),
        (Strategy.VEID_MATCH, None, [TARGET, OTHER], Action.AMBIGUOUS, None),
        (Strategy.VEID_MATCH, Mapped(TARGET), [OTHER], Action.UPDATE, TARGET),
    ],
)
def test_decide(
    strategy: Strategy,
    mapping: Mapped | None,
    matches: list[str],
    action: Action,
    target: str | None,
) -> None:
    decision = decide(strategy, mapping=mapping, matches=matches)
    assert decision.action is action
    assert decision.target_id == target


def test_payload_rewrites_lookups_and_reports_missing_parents() -> None:
    parents = {"001A": "001B"}
    payload = build_payload(
        {
            "Id": "003A",
            "LastName": "Ng",
            "AccountId": "001A",
            "ReportsToId": "003Z",
            "Email": None,
        },
        fields=("LastName", "AccountId", "ReportsToId", "Email"),
        references={"AccountId": ("Account",), "ReportsToId": ("Contact",)},
        resolve=lambda field, refs, source_id: parents.get(source_id),
    )
    assert payload.values == {"LastName": "Ng", "AccountId": "001B", "Email": None}
    assert [(m.field, m.source_id) for m in payload.missing] == [
        ("ReportsToId", "003Z")
    ]


def payload_field_by_field(
    record: dict[str, object],
    fields: list[str],
    references: dict[str, tuple[str, ...]],
    parents: dict[str, str],
    skip: list[str],
) -> tuple[dict[str, object], list[tuple[str, object]]]:
    """What a payload holds, worked out one field at a time in the fields' order."""
    values: dict[str, object] = {}
    missing = []
    for name in fields:
        if name in skip:
            continue
        value = record.get(name)
        if name in references and value:
            if value not in parents:
                missing.append((name, value))
                continue
            value = parents[value]
        values[name] = value
    return values, missing


NAMES = st.sampled_from(["A", "B", "C", "D", "E"])


@given(
    record=st.dictionaries(
        NAMES, st.one_of(st.none(), st.sampled_from(["", "p1", "p2", "x"]))
    ),
    fields=st.lists(NAMES, unique=True),
    lookups=st.sets(NAMES),
    parents=st.dictionaries(
        st.sampled_from(["p1", "p2"]), st.sampled_from(["t1", "t2"])
    ),
    skip=st.lists(NAMES),
)
def test_a_payload_is_the_record_s_fields_with_their_lookups_rewritten(
    record: dict[str, object],
    fields: list[str],
    lookups: set[str],
    parents: dict[str, str],
    skip: list[str],
) -> None:
    """Values in the fields' order, a lookup rewritten or left out as missing, a
    skipped field left out, and an empty lookup kept as it is."""
    references: dict[str, tuple[str, ...]] = {name: ("Account",) for name in lookups}
    payload = build_payload(
        record,
        fields=fields,
        references=references,
        resolve=lambda name, refs, source_id: parents.get(source_id),
        skip=skip,
    )
    values, missing = payload_field_by_field(record, fields, references, parents, skip)
    assert list(payload.values.items()) == list(values.items())
    assert [(m.field, m.source_id) for m in payload.missing] == missing


def test_values_hash_ignores_key_order_and_sees_value_changes() -> None:
    assert values_hash({"a": 1, "b": "x"}) == values_hash({"b": "x", "a": 1})
    assert values_hash({"a": 1}) != values_hash({"a": 2})


# What a field can hold once read from Salesforce, and what a transform may produce.
FIELD_VALUES = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(),
    st.floats(allow_nan=False, allow_infinity=False),
    st.text(),
    st.decimals(allow_nan=False, allow_infinity=False),
    st.datetimes(),
)


@given(st.dictionaries(st.text(min_size=1), FIELD_VALUES))
def test_canonical_json_is_the_text_stored_hashes_were_made_from(
    values: dict[str, object],
) -> None:
    """Mappings saved by earlier versions hold sha256 of this exact text: a different
    text would make every record look changed on the next run."""
    text = json.dumps(values, sort_keys=True, separators=(",", ":"), default=str)
    assert canonical_json(values) == text
    assert values_hash(values) == hashlib.sha256(text.encode()).hexdigest()


def test_values_hash_of_a_known_record_is_unchanged() -> None:
    values = {"Name": 'Café "Ø"', "Amount": Decimal("10.50"), "Open": True}
    values["Since"] = datetime(2026, 1, 2, 3, 4, 5, tzinfo=UTC)
    assert values_hash(values) == (
        hashlib.sha256(
            b'{"Amount":"10.50","Name":"Caf\\u00e9 \\"\\u00d8\\"","Open":true,'
            b'"Since":"2026-01-02 03:04:05+00:00"}'
        ).hexdigest()
    )


def test_match_key_is_case_insensitive_and_empty_keys_do_not_match() -> None:
    assert match_key_value({"Email": " Alice@Example.com "}, ["Email"]) == (
        "alice@example.com",
    )
    assert match_key_value({"Email": ""}, ["Email"]) is None
    assert (
        match_key_value({"Name": "A", "BillingCity": None}, ["Name", "BillingCity"])
        is None
    )


def test_same_values_compares_as_salesforce_returns_them() -> None:
    assert same_values(
        {"Amount": 10, "CloseDate": "2024-01-15"},
        {"Amount": 10.0, "CloseDate": "2024-01-15"},
    )
    assert same_values(
        {"When__c": "2024-01-15T10:30:00Z"}, {"When__c": "2024-01-15T10:30:00.000+0000"}
    )
    assert not same_values({"LastName": "Ng"}, {"LastName": "Ngo"})


def test_quote_escapes_quotes_and_backslashes() -> None:
    assert soql.quote("O'Brien\\") == "'O\\'Brien\\\\'"
    assert soql.in_list("Email", ["a", "b"]) == "Email IN ('a', 'b')"
    assert soql.select("Contact", ["Id"], ["", "A = 1", "B = 2 OR C = 3"]) == (
        "SELECT Id FROM Contact WHERE (A = 1) AND (B = 2 OR C = 3)"
    )


def test_hierarchy_levels_partition_the_tree() -> None:
    assert soql.hierarchy_level("ParentId", "Parent", 0) == "ParentId = null"
    assert (
        soql.hierarchy_level("ParentId", "Parent", 1)
        == "ParentId != null AND Parent.ParentId = null"
    )
    assert soql.hierarchy_level("ParentId", "Parent", 2) == (
        "Parent.ParentId != null AND Parent.Parent.ParentId = null"
    )
    assert (
        soql.hierarchy_level("ParentId", "Parent", 5)
        == "Parent.Parent.Parent.Parent.ParentId != null"
    )
