"""The second pass: lookups that could not be set on insert (cycles between objects,
hierarchies deeper than five levels), set by updates once every record exists.
"""

from __future__ import annotations

from typing import Any

from migrations_app.engine import pages, soql
from migrations_app.engine.pages import COLLECTION_SIZE, IssueData, PageFacts, Write
from migrations_app.engine.planning import ObjectPlan
from migrations_app.engine.records import build_payload, same_values
from migrations_app.engine.strategy import Action, Decision
from migrations_app.models import IssueKind, RecordIssue
from migrations_app.services import writes
from migrations_app.services.batches import Known, load_mappings
from migrations_app.services.context import RunContext, chunked


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
    result = writes.BatchResult()
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
        results = writes.send_replayable(
            context, context.target.update, plan, writes.update_payload(updates)
        )
        refused: list[writes.Refused] = []
        for write, saved in zip(updates, results, strict=True):
            if saved.success:
                continue
            if writes.worth_resending(context, saved):
                refused.append((write, saved))
            else:
                result.issues.append(writes.failed_issue(write, saved))
        updates = _second_pass_again(context, plan, refused, result)
    RecordIssue.objects.bulk_create(
        writes.issue_rows(context, plan.sobject, result.issues)
    )


def _second_pass_again(
    context: RunContext,
    plan: ObjectPlan,
    refused: list[writes.Refused],
    result: writes.BatchResult,
) -> list[Write]:
    """Lookups refused for a row lock are set again while the retry budget lasts;
    then they are failures like the others."""
    if not refused:
        return []
    if writes.took_retry(context, plan, refused, operation="update"):
        return [write for write, _ in refused]
    result.issues.extend(writes.failed_issue(write, saved) for write, saved in refused)
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
