"""Record ids: checksum (spec §7.1 vectors), normalisation, per-org id spaces."""

from __future__ import annotations

import pytest

from salesforce_emulator import Emulator
from salesforce_emulator.ids import IdSpace, checksum, encode_base62, normalize_id, to18


@pytest.mark.parametrize(
    ("id15", "id18"),
    [
        ("001D000000IqhSL", "001D000000IqhSLIAZ"),
        ("003RO0000035WQg", "003RO0000035WQgYAM"),
        ("a0RE000000IJmcN", "a0RE000000IJmcNMAT"),
        ("aaaaaaaaaaaaaaa", "aaaaaaaaaaaaaaaAAA"),
        ("AbCdEfGhIjKlMnO", "AbCdEfGhIjKlMnOVKV"),
        ("aBcDEfgHIJKLMNO", "aBcDEfgHIJKLMNO025"),
        ("003G000001SUbc4", "003G000001SUbc4IAD"),
    ],
)
def test_checksum_vectors(id15: str, id18: str) -> None:
    assert to18(id15) == id18
    assert checksum(id15) == id18[15:]
    assert normalize_id(id15) == id18
    assert normalize_id(id18) == id18


def test_case_insensitive_18_char_ids_are_restored() -> None:
    assert normalize_id("001d000000iqhsliaz") == "001D000000IqhSLIAZ"
    assert normalize_id("003RO0000035WQGYAM") == "003RO0000035WQgYAM"


@pytest.mark.parametrize(
    "bad",
    [
        "",
        "001",
        "001D000000IqhS!",
        "001D000000IqhSLIA9",
        None,
        42,
        "001D000000IqhSLIAZX",
    ],
)
def test_malformed_ids(bad: object) -> None:
    assert normalize_id(bad) is None


def test_id_space_prefix_pod_counter() -> None:
    space = IdSpace("Ab", counter=0)
    first = space.next_id("001")
    assert first == to18("001Ab0" + encode_base62(1, 9))
    assert space.next_ids("003", 3)[-1].startswith("003Ab0")
    assert space.counter == 4


def test_orgs_have_distinct_id_spaces(emu: Emulator) -> None:
    source, target = emu.org("source"), emu.org("target")
    assert source.organization_id.startswith("00D")
    assert len(source.organization_id) == 18
    assert normalize_id(source.organization_id) == source.organization_id
    assert source.organization_id != target.organization_id
    assert source.ids.pod != target.ids.pod
    a = source.insert("Account", {"Name": "A"})
    b = target.insert("Account", {"Name": "A"})
    assert a != b
    assert a[:3] == b[:3] == "001"
    assert normalize_id(a) == a
    assert normalize_id(b) == b
