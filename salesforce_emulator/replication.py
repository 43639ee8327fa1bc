"""sObject Get Deleted and Get Updated: the data replication resources.

``GET /services/data/vXX.X/sobjects/{X}/deleted/?start=...&end=...`` answers
``{"deletedRecords": [{"id", "deletedDate"}], "earliestDateAvailable", "latestDateCovered"}``
and ``GET .../sobjects/{X}/updated/?start=...&end=...`` answers ``{"ids", "latestDateCovered"}``,
as Salesforce documents them:

- the seconds of ``start`` and ``end`` are ignored (12:30:15 means 12:30:00), and
  ``latestDateCovered`` is ``end`` so truncated, or now truncated when ``end`` is in the
  future; a change is reported when ``start <= its date < latestDateCovered``, so that
  the next call, starting at ``latestDateCovered``, neither misses nor repeats it;
- ``start`` must precede ``end`` by at least a minute (after truncation), and lie within
  15 days (deleted) or 30 days (updated) before the day of the call, else
  ``INVALID_REPLICATION_DATE``;
- more than 600,000 ids is ``EXCEEDED_ID_LIMIT``;
- Get Updated uses ``SystemModstamp`` and lists records that still exist; Get Deleted
  lists records in the recycle bin (deletion date = their ``SystemModstamp``) and those
  gone for good that are still in the delete log (see ``recycle_bin.py``).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from salesforce_emulator.clock import MINUTE, floor_minute
from salesforce_emulator.errors import ApiError, not_found
from salesforce_emulator.org import Org
from salesforce_emulator.schema import ObjectDef
from salesforce_emulator.transport import Request, Response
from salesforce_emulator.values import format_datetime, parse_datetime

DELETED_WINDOW_DAYS = 15
UPDATED_WINDOW_DAYS = 30
MAX_IDS = 600_000
FIRST_VERSION = 29.0


@dataclass(frozen=True)
class Window:
    """A replication window, bounds in Salesforce's datetime text (comparable as text)."""

    start: str
    covered: str  # latestDateCovered, exclusive

    def holds(self, stamp: str) -> bool:
        return self.start <= stamp < self.covered


def _moment(request: Request, name: str) -> datetime:
    raw = request.param(name)
    if not raw:
        raise ApiError(
            400, "MISSING_ARGUMENT", f"{name} date is required (e.g. {name}=...)"
        )
    moment = parse_datetime(raw)
    if moment is None:
        # Salesforce's wording is not documented; clients only see a 400 here.
        raise ApiError(
            400, "MALFORMED_QUERY", f"{name} date is not in the correct format: {raw}"
        )
    return floor_minute(moment)


def window(request: Request, now: datetime, days_back: int) -> Window:
    """The validated window of a Get Deleted / Get Updated request at ``now``."""
    start, end = _moment(request, "start"), _moment(request, "end")
    if end - start < MINUTE:
        # Salesforce's own (inverted) wording for a reversed or too short range.
        raise ApiError(
            400,
            "INVALID_REPLICATION_DATE",
            "startDate must be at least one minute greater than endDate",
        )
    today = now.replace(hour=0, minute=0, second=0, microsecond=0)
    if start < today - timedelta(days=days_back):
        raise ApiError(
            400,
            "INVALID_REPLICATION_DATE",
            f"startDate cannot be more than {days_back} days before today",
        )
    covered = max(start, min(end, floor_minute(now)))
    return Window(format_datetime(start), format_datetime(covered))


def _object(request: Request, sobject: str) -> tuple[Org, ObjectDef]:
    org = request.org
    assert org is not None
    obj = org.object_def(sobject)
    if obj is None or float(request.version) < FIRST_VERSION:
        raise not_found()
    return org, obj


def _check_count(count: int) -> None:
    if count > MAX_IDS:
        raise ApiError(
            400,
            "EXCEEDED_ID_LIMIT",
            f"More than {MAX_IDS} ids were found: choose start and end dates closer "
            "together",
        )


def deleted_records(org: Org, obj: ObjectDef, span: Window) -> list[dict[str, Any]]:
    """Records of ``obj`` deleted within ``span``, oldest first."""
    table = org.store.tables[obj.name.lower()]
    found = [
        (r["SystemModstamp"], r["Id"])
        for r in table.rows.values()
        if r["IsDeleted"] and span.holds(r["SystemModstamp"])
    ]
    found.extend(
        (date, record_id)
        for record_id, date in org.delete_log.entries_for(obj.name).items()
        # a hard-deleted record brought back by a rolled-back request is not deleted
        if span.holds(date) and record_id not in table.rows
    )
    _check_count(len(found))
    found.sort()
    return [{"id": record_id, "deletedDate": date} for date, record_id in found]


def updated_ids(org: Org, obj: ObjectDef, span: Window) -> list[str]:
    """Ids of the existing records of ``obj`` created or changed within ``span``."""
    table = org.store.tables[obj.name.lower()]
    found = [
        (r["SystemModstamp"], r["Id"])
        for r in table.rows.values()
        if not r["IsDeleted"] and span.holds(r["SystemModstamp"])
    ]
    _check_count(len(found))
    found.sort()
    return [record_id for _, record_id in found]


def get_deleted(request: Request, sobject: str, **_: str) -> Response:
    org, obj = _object(request, sobject)
    now = org.clock.now()
    span = window(request, now, DELETED_WINDOW_DAYS)
    with org.store.lock:
        records = deleted_records(org, obj, span)
        earliest = parse_datetime(org.delete_log.earliest_available(obj.name))
    assert earliest is not None
    return Response.json(
        {
            "deletedRecords": records,
            "earliestDateAvailable": format_datetime(floor_minute(earliest)),
            "latestDateCovered": span.covered,
        }
    )


def get_updated(request: Request, sobject: str, **_: str) -> Response:
    org, obj = _object(request, sobject)
    span = window(request, org.clock.now(), UPDATED_WINDOW_DAYS)
    with org.store.lock:
        ids = updated_ids(org, obj, span)
    return Response.json({"ids": ids, "latestDateCovered": span.covered})
