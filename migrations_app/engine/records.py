"""Turn one source record into the values sent to the target. Pure functions."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

# resolve(field name, objects it may point to, source id) -> target id, or None.
Resolver = Callable[[str, tuple[str, ...], str], "str | None"]


@dataclass(frozen=True)
class MissingParent:
    field: str
    source_id: str


@dataclass
class Payload:
    values: dict[str, Any]
    missing: list[MissingParent] = field(default_factory=list)


def build_payload(
    record: Mapping[str, Any],
    *,
    fields: Sequence[str],
    references: Mapping[str, tuple[str, ...]],
    resolve: Resolver,
    skip: Sequence[str] = (),
) -> Payload:
    """Copy ``fields`` of ``record``, rewriting every lookup into a target id.

    A lookup whose parent has no target id is left out of the values and reported in
    ``missing``; the caller applies the object's missing-parent policy.
    """
    payload = Payload(values={})
    for name in fields:
        if name in skip:
            continue
        value = record.get(name)
        if name in references and value:
            target_id = resolve(name, references[name], value)
            if target_id is None:
                payload.missing.append(MissingParent(name, value))
                continue
            value = target_id
        payload.values[name] = value
    return payload


# What json.dumps(sort_keys=True, separators=(",", ":"), default=str) builds on every
# call, built once: the same text, so stored hashes stay comparable.
_HASH_ENCODER = json.JSONEncoder(sort_keys=True, separators=(",", ":"), default=str)


def values_hash(values: Mapping[str, Any]) -> str:
    """A stable fingerprint of the values sent, to skip unchanged records next time."""
    encoded = _HASH_ENCODER.encode(values)
    return hashlib.sha256(encoded.encode()).hexdigest()


def match_key_value(
    record: Mapping[str, Any], key_fields: Sequence[str]
) -> tuple[str, ...] | None:
    """The normalised match key of a record, or None when any part is empty.

    Salesforce compares text case-insensitively in SOQL, so keys are compared the same way.
    """
    parts = []
    for name in key_fields:
        value = record.get(name)
        if value is None or str(value).strip() == "":
            return None
        parts.append(str(value).strip().lower())
    return tuple(parts)


def same_values(sent: Mapping[str, Any], found: Mapping[str, Any]) -> bool:
    """Whether a target record holds exactly the values a create sent (for reconciling)."""
    return all(
        _comparable(found.get(name)) == _comparable(value)
        for name, value in sent.items()
    )


def _comparable(value: Any) -> Any:
    if isinstance(value, bool) or value is None:
        return value
    if isinstance(value, int | float):
        return float(value)
    text = str(value)
    # A datetime sent as ...Z or +00:00 comes back as .000+0000.
    return text.replace(".000+0000", "").replace("+00:00", "").rstrip("Z")
