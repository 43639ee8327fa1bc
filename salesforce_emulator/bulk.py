"""Bulk API 2.0: ingest jobs (insert, update, upsert, delete, hardDelete) and query jobs.

Ingest jobs are processed synchronously when the client marks the upload complete, in
transactions of ``CHUNK`` rows; the next GET reports ``JobComplete``. Query jobs run
when created. Jobs live in memory only.
"""

from __future__ import annotations

import base64
import csv
import io
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

from salesforce_emulator import row_locks
from salesforce_emulator import soql as soql_engine
from salesforce_emulator.errors import ApiError, FieldValueError, RecordFailure
from salesforce_emulator.ids import normalize_id
from salesforce_emulator.org import Org
from salesforce_emulator.rest import org_of, soql_error
from salesforce_emulator.routing import Router
from salesforce_emulator.transport import CSV_TYPE, Request, Response
from salesforce_emulator.writer import Column, Writer

CHUNK = 10000
DELIMITERS = {
    "COMMA": ",",
    "TAB": "\t",
    "PIPE": "|",
    "SEMICOLON": ";",
    "CARET": "^",
    "BACKQUOTE": "`",
}
LINE_ENDINGS = {"LF": "\n", "CRLF": "\r\n"}
INGEST_OPERATIONS = ("insert", "update", "upsert", "delete", "hardDelete")
QUERY_OPERATIONS = ("query", "queryAll")
# The operations whose rows take row locks (and count for ``lock_failures``).
LOCKING_OPERATIONS = ("insert", "update", "upsert")


@dataclass
class Job:
    id: str
    operation: str
    created_by: str
    api_version: str
    column_delimiter: str = "COMMA"
    line_ending: str = "LF"
    state: str = "Open"
    created_date: str = ""
    system_modstamp: str = ""
    error_message: str | None = None
    processed: int = 0
    failed: int = 0
    is_query: bool = False
    # The org's ``clock.now_text``: job dates follow the emulator's clock.
    clock: Callable[[], str] = field(kw_only=True, repr=False, compare=False)

    def __post_init__(self) -> None:
        self.created_date = self.created_date or self.clock()
        self.system_modstamp = self.system_modstamp or self.created_date

    @property
    def delimiter(self) -> str:
        return DELIMITERS[self.column_delimiter]

    @property
    def newline(self) -> str:
        return LINE_ENDINGS[self.line_ending]

    def touch(self, state: str | None = None) -> None:
        if state is not None:
            self.state = state
        self.system_modstamp = self.clock()

    def common_info(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "operation": self.operation,
            "createdById": self.created_by,
            "createdDate": self.created_date,
            "systemModstamp": self.system_modstamp,
            "state": self.state,
            "concurrencyMode": "Parallel",
            "contentType": "CSV",
            "apiVersion": float(self.api_version),
            "lineEnding": self.line_ending,
            "columnDelimiter": self.column_delimiter,
        }


@dataclass
class IngestJob(Job):
    sobject: str = ""
    external_id_field: str | None = None
    chunks: list[str] = field(default_factory=list)
    header: list[str] = field(default_factory=list)
    successes: list[list[str]] = field(default_factory=list)
    failures: list[list[str]] = field(default_factory=list)
    unprocessed: list[list[str]] = field(default_factory=list)

    def info(self) -> dict[str, Any]:
        info = self.common_info()
        info.update(
            {
                "object": self.sobject,
                "externalIdFieldName": self.external_id_field,
                "jobType": "V2Ingest",
                "contentUrl": f"services/data/v{self.api_version}/jobs/ingest/{self.id}/batches",
                "numberRecordsProcessed": self.processed,
                "numberRecordsFailed": self.failed,
                "retries": 0,
                "totalProcessingTime": 0,
                "apiActiveProcessingTime": 0,
                "apexProcessingTime": 0,
            }
        )
        if self.error_message:
            info["errorMessage"] = self.error_message
        return info


@dataclass
class QueryJob(Job):
    query: str = ""
    sobject: str = ""
    columns: list[str] = field(default_factory=list)
    rows: list[list[str]] = field(default_factory=list)
    is_query: bool = True

    def info(self) -> dict[str, Any]:
        info = self.common_info()
        info.update(
            {
                "object": self.sobject,
                "jobType": "V2Query",
                "numberRecordsProcessed": self.processed,
                "retries": 0,
                "totalProcessingTime": 0,
                "isPkChunkingSupported": True,
            }
        )
        if self.error_message:
            info["errorMessage"] = self.error_message
        return info


def _job(request: Request, job_id: str, query: bool) -> Any:
    job = org_of(request).jobs.get(normalize_id(job_id) or job_id)
    if job is None or job.is_query != query:
        raise ApiError(404, "NOT_FOUND", "The requested resource does not exist")
    return job


def _options(body: dict[str, Any]) -> tuple[str, str]:
    delimiter = str(body.get("columnDelimiter") or "COMMA")
    line_ending = str(body.get("lineEnding") or "LF")
    if delimiter not in DELIMITERS:
        raise ApiError(400, "INVALIDJOB", f"Invalid columnDelimiter: {delimiter}")
    if line_ending not in LINE_ENDINGS:
        raise ApiError(400, "INVALIDJOB", f"Invalid lineEnding: {line_ending}")
    return delimiter, line_ending


def _body(request: Request) -> dict[str, Any]:
    body = request.json()
    if not isinstance(body, dict):
        raise ApiError(400, "JSON_PARSER_ERROR", "Expected a JSON object")
    return body


def _csv_text(rows: Sequence[Sequence[str]], header: Sequence[str], job: Job) -> str:
    buffer = io.StringIO()
    writer = csv.writer(
        buffer,
        delimiter=job.delimiter,
        lineterminator=job.newline,
        quoting=csv.QUOTE_ALL,
    )
    writer.writerow(header)
    writer.writerows(rows)
    return buffer.getvalue()


def _csv_response(text: str, headers: list[tuple[str, str]] | None = None) -> Response:
    return Response(200, text.encode("utf-8"), CSV_TYPE, headers or [])


# -- ingest ------------------------------------------------------------------------------------


def create_ingest(request: Request, **_: str) -> Response:
    body = _body(request)
    org = org_of(request)
    operation = str(body.get("operation") or "")
    if operation not in INGEST_OPERATIONS:
        raise ApiError(400, "INVALIDJOB", f"Invalid operation: {operation or 'null'}")
    if (body.get("contentType") or "CSV") != "CSV":
        raise ApiError(400, "INVALIDJOB", "Only CSV content is supported")
    obj = org.object_def(str(body.get("object") or ""))
    if obj is None:
        raise ApiError(
            400, "INVALIDJOB", f"Unable to find object: {body.get('object')}"
        )
    ext_field = body.get("externalIdFieldName")
    if operation == "upsert":
        field_def = obj.field(str(ext_field or ""))
        if field_def is None or not (field_def.external_id or field_def.id_lookup):
            raise ApiError(400, "INVALIDJOB", f"Invalid external id field: {ext_field}")
        ext_field = field_def.name
    delimiter, line_ending = _options(body)
    job = IngestJob(
        id=org.ids.next_id("750"),
        clock=org.clock.now_text,
        operation=operation,
        created_by=request.user_id,
        api_version=request.version,
        column_delimiter=delimiter,
        line_ending=line_ending,
        sobject=obj.name,
        external_id_field=ext_field if operation == "upsert" else None,
    )
    org.jobs[job.id] = job
    return Response.json(job.info())


def upload_batch(request: Request, job_id: str, **_: str) -> Response:
    job: IngestJob = _job(request, job_id, False)
    if job.state != "Open":
        raise ApiError(
            409, "INVALIDJOBSTATE", f"Job is not open for uploads: {job.state}"
        )
    text = request.text()
    if not text.strip():
        raise ApiError(400, "INVALIDJOB", "The uploaded CSV is empty")
    job.chunks.append(text)
    job.touch()
    return Response.empty(201)


def get_ingest(request: Request, job_id: str, **_: str) -> Response:
    job: IngestJob = _job(request, job_id, False)
    if job.state == "UploadComplete":
        job.touch("JobComplete" if not job.error_message else "Failed")
    return Response.json(job.info())


def patch_ingest(request: Request, job_id: str, **_: str) -> Response:
    job: IngestJob = _job(request, job_id, False)
    state = _body(request).get("state")
    if state == "UploadComplete" and job.state == "Open":
        if len(job.chunks) > 1:
            # Salesforce takes one upload per job and refuses to close one that got
            # several (a client resending its upload must not load rows twice).
            raise ApiError(
                400,
                "INVALIDJOB",
                f"Found multiple contents for job: <{job.id}>, please 'Close' / "
                "'Abort' / 'Delete' the current Job then create a new Job and make "
                "sure you only do 'PUT' once on a given Job.",
            )
        process_ingest(org_of(request), job)
        request.wrote = True
        return Response.json({**job.info(), "state": "UploadComplete"})
    if state == "Aborted" and job.state in ("Open", "UploadComplete", "InProgress"):
        if job.state == "Open":
            job.header, job.unprocessed = _parse_chunks(job)
        job.touch("Aborted")
        return Response.json(job.info())
    raise ApiError(
        400, "INVALIDJOBSTATE", f"Cannot change state from {job.state} to {state}"
    )


def delete_job(request: Request, job_id: str, query: bool) -> Response:
    job = _job(request, job_id, query)
    if job.state in ("Open", "UploadComplete", "InProgress") and not query:
        raise ApiError(400, "INVALIDJOBSTATE", "Abort the job before deleting it")
    del org_of(request).jobs[job.id]
    return Response.empty()


def list_jobs(request: Request, query: bool) -> Response:
    jobs = [j.info() for j in org_of(request).jobs.values() if j.is_query == query]
    return Response.json({"done": True, "records": jobs, "nextRecordsUrl": None})


def ingest_results(request: Request, job_id: str, kind: str, **_: str) -> Response:
    job: IngestJob = _job(request, job_id, False)
    kind = kind.lower()
    header = list(job.header)
    if kind == "successfulresults":
        return _csv_response(
            _csv_text(job.successes, ["sf__Id", "sf__Created", *header], job)
        )
    if kind == "failedresults":
        return _csv_response(
            _csv_text(job.failures, ["sf__Id", "sf__Error", *header], job)
        )
    if kind == "unprocessedrecords":
        return _csv_response(_csv_text(job.unprocessed, header, job))
    raise ApiError(404, "NOT_FOUND", "The requested resource does not exist")


def _parse_chunks(job: IngestJob) -> tuple[list[str], list[list[str]]]:
    header: list[str] = []
    rows: list[list[str]] = []
    for chunk in job.chunks:
        reader = csv.reader(io.StringIO(chunk, newline=""), delimiter=job.delimiter)
        chunk_header = next(reader, [])
        if not header:
            header = chunk_header
        elif [h.lower() for h in chunk_header] != [h.lower() for h in header]:
            raise ValueError("All uploads of a job must have the same header")
        rows.extend(row for row in reader if row)
    return header, rows


def _fail_job(job: IngestJob, message: str) -> None:
    job.error_message = message
    job.touch("Failed")


def process_ingest(org: Org, job: IngestJob) -> None:
    """Apply every row of an ingest job; the job ends JobComplete or Failed."""
    job.touch("InProgress")
    try:
        header, rows = _parse_chunks(job)
    except (ValueError, csv.Error) as exc:
        _fail_job(job, f"InvalidBatch : {exc}")
        return
    job.header = header
    writer = org.writer(job.sobject)
    try:
        plan = _plan(writer, job, header)
    except ValueError as exc:
        job.unprocessed = rows
        _fail_job(job, f"InvalidBatch : {exc}")
        return
    for start in range(0, len(rows), CHUNK):
        chunk = rows[start : start + CHUNK]
        # Row locks first: a chunk waiting for one must not stop its holder writing.
        with (
            _row_locked(org, job, plan, chunk) as refusals,
            org.store.transaction(),
        ):
            _apply_rows(writer, job, plan, chunk, refusals)
    job.touch("UploadComplete")


@contextmanager
def _row_locked(
    org: Org, job: IngestJob, plan: list[Column], rows: list[list[str]]
) -> Iterator[Sequence[RecordFailure | None]]:
    """Hold the row locks of a chunk's rows (``row_locks.py``); yields, per row, the
    UNABLE_TO_LOCK_ROW failure it gets instead of being written, or None."""
    if not row_locks.active(org.faults) or job.operation not in LOCKING_OPERATIONS:
        yield [None] * len(rows)
        return
    id_index = next((c.index for c in plan if c.field.name == "Id"), -1)
    lookups = [c for c in plan if c.convert is not None and c.field.is_reference]
    references = [c.field for c in lookups]
    wanted = []
    for row in rows:
        cells = {c.field.name: row[c.index] for c in lookups if c.index < len(row)}
        updating = job.operation == "update" and 0 <= id_index < len(row)
        own_id = row[id_index] if updating else None
        wanted.append(row_locks.lock_ids(references, cells, own_id))
    with row_locks.write_locks(org, wanted) as refusals:
        yield refusals


def _plan(writer: Writer, job: IngestJob, header: list[str]) -> list[Column]:
    lowered = [h.strip().lower() for h in header]
    if job.operation in ("delete", "hardDelete") and lowered != ["id"]:
        raise ValueError("Delete and hardDelete jobs need exactly one column: Id")
    if job.operation == "update" and "id" not in lowered:
        raise ValueError("Update jobs need an Id column")
    if (
        job.operation == "upsert"
        and (job.external_id_field or "").lower() not in lowered
    ):
        raise ValueError(f"The upsert CSV needs a {job.external_id_field} column")
    return writer.columns(header)


def _apply_rows(
    writer: Writer,
    job: IngestJob,
    plan: list[Column],
    rows: list[list[str]],
    refusals: Sequence[RecordFailure | None],
) -> None:
    user_id, now = job.created_by, job.clock()
    operation = job.operation
    ext_field = (
        writer.obj.field(job.external_id_field) if job.external_id_field else None
    )
    id_index = next((c.index for c in plan if c.field.name == "Id"), -1)
    for row, refusal in zip(rows, refusals, strict=True):
        if refusal is not None:
            _row_failed(job, row, refusal, id_index)
            continue
        try:
            if operation == "delete":
                record_id, created = writer.delete(row[id_index], user_id, now), False
            elif operation == "hardDelete":
                record_id, created = writer.hard_delete(row[id_index]), False
            else:
                values = writer.row_values(plan, row)
                if operation == "insert":
                    record_id, created = writer.insert(values, user_id, now), True
                elif operation == "update":
                    raw_id = values.pop("Id", None)
                    record_id = writer.update(raw_id, values, user_id, now)
                    created = False
                else:
                    assert ext_field is not None
                    record_id, created = writer.upsert(ext_field, values, user_id, now)
        except FieldValueError as exc:
            _row_failed(job, row, RecordFailure(exc.record_error()), id_index)
            continue
        except RecordFailure as failure:
            _row_failed(job, row, failure, id_index)
            continue
        job.successes.append([record_id, "true" if created else "false", *row])
        job.processed += 1


def _row_failed(
    job: IngestJob, row: list[str], failure: RecordFailure, id_index: int
) -> None:
    shown_id = ""
    if job.operation != "insert" and 0 <= id_index < len(row):
        shown_id = normalize_id(row[id_index]) or row[id_index]
    error = " ".join(e.as_bulk_error() for e in failure.errors)
    job.failures.append([shown_id, error, *row])
    job.processed += 1
    job.failed += 1


# -- query jobs -----------------------------------------------------------------------------


def create_query(request: Request, **_: str) -> Response:
    body = _body(request)
    org = org_of(request)
    operation = str(body.get("operation") or "query")
    if operation not in QUERY_OPERATIONS:
        raise ApiError(400, "INVALIDJOB", f"Invalid operation: {operation}")
    text = str(body.get("query") or "")
    delimiter, line_ending = _options(body)
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
            columns = soql_engine.columns(query, org.catalog)
            result = soql_engine.execute(
                query,
                org.catalog,
                api_version=request.version,
                include_deleted=operation == "queryAll",
                now=org.clock.now(),
            )
    except soql_engine.SoqlError as error:
        raise soql_error(error) from None
    job = QueryJob(
        id=org.ids.next_id("750"),
        clock=org.clock.now_text,
        operation=operation,
        created_by=request.user_id,
        api_version=request.version,
        column_delimiter=delimiter,
        line_ending=line_ending,
        query=text,
        columns=columns,
        state="UploadComplete",
        sobject=_object_name(org, query.sobject),
    )
    job.rows = [soql_engine.flat_row(record, columns) for record in result.records]
    job.processed = len(job.rows)
    org.jobs[job.id] = job
    return Response.json(job.info())


def _object_name(org: Org, name: str) -> str:
    obj = org.object_def(name)
    return obj.name if obj else name


def get_query(request: Request, job_id: str, **_: str) -> Response:
    job: QueryJob = _job(request, job_id, True)
    if job.state in ("UploadComplete", "InProgress"):
        job.touch("JobComplete")
    return Response.json(job.info())


def patch_query(request: Request, job_id: str, **_: str) -> Response:
    job: QueryJob = _job(request, job_id, True)
    state = _body(request).get("state")
    if state != "Aborted" or job.state in ("JobComplete", "Failed", "Aborted"):
        raise ApiError(
            400, "INVALIDJOBSTATE", f"Cannot change state from {job.state} to {state}"
        )
    job.touch("Aborted")
    return Response.json(job.info())


def _locator(offset: int) -> str:
    return base64.b64encode(str(offset).encode()).decode().rstrip("=")


def _offset(locator: str) -> int:
    try:
        padded = locator + "=" * (-len(locator) % 4)
        return int(base64.b64decode(padded.encode(), validate=True).decode())
    except (ValueError, UnicodeDecodeError):
        raise ApiError(400, "INVALID_LOCATOR", f"Invalid locator: {locator}") from None


def query_results(request: Request, job_id: str, **_: str) -> Response:
    job: QueryJob = _job(request, job_id, True)
    if job.state in ("UploadComplete", "InProgress"):
        job.touch("JobComplete")
    if job.state != "JobComplete":
        raise ApiError(400, "JOB_NOT_COMPLETE", f"Job is not complete: {job.state}")
    locator = request.param("locator")
    offset = _offset(locator) if locator and locator != "null" else 0
    max_records = request.param("maxRecords")
    size = (
        int(max_records)
        if max_records and max_records.isdigit() and int(max_records)
        else 0
    )
    end = len(job.rows) if not size else min(len(job.rows), offset + size)
    page = job.rows[offset:end]
    next_locator = _locator(end) if end < len(job.rows) else "null"
    return _csv_response(
        _csv_text(page, job.columns, job),
        [("Sforce-Locator", next_locator), ("Sforce-NumberOfRecords", str(len(page)))],
    )


def add_routes(router: Router) -> None:
    router.add(
        "jobs/ingest", POST=create_ingest, GET=lambda r, **_: list_jobs(r, False)
    )
    router.add(
        "jobs/ingest/{job_id}",
        GET=get_ingest,
        PATCH=patch_ingest,
        DELETE=lambda r, job_id, **_: delete_job(r, job_id, False),
    )
    router.add("jobs/ingest/{job_id}/batches", PUT=upload_batch)
    router.add("jobs/ingest/{job_id}/{kind}", GET=ingest_results)
    router.add("jobs/query", POST=create_query, GET=lambda r, **_: list_jobs(r, True))
    router.add(
        "jobs/query/{job_id}",
        GET=get_query,
        PATCH=patch_query,
        DELETE=lambda r, job_id, **_: delete_job(r, job_id, True),
    )
    router.add("jobs/query/{job_id}/results", GET=query_results)
