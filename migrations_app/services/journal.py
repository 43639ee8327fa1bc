"""The in-doubt write journal (DESIGN invariant 3).

Before a batch of inserts is sent, an entry naming its source records and the values
sent is committed. After the response, the batch's closing transaction marks it done.
An entry still in doubt (the worker died, or the answer was lost) is reconciled before
the org pair receives another insert: the target is searched for records that we
created since the entry was written and that hold exactly the values sent; those are
recorded as inserted and mapped, and the rest were never created.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from datetime import timedelta
from json.encoder import encode_basestring_ascii
from typing import TYPE_CHECKING, Any

from django.db import transaction
from django.utils import timezone

from migrations_app.engine import soql
from migrations_app.engine.records import same_values, values_hash
from migrations_app.engine.strategy import Strategy
from migrations_app.models import (
    EncodedList,
    RecordAction,
    RecordMapping,
    Run,
    WriteJournal,
)
from migrations_app.salesforce.client import SalesforceClient
from migrations_app.salesforce.errors import SalesforceError
from migrations_app.services import rows
from migrations_app.services.errors import MigrationError

if TYPE_CHECKING:
    from migrations_app.engine.pages import Write

logger = logging.getLogger(__name__)

Entry = WriteJournal
# Records created up to this long before the entry was committed are still candidates,
# to absorb clock skew between this server and Salesforce.
CLOCK_SKEW = timedelta(minutes=2)


class WriteInDoubt(MigrationError):
    """A write whose outcome is unknown: settled in place while the run's retry budget
    lasts, else the run stops and reconciles when it resumes."""

    def __init__(self, message: str, error: SalesforceError) -> None:
        super().__init__(
            f"A write to the target org did not complete ({message}); the run stopped "
            "and will check what was created when it resumes",
            permanent=False,
        )
        # The failure itself, which says whether retrying can help.
        self.error = error


def journal_open(run: Run, sobject: str, inserts: Sequence[Write]) -> WriteJournal:
    """Commit the entry before the batch is sent (autocommit: no transaction is open)."""
    [entry] = journal_open_many(run, sobject, [inserts])
    return entry


def journal_open_many(
    run: Run, sobject: str, batches: Sequence[Sequence[Write]]
) -> list[WriteJournal]:
    """Commit an entry for each batch about to be sent, in one transaction."""
    if not batches:
        return []
    return rows.journal_insert(
        run, sobject, [journal_entries(inserts) for inserts in batches]
    )


def journal_entries(inserts: Sequence[Write]) -> EncodedList:
    """What an entry keeps of each record sent, with its JSON text put together from
    the records' own canonical encodings (the values are not encoded again)."""
    return EncodedList(
        [{"source_id": w.source_id, "values": w.values} for w in inserts],
        "["
        + ",".join(
            f'{{"source_id":{encode_basestring_ascii(w.source_id)},'
            f'"values":{w.canonical}}}'
            for w in inserts
        )
        + "]",
    )


def journal_set_job(entry: WriteJournal, job_id: str) -> None:
    """Remember the Bulk API job of an entry before its data is uploaded."""
    WriteJournal.objects.filter(pk=entry.pk).update(bulk_job_id=job_id)


def journal_close(*entries: WriteJournal) -> None:
    """Mark the entries done; called inside their batches' closing transaction."""
    rows.journal_done([entry.pk for entry in entries])


def journal_reconcile_pair(
    *, run: Run, target: SalesforceClient, target_user_id: str
) -> int:
    """Settle every in-doubt entry left by any run into this org pair; return how many.

    Idempotent: a settled entry is never looked at again.
    """
    entries = (
        WriteJournal.objects.filter(
            run__source_org=run.source_org_id,
            run__target_org=run.target_org_id,
            state=WriteJournal.State.IN_DOUBT,
        )
        .select_related("run")
        .order_by("created_at")
    )
    settled = 0
    for entry in entries:
        journal_reconcile_entry(entry, target=target, target_user_id=target_user_id)
        settled += 1
    return settled


def journal_reconcile_entry(
    entry: WriteJournal, *, target: SalesforceClient, target_user_id: str
) -> dict[str, str]:
    """Settle one in-doubt entry: record what the target holds of it; return source
    id -> target id of the records that had been created (the rest were not)."""
    found = _find_created(entry, target, target_user_id)
    _record_reconciled(entry, found)
    return found


def _find_created(
    entry: WriteJournal, target: SalesforceClient, user_id: str
) -> dict[str, str]:
    """Source id -> target id of the entry's records that exist in the target."""
    if entry.bulk_job_id:
        return _found_in_bulk_results(entry, target)
    sent: list[dict[str, Any]] = entry.entries
    names = sorted({name for item in sent for name in item["values"]})
    since = (entry.created_at - CLOCK_SKEW).strftime("%Y-%m-%dT%H:%M:%SZ")
    conditions = [f"CreatedById = {soql.quote(user_id)}", f"CreatedDate >= {since}"]
    candidates = list(
        target.query(soql.select(entry.sobject, ["Id", *names], conditions))
    )
    taken = set(
        RecordMapping.objects.filter(
            source_org=entry.run.source_org_id,
            target_org=entry.run.target_org_id,
            target_id__in=[c["Id"] for c in candidates],
        ).values_list("target_id", flat=True)
    )
    found: dict[str, str] = {}
    for item in sent:
        for candidate in candidates:
            if candidate["Id"] not in taken and same_values(item["values"], candidate):
                found[item["source_id"]] = candidate["Id"]
                taken.add(candidate["Id"])
                break
    return found


def _found_in_bulk_results(
    entry: WriteJournal, target: SalesforceClient
) -> dict[str, str]:
    """A Bulk API job keeps its results: read which rows it created."""
    records = [item["values"] for item in entry.entries]
    try:
        results = target.bulk_results(entry.sobject, entry.bulk_job_id, records)
    except SalesforceError as exc:
        if exc.code != "NOT_FOUND":
            raise
        return {}  # the job was never created: nothing was inserted
    return {
        item["source_id"]: result.id
        for item, result in zip(entry.entries, results, strict=True)
        if result.success and result.id
    }


@transaction.atomic
def _record_reconciled(entry: WriteJournal, found: dict[str, str]) -> None:
    run = entry.run
    if run.strategy != Strategy.NONE and not run.dry_run:
        values = {item["source_id"]: item["values"] for item in entry.entries}
        rows.mappings_insert(
            run,
            [
                (entry.sobject, source_id, target_id, values_hash(values[source_id]))
                for source_id, target_id in found.items()
            ],
        )
    rows.results_insert(
        run,
        [
            (entry.sobject, source_id, target_id, RecordAction.INSERTED)
            for source_id, target_id in found.items()
        ],
    )
    rows.counts_add(run, entry.sobject, {"inserted": len(found)})
    WriteJournal.objects.filter(pk=entry.pk).update(
        state=WriteJournal.State.RECONCILED, resolved_at=timezone.now()
    )
    logger.info(
        "journal entry %s reconciled: %s of %s records had been created",
        entry.pk,
        len(found),
        len(entry.entries),
    )
