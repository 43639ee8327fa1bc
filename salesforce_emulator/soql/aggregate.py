"""Aggregate queries: GROUP BY, aggregate functions, HAVING, ORDER BY on aggregates.

Rows that pass WHERE are split into groups by the grouped fields (compared the way
SOQL compares them: text case-insensitively, ids by their 18-character form). Every
term the query uses (grouped fields, aggregates in the select list, HAVING and ORDER
BY) is computed once per group into a small dict keyed by the term's text; HAVING,
ORDER BY and the output then read those dicts. Rows come out as ``AggregateResult``.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import date
from itertools import islice
from typing import Any, Final

from soql import nodes
from soql.errors import SoqlError

from ..schema import NUMBER_TYPES, FieldDef, ObjectDef
from . import sorting, values
from .resolve import Catalog, Getter, ParentCache, Row, path_getter, resolve_path
from .where import Predicate, all_of, any_of, comparison_predicate, negate

# An aggregate query is answered in one batch: REST has no locator for it.
MAX_GROUPS: Final = 2000
QUERY_MORE_MESSAGE: Final = (
    "Aggregate query does not support queryMore(), use LIMIT to restrict the results "
    "to a single batch"
)
_COUNT_FIELD: Final = FieldDef("expr", "int")
_NUMBER_FIELD: Final = FieldDef("expr", "double")

Group = dict[str, Any]  # term key -> raw value


@dataclass(frozen=True, slots=True)
class _Term:
    """One computed column of a group."""

    key: str
    # The field whose type decides how the value compares, sorts and is typed.
    field: FieldDef
    compute: Callable[[list[Row]], Any]


def evaluate(
    query: nodes.Query,
    catalog: Catalog,
    root: ObjectDef,
    parents: ParentCache,
    rows: Iterable[Row],
    today: date,
) -> list[dict[str, Any]]:
    """The AggregateResult records of ``query`` over ``rows`` (already filtered)."""
    binder = _Binder(catalog, root, parents)
    group_terms = [binder.grouped(path) for path in query.group_by]
    terms = {term.key: term for term in group_terms}
    for term in _terms_used(query):
        if isinstance(term, nodes.Aggregate):
            bound = binder.aggregate(term)
            terms.setdefault(bound.key, bound)
    groups = _groups(rows, binder, query.group_by, list(terms.values()))
    if query.having is not None:
        groups = [g for g in groups if _having(query.having, terms, today)(g)]
    if query.order_by:
        groups = sorting.sort(
            groups, [_sort_key(item, terms) for item in query.order_by]
        )
    start = query.offset or 0
    stop = None if query.limit is None else start + query.limit
    groups = list(islice(groups, start, stop))
    if len(groups) > MAX_GROUPS:
        raise SoqlError("EXCEEDED_ID_LIMIT", QUERY_MORE_MESSAGE)
    return [_record(query, group, terms, binder) for group in groups]


def _terms_used(query: nodes.Query) -> list[nodes.Term]:
    used: list[nodes.Term] = [item.term for item in query.select]
    used += [item.field for item in query.order_by]
    used += [comparison.field for comparison in _comparisons(query.having)]
    return used


def _comparisons(condition: nodes.Condition | None) -> list[nodes.Comparison]:
    if condition is None:
        return []
    if isinstance(condition, nodes.Comparison):
        return [condition]
    if isinstance(condition, nodes.Not):
        return _comparisons(condition.item)
    return [c for item in condition.items for c in _comparisons(item)]


# -- binding terms to the schema --------------------------------------------------------


class _Binder:
    def __init__(self, catalog: Catalog, root: ObjectDef, parents: ParentCache) -> None:
        self._catalog = catalog
        self._root = root
        self._parents = parents

    def field(self, path: nodes.FieldPath) -> tuple[FieldDef, Getter]:
        resolved = resolve_path(self._catalog, self._root, path)
        return resolved.field, path_getter(resolved, self._parents)

    def grouped(self, path: nodes.FieldPath) -> _Term:
        field, getter = self.field(path)
        if not field.groupable:
            raise SoqlError(
                "INVALID_FIELD",
                f"field '{field.name}' can not be grouped in a query call",
            )
        # Every row of a group has the same value (up to case): read the first one.
        return _Term(path.dotted.lower(), field, lambda rows: getter(rows[0]))

    def aggregate(self, call: nodes.Aggregate) -> _Term:
        if call.field is None:
            return _Term(call.key, _COUNT_FIELD, len)
        field, getter = self.field(call.field)
        function = call.function
        if function in ("SUM", "AVG") and field.type not in NUMBER_TYPES:
            raise SoqlError(
                "INVALID_FIELD",
                f"field {field.name} does not support aggregate operator {function}",
            )
        compute = _AGGREGATORS[function](getter, values.normalizer(field))
        return _Term(call.key, _result_field(function, field), compute)

    def group_key(self, path: nodes.FieldPath) -> Getter:
        field, getter = self.field(path)
        normalize = values.normalizer(field)
        return lambda row: normalize(getter(row))


def _result_field(function: str, field: FieldDef) -> FieldDef:
    if function in ("COUNT", "COUNT_DISTINCT"):
        return _COUNT_FIELD
    if function == "AVG" or (function == "SUM" and field.type not in ("int", "long")):
        return _NUMBER_FIELD
    return field  # MIN, MAX and integer SUM keep the field's type


# -- aggregate functions ----------------------------------------------------------------

Aggregator = Callable[[Getter, values.Normalizer], Callable[[list[Row]], Any]]


def _present(getter: Getter, rows: list[Row]) -> list[Any]:
    return [v for row in rows if (v := getter(row)) is not None and v != ""]


def _count(getter: Getter, normalize: values.Normalizer) -> Callable[[list[Row]], Any]:
    return lambda rows: len(_present(getter, rows))


def _count_distinct(
    getter: Getter, normalize: values.Normalizer
) -> Callable[[list[Row]], Any]:
    return lambda rows: len({normalize(v) for v in _present(getter, rows)})


def _sum(getter: Getter, normalize: values.Normalizer) -> Callable[[list[Row]], Any]:
    def total(rows: list[Row]) -> Any:
        present = _present(getter, rows)
        return sum(present) if present else None  # SUM over no value is null

    return total


def _avg(getter: Getter, normalize: values.Normalizer) -> Callable[[list[Row]], Any]:
    def mean(rows: list[Row]) -> Any:
        present = _present(getter, rows)
        return sum(present) / len(present) if present else None

    return mean


def _extreme(pick: Callable[..., Any]) -> Aggregator:
    def aggregator(
        getter: Getter, normalize: values.Normalizer
    ) -> Callable[[list[Row]], Any]:
        # Compare normalised keys (case-insensitive text, UTC datetimes) but answer
        # with the stored value.
        def extreme(rows: list[Row]) -> Any:
            present = _present(getter, rows)
            return pick(present, key=normalize) if present else None

        return extreme

    return aggregator


_AGGREGATORS: Final[dict[str, Aggregator]] = {
    "COUNT": _count,
    "COUNT_DISTINCT": _count_distinct,
    "SUM": _sum,
    "AVG": _avg,
    "MIN": _extreme(min),
    "MAX": _extreme(max),
}


# -- grouping -----------------------------------------------------------------------------


def _groups(
    rows: Iterable[Row],
    binder: _Binder,
    group_by: list[nodes.FieldPath],
    terms: list[_Term],
) -> list[Group]:
    keys = [binder.group_key(path) for path in group_by]
    buckets: dict[tuple[Any, ...], list[Row]] = {}
    for row in rows:
        buckets.setdefault(tuple(key(row) for key in keys), []).append(row)
    if not buckets and not group_by:
        buckets[()] = []  # an overall aggregate answers one row, even over no rows
    return [
        {term.key: term.compute(members) if members else _empty(term) for term in terms}
        for members in buckets.values()
    ]


def _empty(term: _Term) -> Any:
    return 0 if term.field is _COUNT_FIELD else None


# -- HAVING and ORDER BY ------------------------------------------------------------------


def _term_key(term: nodes.Term) -> str:
    return term.key if isinstance(term, nodes.Aggregate) else term.dotted.lower()


def _having(
    condition: nodes.Condition, terms: dict[str, _Term], today: date
) -> Predicate:
    if isinstance(condition, nodes.Comparison):
        term = terms[_term_key(condition.field)]
        return comparison_predicate(
            term.field, lambda group: group[term.key], condition, today
        )
    if isinstance(condition, nodes.Not):
        return negate(_having(condition.item, terms, today))
    parts = [_having(item, terms, today) for item in condition.items]
    return all_of(parts) if isinstance(condition, nodes.And) else any_of(parts)


def _sort_key(item: nodes.OrderItem, terms: dict[str, _Term]) -> sorting.SortKey:
    term = terms[_term_key(item.field)]
    normalize = values.normalizer(term.field)
    key = term.key
    return sorting.SortKey(
        lambda group: normalize(group[key]), item.descending, item.effective_nulls_first
    )


# -- output -------------------------------------------------------------------------------


def _record(
    query: nodes.Query, group: Group, terms: dict[str, _Term], binder: _Binder
) -> dict[str, Any]:
    record: dict[str, Any] = {"attributes": {"type": "AggregateResult"}}
    for item, name in zip(query.select, query.result_names(), strict=True):
        term = item.term
        if isinstance(term, nodes.FieldPath) and item.alias is None:
            name = binder.field(term)[0].name  # the canonical spelling
        record[name] = _typed(terms[_term_key(term)], group[_term_key(term)])
    return record


def _typed(term: _Term, value: Any) -> Any:
    if value is None or term.field is not _NUMBER_FIELD:
        return value
    return float(value)
