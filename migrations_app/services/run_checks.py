"""What a run checks before deciding: mapped target records deleted since the last run.

A veid run would count a record whose mapped target was deleted as unchanged (its values
did not change, so it is not sent). One Get Deleted call per object, for the window since
the pair's last run, finds them first; past Salesforce's 15-day delete log the mapped ids
are checked in bulk instead.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from datetime import datetime

from migrations_app.models import MappingStatus, Run
from migrations_app.salesforce.client import SalesforceClient
from migrations_app.services.mapping_state import (
    Side,
    apply_states,
    deleted_since,
    id_batches,
    inspect_ids,
    mapped_ids,
    org_now,
    pair_mappings,
)


def run_check_target_deleted(
    *, run: Run, target: SalesforceClient, sobject: str
) -> int:
    """Before a veid run decides, mark the mappings whose target record was deleted
    since the pair's last run (one Get Deleted call); return how many were marked.

    The records then fail with TARGET_DELETED when their page is processed, instead of
    being counted unchanged. Past the delete log's 15 days the mapped ids are checked.
    """
    if run.dry_run or run.strategy == "none":
        return 0
    mappings = pair_mappings(run.source_org, run.target_org, sobject).filter(
        status=MappingStatus.ACTIVE
    )
    side = Side("target", target)
    replicated = deleted_since(side, sobject, _previous_run_start(run), org_now(target))
    if replicated is not None:
        batches: Iterable[Sequence[str] | set[str]] = [
            mapped_ids(mappings, side, replicated[0])
        ]
    else:
        batches = id_batches(mappings.values_list("target_id", flat=True))
    marked = 0
    for candidates in batches:
        if not candidates:
            continue
        states = inspect_ids(side, sobject, candidates, with_modifier=False)
        changed = apply_states(mappings, side, states, found_by=f"run {run.pk}")
        marked += changed[side.deleted_code] + changed[side.recycle_bin_code]
    return marked


def _previous_run_start(run: Run) -> datetime | None:
    """When the pair's previous run started, by the target org's clock if it was
    kept (runs.py), else by ours."""
    previous = (
        Run.objects.filter(
            source_org=run.source_org_id,
            target_org=run.target_org_id,
            dry_run=False,
            started_at__isnull=False,
        )
        .exclude(pk=run.pk)
        .order_by("-started_at")
        .values_list("started_at", "report")
        .first()
    )
    if previous is None:
        return None
    started_at, report = previous
    clock = (report or {}).get("target_clock")
    return datetime.fromisoformat(clock) if clock else started_at
