"""The RQ worker class that `make run` and deployments start.

It runs RQ's own maintenance and, as often as a lease needs, the run sweep: dead runs
are interrupted (freeing their org pair) and queued runs whose job Redis lost are
queued again, even when nobody opens a page.
"""

from __future__ import annotations

from typing import Any

from django.conf import settings
from rq.worker import Worker

from migrations_app.services.leases import run_sweep


class MigrationWorker(Worker):
    def __init__(self, *args: Any, **kwargs: Any) -> None:
        kwargs.setdefault(
            "maintenance_interval", max(settings.RUN_LEASE_SECONDS // 3, 1)
        )
        super().__init__(*args, **kwargs)

    @property
    def dequeue_timeout(self) -> int:
        # Wake up from waiting for a job in time for the next sweep.
        return max(min(self.maintenance_interval, super().dequeue_timeout), 1)

    def run_maintenance_tasks(self) -> None:
        super().run_maintenance_tasks()
        try:
            run_sweep()
        except Exception:
            self.log.exception("the run sweep failed; it runs again at the next check")
