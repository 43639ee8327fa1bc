"""Scheduled runs and audits (issue 14): RQ's scheduler, skips, restarts."""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

import django_rq
import pytest
from django.core.exceptions import ValidationError
from django.utils import timezone
from rq import Queue, SimpleWorker
from rq.job import Job
from rq.registry import ScheduledJobRegistry
from rq.scheduler import RQScheduler

from migrations_app.models import MappingAudit, Run, Schedule, ScheduleLaunch, Template
from migrations_app.services.runs import run_create
from migrations_app.services.schedules import (
    next_launch,
    schedule_fire,
    schedule_job_id,
    schedule_save,
    schedule_set_enabled,
    schedules_sync,
)
from tests.integration.conftest import OrgPair, make_template
from tests.integration.workers import MANAGE, stop_worker, wait_until, worker_env

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.integration]

CONTACTS = {"sobject": "Contact", "fields": ["LastName"]}


@pytest.fixture
def queue() -> Iterator[Queue]:
    queue = django_rq.get_queue("default")
    queue.empty()
    registry = ScheduledJobRegistry(queue=queue)
    for job_id in registry.get_job_ids():
        registry.remove(job_id, delete_job=True)
    yield queue
    for job_id in registry.get_job_ids():
        registry.remove(job_id, delete_job=True)


def every(orgs: OrgPair, seconds: int, *, template: Template | None = None) -> Schedule:
    return schedule_save(
        schedule=Schedule(
            name=f"Every {seconds}s",
            template=template or make_template("Contacts", CONTACTS),
            source_org=orgs.source,
            target_org=orgs.target,
            strategy="veid",
            interval_seconds=seconds,
        ),
        user=None,
    )


def tick(queue: Queue) -> None:
    """One pass of the scheduler that workers started with --with-scheduler run
    (its registries prepared without the lock a worker's scheduler holds)."""
    scheduler = RQScheduler([queue], connection=queue.connection)
    scheduler.prepare_registries([queue.name])
    scheduler.enqueue_scheduled_jobs()


def test_a_schedule_is_registered_with_rqs_scheduler_and_launches_when_due(
    orgs: OrgPair, queue: Queue
) -> None:
    orgs.source_org.insert("Contact", {"LastName": "Scheduled"})
    schedule = every(orgs, 1)
    planned = schedule.next_launch_at
    assert planned is not None
    registry = ScheduledJobRegistry(queue=queue)
    assert registry.get_job_ids() == [schedule_job_id(schedule.pk, planned)]

    wait_until(lambda: timezone.now() >= planned, timeout=10)
    tick(queue)
    SimpleWorker([queue], connection=queue.connection).work(burst=True)

    launch = ScheduleLaunch.objects.get(schedule=schedule)
    assert (launch.outcome, launch.planned_at) == ("launched", planned)
    assert launch.run is not None
    launch.run.refresh_from_db()
    assert launch.run.status == Run.Status.SUCCEEDED
    assert orgs.target_org.count("Contact") == 1
    schedule.refresh_from_db()
    assert schedule.next_launch_at is not None
    assert schedule.next_launch_at > planned
    assert registry.get_job_ids() == [
        schedule_job_id(schedule.pk, schedule.next_launch_at)
    ]


def test_a_launch_while_the_pair_is_busy_is_skipped_not_stacked(
    orgs: OrgPair, queue: Queue
) -> None:
    schedule = every(orgs, 3600)
    busy = run_create(
        template=schedule.template,  # type: ignore[arg-type]
        source_org=orgs.source,
        target_org=orgs.target,
        strategy="veid",
    )
    planned = schedule.next_launch_at
    assert planned is not None

    launch = schedule_fire(schedule_id=schedule.pk, planned_at=planned)

    assert launch is not None
    assert launch.outcome == "skipped"
    assert f"run {busy.pk} on the pair is still queued" in launch.reason
    assert Run.objects.count() == 1
    schedule.refresh_from_db()
    assert schedule.next_launch_at == planned + timedelta(hours=1)


def test_a_job_fired_twice_launches_once(orgs: OrgPair, queue: Queue) -> None:
    schedule = every(orgs, 3600)
    planned = schedule.next_launch_at
    assert planned is not None

    first = schedule_fire(schedule_id=schedule.pk, planned_at=planned)
    second = schedule_fire(schedule_id=schedule.pk, planned_at=planned)

    assert first == second
    assert ScheduleLaunch.objects.count() == 1
    assert Run.objects.count() == 1


def test_a_disabled_schedule_launches_nothing(orgs: OrgPair, queue: Queue) -> None:
    schedule = every(orgs, 3600)
    planned = schedule.next_launch_at
    assert planned is not None
    schedule_set_enabled(schedule=schedule, enabled=False, user=None)

    assert schedule_fire(schedule_id=schedule.pk, planned_at=planned) is None
    assert not Run.objects.exists()


def test_an_audit_schedule_launches_the_pairs_audit(
    orgs: OrgPair, queue: Queue
) -> None:
    schedule = schedule_save(
        schedule=Schedule(
            name="Nightly audit",
            kind="audit",
            source_org=orgs.source,
            target_org=orgs.target,
            cron="0 2 * * *",
        ),
        user=None,
    )
    planned = schedule.next_launch_at
    assert planned is not None
    assert (planned.hour, planned.minute) == (2, 0)

    launch = schedule_fire(schedule_id=schedule.pk, planned_at=planned)

    assert launch is not None
    assert launch.audit == MappingAudit.objects.get()
    again = schedule_fire(
        schedule_id=schedule.pk,
        planned_at=Schedule.objects.get().next_launch_at,  # type: ignore[arg-type]
    )
    assert again is not None
    assert again.outcome == "skipped"


def test_a_job_redis_lost_is_registered_again(orgs: OrgPair, queue: Queue) -> None:
    schedule = every(orgs, 3600)
    assert schedule.next_launch_at is not None
    job_id = schedule_job_id(schedule.pk, schedule.next_launch_at)
    Job.fetch(job_id, connection=queue.connection).delete()

    assert schedules_sync() == 1
    assert schedules_sync() == 0
    assert Job.fetch(job_id, connection=queue.connection).get_status() == "scheduled"


def test_bad_timings_are_refused(orgs: OrgPair) -> None:
    template = make_template("Contacts", CONTACTS)
    base = {"template": template, "source_org": orgs.source, "target_org": orgs.target}
    with pytest.raises(ValidationError, match="five fields"):
        schedule_save(schedule=Schedule(name="a", cron="0 2 * *", **base), user=None)
    with pytest.raises(ValidationError, match="not a valid cron"):
        schedule_save(schedule=Schedule(name="b", cron="0 25 * * *", **base), user=None)
    with pytest.raises(ValidationError, match="not both"):
        schedule_save(
            schedule=Schedule(name="c", cron="0 2 * * *", interval_seconds=5, **base),
            user=None,
        )
    with pytest.raises(ValidationError, match="needs a template"):
        schedule_save(
            schedule=Schedule(
                name="d",
                source_org=orgs.source,
                target_org=orgs.target,
                cron="* * * * *",
            ),
            user=None,
        )
    after = datetime(2026, 12, 1, 1, 30, tzinfo=UTC)
    weekdays = Schedule(cron="0 2 * * 1-5")
    assert next_launch(weekdays, after) == datetime(2026, 12, 1, 2, 0, tzinfo=UTC)
    assert next_launch(weekdays, datetime(2026, 12, 4, 3, 0, tzinfo=UTC)) == datetime(
        2026, 12, 7, 2, 0, tzinfo=UTC
    )


# Real worker processes -----------------------------------------------------------


def start_scheduling_worker() -> subprocess.Popen[bytes]:
    return subprocess.Popen(
        [
            sys.executable,
            str(MANAGE),
            "rqworker",
            "default",
            "--with-scheduler",
            "--worker-class",
            "migrations_app.worker.MigrationWorker",
        ],
        env=worker_env(),
        start_new_session=True,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )


def test_a_schedule_runs_on_time_on_a_worker_and_survives_its_restart(
    orgs: OrgPair, queue: Queue
) -> None:
    orgs.source_org.insert("Contact", {"LastName": "Every two seconds"})
    schedule = every(orgs, 2)
    worker = start_scheduling_worker()
    try:

        def launched(count: int) -> bool:
            return (
                ScheduleLaunch.objects.filter(
                    schedule=schedule, outcome="launched"
                ).count()
                >= count
            )

        wait_until(lambda: launched(1), timeout=120)
        stop_worker(worker)
        before_restart = ScheduleLaunch.objects.count()
        worker = start_scheduling_worker()
        wait_until(lambda: ScheduleLaunch.objects.count() > before_restart, timeout=120)
    finally:
        if worker.poll() is None:
            stop_worker(worker)
    launches = list(ScheduleLaunch.objects.filter(schedule=schedule))
    # Never early, never twice for one instant; each launch on its own instant.
    assert all(launch.created_at >= launch.planned_at for launch in launches)
    assert len({launch.planned_at for launch in launches}) == len(launches)
    first = ScheduleLaunch.objects.filter(outcome="launched").order_by("planned_at")[0]
    assert first.run is not None
    assert first.run.status != Run.Status.QUEUED
