"""Running a parsed query against a catalog of rows."""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from datetime import datetime
from itertools import islice
from typing import Any

from ..schema import ObjectDef
from . import nodes, values
from .errors import SoqlError
from .output import RecordShape
from .resolve import (
    Catalog,
    Getter,
    ParentCache,
    ResolvedPath,
    Row,
    path_getter,
    resolve_path,
    root_object,
)
from .where import WhereCompiler


@dataclass
class QueryResult:
    total_size: int
    records: list[dict[str, Any]]  # REST JSON shape
    is_count: bool


def execute(
    query: nodes.Query,
    catalog: Catalog,
    *,
    api_version: str,
    include_deleted: bool,
    now: datetime | None = None,
) -> QueryResult:
    """Evaluate ``query``; ``now`` fixes the clock for relative date literals."""
    root = root_object(catalog, query.sobject)
    parents = ParentCache(catalog)
    selected = _resolve_select(catalog, root, query)
    predicate = None
    if query.where is not None:
        compiler = WhereCompiler(catalog, root, parents, values.today_utc(now))
        predicate = compiler.compile(query.where)
    sort_keys = [_sort_key(catalog, root, item, parents) for item in query.order_by]

    rows: Iterable[Row] = catalog.records(root.name, include_deleted=include_deleted)
    if predicate is not None:
        rows = filter(predicate, rows)
    if sort_keys and not query.is_count:
        rows = _sorted(list(rows), sort_keys)
    page = _page(rows, query.offset, query.limit)

    if query.is_count:
        return QueryResult(sum(1 for _ in page), [], True)
    shape = RecordShape.build(selected)
    url_base = f"/services/data/v{api_version.lstrip('vV')}/sobjects/"
    records = [shape.emit(row, root.name, url_base, parents) for row in page]
    return QueryResult(len(records), records, False)


def columns(query: nodes.Query, catalog: Catalog) -> list[str]:
    """Canonical dotted column names in select order (Bulk API CSV header)."""
    root = root_object(catalog, query.sobject)
    return [path.column for path in _resolve_select(catalog, root, query)]


def _resolve_select(
    catalog: Catalog, root: ObjectDef, query: nodes.Query
) -> list[ResolvedPath]:
    resolved: list[ResolvedPath] = []
    seen: set[str] = set()
    for field_path in query.fields:
        path = resolve_path(catalog, root, field_path)
        # The parser catches literal repeats; this catches spellings that resolve to
        # the same column, e.g. "Name" and "Account.Name" in a query FROM Account.
        if path.column in seen:
            raise SoqlError(
                "MALFORMED_QUERY", f"duplicate field selected: {path.column}"
            )
        seen.add(path.column)
        resolved.append(path)
    return resolved


def _page(rows: Iterable[Row], offset: int | None, limit: int | None) -> Iterator[Row]:
    # islice stops pulling from the filter once the page is full, so an unordered
    # "LIMIT 1" does not scan the whole table.
    start = offset or 0
    stop = None if limit is None else start + limit
    return islice(rows, start, stop)


# -- ORDER BY ------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class _SortKey:
    value_of: Getter
    descending: bool
    nulls_first: bool


def _sort_key(
    catalog: Catalog, root: ObjectDef, item: nodes.OrderItem, parents: ParentCache
) -> _SortKey:
    path = resolve_path(catalog, root, item.field)
    raw = path_getter(path, parents)
    normalize = values.normalizer(path.field)  # case-insensitive text, UTC datetimes
    return _SortKey(
        lambda row: normalize(raw(row)), item.descending, item.effective_nulls_first
    )


def _sorted(rows: list[Row], keys: list[_SortKey]) -> list[Row]:
    """Multi-key sort as successive stable sorts, least significant key first."""
    for key in reversed(keys):
        rows.sort(key=_null_aware(key), reverse=key.descending)
    return rows


def _null_aware(key: _SortKey) -> Callable[[Row], tuple[int, Any]]:
    # Nulls get their own rank so they never compare with values; the rank is chosen
    # so that after an optional reverse they end up first or last as requested.
    null_rank = 0 if key.nulls_first != key.descending else 1
    value_rank = 1 - null_rank
    value_of = key.value_of

    def rank(row: Row) -> tuple[int, Any]:
        value = value_of(row)
        return (null_rank, "") if value is None else (value_rank, value)

    return rank
