"""A small typed client over simple-salesforce: the only code that talks to Salesforce.

It knows nothing about Django. It reads through the REST query API (2,000 records a
page) or Bulk API 2.0 query jobs, writes through sObject Collections (200 records a
call), counts every HTTP call it makes, reads the org's remaining daily allowance from
``Sforce-Limit-Info``, and gets a new token once when the session expires.
"""

from __future__ import annotations

import codecs
import contextlib
import csv
import io
import json
import re
import threading
import time
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from email.utils import parsedate_to_datetime
from functools import partial
from http import HTTPStatus
from typing import Any, Protocol, TypedDict, TypeVar

import requests
from requests.adapters import HTTPAdapter
from simple_salesforce import Salesforce
from simple_salesforce.exceptions import SalesforceError as LibrarySalesforceError
from simple_salesforce.exceptions import (
    SalesforceExpiredSession,
    SalesforceOperationError,
)
from simple_salesforce.util import call_salesforce
from urllib3.util.retry import Retry

from migrations_app.salesforce.auth import Token
from migrations_app.salesforce.errors import (
    SalesforceError,
    bulk_failure_is_transient,
    error_from_content,
)

COLLECTION_SIZE = 200
# Logins in a row a call may make when its session is refused (see _call).
SESSION_RENEWALS = 2
BULK_QUERY_PAGE_SIZE = 10_000
# Polling an ingest job: first after 50 ms, then twice as late each time, at most 5 s.
BULK_POLL_FIRST_SECONDS = 0.05
BULK_POLL_MAX_SECONDS = 5.0
BULK_WAIT_SECONDS = 3600
# Salesforce takes one upload per ingest job, at most 150 MB once it has base64-encoded
# it (a third larger): a job's CSV stays under 100 MiB.
BULK_UPLOAD_MAX_BYTES = 100 * 1024 * 1024
# A job's CSV is produced, sent and read back in pieces of about this size.
BULK_CHUNK_BYTES = 64 * 1024
LIMIT_INFO = re.compile(r"api-usage=(\d+)/(\d+)")


class FieldError(TypedDict):
    statusCode: str
    message: str
    fields: list[str]


@dataclass(frozen=True)
class SaveResult:
    """The outcome of writing one record, in the order the records were sent."""

    success: bool
    id: str | None
    errors: tuple[FieldError, ...] = ()

    @property
    def error_code(self) -> str:
        return self.errors[0]["statusCode"] if self.errors else ""

    @property
    def error_message(self) -> str:
        return "; ".join(error["message"] for error in self.errors)

    @property
    def error_fields(self) -> list[str]:
        return [name for error in self.errors for name in error.get("fields", [])]


@dataclass
class Identity:
    organization_id: str
    user_id: str
    username: str
    email: str = ""


@dataclass
class ApiUsage:
    calls: int = 0
    used: int | None = None
    allowance: int | None = None
    # The org's own time, from the Date header of its last answer: repeat runs anchor
    # "changed since" on it, so a skewed clock on this server cannot hide a change.
    server_time: datetime | None = None
    # Several writes may be in flight at once (services/pipeline.py): count under it.
    lock: threading.Lock = field(
        default_factory=threading.Lock, repr=False, compare=False
    )

    @property
    def remaining(self) -> int | None:
        if self.used is None or self.allowance is None:
            return None
        return max(self.allowance - self.used, 0)


@dataclass(frozen=True)
class DeletedWindow:
    """A Get Deleted answer: ids deleted in the window and what the log covers."""

    ids: list[str]
    earliest_available: datetime | None
    latest_covered: datetime


@dataclass(frozen=True)
class UpdatedWindow:
    """A Get Updated answer: ids changed in the window, up to ``latest_covered``."""

    ids: list[str]
    latest_covered: datetime


T = TypeVar("T")


class Retrier(Protocol):
    """Runs an idempotent call again after a transient failure, within a budget."""

    def run(self, call: Callable[[], T], *, what: str) -> T: ...


# (connect, read) seconds; requests waits forever on a call given no timeout.
Timeout = tuple[float, float]
DEFAULT_TIMEOUT: Timeout = (10.0, 120.0)


class TimeoutSession(requests.Session):
    """A session whose every call has a timeout, even those simple-salesforce makes
    without one: a hung socket must never hold a run (and its org pair) forever."""

    def __init__(self, timeout: Timeout) -> None:
        super().__init__()
        self.default_timeout = timeout

    def request(self, *args: Any, **kwargs: Any) -> requests.Response:
        if kwargs.get("timeout") is None:
            kwargs["timeout"] = self.default_timeout
        return super().request(*args, **kwargs)


def build_session(
    *, ca_file: str, usage: ApiUsage, timeout: Timeout = DEFAULT_TIMEOUT
) -> requests.Session:
    """A session that trusts ``ca_file``, retries idempotent calls, counts calls, and
    gives every call ``timeout``."""
    session = TimeoutSession(timeout)
    if ca_file:
        session.verify = ca_file
        # With REQUESTS_CA_BUNDLE set, requests would ignore session.verify.
        session.trust_env = False
    # Writes (POST/PATCH) are never retried here: a lost answer to a create must go
    # through the write journal's reconciliation, or it could insert twice.
    retry = Retry(
        total=3,
        backoff_factor=0.5,
        status_forcelist=(502, 503, 504),
        # Not PUT: Salesforce takes one Bulk upload per job, so an upload sent again
        # would fail the job; a lost upload is settled by the journal instead.
        allowed_methods=frozenset({"GET", "HEAD", "DELETE"}),
        raise_on_status=False,
    )
    session.mount("https://", HTTPAdapter(max_retries=retry))
    session.hooks["response"].append(_usage_hook(usage))
    return session


def _usage_hook(usage: ApiUsage) -> Callable[..., None]:
    def record(response: requests.Response, *args: Any, **kwargs: Any) -> None:
        # Only data API calls count against the org's allowance; logins and the
        # identity URL do not.
        if "/services/data/" in response.url:
            with usage.lock:
                usage.calls += 1
        date = response.headers.get("Date")
        if date:
            with contextlib.suppress(TypeError, ValueError):
                usage.server_time = parsedate_to_datetime(date)
        match = LIMIT_INFO.match(response.headers.get("Sforce-Limit-Info", ""))
        if match:
            usage.used, usage.allowance = int(match.group(1)), int(match.group(2))

    return record


@dataclass
class SalesforceClient:
    token: Token
    api_version: str
    ca_file: str = ""
    timeout: Timeout = DEFAULT_TIMEOUT
    reauthenticate: Callable[[], Token] | None = None
    # Names the org in error messages ("target: REQUEST_LIMIT_EXCEEDED: ...").
    label: str = ""
    usage: ApiUsage = field(default_factory=ApiUsage)
    # Repeats reads after transient faults (writes never: their lost answers go
    # through the write journal). None: a failure is raised at once.
    retry: Retrier | None = None
    _describes: dict[str, dict[str, Any]] = field(default_factory=dict, repr=False)
    _global: list[dict[str, Any]] | None = field(default=None, repr=False)

    def __post_init__(self) -> None:
        self.session = build_session(
            ca_file=self.ca_file, usage=self.usage, timeout=self.timeout
        )
        self._sf = self._connect(self.token)

    def _connect(self, token: Token) -> Salesforce:
        return Salesforce(
            instance_url=token.instance_url,
            session_id=token.access_token,
            session=self.session,
            version=self.api_version,
            # Plain dicts: simple-salesforce's default (OrderedDict) makes parsing a
            # page of records two and a half times slower, and dicts keep order.
            object_pairs_hook=None,
        )

    def identify_as(self, name: str) -> None:
        """Name the caller in every request (Salesforce's ``Sforce-Call-Options:
        client=``), so the org's logs tell one run's calls from another's."""
        self.session.headers["Sforce-Call-Options"] = f"client={name}"

    def _read(self, action: Callable[[Salesforce], Any], what: str = "read") -> Any:
        """A call that changes nothing, so it is simply repeated after a transient
        failure when the client has a retrier."""
        if self.retry is None:
            return self._call(action)
        return self.retry.run(lambda: self._call(action), what=what)

    def _call(self, action: Callable[[Salesforce], Any]) -> Any:
        """Run ``action``; on an expired session, log in again and retry, twice at
        most: with calls in flight together, the session can be ended again while
        one of them is sent again. A refused session means nothing was done, so
        sending again is safe even for an insert."""
        for _ in range(SESSION_RENEWALS):
            try:
                return self._call_once(action)
            except SalesforceError as exc:
                if exc.code != "INVALID_SESSION_ID" or self.reauthenticate is None:
                    raise
            self.token = self.reauthenticate()
            self._sf = self._connect(self.token)
        return self._call_once(action)

    def _call_once(self, action: Callable[[Salesforce], Any]) -> Any:
        try:
            return self._translate(action)
        except SalesforceError as exc:
            if not self.label:
                raise
            raise SalesforceError(
                f"{self.label}: {exc.message}",
                code=exc.code,
                status=exc.status,
                permanent=exc.permanent,
            ) from exc

    def _translate(self, action: Callable[[Salesforce], Any]) -> Any:
        try:
            return action(self._sf)
        except SalesforceExpiredSession as exc:
            raise SalesforceError(
                "Session expired or invalid",
                code="INVALID_SESSION_ID",
                status=401,
                permanent=True,
            ) from exc
        except LibrarySalesforceError as exc:
            raise error_from_content(exc.status, exc.content) from exc
        except SalesforceOperationError as exc:
            # A Bulk API job that failed or was aborted as a whole: worth sending
            # again only when Salesforce says why and the reason is transient.
            transient = bulk_failure_is_transient(str(exc))
            raise SalesforceError(
                str(exc),
                code="UNKNOWN_EXCEPTION" if transient else "BULK_JOB_FAILED",
                permanent=not transient,
            ) from exc
        except requests.ReadTimeout as exc:
            # Sent, but no answer in time: a write may still be applied by the org.
            raise SalesforceError(
                f"{self.token.instance_url} did not answer in time: {exc}",
                code="TIMEOUT",
                permanent=False,
            ) from exc
        except requests.RequestException as exc:
            raise SalesforceError(
                f"Connection to {self.token.instance_url} failed: {exc}",
                code="TRANSPORT",
                permanent=False,
            ) from exc

    # Reading ---------------------------------------------------------------

    def identity(self) -> Identity:
        """Who we are logged in as, and in which org."""

        def fetch(sf: Salesforce) -> dict[str, Any]:
            # The identity URL comes with OAuth tokens; a raw access token only has
            # the instance, whose OpenID userinfo endpoint says the same.
            url = self.token.identity_url or (
                f"{self.token.instance_url}/services/oauth2/userinfo"
            )
            response = self.session.get(
                url,
                headers={"Authorization": f"Bearer {sf.session_id}"},
                timeout=self.timeout,
            )
            if response.status_code in (401, 403):
                raise SalesforceExpiredSession(
                    url, response.status_code, "identity", response.content
                )
            response.raise_for_status()
            result: dict[str, Any] = response.json()
            return result

        data = self._read(fetch, "identity")
        return Identity(
            organization_id=data["organization_id"],
            user_id=data["user_id"],
            username=data.get("username") or data.get("preferred_username", ""),
            email=data.get("email", ""),
        )

    def describe_global(self) -> list[dict[str, Any]]:
        if self._global is None:
            result = self._read(lambda sf: sf.describe(), "describe")
            self._global = list(result["sobjects"]) if result else []
        return self._global

    def describe(self, sobject: str) -> dict[str, Any]:
        """Describe ``sobject``, once per client (a client lives for one run)."""
        if sobject not in self._describes:
            self._describes[sobject] = self._read(
                lambda sf: getattr(sf, sobject).describe(), "describe"
            )
        return self._describes[sobject]

    def query(
        self, soql: str, *, include_deleted: bool = False
    ) -> Iterator[dict[str, Any]]:
        """Yield every record of ``soql``, one REST page (up to 2,000) at a time."""
        page = self._read(
            lambda sf: sf.query(soql, include_deleted=include_deleted), "query"
        )
        while True:
            yield from (_without_attributes(record) for record in page["records"])
            if page.get("done", True):
                return
            page = self._read(partial(_next_page, url=page["nextRecordsUrl"]), "query")

    def deleted(self, sobject: str, start: datetime, end: datetime) -> DeletedWindow:
        """Get Deleted: records of ``sobject`` deleted between ``start`` and ``end``.

        Salesforce keeps 15 days of its delete log; past that, or past 600,000 ids,
        it answers an error (INVALID_REPLICATION_DATE, EXCEEDED_ID_LIMIT).
        """
        data = self._read(lambda sf: getattr(sf, sobject).deleted(start, end))
        return DeletedWindow(
            ids=[item["id"] for item in data.get("deletedRecords", [])],
            earliest_available=_parse_datetime(data.get("earliestDateAvailable")),
            latest_covered=_parse_datetime(data.get("latestDateCovered")) or end,
        )

    def updated(self, sobject: str, start: datetime, end: datetime) -> UpdatedWindow:
        """Get Updated: ids of existing records of ``sobject`` changed in the window."""
        data = self._read(lambda sf: getattr(sf, sobject).updated(start, end))
        return UpdatedWindow(
            ids=list(data.get("ids", [])),
            latest_covered=_parse_datetime(data.get("latestDateCovered")) or end,
        )

    def count(self, sobject: str, where: str = "") -> int:
        soql = f"SELECT COUNT() FROM {sobject}" + (f" WHERE {where}" if where else "")
        result = self._read(lambda sf: sf.query(soql), "count")
        return int(result["totalSize"])

    def limits(self) -> ApiUsage:
        """Read the org's daily API allowance now (one call); updates ``usage``."""
        data = self._read(lambda sf: sf.limits(), "limits")
        daily = data.get("DailyApiRequests") or {}
        if "Max" in daily and "Remaining" in daily:
            self.usage.allowance = int(daily["Max"])
            self.usage.used = int(daily["Max"]) - int(daily["Remaining"])
        return self.usage

    def query_bulk(self, sobject: str, soql: str) -> Iterator[dict[str, Any]]:
        """Yield every record of ``soql`` through a Bulk API 2.0 query job.

        Values come back as CSV text; they are converted to the REST JSON types with
        the object's describe so that callers see the same records either way.
        """
        types = {f["name"]: f["type"] for f in self.describe(sobject)["fields"]}
        for page in self._bulk_query_pages(sobject, soql):
            for row in csv.DictReader(io.StringIO(page)):
                yield {
                    name: _from_csv(value, types.get(name, "string"))
                    for name, value in row.items()
                }

    def _bulk_query_pages(self, sobject: str, soql: str) -> Iterator[str]:
        """Result pages of a query job, fetched one at a time to keep memory bounded."""

        def start(sf: Salesforce) -> str:
            client = getattr(sf.bulk2, sobject)._client
            job_id: str = client.create_job("query", soql)["id"]
            client.wait_for_job(job_id, True, 0.2)
            return job_id

        # A query job that failed transiently is simply started again.
        job_id = self._read(start, "bulk query")
        locator = ""
        while True:
            page = self._read(
                partial(
                    _bulk_query_page, sobject=sobject, job_id=job_id, locator=locator
                ),
                "bulk query",
            )
            yield page["records"]
            locator = page["locator"]
            if not locator:
                return

    # Writing ---------------------------------------------------------------

    def create(
        self, sobject: str, records: Sequence[dict[str, Any]]
    ) -> list[SaveResult]:
        """Insert up to 200 records through sObject Collections (allOrNone false)."""
        if isinstance(records, EncodedRecords):
            return self._collection_call(
                "POST", len(records), data=records.body(sobject)
            )
        body = [{"attributes": {"type": sobject}, **record} for record in records]
        return self._collection("POST", body)

    def update(
        self, sobject: str, records: Sequence[dict[str, Any]]
    ) -> list[SaveResult]:
        """Update up to 200 records (each has "Id") through sObject Collections."""
        body = [{"attributes": {"type": sobject}, **record} for record in records]
        return self._collection("PATCH", body)

    def delete(self, sobject: str, record_id: str) -> None:
        """Delete one record (it goes to the org's recycle bin)."""
        self._call(lambda sf: getattr(sf, sobject).delete(record_id))

    def delete_many(self, ids: Sequence[str]) -> list[SaveResult]:
        """Delete up to 200 records through sObject Collections (allOrNone false);
        one result per id, in order."""
        if len(ids) > COLLECTION_SIZE:
            raise ValueError(f"at most {COLLECTION_SIZE} records a call")
        if not ids:
            return []
        params = {"ids": ",".join(ids), "allOrNone": "false"}
        results = self._call(
            lambda sf: sf.restful("composite/sobjects", method="DELETE", params=params)
        )
        return save_results(results)

    def bulk_write(
        self,
        sobject: str,
        operation: str,
        records: Sequence[dict[str, Any]],
        *,
        on_job: Callable[[str], None] | None = None,
    ) -> list[SaveResult]:
        """Insert or update many records through one Bulk API 2.0 ingest job.

        ``on_job`` is told the job id before the data is uploaded, so a journal can
        find the job's results if the answer is lost.
        """
        job_id = self.bulk_create_job(sobject, operation)
        if on_job:
            on_job(job_id)
        return self.bulk_run_job(sobject, operation, job_id, records)

    def bulk_create_job(self, sobject: str, operation: str) -> str:
        """Open an ingest job (the first step of ``bulk_write``); return its id."""
        # One _call per step, never one for the whole job: a session that expires
        # after the job was closed must not send the same rows again in a new job.
        return str(
            self._call(lambda sf: _ingest(sf, sobject).create_job(operation))["id"]
        )

    def bulk_run_job(
        self,
        sobject: str,
        operation: str,
        job_id: str,
        records: Sequence[dict[str, Any]],
    ) -> list[SaveResult]:
        """Upload ``records`` to an open ingest job, close it, wait for it, and
        return the outcome of each record, in order.

        The job's CSV is never held whole: it is produced from ``records`` while it
        is uploaded, and produced again to pair the job's results with the records.
        """
        data = BulkCsv(records, update=operation == "update")
        self._upload(sobject, job_id, data)
        self._call(lambda sf: _ingest(sf, sobject).close_job(job_id))
        job = self._wait_for_ingest(sobject, job_id)
        return self.bulk_results(sobject, job_id, records, job=job, update=data.update)

    def _upload(self, sobject: str, job_id: str, data: BulkCsv) -> None:
        """Send the job's data; a CSV over the upload limit aborts the job."""
        try:
            self._call(partial(_put_job_data, job_id=job_id, data=data))
        except SalesforceError as exc:
            if exc.code == "BULK_UPLOAD_TOO_LARGE":
                self._abort(sobject, job_id)
            raise

    def _abort(self, sobject: str, job_id: str) -> None:
        """Abort a job whose upload was cut short (it holds no row), rather than
        leave it open; should that fail too, Salesforce expires open jobs itself."""
        with contextlib.suppress(SalesforceError):
            self._call(lambda sf: _ingest(sf, sobject).abort_job(job_id, False))

    def _wait_for_ingest(self, sobject: str, job_id: str) -> dict[str, Any]:
        """Poll the job until it ends; return its last info (counts of rows).

        The first look comes after BULK_POLL_FIRST_SECONDS, the next ones twice as
        late each time up to BULK_POLL_MAX_SECONDS: a small job is seen done after
        one or two polls, a large one does not spend a call every fraction of a
        second.
        """
        delay = BULK_POLL_FIRST_SECONDS
        deadline = time.monotonic() + BULK_WAIT_SECONDS
        while True:
            time.sleep(delay)
            job: dict[str, Any] = self._call(
                lambda sf: _ended_job(_ingest(sf, sobject).get_job(job_id, False))
            )
            if job["state"] == "JobComplete":
                return job
            if time.monotonic() > deadline:
                raise SalesforceError(
                    f"Bulk job {job_id} still {job['state']} after {BULK_WAIT_SECONDS}s",
                    code="TIMEOUT",
                    permanent=False,
                )
            delay = min(delay * 2, BULK_POLL_MAX_SECONDS)

    def bulk_results(
        self,
        sobject: str,
        job_id: str,
        records: Sequence[dict[str, Any]],
        *,
        job: dict[str, Any] | None = None,
        update: bool = False,
    ) -> list[SaveResult]:
        """The outcome of each of ``records``, sent to the ingest job ``job_id``.

        With the job's final info: failed results are fetched only if it reports
        failed rows, and an update job with every row processed and none failed
        needs no result at all (the rows sent carry the Ids). Results are read as
        they arrive, and the rows sent are produced again from ``records``.
        """
        data = BulkCsv(records, update=update)
        processed = job is not None and int(
            job.get("numberRecordsProcessed") or 0
        ) == len(records)
        no_failures = processed and not int((job or {}).get("numberRecordsFailed") or 0)
        if update and no_failures and "Id" in data.columns:
            at = data.columns.index("Id")
            return [SaveResult(success=True, id=row[at]) for row in data.rows()]

        def pair(sf: Salesforce) -> list[SaveResult]:
            # Generators: each result CSV is requested only once the one before
            # it has been read, over the same connection.
            successful = _result_rows(sf, job_id=job_id, kind="successfulResults")
            failed: Iterable[dict[str, str]] = (
                ()
                if no_failures
                else _result_rows(sf, job_id=job_id, kind="failedResults")
            )
            return match_bulk_results(data.rows(), successful, failed)

        # Pairing reads the results as it goes: a failure midway starts it again.
        return self._read(pair, "bulk results")

    def _collection(
        self, method: str, records: list[dict[str, Any]]
    ) -> list[SaveResult]:
        payload = {"allOrNone": False, "records": records}
        return self._collection_call(method, len(records), json=payload)

    def _collection_call(
        self, method: str, count: int, **body: Any
    ) -> list[SaveResult]:
        """A Collections call of ``count`` records; ``body``: its ``json`` payload, or
        its ``data`` when the JSON is made already."""
        if count > COLLECTION_SIZE:
            raise ValueError(f"at most {COLLECTION_SIZE} records a call")
        results = self._call(
            lambda sf: sf.restful("composite/sobjects", method=method, **body)
        )
        return save_results(results)


class EncodedRecords(list[dict[str, Any]]):
    """Records that bring each its own JSON text (``texts``, an object each): a
    Collections insert sends those texts rather than encoding the records again.

    An insert's values are encoded once already, to be hashed and journaled; the
    same text is what is sent. Anything else that reads the records (a Bulk API
    job's CSV) reads them as a plain list.
    """

    def __init__(self, records: Sequence[dict[str, Any]], texts: Sequence[str]):
        if len(records) != len(texts):
            raise ValueError("one text per record")
        super().__init__(records)
        self.texts = list(texts)

    def body(self, sobject: str) -> bytes:
        """The Collections request: each record's text with its type put in front."""
        head = '{"attributes":' + json.dumps({"type": sobject})
        records = ",".join(
            head + ("}" if text == "{}" else "," + text[1:]) for text in self.texts
        )
        return ('{"allOrNone":false,"records":[' + records + "]}").encode()


def save_results(items: list[dict[str, Any]] | None) -> list[SaveResult]:
    """An sObject Collections answer as one SaveResult per record, in order."""
    return [
        SaveResult(
            success=bool(item.get("success")),
            id=item.get("id"),
            errors=tuple(item.get("errors") or ()),
        )
        for item in items or []
    ]


class BulkCsv:
    """The CSV of a Bulk API 2.0 ingest job, produced from its records as it is read.

    Columns are in name order (every field of any record). On update an empty cell
    means "leave as is", so a null is sent as #N/A, which Salesforce reads as "set
    to null".

    Iterating it yields the CSV in UTF-8 pieces of about BULK_CHUNK_BYTES: the body
    of the upload, which never exists whole. It can be iterated again, as a retried
    upload does. ``rows()`` gives the same cells, to recognise the rows that the
    job's results echo.
    """

    def __init__(self, records: Sequence[dict[str, Any]], *, update: bool) -> None:
        self.records = records
        self.update = update
        self.columns = sorted({name for record in records for name in record})

    def rows(self) -> Iterator[list[str]]:
        for record in self.records:
            # A field a record lacks is an empty cell, left as is on update: only
            # a None clears the field, as in an sObject Collections update.
            yield [
                _to_csv(record[name], update=self.update) if name in record else ""
                for name in self.columns
            ]

    def __iter__(self) -> Iterator[bytes]:
        size = 0
        for piece in self._pieces():
            size += len(piece)
            if size > BULK_UPLOAD_MAX_BYTES:
                raise SalesforceError(
                    f"The job's data is over {BULK_UPLOAD_MAX_BYTES // 2**20} MiB, "
                    "the most one Bulk API upload takes: send fewer records a job",
                    code="BULK_UPLOAD_TOO_LARGE",
                    permanent=True,
                )
            yield piece

    def _pieces(self) -> Iterator[bytes]:
        buffer = _Utf8Buffer()
        writer = csv.writer(buffer, lineterminator="\n")
        writer.writerow(self.columns)
        for row in self.rows():
            writer.writerow(row)
            if len(buffer.data) >= BULK_CHUNK_BYTES:
                yield buffer.take()
        if buffer.data:
            yield buffer.take()


class _Utf8Buffer:
    """A file for csv.writer that keeps what it is given in UTF-8 until taken.

    Bytes from the start: a StringIO keeps four bytes a character, and its text
    would be copied twice more (getvalue, encode) before being sent.
    """

    def __init__(self) -> None:
        self.data = bytearray()

    def write(self, text: str) -> None:
        self.data += text.encode()

    def take(self) -> bytes:
        piece = bytes(self.data)
        self.data.clear()
        return piece


def _to_csv(value: Any, *, update: bool) -> str:
    if value is None:
        return "#N/A" if update else ""
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


def match_bulk_results(
    sent_rows: Iterable[Sequence[str]],
    successful: Iterable[dict[str, str]],
    failed: Iterable[dict[str, str]],
) -> list[SaveResult]:
    """Pair Bulk API result rows with the rows sent, in the order sent.

    Bulk results come back in no particular order but echo the columns sent, so a row
    is recognised by its values; identical rows are interchangeable. The result rows
    are looked at one at a time, as they arrive.
    """
    # The keys hold the records' own strings (str() of a str is the same object),
    # not a copy of the data.
    waiting: dict[tuple[str, ...], list[int]] = {}
    results: list[SaveResult | None] = []
    for position, sent in enumerate(sent_rows):
        waiting.setdefault(tuple(sent), []).append(position)
        results.append(None)
    for row in successful:
        if positions := waiting.get(_echoed_columns(row)):
            results[positions.pop(0)] = SaveResult(success=True, id=row["sf__Id"])
    for row in failed:
        if positions := waiting.get(_echoed_columns(row)):
            error = _bulk_error(row["sf__Error"])
            results[positions.pop(0)] = SaveResult(
                success=False, id=row.get("sf__Id") or None, errors=(error,)
            )
    missing = FieldError(
        statusCode="UNPROCESSED", message="Bulk API did not process this row", fields=[]
    )
    return [
        result or SaveResult(success=False, id=None, errors=(missing,))
        for result in results
    ]


def _echoed_columns(row: dict[str, str]) -> tuple[str, ...]:
    return tuple(value for name, value in row.items() if not name.startswith("sf__"))


def _bulk_error(text: str) -> FieldError:
    """Parse "CODE:message:field1,field2 --" from a failedResults row."""
    code, _, rest = text.partition(":")
    message, _, fields = rest.rstrip(" -").rpartition(":")
    if not message:
        message, fields = fields, ""
    return FieldError(
        statusCode=code, message=message, fields=[f for f in fields.split(",") if f]
    )


def _ended_job(job: dict[str, Any]) -> dict[str, Any]:
    """A job's info; an aborted or failed job raises as simple-salesforce does."""
    if job["state"] in ("Aborted", "Failed"):
        raise SalesforceOperationError(
            f"Job failure. Response content: {job.get('errorMessage') or job}"
        )
    return job


def _ingest(sf: Salesforce, sobject: str) -> Any:
    """simple-salesforce's Bulk API 2.0 job client, for one step of an ingest job."""
    return getattr(sf.bulk2, sobject)._client


def _put_job_data(sf: Salesforce, *, job_id: str, data: BulkCsv) -> None:
    """Upload an ingest job's CSV while it is produced, with chunked transfer encoding.

    Not simple-salesforce's upload_job_data: it takes the CSV as one string and
    encodes a second copy of it to send.
    """
    response = call_salesforce(
        url=f"{sf.bulk2_url}ingest/{job_id}/batches",
        method="PUT",
        session=sf.session,
        headers=_bulk_headers(sf, content_type="text/csv"),
        data=data,
    )
    if response.status_code != HTTPStatus.CREATED:
        raise SalesforceError(
            f"Bulk job {job_id} refused its data ({response.status_code})",
            code="BULK_JOB_FAILED",
            status=response.status_code,
            permanent=True,
        )


def _result_rows(sf: Salesforce, *, job_id: str, kind: str) -> Iterator[dict[str, str]]:
    """The rows of one result CSV of an ingest job, parsed as they arrive."""
    response = call_salesforce(
        url=f"{sf.bulk2_url}ingest/{job_id}/{kind}",
        method="GET",
        session=sf.session,
        headers=_bulk_headers(sf, accept="text/csv"),
        stream=True,
    )
    with response:
        yield from csv.DictReader(_csv_lines(response.iter_content(BULK_CHUNK_BYTES)))


def _bulk_headers(
    sf: Salesforce, *, content_type: str = "", accept: str = "application/json"
) -> dict[str, str]:
    headers = {"Authorization": f"Bearer {sf.session_id}", "Accept": accept}
    if content_type:
        headers["Content-Type"] = content_type
    return headers


def _csv_lines(pieces: Iterable[bytes]) -> Iterator[str]:
    """The lines of a UTF-8 CSV that arrives in pieces, each with its line end.

    Split on "\\n" only and kept whole, so that the csv module sees a line break
    inside a quoted value as it was sent. Decoded as UTF-8 whatever the response's
    Content-Type says: Bulk API data is UTF-8, and requests would read a text/csv
    answer without a charset as Latin-1.
    """
    decoder = codecs.getincrementaldecoder("utf-8-sig")()
    pending = ""
    for piece in pieces:
        *lines, pending = (pending + decoder.decode(piece)).split("\n")
        for line in lines:
            yield line + "\n"
    pending += decoder.decode(b"", final=True)
    if pending:
        yield pending


def _bulk_query_page(
    sf: Salesforce, *, sobject: str, job_id: str, locator: str
) -> dict[str, Any]:
    client = getattr(sf.bulk2, sobject)._client
    result: dict[str, Any] = client.get_query_results(
        job_id, locator, BULK_QUERY_PAGE_SIZE
    )
    return result


def _next_page(sf: Salesforce, *, url: str) -> dict[str, Any]:
    result: dict[str, Any] = sf.query_more(url, identifier_is_url=True)
    return result


def _without_attributes(record: dict[str, Any]) -> dict[str, Any]:
    """Drop the "attributes" of a record just parsed, and of its related records.

    In place: the record is ours alone, and copying every record of every page to
    leave one key out costs more than reading it.
    """
    record.pop("attributes", None)
    for value in record.values():
        if isinstance(value, dict):
            _without_attributes(value)
    return record


def _parse_datetime(value: str | None) -> datetime | None:
    """A Salesforce datetime ("2026-12-01T14:40:00.000+0000") as an aware datetime."""
    if not value:
        return None
    return datetime.fromisoformat(value.replace("Z", "+00:00"))


def _from_csv(value: str, field_type: str) -> Any:
    if value == "":
        return None
    if field_type == "boolean":
        return value.lower() == "true"
    if field_type in ("int", "long"):
        return int(float(value))
    if field_type in ("double", "currency", "percent"):
        return float(value)
    if field_type == "datetime" and value.endswith("Z"):
        return value[:-1] + "+0000"
    return value
