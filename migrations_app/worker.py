"""The RQ worker class that `make run` and deployments start.

It runs RQ's own maintenance and, as often as a lease needs, the run sweep: dead runs
are interrupted (freeing their org pair) and queued runs whose job Redis lost are
queued again, even when nobody opens a page.
"""

from __future__ import annotations

from typing import Any

from django.conf import settings
from django.db import close_old_connections, connection
from rq.worker import Worker

from migrations_app.services.before_images import before_images_purge
from migrations_app.services.leases import run_sweep
from migrations_app.services.schedules import schedules_sync


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
        # A connection broken by a database restart is dropped here, so that the
        # sweep (and the next one) gets a fresh one instead of failing for ever.
        close_old_connections()
        try:
            run_sweep()
        except Exception:
            connection.close()
            self.log.exception("the run sweep failed; it runs again at the next check")
        # Schedules whose RQ job was lost are registered again, and before-images
        # past their retention are deleted (issue 14): each on its own, so that
        # Redis being away does not keep the database from being tidied.
        try:
            schedules_sync()
        except Exception:
            self.log.exception("the schedule sync failed; it runs at the next check")
        try:
            before_images_purge()
        except Exception:
            self.log.exception(
                "the before-image purge failed; it runs at the next check"
            )
