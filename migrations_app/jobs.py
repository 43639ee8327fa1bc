"""RQ entry points: take ids, call one service. No decisions here."""

from __future__ import annotations

import django_rq

from migrations_app.services import runs

RUN_JOB_TIMEOUT = 24 * 3600


def execute_run(run_id: int) -> None:
    """Run a queued migration. Safe twice: run_execute claims the run first."""
    runs.run_execute(run_id=run_id)


def enqueue_run(*, run_id: int) -> None:
    # The job id makes a second enqueue of the same run a no-op in RQ as well.
    django_rq.get_queue("default").enqueue(
        execute_run, run_id, job_id=f"run-{run_id}", job_timeout=RUN_JOB_TIMEOUT
    )
