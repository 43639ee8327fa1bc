"""Ask an org what became of mapped records, and record the answer on the mappings.

Shared by the audit and by runs. The org is asked about mapped ids only, in chunks as
large as a query URI allows, so the cost follows the number of mappings checked and
never the size of the org.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from datetime import datetime, timedelta

from django.db.models import Q, QuerySet
from django.utils import timezone

from migrations_app.engine.audit import RecordState, Seen, id_chunks, record_states
from migrations_app.engine.soql import quote
from migrations_app.models import MappingStatus, Org, OutdatedReason, RecordMapping
from migrations_app.salesforce.client import SalesforceClient
from migrations_app.salesforce.errors import SalesforceError

# Salesforce keeps 15 days of its delete log; a window reaching further back is
# checked through the mapped ids instead.
DELETE_LOG_DAYS = 15
# A window's end is asked a little in the future: Salesforce then covers up to its own
# now (truncated to the minute), even when its clock is ahead of ours.
END_AHEAD = timedelta(minutes=10)
# Answers that mean "this window cannot be replicated": use the mapped ids.
REPLICATION_REFUSALS = frozenset({"INVALID_REPLICATION_DATE", "EXCEEDED_ID_LIMIT"})
DB_CHUNK = 2000


@dataclass(frozen=True)
class Side:
    """One org of the pair as the audit sees it: its mappings' id column and codes."""

    name: str  # "source" or "target"
    client: SalesforceClient
    user_id: str = ""

    @property
    def id_field(self) -> str:
        return f"{self.name}_id"

    @property
    def deleted_code(self) -> str:
        return f"{self.name}_deleted"

    @property
    def recycle_bin_code(self) -> str:
        return f"{self.name}_in_recycle_bin"


def org_now(client: SalesforceClient) -> datetime:
    """An org's own time, from the Date header of its last answer (this server's if
    it sent none). Replication windows and how far a check covered are measured in
    it: this server's clock may run ahead of the org's, or behind it."""
    return client.usage.server_time or timezone.now()


def pair_mappings(
    source_org: Org, target_org: Org, sobject: str
) -> QuerySet[RecordMapping]:
    return RecordMapping.objects.filter(
        source_org=source_org, target_org=target_org, sobject=sobject
    )


def inspect_ids(
    side: Side, sobject: str, ids: Iterable[str], *, with_modifier: bool
) -> dict[str, Seen]:
    """queryAll the ids in URI-sized chunks: alive, in the recycle bin, or gone."""
    fields = ["Id", "IsDeleted"]
    if with_modifier:
        fields += ["LastModifiedById", "LastModifiedDate"]
    prefix = f"SELECT {', '.join(fields)} FROM {sobject} WHERE Id"
    states: dict[str, Seen] = {}
    wanted = {i[:15]: i for i in ids}
    for chunk in id_chunks(wanted.values(), prefix=prefix):
        soql = f"{prefix} IN ({', '.join(quote(i) for i in chunk)})"
        rows = side.client.query(soql, include_deleted=True)
        states.update(record_states([wanted[i] for i in chunk], rows))
    return states


def deleted_since(
    side: Side, sobject: str, since: datetime | None, now: datetime
) -> tuple[list[str], datetime] | None:
    """Get Deleted since ``since``: (ids, covered through), or None when the delete log
    cannot answer (no previous check, older than its 15 days, or refused)."""
    if since is None or now - since >= timedelta(days=DELETE_LOG_DAYS):
        return None
    try:
        window = side.client.deleted(sobject, since, now + END_AHEAD)
    except SalesforceError as exc:
        if exc.code in REPLICATION_REFUSALS:
            return None
        raise
    if window.earliest_available and window.earliest_available > since:
        return None  # the log was purged past our start: it may miss deletions
    return window.ids, window.latest_covered


def updated_since(
    side: Side, sobject: str, since: datetime, now: datetime
) -> list[str] | None:
    """Get Updated since ``since``: ids changed (by anyone), or None if refused."""
    try:
        return side.client.updated(sobject, since, now + END_AHEAD).ids
    except SalesforceError as exc:
        if exc.code in REPLICATION_REFUSALS:
            return None
        raise


def mapped_ids(
    mappings: QuerySet[RecordMapping], side: Side, ids: Iterable[str]
) -> set[str]:
    """Which of ``ids`` (18 characters, as the API answers) the mappings point at."""
    wanted = list(ids)
    found: set[str] = set()
    for start in range(0, len(wanted), DB_CHUNK):
        chunk = wanted[start : start + DB_CHUNK]
        found.update(
            mappings.filter(**{f"{side.id_field}__in": chunk}).values_list(
                side.id_field, flat=True
            )
        )
    return found


def id_batches(ids: QuerySet[RecordMapping, str]) -> Iterator[list[str]]:
    """Ids from the database in batches, so memory stays bounded (invariant 10)."""
    batch: list[str] = []
    for record_id in ids.order_by("pk").iterator(chunk_size=DB_CHUNK):
        batch.append(record_id)
        if len(batch) == DB_CHUNK * 5:
            yield batch
            batch = []
    if batch:
        yield batch


def checkable(mappings: QuerySet[RecordMapping], side: Side) -> QuerySet[RecordMapping]:
    """Mappings whose ``side`` record is worth asking about: active ones, those whose
    record is in that side's recycle bin (it may come back, or be purged), and those
    outdated before reasons were recorded. A record gone for good stays gone."""
    return mappings.filter(
        Q(status=MappingStatus.ACTIVE)
        | Q(
            status=MappingStatus.OUTDATED,
            outdated_reason_code__in=[side.recycle_bin_code, ""],
        )
    )


def apply_states(
    mappings: QuerySet[RecordMapping],
    side: Side,
    states: dict[str, Seen],
    *,
    found_by: str,
) -> dict[str, int]:
    """Mark, restore and flag mappings from what ``side`` said; return what changed."""
    now = timezone.now()
    by_state: dict[RecordState, list[str]] = {state: [] for state in RecordState}
    for record_id, seen in states.items():
        by_state[seen.state].append(record_id)
    changed = {
        side.deleted_code: _mark(
            mappings, side, by_state[RecordState.GONE], side.deleted_code, found_by, now
        ),
        side.recycle_bin_code: _mark(
            mappings,
            side,
            by_state[RecordState.RECYCLE_BIN],
            side.recycle_bin_code,
            found_by,
            now,
        ),
        "restored": _restore(mappings, side, by_state[RecordState.ALIVE]),
    }
    if side.name == "target" and side.user_id:
        changed["drifted"] = apply_drift(mappings, side, states, now)
    return changed


def _mark(
    mappings: QuerySet[RecordMapping],
    side: Side,
    ids: list[str],
    code: str,
    found_by: str,
    now: datetime,
) -> int:
    if not ids:
        return 0
    label = OutdatedReason(code).label
    return (
        checkable(mappings, side)
        .filter(**{f"{side.id_field}__in": ids})
        .exclude(status=MappingStatus.OUTDATED, outdated_reason_code=code)
        .update(
            status=MappingStatus.OUTDATED,
            outdated_reason_code=code,
            outdated_reason=f"{label} (found by {found_by})",
            outdated_at=now,
            updated_at=now,
        )
    )


def _restore(mappings: QuerySet[RecordMapping], side: Side, ids: list[str]) -> int:
    """A record restored from the recycle bin makes its mapping true again."""
    if not ids:
        return 0
    return mappings.filter(
        **{f"{side.id_field}__in": ids},
        status=MappingStatus.OUTDATED,
        outdated_reason_code=side.recycle_bin_code,
    ).update(
        status=MappingStatus.ACTIVE,
        outdated_reason_code="",
        outdated_reason="",
        outdated_at=None,
        updated_at=timezone.now(),
    )


def apply_drift(
    mappings: QuerySet[RecordMapping],
    side: Side,
    states: dict[str, Seen],
    now: datetime,
) -> int:
    """Flag target records last changed by someone else; clear those we wrote last."""
    ours = [
        i
        for i, s in states.items()
        if s.state is RecordState.ALIVE and s.modified_by[:15] == side.user_id[:15]
    ]
    mappings.filter(target_id__in=ours).exclude(drift_found_at=None).update(
        drift_found_at=None, drift_modified_by="", drift_modified_at=None
    )
    theirs = {
        i: s
        for i, s in states.items()
        if s.state is RecordState.ALIVE
        and s.modified_by
        and s.modified_by[:15] != side.user_id[:15]
    }
    drifted = 0
    for mapping in mappings.filter(
        target_id__in=list(theirs), status=MappingStatus.ACTIVE
    ):
        seen = theirs[mapping.target_id]
        modified_at = _salesforce_datetime(seen.modified_at)
        if (
            mapping.drift_modified_at == modified_at
            and mapping.drift_modified_by == seen.modified_by
        ):
            continue
        mapping.drift_found_at = now
        mapping.drift_modified_by = seen.modified_by
        mapping.drift_modified_at = modified_at
        mapping.save(
            update_fields=["drift_found_at", "drift_modified_by", "drift_modified_at"]
        )
        drifted += 1
    return drifted


def _salesforce_datetime(value: str) -> datetime | None:
    if not value:
        return None
    return datetime.fromisoformat(value.replace("Z", "+00:00"))
