"""Salesforce's record locks, for the writes of concurrent calls (faults ``row_lock_ms``,
``lock_timeout_ms`` and ``lock_failures``).

Salesforce locks a record while a transaction writes it, and also the records its
lookup and master-detail fields point to, so that a parent cannot change or vanish
under a child being saved. A transaction that needs a record another one holds waits
for it, up to about 10 seconds; then that record fails with ``UNABLE_TO_LOCK_ROW``,
"unable to obtain exclusive access to this record or 1 records: <id>". In an sObject
Collections call with allOrNone false (and in a Bulk job's results) the failure is
the record's own: the other records of the call are saved.

The emulator applies a call's writes under one store lock, so calls never overlap by
themselves. ``row_lock_ms`` models the time a real org spends in a call (triggers,
flows, roll-ups) with its locks held: a write call takes the locks of its records,
holds them that long, writes, then releases them. While it is 0 (the default) no row
lock is taken at all, since no call could ever wait for one. ``lock_failures`` fails
the next N records written, whatever they lock, for deterministic tests.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Iterable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from typing import TYPE_CHECKING, Any

from salesforce_emulator.errors import RecordFailure
from salesforce_emulator.ids import normalize_id

if TYPE_CHECKING:
    from salesforce_emulator.faults import Faults
    from salesforce_emulator.org import Org
    from salesforce_emulator.schema import FieldDef

LOCK_ERROR = "UNABLE_TO_LOCK_ROW"
# Setup records a data record points to are not row-locked by its save: an owner
# (User or Group) and a record type. Ownership skew is a sharing cost, not a lock.
UNLOCKED_TARGETS = frozenset({"user", "group", "recordtype"})


def lock_failure(record_id: str | None) -> RecordFailure:
    """The failure of a record that could not get the lock of ``record_id``."""
    message = "unable to obtain exclusive access to this record"
    if record_id:
        message += f" or 1 records: {record_id}"
    return RecordFailure.of(LOCK_ERROR, message)


def locks_parent(field_def: FieldDef) -> bool:
    """Whether saving a value of this lookup locks the record it points to."""
    targets = {name.lower() for name in field_def.reference_to}
    return field_def.is_reference and not targets <= UNLOCKED_TARGETS


def lock_ids(
    references: Iterable[FieldDef], values: Mapping[str, Any], own_id: Any = None
) -> tuple[str, ...]:
    """The ids a record's save locks: its own (an update) first, then its parents.

    A parent given by external id is found only while writing, so it is not locked.
    """
    found = [normalize_id(own_id)] if own_id is not None else []
    for field_def in references:
        value = values.get(field_def.name)
        if isinstance(value, str) and locks_parent(field_def):
            found.append(normalize_id(value))
    return tuple(dict.fromkeys(i for i in found if i))


def active(faults: Faults) -> bool:
    """Whether a write call has anything to do here; a cheap check per call."""
    return faults.row_lock_ms > 0 or faults.lock_failures > 0


class RowLocks:
    """The record ids locked by the write calls in progress in one org."""

    def __init__(self) -> None:
        self._changed = threading.Condition()
        self._held: set[str] = set()

    def acquire(self, ids: Iterable[str], *, timeout: float) -> set[str]:
        """Lock each id, waiting for those another call holds until ``timeout``
        seconds from now; return the ids that could not be locked.

        Ids are taken in sorted order, so two calls never wait for each other in a
        cycle; a call keeps what it got when the wait ends.
        """
        deadline = time.monotonic() + timeout
        refused: set[str] = set()
        with self._changed:
            for record_id in sorted(set(ids)):
                if self._wait_until_free(record_id, deadline):
                    self._held.add(record_id)
                else:
                    refused.add(record_id)
        return refused

    def release(self, ids: Iterable[str]) -> None:
        with self._changed:
            self._held.difference_update(ids)
            self._changed.notify_all()

    def is_locked(self, record_id: str) -> bool:
        with self._changed:
            return record_id in self._held

    def _wait_until_free(self, record_id: str, deadline: float) -> bool:
        while record_id in self._held:
            left = deadline - time.monotonic()
            if left <= 0:
                return False
            self._changed.wait(left)
        return True


@contextmanager
def write_locks(
    org: Org, wanted: Sequence[Sequence[str] | None]
) -> Iterator[list[RecordFailure | None]]:
    """Hold the locks of a write call's records for the body of the ``with``.

    ``wanted`` has, for each record of the call, the ids its save locks (from
    ``lock_ids``), or None for a record that is not written anyway (it failed
    before). Yields, for each record, the UNABLE_TO_LOCK_ROW failure it gets
    instead of being written, or None to write it.
    """
    faults = org.faults
    hold_ms = faults.row_lock_ms
    refused: set[str] = set()
    held: set[str] = set()
    if hold_ms > 0:
        ids = {record_id for needed in wanted if needed for record_id in needed}
        refused = org.row_locks.acquire(ids, timeout=faults.lock_timeout_ms / 1000)
        held = ids - refused
    try:
        if held:
            # The time a real org spends in the call with its locks held: other
            # calls that need one of them wait meanwhile.
            time.sleep(hold_ms / 1000)
        yield [_refusal(faults, needed, refused) for needed in wanted]
    finally:
        if held:
            org.row_locks.release(held)


def _refusal(
    faults: Faults, needed: Sequence[str] | None, refused: set[str]
) -> RecordFailure | None:
    if needed is None:
        return None
    blocked = next((record_id for record_id in needed if record_id in refused), None)
    if blocked is not None:
        return lock_failure(blocked)
    if faults.take_lock_failure():
        return lock_failure(needed[0] if needed else None)
    return None
