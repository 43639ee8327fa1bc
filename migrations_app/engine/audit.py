"""Pure decisions of a mapping audit: id chunks, record states, duplicate classes."""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from enum import StrEnum
from typing import Any
from urllib.parse import quote_plus

from migrations_app.engine.ids import to_15
from migrations_app.engine.soql import quote

# Salesforce refuses a request URI longer than 16,384 bytes (414) and a SOQL statement
# longer than 100,000 characters. A query travels as `...query/?q=<encoded SOQL>`;
# the budget leaves room for the instance URL and the version path.
URI_LIMIT = 16_384
URI_RESERVE = 400
SOQL_LIMIT = 100_000


class RecordState(StrEnum):
    ALIVE = "alive"
    RECYCLE_BIN = "recycle_bin"
    GONE = "gone"


@dataclass(frozen=True)
class Seen:
    """What the org says about one mapped record id."""

    state: RecordState
    modified_by: str = ""
    modified_at: str = ""


class DuplicateClass(StrEnum):
    CREATED_BY_MIGRATION = "created_by_migration"
    PREEXISTING = "preexisting"


def encoded_length(soql: str) -> int:
    """Bytes the statement takes in a query URI."""
    return len(quote_plus(soql))


def in_chunks(
    values: Iterable[str], *, prefix: str, suffix: str = "", budget: int = 0
) -> Iterator[list[str]]:
    """Split ``values`` into lists whose `prefix IN (...) suffix` query fits a URI.

    Chunks are as large as the URI and SOQL limits allow, so checking N ids costs
    about N / 700 calls (15-character ids), never more.
    """
    budget = budget or URI_LIMIT - URI_RESERVE
    fixed = encoded_length(f"{prefix} IN () {suffix}")
    chunk: list[str] = []
    used = fixed
    for value in values:
        cost = encoded_length(f"{quote(value)}, ")
        if chunk and (used + cost > budget or used + cost > SOQL_LIMIT):
            yield chunk
            chunk, used = [], fixed
        chunk.append(value)
        used += cost
    if chunk:
        yield chunk


def id_chunks(
    ids: Iterable[str], *, prefix: str, suffix: str = ""
) -> Iterator[list[str]]:
    """As ``in_chunks``, with ids in their 15-character form (shorter, same meaning)."""
    return in_chunks((to_15(i) for i in ids), prefix=prefix, suffix=suffix)


def record_states(
    ids: Iterable[str], rows: Iterable[Mapping[str, Any]]
) -> dict[str, Seen]:
    """The state of each id from a queryAll answer: missing means deleted for good."""
    found = {str(row["Id"])[:15]: row for row in rows}
    states = {}
    for record_id in ids:
        row = found.get(record_id[:15])
        if row is None:
            states[record_id] = Seen(RecordState.GONE)
        elif row.get("IsDeleted"):
            states[record_id] = Seen(RecordState.RECYCLE_BIN)
        else:
            states[record_id] = Seen(
                RecordState.ALIVE,
                modified_by=str(row.get("LastModifiedById") or ""),
                modified_at=str(row.get("LastModifiedDate") or ""),
            )
    return states


def classify_group(mapped: Sequence[bool]) -> DuplicateClass:
    """A group of target records sharing a match key, by which of them are mapped.

    The app made the duplicate when a mapped record shares its key with an unmapped
    one, or two mappings point at records with the same key; a group with no mapped
    record was already there.
    """
    if any(mapped):
        return DuplicateClass.CREATED_BY_MIGRATION
    return DuplicateClass.PREEXISTING
