"""One page of source records: read what the decisions need, send, record.

The engine decides the whole page (engine/pages.py); this module reads the page's
mappings, match-key candidates and same-Id hits, and hands the decided writes, in full
calls, to ``writes`` (one call at a time) or ``pipeline`` (several in flight), which
record each call's answer in one transaction (DESIGN invariants 3 and 6).
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

from migrations_app.engine import pages, soql
from migrations_app.engine.pages import KnownMapping, PageDecision, PageFacts, Write
from migrations_app.engine.planning import ObjectPlan
from migrations_app.engine.records import match_key_value
from migrations_app.engine.strategy import Strategy
from migrations_app.models import (
    IssueKind,
    MappingStatus,
    RecordAction,
    RecordIssue,
    RecordMapping,
    RecordResult,
)
from migrations_app.services import rows, writes
from migrations_app.services.context import RunContext
from migrations_app.services.pipeline import WritePipeline, page_calls
from migrations_app.services.same_id import same_id_matches

# Stands for "the parent would have been inserted" in a dry run.
DRY_RUN_ID = "(would be inserted)"

Known = dict[str, KnownMapping]


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
    if context.resumed or plan.passes or plan.points_to_itself:
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
    """Decide a whole page (engine), then write it in calls of up to ``write_size``
    (``pipeline.page_calls``), several at once when there is a pipeline.

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
    page = writes.BatchResult(counts=decided.counts(), issues=list(decided.issues))
    page.counts["selected"] = len(records)
    if context.run.dry_run:
        _count_dry_run(context, plan, decided, page)
    elif pipeline is not None:
        _adopt_as_is(context, plan, decided.adopted_as_is, page)

        def close_page() -> None:
            writes.record(context, plan, page, checkpoint=checkpoint)

        pipeline.add(page_calls(plan, decided, write_size), close_page)
        return
    else:
        _adopt_as_is(context, plan, decided.adopted_as_is, page)
        for call in page_calls(plan, decided, write_size):
            if call.operation == "insert":
                writes.write_inserts(context, plan, call.writes)
            else:
                writes.write_updates(context, plan, call.writes)
    writes.record(context, plan, page, checkpoint=checkpoint)


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


def _adopt_as_is(
    context: RunContext,
    plan: ObjectPlan,
    adopted: list[Write],
    page: writes.BatchResult,
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


def _count_dry_run(
    context: RunContext,
    plan: ObjectPlan,
    decided: PageDecision,
    page: writes.BatchResult,
) -> None:
    page.counts["inserted"] += len(decided.inserts)
    for write in decided.inserts:
        context.remember_insert(plan.sobject, write.source_id, DRY_RUN_ID)
    for write in decided.updates:
        page.counts["adopted" if write.adopts else "updated"] += 1
