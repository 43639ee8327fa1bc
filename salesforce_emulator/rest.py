"""REST data routes under ``/services/data/vXX.X/``: describe, rows, query, collections,
limits. Bulk API 2.0 routes live in ``bulk.py``."""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from typing import Any

from salesforce_emulator import collection_limits, describe, files, row_locks
from salesforce_emulator import resources as resources_module
from salesforce_emulator import soql as soql_engine
from salesforce_emulator.errors import (
    ApiError,
    FieldValueError,
    RecordError,
    RecordFailure,
    not_found,
)
from salesforce_emulator.ids import normalize_id
from salesforce_emulator.org import Cursor, Org
from salesforce_emulator.routing import Router
from salesforce_emulator.schema import FieldDef, ObjectDef
from salesforce_emulator.soql.column_info import column_metadata
from salesforce_emulator.store import Record
from salesforce_emulator.transport import Request, Response, decode_plus
from salesforce_emulator.writer import Writer

MAX_COLLECTION = 200
MAX_RETRIEVE_GET = 800
MAX_RETRIEVE_POST = 2000
ROLLED_BACK = RecordError(
    "ALL_OR_NONE_OPERATION_ROLLED_BACK",
    "Record rolled back because not all records were valid and the request was using "
    "AllOrNone header",
)


def org_of(request: Request) -> Org:
    assert request.org is not None
    return request.org


def now_text(request: Request) -> str:
    """Now by the clock of the request's org (shared by the emulator's orgs)."""
    return org_of(request).clock.now_text()


def base(request: Request) -> str:
    return f"/services/data/v{request.version}"


def api_versions() -> list[dict[str, str]]:
    """``GET /services/data/``: versions 31.0 .. 62.0 with release labels."""
    return resources_module.api_versions()


# -- helpers ------------------------------------------------------------------------------


def object_or_404(request: Request, name: str) -> ObjectDef:
    obj = org_of(request).object_def(name)
    if obj is None:
        raise not_found()
    return obj


def writer_for(request: Request, name: str) -> Writer:
    return org_of(request).writer(object_or_404(request, name).name)


def record_json(
    request: Request,
    obj: ObjectDef,
    record: Record,
    fields: Sequence[str] | None = None,
) -> dict[str, Any]:
    out: dict[str, Any] = {
        "attributes": {
            "type": obj.name,
            "url": f"{base(request)}/sobjects/{obj.name}/{record['Id']}",
        }
    }
    if fields is None:
        out.update(record)
    else:
        for name in fields:
            out[name] = record[name]
    return out


def field_list(obj: ObjectDef, raw: str | Sequence[str] | None) -> list[str] | None:
    """Canonical names of a ``fields`` parameter; 400 INVALID_FIELD for unknown ones."""
    if raw is None:
        return None
    names = raw.split(",") if isinstance(raw, str) else list(raw)
    canonical = []
    for name in (n.strip() for n in names):
        if not name:
            continue
        field_def = obj.field(name)
        if field_def is None:
            raise ApiError(
                400,
                "INVALID_FIELD",
                f"No such column '{name}' on entity '{obj.name}'. If you are "
                "attempting to use a custom field, be sure to append the '__c' "
                "after the custom field name.",
            )
        canonical.append(field_def.name)
    return canonical


def prepare(writer: Writer, body: Any, *, for_create: bool) -> dict[str, Any]:
    """JSON record -> field values; wrong JSON types are a request-level 400."""
    if not isinstance(body, dict):
        raise ApiError(
            400, "JSON_PARSER_ERROR", "Expected a JSON object for the record"
        )
    try:
        return writer.prepare(body, for_create=for_create)
    except FieldValueError as exc:
        raise exc.json_parser_error() from None


def record_status(failure: RecordFailure) -> int:
    return 404 if failure.code == "ENTITY_IS_DELETED" else 400


def locate(request: Request, obj: ObjectDef, raw_id: str) -> Record:
    """The record addressed in a URL; 404 when missing or deleted."""
    record_id = normalize_id(raw_id)
    table = org_of(request).store.tables[obj.name.lower()]
    record = table.rows.get(record_id) if record_id else None
    if record is None:
        raise not_found()
    if record["IsDeleted"]:
        raise ApiError(404, "ENTITY_IS_DELETED", "entity is deleted")
    return record


def is_record_id(obj: ObjectDef, segment: str) -> bool:
    record_id = normalize_id(segment)
    return record_id is not None and record_id.startswith(obj.key_prefix)


def ext_field_or_404(obj: ObjectDef, name: str) -> FieldDef:
    field_def = obj.field(name)
    if field_def is None or not (field_def.external_id or field_def.id_lookup):
        raise ApiError(
            404,
            "NOT_FOUND",
            f"Provided external ID field does not exist or is not accessible: {name}",
        )
    return field_def


def matches_for(
    request: Request, obj: ObjectDef, field_def: FieldDef, value: str
) -> list[str]:
    table = org_of(request).store.tables[obj.name.lower()]
    if field_def.type == "id":
        record_id = normalize_id(value)
        record = table.rows.get(record_id) if record_id else None
        return [record["Id"]] if record and not record["IsDeleted"] else []
    return table.find(field_def, value)


def multiple_choices(request: Request, obj: ObjectDef, ids: list[str]) -> Response:
    return Response.json([f"{base(request)}/sobjects/{obj.name}/{i}" for i in ids], 300)


# -- describe ------------------------------------------------------------------------------


def resources(request: Request, **_: str) -> Response:
    org = org_of(request)
    identity = f"{org.base_url}/id/{org.organization_id}/{request.user_id}"
    return Response.json(resources_module.resource_list(request.version, identity))


def global_describe(request: Request, **_: str) -> Response:
    return Response.json(describe.global_describe(org_of(request), request.version))


def describable_or_404(request: Request, name: str) -> ObjectDef:
    """An object of the org, or one of the read-only system objects."""
    obj = org_of(request).catalog.object_def(name)
    if obj is None:
        raise not_found()
    return obj


def basic_info(request: Request, sobject: str, **_: str) -> Response:
    obj = describable_or_404(request, sobject)
    return Response.json(describe.basic_info(org_of(request), obj, request.version))


def sobject_describe(request: Request, sobject: str, **_: str) -> Response:
    obj = describable_or_404(request, sobject)
    with org_of(request).store.lock:
        data = describe.sobject_describe(org_of(request), obj, request.version)
    return Response.json(data)


# -- rows ----------------------------------------------------------------------------------


def create(request: Request, sobject: str, **_: str) -> Response:
    org = org_of(request)
    writer = writer_for(request, sobject)
    with org.store.transaction():
        if files.is_multipart(request):
            entity, data = files.multipart_record(request, writer.obj)
            values = files.with_blob(
                writer.obj, prepare(writer, entity, for_create=True), data
            )
        else:
            values = prepare(writer, request.json(), for_create=True)
        try:
            record_id = writer.insert(values, request.user_id, now_text(request))
        except RecordFailure as failure:
            raise ApiError.from_failure(failure) from None
        request.wrote = True
    return Response.json({"id": record_id, "success": True, "errors": []}, 201)


def get_row(
    request: Request, sobject: str, ref: str, ref_raw: str, **_: str
) -> Response:
    obj = object_or_404(request, sobject)
    if not is_record_id(obj, ref):
        ext_field_or_404(obj, ref)
        raise not_found()
    with org_of(request).store.lock:
        record = locate(request, obj, ref)
        fields = field_list(obj, request.param("fields"))
        return Response.json(record_json(request, obj, record, fields))


def create_by_id_path(request: Request, sobject: str, ref: str, **_: str) -> Response:
    if ref.lower() != "id":
        raise ApiError(
            405,
            "METHOD_NOT_ALLOWED",
            "HTTP Method 'POST' not allowed. Allowed are GET,PATCH,DELETE",
        )
    return create(request, sobject)


def update_row(request: Request, sobject: str, ref: str, **_: str) -> Response:
    obj = object_or_404(request, sobject)
    if not is_record_id(obj, ref):
        ext_field_or_404(obj, ref)
        raise not_found()
    org = org_of(request)
    writer = org.writer(obj.name)
    with org.store.transaction():
        record = locate(request, obj, ref)
        values = prepare(writer, request.json(), for_create=False)
        given = values.pop("Id", None)
        if given is not None and normalize_id(given) != record["Id"]:
            raise ApiError(
                400, "INVALID_ID_FIELD", "The Id in the body does not match the URL"
            )
        try:
            writer.update(record["Id"], values, request.user_id, now_text(request))
        except RecordFailure as failure:
            raise ApiError.from_failure(failure, record_status(failure)) from None
        request.wrote = True
    return Response.empty()


def delete_row(request: Request, sobject: str, ref: str, **_: str) -> Response:
    obj = object_or_404(request, sobject)
    if not is_record_id(obj, ref):
        ext_field_or_404(obj, ref)
        raise not_found()
    org = org_of(request)
    with org.store.transaction():
        record = locate(request, obj, ref)
        org.writer(obj.name).delete(record["Id"], request.user_id, now_text(request))
        request.wrote = True
    return Response.empty()


def get_by_ext_id(
    request: Request, sobject: str, field: str, value_raw: str, **_: str
) -> Response:
    obj = object_or_404(request, sobject)
    if is_record_id(obj, field):  # /sobjects/{object}/{id}/{blob field}
        return files.blob_response(org_of(request), obj, field, decode_plus(value_raw))
    field_def = ext_field_or_404(obj, field)
    with org_of(request).store.lock:
        ids = matches_for(request, obj, field_def, decode_plus(value_raw))
        if not ids:
            raise not_found()
        if len(ids) > 1:
            return multiple_choices(request, obj, ids)
        record = org_of(request).store.tables[obj.name.lower()].rows[ids[0]]
        fields = field_list(obj, request.param("fields"))
        return Response.json(record_json(request, obj, record, fields))


def upsert_by_ext_id(
    request: Request, sobject: str, field: str, value: str, **_: str
) -> Response:
    obj = object_or_404(request, sobject)
    field_def = ext_field_or_404(obj, field)
    org = org_of(request)
    writer = org.writer(obj.name)
    with org.store.transaction():
        values = prepare(writer, request.json(), for_create=False)
        if "Id" in values and field_def.type != "id":
            raise ApiError(
                400,
                "INVALID_FIELD",
                "The Id field should not be specified in the sobject data.",
            )
        given = values.get(field_def.name)
        if given is not None and str(given).lower() != value.lower():
            raise ApiError(
                400,
                "INVALID_FIELD",
                f"The value of {field_def.name} in the body does not match the URL",
            )
        ids = matches_for(request, obj, field_def, value)
        if len(ids) > 1:
            return multiple_choices(request, obj, ids)
        return _apply_upsert(request, writer, field_def, value, values, ids)


def _apply_upsert(
    request: Request,
    writer: Writer,
    field_def: FieldDef,
    value: str,
    values: dict[str, Any],
    ids: list[str],
) -> Response:
    now = now_text(request)
    try:
        if ids:
            if field_def.name in values and not field_def.updateable:
                values.pop(field_def.name)
            record_id, created = (
                writer.update(ids[0], values, request.user_id, now),
                False,
            )
        elif field_def.type == "id" or request.param("updateOnly", "false") == "true":
            raise not_found()
        else:
            values[field_def.name] = writer.converters[field_def.name.lower()](value)
            record_id, created = writer.insert(values, request.user_id, now), True
    except RecordFailure as failure:
        raise ApiError.from_failure(failure, record_status(failure)) from None
    except FieldValueError as exc:
        raise exc.json_parser_error() from None
    request.wrote = True
    if float(request.version) < 46.0 and not created:
        return Response.empty()
    return Response.json(
        {"id": record_id, "success": True, "errors": [], "created": created},
        201 if created else 200,
    )


def delete_by_ext_id(
    request: Request, sobject: str, field: str, value_raw: str, **_: str
) -> Response:
    obj = object_or_404(request, sobject)
    field_def = ext_field_or_404(obj, field)
    org = org_of(request)
    with org.store.transaction():
        ids = matches_for(request, obj, field_def, decode_plus(value_raw))
        if not ids:
            raise not_found()
        if len(ids) > 1:
            return multiple_choices(request, obj, ids)
        org.writer(obj.name).delete(ids[0], request.user_id, now_text(request))
        request.wrote = True
    return Response.empty()


# -- query ----------------------------------------------------------------------------------


def soql_error(error: soql_engine.SoqlError) -> ApiError:
    return ApiError(400, error.error_code, error.message)


def page_size(request: Request) -> int:
    size = org_of(request).page_size
    options = request.headers.get("Sforce-Query-Options") or ""
    for option in options.split(","):
        key, _, value = option.strip().partition("=")
        if key.lower() == "batchsize" and value.strip().isdigit():
            size = min(size, max(200, min(2000, int(value))))
    return size


def run_query(request: Request, *, include_deleted: bool) -> Response:
    text = request.param("q")
    if not text:
        raise ApiError(400, "MALFORMED_QUERY", "unexpected token: <EOF>")
    org = org_of(request)
    try:
        query = soql_engine.parse(text)
        if (request.param("columns") or "").lower() == "true":
            # The columns the query would answer, without running it.
            return Response.json(column_metadata(query, org.catalog))
        with org.store.lock:
            result = soql_engine.execute(
                query,
                org.catalog,
                api_version=request.version,
                include_deleted=include_deleted,
                now=org.clock.now(),
            )
    except soql_engine.SoqlError as error:
        raise soql_error(error) from None
    if result.is_count or result.is_aggregate:
        # Aggregate queries have no query locator: every row in one answer.
        return Response.json(
            {"totalSize": result.total_size, "done": True, "records": result.records}
        )
    cursor = Cursor(result.records, result.total_size, query.sobject)
    kind = "queryAll" if include_deleted else "query"
    return query_page(request, cursor, None, 0, kind)


def query_page(
    request: Request, cursor: Cursor, locator: str | None, offset: int, kind: str
) -> Response:
    size = page_size(request)
    records = cursor.records[offset : offset + size]
    body: dict[str, Any] = {"totalSize": cursor.total_size, "done": True}
    following = offset + len(records)
    if following < len(cursor.records):
        org = org_of(request)
        if locator is None:
            locator = org.new_locator()
            org.keep_cursor(locator, cursor)
        body["done"] = False
        body["nextRecordsUrl"] = f"{base(request)}/{kind}/{locator}-{following}"
    body["records"] = records
    return Response.json(body)


def query(request: Request, **_: str) -> Response:
    return run_query(request, include_deleted=False)


def query_all(request: Request, **_: str) -> Response:
    return run_query(request, include_deleted=True)


def _more(request: Request, token: str, kind: str) -> Response:
    locator, _, offset_text = token.rpartition("-")
    cursor = org_of(request).cursor(locator) if offset_text.isdigit() else None
    if cursor is None or int(offset_text) > len(cursor.records):
        raise ApiError(400, "INVALID_QUERY_LOCATOR", "invalid query locator")
    return query_page(request, cursor, locator, int(offset_text), kind)


def query_more(request: Request, locator: str, **_: str) -> Response:
    return _more(request, locator, "query")


def query_all_more(request: Request, locator: str, **_: str) -> Response:
    return _more(request, locator, "queryAll")


# -- sObject Collections ------------------------------------------------------------------


def _collection_body(request: Request) -> tuple[list[Any], bool]:
    body = request.json()
    if not isinstance(body, dict) or not isinstance(body.get("records"), list):
        raise ApiError(400, "JSON_PARSER_ERROR", 'Expected {"records": [...]}')
    records = body["records"]
    if len(records) > MAX_COLLECTION:
        raise ApiError(
            400,
            "EXCEEDED_ID_LIMIT",
            "record limit reached. cannot submit more than 200 records into this call",
        )
    collection_limits.check_chunks(records)
    return records, bool(body.get("allOrNone", False))


def _record_writer(
    request: Request, record: Any, expected: str | None = None
) -> Writer:
    attributes = record.get("attributes") if isinstance(record, dict) else None
    type_name = attributes.get("type") if isinstance(attributes, dict) else None
    if not type_name:
        raise ApiError(
            400, "INVALID_TYPE", "No SObject Type defined in the record attributes"
        )
    obj = org_of(request).object_def(str(type_name))
    if obj is None:
        raise ApiError(
            400, "INVALID_TYPE", f"sObject type '{type_name}' is not supported."
        )
    if expected is not None and obj.name.lower() != expected.lower():
        raise ApiError(400, "INVALID_TYPE", f"All records must be of type {expected}")
    return org_of(request).writer(obj.name)


Prepared = tuple[Writer, Any, dict[str, Any] | RecordFailure]
Operation = Callable[[Writer, Any, dict[str, Any] | RecordFailure], dict[str, Any]]


def _run_collection(
    request: Request,
    all_or_none: bool,
    prepared: list[tuple[Writer, Any, dict[str, Any] | RecordFailure]],
    operation: Operation,
    *,
    keep_id: bool,
) -> Response:
    org = org_of(request)
    with org.store.savepoint() as journal:
        results = [operation(writer, raw, values) for writer, raw, values in prepared]
        if all_or_none and any(not r["success"] for r in results):
            org.store.rollback(journal)
            results = [_rolled_back(r, keep_id) for r in results]
        request.wrote = True
    return Response.json(results)


def _rolled_back(result: dict[str, Any], keep_id: bool) -> dict[str, Any]:
    """A successful result turned into ALL_OR_NONE_OPERATION_ROLLED_BACK."""
    if not result["success"]:
        return result
    out: dict[str, Any] = {"id": result["id"]} if keep_id else {}
    out.update(success=False, errors=[ROLLED_BACK.as_collection_error()])
    if "created" in result:
        out["created"] = False
    return out


def _failure(failure: RecordFailure, record_id: str | None = None) -> dict[str, Any]:
    result: dict[str, Any] = {
        "success": False,
        "errors": [e.as_collection_error() for e in failure.errors],
    }
    if record_id is not None:
        result = {"id": record_id, **result}
    return result


def _prepare_all(
    request: Request,
    records: list[Any],
    *,
    for_create: bool,
    expected: str | None = None,
) -> list[tuple[Writer, Any, dict[str, Any] | RecordFailure]]:
    prepared: list[tuple[Writer, Any, dict[str, Any] | RecordFailure]] = []
    for raw in records:
        writer = _record_writer(request, raw, expected)
        try:
            prepared.append((writer, raw, prepare(writer, raw, for_create=for_create)))
        except RecordFailure as failure:
            prepared.append((writer, raw, failure))
    return prepared


@contextmanager
def _row_locked(
    request: Request, prepared: list[Prepared], *, updating: bool
) -> Iterator[list[Prepared]]:
    """The call's records, those refused a row lock turned into UNABLE_TO_LOCK_ROW
    failures; the locks are held for the body of the ``with`` (``row_locks.py``).

    Entered before the store transaction: a call waiting for a row lock must not
    stop the calls that hold it from writing.
    """
    org = org_of(request)
    if not row_locks.active(org.faults):
        yield prepared
        return
    wanted = [
        None
        if isinstance(values, RecordFailure)
        else row_locks.lock_ids(
            writer.references, values, _raw_id(raw) if updating else None
        )
        for writer, raw, values in prepared
    ]
    with row_locks.write_locks(org, wanted) as refusals:
        yield [
            (writer, raw, values if refusal is None else refusal)
            for (writer, raw, values), refusal in zip(prepared, refusals, strict=True)
        ]


def collection_create(request: Request, **_: str) -> Response:
    records, all_or_none = _collection_body(request)
    user_id, now = request.user_id, now_text(request)

    def insert(
        writer: Writer, raw: Any, values: dict[str, Any] | RecordFailure
    ) -> dict[str, Any]:
        try:
            if isinstance(values, RecordFailure):
                raise values
            return {
                "id": writer.insert(values, user_id, now),
                "success": True,
                "errors": [],
            }
        except RecordFailure as failure:
            return _failure(failure)

    prepared = _prepare_all(request, records, for_create=True)
    with (
        _row_locked(request, prepared, updating=False) as prepared,
        org_of(request).store.transaction(),
    ):
        return _run_collection(request, all_or_none, prepared, insert, keep_id=False)


def _raw_id(raw: Any) -> Any:
    if not isinstance(raw, dict):
        return None
    return raw.get("id", raw.get("Id"))


def collection_update(request: Request, **_: str) -> Response:
    records, all_or_none = _collection_body(request)
    user_id, now = request.user_id, now_text(request)

    def update(
        writer: Writer, raw: Any, values: dict[str, Any] | RecordFailure
    ) -> dict[str, Any]:
        raw_id = _raw_id(raw)
        shown = normalize_id(raw_id) or raw_id
        try:
            if isinstance(values, RecordFailure):
                raise values
            if raw_id is None:
                raise RecordFailure.of(
                    "MISSING_ARGUMENT", "Id not specified in an update call"
                )
            values.pop("Id", None)
            return {
                "id": writer.update(raw_id, values, user_id, now),
                "success": True,
                "errors": [],
            }
        except RecordFailure as failure:
            return _failure(failure, shown)

    prepared = _prepare_all(request, records, for_create=False)
    with (
        _row_locked(request, prepared, updating=True) as prepared,
        org_of(request).store.transaction(),
    ):
        return _run_collection(request, all_or_none, prepared, update, keep_id=True)


def collection_upsert(request: Request, sobject: str, field: str, **_: str) -> Response:
    obj = object_or_404(request, sobject)
    field_def = ext_field_or_404(obj, field)
    records, all_or_none = _collection_body(request)
    user_id, now = request.user_id, now_text(request)

    def upsert(
        writer: Writer, raw: Any, values: dict[str, Any] | RecordFailure
    ) -> dict[str, Any]:
        try:
            if isinstance(values, RecordFailure):
                raise values
            record_id, created = writer.upsert(field_def, values, user_id, now)
            return {"id": record_id, "success": True, "errors": [], "created": created}
        except RecordFailure as failure:
            return {**_failure(failure), "created": False}

    prepared = _prepare_all(request, records, for_create=False, expected=obj.name)
    with (
        _row_locked(request, prepared, updating=False) as prepared,
        org_of(request).store.transaction(),
    ):
        return _run_collection(request, all_or_none, prepared, upsert, keep_id=False)


def _id_param(request: Request, name: str = "ids") -> list[str]:
    raw = request.param(name)
    if not raw:
        raise ApiError(400, "MISSING_ARGUMENT", f"{name} parameter is required")
    return [part.strip() for part in raw.split(",") if part.strip()]


def collection_delete(request: Request, **_: str) -> Response:
    ids = _id_param(request)
    if len(ids) > MAX_COLLECTION:
        raise ApiError(
            400,
            "EXCEEDED_ID_LIMIT",
            "record limit reached. cannot submit more than 200 records into this call",
        )
    all_or_none = (request.param("allOrNone") or "false").lower() == "true"
    org = org_of(request)
    user_id, now = request.user_id, now_text(request)

    def delete(raw_id: str) -> dict[str, Any]:
        record_id = normalize_id(raw_id)
        obj = org.object_for_id(record_id) if record_id else None
        try:
            if obj is None:
                raise RecordFailure.of("MALFORMED_ID", f"malformed id {raw_id}")
            return {
                "id": org.writer(obj.name).delete(raw_id, user_id, now),
                "success": True,
                "errors": [],
            }
        except RecordFailure as failure:
            return _failure(failure, record_id or raw_id)

    with org.store.savepoint() as journal:
        results = [delete(raw_id) for raw_id in ids]
        if all_or_none and any(not r["success"] for r in results):
            org.store.rollback(journal)
            results = [_rolled_back(r, True) for r in results]
        request.wrote = True
    return Response.json(results)


def _retrieve(
    request: Request, sobject: str, ids: list[str], fields: list[str] | None, limit: int
) -> Response:
    obj = object_or_404(request, sobject)
    if not ids or not fields:
        raise ApiError(400, "MISSING_ARGUMENT", "ids and fields are required")
    if len(ids) > limit:
        raise ApiError(
            400, "EXCEEDED_ID_LIMIT", f"cannot retrieve more than {limit} records"
        )
    canonical = field_list(obj, fields)
    table = org_of(request).store.tables[obj.name.lower()]
    out: list[dict[str, Any] | None] = []
    with org_of(request).store.lock:
        for raw_id in ids:
            record_id = normalize_id(raw_id)
            record = table.rows.get(record_id) if record_id else None
            if record is None or record["IsDeleted"]:
                out.append(None)
            else:
                out.append(record_json(request, obj, record, canonical))
    return Response.json(out)


def collection_retrieve_get(request: Request, sobject: str, **_: str) -> Response:
    fields = request.param("fields")
    return _retrieve(
        request,
        sobject,
        _id_param(request),
        fields.split(",") if fields else None,
        MAX_RETRIEVE_GET,
    )


def collection_retrieve_post(request: Request, sobject: str, **_: str) -> Response:
    body = request.json()
    if not isinstance(body, dict):
        raise ApiError(
            400, "JSON_PARSER_ERROR", 'Expected {"ids": [...], "fields": [...]}'
        )
    ids = [str(i) for i in body.get("ids") or []]
    fields = [str(f) for f in body.get("fields") or []]
    return _retrieve(request, sobject, ids, fields, MAX_RETRIEVE_POST)


# -- limits -----------------------------------------------------------------------------------


def limits(request: Request, **_: str) -> Response:
    org = org_of(request)
    limit = org.faults.api_limit
    records = sum(len(t.rows) for t in org.store.tables.values())
    storage_used = records * 2 // 1024  # Salesforce counts 2 KB per record
    query_jobs = sum(1 for job in org.jobs.values() if getattr(job, "is_query", False))
    ingest_jobs = sum(
        1 for job in org.jobs.values() if not getattr(job, "is_query", False)
    )

    def entry(maximum: int, used: int) -> dict[str, int]:
        return {"Max": maximum, "Remaining": max(0, maximum - used)}

    return Response.json(
        {
            "ConcurrentAsyncGetReportInstances": entry(200, 0),
            "DailyApiRequests": entry(limit, org.api_calls_in_window),
            "DailyAsyncApexExecutions": entry(250000, 0),
            "DailyBulkApiBatches": entry(15000, ingest_jobs),
            "DailyBulkV2QueryFileStorageMB": entry(976562, 0),
            "DailyBulkV2QueryJobs": entry(10000, query_jobs),
            "DataStorageMB": entry(1024, storage_used),
            "FileStorageMB": entry(1024, 0),
            "HourlyTimeBasedWorkflow": entry(1000, 0),
            "SingleEmail": entry(5000, 0),
        }
    )


def record_count(request: Request, **_: str) -> Response:
    org = org_of(request)
    wanted = request.param("sObjects")
    names = [n.strip() for n in wanted.split(",") if n.strip()] if wanted else None
    objects = [org.object_def(n) for n in names] if names else list(org.iter_objects())
    counts = []
    for obj in objects:
        if obj is None:
            continue
        count = org.count(obj.name)
        if names or count:
            counts.append({"count": count, "name": obj.name})
    return Response.json({"sObjects": counts})


def build_router() -> Router:
    from salesforce_emulator import bulk, replication, tooling

    router = Router()
    router.add("", GET=resources)
    router.add("sobjects", GET=global_describe)
    router.add("sobjects/{sobject}", GET=basic_info, POST=create)
    router.add("sobjects/{sobject}/describe", GET=sobject_describe)
    router.add("sobjects/{sobject}/deleted", GET=replication.get_deleted)
    router.add("sobjects/{sobject}/updated", GET=replication.get_updated)
    router.add(
        "sobjects/{sobject}/{ref}",
        GET=get_row,
        PATCH=update_row,
        DELETE=delete_row,
        POST=create_by_id_path,
    )
    router.add(
        "sobjects/{sobject}/{field}/{value}",
        GET=get_by_ext_id,
        PATCH=upsert_by_ext_id,
        DELETE=delete_by_ext_id,
    )
    router.add("query", GET=query)
    router.add("queryAll", GET=query_all)
    router.add("query/{locator}", GET=query_more)
    router.add("queryAll/{locator}", GET=query_all_more)
    router.add(
        "composite/sobjects",
        POST=collection_create,
        PATCH=collection_update,
        DELETE=collection_delete,
    )
    router.add(
        "composite/sobjects/{sobject}",
        GET=collection_retrieve_get,
        POST=collection_retrieve_post,
    )
    router.add("composite/sobjects/{sobject}/{field}", PATCH=collection_upsert)
    router.add("limits", GET=limits)
    router.add("limits/recordCount", GET=record_count)
    bulk.add_routes(router)
    tooling.add_routes(router)
    return router
