"""One page of source records: decide, write, record.

The engine decides; this module fetches what the decisions need (mappings, matches),
sends the writes in full calls and records each call's results in one transaction.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

from django.db import transaction
from django.utils import timezone

from migrations_app.engine import soql
from migrations_app.engine.planning import RECORD_TYPE_OBJECT, USER_OBJECT, ObjectPlan
from migrations_app.engine.records import (
    build_payload,
    match_key_value,
    same_values,
    values_hash,
)
from migrations_app.engine.strategy import Action, Decision, Mapped, Strategy, decide
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
from migrations_app.salesforce.client import FieldError, SaveResult
from migrations_app.salesforce.errors import SalesforceError, is_retryable
from migrations_app.services import journal
from migrations_app.services.before_images import before_images_keep
from migrations_app.services.context import (
    RunContext,
    add_counts,
    chunked,
    record_issue,
)
from migrations_app.services.same_id import same_id_matches

# Codes an update gets when its target record is gone; checked against the target.
GONE_CODES = frozenset(
    {"ENTITY_IS_DELETED", "INVALID_CROSS_REFERENCE_KEY", "NOT_FOUND"}
)
# Outdated reasons that fail a record as TARGET_DELETED rather than MAPPING_OUTDATED.
TARGET_GONE_REASONS = frozenset(
    {OutdatedReason.TARGET_DELETED, OutdatedReason.TARGET_IN_RECYCLE_BIN}
)
# Stands for "the parent would have been inserted" in a dry run.
DRY_RUN_ID = "(would be inserted)"
MATCH_QUERY_CHUNK = 200
COLLECTION_BATCH_SIZE = 200
# Above BULK_WRITE_THRESHOLD records, a batch is one Bulk API 2.0 job of this many.
BULK_BATCH_SIZE = 10_000

Known = dict[str, RecordMapping]


@dataclass
class Prepared:
    source_id: str
    decision: Decision
    values: dict[str, Any]
    mapping: RecordMapping | None = None

    @property
    def hash(self) -> str:
        return values_hash(self.values)


@dataclass
class BatchResult:
    """Everything a batch records in its closing transaction."""

    counts: Counter[str] = field(default_factory=Counter)
    issues: list[RecordIssue] = field(default_factory=list)
    new_mappings: list[RecordMapping] = field(default_factory=list)
    written: list[Prepared] = field(default_factory=list)
    gone: list[Prepared] = field(default_factory=list)
    results: list[RecordResult] = field(default_factory=list)

    def add_result(
        self,
        context: RunContext,
        plan: ObjectPlan,
        prepared: Prepared,
        target_id: str,
        action: str,
    ) -> None:
        """Count a record written to the target, and keep it for the success file."""
        self.counts[action] += 1
        self.results.append(
            RecordResult(
                run=context.run,
                sobject=plan.sobject,
                source_id=prepared.source_id,
                target_id=target_id,
                action=action,
            )
        )

    def add_issue(self, issue: RecordIssue) -> None:
        """Record an issue; a failed or ambiguous one also counts as that outcome."""
        self.issues.append(issue)
        if issue.kind != IssueKind.WARNING:
            self.counts[issue.kind] += 1


def load_mappings(
    context: RunContext, plan: ObjectPlan, page: Sequence[dict[str, Any]]
) -> Known:
    """The mappings of a page's records and of their parents, in one query."""
    if context.strategy is Strategy.NONE:
        return {}
    ids = {record["Id"] for record in page}
    for record in page:
        ids.update(record[name] for name in plan.references if record.get(name))
    rows = RecordMapping.objects.filter(
        source_org=context.run.source_org_id,
        target_org=context.run.target_org_id,
        source_id__in=ids,
    )
    return {row.source_id: row for row in rows}


def process_page(
    context: RunContext,
    plan: ObjectPlan,
    records: Sequence[dict[str, Any]],
    known: Known,
    *,
    defer_self: bool,
    write_size: int,
    checkpoint: dict[str, Any],
) -> None:
    """Decide for every record of a page, then write in chunks of ``write_size``.

    Deciding a whole page first lets the writes go out full: a repeat run where a few
    records changed here and there sends a few full calls, not many small ones. The
    page's own counts are recorded last, with its checkpoint, so a run resumed after
    a crash mid-page counts each record once.
    """
    decided = BatchResult(counts=Counter(selected=len(records)))
    done = _recorded_before_resume(context, plan, records)
    pending = [record for record in records if record["Id"] not in done]
    same_ids = same_id_matches(context, plan, pending, known)
    matches, contested = find_matches(
        context, plan, [r for r in pending if r["Id"] not in same_ids], known
    )
    warned = _warned_before(context, plan, pending)
    inserts, updates = [], []
    for record in pending:
        prepared = _prepare_record(
            context,
            plan,
            record,
            known,
            Candidates(
                matches.get(record["Id"], []),
                record["Id"] in contested,
                same_id=record["Id"] in same_ids,
            ),
            decided,
            defer_self,
            warned,
        )
        if prepared is None:
            continue
        if prepared.decision.action is Action.INSERT:
            inserts.append(prepared)
        elif _unchanged(context, prepared):
            decided.counts["unchanged"] += 1
        else:
            updates.append(prepared)
    if context.run.dry_run:
        _count_dry_run(context, plan, inserts, updates, decided)
    else:
        for chunk in chunked(inserts, write_size):
            _write_inserts(context, plan, chunk)
        for chunk in chunked(updates, write_size):
            _write_updates(context, plan, chunk)
    _record(context, plan, decided, checkpoint=checkpoint)


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
    rows = RecordIssue.objects.filter(
        sobject=plan.sobject,
        source_id__in=[record["Id"] for record in records],
        kind=IssueKind.WARNING,
        error_code="MISSING_PARENT",
        run__source_org=context.run.source_org_id,
        run__target_org=context.run.target_org_id,
    ).values_list("source_id", "fields")
    return {(source_id, field) for source_id, fields in rows for field in fields}


def _write_inserts(
    context: RunContext, plan: ObjectPlan, inserts: list[Prepared]
) -> None:
    """Journal, send and record one chunk of inserts (DESIGN invariant 3).

    A lost answer is settled in place, as a resumed run would: the entry is
    reconciled against the target, then only the records still missing are sent,
    under a new entry. Each round spends one retry of the run's budget.
    """
    while inserts:
        entry = journal.journal_open(context.run, plan.sobject, inserts)
        writer = _writer(context, "insert", len(inserts), entry)
        try:
            saved = _send(writer, plan, [p.values for p in inserts])
        except journal.WriteInDoubt as doubt:
            inserts = _settle_in_place(context, plan, entry, inserts, doubt)
            continue
        result = BatchResult()
        _collect_inserts(context, plan, inserts, saved, result)
        _record(context, plan, result, entry)
        return


def _settle_in_place(
    context: RunContext,
    plan: ObjectPlan,
    entry: journal.Entry,
    inserts: list[Prepared],
    doubt: journal.WriteInDoubt,
) -> list[Prepared]:
    """Reconcile an in-doubt entry now; return the inserts that were not created."""
    _spend_retry(context, doubt, what=f"{plan.sobject} insert")
    found = journal.journal_reconcile_entry(
        entry, target=context.target, target_user_id=context.target_user_id
    )
    for prepared in inserts:
        if prepared.source_id in found and not context.writes_mappings:
            context.remember_insert(
                plan.sobject, prepared.source_id, found[prepared.source_id]
            )
    return [p for p in inserts if p.source_id not in found]


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


def _write_updates(
    context: RunContext, plan: ObjectPlan, updates: list[Prepared]
) -> None:
    """Send and record one chunk of updates; they replay safely, so no journal."""
    rows = [{"Id": p.decision.target_id, **p.values} for p in updates]
    before_images_keep(context, plan, rows)
    saved = _send_replayable(
        context, _writer(context, "update", len(updates), None), plan, rows
    )
    result = BatchResult()
    _collect_updates(context, plan, updates, saved, result)
    _record(context, plan, result)


def _send_replayable(
    context: RunContext,
    write: Callable[[str, Sequence[dict[str, Any]]], list[SaveResult]],
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


def _prepare_record(
    context: RunContext,
    plan: ObjectPlan,
    record: dict[str, Any],
    known: Known,
    candidates: Candidates,
    result: BatchResult,
    defer_self: bool,
    warned: set[tuple[str, str]],
) -> Prepared | None:
    source_id = record["Id"]
    mapping = known.get(source_id)
    mapped = (
        Mapped(mapping.target_id, mapping.status == MappingStatus.OUTDATED)
        if mapping
        else None
    )
    decision = decide(
        context.strategy,
        mapping=mapped,
        matches=candidates.targets,
        contested=candidates.contested,
        same_id=source_id if candidates.same_id else None,
    )
    if decision.action is Action.AMBIGUOUS:
        result.add_issue(
            record_issue(
                context.run,
                plan,
                kind=IssueKind.AMBIGUOUS,
                source_id=source_id,
                code="AMBIGUOUS_MATCH",
                message=_ambiguous_message(plan, decision),
            )
        )
        return None
    if decision.action is Action.OUTDATED:
        result.add_issue(_outdated_issue(context, plan, mapping, decision))
        return None
    fields = (
        plan.insert_fields if decision.action is Action.INSERT else plan.update_fields
    )
    skip = (
        *plan.deferred_fields,
        *((plan.self_lookup,) if defer_self and plan.self_lookup else ()),
    )
    payload = build_payload(
        record,
        fields=fields,
        references=plan.references,
        resolve=_resolver(context, known),
        skip=skip,
    )
    # Transforms change only what is written, before it is hashed or journaled.
    payload.values = plan.transformed(
        payload.values, source_id=source_id, secret=context.masking_key
    )
    _count_owner_fallbacks(context, plan, record)
    for missing in payload.missing:
        if USER_OBJECT in plan.references[missing.field]:
            continue  # said once per object, by record_owner_fallbacks
        fails = plan.spec.missing_parent_policy == "fail_record"
        if not fails and (source_id, missing.field) in warned:
            continue
        result.add_issue(
            record_issue(
                context.run,
                plan,
                kind=IssueKind.FAILED if fails else IssueKind.WARNING,
                source_id=source_id,
                code="MISSING_PARENT",
                fields=[missing.field],
                message=f"{missing.field} points to {missing.source_id}, which has no record in the target org"
                + ("" if fails else "; left empty"),
            )
        )
        if fails:
            return None
    return Prepared(source_id, decision, payload.values, mapping)


def _count_owner_fallbacks(
    context: RunContext, plan: ObjectPlan, record: dict[str, Any]
) -> None:
    """Owners with no user in the target fall back to the fallback owner, or are
    left to Salesforce (the integration user); counted here, reported per object."""
    for name, references in plan.references.items():
        owner = record.get(name)
        if (
            USER_OBJECT in references
            and isinstance(owner, str)
            and owner.startswith("005")
            and owner not in context.users
        ):
            context.owner_fallbacks[plan.sobject] += 1


def _ambiguous_message(plan: ObjectPlan, decision: Decision) -> str:
    key = ", ".join(plan.spec.match_key)
    if decision.contested:
        return (
            f"Its match-key twin ({key}) in the target, {decision.candidates[0]}, is "
            "also the twin of another source record; adopt one of them by hand"
        )
    return (
        f"{len(decision.candidates)} target records have the same match key "
        f"({key}): {', '.join(decision.candidates)}"
    )


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


def _resolver(
    context: RunContext, known: Known
) -> Callable[[str, tuple[str, ...], str], str | None]:
    def resolve(name: str, references: tuple[str, ...], source_id: str) -> str | None:
        if USER_OBJECT in references and source_id.startswith("005"):
            return context.users.get(source_id) or context.fallback_owner
        if references == (RECORD_TYPE_OBJECT,):
            return context.record_types.get(source_id)
        mapping = known.get(source_id)
        if mapping is not None and mapping.status == MappingStatus.ACTIVE:
            return mapping.target_id
        return context.run_inserts.get(source_id)

    return resolve


def _unchanged(context: RunContext, prepared: Prepared) -> bool:
    """Whether an update would send exactly what the mapping last wrote."""
    if not context.run.options.get("only_changed", True):
        return False
    mapping = prepared.mapping
    return (
        prepared.decision.action is Action.UPDATE
        and mapping is not None
        and mapping.values_hash == prepared.hash
    )


@dataclass(frozen=True)
class Candidates:
    """The unmapped target records a source record's match key found."""

    targets: list[str]
    # The single twin found is also the twin of another source record of the page.
    contested: bool = False
    # The target holds an unmapped record under the source record's own Id.
    same_id: bool = False


def find_matches(
    context: RunContext,
    plan: ObjectPlan,
    records: Sequence[dict[str, Any]],
    known: Known,
) -> tuple[dict[str, list[str]], set[str]]:
    """For veid_match: unmapped target records whose match key equals each unmapped
    record's, and the source records that want the same target record as another."""
    key_fields = plan.spec.match_key
    if context.strategy is not Strategy.VEID_MATCH or not key_fields:
        return {}, set()
    # Match keys compare the values as they will be written (transforms applied).
    keys = {
        r["Id"]: match_key_value(
            plan.transformed(
                {name: r.get(name) for name in key_fields},
                source_id=r["Id"],
                secret=context.masking_key,
            ),
            key_fields,
        )
        for r in records
        if r["Id"] not in known
    }
    wanted = {key for key in keys.values() if key is not None}
    if not wanted:
        return {}, set()
    candidates = _target_candidates(context, plan, wanted)
    claimed = Counter(
        target for key in keys.values() if key for target in candidates.get(key, [])
    )
    matches = {
        source_id: candidates.get(key, []) if key else []
        for source_id, key in keys.items()
    }
    # Two source records wanting the same target record cannot both adopt it.
    contested = {
        source_id
        for source_id, found in matches.items()
        if any(claimed[target] > 1 for target in found)
    }
    return matches, contested


def _target_candidates(
    context: RunContext, plan: ObjectPlan, wanted: set[tuple[str, ...]]
) -> dict[tuple[str, ...], list[str]]:
    key_fields = plan.spec.match_key
    found: dict[tuple[str, ...], list[str]] = {}
    for chunk in chunked(sorted(wanted), MATCH_QUERY_CHUNK):
        conditions = [
            soql.in_list(name, {key[i] for key in chunk})
            for i, name in enumerate(key_fields)
        ]
        for record in context.target.query(
            soql.select(plan.sobject, ["Id", *key_fields], conditions)
        ):
            key = match_key_value(record, key_fields)
            if key in wanted:
                found.setdefault(key, []).append(record["Id"])
    mapped = set(
        RecordMapping.objects.filter(
            source_org=context.run.source_org_id,
            target_org=context.run.target_org_id,
            target_id__in=[t for targets in found.values() for t in targets],
        ).values_list("target_id", flat=True)
    )
    return {
        key: [t for t in targets if t not in mapped] for key, targets in found.items()
    }


def _writer(
    context: RunContext, operation: str, count: int, entry: journal.Entry | None
) -> Callable[[str, Sequence[dict[str, Any]]], list[SaveResult]]:
    """sObject Collections for a call's worth of records, Bulk API 2.0 above that."""
    if count <= COLLECTION_BATCH_SIZE:
        return context.target.create if operation == "insert" else context.target.update

    def bulk(sobject: str, records: Sequence[dict[str, Any]]) -> list[SaveResult]:
        on_job = (
            (lambda job_id: journal.journal_set_job(entry, job_id)) if entry else None
        )
        return context.target.bulk_write(sobject, operation, records, on_job=on_job)

    return bulk


def _send(
    write: Callable[[str, Sequence[dict[str, Any]]], list[SaveResult]],
    plan: ObjectPlan,
    records: list[dict[str, Any]],
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
    inserts: list[Prepared],
    results: list[SaveResult],
    result: BatchResult,
) -> None:
    for prepared, saved in zip(inserts, results, strict=True):
        if not saved.success or not saved.id:
            _failed(context, plan, prepared, saved, result)
            continue
        result.add_result(context, plan, prepared, saved.id, RecordAction.INSERTED)
        if context.writes_mappings:
            result.new_mappings.append(
                new_mapping(
                    context, plan.sobject, prepared.source_id, saved.id, prepared.hash
                )
            )
        else:
            context.remember_insert(plan.sobject, prepared.source_id, saved.id)


def _collect_updates(
    context: RunContext,
    plan: ObjectPlan,
    updates: list[Prepared],
    results: list[SaveResult],
    result: BatchResult,
) -> None:
    gone_candidates = []
    for prepared, saved in zip(updates, results, strict=True):
        if saved.success:
            adopted = prepared.decision.action is Action.ADOPT
            result.add_result(
                context,
                plan,
                prepared,
                prepared.decision.target_id or "",
                RecordAction.ADOPTED if adopted else RecordAction.UPDATED,
            )
            if adopted:
                result.new_mappings.append(
                    new_mapping(
                        context,
                        plan.sobject,
                        prepared.source_id,
                        prepared.decision.target_id or "",
                        prepared.hash,
                    )
                )
            else:
                result.written.append(prepared)
        elif saved.error_code in GONE_CODES:
            gone_candidates.append((prepared, saved))
        else:
            _failed(context, plan, prepared, saved, result)
    _check_gone(context, plan, gone_candidates, result)


def _check_gone(
    context: RunContext,
    plan: ObjectPlan,
    candidates: list[tuple[Prepared, SaveResult]],
    result: BatchResult,
) -> None:
    """Updates that failed as if their target were gone: ask the target which really are."""
    if not candidates:
        return
    ids = [p.decision.target_id for p, _ in candidates]
    alive = {
        r["Id"]
        for r in context.target.query(
            soql.select(plan.sobject, ["Id"], [soql.in_list("Id", ids)])
        )
    }
    for prepared, saved in candidates:
        if (
            prepared.decision.target_id in alive
            or prepared.decision.action is Action.ADOPT
        ):
            _failed(context, plan, prepared, saved, result)
            continue
        result.gone.append(prepared)
        result.add_issue(
            record_issue(
                context.run,
                plan,
                kind=IssueKind.FAILED,
                source_id=prepared.source_id,
                target_id=prepared.decision.target_id or "",
                code="TARGET_DELETED",
                message=f"The mapped target record {prepared.decision.target_id} was deleted in the target org; "
                "it is not re-inserted and its mapping is marked outdated until you repair it",
            )
        )


def _failed(
    context: RunContext,
    plan: ObjectPlan,
    prepared: Prepared,
    saved: SaveResult,
    result: BatchResult,
) -> None:
    result.add_issue(
        record_issue(
            context.run,
            plan,
            kind=IssueKind.FAILED,
            source_id=prepared.source_id,
            target_id=prepared.decision.target_id or "",
            code=saved.error_code,
            message=saved.error_message,
            fields=saved.error_fields,
            values=prepared.values,
        )
    )


def _outdated_issue(
    context: RunContext,
    plan: ObjectPlan,
    mapping: RecordMapping | None,
    decision: Decision,
) -> RecordIssue:
    """One failure per record whose mapping is outdated, named after the reason: a
    deleted target record is TARGET_DELETED, whoever found it (run or audit)."""
    reason = mapping.outdated_reason_code if mapping else ""
    deleted = reason in TARGET_GONE_REASONS
    return record_issue(
        context.run,
        plan,
        kind=IssueKind.FAILED,
        source_id=mapping.source_id if mapping else "",
        code="TARGET_DELETED" if deleted else "MAPPING_OUTDATED",
        target_id=decision.target_id or "",
        message=(
            f"The mapped target record {decision.target_id} was deleted in the target "
            "org; it is not re-inserted and its mapping stays outdated until you "
            "repair it"
            if deleted
            else f"The mapping to {decision.target_id} is outdated "
            f"({mapping.outdated_reason if mapping else ''}); repair it before this "
            "record can be migrated"
        ),
    )


def new_mapping(
    context: RunContext, sobject: str, source_id: str, target_id: str, hash_: str
) -> RecordMapping:
    return RecordMapping(
        source_org_id=context.run.source_org_id,
        target_org_id=context.run.target_org_id,
        sobject=sobject,
        source_id=source_id,
        target_id=target_id,
        target_organization_id=context.run.target_organization_id,
        source_organization_id=context.run.source_organization_id,
        created_by_run=context.run,
        last_written_by_run=context.run,
        values_hash=hash_,
    )


def _count_dry_run(
    context: RunContext,
    plan: ObjectPlan,
    inserts: list[Prepared],
    updates: list[Prepared],
    result: BatchResult,
) -> None:
    result.counts["inserted"] += len(inserts)
    for prepared in inserts:
        context.remember_insert(plan.sobject, prepared.source_id, DRY_RUN_ID)
    for prepared in updates:
        result.counts[
            "adopted" if prepared.decision.action is Action.ADOPT else "updated"
        ] += 1


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
    now = timezone.now()
    with transaction.atomic():
        RecordMapping.objects.bulk_create(result.new_mappings)
        RecordResult.objects.bulk_create(result.results)
        written = [p.mapping for p in result.written if p.mapping is not None]
        for prepared in result.written:
            if prepared.mapping is not None:
                prepared.mapping.values_hash = prepared.hash
                prepared.mapping.last_written_by_run = context.run
                prepared.mapping.updated_at = now
        RecordMapping.objects.bulk_update(
            written, ["values_hash", "last_written_by_run", "updated_at"]
        )
        if result.gone:
            RecordMapping.objects.filter(
                pk__in=[p.mapping.pk for p in result.gone if p.mapping]
            ).update(
                status=MappingStatus.OUTDATED,
                updated_at=now,
                outdated_reason=f"target record deleted (found by run {context.run.pk})",
                outdated_reason_code=OutdatedReason.TARGET_DELETED,
                outdated_at=now,
            )
        RecordIssue.objects.bulk_create(result.issues)
        add_counts(context.run, plan.sobject, dict(result.counts))
        if entry is not None:
            journal.journal_close(entry)
        if checkpoint is not None:
            RunObjectStat.objects.filter(run=context.run, sobject=plan.sobject).update(
                checkpoint=checkpoint
            )


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
    for page in chunked(context.source.query(query), 2000):
        known = load_mappings(context, plan, page)
        for batch in chunked(page, 200):
            _second_pass_batch(context, plan, batch, known, fields)


def _second_pass_batch(
    context: RunContext,
    plan: ObjectPlan,
    records: list[dict[str, Any]],
    known: Known,
    fields: list[str],
) -> None:
    result = BatchResult()
    resolve = _resolver(context, known)
    updates = []
    for record in records:
        target_id = resolve("Id", (plan.sobject,), record["Id"])
        payload = build_payload(
            record, fields=fields, references=plan.references, resolve=resolve
        )
        result.issues.extend(
            record_issue(
                context.run,
                plan,
                kind=IssueKind.WARNING,
                source_id=record["Id"],
                code="MISSING_PARENT",
                fields=[missing.field],
                message=f"{missing.field} points to {missing.source_id}, which has no "
                "record in the target org; left as it is",
            )
            for missing in payload.missing
        )
        if target_id and payload.values:
            updates.append(
                Prepared(
                    record["Id"], Decision(Action.UPDATE, target_id), payload.values
                )
            )
    updates = _not_yet_set(context, plan, updates, fields)
    results = _send_replayable(
        context,
        context.target.update,
        plan,
        [{"Id": p.decision.target_id, **p.values} for p in updates],
    )
    for prepared, saved in zip(updates, results, strict=True):
        if not saved.success:
            _failed(context, plan, prepared, saved, result)
    RecordIssue.objects.bulk_create(result.issues)


def _not_yet_set(
    context: RunContext, plan: ObjectPlan, updates: list[Prepared], fields: list[str]
) -> list[Prepared]:
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
                [soql.in_list("Id", [p.decision.target_id for p in updates])],
            )
        )
    }
    return [
        p
        for p in updates
        if not same_values(p.values, current.get(p.decision.target_id or "", {}))
    ]
