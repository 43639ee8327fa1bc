"""Bulk API 1.0: ``/services/async/XX.X/job...`` (what Data Loader and
simple-salesforce's ``sf.bulk`` use).

Jobs (insert, update, upsert, delete, hardDelete, query, queryAll) take batches of CSV
or JSON records (``contentType`` CSV or JSON; XML batches are not modelled). A batch is
accepted as ``Queued`` and processed at once, so the next GET finds it ``Completed`` (or
``Failed`` with a ``stateMessage``); closing a job stops new batches, aborting it marks
unprocessed batches ``NotProcessed``. Results come per batch: one result per record, in
request order, for DML; a result id, then the rows, for queries.

Job and batch info is XML unless the request is JSON (``Content-Type`` or ``Accept``
``application/json``) or the job's content is JSON. The session is the
``X-SFDC-Session`` header (a Bearer ``Authorization`` header also works). Errors are
Bulk API errors: ``<error><exceptionCode>InvalidJob</exceptionCode>...`` (or the JSON
equivalent) with HTTP 400.
"""

from __future__ import annotations

import csv
import io
import json
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from typing import Any, Final, Protocol
from xml.etree import ElementTree
from xml.sax.saxutils import escape

from salesforce_emulator import resources
from salesforce_emulator import soql as soql_engine
from salesforce_emulator.errors import FieldValueError, RecordError, RecordFailure
from salesforce_emulator.ids import normalize_id
from salesforce_emulator.org import Org
from salesforce_emulator.schema import ObjectDef
from salesforce_emulator.transport import CSV_TYPE, Request, Response
from salesforce_emulator.writer import Writer

NAMESPACE: Final = "http://www.force.com/2009/06/asyncapi/dataload"
XML_TYPE: Final = "application/xml"
JSON_TYPE: Final = "application/json"
DML_OPERATIONS: Final = ("insert", "update", "upsert", "delete", "hardDelete")
QUERY_OPERATIONS: Final = ("query", "queryAll")
# Bulk API limits (Bulk API and Bulk API 2.0 Limits and Allocations).
MAX_RECORDS_PER_BATCH: Final = 10_000
MAX_BATCH_CHARACTERS: Final = 10_000_000
MAX_BATCHES_PER_DAY: Final = 15_000
_VERSION: Final = re.compile(r"\d{1,3}\.\d\Z")


class Registry(Protocol):
    def org_by_token(self, token: str) -> Org | None: ...


class BulkError(Exception):
    """A Bulk API error: ``exceptionCode`` and ``exceptionMessage``, HTTP 400."""

    def __init__(self, code: str, message: str, status: int = 400) -> None:
        super().__init__(f"{code}: {message}")
        self.code = code
        self.message = message
        self.status = status


# -- jobs and batches ---------------------------------------------------------------------


@dataclass
class Batch:
    id: str
    job_id: str
    created_date: str
    request_body: bytes
    state: str = "Queued"
    state_message: str | None = None
    system_modstamp: str = ""
    processed: int = 0
    failed: int = 0
    # DML: one result per record, in request order.
    results: list[dict[str, Any]] = field(default_factory=list)
    # Query: the result set's id, its records (REST shape) and CSV columns.
    result_id: str | None = None
    records: list[dict[str, Any]] = field(default_factory=list)
    columns: list[str] = field(default_factory=list)

    def fail(self, message: str, now: str) -> None:
        self.state, self.state_message, self.system_modstamp = "Failed", message, now

    def info(self) -> dict[str, Any]:
        info: dict[str, Any] = {
            "id": self.id,
            "jobId": self.job_id,
            "state": self.state,
        }
        if self.state_message:
            info["stateMessage"] = self.state_message
        info.update(
            {
                "createdDate": self.created_date,
                "systemModstamp": self.system_modstamp or self.created_date,
                "numberRecordsProcessed": self.processed,
                "numberRecordsFailed": self.failed,
                "totalProcessingTime": 0,
                "apiActiveProcessingTime": 0,
                "apexProcessingTime": 0,
            }
        )
        return info


@dataclass
class BulkJob:
    id: str
    operation: str
    sobject: str
    content_type: str
    concurrency_mode: str
    external_id_field: str | None
    created_by: str
    api_version: str
    created_date: str
    state: str = "Open"
    system_modstamp: str = ""
    batches: dict[str, Batch] = field(default_factory=dict)
    # Kept with the Bulk API 2.0 jobs of the org; None tells those routes this job
    # is neither a 2.0 ingest nor a 2.0 query job.
    is_query: None = None

    @property
    def is_query_job(self) -> bool:
        return self.operation in QUERY_OPERATIONS

    def count(self, state: str) -> int:
        return sum(1 for b in self.batches.values() if b.state == state)

    def info(self) -> dict[str, Any]:
        info: dict[str, Any] = {
            "id": self.id,
            "operation": self.operation,
            "object": self.sobject,
        }
        if self.external_id_field:
            info["externalIdFieldName"] = self.external_id_field
        info.update(
            {
                "createdById": self.created_by,
                "createdDate": self.created_date,
                "systemModstamp": self.system_modstamp or self.created_date,
                "state": self.state,
                "concurrencyMode": self.concurrency_mode,
                "contentType": self.content_type,
                "numberBatchesQueued": self.count("Queued"),
                "numberBatchesInProgress": self.count("InProgress"),
                "numberBatchesCompleted": self.count("Completed"),
                "numberBatchesFailed": self.count("Failed"),
                "numberBatchesTotal": len(self.batches),
                "numberRecordsProcessed": sum(
                    b.processed for b in self.batches.values()
                ),
                "numberRetries": 0,
                "apiVersion": float(self.api_version),
                "numberRecordsFailed": sum(b.failed for b in self.batches.values()),
                "totalProcessingTime": 0,
                "apiActiveProcessingTime": 0,
                "apexProcessingTime": 0,
            }
        )
        return info


# -- dispatch -------------------------------------------------------------------------------


@dataclass
class _Call:
    request: Request
    org: Org
    version: str
    wants_json: bool


def handle(registry: Registry, request: Request) -> Response:
    """``/services/async/{version}/job[/{jobId}[/batch[/{batchId}[/...]]]]``."""
    wants_json = _wants_json(request)
    try:
        call = _authenticate(registry, request, wants_json)
        return _route(call, request.segments[3:])
    except BulkError as error:
        return _error(error, wants_json)


def _wants_json(request: Request) -> bool:
    accept = request.headers.get("Accept") or ""
    content_type = request.headers.get("Content-Type") or ""
    return "json" in accept.lower() or "json" in content_type.lower()


def _authenticate(registry: Registry, request: Request, wants_json: bool) -> _Call:
    segments = request.segments
    version = segments[2] if len(segments) > 2 else ""
    if not _VERSION.match(version) or not resources.is_served(version):
        raise BulkError("InvalidUrl", f"Invalid API version: {version}")
    token = request.headers.get("X-SFDC-Session") or request.bearer() or ""
    org = registry.org_by_token(token)
    user_id = org.tokens.user_for(token) if org is not None else None
    if org is None or user_id is None:
        raise BulkError("InvalidSessionId", "Invalid session id")
    request.org, request.user_id, request.version = org, user_id, version
    org.count_api_call()
    return _Call(request, org, version, wants_json)


def _route(call: _Call, path: list[str]) -> Response:
    method = call.request.method
    if not path or path[0] != "job":
        raise BulkError("InvalidUrl", "Invalid URL: the path must start with job")
    if len(path) == 1 and method == "POST":
        return create_job(call)
    if len(path) < 2:
        raise BulkError("InvalidUrl", f"Invalid URL for {method}")
    job = _job(call, path[1])
    rest = path[2:]
    routes: dict[tuple[int, str], Callable[[_Call, BulkJob, list[str]], Response]] = {
        (0, "GET"): lambda c, j, p: _info_response(c, j, j.info(), "jobInfo"),
        (0, "POST"): update_job,
        (1, "POST"): add_batch,
        (1, "GET"): list_batches,
        (2, "GET"): get_batch,
        (3, "GET"): batch_detail,
        (4, "GET"): query_result,
    }
    handler = routes.get((len(rest), method))
    if handler is None or (rest and rest[0] != "batch"):
        raise BulkError("InvalidUrl", f"Invalid URL for {method}")
    return handler(call, job, rest)


def _job(call: _Call, raw_id: str) -> BulkJob:
    job = call.org.jobs.get(normalize_id(raw_id) or raw_id)
    if not isinstance(job, BulkJob):
        raise BulkError("InvalidJob", f"Invalid job id: {raw_id}")
    return job


def _batch(job: BulkJob, raw_id: str) -> Batch:
    batch = job.batches.get(normalize_id(raw_id) or raw_id)
    if batch is None:
        raise BulkError("InvalidBatch", f"Invalid batch id: {raw_id}")
    return batch


# -- job routes -----------------------------------------------------------------------------


def create_job(call: _Call) -> Response:
    spec = _request_fields(call.request)
    operation = spec.get("operation", "")
    if operation not in DML_OPERATIONS + QUERY_OPERATIONS:
        raise BulkError("InvalidJob", f"Invalid operation: {operation or 'null'}")
    obj = call.org.catalog.object_def(spec.get("object", ""))
    if obj is None:
        raise BulkError("InvalidJob", f"Unable to find object: {spec.get('object')}")
    content_type = (spec.get("contentType") or "XML").upper()
    if content_type not in ("CSV", "JSON"):
        raise BulkError("InvalidJob", f"Unsupported content type: {content_type}")
    external_id = spec.get("externalIdFieldName") or None
    _check_external_id(operation, obj, external_id)
    org = call.org
    job = BulkJob(
        id=org.ids.next_id("750"),
        operation=operation,
        sobject=obj.name,
        content_type=content_type,
        concurrency_mode=_concurrency(spec.get("concurrencyMode")),
        external_id_field=external_id,
        created_by=call.request.user_id,
        api_version=call.version,
        created_date=org.clock.now_text(),
    )
    org.jobs[job.id] = job
    return _info_response(call, job, job.info(), "jobInfo", status=201)


def _check_external_id(operation: str, obj: ObjectDef, external_id: str | None) -> None:
    if operation != "upsert":
        return
    if not external_id:
        raise BulkError(
            "InvalidJob",
            f"External ID was blank for {obj.name}. An External ID must be specified "
            "for upsert.",
        )
    field_def = obj.field(external_id)
    if field_def is None or not (field_def.external_id or field_def.type == "id"):
        raise BulkError(
            "InvalidJob",
            f"Field name provided, {external_id} is not an External ID or indexed "
            f"field for {obj.name}",
        )


def _concurrency(raw: str | None) -> str:
    # simple-salesforce sends 0 / 1 for Parallel / Serial.
    return "Serial" if (raw or "").lower() in ("serial", "1") else "Parallel"


def update_job(call: _Call, job: BulkJob, _: list[str]) -> Response:
    wanted = _request_fields(call.request).get("state", "")
    if wanted not in ("Closed", "Aborted"):
        raise BulkError("InvalidJobState", f"Invalid state: {wanted or 'null'}")
    if job.state != "Open":
        raise BulkError(
            "InvalidJobState", f"Job {job.id} is {job.state}: its state cannot change"
        )
    now = call.org.clock.now_text()
    job.state, job.system_modstamp = wanted, now
    if wanted == "Aborted":
        for batch in job.batches.values():
            if batch.state in ("Queued", "InProgress"):
                batch.state, batch.system_modstamp = "NotProcessed", now
    return _info_response(call, job, job.info(), "jobInfo")


# -- batch routes -----------------------------------------------------------------------


def add_batch(call: _Call, job: BulkJob, _: list[str]) -> Response:
    if job.state != "Open":
        raise BulkError("InvalidJobState", f"Job {job.id} is not open")
    org = call.org
    if _batches_today(org) >= MAX_BATCHES_PER_DAY:
        raise BulkError(
            "ExceededQuota",
            f"Exceeded the limit of {MAX_BATCHES_PER_DAY} batches per 24 hours",
        )
    now = org.clock.now_text()
    batch = Batch(org.ids.next_id("751"), job.id, now, call.request.body)
    job.batches[batch.id] = batch
    accepted = batch.info()  # answered as accepted; processed right away
    _process(org, job, batch, call.request.user_id)
    return _info_response(call, job, accepted, "batchInfo", status=201)


def _batches_today(org: Org) -> int:
    return sum(
        len(job.batches) for job in org.jobs.values() if isinstance(job, BulkJob)
    )


def list_batches(call: _Call, job: BulkJob, _: list[str]) -> Response:
    infos = [batch.info() for batch in job.batches.values()]
    if _json_for(call, job):
        return _json({"batchInfo": infos})
    items = "".join(f"<batchInfo>{_elements(info)}</batchInfo>" for info in infos)
    return _xml(f'<batchInfoList xmlns="{NAMESPACE}">{items}</batchInfoList>')


def get_batch(call: _Call, job: BulkJob, path: list[str]) -> Response:
    return _info_response(call, job, _batch(job, path[1]).info(), "batchInfo")


def batch_detail(call: _Call, job: BulkJob, path: list[str]) -> Response:
    batch = _batch(job, path[1])
    if path[2] == "request":
        content = JSON_TYPE if job.content_type == "JSON" else CSV_TYPE
        if job.is_query_job:
            content = "text/plain"
        return Response(200, batch.request_body, content)
    if path[2] != "result":
        raise BulkError("InvalidUrl", f"Invalid URL: {path[2]}")
    if batch.state != "Completed" and not (batch.state == "Failed" and batch.results):
        raise BulkError(
            "InvalidBatch", f"Batch {batch.id} is {batch.state}: it has no results"
        )
    if job.is_query_job:
        return _result_ids(job, batch)
    return _dml_results(job, batch)


def query_result(call: _Call, job: BulkJob, path: list[str]) -> Response:
    batch = _batch(job, path[1])
    if path[2] != "result" or batch.result_id is None or path[3] != batch.result_id:
        raise BulkError("InvalidBatch", f"Invalid result id: {path[3]}")
    if job.content_type == "JSON":
        return _json(_epoch_dates(call.org, batch.records))
    rows = [soql_engine.flat_row(record, batch.columns) for record in batch.records]
    return _csv([batch.columns, *rows])


# -- processing -----------------------------------------------------------------------------


def _process(org: Org, job: BulkJob, batch: Batch, user_id: str) -> None:
    now = org.clock.now_text()
    if len(batch.request_body) > MAX_BATCH_CHARACTERS:
        batch.fail(
            f"InvalidBatch : Exceeded max size limit of {MAX_BATCH_CHARACTERS}", now
        )
        return
    if job.is_query_job:
        _run_query(org, job, batch)
    else:
        _run_dml(org, job, batch, user_id)
    if batch.state == "Queued":
        batch.state, batch.system_modstamp = "Completed", org.clock.now_text()


def _run_query(org: Org, job: BulkJob, batch: Batch) -> None:
    text = batch.request_body.decode("utf-8", "replace").strip()
    try:
        query = soql_engine.parse(text)
        if query.offset is not None:
            raise soql_engine.SoqlError(
                "MALFORMED_QUERY", "OFFSET is not supported by Bulk API queries"
            )
        if query.is_count or query.is_aggregate:
            raise soql_engine.SoqlError(
                "MALFORMED_QUERY", "Aggregate queries are not supported by Bulk API"
            )
        with org.store.lock:
            batch.columns = soql_engine.columns(query, org.catalog)
            result = soql_engine.execute(
                query,
                org.catalog,
                api_version=job.api_version,
                include_deleted=job.operation == "queryAll",
                now=org.clock.now(),
            )
    except soql_engine.SoqlError as error:
        batch.fail(
            "InvalidBatch : Failed to process query: "
            f"{error.error_code}: {error.detail}",
            org.clock.now_text(),
        )
        return
    batch.records = result.records
    batch.processed = len(result.records)
    batch.result_id = org.ids.next_id("752")


def _run_dml(org: Org, job: BulkJob, batch: Batch, user_id: str) -> None:
    writer = org.writer(job.sobject)
    try:
        rows = _records(job, batch.request_body, writer)
    except ValueError as exc:
        batch.fail(f"InvalidBatch : {exc}", org.clock.now_text())
        return
    if len(rows) > MAX_RECORDS_PER_BATCH:
        batch.fail(
            f"InvalidBatch : Records in a batch can't exceed {MAX_RECORDS_PER_BATCH}: "
            f"{len(rows)} given",
            org.clock.now_text(),
        )
        return
    now = org.clock.now_text()
    with org.store.transaction():
        for values in rows:
            batch.results.append(_apply(writer, job, values, user_id, now))
    batch.processed = len(batch.results)
    batch.failed = sum(1 for r in batch.results if not r["success"])


def _records(job: BulkJob, body: bytes, writer: Writer) -> list[Any]:
    """The batch's records: JSON objects, or (column plan, row) pairs for CSV.

    Raises ValueError for a batch that cannot be read at all (an unknown column
    fails the whole batch, as in Salesforce)."""
    text = body.decode("utf-8-sig", "replace")
    if job.content_type == "JSON":
        try:
            data = json.loads(text)
        except ValueError as exc:
            raise ValueError(f"Unable to parse JSON: {exc}") from None
        if not isinstance(data, list) or not all(isinstance(r, dict) for r in data):
            raise ValueError("The batch must be a JSON array of records")
        return data
    reader = csv.reader(io.StringIO(text, newline=""))
    header = next(reader, [])
    if not header:
        raise ValueError("The CSV batch has no header row")
    plan = writer.columns(header)
    return [(plan, row) for row in reader if row]


def _apply(
    writer: Writer, job: BulkJob, record: Any, user_id: str, now: str
) -> dict[str, Any]:
    """Apply one record; its result as Bulk API reports it."""
    given_id: str | None = None
    try:
        values = _values(writer, job, record)
        given_id = values.get("Id")
        record_id, created = _write(writer, job, values, user_id, now)
    except FieldValueError as exc:
        return _failure(RecordFailure(exc.record_error()), given_id, job)
    except RecordFailure as failure:
        return _failure(failure, given_id, job)
    return {"success": True, "created": created, "id": record_id, "errors": []}


def _values(writer: Writer, job: BulkJob, record: Any) -> dict[str, Any]:
    if isinstance(record, tuple):
        plan, row = record
        return writer.row_values(plan, row)
    creating = job.operation == "insert"
    return writer.prepare(record, for_create=creating)


def _write(
    writer: Writer, job: BulkJob, values: dict[str, Any], user_id: str, now: str
) -> tuple[str, bool]:
    operation = job.operation
    if operation == "insert":
        return writer.insert(values, user_id, now), True
    if operation in ("delete", "hardDelete"):
        raw_id = values.get("Id")
        if operation == "hardDelete":
            return writer.hard_delete(raw_id), False
        return writer.delete(raw_id, user_id, now), False
    if operation == "update":
        raw_id = values.pop("Id", None)
        if raw_id is None:
            raise RecordFailure.of(
                "MISSING_ARGUMENT", "Id not specified in an update call"
            )
        return writer.update(raw_id, values, user_id, now), False
    ext_field = writer.obj.field(job.external_id_field or "")
    assert ext_field is not None  # checked when the job was created
    return writer.upsert(ext_field, values, user_id, now)


def _failure(
    failure: RecordFailure, given_id: str | None, job: BulkJob
) -> dict[str, Any]:
    shown = None
    if job.operation != "insert" and given_id:
        shown = normalize_id(str(given_id)) or str(given_id)
    return {
        "success": False,
        "created": False,
        "id": shown,
        "errors": [_error_json(e) for e in failure.errors],
    }


def _error_json(error: RecordError) -> dict[str, Any]:
    return {
        "message": error.message,
        "fields": list(error.fields),
        "statusCode": error.code,
    }


# -- results --------------------------------------------------------------------------------


def _dml_results(job: BulkJob, batch: Batch) -> Response:
    if job.content_type == "JSON":
        return _json(batch.results)
    rows = [["Id", "Success", "Created", "Error"]]
    for result in batch.results:
        error = " ".join(
            RecordError(
                e["statusCode"], e["message"], tuple(e["fields"])
            ).as_bulk_error()
            for e in result["errors"]
        )
        rows.append(
            [
                result["id"] or "",
                _flag(result["success"]),
                _flag(result["created"]),
                error,
            ]
        )
    return _csv(rows)


def _result_ids(job: BulkJob, batch: Batch) -> Response:
    ids = [batch.result_id] if batch.result_id else []
    if job.content_type == "JSON":
        return _json(ids)
    items = "".join(f"<result>{i}</result>" for i in ids)
    return _xml(f'<result-list xmlns="{NAMESPACE}">{items}</result-list>')


def _epoch_dates(org: Org, records: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Bulk API 1.0 JSON query results give dates and datetimes as epoch millis."""
    return [_epoch_record(org, record) for record in records]


def _epoch_record(org: Org, record: dict[str, Any]) -> dict[str, Any]:
    obj = org.catalog.object_def(str(record.get("attributes", {}).get("type", "")))
    converted: dict[str, Any] = {}
    for key, value in record.items():
        if isinstance(value, dict) and key != "attributes":
            value = _epoch_record(org, value)
        elif obj is not None and isinstance(value, str):
            field_def = obj.field(key)
            if field_def is not None and field_def.type in ("date", "datetime"):
                value = _epoch_millis(value)
        converted[key] = value
    return converted


def _epoch_millis(text: str) -> int:
    if len(text) == 10:
        moment = datetime.combine(date.fromisoformat(text), datetime.min.time(), UTC)
    else:
        moment = datetime.strptime(text, "%Y-%m-%dT%H:%M:%S.%f%z")
    return int(moment.timestamp() * 1000)


def _flag(value: bool) -> str:
    return "true" if value else "false"


# -- request and response formats -----------------------------------------------------


def _request_fields(request: Request) -> dict[str, str]:
    """The fields of a jobInfo request body, JSON or XML."""
    if not request.body:
        raise BulkError("InvalidJob", "The request body is empty")
    if "json" in (request.headers.get("Content-Type") or "").lower():
        try:
            data = json.loads(request.body)
        except ValueError as exc:
            raise BulkError("InvalidJob", f"Unable to parse JSON: {exc}") from None
        if not isinstance(data, dict):
            raise BulkError("InvalidJob", "Expected a JSON object")
        return {k: "" if v is None else str(v) for k, v in data.items()}
    try:
        root = ElementTree.fromstring(request.body)
    except ElementTree.ParseError as exc:
        raise BulkError("InvalidXML", f"Unable to parse XML: {exc}") from None
    return {child.tag.rsplit("}", 1)[-1]: (child.text or "") for child in root}


def _json_for(call: _Call, job: BulkJob) -> bool:
    return call.wants_json or job.content_type == "JSON"


def _info_response(
    call: _Call, job: BulkJob, info: dict[str, Any], element: str, status: int = 200
) -> Response:
    if _json_for(call, job):
        return _json(info, status)
    return _xml(
        f'<{element} xmlns="{NAMESPACE}">{_elements(_xml_dates(info))}</{element}>',
        status,
    )


def _xml_dates(info: dict[str, Any]) -> dict[str, Any]:
    """XML job and batch info write datetimes with a Z (JSON keeps +0000)."""
    return {
        k: v[:-5] + "Z"
        if isinstance(v, str) and (k.endswith("Date") or k == "systemModstamp")
        else v
        for k, v in info.items()
    }


def _elements(values: dict[str, Any]) -> str:
    parts = []
    for name, value in values.items():
        text = _flag(value) if isinstance(value, bool) else escape(str(value))
        parts.append(f"<{name}>{text}</{name}>")
    return "".join(parts)


def _xml(body: str, status: int = 200) -> Response:
    document = f'<?xml version="1.0" encoding="UTF-8"?>{body}'
    return Response(status, document.encode(), XML_TYPE)


def _json(data: Any, status: int = 200) -> Response:
    return Response(status, json.dumps(data).encode(), JSON_TYPE)


def _csv(rows: list[list[str]]) -> Response:
    buffer = io.StringIO()
    csv.writer(buffer, quoting=csv.QUOTE_ALL, lineterminator="\n").writerows(rows)
    return Response(200, buffer.getvalue().encode(), CSV_TYPE)


def _error(error: BulkError, wants_json: bool) -> Response:
    if wants_json:
        return _json(
            {"exceptionCode": error.code, "exceptionMessage": error.message},
            error.status,
        )
    return _xml(
        f'<error xmlns="{NAMESPACE}"><exceptionCode>{error.code}</exceptionCode>'
        f"<exceptionMessage>{escape(error.message)}</exceptionMessage></error>",
        error.status,
    )
