"""Leases: a running run proves it is alive, and a dead one frees its org pair.

A run holds its org pair while its status is ``running`` (DESIGN invariant 4). A
worker killed mid-run cannot say it stopped, so a running run renews a heartbeat in
the database; a run whose heartbeat is older than ``RUN_LEASE_SECONDS`` is taken as
dead by whoever notices first (a worker's periodic check, a page, the next claim),
marked interrupted, and the pair's next queued run starts (DESIGN invariant 5).
"""

from __future__ import annotations

import logging
import threading
from datetime import datetime, timedelta
from functools import partial
from types import TracebackType

from django.conf import settings
from django.db import connection, connections, transaction
from django.db.models import F, Q
from django.utils import timezone

from migrations_app.models import InterruptCause, Run, RunAttempt

logger = logging.getLogger(__name__)


class LeaseLost(Exception):
    """This attempt was taken as dead (its lease expired) while it still worked:
    it stops at once and records nothing more; the run's next attempt goes on."""


def lease_deadline() -> datetime:
    """Runs whose heartbeat is older than this are dead."""
    return timezone.now() - timedelta(seconds=settings.RUN_LEASE_SECONDS)


def run_expire_leases() -> list[int]:
    """Interrupt every running run whose lease expired; return their ids.

    The update is conditional, so two workers noticing the same dead run interrupt
    it once, and a run that renewed its lease meanwhile is left alone.
    """
    now = timezone.now()
    expired = Q(status=Run.Status.RUNNING) & (
        Q(heartbeat_at__lt=lease_deadline())
        | Q(heartbeat_at__isnull=True, started_at__lt=lease_deadline())
    )
    dead = list(Run.objects.filter(expired).values_list("pk", "heartbeat_at"))
    interrupted = []
    for run_id, heartbeat in dead:
        seen = f"{heartbeat:%Y-%m-%d %H:%M:%S %Z}" if heartbeat else "its start"
        with transaction.atomic():
            error = (
                f"The worker stopped renewing the run's lease (last seen {seen}): it "
                "was killed or lost. It resumes from where it stopped: by itself "
                "while automatic resumes remain, else with Resume."
            )
            changed = Run.objects.filter(expired, pk=run_id).update(
                status=Run.Status.INTERRUPTED,
                finished_at=now,
                interrupt_cause=InterruptCause.LEASE_EXPIRED,
                error=error,
            )
            if changed:
                RunAttempt.objects.filter(run_id=run_id, ended_at__isnull=True).update(
                    ended_at=now, outcome=Run.Status.INTERRUPTED, outcome_note=error
                )
                run_start_next_on_pair(run_id=run_id)
        if changed:
            logger.warning("run %s: lease expired, marked interrupted", run_id)
            interrupted.append(run_id)
    return interrupted


def run_start_next_on_pair(*, run_id: int) -> None:
    """After ``run_id`` stops writing, queue the oldest run waiting for its pair."""
    run = Run.objects.only("source_org_id", "target_org_id").get(pk=run_id)
    waiting = (
        Run.objects.filter(
            source_org=run.source_org_id,
            target_org=run.target_org_id,
            status=Run.Status.QUEUED,
            dry_run=False,
        )
        .exclude(pk=run_id)
        .order_by("created_at", "pk")
        .values_list("pk", flat=True)
        .first()
    )
    if waiting is not None:
        transaction.on_commit(lambda: enqueue_quietly(waiting))


def run_requeue_lost() -> list[int]:
    """Enqueue again the queued runs that nothing will start: the database, not
    Redis, says what is queued (DESIGN invariant 7). A run whose job still waits in
    Redis is left alone, and one enqueued twice runs once: its claim is conditional."""
    lost = []
    for run in Run.objects.filter(status=Run.Status.QUEUED):
        if run.dry_run or not _pair_is_busy(run):
            enqueue_quietly(run.pk)
            lost.append(run.pk)
    return lost


# Interruptions that waiting cures: resumed automatically (issue 11, item 3). An
# unexpected error is not: the same code would fail the same way.
AUTO_RESUMED_CAUSES = (
    InterruptCause.LEASE_EXPIRED,
    InterruptCause.RETRY_BUDGET,
    InterruptCause.TRANSIENT,
    InterruptCause.DATABASE,
)


def run_auto_resume() -> list[int]:
    """Queue again the runs interrupted for a transient cause, up to
    ``RUN_AUTO_RESUME_LIMIT`` times each, after a delay that doubles each time.

    The resumed attempt reconciles the pair's journal before it writes (runs.py).
    """
    now = timezone.now()
    limit = settings.RUN_AUTO_RESUME_LIMIT
    candidates = Run.objects.filter(
        status=Run.Status.INTERRUPTED,
        interrupt_cause__in=AUTO_RESUMED_CAUSES,
        auto_resumes__lt=limit,
        cancel_requested_at__isnull=True,
    )
    resumed = []
    for run in candidates:
        delay = settings.RUN_AUTO_RESUME_DELAY_SECONDS * 2**run.auto_resumes
        if run.finished_at and run.finished_at + timedelta(seconds=delay) > now:
            continue
        note = (
            f"Resumed automatically ({run.auto_resumes + 1} of {limit}) after: "
            f"{InterruptCause(run.interrupt_cause).label.lower()}"
        )
        with transaction.atomic():
            changed = Run.objects.filter(
                pk=run.pk,
                status=Run.Status.INTERRUPTED,
                auto_resumes=run.auto_resumes,
            ).update(
                status=Run.Status.QUEUED,
                auto_resumes=F("auto_resumes") + 1,
                resume_note=note,
                finished_at=None,
                error="",
            )
            if changed:
                transaction.on_commit(partial(enqueue_quietly, run.pk))
        if changed:
            logger.info("run %s: %s", run.pk, note)
            resumed.append(run.pk)
    return resumed


def run_sweep() -> None:
    """The periodic check a worker makes: dead runs interrupted, transient
    interruptions resumed, waiting runs woken when due, lost runs queued again."""
    from migrations_app.services.allowance import run_wake_waiting

    run_expire_leases()
    run_auto_resume()
    run_wake_waiting()
    run_requeue_lost()


def _pair_is_busy(run: Run) -> bool:
    return (
        Run.objects.filter(
            source_org=run.source_org_id,
            target_org=run.target_org_id,
            status=Run.Status.RUNNING,
            dry_run=False,
        )
        .exclude(pk=run.pk)
        .exists()
    )


def enqueue_quietly(run_id: int) -> None:
    """Enqueue; if Redis is away, the next sweep enqueues it (the run stays queued)."""
    from migrations_app import jobs

    try:
        jobs.enqueue_run(run_id=run_id)
    except Exception:
        logger.warning("run %s: could not enqueue it now; the sweep will", run_id)


class Heartbeat:
    """Renews a running run's lease from a background thread while the run works.

    A thread, not the pages' loop, so that a slow Bulk job or a long page never lets
    a live run's lease expire. Every Salesforce call has a timeout, so a live thread
    cannot hide a worker stuck forever.
    """

    def __init__(self, run_id: int) -> None:
        self.run_id = run_id
        self.interval = max(settings.RUN_LEASE_SECONDS / 3, 0.05)
        self._stopped = threading.Event()
        self._thread = threading.Thread(
            target=self._beat, name=f"run-{run_id}-heartbeat", daemon=True
        )

    def __enter__(self) -> Heartbeat:
        self._thread.start()
        return self

    def __exit__(
        self,
        kind: type[BaseException] | None,
        error: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self._stopped.set()
        self._thread.join()

    def _beat(self) -> None:
        try:
            while not self._stopped.wait(self.interval):
                self.renew()
        finally:
            connections.close_all()

    def renew(self) -> None:
        try:
            Run.objects.filter(pk=self.run_id, status=Run.Status.RUNNING).update(
                heartbeat_at=timezone.now()
            )
        except Exception:
            # A database hiccup: the next beat tries again on a new connection, well
            # within the lease.
            logger.warning("run %s: could not renew its lease", self.run_id)
            connection.close()
