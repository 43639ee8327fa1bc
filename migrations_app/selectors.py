"""Read queries shared by commands, admin and dashboard."""

from __future__ import annotations

from typing import Any

from migrations_app.models import Run


def run_result(*, run: Run) -> dict[str, Any]:
    """The outcome of a run in the shape `run_migration --json` prints."""
    objects = {
        stat.sobject: stat.outcome_counts()
        for stat in run.object_stats.order_by("position")
    }
    return {
        "run_id": run.pk,
        "status": run.status,
        "dry_run": run.dry_run,
        "objects": objects,
        "totals": run.outcome_counts(),
        "api_calls": {"source": run.source_api_calls, "target": run.target_api_calls},
        "error": run.error,
    }
