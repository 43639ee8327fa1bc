"""Sending one write call and recording its answer (DESIGN invariants 3 and 6).

An insert call is journaled (committed) before it is sent; its answer is recorded in
one transaction with its mappings, results, issues and counters, which closes the
journal entry. Updates replay safely by target Id, so they need no journal. Records
the org refused for a transient reason (a row lock) are sent again within the run's
retry budget.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Sequence
from contextlib import nullcontext
from dataclasses import dataclass, field
from typing import Any

from django.db import transaction
from django.utils import timezone

from migrations_app.engine import pages, soql
from migrations_app.engine.pages import IssueData, Write
from migrations_app.engine.planning import ObjectPlan
from migrations_app.models import (
    IssueKind,
    MappingStatus,
    OutdatedReason,
    RecordAction,
    RecordIssue,
    RecordMapping,
)
from migrations_app.salesforce.client import (
    EncodedRecords,
    FieldError,
    SalesforceClient,
    SaveResult,
)
from migrations_app.salesforce.errors import (
    RETRYABLE_CODES,
    SalesforceError,
    is_retryable,
)
from migrations_app.services import journal, rows
from migrations_app.services.before_images import before_images_keep
from migrations_app.services.context import RunContext
from migrations_app.services.retry import RetryBudgetSpent

# Codes an update gets when its target record is gone; checked against the target.
GONE_CODES = frozenset(
    {"ENTITY_IS_DELETED", "INVALID_CROSS_REFERENCE_KEY", "NOT_FOUND"}
)


# A write the org refused for a transient reason, with its answer.
Refused = tuple[Write, SaveResult]
Writer = Callable[[str, Sequence[dict[str, Any]]], list[SaveResult]]


@dataclass
class BatchResult:
    """Everything a batch records in its closing transaction, as plain rows."""

    counts: Counter[str] = field(default_factory=Counter)
    issues: list[IssueData] = field(default_factory=list)
    mappings: list[rows.MappingRow] = field(default_factory=list)
    results: list[rows.ResultRow] = field(default_factory=list)
    # Mapping pk -> the hash of the values just written over its target.
    rewritten: dict[int, str] = field(default_factory=dict)
    # Mapping pks whose target record turned out to be deleted.
    gone: list[int] = field(default_factory=list)

    def add_written(
        self, sobject: str, write: Write, target_id: str, action: str
    ) -> None:
        """Count a record written to the target, and keep it for the success file."""
        self.counts[action] += 1
        self.results.append((sobject, write.source_id, target_id, action))

    def add_mapping(self, sobject: str, write: Write, target_id: str) -> None:
        self.mappings.append((sobject, write.source_id, target_id, write.hash))

    def extend(self, other: BatchResult) -> None:
        """Add another batch's rows and counts to this one's."""
        self.counts.update(other.counts)
        self.issues.extend(other.issues)
        self.mappings.extend(other.mappings)
        self.results.extend(other.results)
        self.rewritten.update(other.rewritten)
        self.gone.extend(other.gone)

    def add_issue(self, issue: IssueData) -> None:
        """Record an issue; a failed or ambiguous one also counts as that outcome."""
        self.issues.append(issue)
        if issue.kind != IssueKind.WARNING:
            self.counts[issue.kind] += 1


def write_inserts(context: RunContext, plan: ObjectPlan, inserts: list[Write]) -> None:
    """Journal, send and record one chunk of inserts (DESIGN invariant 3).

    A lost answer is settled in place, as a resumed run would: the entry is
    reconciled against the target, then only the records still missing are sent,
    under a new entry. Records the org refused for a transient reason (a row lock)
    were not created: once the call is recorded they too are sent again under a new
    entry. Each round spends one retry of the run's budget.
    """
    while inserts:
        entry = journal.journal_open(context.run, plan.sobject, inserts)
        writer = writer_for(context, "insert", len(inserts), entry)
        try:
            saved = send(writer, plan, insert_payload(inserts))
        except journal.WriteInDoubt as doubt:
            inserts = settle_in_place(context, plan, entry, inserts, doubt)
            continue
        inserts = record_inserts(context, plan, entry, inserts, saved)


def record_inserts(
    context: RunContext,
    plan: ObjectPlan,
    entry: journal.Entry,
    inserts: list[Write],
    saved: list[SaveResult],
) -> list[Write]:
    """Record an answered insert call in one transaction, closing its entry; return
    the inserts to send again (refused for a transient reason, a retry spent)."""
    [again] = record_answers(
        context, plan, [inserts_answered(context, plan, entry, inserts, saved)]
    )
    return again


@dataclass
class Answer:
    """An answered call, read: what it records, the journal entry its recording
    closes (inserts only: updates replay without one), and what the org refused
    for a transient reason."""

    result: BatchResult
    entry: journal.Entry | None = None
    refused: list[Refused] = field(default_factory=list)

    @property
    def operation(self) -> str:
        return "update" if self.entry is None else "insert"


def inserts_answered(
    context: RunContext,
    plan: ObjectPlan,
    entry: journal.Entry,
    inserts: list[Write],
    saved: list[SaveResult],
) -> Answer:
    answer = Answer(BatchResult(), entry)
    _collect_inserts(context, plan, inserts, saved, answer.result, answer.refused)
    return answer


def updates_answered(
    context: RunContext, plan: ObjectPlan, updates: list[Write], saved: list[SaveResult]
) -> Answer:
    """Updates that failed as if their target were gone are checked against the
    target here, before any transaction is open (DESIGN invariant 6)."""
    answer = Answer(BatchResult())
    _collect_updates(context, plan, updates, saved, answer.result, answer.refused)
    return answer


def record_answers(
    context: RunContext, plan: ObjectPlan, answers: Sequence[Answer]
) -> list[list[Write]]:
    """Record answered calls in one transaction, each of them whole, closing their
    journal entries; return, for each, the writes to send again (refused for a
    transient reason, a retry spent).

    Recording the answers that arrived together at once saves a commit, a counter
    update and a journal close per call; no call is sent or waited for inside.
    """
    merged = BatchResult()
    for answer in answers:
        merged.extend(answer.result)
    record(context, plan, merged, [a.entry for a in answers if a.entry is not None])
    return [
        _resend_refused(context, plan, answer.refused, operation=answer.operation)
        for answer in answers
    ]


def settle_in_place(
    context: RunContext,
    plan: ObjectPlan,
    entry: journal.Entry,
    inserts: list[Write],
    doubt: journal.WriteInDoubt,
) -> list[Write]:
    """Reconcile an in-doubt entry now; return the inserts that were not created."""
    spend_retry(context, doubt, what=f"{plan.sobject} insert")
    found = journal.journal_reconcile_entry(
        entry, target=context.target, target_user_id=context.target_user_id
    )
    for write in inserts:
        if write.source_id in found and not context.writes_mappings:
            context.remember_insert(
                plan.sobject, write.source_id, found[write.source_id]
            )
    return [w for w in inserts if w.source_id not in found]


def spend_retry(context: RunContext, doubt: journal.WriteInDoubt, *, what: str) -> None:
    """Take a retry for a write that failed transiently, or stop the run.

    Without a budget, or for a fault that waiting does not cure (an exhausted
    allowance), the doubt propagates: the run stops and reconciles on resume.
    """
    error = doubt.error
    if context.retry is None or not is_retryable(error):
        raise doubt
    context.retry.spend(error, what=what)
    if error.code == "TIMEOUT":
        # The org may still be applying a write whose answer timed out: give it
        # time to finish before looking for what it created.
        context.retry.sleep(context.retry.max_seconds)


def write_updates(context: RunContext, plan: ObjectPlan, updates: list[Write]) -> None:
    """Send and record one chunk of updates; they replay safely, so no journal.

    Updates the org refused for a transient reason (a row lock) are sent again once
    the call is recorded, each round spending one retry of the run's budget.
    """
    before_images_keep(context, plan, update_payload(updates))
    replay_updates(context, plan, updates)


def replay_updates(context: RunContext, plan: ObjectPlan, updates: list[Write]) -> None:
    """Send and record updates whose before-images are kept, until none is refused."""
    while updates:
        updates = send_and_record_updates(context, plan, updates)


def insert_payload(inserts: list[Write]) -> EncodedRecords:
    """The records of an insert call, each sent as the text it was hashed and
    journaled from."""
    return EncodedRecords([w.values for w in inserts], [w.canonical for w in inserts])


def update_payload(updates: list[Write]) -> list[dict[str, Any]]:
    return [{"Id": w.target_id, **w.values} for w in updates]


def send_and_record_updates(
    context: RunContext, plan: ObjectPlan, updates: list[Write]
) -> list[Write]:
    """One update call, recorded in one transaction; return the updates to send
    again (refused for a transient reason, a retry spent)."""
    saved = send_replayable(
        context,
        writer_for(context, "update", len(updates), None),
        plan,
        update_payload(updates),
    )
    return record_updates(context, plan, updates, saved)


def record_updates(
    context: RunContext,
    plan: ObjectPlan,
    updates: list[Write],
    saved: list[SaveResult],
) -> list[Write]:
    """Record an answered update call in one transaction; return the updates to
    send again (refused for a transient reason, a retry spent)."""
    [again] = record_answers(
        context, plan, [updates_answered(context, plan, updates, saved)]
    )
    return again


def send_replayable(
    context: RunContext,
    write: Writer,
    plan: ObjectPlan,
    records: list[dict[str, Any]],
) -> list[SaveResult]:
    """Send updates, sending them again after a transient failure: an update by
    target Id writes the same values twice, never a second record."""
    while True:
        try:
            return send(write, plan, records)
        except journal.WriteInDoubt as doubt:
            spend_retry(context, doubt, what=f"{plan.sobject} update")


def collection_writer(target: SalesforceClient, operation: str) -> Writer:
    """The sObject Collections call for ``operation`` ("insert" or "update")."""
    return target.create if operation == "insert" else target.update


def writer_for(
    context: RunContext, operation: str, count: int, entry: journal.Entry | None
) -> Writer:
    """sObject Collections for a call's worth of records, Bulk API 2.0 above that."""
    if not pages.sent_as_bulk_job(count):
        return collection_writer(context.target, operation)

    def bulk(sobject: str, records: Sequence[dict[str, Any]]) -> list[SaveResult]:
        on_job = (
            (lambda job_id: journal.journal_set_job(entry, job_id)) if entry else None
        )
        return context.target.bulk_write(sobject, operation, records, on_job=on_job)

    return bulk


def send(
    write: Writer, plan: ObjectPlan, records: list[dict[str, Any]]
) -> list[SaveResult]:
    """Send a write; a refusal of the whole call becomes a failure of each record.

    A transient failure propagates: the journal entry stays in doubt and the run is
    interrupted, to be reconciled when it resumes.
    """
    if not records:
        return []
    try:
        return write(plan.sobject, records)
    except SalesforceError as exc:
        if not exc.permanent:
            raise journal.WriteInDoubt(str(exc), exc) from exc
        error = FieldError(
            statusCode=exc.code or "ERROR", message=exc.message, fields=[]
        )
        return [SaveResult(success=False, id=None, errors=(error,)) for _ in records]


def _collect_inserts(
    context: RunContext,
    plan: ObjectPlan,
    inserts: list[Write],
    results: list[SaveResult],
    result: BatchResult,
    refused: list[Refused],
) -> None:
    """Put a call's outcome in ``result``; the records the org refused for a
    transient reason go to ``refused`` instead, to be sent again."""
    for write, saved in zip(inserts, results, strict=True):
        if not saved.success or not saved.id:
            if worth_resending(context, saved):
                refused.append((write, saved))
                continue
            result.add_issue(failed_issue(write, saved))
            continue
        result.add_written(plan.sobject, write, saved.id, RecordAction.INSERTED)
        if context.writes_mappings:
            result.add_mapping(plan.sobject, write, saved.id)
        else:
            context.remember_insert(plan.sobject, write.source_id, saved.id)


def _collect_updates(
    context: RunContext,
    plan: ObjectPlan,
    updates: list[Write],
    results: list[SaveResult],
    result: BatchResult,
    refused: list[Refused],
) -> None:
    """As ``_collect_inserts``, for updates; those that failed as if their target
    were gone are checked against the target first."""
    gone_candidates = []
    for write, saved in zip(updates, results, strict=True):
        if saved.success:
            action = RecordAction.ADOPTED if write.adopts else RecordAction.UPDATED
            result.add_written(plan.sobject, write, write.target_id, action)
            if write.adopts:
                result.add_mapping(plan.sobject, write, write.target_id)
            elif write.mapping is not None:
                result.rewritten[write.mapping.pk] = write.hash
        elif saved.error_code in GONE_CODES:
            gone_candidates.append((write, saved))
        elif worth_resending(context, saved):
            refused.append((write, saved))
        else:
            result.add_issue(failed_issue(write, saved))
    _check_gone(context, plan, gone_candidates, result)


def worth_resending(context: RunContext, saved: SaveResult) -> bool:
    """Whether a record the org refused can be sent again: it failed for a
    transient reason (a row lock another call held: UNABLE_TO_LOCK_ROW) and the
    run has a retry budget to spend on it."""
    return context.retry is not None and saved.error_code in RETRYABLE_CODES


def _resend_refused(
    context: RunContext, plan: ObjectPlan, refused: list[Refused], *, operation: str
) -> list[Write]:
    """The writes to send again after their call was recorded, one retry spent on
    them all (with its backoff); none once the budget is spent, and then they are
    recorded as failed, in a transaction of their own.

    A record refused this way was not written: an insert goes again under a new
    journal entry, an update replays by target Id.
    """
    if not refused:
        return []
    if took_retry(context, plan, refused, operation=operation):
        return [write for write, _ in refused]
    failed = BatchResult()
    for write, saved in refused:
        failed.add_issue(failed_issue(write, saved))
    record(context, plan, failed)
    return []


def took_retry(
    context: RunContext, plan: ObjectPlan, refused: list[Refused], *, operation: str
) -> bool:
    """Spend one retry of the run's budget on a round of refused records, counted
    in the run's retry report under their code; False when none is left."""
    if context.retry is None:
        return False
    _, first = refused[0]
    error = SalesforceError(
        f"{first.error_code}: {first.error_message}",
        code=first.error_code,
        permanent=False,
    )
    try:
        context.retry.spend(
            error, what=f"{plan.sobject} {operation} of {len(refused)} records"
        )
    except RetryBudgetSpent:
        return False
    return True


def _check_gone(
    context: RunContext,
    plan: ObjectPlan,
    candidates: list[tuple[Write, SaveResult]],
    result: BatchResult,
) -> None:
    """Updates that failed as if their target were gone: ask the target which really are."""
    if not candidates:
        return
    ids = [write.target_id for write, _ in candidates]
    alive = {
        r["Id"]
        for r in context.target.query(
            soql.select(plan.sobject, ["Id"], [soql.in_list("Id", ids)])
        )
    }
    for write, saved in candidates:
        if write.target_id in alive or write.adopts or write.mapping is None:
            result.add_issue(failed_issue(write, saved))
            continue
        result.gone.append(write.mapping.pk)
        result.add_issue(pages.target_deleted_issue(write))


def failed_issue(write: Write, saved: SaveResult) -> IssueData:
    return pages.write_failed_issue(
        write,
        code=saved.error_code,
        message=saved.error_message,
        fields=saved.error_fields,
    )


def record(
    context: RunContext,
    plan: ObjectPlan,
    result: BatchResult,
    entries: Sequence[journal.Entry] = (),
    *,
    checkpoint: dict[str, Any] | None = None,
) -> None:
    """Save the batch's mappings, results, issues and counters, and settle its journal
    entries; with a checkpoint, the page is done and a resumed run goes on after it."""
    run = context.run
    # The rows, counts and journal are a transaction of their own (on PostgreSQL one
    # statement, one round trip): only a batch with more to save needs one around.
    more = result.rewritten or result.gone or result.issues
    with transaction.atomic() if more else nullcontext():
        rows.batch_save(
            run,
            plan.sobject,
            mappings=result.mappings,
            results=result.results,
            counts=result.counts,
            done=[entry.pk for entry in entries],
            checkpoint=checkpoint,
        )
        rows.mappings_rewritten(run, result.rewritten)
        if result.gone:
            now = timezone.now()
            RecordMapping.objects.filter(pk__in=result.gone).update(
                status=MappingStatus.OUTDATED,
                updated_at=now,
                outdated_reason=f"target record deleted (found by run {run.pk})",
                outdated_reason_code=OutdatedReason.TARGET_DELETED,
                outdated_at=now,
            )
        RecordIssue.objects.bulk_create(
            issue_rows(context, plan.sobject, result.issues)
        )


def issue_rows(
    context: RunContext, sobject: str, issues: Sequence[IssueData]
) -> list[RecordIssue]:
    """Issues are few (failures and first warnings), so they stay model rows."""
    return [
        RecordIssue(
            run=context.run,
            kind=issue.kind,
            sobject=sobject,
            source_id=issue.source_id,
            target_id=issue.target_id,
            error_code=issue.code,
            message=issue.message,
            fields=list(issue.fields),
            values=dict(issue.values),
        )
        for issue in issues
    ]
