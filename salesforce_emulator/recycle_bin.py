"""The recycle bin and the delete log of an org.

Deleting a record (REST, sObject Collections, Bulk ``delete``, ``Org.delete``) only marks
it ``IsDeleted``, as Salesforce does: ``query`` stops returning it, ``queryAll`` still
does, Get Deleted reports it (its deletion date is its ``SystemModstamp``), and it can be
undeleted. Emptying the recycle bin, a Bulk ``hardDelete`` and the 15-day expiry remove
a record for good; what remains of it is a line in the ``DeleteLog``, which Get Deleted
keeps reporting within its window. A master-detail child deleted together with its
parent (same deletion stamp) is purged and undeleted together with it.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Iterator
from datetime import datetime, timedelta
from typing import TYPE_CHECKING

from salesforce_emulator.errors import RecordFailure
from salesforce_emulator.ids import normalize_id
from salesforce_emulator.schema import FieldDef, ObjectDef
from salesforce_emulator.store import Record, Table
from salesforce_emulator.values import format_datetime

if TYPE_CHECKING:
    from salesforce_emulator.org import Org

# Salesforce keeps deleted records in the recycle bin, and in the delete log that Get
# Deleted reads, for 15 days.
RETENTION_DAYS = 15
META_KEY = "delete_log"


class DeleteLog:
    """Deletions of records that are gone for good, per object: id -> deletedDate.

    ``since`` is when the log started (org creation, sandbox copy or refresh) and
    ``expired`` the newest deletion dropped by the 15-day retention, per object: Get
    Deleted's ``earliestDateAvailable`` is the later of the two. ``cascaded`` maps a
    master-detail child in the recycle bin to the parent whose deletion took it there.
    """

    def __init__(self, since: str) -> None:
        self.since = since
        self.entries: dict[str, dict[str, str]] = {}
        self.expired: dict[str, str] = {}
        self.cascaded: dict[str, str] = {}
        self._dirty = True

    @classmethod
    def from_meta(cls, text: str | None, since: str) -> DeleteLog:
        """The log saved in the org's file, or an empty one starting at ``since``."""
        if not text:
            return cls(since)
        saved = json.loads(text)
        log = cls(str(saved["since"]))
        log.entries = {k: dict(v) for k, v in saved["entries"].items()}
        log.expired = dict(saved["expired"])
        log.cascaded = dict(saved.get("cascaded", {}))
        log._dirty = False
        return log

    def add(self, sobject: str, record_id: str, deleted_date: str) -> None:
        self.entries.setdefault(sobject.lower(), {})[record_id] = deleted_date
        self._dirty = True

    def note_cascade(self, child_id: str, parent_id: str) -> None:
        """``child_id`` went to the recycle bin because ``parent_id`` was deleted."""
        self.cascaded[child_id] = parent_id
        self._dirty = True

    def leave_bin(self, record_id: str) -> None:
        """``record_id`` left the recycle bin (purged or undeleted)."""
        if self.cascaded.pop(record_id, None) is not None:
            self._dirty = True

    def entries_for(self, sobject: str) -> dict[str, str]:
        return self.entries.get(sobject.lower(), {})

    def earliest_available(self, sobject: str) -> str:
        return max(self.since, self.expired.get(sobject.lower(), ""))

    def expire(self, horizon: str) -> None:
        """Forget deletions older than ``horizon``, remembering the newest forgotten."""
        for key, entries in self.entries.items():
            old = [(date, i) for i, date in entries.items() if date < horizon]
            if not old:
                continue
            for _, record_id in old:
                del entries[record_id]
            self.expired[key] = max(self.expired.get(key, ""), max(old)[0])
            self._dirty = True

    def reset(self, since: str) -> None:
        self.since = since
        self.entries.clear()
        self.expired.clear()
        self.cascaded.clear()
        self._dirty = True

    def meta(self) -> dict[str, str]:
        """The meta row to save when the log changed (called on each store commit)."""
        if not self._dirty:
            return {}
        self._dirty = False
        saved = {
            "since": self.since,
            "entries": self.entries,
            "expired": self.expired,
            "cascaded": self.cascaded,
        }
        return {META_KEY: json.dumps(saved, separators=(",", ":"))}


def deletion_date(record: Record, now: str) -> str:
    """When ``record`` was deleted: its SystemModstamp if in the recycle bin, else now."""
    return str(record["SystemModstamp"]) if record["IsDeleted"] else now


# -- recycle bin ------------------------------------------------------------------------


def _master_fields(org: Org, parent: ObjectDef) -> Iterator[tuple[Table, FieldDef]]:
    """The master-detail fields that point at ``parent`` (children deleted with it)."""
    wanted = parent.name.lower()
    for obj in org.objects.values():
        for field_def in obj.fields.values():
            if field_def.cascade_delete and wanted in (
                t.lower() for t in field_def.reference_to
            ):
                yield org.store.tables[obj.name.lower()], field_def


def _deleted_with(org: Org, table: Table, record: Record) -> list[tuple[Table, Record]]:
    """``record`` and the master-detail descendants deleted in the same operation."""
    found = [(table, record)]
    stamp, cascaded = record["SystemModstamp"], org.delete_log.cascaded
    for child_table, field_def in _master_fields(org, table.obj):
        for child in child_table.rows.values():
            if (
                child["IsDeleted"]
                and child[field_def.name] == record["Id"]
                and cascaded.get(child["Id"]) == record["Id"]
                and child["SystemModstamp"] == stamp  # not a stale note
            ):
                found.extend(_deleted_with(org, child_table, child))
    return found


def _locate(org: Org, raw_id: str) -> tuple[Table, Record] | None:
    record_id = normalize_id(raw_id)
    obj = org.object_for_id(record_id) if record_id else None
    if obj is None or record_id is None:
        return None
    table = org.store.tables[obj.name.lower()]
    record = table.rows.get(record_id)
    return (table, record) if record is not None else None


def in_recycle_bin(org: Org, sobject: str | None = None) -> list[Record]:
    """The records in the recycle bin (all objects, or one), raw."""
    tables = (
        [org.store.tables[sobject.lower()]]
        if sobject is not None
        else list(org.store.tables.values())
    )
    return [r for table in tables for r in table.rows.values() if r["IsDeleted"]]


def _purge(org: Org, doomed: Iterable[tuple[Table, Record]]) -> list[str]:
    purged = []
    for table, record in doomed:
        if table.rows.get(record["Id"]) is not record:
            continue  # already purged as the descendant of another record
        org.store.remove(table, record["Id"])
        org.delete_log.add(table.obj.name, record["Id"], record["SystemModstamp"])
        org.delete_log.leave_bin(record["Id"])
        purged.append(str(record["Id"]))
    return purged


def empty(org: Org, ids: Iterable[str] | None = None) -> list[str]:
    """Purge the recycle bin (or the given records in it); returns the purged ids.

    An id that is not in the recycle bin raises ``RecordFailure`` and purges nothing.
    """
    with org.store.transaction():
        if ids is None:
            doomed = [
                (org.store.tables[o.name.lower()], r)
                for o in org.objects.values()
                for r in org.store.tables[o.name.lower()].rows.values()
                if r["IsDeleted"]
            ]
            return _purge(org, doomed)
        chosen: list[tuple[Table, Record]] = []
        for raw_id in ids:
            found = _locate(org, raw_id)
            if found is None or not found[1]["IsDeleted"]:
                raise RecordFailure.of(
                    "INVALID_ID_FIELD", f"{raw_id} is not in the recycle bin"
                )
            chosen.extend(_deleted_with(org, *found))
        return _purge(org, chosen)


def expire(org: Org, now: datetime) -> list[str]:
    """Purge recycle-bin records, and forget log lines, older than 15 days."""
    horizon = format_datetime(now - timedelta(days=RETENTION_DAYS))
    with org.store.transaction():
        old = [
            (table, r)
            for table in org.store.tables.values()
            for r in table.rows.values()
            if r["IsDeleted"] and r["SystemModstamp"] < horizon
        ]
        purged = _purge(org, old)
        org.delete_log.expire(horizon)
    return purged


# -- undelete ---------------------------------------------------------------------------


def _check_master_alive(org: Org, table: Table, record: Record) -> None:
    for field_def in table.obj.fields.values():
        parent_id = record[field_def.name] if field_def.cascade_delete else None
        found = _locate(org, parent_id) if parent_id else None
        if found is not None and found[1]["IsDeleted"]:
            raise RecordFailure.of(
                "UNDELETE_FAILED",
                f"{record['Id']}: undelete its master record {parent_id} first",
            )


def _check_unique_free(table: Table, record: Record) -> None:
    """An undeleted record may not take a unique value a live record now holds."""
    for field_def in table.indexed:
        value = record[field_def.name]
        if field_def.unique and value is not None and table.find(field_def, value):
            raise RecordFailure.of(
                "DUPLICATE_VALUE",
                f"duplicate value found: {field_def.name} duplicates value on record "
                f"with id: {table.find(field_def, value)[0]}",
                (field_def.name,),
            )


def _restore(
    org: Org, table: Table, record: Record, user_id: str, now: str
) -> list[str]:
    restored = []
    for member_table, member in _deleted_with(org, table, record):
        _check_unique_free(member_table, member)
        back = dict(member)
        back["IsDeleted"] = False
        back["LastModifiedDate"] = back["SystemModstamp"] = now
        back["LastModifiedById"] = user_id
        org.store.put(member_table, back)
        org.delete_log.leave_bin(back["Id"])
        restored.append(str(back["Id"]))
    return restored


def undelete(org: Org, ids: Iterable[str], user_id: str, now: str) -> list[str]:
    """Bring records (and the children deleted with them) back from the recycle bin.

    All or none: ``RecordFailure`` (``UNDELETE_FAILED``, ``DUPLICATE_VALUE``) leaves
    everything as it was. Returns the ids restored, children included.
    """
    with org.store.savepoint() as journal:
        restored: list[str] = []
        try:
            for raw_id in ids:
                found = _locate(org, raw_id)
                if found is None or not found[1]["IsDeleted"]:
                    raise RecordFailure.of(
                        "UNDELETE_FAILED",
                        f"{raw_id}: entity is not in the recycle bin",
                    )
                _check_master_alive(org, *found)
                restored.extend(_restore(org, *found, user_id, now))
        except RecordFailure:
            org.store.rollback(journal)
            raise
        return restored
