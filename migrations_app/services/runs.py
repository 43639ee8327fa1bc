"""Runs: create, claim, execute and finish a migration from one org to another.

The shape of every batch is claim → transform (engine) → journal → write → record:
no database transaction is open while Salesforce is called (DESIGN invariant 5), and
an insert batch is journaled before it is sent so a crash never duplicates (invariant 3).
"""

from __future__ import annotations

import logging
from datetime import timedelta
from typing import Any

from django.conf import settings
from django.contrib.auth.models import User
from django.db import IntegrityError, transaction
from django.utils import timezone

from migrations_app.engine import soql
from migrations_app.engine.planning import (
    RECORD_TYPE_OBJECT,
    USER_OBJECT,
    ObjectPlan,
    ObjectSpec,
    plan_migration,
)
from migrations_app.engine.schema import ObjectSchema, object_schema
from migrations_app.engine.strategy import Strategy
from migrations_app.models import (
    Org,
    RecordIssue,
    Run,
    RunObjectStat,
    Template,
)
from migrations_app.salesforce.client import SalesforceClient
from migrations_app.salesforce.errors import SalesforceError
from migrations_app.services import batches
from migrations_app.services.context import Progress, RunContext, chunked
from migrations_app.services.errors import MigrationError
from migrations_app.services.journal import journal_reconcile_pair
from migrations_app.services.orgs import org_connect

logger = logging.getLogger(__name__)

PAGE_SIZE = 2000


def run_create(
    *,
    template: Template,
    source_org: Org,
    target_org: Org,
    strategy: str,
    dry_run: bool = False,
    options: dict[str, Any] | None = None,
    requested_by: User | None = None,
) -> Run:
    """Create a queued run holding a snapshot of ``template`` as it is now."""
    from migrations_app.services.templates import template_snapshot

    if source_org.pk == target_org.pk:
        raise MigrationError("The source and target org must be different orgs")
    if strategy not in Strategy.__members__.values():
        raise MigrationError(
            f"Unknown strategy {strategy!r}: use none, veid or veid_match"
        )
    snapshot = template_snapshot(template=template)
    if not snapshot["objects"]:
        raise MigrationError(f"Template {template.name!r} has no objects")
    with transaction.atomic():
        run = Run.objects.create(
            template=template,
            template_snapshot=snapshot,
            source_org=source_org,
            target_org=target_org,
            strategy=strategy,
            dry_run=dry_run,
            options={"only_changed": True, "incremental": False, **(options or {})},
            requested_by=requested_by if requested_by and requested_by.pk else None,
        )
        RunObjectStat.objects.bulk_create(
            RunObjectStat(run=run, position=position, sobject=item["sobject"])
            for position, item in enumerate(snapshot["objects"])
        )
    return run


def run_launch(**arguments: Any) -> Run:
    """Create a run (same arguments as run_create) and queue it for a worker.

    The job is enqueued after the transaction commits, so the worker finds the run.
    """
    from migrations_app import jobs

    with transaction.atomic():
        run = run_create(**arguments)
        transaction.on_commit(lambda: jobs.enqueue_run(run_id=run.pk))
    return run


def run_claim(*, run_id: int) -> Run | None:
    """Move a queued or interrupted run to running; None if another worker has it.

    The database refuses a second running writer for the same org pair (DESIGN
    invariant 4); that refusal becomes a clear MigrationError.
    """
    try:
        with transaction.atomic():
            claimed = Run.objects.filter(
                id=run_id, status__in=(Run.Status.QUEUED, Run.Status.INTERRUPTED)
            ).update(status=Run.Status.RUNNING, started_at=timezone.now(), error="")
    except IntegrityError:
        run = Run.objects.select_related("source_org", "target_org").get(id=run_id)
        busy = (
            Run.objects.filter(
                source_org=run.source_org_id,
                target_org=run.target_org_id,
                status=Run.Status.RUNNING,
                dry_run=False,
            )
            .exclude(id=run_id)
            .first()
        )
        raise MigrationError(
            f"Run {busy.pk if busy else '?'} is already writing from {run.source_org} "
            f"to {run.target_org}; wait for it to finish",
            permanent=False,
        ) from None
    if claimed != 1:
        return None
    return Run.objects.select_related("source_org", "target_org").get(id=run_id)


def run_execute(*, run_id: int, progress: Progress | None = None) -> Run:
    """Claim the run and migrate every object of its snapshot; return the finished run.

    Safe to call twice: a run already claimed elsewhere or finished is returned as is.
    """
    try:
        run = run_claim(run_id=run_id)
    except MigrationError as exc:
        return _finish(
            Run.objects.get(id=run_id), status=Run.Status.FAILED, error=exc.message
        )
    if run is None:
        return Run.objects.get(id=run_id)
    context = None
    try:
        context = _prepare(run, progress)
        if context is None:
            return _finish(run, status=Run.Status.FAILED, error=run.error)
        _migrate_all(context)
    except (MigrationError, SalesforceError) as exc:
        # A refused read (an exhausted API allowance, a transport failure after the
        # session's retries) ends the run like any other known failure, not a crash.
        status = Run.Status.FAILED if exc.permanent else Run.Status.INTERRUPTED
        return _finish(run, status=status, error=exc.message, context=context)
    except Exception as exc:
        logger.exception("run %s crashed", run.pk)
        _finish(
            run,
            status=Run.Status.INTERRUPTED,
            error=f"Unexpected error: {exc}",
            context=context,
        )
        raise
    return _finish(run, status=_final_status(run), context=context)


def _prepare(run: Run, progress: Progress | None) -> RunContext | None:
    """Connect to both orgs, describe, plan and pre-flight; None if the run cannot succeed."""
    source, source_identity = org_connect(org=run.source_org)
    target, target_identity = org_connect(org=run.target_org)
    specs = [
        ObjectSpec.from_snapshot(item) for item in run.template_snapshot["objects"]
    ]
    plan = plan_migration(specs, _schemas(source, specs), _schemas(target, specs))
    run.source_organization_id = source_identity.organization_id
    run.target_organization_id = target_identity.organization_id
    run.report = {
        "problems": [problem.as_dict() for problem in plan.problems],
        "order": [item.sobject for item in plan.objects],
    }
    run.save(
        update_fields=[
            "source_organization_id",
            "target_organization_id",
            "report",
            "updated_at",
        ]
    )
    if plan.blocking:
        run.error = (
            "Pre-flight found problems that would make the run fail: "
            + "; ".join(
                f"{p.sobject}{'.' + p.field if p.field else ''}: {p.message}"
                for p in plan.blocking
            )
        )
        return None
    context = RunContext(
        run=run,
        strategy=Strategy(run.strategy),
        source=source,
        target=target,
        target_user_id=target_identity.user_id,
        plan=plan,
        progress=progress,
    )
    _load_reference_maps(context)
    return context


def _schemas(
    client: SalesforceClient, specs: list[ObjectSpec]
) -> dict[str, ObjectSchema | None]:
    available = {
        item["name"].lower(): item["name"] for item in client.describe_global()
    }
    return {
        spec.sobject: object_schema(client.describe(available[spec.sobject.lower()]))
        if spec.sobject.lower() in available
        else None
        for spec in specs
    }


def _load_reference_maps(context: RunContext) -> None:
    """Map users by Username then Email, record types by sObject and DeveloperName."""
    references = {
        ref
        for plan in context.plan.objects
        for refs in plan.references.values()
        for ref in refs
    }
    if USER_OBJECT in references:
        context.users = _user_map(context.source, context.target)
        fallback = context.run.options.get("fallback_owner")
        if fallback:
            context.fallback_owner = _target_user_id(context.target, fallback)
    if RECORD_TYPE_OBJECT in references:
        context.record_types = _record_type_map(context.source, context.target)


def _user_map(source: SalesforceClient, target: SalesforceClient) -> dict[str, str]:
    query = "SELECT Id, Username, Email FROM User"
    target_users = list(target.query(query))
    by_username = {user["Username"].lower(): user["Id"] for user in target_users}
    by_email: dict[str, list[str]] = {}
    for user in target_users:
        by_email.setdefault((user.get("Email") or "").lower(), []).append(user["Id"])
    mapping = {}
    for user in source.query(query):
        target_id = by_username.get(user["Username"].lower())
        emails = by_email.get((user.get("Email") or "").lower(), [])
        if target_id is None and len(emails) == 1:
            target_id = emails[0]
        if target_id:
            mapping[user["Id"]] = target_id
    return mapping


def _target_user_id(target: SalesforceClient, username_or_email: str) -> str:
    condition = f"Username = {soql.quote(username_or_email)} OR Email = {soql.quote(username_or_email)}"
    users = list(target.query(soql.select("User", ["Id"], [condition])))
    if len(users) != 1:
        raise MigrationError(
            f"Fallback owner {username_or_email!r} is not one user of the target org"
        )
    return str(users[0]["Id"])


def _record_type_map(
    source: SalesforceClient, target: SalesforceClient
) -> dict[str, str]:
    query = "SELECT Id, DeveloperName, SobjectType FROM RecordType"
    by_key = {
        (rt["SobjectType"], rt["DeveloperName"]): rt["Id"] for rt in target.query(query)
    }
    return {
        rt["Id"]: by_key[(rt["SobjectType"], rt["DeveloperName"])]
        for rt in source.query(query)
        if (rt["SobjectType"], rt["DeveloperName"]) in by_key
    }


def _migrate_all(context: RunContext) -> None:
    if not context.run.dry_run:
        journal_reconcile_pair(
            run=context.run,
            target=context.target,
            target_user_id=context.target_user_id,
        )
    for plan in context.plan.objects:
        _migrate_object(context, plan)
    for plan in context.plan.objects:
        batches.second_pass(context, plan)


def _migrate_object(context: RunContext, plan: ObjectPlan) -> None:
    """Migrate one object; a self-lookup hierarchy goes level by level, roots first."""
    selection = [plan.spec.filter, _incremental_condition(context)]
    volume = context.source.count(plan.sobject, soql.conjunction(selection))
    if volume == 0:
        return
    if not (plan.self_lookup and plan.self_relationship):
        _migrate_records(context, plan, selection, volume, defer_self=False)
        return
    for level in range(soql.MAX_LEVEL_DEPTH + 1):
        condition = soql.hierarchy_level(
            plan.self_lookup, plan.self_relationship, level
        )
        deep = level == soql.MAX_LEVEL_DEPTH
        read = _migrate_records(
            context, plan, [*selection, condition], volume, defer_self=deep
        )
        if read == 0 and not soql.conjunction(selection):
            # Nothing at this depth, so nothing deeper either. Not so under a filter
            # or an incremental condition: a selected record's ancestors may not be.
            return


def _migrate_records(
    context: RunContext,
    plan: ObjectPlan,
    conditions: list[str],
    volume: int,
    *,
    defer_self: bool,
) -> int:
    """Stream the matching source records through batches; return how many were read.

    ``volume`` (the object's selected count) picks REST or Bulk API 2.0 for reads and
    sObject Collections or Bulk API 2.0 ingest for writes.
    """
    query = soql.select(plan.sobject, plan.read_fields, conditions)
    use_bulk_read = volume >= settings.BULK_QUERY_THRESHOLD
    use_bulk_write = volume >= settings.BULK_WRITE_THRESHOLD
    records = (
        context.source.query_bulk(plan.sobject, query)
        if use_bulk_read
        else context.source.query(query)
    )
    batch_size = (
        batches.BULK_BATCH_SIZE if use_bulk_write else batches.COLLECTION_BATCH_SIZE
    )
    read = 0
    for page in chunked(records, max(PAGE_SIZE, batch_size)):
        known = batches.load_mappings(context, plan, page)
        batches.process_page(
            context, plan, page, known, defer_self=defer_self, write_size=batch_size
        )
        read += len(page)
        _record_api_calls(context)
        if context.progress:
            context.progress(plan.sobject, len(page))
    return read


def _incremental_condition(context: RunContext) -> str:
    """Only records modified since this pair's last successful run of the template."""
    run = context.run
    if not run.options.get("incremental"):
        return ""
    previous = (
        Run.objects.filter(
            template=run.template,
            source_org=run.source_org_id,
            target_org=run.target_org_id,
            status=Run.Status.SUCCEEDED,
            dry_run=False,
        )
        .exclude(id=run.pk)
        .order_by("-started_at")
        .first()
    )
    if previous is None or previous.started_at is None:
        return ""
    # Read a little before the last start: the org's clock and ours may differ, and
    # a record read twice is merely counted unchanged.
    since = previous.started_at - timedelta(
        seconds=settings.INCREMENTAL_OVERLAP_SECONDS
    )
    return f"SystemModstamp > {since.strftime('%Y-%m-%dT%H:%M:%SZ')}"


def _record_api_calls(context: RunContext) -> None:
    Run.objects.filter(pk=context.run.pk).update(
        source_api_calls=context.source.usage.calls,
        target_api_calls=context.target.usage.calls,
        target_api_remaining=context.target.usage.remaining,
    )


def _final_status(run: Run) -> str:
    """Succeeded only if no record failed or was ambiguous, in any pass."""
    run.refresh_from_db(fields=["failed", "ambiguous"])
    failed_issue = run.issues.filter(kind=RecordIssue.Kind.FAILED).exists()
    if run.failed or run.ambiguous or failed_issue:
        return Run.Status.COMPLETED_WITH_ERRORS
    return Run.Status.SUCCEEDED


def _finish(
    run: Run, *, status: str, error: str = "", context: RunContext | None = None
) -> Run:
    if context is not None:
        _record_api_calls(context)
    Run.objects.filter(pk=run.pk).update(
        status=status, error=error, finished_at=timezone.now()
    )
    run.refresh_from_db()
    return run
