"""SOQL that Salesforce refuses on EntityDefinition and FieldDefinition.

These setup objects live in a storage that supports only part of SOQL: Salesforce's
"SOQL Operation Limitations" (Tooling API guide) lists COUNT(), GROUP BY, OR, NOT and
INCLUDES as unsupported, with the errors below. The emulator refuses the same queries
with the same messages, so a query that works here works on a real org.
(LIMIT and OFFSET, which real orgs silently ignore on these objects, are honoured.)
"""

from __future__ import annotations

from typing import Final

from soql import nodes
from soql.errors import SoqlError

NOT_SUPPORTED: Final = (
    "The requested operation is not yet supported by this SObject storage type, "
    "contact salesforce.com support for more information."
)
ONLY_EQUALS: Final = "Only equals comparisons permitted"
NO_DISJUNCTIONS: Final = "Disjunctions not supported"
UNSUPPORTED_FILTER: Final = "Unsupported filter type"


def check_setup_storage_query(query: nodes.Query) -> None:
    """Raise MALFORMED_QUERY for what these objects' storage cannot answer."""
    if query.is_count or query.is_aggregate or query.having is not None:
        raise SoqlError("MALFORMED_QUERY", NOT_SUPPORTED)
    if query.where is not None:
        _check_condition(query.where)


def _check_condition(condition: nodes.Condition) -> None:
    if isinstance(condition, nodes.Or):
        raise SoqlError("MALFORMED_QUERY", NO_DISJUNCTIONS)
    if isinstance(condition, nodes.Not):
        raise SoqlError("MALFORMED_QUERY", ONLY_EQUALS)
    if isinstance(condition, nodes.And):
        for item in condition.items:
            _check_condition(item)
        return
    if condition.op in ("INCLUDES", "EXCLUDES"):
        raise SoqlError("MALFORMED_QUERY", UNSUPPORTED_FILTER)
    if condition.op not in ("=", "IN"):
        raise SoqlError("MALFORMED_QUERY", ONLY_EQUALS)
