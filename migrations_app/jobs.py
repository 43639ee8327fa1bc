"""RQ entry points: take ids, call one service. No decisions here."""

from __future__ import annotations

import uuid
from datetime import datetime

import django_rq
from rq.exceptions import NoSuchJobError
from rq.job import Job, JobStatus

from migrations_app.services import audit as audits
from migrations_app.services import runs

RUN_JOB_TIMEOUT = 24 * 3600
PENDING = frozenset(
    {JobStatus.QUEUED, JobStatus.STARTED, JobStatus.SCHEDULED, JobStatus.DEFERRED}
)


def execute_run(run_id: int) -> None:
    """Run a queued migration. Safe twice: run_execute claims the run first."""
    runs.run_execute(run_id=run_id)


def run_job_id(run_id: int) -> str:
    """A new id for each enqueue: a job left "started" by a killed worker must not
    stand in for the run's next job until RQ notices it was abandoned."""
    return f"{_run_job_prefix(run_id)}{uuid.uuid4().hex[:12]}"


def _run_job_prefix(run_id: int) -> str:
    return f"run-{run_id}-"


def enqueue_run(*, run_id: int) -> None:
    """Queue the run, unless a job for it already waits in the queue."""
    if run_job_pending(run_id=run_id):
        return
    django_rq.get_queue("default").enqueue(
        execute_run, run_id, job_id=run_job_id(run_id), job_timeout=RUN_JOB_TIMEOUT
    )


def run_job_pending(*, run_id: int) -> bool:
    """Whether a job for the run waits in the queue. A started job does not count:
    if its run is still queued in the database, its worker died before claiming it
    (a live one claims at once); a second job for a run is harmless, its claim is
    conditional."""
    prefix = _run_job_prefix(run_id)
    queue = django_rq.get_queue("default")
    return any(job_id.startswith(prefix) for job_id in queue.get_job_ids())


AUDIT_JOB_TIMEOUT = 6 * 3600


def execute_audit(audit_id: int) -> None:
    """Run a queued mapping audit. Safe twice: audit_execute claims the audit first."""
    audits.audit_execute(audit_id=audit_id)


def enqueue_audit(*, audit_id: int) -> None:
    # A new job id each time, as for runs: a job of the same id left in Redis (by a
    # killed worker, or an earlier database) must not stand in for this one.
    django_rq.get_queue("default").enqueue(
        execute_audit,
        audit_id,
        job_id=f"audit-{audit_id}-{uuid.uuid4().hex[:12]}",
        job_timeout=AUDIT_JOB_TIMEOUT,
    )


SCHEDULE_JOB_TIMEOUT = 600


def launch_scheduled(schedule_id: int, planned_at: str) -> None:
    """Fired by RQ's scheduler at a schedule's instant. Safe twice: schedule_fire
    records one launch per instant."""
    from migrations_app.services.schedules import schedule_fire

    schedule_fire(
        schedule_id=schedule_id, planned_at=datetime.fromisoformat(planned_at)
    )


def enqueue_scheduled_launch(
    *, schedule_id: int, planned_at: datetime, job_id: str
) -> None:
    """Register the launch with RQ's scheduler (workers run it with --with-scheduler)."""
    django_rq.get_queue("default").enqueue_at(
        planned_at,
        launch_scheduled,
        schedule_id,
        planned_at.isoformat(),
        job_id=job_id,
        job_timeout=SCHEDULE_JOB_TIMEOUT,
    )


def job_pending(job_id: str) -> bool:
    """Whether RQ holds the job, scheduled, queued or running."""
    queue = django_rq.get_queue("default")
    try:
        job = Job.fetch(job_id, connection=queue.connection)
    except NoSuchJobError:
        return False
    return job.get_status(refresh=False) in PENDING
