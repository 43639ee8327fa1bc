"""Runs: create, claim, execute and finish a migration from one org to another.

The shape of every batch is claim → transform (engine) → journal → write → record:
no database transaction is open while Salesforce is called (DESIGN invariant 5), and
an insert batch is journaled before it is sent so a crash never duplicates (invariant 3).
"""

from __future__ import annotations

import gc
import logging
import time
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from typing import Any

from django.conf import settings
from django.contrib.auth.models import User
from django.db import (
    DatabaseError,
    IntegrityError,
    InterfaceError,
    OperationalError,
    connection,
    transaction,
)
from django.db.models import F, Value
from django.db.models.functions import Coalesce
from django.utils import timezone

from migrations_app.engine import incremental, pages, soql
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
    InterruptCause,
    Org,
    RecordIssue,
    Run,
    RunAttempt,
    RunObjectStat,
    Template,
)
from migrations_app.salesforce.client import SalesforceClient
from migrations_app.salesforce.errors import SalesforceError
from migrations_app.services import batches
from migrations_app.services.access import can_launch_into
from migrations_app.services.allowance import (
    AllowancePause,
    allowance_check,
    allowance_exhausted,
    allowance_recheck,
    allowance_refusal,
    calls_needed,
    org_observe_usage,
    run_pause,
)
from migrations_app.services.context import Progress, RunContext, chunked
from migrations_app.services.errors import MigrationError
from migrations_app.services.events import event_record
from migrations_app.services.files import files_migrate, files_own_records
from migrations_app.services.journal import journal_reconcile_pair
from migrations_app.services.leases import (
    Heartbeat,
    LeaseLost,
    run_expire_leases,
    run_start_next_on_pair,
)
from migrations_app.services.mapping_state import org_now
from migrations_app.services.orgs import org_connect
from migrations_app.services.pipeline import WritePipeline, write_pipeline
from migrations_app.services.pricebooks import pricebooks_map_standard
from migrations_app.services.retry import (
    RetryBudget,
    RetryBudgetSpent,
    retry_budget_for,
    retry_report,
)
from migrations_app.services.run_checks import run_check_target_deleted
from migrations_app.services.second_pass import second_pass

logger = logging.getLogger(__name__)

# Seconds between tries to record an interruption after the database went away (a
# restart takes a few); past them the run's lease expiry takes over.
DATABASE_RECONNECT_WAITS = (0.5, 1, 2, 4, 8)
# How often a run saves its API call counts between pages, at most (the dashboard's
# counts lag by no more); always at its end.
API_CALLS_SAVED_EVERY_SECONDS = 1.0


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
            options={"only_changed": True, "full": False, **(options or {})},
            requested_by=requested_by if requested_by and requested_by.pk else None,
        )
        RunObjectStat.objects.bulk_create(
            RunObjectStat(run=run, position=position, sobject=item["sobject"])
            for position, item in enumerate(snapshot["objects"])
        )
    return run


def run_launch_problems(
    *,
    template: Template,
    source_org: Org,
    target_org: Org,
    user: Any,
    confirmation: str = "",
    dry_run: bool = False,
) -> dict[str, str]:
    """What stops a launch, by form field; empty when it may go ahead.

    Checked before anything is saved: a run that cannot start is not queued.
    """
    problems = {}
    if source_org.pk == target_org.pk:
        problems["target_org"] = "Choose a target org other than the source org."
    if not template.template_objects.exists():
        problems["template"] = (
            f"Template {template.name!r} has no objects; add some in the admin first."
        )
    for field, org in (("source_org", source_org), ("target_org", target_org)):
        if not org.organization_id:
            problems.setdefault(
                field,
                f"{org.name} has never connected; check its connection in the admin "
                "first.",
            )
    if not can_launch_into(user=user, org=target_org):
        problems.setdefault(
            "target_org", f"You may not launch runs that write into {target_org.name}."
        )
    if (
        target_org.environment == Org.Environment.PRODUCTION
        and not dry_run
        and confirmation.strip() != target_org.name
    ):
        problems["confirm_target"] = (
            f"{target_org.name} is a production org: type its name to confirm."
        )
    return problems


def run_launch(**arguments: Any) -> Run:
    """Create a run (same arguments as run_create) and queue it for a worker.

    The job is enqueued after the transaction commits, so the worker finds the run.
    """
    with transaction.atomic():
        run = run_create(**arguments)
        event_record(
            actor=arguments.get("requested_by"),
            action="run_launched",
            run=run,
            org=run.target_org,
            details={"strategy": run.strategy, "dry_run": run.dry_run},
        )
        transaction.on_commit(lambda: _enqueue(run.pk))
    return run


class PairBusy(Exception):
    """The run's org pair has another writer; the run stays queued and waits."""

    def __init__(self, writer: Run) -> None:
        super().__init__(f"waiting for run {writer.pk}")
        self.writer = writer


class RunCancelled(Exception):
    """A user asked the run to stop; raised between pages."""


def run_claim(*, run_id: int) -> Run | None:
    """Move a queued run to running; None if it is not queued (another worker has
    it, or it was cancelled or finished).

    The database refuses a second running writer for the same org pair (DESIGN
    invariant 4); the run then stays queued, notes which run it waits for, and the
    refusal becomes PairBusy. Dead writers are interrupted first, so a killed worker
    never holds a pair past its lease.
    """
    run_expire_leases()
    now = timezone.now()
    try:
        with transaction.atomic():
            claimed = Run.objects.filter(id=run_id, status=Run.Status.QUEUED).update(
                status=Run.Status.RUNNING,
                started_at=Coalesce("started_at", Value(now)),
                heartbeat_at=now,
                finished_at=None,
                attempts=F("attempts") + 1,
                waiting_for=None,
                error="",
                interrupt_cause="",
                resume_at=None,
            )
            if claimed == 1:
                _open_attempt(run_id, now)
    except IntegrityError:
        writer = _current_writer(run_id)
        if writer is None:  # it finished in the meantime: try again at once
            return run_claim(run_id=run_id)
        Run.objects.filter(id=run_id, status=Run.Status.QUEUED).update(
            waiting_for=writer
        )
        raise PairBusy(writer) from None
    if claimed != 1:
        return None
    return Run.objects.select_related("source_org", "target_org").get(id=run_id)


def _open_attempt(run_id: int, now: datetime) -> None:
    """Note the attempt a claim starts, and why it started (inside the claim)."""
    run = Run.objects.only("attempts", "resume_note").get(pk=run_id)
    RunAttempt.objects.create(
        run_id=run_id,
        number=run.attempts,
        started_at=now,
        started_because=run.resume_note or "Launched",
    )
    Run.objects.filter(pk=run_id).update(resume_note="")


def _current_writer(run_id: int) -> Run | None:
    run = Run.objects.get(id=run_id)
    return (
        Run.objects.filter(
            source_org=run.source_org_id,
            target_org=run.target_org_id,
            status=Run.Status.RUNNING,
            dry_run=False,
        )
        .exclude(id=run_id)
        .first()
    )


def run_execute(*, run_id: int, progress: Progress | None = None) -> Run:
    """Claim the run and migrate every object of its snapshot; return the run.

    Safe to call twice: a run already claimed elsewhere or finished is returned as
    is, and a run whose pair is busy stays queued (the writer starts it when done).
    """
    try:
        run = run_claim(run_id=run_id)
    except PairBusy as busy:
        logger.info("run %s waits for run %s on its org pair", run_id, busy.writer.pk)
        return Run.objects.get(id=run_id)
    if run is None:
        return Run.objects.get(id=run_id)
    return _execute_leased(run, progress)


def run_execute_waiting(
    *,
    run_id: int,
    progress: Progress | None = None,
    on_wait: Callable[[Run], None] | None = None,
    poll_seconds: float = 1.0,
) -> Run:
    """Execute in this process, first waiting while another run writes on the pair.

    For the command line. If a worker starts the run meanwhile, it is left to it.
    """
    announced: int | None = None
    while True:
        try:
            run = run_claim(run_id=run_id)
        except PairBusy as busy:
            if on_wait is not None and busy.writer.pk != announced:
                on_wait(busy.writer)
                announced = busy.writer.pk
            time.sleep(poll_seconds)
            continue
        if run is None:
            return Run.objects.get(id=run_id)
        return _execute_leased(run, progress)


def _execute_leased(run: Run, progress: Progress | None) -> Run:
    """Execute a claimed run, its lease kept alive meanwhile."""
    with Heartbeat(run.pk), older_objects_set_aside():
        return _execute_claimed(run, progress)


@contextmanager
def older_objects_set_aside() -> Iterator[None]:
    """Keep the garbage collector's full passes to the objects the run creates.

    Each page of records (tens of thousands of objects) outlives the young
    collections, which then start a full one every few pages; a full collection
    walks every object of the process, Django's and the worker's included, holding
    the interpreter lock meanwhile: 40 ms of a 20,000-record first run in the
    benchmark, 5 ms with the objects that existed before the run set aside
    (``gc.freeze``) until it ends. They are not collected meanwhile, only skipped;
    afterwards every frozen object is given back (nothing else here freezes any).
    """
    gc.freeze()
    try:
        yield
    finally:
        gc.unfreeze()


def _execute_claimed(run: Run, progress: Progress | None) -> Run:
    if run.rollback_of_id is not None:
        # A rollback (issue 14) claims, leases and finishes like any run.
        from migrations_app.services.rollback import rollback_run

        try:
            status, error = rollback_run(run)
        except LeaseLost:
            return _stopped(run)
        return _finish(run, status=status, error=error)
    budget = retry_budget_for(run)
    context = None
    try:
        context = _prepare(run, progress, budget)
        if context is None:
            return _finish(run, status=Run.Status.FAILED, error=run.error)
        _migrate_all(context)
    except RunCancelled:
        return _finish(
            run, status=Run.Status.CANCELLED, error="Cancelled", context=context
        )
    except LeaseLost:
        return _stopped(run)
    except AllowancePause as pause:
        _record_api_calls_quietly(context)
        return run_pause(run=run, pause=pause)
    except (MigrationError, SalesforceError) as exc:
        spent = allowance_exhausted(exc, [run.source_org, run.target_org])
        if spent is not None:
            _record_api_calls_quietly(context)
            return run_pause(run=run, pause=_refused(spent, context))
        # Known failures end the run, not crash it: permanent ones fail it, transient
        # ones (the retry budget spent) interrupt it, to be resumed by the sweep.
        status = Run.Status.FAILED if exc.permanent else Run.Status.INTERRUPTED
        cause = (
            InterruptCause.RETRY_BUDGET
            if isinstance(exc, RetryBudgetSpent)
            else InterruptCause.TRANSIENT
        )
        return _finish(
            run, status=status, error=exc.message, context=context, cause=cause
        )
    except (OperationalError, InterfaceError) as exc:
        # The connection was lost mid-run. Each batch records in one transaction, so
        # nothing is half-recorded; end cleanly (on a new connection) and resume.
        logger.warning("run %s lost its database connection: %s", run.pk, exc)
        return _finish_after_database_loss(run, exc)
    except Exception as exc:
        logger.exception("run %s crashed", run.pk)
        _finish(
            run,
            status=Run.Status.INTERRUPTED,
            error=f"Unexpected error: {exc}",
            context=context,
            cause=InterruptCause.UNEXPECTED,
        )
        raise
    finally:
        _report_retries(run, budget)
    return _finish(run, status=_final_status(run), context=context)


def _stopped(run: Run) -> Run:
    """An attempt that lost its lease records nothing more: the next one goes on."""
    logger.warning("run %s: attempt %s lost its lease; stopping", run.pk, run.attempts)
    run.refresh_from_db()
    return run


def _refused(org: Org, context: RunContext | None) -> AllowancePause:
    """The pause for an org that refused a call for lack of allowance (its other
    integrations spent it while the run went on)."""
    usage = None
    if context is not None:
        target = org.pk == context.run.target_org_id
        usage = (context.target if target else context.source).usage
    return allowance_refusal(org=org, usage=usage)


def _finish_after_database_loss(run: Run, error: Exception) -> Run:
    """Record the interruption once the database answers again; if it stays away,
    the run's lease expires and the sweep interrupts and resumes it instead."""
    for wait in DATABASE_RECONNECT_WAITS:
        connection.close()
        try:
            return _finish(
                run,
                status=Run.Status.INTERRUPTED,
                error=f"The database connection was lost ({error}); nothing was "
                "half-recorded, and the run resumes by itself.",
                cause=InterruptCause.DATABASE,
            )
        except DatabaseError:
            time.sleep(wait)
    return run


def _record_api_calls_quietly(context: RunContext | None) -> None:
    if context is not None:
        _record_api_calls(context)


def _report_retries(run: Run, budget: RetryBudget) -> None:
    """Put this attempt's retries in the run's report (budget, backoff, spent by
    kind) and on its attempt row; the run's total is ``retries_spent``."""
    if not budget.spent:
        return
    try:
        budget.flush()  # the retries the write pipeline's threads spent last
        report = Run.objects.values_list("report", flat=True).get(pk=run.pk) or {}
        report["retries"] = retry_report(budget)
        Run.objects.filter(pk=run.pk).update(report=report)
        RunAttempt.objects.filter(run=run, number=run.attempts).update(
            retries=budget.spent
        )
    except DatabaseError:
        logger.warning("run %s: could not record its retries", run.pk)


def run_cancel(*, run: Run, user: User | None = None) -> Run:
    """Stop a run: a queued or interrupted one at once, a running one between pages.

    Its counts stay as they are: what was written is written and counted.
    """
    now = timezone.now()
    with transaction.atomic():
        stopped = Run.objects.filter(
            pk=run.pk,
            status__in=(
                Run.Status.QUEUED,
                Run.Status.INTERRUPTED,
                Run.Status.WAITING,
            ),
        ).update(
            status=Run.Status.CANCELLED,
            cancel_requested_at=now,
            finished_at=now,
            waiting_for=None,
            error="Cancelled before it finished",
        )
        if not stopped:
            asked = Run.objects.filter(pk=run.pk, status=Run.Status.RUNNING).update(
                cancel_requested_at=now
            )
            if not asked:
                raise MigrationError(
                    f"Run {run.pk} has already ended; nothing to cancel"
                )
        event_record(actor=user, action="run_cancelled", run=run, org=run.target_org)
    run.refresh_from_db()
    return run


def run_resume(*, run: Run, user: User | None = None) -> Run:
    """Queue an interrupted run again: its journal is reconciled first, then it goes
    on from the objects and pages it had not finished."""
    with transaction.atomic():
        resumed = Run.objects.filter(pk=run.pk, status=Run.Status.INTERRUPTED).update(
            status=Run.Status.QUEUED,
            error="",
            finished_at=None,
            cancel_requested_at=None,
            resume_note=f"Resumed by {user.get_username() if user else 'hand'}",
        )
        if not resumed:
            raise MigrationError(
                f"Run {run.pk} is {run.get_status_display().lower()}; only an "
                "interrupted run can be resumed"
            )
        event_record(actor=user, action="run_resumed", run=run, org=run.target_org)
        transaction.on_commit(lambda: _enqueue(run.pk))
    run.refresh_from_db()
    return run


def run_again(*, run: Run, user: User | None = None) -> Run:
    """Launch a new run with the same template, orgs, strategy and options."""
    if run.rollback_of_id is not None:
        raise MigrationError(
            f"Run {run.pk} is a rollback; roll back run {run.rollback_of_id} again instead"
        )
    if run.template is None:
        raise MigrationError(
            f"Run {run.pk}'s template was deleted; launch a new run instead"
        )
    return run_launch(
        template=run.template,
        source_org=run.source_org,
        target_org=run.target_org,
        strategy=run.strategy,
        dry_run=run.dry_run,
        options={
            key: value
            for key, value in run.options.items()
            if key in ("only_changed", "full", "fallback_owner", "keep_before_images")
        },
        requested_by=user,
    )


def _enqueue(run_id: int) -> None:
    from migrations_app import jobs

    jobs.enqueue_run(run_id=run_id)


def _prepare(
    run: Run, progress: Progress | None, budget: RetryBudget | None = None
) -> RunContext | None:
    """Connect to both orgs, describe, plan and pre-flight; None if the run cannot succeed."""
    source, source_identity = org_connect(org=run.source_org)
    target, target_identity = org_connect(org=run.target_org)
    for client in (source, target):
        client.retry = budget
        client.identify_as(f"datamigrator-run-{run.pk}")
    if run.pause:
        # Woken from waiting for API allowance: one call says whether to go on.
        allowance_recheck(
            run=run,
            clients={run.source_org_id: source, run.target_org_id: target},
            orgs={run.source_org_id: run.source_org, run.target_org_id: run.target_org},
        )
        Run.objects.filter(pk=run.pk).update(pause={})
    specs = [
        ObjectSpec.from_snapshot(item) for item in run.template_snapshot["objects"]
    ]
    plan = plan_migration(specs, _schemas(source, specs), _schemas(target, specs))
    run.source_organization_id = source_identity.organization_id
    run.target_organization_id = target_identity.organization_id
    # A resumed attempt keeps the first attempt's anchor: what changed while the
    # run was interrupted must be read by the next run. The describes came just
    # before, so each org's last answer tells its time of now.
    kept = run.report or {}
    source_clock = kept.get("source_clock") or org_now(source).isoformat()
    read = _read_plan(run, datetime.fromisoformat(source_clock))
    run.report = {
        "problems": [problem.as_dict() for problem in plan.problems],
        "order": [item.sobject for item in plan.objects],
        "source_clock": source_clock,
        "target_clock": kept.get("target_clock") or org_now(target).isoformat(),
        "read": read.as_dict(),
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
        retry=budget,
        changed_since=read.since,
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
    pricebooks_map_standard(context)
    stats = {stat.sobject: stat for stat in context.run.object_stats.all()}
    for plan in context.plan.objects:
        stat = stats.get(plan.sobject)
        if stat is not None and stat.completed_at is not None:
            continue  # done before the run was interrupted
        if not files_own_records(plan):  # Documents go with their Body, below
            _migrate_object(context, plan, stat.checkpoint if stat else {})
        files_migrate(context, plan)
        batches.record_owner_fallbacks(context, plan)
        RunObjectStat.objects.filter(run=context.run, sobject=plan.sobject).update(
            completed_at=timezone.now()
        )
    for plan in context.plan.objects:
        context.check_cancel()
        second_pass(context, plan)


def _migrate_object(
    context: RunContext, plan: ObjectPlan, checkpoint: dict[str, Any]
) -> None:
    """Migrate one object; a self-lookup hierarchy goes level by level, roots first.

    A resumed run starts at its checkpoint: the level and the last source id of the
    last page whose every record was recorded.
    """
    selection = [plan.spec.filter, plan.condition, _incremental_condition(context)]
    volume = context.source.count(plan.sobject, soql.conjunction(selection))
    RunObjectStat.objects.filter(run=context.run, sobject=plan.sobject).update(
        expected=volume
    )
    _check_allowance(context, plan, volume - _recorded_so_far(context, plan))
    # Mapped targets deleted since the last run fail as TARGET_DELETED, not unchanged.
    run_check_target_deleted(
        run=context.run, target=context.target, sobject=plan.sobject
    )
    if volume == 0:
        return
    resume_level = checkpoint.get("level", 0)
    after_id = checkpoint.get("after_id", "")
    for level, condition in enumerate(plan.passes):  # standard prices first
        if level >= resume_level:
            start = after_id if level == resume_level else ""
            _migrate_records(
                context,
                plan,
                [*selection, condition],
                volume,
                level=level,
                after_id=start,
            )
    if plan.passes:
        return
    if not (plan.self_lookup and plan.self_relationship):
        _migrate_records(context, plan, selection, volume, level=0, after_id=after_id)
        return
    for level in range(resume_level, soql.MAX_LEVEL_DEPTH + 1):
        condition = soql.hierarchy_level(
            plan.self_lookup, plan.self_relationship, level
        )
        start = after_id if level == resume_level else ""
        read = _migrate_records(
            context, plan, [*selection, condition], volume, level=level, after_id=start
        )
        if read == 0 and not start and not soql.conjunction(selection):
            # Nothing at this depth, so nothing deeper either. Not so under a filter
            # or an incremental condition: a selected record's ancestors may not be.
            return


def _migrate_records(
    context: RunContext,
    plan: ObjectPlan,
    conditions: list[str],
    volume: int,
    *,
    level: int,
    after_id: str,
) -> int:
    """Stream the matching source records through pages; return how many were read.

    ``volume`` (the object's selected count) picks REST or Bulk API 2.0 for reads and
    sObject Collections or Bulk API 2.0 ingest for writes. Records come in Id order
    so that a page's last Id is a checkpoint a resumed run can go on from.
    """
    if after_id:
        conditions = [*conditions, f"Id > {soql.quote(after_id)}"]
    query = soql.select(plan.sobject, plan.read_fields, conditions, order_by="Id")
    use_bulk_read = volume >= settings.BULK_QUERY_THRESHOLD
    use_bulk_write = volume >= settings.BULK_WRITE_THRESHOLD
    records = (
        context.source.query_bulk(plan.sobject, query)
        if use_bulk_read
        else context.source.query(query)
    )
    batch_size = (
        settings.BULK_WRITE_JOB_RECORDS if use_bulk_write else pages.COLLECTION_SIZE
    )
    read = 0
    # What is left of the object, for the allowance: counted once, then less what
    # each page read (the pages before this call were all recorded).
    left = volume - _recorded_so_far(context, plan)
    page_size = max(pages.PAGE_SIZE, batch_size)
    # Writes of one page may still be in flight while the next is read and decided.
    pipeline = write_pipeline(context, plan)
    none_of_own = batches.no_mappings_yet(context, plan)
    try:
        for page in _read_ahead(context, chunked(records, page_size)):
            _between_pages(context, plan, left - read, pipeline)
            known = batches.load_mappings(context, plan, page, none_of_own=none_of_own)
            batches.process_page(
                context,
                plan,
                page,
                known,
                defer_self=level == soql.MAX_LEVEL_DEPTH,
                write_size=batch_size,
                checkpoint={"level": level, "after_id": page[-1]["Id"]},
                pipeline=pipeline,
            )
            read += len(page)
            _record_api_calls_now_and_then(context)
            if context.progress:
                context.progress(plan.sobject, len(page))
        if pipeline is not None:
            pipeline.finish()
        _between_pages(context, plan, left - read, None, cancel=False)
    finally:
        if pipeline is not None:
            pipeline.abandon()  # after an error: what is in flight stays in doubt
    return read


def _between_pages(
    context: RunContext,
    plan: ObjectPlan,
    left: int,
    pipeline: WritePipeline | None,
    *,
    cancel: bool = True,
) -> None:
    """Stop if the run was cancelled, or (Sforce-Limit-Info came with every answer)
    if the ``left`` records of the object no longer fit the allowance; every page
    sent before is recorded first."""
    try:
        if cancel:
            context.check_cancel()
        _check_allowance(context, plan, left)
    except (RunCancelled, AllowancePause):
        if pipeline is not None:
            pipeline.finish()
        raise


def _read_ahead(
    context: RunContext, source_pages: Iterator[list[dict[str, Any]]]
) -> Iterator[list[dict[str, Any]]]:
    """Yield the source pages while the next one is read on a thread.

    One page ahead, so memory stays bounded (two pages at most). Only the source's
    HTTP calls run on the thread; every database write stays on this one, including
    the count of a retry the thread spent (``RetryBudget.flush``).
    """
    with ThreadPoolExecutor(max_workers=1, thread_name_prefix="read-ahead") as pool:
        upcoming = pool.submit(next, source_pages, None)
        try:
            while True:
                try:
                    page = upcoming.result()
                finally:
                    if context.retry is not None:
                        context.retry.flush()
                if page is None:
                    return
                upcoming = pool.submit(next, source_pages, None)
                yield page
        finally:
            upcoming.cancel()  # a read under way is waited for by the pool


def _incremental_condition(context: RunContext) -> str:
    """Only records changed since the pair's last successful run (engine/incremental)."""
    since = context.changed_since
    if since is None:
        return ""
    return f"SystemModstamp > {since.astimezone(UTC).strftime('%Y-%m-%dT%H:%M:%SZ')}"


def _read_plan(run: Run, source_now: datetime) -> incremental.ReadPlan:
    """Read everything or only what changed; decided once per run, kept in its report."""
    previous = _previous_base(run)
    return incremental.read_plan(
        full_requested=bool(run.options.get("full")),
        snapshot=incremental.snapshot_hash(run.template_snapshot),
        previous=previous,
        source_now=source_now,
        overlap=timedelta(seconds=settings.INCREMENTAL_OVERLAP_SECONDS),
    )


def _previous_base(run: Run) -> incremental.PreviousRun | None:
    """The pair's last successful run of the template with the same strategy."""
    previous = (
        Run.objects.filter(
            template=run.template,
            source_org=run.source_org_id,
            target_org=run.target_org_id,
            strategy=run.strategy,
            status=Run.Status.SUCCEEDED,
            dry_run=False,
            # A rollback, or a run rolled back, is no base: what it wrote is undone.
            rollback_of__isnull=True,
        )
        .exclude(id=run.pk)
        .exclude(id__in=_rolled_back_runs())
        .order_by("-started_at")
        .first()
    )
    if run.template_id is None or previous is None or previous.started_at is None:
        return None
    clock = (previous.report or {}).get("source_clock")
    return incremental.PreviousRun(
        snapshot_hash=incremental.snapshot_hash(previous.template_snapshot),
        source_clock=datetime.fromisoformat(clock) if clock else None,
        started_at=previous.started_at,
    )


def _rolled_back_runs() -> Any:
    return Run.objects.filter(
        rollback_of__isnull=False,
        dry_run=False,
        status__in=(Run.Status.SUCCEEDED, Run.Status.COMPLETED_WITH_ERRORS),
    ).values("rollback_of")


def _record_api_calls_now_and_then(context: RunContext) -> None:
    """Save the API call counts after a page if a second has passed since they
    were last saved: a first run reads its pages faster than anyone watches the
    dashboard, and each save waits for the database. The run's end saves them."""
    now = time.monotonic()
    if now - context.api_calls_saved_at >= API_CALLS_SAVED_EVERY_SECONDS:
        _record_api_calls(context)
        context.api_calls_saved_at = now


@transaction.atomic  # one commit for the three rows, not one each
def _record_api_calls(context: RunContext) -> None:
    Run.objects.filter(pk=context.run.pk).update(
        source_api_calls=context.source.usage.calls,
        target_api_calls=context.target.usage.calls,
        target_api_remaining=context.target.usage.remaining,
        source_api_remaining=context.source.usage.remaining,
    )
    org_observe_usage(org_id=context.run.source_org_id, usage=context.source.usage)
    org_observe_usage(org_id=context.run.target_org_id, usage=context.target.usage)


def _recorded_so_far(context: RunContext, plan: ObjectPlan) -> int:
    stat = RunObjectStat.objects.filter(run=context.run, sobject=plan.sobject).first()
    return stat.selected if stat is not None else 0


def _check_allowance(context: RunContext, plan: ObjectPlan, records: int) -> None:
    """Pause (AllowancePause) if the rest of this object would eat into an org's
    reserve; a dry run writes nothing but reads, so it is checked all the same."""
    estimate = calls_needed(
        records,
        matching=context.strategy is Strategy.VEID_MATCH,
        bulk_read=records >= settings.BULK_QUERY_THRESHOLD,
        bulk_write=records >= settings.BULK_WRITE_THRESHOLD,
    )
    run = context.run
    allowance_check(
        org=run.source_org,
        usage=context.source.usage,
        needed=estimate.source,
        what=plan.sobject,
    )
    if not run.dry_run:
        allowance_check(
            org=run.target_org,
            usage=context.target.usage,
            needed=estimate.target,
            what=plan.sobject,
        )


def _final_status(run: Run) -> str:
    """Succeeded only if no record failed or was ambiguous, in any pass."""
    run.refresh_from_db(fields=["failed", "ambiguous"])
    failed_issue = run.issues.filter(kind=RecordIssue.Kind.FAILED).exists()
    if run.failed or run.ambiguous or failed_issue:
        return Run.Status.COMPLETED_WITH_ERRORS
    return Run.Status.SUCCEEDED


def _finish(
    run: Run,
    *,
    status: str,
    error: str = "",
    context: RunContext | None = None,
    cause: str = "",
) -> Run:
    """End the run and hand its org pair to the next run waiting for it.

    Only this attempt's own run: one whose lease expired meanwhile (taken as dead,
    maybe resumed by another worker) is left to the attempt that has it now.
    """
    if context is not None:
        _record_api_calls(context)
    now = timezone.now()
    with transaction.atomic():
        ended = Run.objects.filter(
            pk=run.pk, status=Run.Status.RUNNING, attempts=run.attempts
        ).update(
            status=status,
            error=error,
            finished_at=now,
            interrupt_cause=cause if status == Run.Status.INTERRUPTED else "",
        )
        if ended:
            RunAttempt.objects.filter(run=run, number=run.attempts).update(
                ended_at=now, outcome=status, outcome_note=error
            )
            if not run.dry_run:
                run_start_next_on_pair(run_id=run.pk)
    run.refresh_from_db()
    return run
