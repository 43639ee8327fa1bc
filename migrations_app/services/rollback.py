"""Undo a run (issue 14): delete what it inserted, restore what it updated.

A rollback is a run of its own on the same org pair (``Run.rollback_of``): it queues
and claims like any run (one writer per pair, a lease), and has its own counts
(``deleted``, ``restored``, ``unchanged``, ``failed``), journal, issues and result
files. Objects go in the reverse of the rolled-back run's order, children first.

- An inserted record is deleted, unless someone changed it since the run (its last
  modifier is not the integration user, or it no longer holds the values the run
  wrote): then it is listed (``CHANGED_SINCE_RUN``) and left alone. The mapping the
  run created for it is retired through an audited path.
- An updated or adopted record gets back, from the before-image the run kept, the
  values of the fields the run wrote, unless those fields no longer hold what the run
  wrote: then it is listed and left alone. An adopted record's mapping is retired; an
  updated record's mapping forgets its values hash, so the next run sends it again.

Idempotent: a record already deleted or already restored counts as unchanged, and a
rollback resumed after a crash settles its in-doubt deletes by reading which records
still exist. A dry run reads the target and counts what it would do.
"""

from __future__ import annotations

import logging
from collections import Counter
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from typing import Any

from django.contrib.auth.models import User
from django.db import transaction
from django.utils import timezone

from migrations_app.engine import soql
from migrations_app.engine.records import same_values
from migrations_app.models import (
    AuditEvent,
    IssueKind,
    JournalOperation,
    JournalState,
    MappingStatus,
    RecordAction,
    RecordIssue,
    RecordMapping,
    RecordResult,
    Run,
    RunObjectStat,
    WriteJournal,
)
from migrations_app.salesforce.client import SalesforceClient, SaveResult
from migrations_app.salesforce.errors import SalesforceError
from migrations_app.services.before_images import Images, before_images_read
from migrations_app.services.context import chunked, run_check_stop
from migrations_app.services.errors import MigrationError
from migrations_app.services.events import Actor, event_build, event_record
from migrations_app.services.journal import journal_close
from migrations_app.services.repairs import mapping_state
from migrations_app.services.rows import counts_add

logger = logging.getLogger(__name__)

CHUNK = 200
# Runs that can be rolled back: ended, and not going to resume by themselves.
ENDED = (
    Run.Status.SUCCEEDED,
    Run.Status.COMPLETED_WITH_ERRORS,
    Run.Status.FAILED,
    Run.Status.CANCELLED,
)
ACTIVE = (Run.Status.QUEUED, Run.Status.RUNNING, Run.Status.WAITING)
CHANGED = "CHANGED_SINCE_RUN"


# Launching -------------------------------------------------------------------------


def rollback_problem(*, run: Run, dry_run: bool = False) -> str:
    """Why ``run`` cannot be rolled back now, or "" if it can. A dry run of a rollback
    writes nothing, so it may go while another rollback of the run is queued."""
    if run.rollback_of_id is not None:
        return f"Run {run.pk} is itself a rollback; launch the run it undid again"
    if run.dry_run:
        return f"Run {run.pk} was a dry run: it wrote nothing to roll back"
    if run.status not in ENDED:
        return (
            f"Run {run.pk} is {run.get_status_display().lower()}; only an ended run "
            "can be rolled back"
        )
    if not dry_run and run.rollbacks.filter(status__in=ACTIVE, dry_run=False).exists():
        return f"A rollback of run {run.pk} is already queued or running"
    return ""


def rollback_create(
    *, run: Run, dry_run: bool = False, requested_by: User | None = None
) -> Run:
    """Create the queued rollback run of ``run`` (a dry run: what it would do)."""
    problem = rollback_problem(run=run, dry_run=dry_run)
    if problem:
        raise MigrationError(problem, permanent=True)
    order = _object_order(run)
    with transaction.atomic():
        rollback = Run.objects.create(
            template=run.template,
            template_snapshot=run.template_snapshot,
            source_org=run.source_org,
            target_org=run.target_org,
            strategy=run.strategy,
            dry_run=dry_run,
            options={"rollback": True},
            rollback_of=run,
            requested_by=requested_by if requested_by and requested_by.pk else None,
            report={"order": order, "rolled_back_run": run.pk},
        )
        RunObjectStat.objects.bulk_create(
            RunObjectStat(run=rollback, position=position, sobject=sobject)
            for position, sobject in enumerate(order)
        )
        event_record(
            actor=requested_by,
            action="rollback launched",
            run=rollback,
            org=run.target_org,
            details={"rolled_back_run": run.pk, "dry_run": dry_run},
        )
    return rollback


def rollback_launch(
    *, run: Run, dry_run: bool = False, requested_by: User | None = None
) -> Run:
    """Create the rollback run and queue it for a worker after the commit."""
    from migrations_app import jobs

    with transaction.atomic():
        rollback = rollback_create(run=run, dry_run=dry_run, requested_by=requested_by)
        transaction.on_commit(lambda: jobs.enqueue_run(run_id=rollback.pk))
    return rollback


def _object_order(run: Run) -> list[str]:
    """Children first: the reverse of the order the run wrote its objects in."""
    written = list(
        RecordResult.objects.filter(run=run)
        .values_list("sobject", flat=True)
        .distinct()
    )
    order = run.report.get("order") or [
        item["sobject"] for item in run.template_snapshot.get("objects", [])
    ]
    ordered = [sobject for sobject in order if sobject in written]
    ordered += sorted(set(written) - set(ordered))
    return list(reversed(ordered))


# Executing -------------------------------------------------------------------------


@dataclass
class Rollback:
    """What a rollback carries from object to object."""

    run: Run
    original: Run
    target: SalesforceClient
    target_user_id: str
    # Target ids whose delete this rollback sent before it was interrupted.
    in_doubt: set[str] = field(default_factory=set)
    conflicts: int = 0

    @property
    def dry_run(self) -> bool:
        return self.run.dry_run


def rollback_run(run: Run) -> tuple[str, str]:
    """Roll back ``run.rollback_of`` as the claimed run ``run``; return the status it
    ends with and its error. Called by the run executor for a rollback run."""
    from migrations_app.services.orgs import org_connect
    from migrations_app.services.runs import RunCancelled

    original = Run.objects.select_related("target_org").get(rollbacks=run)
    try:
        target, identity = org_connect(org=run.target_org)
        target.identify_as(f"datamigrator-run-{run.pk}")
        _check_same_target(original, identity.organization_id)
        Run.objects.filter(pk=run.pk).update(
            target_organization_id=identity.organization_id
        )
        rollback = Rollback(run, original, target, identity.user_id)
        rollback.in_doubt = _settle_journal(rollback)
        for stat in run.object_stats.order_by("position"):
            _rollback_object(rollback, stat.sobject)
            _record_calls(rollback)
    except RunCancelled:
        return Run.Status.CANCELLED, "Cancelled"
    except (MigrationError, SalesforceError) as exc:
        status = Run.Status.FAILED if exc.permanent else Run.Status.INTERRUPTED
        return status, exc.message
    return _final_status(rollback), ""


def _check_same_target(original: Run, organization_id: str) -> None:
    if original.target_organization_id and (
        original.target_organization_id != organization_id
    ):
        raise MigrationError(
            f"{original.target_org.name} is now Organization {organization_id}, not "
            f"{original.target_organization_id} that run {original.pk} wrote to (a "
            "sandbox refresh?): there is nothing of that run left to roll back",
            permanent=True,
        )


def _final_status(rollback: Rollback) -> str:
    rollback.run.refresh_from_db(fields=["failed"])
    if rollback.run.failed or rollback.conflicts:
        return Run.Status.COMPLETED_WITH_ERRORS
    return Run.Status.SUCCEEDED


def _record_calls(rollback: Rollback) -> None:
    Run.objects.filter(pk=rollback.run.pk).update(
        target_api_calls=rollback.target.usage.calls,
        target_api_remaining=rollback.target.usage.remaining,
    )


def _settle_journal(rollback: Rollback) -> set[str]:
    """The target ids of deletes this rollback sent but did not record (it was
    interrupted): whether each went through is read from the target, not assumed."""
    entries = WriteJournal.objects.filter(
        run=rollback.run,
        operation=JournalOperation.DELETE,
        state=JournalState.IN_DOUBT,
    )
    ids = {item["target_id"] for entry in entries for item in entry.entries}
    entries.update(state=JournalState.RECONCILED, resolved_at=timezone.now())
    return ids


def _rollback_object(rollback: Rollback, sobject: str) -> None:
    results = RecordResult.objects.filter(run=rollback.original, sobject=sobject)
    inserted = results.filter(action=RecordAction.INSERTED).order_by("id")
    sent = SentValues(rollback.original, sobject)
    for chunk in chunked(
        inserted.values_list("source_id", "target_id").iterator(), CHUNK
    ):
        run_check_stop(rollback.run)
        _undo_inserts(rollback, sobject, dict(chunk), sent)
    handled: set[str] = set()
    for image in _images(rollback, sobject):
        run_check_stop(rollback.run)
        _undo_updates(rollback, sobject, image, handled)
    _report_missing_images(rollback, sobject, results, handled)


# Inserted records: delete ------------------------------------------------------------


@dataclass
class Outcome:
    """One chunk's counts, results, issues and mapping changes, recorded together."""

    counts: Counter[str] = field(default_factory=Counter)
    results: list[RecordResult] = field(default_factory=list)
    issues: list[RecordIssue] = field(default_factory=list)
    retire: list[str] = field(default_factory=list)  # target ids
    forget_hash: list[str] = field(default_factory=list)  # target ids
    # The chunk's delete journal entry, settled with the rest.
    entry: WriteJournal | None = None


def _undo_inserts(
    rollback: Rollback, sobject: str, chunk: dict[str, str], values: SentValues
) -> None:
    """``chunk``: source id -> target id of records the run inserted."""
    by_target = {target: source for source, target in chunk.items()}
    done = _done(rollback, sobject, list(by_target))
    sent = values.of(list(chunk))
    fields = sorted({name for values in sent.values() for name in values})
    current = _read(rollback, sobject, list(by_target), fields)
    outcome = Outcome()
    to_delete: list[str] = []
    for target_id, source_id in by_target.items():
        if target_id in done:
            continue
        outcome.counts["selected"] += 1
        record = current.get(target_id)
        if record is None:
            _already_gone(rollback, sobject, source_id, target_id, outcome)
        elif _changed_by_others(rollback, record, sent.get(source_id, {})):
            _conflict(rollback, sobject, source_id, target_id, record, outcome)
        else:
            to_delete.append(target_id)
    _delete(rollback, sobject, to_delete, by_target, outcome)
    _save(rollback, sobject, outcome)


def _already_gone(
    rollback: Rollback, sobject: str, source_id: str, target_id: str, outcome: Outcome
) -> None:
    """Deleted before: by this rollback before it was interrupted, or by anyone."""
    outcome.retire.append(target_id)
    if target_id in rollback.in_doubt:
        _undone(rollback, sobject, source_id, target_id, RecordAction.DELETED, outcome)
    else:
        outcome.counts["unchanged"] += 1


def _changed_by_others(
    rollback: Rollback, record: dict[str, Any], sent: dict[str, Any]
) -> bool:
    modifier = record.get("LastModifiedById")
    if modifier and modifier != rollback.target_user_id:
        return True
    return not same_values(sent, record)


def _delete(
    rollback: Rollback,
    sobject: str,
    ids: list[str],
    by_target: dict[str, str],
    outcome: Outcome,
) -> None:
    if not ids:
        return
    if rollback.dry_run:
        outcome.counts["deleted"] += len(ids)
        return
    entry = WriteJournal.objects.create(
        run=rollback.run,
        sobject=sobject,
        operation=JournalOperation.DELETE,
        entries=[{"source_id": by_target[i], "target_id": i} for i in ids],
    )
    outcome.entry = entry
    for target_id, saved in zip(ids, rollback.target.delete_many(ids), strict=True):
        source_id = by_target[target_id]
        if saved.success or saved.error_code == "ENTITY_IS_DELETED":
            outcome.retire.append(target_id)
            _undone(
                rollback, sobject, source_id, target_id, RecordAction.DELETED, outcome
            )
        else:
            _failed(rollback, sobject, source_id, target_id, saved, outcome)


class SentValues:
    """The values the run's inserts sent, by source id, from its journal.

    The run recorded its inserted results in the order it journaled their calls, so
    the chunks of results ask for the entries in order too: the journal is read
    once, forward, keeping only the values read but not yet asked for (not once per
    chunk, which grew with the square of the run's size).
    """

    def __init__(self, run: Run, sobject: str) -> None:
        self._entries = (
            WriteJournal.objects.filter(
                run=run, sobject=sobject, operation=JournalOperation.INSERT
            )
            .order_by("id")
            .iterator()
        )
        self._read: dict[str, Any] = {}

    def of(self, source_ids: list[str]) -> dict[str, Any]:
        wanted = set(source_ids)
        while not wanted <= self._read.keys():
            entry = next(self._entries, None)
            if entry is None:
                break  # what no entry names was sent with no values we know of
            for item in entry.entries:
                self._read[item["source_id"]] = item.get("values") or {}
        return {i: self._read.pop(i) for i in wanted if i in self._read}


# Updated and adopted records: restore ----------------------------------------------


def _images(rollback: Rollback, sobject: str) -> Iterator[Images]:
    """The run's before-images of ``sobject`` in chunks of at most CHUNK records:
    one image row holds a whole write call, up to a Bulk API job's records."""
    for images in before_images_read(rollback.original, sobject):
        for ids in chunked(images, CHUNK):
            yield {target_id: images[target_id] for target_id in ids}


def _undo_updates(
    rollback: Rollback, sobject: str, images: Images, handled: set[str]
) -> None:
    """Restore the records of one before-image chunk that the run did update."""
    rows = RecordResult.objects.filter(
        run=rollback.original,
        sobject=sobject,
        action__in=(RecordAction.UPDATED, RecordAction.ADOPTED),
        target_id__in=[i for i in images if i not in handled],
    ).values_list("target_id", "action", "source_id")
    reached = {target_id: action for target_id, action, _ in rows}
    sources = {target_id: source_id for target_id, _, source_id in rows}
    if not reached:
        return
    handled.update(reached)
    done = _done(rollback, sobject, list(reached))
    fields = sorted({name for i in reached for name in images[i]["after"]})
    current = _read(rollback, sobject, list(reached), fields)
    outcome = Outcome()
    restores: list[tuple[str, dict[str, Any]]] = []
    for target_id, action in reached.items():
        if target_id in done:
            continue
        outcome.counts["selected"] += 1
        image, record = images[target_id], current.get(target_id)
        source_id = sources.get(target_id, "")
        if action == RecordAction.ADOPTED:
            outcome.retire.append(target_id)
        if record is None:
            _gone_before_restore(rollback, sobject, source_id, target_id, outcome)
        elif same_values(image["before"], record):
            outcome.counts["unchanged"] += 1
            outcome.forget_hash.append(target_id)
        elif not same_values(image["after"], record):
            _conflict(rollback, sobject, source_id, target_id, record, outcome)
            if action == RecordAction.ADOPTED:
                outcome.retire.remove(target_id)
        else:
            restores.append((target_id, image["before"]))
    _restore(rollback, sobject, restores, sources, outcome)
    _save(rollback, sobject, outcome)


def _restore(
    rollback: Rollback,
    sobject: str,
    restores: list[tuple[str, dict[str, Any]]],
    sources: dict[str, str],
    outcome: Outcome,
) -> None:
    if not restores:
        return
    if rollback.dry_run:
        outcome.counts["restored"] += len(restores)
        return
    rows = [{"Id": target_id, **values} for target_id, values in restores]
    for (target_id, _), saved in zip(
        restores, rollback.target.update(sobject, rows), strict=True
    ):
        source_id = sources.get(target_id, "")
        if saved.success:
            outcome.forget_hash.append(target_id)
            _undone(
                rollback, sobject, source_id, target_id, RecordAction.RESTORED, outcome
            )
        else:
            _failed(rollback, sobject, source_id, target_id, saved, outcome)


def _gone_before_restore(
    rollback: Rollback, sobject: str, source_id: str, target_id: str, outcome: Outcome
) -> None:
    _fail(
        rollback,
        sobject,
        source_id,
        target_id,
        outcome,
        code="TARGET_DELETED",
        message=f"{target_id} was deleted in the target since run "
        f"{rollback.original.pk}; there is nothing to restore",
    )


def _report_missing_images(
    rollback: Rollback, sobject: str, results: Any, handled: set[str]
) -> None:
    """One warning for updated records the run kept no before-image of (not kept for
    this target, or past BEFORE_IMAGE_RETENTION_DAYS): they cannot be restored."""
    missing = (
        results.filter(action__in=(RecordAction.UPDATED, RecordAction.ADOPTED))
        .exclude(target_id__in=handled)
        .count()
    )
    if (
        not missing
        or RecordIssue.objects.filter(
            run=rollback.run, sobject=sobject, error_code="NO_BEFORE_IMAGE"
        ).exists()
    ):
        return
    rollback.conflicts += missing
    RecordIssue.objects.create(
        run=rollback.run,
        kind=IssueKind.WARNING,
        sobject=sobject,
        error_code="NO_BEFORE_IMAGE",
        message=f"{missing} records that run {rollback.original.pk} updated have no "
        "before-image (not kept for this run, or expired); their values cannot be "
        "restored",
        count=missing,
    )


# Shared ----------------------------------------------------------------------------


def _done(rollback: Rollback, sobject: str, target_ids: list[str]) -> set[str]:
    """Records this rollback recorded before it was interrupted (counted already)."""
    if rollback.run.attempts <= 1 or rollback.dry_run:
        return set()
    recorded = RecordResult.objects.filter(
        run=rollback.run, sobject=sobject, target_id__in=target_ids
    ).values_list("target_id", flat=True)
    listed = RecordIssue.objects.filter(
        run=rollback.run, sobject=sobject, target_id__in=target_ids
    ).values_list("target_id", flat=True)
    return {*recorded, *listed}


def _read(
    rollback: Rollback, sobject: str, ids: Sequence[str], fields: Sequence[str]
) -> dict[str, dict[str, Any]]:
    """The records' current values of ``fields`` and their last modifier, by Id."""
    names = ["Id", "LastModifiedById", *[f for f in fields if f != "LastModifiedById"]]
    query = soql.select(sobject, names, [soql.in_list("Id", list(ids))])
    return {str(record["Id"]): record for record in rollback.target.query(query)}


def _conflict(
    rollback: Rollback,
    sobject: str,
    source_id: str,
    target_id: str,
    record: dict[str, Any],
    outcome: Outcome,
) -> None:
    rollback.conflicts += 1
    outcome.issues.append(
        _issue(
            rollback,
            sobject,
            source_id,
            target_id,
            kind=IssueKind.WARNING,
            code=CHANGED,
            message=f"{target_id} was changed in the target since run "
            f"{rollback.original.pk} (last modified by "
            f"{record.get('LastModifiedById') or 'unknown'}); left as it is for you "
            "to decide",
        )
    )


def _failed(
    rollback: Rollback,
    sobject: str,
    source_id: str,
    target_id: str,
    saved: SaveResult,
    outcome: Outcome,
) -> None:
    _fail(
        rollback,
        sobject,
        source_id,
        target_id,
        outcome,
        code=saved.error_code,
        message=saved.error_message,
    )


def _fail(
    rollback: Rollback,
    sobject: str,
    source_id: str,
    target_id: str,
    outcome: Outcome,
    *,
    code: str,
    message: str,
) -> None:
    """Count a record the rollback could not undo, with the reason as its issue."""
    outcome.counts["failed"] += 1
    outcome.issues.append(
        _issue(
            rollback,
            sobject,
            source_id,
            target_id,
            kind=IssueKind.FAILED,
            code=code,
            message=message,
        )
    )


def _issue(
    rollback: Rollback,
    sobject: str,
    source_id: str,
    target_id: str,
    *,
    kind: str,
    code: str,
    message: str,
) -> RecordIssue:
    return RecordIssue(
        run=rollback.run,
        kind=kind,
        sobject=sobject,
        source_id=source_id,
        target_id=target_id,
        error_code=code,
        message=message,
    )


def _undone(
    rollback: Rollback,
    sobject: str,
    source_id: str,
    target_id: str,
    action: RecordAction,
    outcome: Outcome,
) -> None:
    """A record the rollback deleted or restored: counted and kept as a result."""
    outcome.counts[action.value] += 1
    outcome.results.append(_result(rollback, sobject, source_id, target_id, action))


def _result(
    rollback: Rollback, sobject: str, source_id: str, target_id: str, action: str
) -> RecordResult:
    return RecordResult(
        run=rollback.run,
        sobject=sobject,
        source_id=source_id,
        target_id=target_id,
        action=action,
    )


def _save(rollback: Rollback, sobject: str, outcome: Outcome) -> None:
    """Record a chunk in one transaction: results, issues, counts, mappings, journal."""
    if rollback.dry_run:
        outcome.results, outcome.retire, outcome.forget_hash = [], [], []
    with transaction.atomic():
        RecordResult.objects.bulk_create(outcome.results)
        RecordIssue.objects.bulk_create(outcome.issues)
        counts_add(rollback.run, sobject, outcome.counts)
        _retire_mappings(rollback, sobject, outcome.retire)
        _forget_hashes(rollback, sobject, outcome.forget_hash)
        if outcome.entry is not None:
            journal_close(outcome.entry)


def _pair_mappings(rollback: Rollback, sobject: str, target_ids: list[str]) -> Any:
    return RecordMapping.objects.filter(
        source_org=rollback.run.source_org_id,
        target_org=rollback.run.target_org_id,
        sobject=sobject,
        target_id__in=target_ids,
    )


def _retire_mappings(rollback: Rollback, sobject: str, target_ids: list[str]) -> None:
    """Remove the mappings the rolled-back run created, each with its audit event (the
    repairs' event shape): the next run inserts or adopts those records anew."""
    if not target_ids:
        return
    mappings = _pair_mappings(rollback, sobject, target_ids).filter(
        created_by_run=rollback.original
    )
    mappings_retire_rolled_back(
        mappings=list(mappings), rollback=rollback.run, actor=None
    )


def mappings_retire_rolled_back(
    *, mappings: Sequence[RecordMapping], rollback: Run, actor: Actor
) -> None:
    """Retire mappings because a rollback undid the run that created them: one event
    each, then the rows, in two statements for a whole chunk rather than two per
    mapping (the caller's transaction holds them together)."""
    reason = f"rollback {rollback.pk} of run {rollback.rollback_of_id}"
    AuditEvent.objects.bulk_create(
        event_build(
            actor=actor or rollback.requested_by,
            action="mapping_retired",
            org=rollback.target_org,
            run=rollback,
            details={"mapping_id": mapping.pk, "reason": reason},
            before=mapping_state(mapping),
            after={},
        )
        for mapping in mappings
    )
    RecordMapping.objects.filter(pk__in=[mapping.pk for mapping in mappings]).delete()


def _forget_hashes(rollback: Rollback, sobject: str, target_ids: list[str]) -> None:
    """A restored record no longer holds what its mapping's hash says was written."""
    if target_ids:
        _pair_mappings(rollback, sobject, target_ids).filter(
            status=MappingStatus.ACTIVE
        ).update(values_hash="", updated_at=timezone.now())


def rollback_result(*, run: Run) -> dict[str, Any]:
    """`run_migration --json`'s shape, with ``deleted`` and ``restored`` counts added
    to each object and to the totals."""
    from migrations_app.selectors import run_result

    result = run_result(run=run)
    stats = {stat.sobject: stat for stat in run.object_stats.all()}
    for sobject, counts in result["objects"].items():
        counts["deleted"] = stats[sobject].deleted
        counts["restored"] = stats[sobject].restored
    result["totals"]["deleted"] = run.deleted
    result["totals"]["restored"] = run.restored
    result["rollback_of"] = run.rollback_of_id
    result["changed_since_run"] = run.issues.filter(error_code=CHANGED).count()
    return result
