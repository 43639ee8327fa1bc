"""RQ entry points: take ids, call one service. No decisions here."""

from __future__ import annotations

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
    return f"run-{run_id}"


def enqueue_run(*, run_id: int) -> None:
    """Queue the run, unless its job already waits in Redis or runs."""
    queue = django_rq.get_queue("default")
    if run_job_pending(run_id=run_id):
        return
    queue.enqueue(
        execute_run, run_id, job_id=run_job_id(run_id), job_timeout=RUN_JOB_TIMEOUT
    )


def run_job_pending(*, run_id: int) -> bool:
    queue = django_rq.get_queue("default")
    try:
        job = Job.fetch(run_job_id(run_id), connection=queue.connection)
    except NoSuchJobError:
        return False
    return job.get_status(refresh=False) in PENDING


AUDIT_JOB_TIMEOUT = 6 * 3600


def execute_audit(audit_id: int) -> None:
    """Run a queued mapping audit. Safe twice: audit_execute claims the audit first."""
    audits.audit_execute(audit_id=audit_id)


def enqueue_audit(*, audit_id: int) -> None:
    django_rq.get_queue("default").enqueue(
        execute_audit,
        audit_id,
        job_id=f"audit-{audit_id}",
        job_timeout=AUDIT_JOB_TIMEOUT,
    )
