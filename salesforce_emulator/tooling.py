"""Tooling API query: ``GET /services/data/vXX.X/tooling/query?q=...``.

Serves the setup objects a migration tool reads through the Tooling API,
EntityDefinition, FieldDefinition and Organization, from the same computed rows as the
REST query (see system_objects.py). A query on any other object answers what Salesforce
answers for an object the org does not have: 400 INVALID_TYPE (SandboxProcess, for
instance, exists only in production orgs with sandboxes).

Tooling answers carry ``size``, ``queryLocator`` and ``entityTypeName`` besides the
REST keys, and record URLs under ``/tooling/sobjects/``.
"""

from __future__ import annotations

from typing import Any, Final

from salesforce_emulator import soql as soql_engine
from salesforce_emulator import system_objects
from salesforce_emulator.errors import ApiError
from salesforce_emulator.org import Cursor
from salesforce_emulator.rest import base, org_of, page_size, soql_error
from salesforce_emulator.routing import Router
from salesforce_emulator.soql.errors import unsupported_type
from salesforce_emulator.transport import Request, Response

KIND: Final = "tooling/query"


def add_routes(router: Router) -> None:
    router.add("tooling/query", GET=tooling_query)
    router.add("tooling/query/{locator}", GET=tooling_query_more)


def tooling_query(request: Request, **_: str) -> Response:
    text = request.param("q")
    if not text:
        raise ApiError(400, "MALFORMED_QUERY", "unexpected token: <EOF>")
    org = org_of(request)
    try:
        query = soql_engine.parse(text)
        if system_objects.object_def(query.sobject) is None:
            raise unsupported_type(query.sobject)
        with org.store.lock:
            result = soql_engine.execute(
                query,
                org.catalog,
                api_version=request.version,
                include_deleted=False,
                now=org.clock.now(),
            )
    except soql_engine.SoqlError as error:
        raise soql_error(error) from None
    entity = "AggregateResult" if result.is_aggregate else _canonical(query.sobject)
    records = [_tooling_urls(record, request.version) for record in result.records]
    cursor = Cursor(records, result.total_size, entity)
    everything = result.is_count or result.is_aggregate
    return _page(request, cursor, None, 0, everything=everything)


def tooling_query_more(request: Request, locator: str, **_: str) -> Response:
    token, _dash, offset_text = locator.rpartition("-")
    cursor = org_of(request).cursor(token) if offset_text.isdigit() else None
    if cursor is None or int(offset_text) > len(cursor.records):
        raise ApiError(400, "INVALID_QUERY_LOCATOR", "invalid query locator")
    return _page(request, cursor, token, int(offset_text), everything=False)


def _page(
    request: Request,
    cursor: Cursor,
    locator: str | None,
    offset: int,
    *,
    everything: bool,
) -> Response:
    size = len(cursor.records) if everything else page_size(request)
    records = cursor.records[offset : offset + size]
    following = offset + len(records)
    body: dict[str, Any] = {
        "size": cursor.total_size,
        "totalSize": cursor.total_size,
        "done": True,
        "queryLocator": None,
        "entityTypeName": cursor.sobject,
    }
    if following < len(cursor.records):
        org = org_of(request)
        if locator is None:
            locator = org.new_locator()
            org.keep_cursor(locator, cursor)
        body["done"] = False
        body["queryLocator"] = f"{locator}-{following}"
        body["nextRecordsUrl"] = f"{base(request)}/{KIND}/{locator}-{following}"
    body["records"] = records
    return Response.json(body)


def _canonical(name: str) -> str:
    obj = system_objects.object_def(name)
    return obj.name if obj is not None else name


def _tooling_urls(record: dict[str, Any], version: str) -> dict[str, Any]:
    """Point ``attributes.url`` (nested parents included) at the Tooling sObjects."""
    rest_prefix = f"/services/data/v{version}/sobjects/"
    tooling_prefix = f"/services/data/v{version}/tooling/sobjects/"
    fixed: dict[str, Any] = {}
    for key, value in record.items():
        if key == "attributes" and isinstance(value, dict) and "url" in value:
            url = str(value["url"])
            if url.startswith(rest_prefix):
                url = tooling_prefix + url[len(rest_prefix) :]
            value = {**value, "url": url}
        elif isinstance(value, dict):
            value = _tooling_urls(value, version)
        fixed[key] = value
    return fixed
