"""What the chaos command checks: the target after chaos against a clean reference.

Pure functions on plain data (records as dicts, mappings as pairs), so the detection
itself is tested without processes. Every seeded record has a unique key field (an
Account's Name, a Contact's Email, an Opportunity's Name), which tells which source
record a target record is a copy of.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import asdict, dataclass, field
from typing import Any

OUTCOMES = ("selected", "inserted", "updated", "unchanged", "failed")


@dataclass(frozen=True)
class ObjectData:
    """One object as the chaos command read it back."""

    sobject: str
    key: str
    # Lookup field -> the object it points to, checked through the keys.
    lookups: dict[str, str]
    source: list[dict[str, Any]]
    target: list[dict[str, Any]]
    reference: list[dict[str, Any]]
    # (source id, target id) of the chaos pair's mappings.
    mappings: list[tuple[str, str]]
    # Outcome counts summed over the chaos runs, and over the reference runs.
    counts: dict[str, int]
    reference_counts: dict[str, int]


@dataclass
class ObjectComparison:
    sobject: str
    source: int
    target: int
    reference: int
    duplicates: int
    missing: int
    extra: int
    mappings_lost: int
    mappings_wrong: int
    lookups_wrong: int
    counts: dict[str, int] = field(default_factory=dict)
    reference_counts: dict[str, int] = field(default_factory=dict)

    @property
    def counts_match(self) -> bool:
        return self.counts == self.reference_counts

    @property
    def ok(self) -> bool:
        return (
            self.target == self.reference
            and not any(
                (
                    self.duplicates,
                    self.missing,
                    self.extra,
                    self.mappings_lost,
                    self.mappings_wrong,
                    self.lookups_wrong,
                )
            )
            and self.counts_match
        )

    def as_dict(self) -> dict[str, Any]:
        return {**asdict(self), "counts_match": self.counts_match, "ok": self.ok}


def compare_object(data: ObjectData, keys_by_id: dict[str, str]) -> ObjectComparison:
    """Compare one object; ``keys_by_id`` maps every record id (source and target,
    all objects) to its key, to check lookups."""
    source_keys = {r["Id"]: r[data.key] for r in data.source}
    target_keys = {r["Id"]: r[data.key] for r in data.target}
    copies = Counter(target_keys.values())
    wanted = set(source_keys.values())
    lost, wrong = _check_mappings(data.mappings, source_keys, target_keys)
    return ObjectComparison(
        sobject=data.sobject,
        source=len(data.source),
        target=len(data.target),
        reference=len(data.reference),
        duplicates=sum(count - 1 for count in copies.values() if count > 1),
        missing=len(wanted - set(copies)),
        extra=len(set(copies) - wanted),
        mappings_lost=lost,
        mappings_wrong=wrong,
        lookups_wrong=_lookups_wrong(data, keys_by_id),
        counts={name: data.counts.get(name, 0) for name in OUTCOMES},
        reference_counts={
            name: data.reference_counts.get(name, 0) for name in OUTCOMES
        },
    )


def _check_mappings(
    mappings: list[tuple[str, str]],
    source_keys: dict[str, str],
    target_keys: dict[str, str],
) -> tuple[int, int]:
    """Source records with no mapping, and mappings to a record that is not their
    copy (gone from the target, or another record's copy)."""
    mapped = dict(mappings)
    lost = sum(1 for source_id in source_keys if source_id not in mapped)
    wrong = sum(
        1
        for source_id, target_id in mapped.items()
        if source_id in source_keys
        and target_keys.get(target_id) != source_keys[source_id]
    )
    return lost, wrong


def _lookups_wrong(data: ObjectData, keys_by_id: dict[str, str]) -> int:
    """Target records whose lookups point to another parent than their source's."""
    source_by_key = {r[data.key]: r for r in data.source}
    wrong = 0
    for record in data.target:
        original = source_by_key.get(record[data.key])
        if original is None:
            continue
        for name in data.lookups:
            parent_then = keys_by_id.get(original.get(name) or "")
            parent_now = keys_by_id.get(record.get(name) or "")
            if parent_then != parent_now:
                wrong += 1
                break
    return wrong


def keys_by_id(objects: list[ObjectData]) -> dict[str, str]:
    """Every record id of the source, target and reference -> "sObject:key"."""
    keys = {}
    for data in objects:
        for records in (data.source, data.target, data.reference):
            for record in records:
                keys[record["Id"]] = f"{data.sobject}:{record[data.key]}"
    return keys
