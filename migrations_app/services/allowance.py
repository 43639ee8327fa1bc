"""The orgs' daily API allowance: a run pauses rather than burn an org's last calls
(issue 11, item 2).

Before each object, and after each page (when ``Sforce-Limit-Info`` shows what is
left), the run compares the calls the object still needs with the calls left above
the org's reserve (``Org.api_reserve_percent`` of the daily allowance, kept for the
org's other integrations). If they do not fit, the run pauses: status ``waiting``,
the reason, and when it should go on. A waiting run is not a writer, so it does not
hold its org pair; the sweep wakes it when its time comes, every
``RUN_ALLOWANCE_RECHECK_SECONDS``, or at once when an operator lowers the reserve of
the org it waits for. Woken, it first asks the org (one ``/limits`` call) and only
goes on if the calls now fit.

When calls free: Salesforce counts calls over 24 hours. Runs note when they first
saw an org's usage after its counter started over (``Org.api_window_started_at``);
the calls counted since then are free 24 hours after it. That is the "resumes at"
time; the periodic re-check catches a window that frees earlier.
"""

from __future__ import annotations

import logging
import math
from dataclasses import dataclass
from datetime import datetime, timedelta
from functools import partial

from django.conf import settings
from django.db import transaction
from django.db.models import Case, F, Q, Value, When
from django.utils import timezone

from migrations_app.models import Org, Run, RunAttempt
from migrations_app.salesforce.client import ApiUsage, SalesforceClient
from migrations_app.salesforce.errors import SalesforceError

logger = logging.getLogger(__name__)

WINDOW = timedelta(hours=24)
# Calls an object costs besides its pages: count, describe, deleted-target check.
OBJECT_OVERHEAD_CALLS = 3
READ_PAGE = 2000
COLLECTION = 200
BULK_JOB = 10_000
# create, upload, close, a few status polls, results: per Bulk API job.
BULK_JOB_CALLS = 8


@dataclass(frozen=True)
class CallEstimate:
    source: int
    target: int


def calls_needed(
    records: int, *, matching: bool, bulk_read: bool, bulk_write: bool
) -> CallEstimate:
    """An upper estimate of the calls ``records`` more records of one object cost.

    Reads: one per 2,000-record page (Bulk: a job per object). Writes: one per 200
    records (Bulk: a job per 10,000); matching by key adds a query per 200.
    """
    if records <= 0:
        return CallEstimate(source=OBJECT_OVERHEAD_CALLS, target=OBJECT_OVERHEAD_CALLS)
    reads = BULK_JOB_CALLS if bulk_read else math.ceil(records / READ_PAGE)
    writes = (
        math.ceil(records / BULK_JOB) * BULK_JOB_CALLS
        if bulk_write
        else math.ceil(records / COLLECTION)
    )
    matches = math.ceil(records / COLLECTION) if matching else 0
    return CallEstimate(
        source=reads + OBJECT_OVERHEAD_CALLS,
        target=writes + matches + OBJECT_OVERHEAD_CALLS,
    )


class AllowancePause(Exception):
    """The calls a run needs do not fit in what an org has left above its reserve."""

    def __init__(
        self, *, org: Org, needed: int | None, left: int, reserve: int, what: str
    ) -> None:
        super().__init__(f"{org.name}: {left} calls left, {needed} needed")
        self.org = org
        self.needed = needed
        self.left = left
        self.reserve = reserve
        self.what = what


def reserve_calls(org: Org, allowance: int) -> int:
    return math.ceil(allowance * org.api_reserve_percent / 100)


def allowance_check(*, org: Org, usage: ApiUsage, needed: int, what: str) -> None:
    """Raise AllowancePause if ``needed`` calls do not fit above ``org``'s reserve.

    Nothing is known before the org's first answer: then there is nothing to check.
    """
    left = usage.remaining
    if left is None or usage.allowance is None:
        return
    reserve = reserve_calls(org, usage.allowance)
    if needed > left - reserve:
        raise AllowancePause(
            org=org, needed=needed, left=left, reserve=reserve, what=what
        )


def allowance_exhausted(error: Exception, orgs: list[Org]) -> Org | None:
    """The org whose allowance refused a call (REQUEST_LIMIT_EXCEEDED), if that is
    what ``error`` is, directly or as the cause of a write in doubt."""
    cause = getattr(error, "error", None) or error
    if not isinstance(cause, SalesforceError):
        return None
    if cause.code != "REQUEST_LIMIT_EXCEEDED":
        return None
    for org in orgs:
        if cause.message.startswith(f"{org.name}:"):
            return org
    return orgs[-1]  # unnamed: the target, where most of a run's calls go


def allowance_refusal(*, org: Org, usage: ApiUsage | None) -> AllowancePause:
    """The pause for an org that refused a call (REQUEST_LIMIT_EXCEEDED)."""
    allowance = usage.allowance if usage and usage.allowance else 0
    return AllowancePause(
        org=org,
        needed=None,
        left=(usage.remaining or 0) if usage else 0,
        reserve=reserve_calls(org, allowance),
        what="the run",
    )


def org_observe_usage(*, org_id: int, usage: ApiUsage) -> None:
    """Note an org's usage as a run saw it, to know when its window started.

    A lower count than last seen, or a window older than 24 hours, means the count
    started over: the window starts now.
    """
    if usage.used is None:
        return
    now = timezone.now()
    started_over = Q(api_used_seen__isnull=True) | Q(api_used_seen__gt=usage.used)
    started_over |= Q(api_window_started_at__lt=now - WINDOW)
    # One statement, as a run notes it while it goes: the condition reads the
    # row as it was before this update.
    Org.objects.filter(pk=org_id).update(
        api_window_started_at=Case(
            When(started_over, then=Value(now)), default=F("api_window_started_at")
        ),
        api_used_seen=usage.used,
    )


def resume_estimate(org: Org) -> datetime:
    """When the calls counted in ``org``'s window should be free again."""
    now = timezone.now()
    org.refresh_from_db(fields=["api_window_started_at"])
    started = org.api_window_started_at
    if started is not None and started + WINDOW > now:
        return started + WINDOW
    # The window should have started over and has not: a rolling window, or calls
    # from elsewhere. Ask again at the next re-check.
    return now + timedelta(seconds=settings.RUN_ALLOWANCE_RECHECK_SECONDS)


def pause_reason(pause: AllowancePause, resume_at: datetime) -> str:
    at = timezone.localtime(resume_at).strftime("%H:%M")
    zone = timezone.get_current_timezone_name()
    need = (
        f"needs about {pause.needed} calls for {pause.what}"
        if pause.needed is not None
        else f"refused a call for {pause.what}: its daily allowance is spent"
    )
    return (
        f"Waiting for API allowance: {pause.org.name} {need}, and has {pause.left} "
        f"left, {pause.reserve} of which are its reserve "
        f"({pause.org.api_reserve_percent}% of the daily allowance, kept for its "
        f"other integrations). Resumes at {at} ({zone}), when the 24-hour window "
        "frees enough calls, or at once if the org's reserve is lowered."
    )


def run_pause(*, run: Run, pause: AllowancePause) -> Run:
    """Move a running run to waiting and hand its org pair to the next queued run."""
    from migrations_app.services.leases import run_start_next_on_pair

    resume_at = resume_estimate(pause.org)
    now = timezone.now()
    with transaction.atomic():
        paused = Run.objects.filter(
            pk=run.pk, status=Run.Status.RUNNING, attempts=run.attempts
        ).update(
            status=Run.Status.WAITING,
            error=pause_reason(pause, resume_at),
            resume_at=resume_at,
            pause={
                "org_id": pause.org.pk,
                "org": pause.org.name,
                "needed": pause.needed,
                "left": pause.left,
                "reserve": pause.reserve,
                "reserve_percent": pause.org.api_reserve_percent,
                "what": pause.what,
                "checked_at": now.isoformat(),
            },
            heartbeat_at=None,
        )
        if paused:
            RunAttempt.objects.filter(run=run, number=run.attempts).update(
                ended_at=now,
                outcome=Run.Status.WAITING,
                outcome_note=f"Paused for API allowance of {pause.org.name}",
            )
            if not run.dry_run:
                run_start_next_on_pair(run_id=run.pk)
    logger.info("run %s waits for API allowance of %s", run.pk, pause.org.name)
    run.refresh_from_db()
    return run


def run_wake_waiting() -> list[int]:
    """Queue the waiting runs due for a look: their time came, the re-check interval
    passed, or the reserve of the org they wait for was lowered. Returns their ids."""
    now = timezone.now()
    recheck = timedelta(seconds=settings.RUN_ALLOWANCE_RECHECK_SECONDS)
    woken = []
    for run in Run.objects.filter(status=Run.Status.WAITING):
        reason = _wake_reason(run, now, recheck)
        if reason is None:
            continue
        with transaction.atomic():
            changed = Run.objects.filter(pk=run.pk, status=Run.Status.WAITING).update(
                status=Run.Status.QUEUED, resume_note=reason
            )
            if changed:
                transaction.on_commit(partial(_enqueue, run.pk))
        if changed:
            woken.append(run.pk)
    return woken


def _wake_reason(run: Run, now: datetime, recheck: timedelta) -> str | None:
    pause = run.pause or {}
    org = Org.objects.filter(pk=pause.get("org_id") or 0).first()
    if org is not None and org.api_reserve_percent < pause.get("reserve_percent", 0):
        return (
            f"{org.name}'s API reserve was lowered to {org.api_reserve_percent}%: "
            "checking the allowance again"
        )
    if run.resume_at is not None and run.resume_at <= now:
        return "Its resume time came: checking the API allowance again"
    checked = pause.get("checked_at")
    if checked and datetime.fromisoformat(checked) + recheck <= now:
        return "Periodic check of the API allowance"
    return None


def allowance_recheck(
    *, run: Run, clients: dict[int, SalesforceClient], orgs: dict[int, Org]
) -> None:
    """A run woken from waiting asks the org it waited for what is left now (one
    /limits call) before spending anything else; AllowancePause if still short."""
    pause = run.pause or {}
    org_id = pause.get("org_id")
    if org_id not in clients:
        return
    usage = clients[org_id].limits()
    org_observe_usage(org_id=org_id, usage=usage)
    needed = pause.get("needed")
    org = orgs[org_id]
    org.refresh_from_db(fields=["api_reserve_percent"])
    # A refusal (needed unknown) waits until some calls above the reserve are free.
    allowance_check(
        org=org,
        usage=usage,
        needed=needed if needed is not None else 1,
        what=pause.get("what") or "its next object",
    )


def _enqueue(run_id: int) -> None:
    from migrations_app.services.leases import enqueue_quietly

    enqueue_quietly(run_id)
