"""Whether a run reads every selected source record or only the changed ones. Pure.

A repeat run of the same template on the same org pair reads only what changed since
the pair's last successful run, by SystemModstamp, anchored on the source org's own
clock (read from its answers when that run started). It reads everything when asked,
when there is no such run, when the template changed since (its snapshot's hash), or
when that run is older than the window Salesforce keeps changes replicable for.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from migrations_app.engine.records import values_hash

# Salesforce keeps Get Updated / Get Deleted answers for 30 days; past that, a
# deletion or a change may no longer be visible, so the run reads everything.
REPLICATION_WINDOW = timedelta(days=30)


@dataclass(frozen=True)
class PreviousRun:
    """The pair's last successful run of the template, as the decision needs it."""

    snapshot_hash: str
    # The source org's time when that run started (None for runs before it was kept).
    source_clock: datetime | None
    started_at: datetime


@dataclass(frozen=True)
class ReadPlan:
    since: datetime | None
    reason: str

    @property
    def full(self) -> bool:
        return self.since is None

    def as_dict(self) -> dict[str, Any]:
        return {
            "mode": "full" if self.full else "changed",
            "since": self.since.isoformat() if self.since else None,
            "reason": self.reason,
        }


def snapshot_hash(snapshot: Any) -> str:
    """A stable fingerprint of a template snapshot (objects, fields, filters...)."""
    return values_hash(snapshot)


def read_plan(
    *,
    full_requested: bool,
    snapshot: str,
    previous: PreviousRun | None,
    source_now: datetime,
    overlap: timedelta,
    window: timedelta = REPLICATION_WINDOW,
) -> ReadPlan:
    """Read changes since the previous run's start (less ``overlap``), or everything."""
    if full_requested:
        return ReadPlan(None, "a full run was asked for")
    if previous is None:
        return ReadPlan(None, "no earlier successful run of this template on this pair")
    if previous.snapshot_hash != snapshot:
        return ReadPlan(None, "the template changed since the last successful run")
    # Runs recorded before the org's clock was kept fall back on this server's.
    anchor = previous.source_clock or previous.started_at
    if source_now - anchor > window:
        return ReadPlan(None, "the last successful run is older than 30 days")
    return ReadPlan(anchor - overlap, "only records changed since the last run")
