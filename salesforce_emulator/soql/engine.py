"""Running a parsed query against a catalog of rows."""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from datetime import datetime
from itertools import islice
from typing import Any

from soql import nodes
from soql.errors import SoqlError

from ..schema import ObjectDef
from . import aggregate, restrictions, sorting, values
from .output import RecordShape
from .resolve import (
    Catalog,
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
    # AggregateResult rows: answered in one batch, never through a query locator.
    is_aggregate: bool = False


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
    if root.setup_storage:
        restrictions.check_setup_storage_query(query)
    parents = ParentCache(catalog)
    today = values.today_utc(now)
    rows: Iterable[Row] = catalog.records(root.name, include_deleted=include_deleted)
    if query.where is not None:
        compiler = WhereCompiler(catalog, root, parents, today)
        rows = filter(compiler.compile(query.where), rows)
    if query.is_aggregate or query.group_by:
        groups = aggregate.evaluate(query, catalog, root, parents, rows, today)
        if query.is_count:
            return QueryResult(len(groups), [], True)
        return QueryResult(len(groups), groups, False, is_aggregate=True)

    selected = _resolve_select(catalog, root, query)
    sort_keys = [_sort_key(catalog, root, item, parents) for item in query.order_by]
    if sort_keys and not query.is_count:
        rows = sorting.sort(list(rows), sort_keys)
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


def _sort_key(
    catalog: Catalog, root: ObjectDef, item: nodes.OrderItem, parents: ParentCache
) -> sorting.SortKey:
    # The parser lets aggregates into ORDER BY only in aggregate queries.
    assert isinstance(item.field, nodes.FieldPath)
    path = resolve_path(catalog, root, item.field)
    raw = path_getter(path, parents)
    normalize = values.normalizer(path.field)  # case-insensitive text, UTC datetimes
    return sorting.SortKey(
        lambda row: normalize(raw(row)), item.descending, item.effective_nulls_first
    )
