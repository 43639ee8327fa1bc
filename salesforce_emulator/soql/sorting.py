"""ORDER BY: null-aware multi-key sorting, shared by record and aggregate queries."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True, slots=True)
class SortKey:
    value_of: Callable[[Any], Any]  # comparable key of an item, None for null
    descending: bool
    nulls_first: bool


def sort[T](items: list[T], keys: list[SortKey]) -> list[T]:
    """Multi-key sort as successive stable sorts, least significant key first."""
    for key in reversed(keys):
        items.sort(key=_null_aware(key), reverse=key.descending)
    return items


def _null_aware(key: SortKey) -> Callable[[Any], tuple[int, Any]]:
    # Nulls get their own rank so they never compare with values; the rank is chosen
    # so that after an optional reverse they end up first or last as requested.
    null_rank = 0 if key.nulls_first != key.descending else 1
    value_rank = 1 - null_rank
    value_of = key.value_of

    def rank(item: Any) -> tuple[int, Any]:
        value = value_of(item)
        return (null_rank, "") if value is None else (value_rank, value)

    return rank
