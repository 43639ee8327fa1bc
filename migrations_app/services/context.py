"""What a run carries from batch to batch, and the small helpers batches share."""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from datetime import datetime
from functools import cached_property
from itertools import islice
from typing import TYPE_CHECKING

from migrations_app.engine.planning import MigrationPlan
from migrations_app.engine.strategy import Strategy
from migrations_app.models import Run
from migrations_app.salesforce.client import SalesforceClient

if TYPE_CHECKING:
    from migrations_app.services.retry import RetryBudget

Progress = Callable[[str, int], None]


@dataclass
class RunContext:
    run: Run
    strategy: Strategy
    source: SalesforceClient
    target: SalesforceClient
    target_user_id: str
    plan: MigrationPlan
    progress: Progress | None
    users: dict[str, str] = field(default_factory=dict)
    record_types: dict[str, str] = field(default_factory=dict)
    fallback_owner: str | None = None
    # Source id -> target id of this run's own inserts: how lookups resolve in a `none`
    # run, and (with a placeholder id) how a dry run knows a parent would exist.
    # Only objects that some lookup of the template points to are remembered, so a
    # run's memory grows with its parents, not with everything it inserts.
    run_inserts: dict[str, str] = field(default_factory=dict)
    # Records per sObject whose owner has no user in the target: one warning each
    # object, with the count, rather than one per record.
    owner_fallbacks: Counter[str] = field(default_factory=Counter)
    # This attempt's retry budget for transient faults (services/retry.py).
    retry: RetryBudget | None = None
    # Same-Id matching (issue 14): whether the target is a sandbox (asked once), and
    # per object whether its first probe found source Ids in the target.
    target_is_sandbox: bool | None = None
    same_id_objects: dict[str, bool] = field(default_factory=dict)
    # Repeat runs read only source records changed since then (None: read all).
    changed_since: datetime | None = None
    # When the API call counts were last saved (time.monotonic()), between pages.
    api_calls_saved_at: float = float("-inf")

    @cached_property
    def masking_key(self) -> bytes:
        """The secret masked values derive from (services/masking.py)."""
        from migrations_app.services.masking import masking_key

        return masking_key()

    @cached_property
    def parent_objects(self) -> frozenset[str]:
        """Objects whose inserts lookups point to; files link to theirs too."""
        return frozenset(
            ref
            for plan in self.plan.objects
            for refs in plan.references.values()
            for ref in refs
        ) | {plan.sobject for plan in self.plan.objects if plan.include_files}

    def remember_insert(self, sobject: str, source_id: str, target_id: str) -> None:
        if sobject in self.parent_objects:
            self.run_inserts[source_id] = target_id

    @property
    def writes_mappings(self) -> bool:
        return self.strategy is not Strategy.NONE and not self.run.dry_run

    @property
    def resumed(self) -> bool:
        return self.run.attempts > 1

    def check_cancel(self) -> None:
        run_check_stop(self.run)


def run_check_stop(run: Run) -> None:
    """Stop between pages if a user asked the run to, or if this attempt lost its
    lease (taken as dead and interrupted: it must not write on). One read. Runs and
    rollbacks alike."""
    from migrations_app.services.leases import LeaseLost
    from migrations_app.services.runs import RunCancelled

    row = (
        Run.objects.filter(pk=run.pk)
        .values("cancel_requested_at", "status", "attempts")
        .first()
    )
    if row is None or row["attempts"] != run.attempts:
        raise LeaseLost()
    if row["status"] != Run.Status.RUNNING:
        raise LeaseLost()
    if row["cancel_requested_at"] is not None:
        raise RunCancelled()


def chunked[T](items: Iterable[T], size: int) -> Iterator[list[T]]:
    iterator = iter(items)
    while chunk := list(islice(iterator, size)):
        yield chunk
