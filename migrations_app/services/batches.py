"""One page of source records: read what the decisions need, send, record.

The engine decides the whole page (engine/pages.py); this module reads the page's
mappings, match-key candidates and same-Id hits, sends the decided writes in full calls
and records each call's results in one transaction (DESIGN invariants 3 and 6).
"""

from __future__ import annotations

from collections import Counter, deque
from collections.abc import Callable, Iterable, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from functools import partial
from typing import Any

from django.conf import settings
from django.db import transaction
from django.utils import timezone

from migrations_app.engine import pages, soql
from migrations_app.engine.pages import (
    COLLECTION_SIZE,
    IssueData,
    KnownMapping,
    PageDecision,
    PageFacts,
    Write,
)
from migrations_app.engine.planning import ObjectPlan
from migrations_app.engine.records import build_payload, match_key_value, same_values
from migrations_app.engine.strategy import Action, Decision, Strategy
from migrations_app.models import (
    IssueKind,
    MappingStatus,
    OutdatedReason,
    RecordAction,
    RecordIssue,
    RecordMapping,
    RecordResult,
    RunObjectStat,
)
from migrations_app.salesforce.client import FieldError, SalesforceClient, SaveResult
from migrations_app.salesforce.errors import (
    RETRYABLE_CODES,
    SalesforceError,
    is_retryable,
)
from migrations_app.services import journal, rows
from migrations_app.services.before_images import before_images_keep
from migrations_app.services.context import RunContext, add_counts, chunked
from migrations_app.services.retry import RetryBudgetSpent
from migrations_app.services.same_id import same_id_matches

# Codes an update gets when its target record is gone; checked against the target.
GONE_CODES = frozenset(
    {"ENTITY_IS_DELETED", "INVALID_CROSS_REFERENCE_KEY", "NOT_FOUND"}
)
# Stands for "the parent would have been inserted" in a dry run.
DRY_RUN_ID = "(would be inserted)"

Known = dict[str, KnownMapping]
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

    def add_issue(self, issue: IssueData) -> None:
        """Record an issue; a failed or ambiguous one also counts as that outcome."""
        self.issues.append(issue)
        if issue.kind != IssueKind.WARNING:
            self.counts[issue.kind] += 1


def load_mappings(
    context: RunContext,
    plan: ObjectPlan,
    page: Sequence[dict[str, Any]],
    *,
    none_of_own: bool = False,
) -> Known:
    """The mappings of a page's records and of their parents, as plain rows.

    One query per sObject, each filtering on exactly the columns of the mapping
    table's unique index (org pair, sObject, source id): with millions of mappings a
    lookup is an index probe per id, never a scan. ``none_of_own`` (from
    ``no_mappings_yet``) skips the page's own object, which has none to find.
    """
    if context.strategy is Strategy.NONE:
        return {}
    run = context.run
    return {
        row.source_id: row
        for sobject, ids in pages.lookup_ids_by_object(plan, page).items()
        if not (none_of_own and sobject == plan.sobject)
        for row in mappings_of(
            source_org_id=run.source_org_id,
            target_org_id=run.target_org_id,
            sobject=sobject,
            source_ids=ids,
        )
    }


def no_mappings_yet(context: RunContext, plan: ObjectPlan) -> bool:
    """Whether no page of this object can find a mapping of its own object: the pair
    has none of it yet (a first run), the run did not write any before an
    interruption, and no record of the object points to another one (a hierarchy,
    whose parents are mapped by earlier pages). One query instead of one per page.
    """
    if context.resumed or plan.passes or plan.self_lookup:
        return False
    if any(plan.sobject in references for references in plan.references.values()):
        return False
    return not RecordMapping.objects.filter(
        source_org=context.run.source_org_id,
        target_org=context.run.target_org_id,
        sobject=plan.sobject,
    ).exists()


def mappings_of(
    *, source_org_id: int, target_org_id: int, sobject: str, source_ids: Iterable[str]
) -> list[KnownMapping]:
    """The mappings of ``source_ids`` of one sObject, as plain rows."""
    found = rows.mappings_lookup(
        source_org_id=source_org_id,
        target_org_id=target_org_id,
        sobject=sobject,
        source_ids=sorted(source_ids),
    )
    return [
        KnownMapping(
            pk,
            source_id,
            target_id,
            status == MappingStatus.ACTIVE,
            hash_,
            code,
            reason,
        )
        for pk, source_id, target_id, status, hash_, code, reason in found
    ]


def process_page(
    context: RunContext,
    plan: ObjectPlan,
    records: Sequence[dict[str, Any]],
    known: Known,
    *,
    defer_self: bool,
    write_size: int,
    checkpoint: dict[str, Any],
    pipeline: WritePipeline | None = None,
) -> None:
    """Decide a whole page (engine), then write it in chunks of ``write_size``.

    Deciding a whole page first lets the writes go out full: a repeat run where a few
    records changed here and there sends a few full calls, not many small ones. The
    page's own counts are recorded last, with its checkpoint, so a run resumed after
    a crash mid-page counts each record once.
    """
    done = _recorded_before_resume(context, plan, records)
    pending = [record for record in records if record["Id"] not in done]
    decided = pages.decide_page(
        plan, pending, _page_facts(context, plan, pending, known, defer_self)
    )
    context.owner_fallbacks[plan.sobject] += decided.owner_fallbacks
    page = BatchResult(counts=decided.counts(), issues=list(decided.issues))
    page.counts["selected"] = len(records)
    if context.run.dry_run:
        _count_dry_run(context, plan, decided, page)
    elif pipeline is not None:
        _adopt_as_is(context, plan, decided.adopted_as_is, page)

        def close_page() -> None:
            _record(context, plan, page, checkpoint=checkpoint)

        pipeline.add(page_calls(plan, decided, write_size), close_page)
        return
    else:
        _adopt_as_is(context, plan, decided.adopted_as_is, page)
        for chunk in chunked(decided.inserts, write_size):
            _write_inserts(context, plan, chunk)
        for chunk in chunked(decided.updates, write_size):
            _write_updates(context, plan, chunk)
    _record(context, plan, page, checkpoint=checkpoint)


def _page_facts(
    context: RunContext,
    plan: ObjectPlan,
    pending: Sequence[dict[str, Any]],
    known: Known,
    defer_self: bool,
) -> PageFacts:
    """Read what the engine needs to decide ``pending``: one query of each kind."""
    same_ids = same_id_matches(context, plan, pending, known)
    matches = find_matches(
        context, plan, [r for r in pending if r["Id"] not in same_ids], known
    )
    return PageFacts(
        strategy=context.strategy,
        mappings=known,
        matches=matches.candidates,
        contested=matches.contested,
        candidate_values=matches.values,
        same_ids=frozenset(same_ids),
        warned=frozenset(_warned_before(context, plan, pending)),
        users=context.users,
        fallback_owner=context.fallback_owner,
        record_types=context.record_types,
        run_inserts=context.run_inserts,
        secret=context.masking_key,
        only_changed=bool(context.run.options.get("only_changed", True)),
        defer_self=defer_self,
    )


def _recorded_before_resume(
    context: RunContext, plan: ObjectPlan, records: Sequence[dict[str, Any]]
) -> set[str]:
    """Records of this page that this run already wrote or failed before it was
    interrupted; they are counted already. Only a resumed run asks."""
    if not context.resumed or context.run.dry_run:
        return set()
    ids = [record["Id"] for record in records]
    written = RecordResult.objects.filter(
        run=context.run, sobject=plan.sobject, source_id__in=ids
    ).values_list("source_id", flat=True)
    failed = RecordIssue.objects.filter(
        run=context.run,
        sobject=plan.sobject,
        source_id__in=ids,
        kind__in=(IssueKind.FAILED, IssueKind.AMBIGUOUS),
    ).values_list("source_id", flat=True)
    return {*written, *failed}


def _warned_before(
    context: RunContext, plan: ObjectPlan, records: Sequence[dict[str, Any]]
) -> set[tuple[str, str]]:
    """(source id, field) of the missing-parent warnings an earlier run on this org
    pair already reported: a warning is worth reading once, not on every run."""
    if not plan.references:
        return set()
    found = RecordIssue.objects.filter(
        sobject=plan.sobject,
        source_id__in=[record["Id"] for record in records],
        kind=IssueKind.WARNING,
        error_code="MISSING_PARENT",
        run__source_org=context.run.source_org_id,
        run__target_org=context.run.target_org_id,
    ).values_list("source_id", "fields")
    return {(source_id, name) for source_id, names in found for name in names}


def write_pipeline(context: RunContext, plan: ObjectPlan) -> WritePipeline | None:
    """A pipeline with several Collections calls or Bulk API jobs in flight, or None
    where calls go one by one (one worker, or a dry run, which sends nothing).

    Its calls stay in flight from one page to the next unless a page's decisions
    may depend on the previous page's writes: a lookup to the object itself, or a
    veid_match query, which must not adopt a target the page before just mapped.
    """
    workers = settings.WRITE_CONCURRENCY
    if workers <= 1 or context.run.dry_run:
        return None
    depends = context.strategy is Strategy.VEID_MATCH or any(
        plan.sobject in references for references in plan.references.values()
    )
    return WritePipeline(context, plan, workers, across_pages=not depends)


@dataclass
class Call:
    """One write of a page, a Collections call or a Bulk API job: inserts
    (journaled) or updates (replayable)."""

    operation: str  # "insert" or "update"
    writes: list[Write]


@dataclass
class Sent:
    sequence: int  # the order sent: a page is closed once its last call is recorded
    call: Call
    entry: journal.Entry | None  # inserts only
    answer: Future[list[SaveResult]]


class WritePipeline:
    """A page's insert and update calls, ``workers`` of them in flight at once.

    Each insert call is journaled (committed) before it is sent; only the HTTP
    calls run on the pool's threads, and this thread records each answer in its own
    transaction, in the order sent (DESIGN invariants 3 and 6). A page is closed
    (its counts and checkpoint) as soon as its last call is recorded, before any
    call of the next page is. ``across_pages``: the last calls of a page stay in
    flight while the next page is read and decided. After a lost answer, what is
    in flight is recorded, the doubts are settled in place, and the rest goes one
    call at a time.
    """

    def __init__(
        self, context: RunContext, plan: ObjectPlan, workers: int, *, across_pages: bool
    ) -> None:
        self.context = context
        self.plan = plan
        self.workers = workers
        self.across_pages = across_pages
        self.pool = ThreadPoolExecutor(max_workers=workers)
        self.sent = 0  # sequence number of the last call sent
        self.in_flight: deque[Sent] = deque()
        self.waiting: deque[Call] = deque()  # calls not sent yet
        # (sequence number of a page's last call, its closer), in page order.
        self.closers: deque[tuple[int, Callable[[], None]]] = deque()

    def add(self, calls: list[Call], close: Callable[[], None]) -> None:
        """Queue a page's calls and its closer; return once every call of the page
        is sent, or once the page is closed unless calls stay in flight across
        pages."""
        self.waiting.extend(calls)
        self.closers.append((self.sent + len(self.waiting), close))
        self._fill()
        while self.waiting or (self.closers and self._closable()):
            self._step()
        if not self.across_pages:
            self.drain()

    def drain(self) -> None:
        """Record everything in flight and close every page."""
        while self.in_flight or self.waiting or self.closers:
            self._step()

    def finish(self) -> None:
        self.drain()
        self.pool.shutdown()

    def abandon(self) -> None:
        """Stop without recording: insert calls in flight stay in doubt in the
        journal (updates replay safely)."""
        self.pool.shutdown(wait=True, cancel_futures=True)

    def _step(self) -> None:
        if self.closers and self._closable():
            self.closers.popleft()[1]()
            return
        if not self.in_flight:
            self._fill()
        self._record_oldest()
        self._fill()

    def _closable(self) -> bool:
        last, _ = self.closers[0]
        recorded = self.in_flight[0].sequence - 1 if self.in_flight else self.sent
        return last <= recorded

    def _fill(self) -> None:
        while self.waiting and len(self.in_flight) < self.workers:
            self.sent += 1
            self.in_flight.append(self._send(self.sent, self.waiting.popleft()))

    def _send(self, sequence: int, call: Call) -> Sent:
        context, plan = self.context, self.plan
        entry = None
        if call.operation == "insert":
            entry = journal.journal_open(context.run, plan.sobject, call.writes)
            records = [w.values for w in call.writes]
        else:
            records = _update_payload(call.writes)
            before_images_keep(context, plan, records)
        writer = self._writer(call.operation, len(records), entry)
        return Sent(
            sequence, call, entry, self.pool.submit(_send, writer, plan, records)
        )

    def _writer(
        self, operation: str, count: int, entry: journal.Entry | None
    ) -> Writer:
        """sObject Collections for a call's worth of records; above that a Bulk API
        job, opened here so that its id is journaled from this thread, then
        uploaded, waited for and read on the pool."""
        target = self.context.target
        if count <= COLLECTION_SIZE:
            return target.create if operation == "insert" else target.update
        try:
            job_id = target.bulk_create_job(self.plan.sobject, operation)
        except SalesforceError as exc:
            return _refusing(exc)  # answered like a call that failed so
        if entry is not None:
            journal.journal_set_job(entry, job_id)
        return partial(_run_job, target, operation, job_id)

    def _record_oldest(self) -> None:
        if not self.in_flight:
            return
        sent = self.in_flight.popleft()
        try:
            saved = sent.answer.result()
        except journal.WriteInDoubt as lost:
            self._settle(sent, lost)
            return
        again = _record_answer(self.context, self.plan, sent, saved)
        if again:
            # First in line, under the number of the call it repeats: its page
            # is not closed (checkpoint) before these records are recorded too.
            call = Call(sent.call.operation, again)
            self.in_flight.appendleft(self._send(sent.sequence, call))

    def _settle(self, doubt: Sent, lost: journal.WriteInDoubt) -> None:
        """Record the other calls in flight first, so that reconciling an insert
        entry cannot take their records for its own; then go one call at a time."""
        self.workers = 1
        answered = list(self.in_flight)
        self.in_flight.clear()
        doubts = [(doubt, lost)]
        for sent in answered:
            try:
                saved = sent.answer.result()
            except journal.WriteInDoubt as other_lost:
                doubts.append((sent, other_lost))
                continue
            again = _record_answer(self.context, self.plan, sent, saved)
            _write_one_by_one(self.context, self.plan, Call(sent.call.operation, again))
        for sent, in_doubt in doubts:
            self._write_again(sent, in_doubt)

    def _write_again(self, sent: Sent, lost: journal.WriteInDoubt) -> None:
        """A call whose answer was lost: inserts are reconciled, then what was not
        created is sent again; updates are sent again (one retry spent)."""
        context, plan, call = self.context, self.plan, sent.call
        if sent.entry is None:
            _spend_retry(context, lost, what=f"{plan.sobject} update")
            _write_one_by_one(context, plan, call)
            return
        missing = _settle_in_place(context, plan, sent.entry, call.writes, lost)
        _write_one_by_one(context, plan, Call("insert", missing))


def _run_job(
    target: SalesforceClient,
    operation: str,
    job_id: str,
    sobject: str,
    records: Sequence[dict[str, Any]],
) -> list[SaveResult]:
    return target.bulk_run_job(sobject, operation, job_id, records)


def _refusing(error: SalesforceError) -> Writer:
    def refuse(sobject: str, records: Sequence[dict[str, Any]]) -> list[SaveResult]:
        raise error

    return refuse


def page_calls(plan: ObjectPlan, decided: PageDecision, size: int) -> list[Call]:
    """A page's writes as calls of up to ``size`` records, inserts first, children
    of one parent packed into the same call (pages.calls_by_parent)."""
    return [
        *(
            Call("insert", w)
            for w in pages.calls_by_parent(plan, decided.inserts, size)
        ),
        *(
            Call("update", w)
            for w in pages.calls_by_parent(plan, decided.updates, size)
        ),
    ]


def _record_answer(
    context: RunContext, plan: ObjectPlan, sent: Sent, saved: list[SaveResult]
) -> list[Write]:
    """Record an answered call in one transaction; return its writes to send again."""
    if sent.entry is not None:
        return _record_inserts(context, plan, sent.entry, sent.call.writes, saved)
    return _record_updates(context, plan, sent.call.writes, saved)


def _write_one_by_one(context: RunContext, plan: ObjectPlan, call: Call) -> None:
    if not call.writes:
        return
    if call.operation == "insert":
        _write_inserts(context, plan, call.writes)
    else:
        updates = call.writes
        while updates:
            updates = _send_and_record_updates(context, plan, updates)


def _write_inserts(context: RunContext, plan: ObjectPlan, inserts: list[Write]) -> None:
    """Journal, send and record one chunk of inserts (DESIGN invariant 3).

    A lost answer is settled in place, as a resumed run would: the entry is
    reconciled against the target, then only the records still missing are sent,
    under a new entry. Records the org refused for a transient reason (a row lock)
    were not created: once the call is recorded they too are sent again under a new
    entry. Each round spends one retry of the run's budget.
    """
    while inserts:
        entry = journal.journal_open(context.run, plan.sobject, inserts)
        writer = _writer(context, "insert", len(inserts), entry)
        try:
            saved = _send(writer, plan, [w.values for w in inserts])
        except journal.WriteInDoubt as doubt:
            inserts = _settle_in_place(context, plan, entry, inserts, doubt)
            continue
        inserts = _record_inserts(context, plan, entry, inserts, saved)


def _record_inserts(
    context: RunContext,
    plan: ObjectPlan,
    entry: journal.Entry,
    inserts: list[Write],
    saved: list[SaveResult],
) -> list[Write]:
    """Record an answered insert call in one transaction, closing its entry; return
    the inserts to send again (refused for a transient reason, a retry spent)."""
    result = BatchResult()
    refused: list[Refused] = []
    _collect_inserts(context, plan, inserts, saved, result, refused)
    _record(context, plan, result, entry)
    return _resend_refused(context, plan, refused, operation="insert")


def _settle_in_place(
    context: RunContext,
    plan: ObjectPlan,
    entry: journal.Entry,
    inserts: list[Write],
    doubt: journal.WriteInDoubt,
) -> list[Write]:
    """Reconcile an in-doubt entry now; return the inserts that were not created."""
    _spend_retry(context, doubt, what=f"{plan.sobject} insert")
    found = journal.journal_reconcile_entry(
        entry, target=context.target, target_user_id=context.target_user_id
    )
    for write in inserts:
        if write.source_id in found and not context.writes_mappings:
            context.remember_insert(
                plan.sobject, write.source_id, found[write.source_id]
            )
    return [w for w in inserts if w.source_id not in found]


def _spend_retry(
    context: RunContext, doubt: journal.WriteInDoubt, *, what: str
) -> None:
    """Take a retry for a write that failed transiently, or stop the run.

    Without a budget, or for a fault that waiting does not cure (an exhausted
    allowance), the doubt propagates: the run stops and reconciles on resume.
    """
    error = doubt.error
    if context.retry is None or error is None or not is_retryable(error):
        raise doubt
    context.retry.spend(error, what=what)
    if error.code == "TIMEOUT":
        # The org may still be applying a write whose answer timed out: give it
        # time to finish before looking for what it created.
        context.retry.sleep(context.retry.max_seconds)


def _write_updates(context: RunContext, plan: ObjectPlan, updates: list[Write]) -> None:
    """Send and record one chunk of updates; they replay safely, so no journal.

    Updates the org refused for a transient reason (a row lock) are sent again once
    the call is recorded, each round spending one retry of the run's budget.
    """
    before_images_keep(context, plan, _update_payload(updates))
    while updates:
        updates = _send_and_record_updates(context, plan, updates)


def _update_payload(updates: list[Write]) -> list[dict[str, Any]]:
    return [{"Id": w.target_id, **w.values} for w in updates]


def _send_and_record_updates(
    context: RunContext, plan: ObjectPlan, updates: list[Write]
) -> list[Write]:
    """One update call, recorded in one transaction; return the updates to send
    again (refused for a transient reason, a retry spent)."""
    saved = _send_replayable(
        context,
        _writer(context, "update", len(updates), None),
        plan,
        _update_payload(updates),
    )
    return _record_updates(context, plan, updates, saved)


def _record_updates(
    context: RunContext,
    plan: ObjectPlan,
    updates: list[Write],
    saved: list[SaveResult],
) -> list[Write]:
    """Record an answered update call in one transaction; return the updates to
    send again (refused for a transient reason, a retry spent)."""
    result = BatchResult()
    refused: list[Refused] = []
    _collect_updates(context, plan, updates, saved, result, refused)
    _record(context, plan, result)
    return _resend_refused(context, plan, refused, operation="update")


def _send_replayable(
    context: RunContext,
    write: Writer,
    plan: ObjectPlan,
    records: list[dict[str, Any]],
) -> list[SaveResult]:
    """Send updates, sending them again after a transient failure: an update by
    target Id writes the same values twice, never a second record."""
    while True:
        try:
            return _send(write, plan, records)
        except journal.WriteInDoubt as doubt:
            _spend_retry(context, doubt, what=f"{plan.sobject} update")


def _adopt_as_is(
    context: RunContext, plan: ObjectPlan, adopted: list[Write], page: BatchResult
) -> None:
    """Adoptions whose target already holds the source's values: mapped without a
    call, recorded with the page (its counts already include them)."""
    for write in adopted:
        page.results.append(
            (plan.sobject, write.source_id, write.target_id, RecordAction.ADOPTED)
        )
        page.add_mapping(plan.sobject, write, write.target_id)


def record_owner_fallbacks(context: RunContext, plan: ObjectPlan) -> None:
    """One warning per object for the records whose owner has no target user."""
    count = context.owner_fallbacks.pop(plan.sobject, 0)
    if not count:
        return
    owner = (
        f"the fallback owner {context.run.options.get('fallback_owner')}"
        if context.fallback_owner
        else "the integration user (set a fallback owner to choose another)"
    )
    RecordIssue.objects.create(
        run=context.run,
        kind=IssueKind.WARNING,
        sobject=plan.sobject,
        error_code="OWNER_NOT_MAPPED",
        message=f"{count} records are owned by users who have no match (by Username or "
        f"Email) in the target org; they are owned by {owner}",
        fields=["OwnerId"],
        count=count,
    )


@dataclass(frozen=True)
class Matches:
    """For veid_match: what the match-key query found for a page's unmapped records."""

    candidates: dict[str, list[str]] = field(default_factory=dict)
    contested: frozenset[str] = frozenset()
    # Target id -> its current values of the written fields.
    values: dict[str, dict[str, Any]] = field(default_factory=dict)


def find_matches(
    context: RunContext,
    plan: ObjectPlan,
    records: Sequence[dict[str, Any]],
    known: Known | dict[str, Any],
) -> Matches:
    """Unmapped target records whose match key equals each unmapped record's, read
    with the values they hold, so that an adoption changing nothing is not sent."""
    key_fields = plan.spec.match_key
    if context.strategy is not Strategy.VEID_MATCH or not key_fields:
        return Matches()
    keys = pages.match_keys(
        plan,
        records,
        unmapped={r["Id"] for r in records if r["Id"] not in known},
        secret=context.masking_key,
    )
    wanted = {key for key in keys.values() if key is not None}
    if not wanted:
        return Matches()
    candidates, values = _target_candidates(context, plan, wanted)
    matches, contested = pages.contested_matches(keys, candidates)
    return Matches(matches, contested, values)


def _target_candidates(
    context: RunContext, plan: ObjectPlan, wanted: set[tuple[str, ...]]
) -> tuple[dict[tuple[str, ...], list[str]], dict[str, dict[str, Any]]]:
    key_fields = plan.spec.match_key
    names = ["Id", *dict.fromkeys([*key_fields, *plan.update_fields])]
    found: dict[tuple[str, ...], list[str]] = {}
    values: dict[str, dict[str, Any]] = {}
    for chunk in pages.match_query_chunks(sorted(wanted)):
        conditions = [
            soql.in_list(name, {key[i] for key in chunk})
            for i, name in enumerate(key_fields)
        ]
        for record in context.target.query(
            soql.select(plan.sobject, names, conditions)
        ):
            key = match_key_value(record, key_fields)
            if key in wanted:
                found.setdefault(key, []).append(record["Id"])
                values[record["Id"]] = record
    mapped = set(
        RecordMapping.objects.filter(
            source_org=context.run.source_org_id,
            target_org=context.run.target_org_id,
            target_id__in=list(values),
        ).values_list("target_id", flat=True)
    )
    unmapped = {
        key: [t for t in targets if t not in mapped] for key, targets in found.items()
    }
    return unmapped, values


def _writer(
    context: RunContext, operation: str, count: int, entry: journal.Entry | None
) -> Writer:
    """sObject Collections for a call's worth of records, Bulk API 2.0 above that."""
    if count <= COLLECTION_SIZE:
        return context.target.create if operation == "insert" else context.target.update

    def bulk(sobject: str, records: Sequence[dict[str, Any]]) -> list[SaveResult]:
        on_job = (
            (lambda job_id: journal.journal_set_job(entry, job_id)) if entry else None
        )
        return context.target.bulk_write(sobject, operation, records, on_job=on_job)

    return bulk


def _send(
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
    refused: list[Refused] | None = None,
) -> None:
    """Put a call's outcome in ``result``; with ``refused``, the records the org
    refused for a transient reason go there instead, to be sent again."""
    for write, saved in zip(inserts, results, strict=True):
        if not saved.success or not saved.id:
            if refused is not None and _worth_resending(context, saved):
                refused.append((write, saved))
                continue
            result.add_issue(_failed(write, saved))
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
    refused: list[Refused] | None = None,
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
        elif refused is not None and _worth_resending(context, saved):
            refused.append((write, saved))
        else:
            result.add_issue(_failed(write, saved))
    _check_gone(context, plan, gone_candidates, result)


def _worth_resending(context: RunContext, saved: SaveResult) -> bool:
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
    if _took_retry(context, plan, refused, operation=operation):
        return [write for write, _ in refused]
    failed = BatchResult()
    for write, saved in refused:
        failed.add_issue(_failed(write, saved))
    _record(context, plan, failed)
    return []


def _took_retry(
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
            result.add_issue(_failed(write, saved))
            continue
        result.gone.append(write.mapping.pk)
        result.add_issue(pages.target_deleted_issue(write))


def _failed(write: Write, saved: SaveResult) -> IssueData:
    return pages.write_failed_issue(
        write,
        code=saved.error_code,
        message=saved.error_message,
        fields=saved.error_fields,
    )


def _count_dry_run(
    context: RunContext, plan: ObjectPlan, decided: PageDecision, page: BatchResult
) -> None:
    page.counts["inserted"] += len(decided.inserts)
    for write in decided.inserts:
        context.remember_insert(plan.sobject, write.source_id, DRY_RUN_ID)
    for write in decided.updates:
        page.counts["adopted" if write.adopts else "updated"] += 1


def _record(
    context: RunContext,
    plan: ObjectPlan,
    result: BatchResult,
    entry: journal.Entry | None = None,
    *,
    checkpoint: dict[str, Any] | None = None,
) -> None:
    """Save the batch's mappings, results, issues and counters, and settle its journal
    entry; with a checkpoint, the page is done and a resumed run goes on after it."""
    run = context.run
    with transaction.atomic():
        rows.mappings_insert(run, result.mappings)
        rows.results_insert(run, result.results)
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
        add_counts(run, plan.sobject, dict(result.counts))
        if entry is not None:
            journal.journal_close(entry)
        if checkpoint is not None:
            RunObjectStat.objects.filter(run=run, sobject=plan.sobject).update(
                checkpoint=checkpoint
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


def second_pass(context: RunContext, plan: ObjectPlan) -> None:
    """Set lookups that could not be set on insert: cycle fields and very deep hierarchies."""
    fields = list(plan.deferred_fields)
    conditions = [plan.spec.filter]
    if plan.self_lookup and plan.self_relationship:
        fields.append(plan.self_lookup)
        deep = soql.hierarchy_level(
            plan.self_lookup, plan.self_relationship, soql.MAX_LEVEL_DEPTH
        )
        if not plan.deferred_fields:
            conditions.append(deep)
    if not fields or context.run.dry_run:
        return
    conditions.append(" OR ".join(f"{name} != null" for name in fields))
    query = soql.select(plan.sobject, ["Id", *fields], conditions)
    for page in chunked(context.source.query(query), pages.PAGE_SIZE):
        known = load_mappings(context, plan, page)
        for batch in chunked(page, COLLECTION_SIZE):
            _second_pass_batch(context, plan, batch, known, fields)


def _second_pass_batch(
    context: RunContext,
    plan: ObjectPlan,
    records: list[dict[str, Any]],
    known: Known,
    fields: list[str],
) -> None:
    result = BatchResult()
    facts = PageFacts(
        strategy=context.strategy,
        mappings=known,
        users=context.users,
        fallback_owner=context.fallback_owner,
        record_types=context.record_types,
        run_inserts=context.run_inserts,
    )

    def resolve(name: str, references: tuple[str, ...], source_id: str) -> str | None:
        return pages.resolve_lookup(facts, references, source_id)

    updates = []
    for record in records:
        target_id = resolve("Id", (plan.sobject,), record["Id"])
        payload = build_payload(
            record, fields=fields, references=plan.references, resolve=resolve
        )
        result.issues.extend(
            IssueData(
                IssueKind.WARNING,
                record["Id"],
                "MISSING_PARENT",
                f"{missing.field} points to {missing.source_id}, which has no "
                "record in the target org; left as it is",
                fields=(missing.field,),
            )
            for missing in payload.missing
        )
        if target_id and payload.values:
            updates.append(
                Write(record["Id"], Decision(Action.UPDATE, target_id), payload.values)
            )
    updates = _not_yet_set(context, plan, updates, fields)
    while updates:
        results = _send_replayable(
            context, context.target.update, plan, _update_payload(updates)
        )
        refused: list[Refused] = []
        for write, saved in zip(updates, results, strict=True):
            if saved.success:
                continue
            if _worth_resending(context, saved):
                refused.append((write, saved))
            else:
                result.issues.append(_failed(write, saved))
        updates = _second_pass_again(context, plan, refused, result)
    RecordIssue.objects.bulk_create(issue_rows(context, plan.sobject, result.issues))


def _second_pass_again(
    context: RunContext, plan: ObjectPlan, refused: list[Refused], result: BatchResult
) -> list[Write]:
    """Lookups refused for a row lock are set again while the retry budget lasts;
    then they are failures like the others."""
    if not refused:
        return []
    if _took_retry(context, plan, refused, operation="update"):
        return [write for write, _ in refused]
    result.issues.extend(_failed(write, saved) for write, saved in refused)
    return []


def _not_yet_set(
    context: RunContext, plan: ObjectPlan, updates: list[Write], fields: list[str]
) -> list[Write]:
    """The updates whose target record does not hold these lookups already.

    The second pass sees every record with a deferred lookup on every run; without
    this check a repeat run with no change would update them all again (firing the
    target's triggers and moving LastModifiedDate). One query per batch instead.
    """
    if not updates:
        return updates
    current = {
        record["Id"]: record
        for record in context.target.query(
            soql.select(
                plan.sobject,
                ["Id", *fields],
                [soql.in_list("Id", [w.target_id for w in updates])],
            )
        )
    }
    return [
        w for w in updates if not same_values(w.values, current.get(w.target_id, {}))
    ]
