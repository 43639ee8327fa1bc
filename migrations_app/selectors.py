"""Read queries shared by commands, admin and dashboard."""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from typing import Any

from django.db.models import Count, Max, Q, QuerySet, Sum
from django.utils import timezone

from migrations_app.models import Org, RecordIssue, RecordMapping, Run, RunObjectStat


def run_result(*, run: Run) -> dict[str, Any]:
    """The outcome of a run in the shape `run_migration --json` prints."""
    stats = list(run.object_stats.order_by("position"))
    objects = {stat.sobject: stat.outcome_counts() for stat in stats}
    return {
        "run_id": run.pk,
        "status": run.status,
        "dry_run": run.dry_run,
        "objects": objects,
        "totals": run.outcome_counts(),
        # Files and attachments of objects with include_files: counts and bytes sent.
        "files": {s.sobject: s.notes["files"] for s in stats if s.notes.get("files")},
        "api_calls": {"source": run.source_api_calls, "target": run.target_api_calls},
        # Whether the run read every selected record or only the changed ones, and why.
        "read": (run.report or {}).get("read"),
        "error": run.error,
    }


# Not ended yet: a waiting run goes on by itself once its API allowance frees.
ACTIVE_STATUSES = (Run.Status.QUEUED, Run.Status.RUNNING, Run.Status.WAITING)


@dataclass(frozen=True)
class OrgSummary:
    org: Org
    api_calls_left: int | None
    api_calls_seen_at: datetime | None


def org_summaries() -> list[OrgSummary]:
    """Each org with the API allowance it had left when a run last spoke to it."""
    summaries = []
    for org in Org.objects.order_by("name"):
        latest = (
            Run.objects.filter(Q(source_org=org) | Q(target_org=org))
            .exclude(finished_at=None, heartbeat_at=None)
            .order_by("-updated_at")
            .first()
        )
        left = None
        if latest is not None:
            left = (
                latest.target_api_remaining
                if latest.target_org_id == org.pk
                else latest.source_api_remaining
            )
        summaries.append(
            OrgSummary(org, left, latest.updated_at if latest and left else None)
        )
    return summaries


def run_list(
    *,
    source_org: int | None = None,
    target_org: int | None = None,
    template: int | None = None,
    status: str | None = None,
    since: date | None = None,
    until: date | None = None,
) -> QuerySet[Run]:
    runs = Run.objects.select_related("source_org", "target_org", "template")
    filters = {
        "source_org": source_org,
        "target_org": target_org,
        "template": template,
        "status": status,
        "created_at__date__gte": since,
        "created_at__date__lte": until,
    }
    return runs.filter(
        **{name: value for name, value in filters.items() if value not in (None, "")}
    ).order_by("-created_at", "-pk")


def active_runs() -> QuerySet[Run]:
    return (
        Run.objects.filter(status__in=ACTIVE_STATUSES)
        .select_related("source_org", "target_org", "template", "waiting_for")
        .order_by("created_at")
    )


@dataclass(frozen=True)
class ObjectProgress:
    stat: RunObjectStat

    @property
    def done(self) -> int:
        return self.stat.selected

    @property
    def percent(self) -> int:
        expected = self.stat.expected
        if self.stat.completed_at is not None or expected == 0:
            return 100
        if not expected:
            return 0
        return min(100, round(100 * self.stat.selected / expected))


@dataclass(frozen=True)
class RunProgress:
    run: Run
    objects: list[ObjectProgress]

    @property
    def duration(self) -> timedelta | None:
        if self.run.started_at is None:
            return None
        end = self.run.finished_at or timezone.now()
        return end - self.run.started_at

    @property
    def duration_text(self) -> str:
        duration = self.duration
        if duration is None:
            return "—"
        seconds = duration.total_seconds()
        if seconds < 60:
            return f"{seconds:.1f} s"
        minutes, seconds = divmod(round(seconds), 60)
        hours, minutes = divmod(minutes, 60)
        return (
            f"{hours} h {minutes:02d} min"
            if hours
            else f"{minutes} min {seconds:02d} s"
        )

    @property
    def records_per_second(self) -> float | None:
        duration = self.duration
        if not duration or duration.total_seconds() < 0.001:
            return None
        return self.run.selected / duration.total_seconds()


def run_progress(*, run: Run) -> RunProgress:
    stats = list(run.object_stats.order_by("position"))
    return RunProgress(run, [ObjectProgress(stat) for stat in stats])


def run_issue_groups(*, run: Run) -> list[dict[str, Any]]:
    """The run's record issues counted by object, kind and error code."""
    groups = (
        run.issues.values("sobject", "kind", "error_code")
        .annotate(records=Sum("count"), rows=Count("id"))
        .order_by("sobject", "kind", "error_code")
    )
    return [dict(group) for group in groups]


def run_issues(
    *,
    run: Run,
    sobject: str = "",
    kind: str = "",
    error_code: str = "",
    search: str = "",
) -> QuerySet[RecordIssue]:
    issues = run.issues.order_by("id")
    if sobject:
        issues = issues.filter(sobject=sobject)
    if kind:
        issues = issues.filter(kind=kind)
    if error_code:
        issues = issues.filter(error_code=error_code)
    if search:
        issues = issues.filter(
            Q(source_id__startswith=search)
            | Q(target_id__startswith=search)
            | Q(message__icontains=search)
        )
    return issues


SUCCESS_CSV_HEADER = ("object", "source_id", "target_id", "action")
ERRORS_CSV_HEADER = (
    "object",
    "source_id",
    "target_id",
    "kind",
    "error_code",
    "message",
    "fields",
    "values",
)


def run_success_rows(*, run: Run) -> Iterator[tuple[str, ...]]:
    """The success file's rows, read in chunks so memory stays flat at any size."""
    yield SUCCESS_CSV_HEADER
    rows = run.results.order_by("id").values_list(
        "sobject", "source_id", "target_id", "action"
    )
    yield from rows.iterator(chunk_size=2000)


def run_error_rows(*, run: Run) -> Iterator[tuple[str, ...]]:
    yield ERRORS_CSV_HEADER
    rows = run.issues.order_by("id").values_list(
        "sobject",
        "source_id",
        "target_id",
        "kind",
        "error_code",
        "message",
        "fields",
        "values",
    )
    for (
        sobject,
        source_id,
        target_id,
        kind,
        code,
        message,
        fields,
        values,
    ) in rows.iterator(chunk_size=2000):
        yield (
            sobject,
            source_id,
            target_id,
            kind,
            code,
            message,
            ";".join(fields or []),
            json.dumps(values, sort_keys=True) if values else "",
        )


def pair_history(*, source: Org, target: Org, limit: int = 30) -> list[Run]:
    """The pair's latest runs that wrote, oldest first (for its chart)."""
    runs = Run.objects.filter(
        source_org=source, target_org=target, dry_run=False
    ).order_by("-created_at")[:limit]
    return list(reversed(runs))


def pair_mapping_counts(*, source: Org, target: Org) -> list[dict[str, Any]]:
    counts = (
        RecordMapping.objects.filter(source_org=source, target_org=target)
        .values("sobject")
        .annotate(
            total=Count("id"),
            active=Count("id", filter=Q(status=RecordMapping.Status.ACTIVE)),
            outdated=Count("id", filter=Q(status=RecordMapping.Status.OUTDATED)),
        )
        .order_by("sobject")
    )
    return [dict(row) for row in counts]


def known_pairs(*, limit: int = 10) -> list[tuple[Org, Org]]:
    """The (source, target) pairs runs used, the most recently used first."""
    latest = (
        Run.objects.values("source_org", "target_org")
        .annotate(last_run=Max("created_at"))
        .order_by("-last_run")[:limit]
    )
    pairs = [(row["source_org"], row["target_org"]) for row in latest]
    orgs = Org.objects.in_bulk({org_id for pair in pairs for org_id in pair})
    return [(orgs[source], orgs[target]) for source, target in pairs]
