"""Turn one source record into the values sent to the target. Pure functions."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from decimal import Decimal
from json.encoder import c_make_encoder, encode_basestring_ascii  # type: ignore[attr-defined]
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
    values = {name: record.get(name) for name in fields if name not in skip}
    missing: list[MissingParent] = []
    if references:
        for name in fields:
            value = values.get(name)
            if not value or name not in references:
                continue
            target_id = resolve(name, references[name], value)
            if target_id is None:
                missing.append(MissingParent(name, value))
                del values[name]
            else:
                values[name] = target_id
    return Payload(values, missing)


def _canonical_encoder() -> Callable[[Any], str]:
    """``json.dumps(value, sort_keys=True, separators=(",", ":"), default=str)``.

    ``JSONEncoder.encode`` builds a new C encoder on every call, which costs as much
    as encoding a record itself, and a first run encodes every record it sends. So
    CPython's C encoder is built once, with the settings ``encode`` gives it, and
    kept only if it writes the very same text (stored hashes must stay comparable);
    otherwise the public encoder is used.
    """
    public = json.JSONEncoder(sort_keys=True, separators=(",", ":"), default=str)
    if c_make_encoder is None:
        return public.encode
    try:
        # markers (no circular check: values are flat), default, string encoder,
        # indent, key separator, item separator, sort_keys, skipkeys, allow_nan.
        encoder = c_make_encoder(
            None, str, encode_basestring_ascii, None, ":", ",", True, False, True
        )
    except TypeError:  # another Python's signature
        return public.encode

    def encode(value: Any) -> str:
        return "".join(encoder(value, 0))

    sample = {"b": [1.5, None, True, -2], "a": 'é "x"', "c": Decimal("1.10")}
    return encode if encode(sample) == public.encode(sample) else public.encode


canonical_json = _canonical_encoder()


def text_hash(canonical: str) -> str:
    """The values hash of values already encoded by ``canonical_json``."""
    return hashlib.sha256(canonical.encode()).hexdigest()


def values_hash(values: Mapping[str, Any]) -> str:
    """A stable fingerprint of the values sent, to skip unchanged records next time."""
    return text_hash(canonical_json(values))


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
