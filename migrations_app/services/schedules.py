"""Scheduled runs and audits (issue 14), launched through RQ's scheduler.

The database holds each schedule's next launch (``Schedule.next_launch_at``); RQ holds
one scheduled job for it (``Queue.enqueue_at``, run by workers started with
``--with-scheduler``), whose id names the schedule and the instant. When the job
fires, ``schedule_fire`` records a ScheduleLaunch (once per instant: a job run twice
launches once), launches, or skips when the pair is busy, and registers the next
instant. ``schedules_sync`` (every worker's maintenance) registers again any job Redis
lost, so a restart of workers or of Redis loses no schedule.

RQ's own cron (``rq cron``) was not used: its jobs are read from a config file when its
process starts, and schedules here change in the dashboard at any time.
"""

from __future__ import annotations

import logging
from datetime import UTC, datetime, timedelta

from croniter import CroniterBadDateError, croniter
from django.contrib.auth.models import User
from django.core.exceptions import ValidationError
from django.db import IntegrityError, transaction
from django.utils import timezone

from migrations_app.models import (
    MappingAudit,
    Run,
    Schedule,
    ScheduleKind,
    ScheduleLaunch,
    ScheduleOutcome,
)
from migrations_app.salesforce.errors import SalesforceError
from migrations_app.services.access import can_launch_into
from migrations_app.services.errors import MigrationError
from migrations_app.services.events import event_record

logger = logging.getLogger(__name__)

BUSY_RUN_STATUSES = (Run.Status.QUEUED, Run.Status.RUNNING, Run.Status.WAITING)
BUSY_AUDIT_STATUSES = (MappingAudit.Status.QUEUED, MappingAudit.Status.RUNNING)
HISTORY = 20
# A longer wait is a mistake (and past a few thousand years, a date no calendar
# holds).
MAX_INTERVAL_SECONDS = 366 * 24 * 3600


# Timing --------------------------------------------------------------------------


def schedule_cron_problem(expression: str) -> str:
    """What is wrong with a five-field cron expression, or ""."""
    if len(expression.split()) != 5:
        return "A cron expression has five fields: minute hour day month weekday."
    if not croniter.is_valid(expression):
        return f'"{expression}" is not a valid cron expression.'
    try:  # valid, yet perhaps never due ("0 0 30 2 *": February 30th)
        croniter(expression, timezone.now()).get_next(datetime)
    except CroniterBadDateError:
        return f'"{expression}" never comes round.'
    return ""


def _interval_problem(seconds: int) -> str:
    if seconds > MAX_INTERVAL_SECONDS:
        return f"At most {MAX_INTERVAL_SECONDS} seconds (a year) between launches."
    return ""


def next_launch(schedule: Schedule, after: datetime) -> datetime:
    """The first launch instant of ``schedule`` strictly after ``after`` (UTC), on a
    whole second: RQ's scheduler keeps whole seconds, and would fire early otherwise."""
    if schedule.cron:
        following: datetime = croniter(schedule.cron, after.astimezone(UTC)).get_next(
            datetime
        )
        return following
    instant = after + timedelta(seconds=schedule.interval_seconds or 0)
    if instant.microsecond:
        instant = instant.replace(microsecond=0) + timedelta(seconds=1)
    return instant


def _following(schedule: Schedule, planned_at: datetime) -> datetime:
    """The next instant after ``planned_at`` that is not already past: launches
    missed while no worker ran are not made up for (one launch, then on time)."""
    upcoming = next_launch(schedule, planned_at)
    now = timezone.now()
    return upcoming if upcoming > now else next_launch(schedule, now)


# Saving --------------------------------------------------------------------------


def schedule_save(*, schedule: Schedule, user: User | None) -> Schedule:
    """Create or change a schedule and register its next launch with RQ.

    Raises ValidationError for bad input (a bad cron expression, both or neither of
    cron and interval, a template missing for a run schedule).
    """
    _validate(schedule)
    schedule.next_launch_at = (
        next_launch(schedule, timezone.now()) if schedule.enabled else None
    )
    created = schedule.pk is None
    if created:
        schedule.created_by = user if user and user.pk else None
    with transaction.atomic():
        schedule.save()
        event_record(
            actor=user,
            action="schedule created" if created else "schedule changed",
            org=schedule.target_org,
            details=_state(schedule),
        )
        if schedule.enabled:
            transaction.on_commit(lambda: schedule_register(schedule_id=schedule.pk))
    return schedule


def schedule_set_enabled(
    *, schedule: Schedule, enabled: bool, user: User | None
) -> Schedule:
    """Enable (from now on) or disable a schedule; its pending job then does nothing."""
    schedule.enabled = enabled
    return schedule_save(schedule=schedule, user=user)


def _validate(schedule: Schedule) -> None:
    schedule.cron = " ".join(schedule.cron.split())
    errors = schedule_problems(
        cron=schedule.cron,
        interval_seconds=schedule.interval_seconds,
        kind=schedule.kind,
        has_template=schedule.template_id is not None,
    )
    if errors:
        raise ValidationError(errors)
    schedule.full_clean(exclude=["next_launch_at", "created_by"])


def schedule_problems(
    *, cron: str, interval_seconds: int | None, kind: str, has_template: bool
) -> dict[str, str]:
    """What is wrong with a schedule's timing and target, by field; empty if nothing."""
    errors: dict[str, str] = {}
    if cron and interval_seconds:
        errors["interval_seconds"] = "Give a cron expression or an interval, not both."
    elif not cron and not interval_seconds:
        errors["cron"] = "Give a cron expression or an interval."
    elif cron and (problem := schedule_cron_problem(cron)):
        errors["cron"] = problem
    elif interval_seconds and (problem := _interval_problem(interval_seconds)):
        errors["interval_seconds"] = problem
    if kind == ScheduleKind.RUN and not has_template:
        errors["template"] = "A scheduled run needs a template."
    return errors


def _state(schedule: Schedule) -> dict[str, object]:
    return {
        "schedule_id": schedule.pk,
        "name": schedule.name,
        "kind": schedule.kind,
        "timing": schedule.timing,
        "enabled": schedule.enabled,
    }


# Registering with RQ ---------------------------------------------------------------


def schedule_job_id(schedule_id: int, planned_at: datetime) -> str:
    return f"schedule-{schedule_id}-{planned_at.astimezone(UTC):%Y%m%dT%H%M%S%f}"


def schedule_register(*, schedule_id: int) -> bool:
    """Put the job of the schedule's next launch in RQ's scheduled jobs, unless it is
    there already; return whether it was added."""
    from migrations_app import jobs

    schedule = Schedule.objects.filter(pk=schedule_id, enabled=True).first()
    if schedule is None or schedule.next_launch_at is None:
        return False
    job_id = schedule_job_id(schedule.pk, schedule.next_launch_at)
    if jobs.job_pending(job_id):
        return False
    jobs.enqueue_scheduled_launch(
        schedule_id=schedule.pk, planned_at=schedule.next_launch_at, job_id=job_id
    )
    return True


def schedules_sync() -> int:
    """Register again every enabled schedule whose job RQ does not hold (Redis lost
    it, or it was never registered); return how many. The database is the truth."""
    registered = 0
    for schedule_id in Schedule.objects.filter(enabled=True).values_list(
        "pk", flat=True
    ):
        registered += schedule_register(schedule_id=schedule_id)
    return registered


# Firing ----------------------------------------------------------------------------


def schedule_fire(*, schedule_id: int, planned_at: datetime) -> ScheduleLaunch | None:
    """Launch (or skip) the schedule's launch planned at ``planned_at``.

    Idempotent: the launch of one instant is recorded once (a unique constraint); a
    job for an instant the schedule no longer plans (disabled, changed) does nothing.
    """
    schedule = Schedule.objects.select_related(
        "template", "source_org", "target_org", "created_by"
    ).filter(pk=schedule_id, enabled=True, next_launch_at=planned_at)
    found = schedule.first()
    if found is None:
        return ScheduleLaunch.objects.filter(
            schedule_id=schedule_id, planned_at=planned_at
        ).first()
    try:
        launch = _launch_once(found, planned_at)
    except IntegrityError:
        return ScheduleLaunch.objects.get(schedule=found, planned_at=planned_at)
    _advance(found, planned_at)
    return launch


@transaction.atomic
def _launch_once(schedule: Schedule, planned_at: datetime) -> ScheduleLaunch:
    launch = ScheduleLaunch(schedule=schedule, planned_at=planned_at)
    busy = _busy_reason(schedule)
    if busy:
        launch.outcome, launch.reason = ScheduleOutcome.SKIPPED, busy
    else:
        _launch(schedule, launch)
    launch.save()
    return launch


def _launch(schedule: Schedule, launch: ScheduleLaunch) -> None:
    """Launch the run or audit in a savepoint: a refusal is recorded, not raised."""
    from migrations_app.services.audit import audit_launch
    from migrations_app.services.runs import run_launch

    user = schedule.created_by
    try:
        with transaction.atomic():
            if user is not None and not can_launch_into(
                user=user, org=schedule.target_org
            ):
                raise MigrationError(
                    f"{user.get_username()} may no longer launch into "
                    f"{schedule.target_org.name}"
                )
            if schedule.kind == ScheduleKind.AUDIT:
                launch.audit = audit_launch(
                    source_org=schedule.source_org,
                    target_org=schedule.target_org,
                    template=schedule.template,
                    requested_by=user,
                )
            else:
                launch.run = run_launch(
                    template=schedule.template,
                    source_org=schedule.source_org,
                    target_org=schedule.target_org,
                    strategy=schedule.strategy,
                    options=dict(schedule.options),
                    requested_by=user,
                )
    except (MigrationError, SalesforceError) as exc:
        launch.outcome, launch.reason = ScheduleOutcome.FAILED, exc.message
        return
    launch.outcome = ScheduleOutcome.LAUNCHED


def _busy_reason(schedule: Schedule) -> str:
    """Why the pair cannot take a launch now (its previous one still going), or ""."""
    pair = {"source_org": schedule.source_org_id, "target_org": schedule.target_org_id}
    if schedule.kind == ScheduleKind.AUDIT:
        audit = MappingAudit.objects.filter(
            **pair, status__in=BUSY_AUDIT_STATUSES
        ).first()
        return f"audit {audit.pk} of the pair is still {audit.status}" if audit else ""
    run = (
        Run.objects.filter(**pair, status__in=BUSY_RUN_STATUSES, dry_run=False)
        .order_by("pk")
        .first()
    )
    return f"run {run.pk} on the pair is still {run.status}" if run else ""


def _advance(schedule: Schedule, planned_at: datetime) -> None:
    """Plan the next launch and register it once committed."""
    following = _following(schedule, planned_at)
    with transaction.atomic():
        moved = Schedule.objects.filter(
            pk=schedule.pk, enabled=True, next_launch_at=planned_at
        ).update(next_launch_at=following)
        if moved:
            transaction.on_commit(lambda: schedule_register(schedule_id=schedule.pk))


# Reading ---------------------------------------------------------------------------


def schedule_history(
    *, schedule: Schedule, limit: int = HISTORY
) -> list[ScheduleLaunch]:
    """The schedule's last ``limit`` launches, newest first."""
    return list(
        schedule.launches.select_related("run", "audit").order_by("-planned_at")[:limit]
    )
