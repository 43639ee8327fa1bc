"""Limits of sObject Collections create and update that depend on the records' types.

Salesforce processes a request's records in order, in "chunks" of consecutive records
of the same type ({account1, account2, contact1, account3} is three chunks), and one
request may hold at most ten chunks. A request over the limit is refused as a whole,
before any record is written.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, Final

from salesforce_emulator.errors import ApiError

MAX_CHUNKS: Final = 10
TOO_MANY_CHUNKS: Final = (
    f"Cannot have more than {MAX_CHUNKS} chunks in a single operation. Please "
    "rearrange the data to reduce chunking."
)


def chunk_count(records: Sequence[Any]) -> int:
    """How many runs of consecutive same-type records ``records`` holds."""
    chunks = 0
    previous: str | None = None
    for record in records:
        current = _type_of(record)
        if chunks == 0 or current != previous:
            chunks += 1
        previous = current
    return chunks


def check_chunks(records: Sequence[Any]) -> None:
    if chunk_count(records) > MAX_CHUNKS:
        raise ApiError(400, "EXCEEDED_MAX_TYPES_LIMIT", TOO_MANY_CHUNKS)


def _type_of(record: Any) -> str:
    attributes = record.get("attributes") if isinstance(record, dict) else None
    name = attributes.get("type") if isinstance(attributes, dict) else None
    return str(name or "").lower()
