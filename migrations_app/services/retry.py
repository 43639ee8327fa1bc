"""Retrying transient Salesforce faults inside a run (issue 11, item 1).

A run gets a budget of retries per attempt. Each retry waits base * 2^n seconds, at
most ``RUN_RETRY_MAX_SECONDS``, with "full jitter" (a random share of that wait) so
that several runs hit by the same outage do not come back in step. Reads are simply
repeated; a write whose answer was lost is settled by the batch code (reconcile the
journal entry, send only what is missing) and spends from the same budget. Only a
spent budget stops the run, as ``interrupted`` with cause ``retry_budget``, which the
sweep resumes automatically.
"""

from __future__ import annotations

import logging
import random
import threading
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TypeVar

from django.conf import settings
from django.db.models import F

from migrations_app.models import Run
from migrations_app.salesforce.errors import SalesforceError, is_retryable
from migrations_app.services.errors import MigrationError

logger = logging.getLogger(__name__)

T = TypeVar("T")


class RetryBudgetSpent(MigrationError):
    """Transient faults went on longer than the run's retry budget allows."""

    def __init__(self, budget: int, last_error: str) -> None:
        super().__init__(
            f"Stopped after {budget} retries, the run's retry budget, all spent on "
            f"transient faults (last: {last_error}). It resumes by itself.",
            permanent=False,
        )


def fault_kind(error: SalesforceError) -> str:
    """A short name of the fault, for the run's report: "503", "TRANSPORT", ..."""
    return error.code or str(error.status or "error")


@dataclass
class RetryBudget:
    """Spends retries for one attempt of a run; plain Python, so the client can use it.

    ``on_retry`` records each retry (the run's counter); ``sleep`` and ``jitter`` are
    injectable so tests need no wall-clock waits.
    """

    budget: int
    base_seconds: float
    max_seconds: float
    on_retry: Callable[[str], None] = lambda kind: None
    sleep: Callable[[float], None] = time.sleep
    jitter: Callable[[], float] = random.random
    spent: int = 0
    by_kind: Counter[str] = field(default_factory=Counter)
    # ``on_retry`` may touch the database, which stays on the thread that made the
    # budget: a retry spent on another thread (the source read-ahead) is kept here
    # until that thread calls ``flush``.
    owner: int = field(default_factory=threading.get_ident)
    deferred: list[str] = field(default_factory=list)

    def run(self, call: Callable[[], T], *, what: str) -> T:
        """Call until it succeeds; retry transient faults while the budget lasts."""
        while True:
            try:
                return call()
            except SalesforceError as error:
                if not is_retryable(error):
                    raise
                self.spend(error, what=what)

    def spend(self, error: SalesforceError, *, what: str) -> None:
        """Take one retry and wait before it; RetryBudgetSpent when none is left."""
        if self.spent >= self.budget:
            raise RetryBudgetSpent(self.budget, error.message) from error
        self.spent += 1
        kind = fault_kind(error)
        self.by_kind[kind] += 1
        if threading.get_ident() == self.owner:
            self.flush()
            self.on_retry(kind)
        else:
            self.deferred.append(kind)
        delay = self.delay(self.spent)
        logger.info(
            "%s failed transiently (%s); retry %s of %s in %.2fs",
            what,
            kind,
            self.spent,
            self.budget,
            delay,
        )
        self.sleep(delay)

    def flush(self) -> None:
        """Record the retries other threads spent (on the budget's own thread)."""
        while self.deferred:
            self.on_retry(self.deferred.pop(0))

    def delay(self, attempt: int) -> float:
        """Full jitter: uniform between 0 and the capped exponential backoff."""
        ceiling = min(self.max_seconds, self.base_seconds * 2 ** (attempt - 1))
        return ceiling * self.jitter()


def retry_budget_for(run: Run) -> RetryBudget:
    """A fresh budget for this attempt of ``run``, from the settings; every retry is
    counted on the run (shown on its page and in its report)."""

    def count(kind: str) -> None:
        Run.objects.filter(pk=run.pk).update(retries_spent=F("retries_spent") + 1)

    return RetryBudget(
        budget=settings.RUN_RETRY_BUDGET,
        base_seconds=settings.RUN_RETRY_BASE_SECONDS,
        max_seconds=settings.RUN_RETRY_MAX_SECONDS,
        on_retry=count,
    )


def retry_report(budget: RetryBudget) -> dict[str, object]:
    """The run report's "retries" entry for this attempt."""
    return {
        "spent": budget.spent,
        "budget": budget.budget,
        "base_seconds": budget.base_seconds,
        "max_seconds": budget.max_seconds,
        "by_kind": dict(budget.by_kind),
    }
