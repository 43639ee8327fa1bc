"""Pure parts of the mapping audit: ids, URI-sized chunks, record states, groups."""

from __future__ import annotations

from urllib.parse import quote_plus

import pytest

from migrations_app.engine.audit import (
    URI_LIMIT,
    DuplicateClass,
    RecordState,
    classify_group,
    id_chunks,
    in_chunks,
    record_states,
)
from migrations_app.engine.ids import to_18


@pytest.mark.parametrize(
    ("given", "expected"),
    [
        ("001000000000001", "001000000000001AAA"),
        ("0015g00000AbCdE", "0015g00000AbCdEAAV"),
        ("0015g00000AbCdEAAV", "0015g00000AbCdEAAV"),
        # An 18-character id whose case was lost gets it back from its suffix.
        ("0015G00000ABCDEAAV", "0015g00000AbCdEAAV"),
        ("  001000000000001 ", "001000000000001AAA"),
    ],
)
def test_to_18_accepts_15_and_18_character_ids(given: str, expected: str) -> None:
    assert to_18(given) == expected


@pytest.mark.parametrize("bad", ["", "001", "00100000000000!", "0010000000000010A"])
def test_to_18_refuses_what_is_not_an_id(bad: str) -> None:
    assert to_18(bad) is None


def test_id_chunks_fill_a_uri_and_never_exceed_it() -> None:
    prefix = "SELECT Id, IsDeleted FROM Contact WHERE Id"
    ids = [to_18(f"003000000{i:06d}") or "" for i in range(2000)]

    chunks = list(id_chunks(ids, prefix=prefix))

    assert [i for chunk in chunks for i in chunk] == [i[:15] for i in ids]
    for chunk in chunks:
        soql = f"{prefix} IN ({', '.join(repr(i) for i in chunk)})"
        assert len(quote_plus(soql)) <= URI_LIMIT
    # As large as the limit allows: 1,000 ids take two calls, not more.
    assert len(list(id_chunks(ids[:1000], prefix=prefix))) == 2


def test_in_chunks_keeps_a_value_too_long_for_any_chunk_alone() -> None:
    chunks = list(in_chunks(["a" * 20_000, "b"], prefix="x", budget=100))
    assert chunks == [["a" * 20_000], ["b"]]


def test_record_states_tell_alive_recycle_bin_and_gone() -> None:
    alive, binned, gone = (to_18(f"00300000000000{i}") or "" for i in range(3))
    rows = [
        {"Id": alive, "IsDeleted": False, "LastModifiedById": "005x"},
        {"Id": binned, "IsDeleted": True},
    ]

    states = record_states([alive, binned, gone], rows)

    assert {i: s.state for i, s in states.items()} == {
        alive: RecordState.ALIVE,
        binned: RecordState.RECYCLE_BIN,
        gone: RecordState.GONE,
    }
    assert states[alive].modified_by == "005x"


@pytest.mark.parametrize(
    ("mapped", "expected"),
    [
        ([True, False], DuplicateClass.CREATED_BY_MIGRATION),
        ([True, True], DuplicateClass.CREATED_BY_MIGRATION),
        ([False, False, False], DuplicateClass.PREEXISTING),
    ],
)
def test_classify_group(mapped: list[bool], expected: DuplicateClass) -> None:
    assert classify_group(mapped) is expected
