"""Duplicates by match key: those in the target now, and those a veid run would make.

In the target, one aggregate query per object finds the match-key values held by more
than one record; only those records are then read. Before a run, the unmapped source
records are looked up in the target one page (2,000 records) at a time, one query per
page, to predict how many records ``veid`` would duplicate.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from typing import Any

from django.db.models import QuerySet

from migrations_app.engine import soql
from migrations_app.engine.audit import (
    URI_LIMIT,
    URI_RESERVE,
    DuplicateClass,
    classify_group,
    encoded_length,
    in_chunks,
)
from migrations_app.engine.records import match_key_value
from migrations_app.models import Org, RecordMapping
from migrations_app.salesforce.client import SalesforceClient
from migrations_app.services.context import chunked
from migrations_app.services.orgs import org_client

# Aggregate queries cannot page: at most this many duplicated keys per object.
MAX_DUPLICATE_KEYS = 2000
SOURCE_PAGE = 2000

Key = tuple[str, ...]


@dataclass(frozen=True)
class GroupRecord:
    id: str
    values: dict[str, Any]
    created_date: str
    created_by: str
    mapping_id: int | None = None
    source_id: str = ""
    created_by_run: int | None = None

    def as_dict(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "values": self.values,
            "created_date": self.created_date,
            "created_by": self.created_by,
            "mapped": self.mapping_id is not None,
            "mapping_id": self.mapping_id,
            "source_id": self.source_id,
            "created_by_run": self.created_by_run,
        }


@dataclass(frozen=True)
class DuplicateGroup:
    key: Key
    kind: DuplicateClass
    records: list[GroupRecord]

    def as_dict(self) -> dict[str, Any]:
        return {
            "key": list(self.key),
            "kind": str(self.kind),
            "records": [record.as_dict() for record in self.records],
        }


# In the target -------------------------------------------------------------------------


def duplicate_groups(
    *,
    client: SalesforceClient,
    sobject: str,
    key_fields: Sequence[str],
    mappings: QuerySet[RecordMapping],
) -> list[DuplicateGroup]:
    """Groups of target records sharing a match-key value, each classified."""
    if not key_fields:
        return []
    keys = _duplicated_keys(client, sobject, key_fields)
    if not keys:
        return []
    by_key: dict[Key, list[dict[str, Any]]] = {}
    for record in _records_with_keys(client, sobject, key_fields, keys):
        key = match_key_value(record, key_fields)
        if key in keys:
            by_key.setdefault(key, []).append(record)
    ids = [r["Id"] for records in by_key.values() for r in records]
    mapped = {m.target_id: m for m in mappings.filter(target_id__in=ids)}
    groups = [
        _group(key, records, key_fields, mapped)
        for key, records in sorted(by_key.items())
        if len(records) > 1
    ]
    return groups


def duplicate_counts(groups: Sequence[DuplicateGroup]) -> dict[str, int]:
    """Groups per class, every class present."""
    return {
        kind.value: sum(1 for group in groups if group.kind is kind)
        for kind in DuplicateClass
    }


def _duplicated_keys(
    client: SalesforceClient, sobject: str, key_fields: Sequence[str]
) -> set[Key]:
    fields = ", ".join(key_fields)
    conditions = " AND ".join(f"{name} != null" for name in key_fields)
    query = (
        f"SELECT {fields}, COUNT(Id) FROM {sobject} WHERE {conditions} "
        f"GROUP BY {fields} HAVING COUNT(Id) > 1 LIMIT {MAX_DUPLICATE_KEYS}"
    )
    keys = set()
    for row in client.query(query):
        key = match_key_value(row, key_fields)
        if key is not None:
            keys.add(key)
    return keys


def _records_with_keys(
    client: SalesforceClient,
    sobject: str,
    key_fields: Sequence[str],
    keys: set[Key],
) -> Iterator[dict[str, Any]]:
    """The records holding ``keys``, read by the first key field in URI-sized chunks."""
    fields = ["Id", *key_fields, "CreatedDate", "CreatedById", "CreatedBy.Name"]
    prefix = f"SELECT {', '.join(fields)} FROM {sobject} WHERE {key_fields[0]}"
    first_values = sorted({key[0] for key in keys})
    for chunk in in_chunks(first_values, prefix=prefix):
        yield from client.query(f"{prefix} IN ({', '.join(map(soql.quote, chunk))})")


def _group(
    key: Key,
    records: list[dict[str, Any]],
    key_fields: Sequence[str],
    mapped: dict[str, RecordMapping],
) -> DuplicateGroup:
    members = []
    for record in sorted(records, key=lambda r: (r.get("CreatedDate") or "", r["Id"])):
        mapping = mapped.get(record["Id"])
        creator = record.get("CreatedBy") or {}
        members.append(
            GroupRecord(
                id=record["Id"],
                values={name: record.get(name) for name in key_fields},
                created_date=record.get("CreatedDate") or "",
                created_by=creator.get("Name") or record.get("CreatedById") or "",
                mapping_id=mapping.pk if mapping else None,
                source_id=mapping.source_id if mapping else "",
                created_by_run=mapping.created_by_run_id if mapping else None,
            )
        )
    kind = classify_group([m.mapping_id is not None for m in members])
    return DuplicateGroup(key=key, kind=kind, records=members)


# Before a run --------------------------------------------------------------------------


@dataclass
class Twins:
    """Unmapped source records of one object and their match-key twins in the target."""

    sobject: str
    key_fields: tuple[str, ...]
    pairs: dict[str, list[str]] = field(default_factory=dict)  # source id -> targets


def preflight_duplicates(
    *,
    template_snapshot: dict[str, Any],
    source_org: Org,
    target_org: Org,
) -> dict[str, int]:
    """Per object with a match key: how many unmapped source records already have a
    twin in the target, that is how many records a ``veid`` run would duplicate."""
    return {
        twins.sobject: len(twins.pairs)
        for twins in find_twins(
            template_snapshot=template_snapshot,
            source_org=source_org,
            target_org=target_org,
        )
    }


def find_twins(
    *,
    template_snapshot: dict[str, Any],
    source_org: Org,
    target_org: Org,
    only: str = "",
) -> list[Twins]:
    """Twins of every template object with a match key (or of ``only`` that one)."""
    source, target = org_client(source_org), org_client(target_org)
    found = []
    for item in template_snapshot.get("objects", []):
        key_fields = tuple(item.get("match_key") or ())
        if not key_fields or (only and item["sobject"] != only):
            continue
        twins = Twins(item["sobject"], key_fields)
        query = soql.select(
            twins.sobject,
            ["Id", *key_fields],
            [item.get("filter") or "", *(f"{name} != null" for name in key_fields)],
        )
        for page in chunked(source.query(query), SOURCE_PAGE):
            _page_twins(twins, page, target, source_org, target_org)
        found.append(twins)
    return found


def _page_twins(
    twins: Twins,
    page: list[dict[str, Any]],
    target: SalesforceClient,
    source_org: Org,
    target_org: Org,
) -> None:
    mapped = set(
        RecordMapping.objects.filter(
            source_org=source_org,
            target_org=target_org,
            sobject=twins.sobject,
            source_id__in=[record["Id"] for record in page],
        ).values_list("source_id", flat=True)
    )
    keys = {
        record["Id"]: key
        for record in page
        if record["Id"] not in mapped
        and (key := match_key_value(record, twins.key_fields)) is not None
    }
    if not keys:
        return
    in_target = _target_ids_by_key(target, twins, set(keys.values()))
    for source_id, key in keys.items():
        if key in in_target:
            twins.pairs[source_id] = in_target[key]


def _target_ids_by_key(
    target: SalesforceClient, twins: Twins, keys: set[Key]
) -> dict[Key, list[str]]:
    """One query for a page's keys: REST when it fits a URI, else a Bulk API query."""
    conditions = [
        soql.in_list(name, sorted({key[i] for key in keys}))
        for i, name in enumerate(twins.key_fields)
    ]
    query = soql.select(twins.sobject, ["Id", *twins.key_fields], conditions)
    fits = encoded_length(query) <= URI_LIMIT - URI_RESERVE
    records = target.query(query) if fits else target.query_bulk(twins.sobject, query)
    found: dict[Key, list[str]] = {}
    for record in records:
        key = match_key_value(record, twins.key_fields)
        if key in keys:
            found.setdefault(key, []).append(record["Id"])
    return found
