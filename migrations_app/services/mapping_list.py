"""Reading the mapping table: filters, id search, record links and CSV rows.

Shared by the dashboard's mapping list and the admin's, so both filter and export the
same way.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from itertools import chain
from typing import Any

from django.db.models import Q, QuerySet

from migrations_app.csv_stream import csv_lines
from migrations_app.engine.ids import to_18
from migrations_app.models import MappingAudit, Org, RecordMapping

CSV_COLUMNS = (
    "sobject",
    "source_org",
    "source_id",
    "source_url",
    "target_org",
    "target_id",
    "target_url",
    "status",
    "outdated_reason_code",
    "outdated_at",
    "drift_found_at",
    "drift_modified_by",
    "last_verified_at",
    "created_by_run",
    "last_written_by_run",
    "created_at",
    "updated_at",
)


@dataclass(frozen=True)
class MappingFilters:
    """What the mapping list is filtered by; empty means any."""

    source_org: int | None = None
    target_org: int | None = None
    sobject: str = ""
    status: str = ""
    reason: str = ""
    run: int | None = None
    drifted: bool = False
    search: str = ""


def mapping_list(*, filters: MappingFilters) -> QuerySet[RecordMapping]:
    rows = RecordMapping.objects.select_related("source_org", "target_org")
    exact = {
        "source_org": filters.source_org,
        "target_org": filters.target_org,
        "sobject": filters.sobject,
        "status": filters.status,
        "outdated_reason_code": filters.reason,
    }
    rows = rows.filter(**{name: value for name, value in exact.items() if value})
    if filters.run:
        rows = rows.filter(
            Q(created_by_run=filters.run) | Q(last_written_by_run=filters.run)
        )
    if filters.drifted:
        rows = rows.filter(drift_found_at__isnull=False)
    if filters.search:
        rows = rows.filter(search_condition(filters.search))
    return rows.order_by("sobject", "pk")


def search_condition(text: str) -> Q:
    """An id search: 15- or 18-character ids (reports show 15), either side."""
    record_id = to_18(text)
    if record_id is None:
        return Q(sobject__iexact=text.strip())
    return Q(source_id=record_id) | Q(target_id=record_id)


def record_url(org: Org, record_id: str) -> str:
    """The record in its org: instance URL + id (Salesforce redirects to the page)."""
    if not org.instance_url or not record_id:
        return ""
    return f"{org.instance_url.rstrip('/')}/{record_id}"


def mapping_csv_lines(rows: QuerySet[RecordMapping]) -> Iterator[str]:
    """The rows as CSV text, one line at a time, reading the table in chunks."""
    cells = (_csv_values(mapping) for mapping in rows.iterator(chunk_size=2000))
    return csv_lines(chain([CSV_COLUMNS], cells))


def _csv_values(mapping: RecordMapping) -> Iterable[object]:
    return (
        mapping.sobject,
        mapping.source_org.name,
        mapping.source_id,
        record_url(mapping.source_org, mapping.source_id),
        mapping.target_org.name,
        mapping.target_id,
        record_url(mapping.target_org, mapping.target_id),
        mapping.status,
        mapping.outdated_reason_code,
        _text(mapping.outdated_at),
        _text(mapping.drift_found_at),
        mapping.drift_modified_by,
        _text(mapping.last_verified_at),
        mapping.created_by_run_id or "",
        mapping.last_written_by_run_id or "",
        _text(mapping.created_at),
        _text(mapping.updated_at),
    )


def _text(value: object) -> str:
    return "" if value is None else str(value)


def latest_audit(*, source_org: Org, target_org: Org) -> MappingAudit | None:
    """The pair's most recent audit, whatever its status."""
    return (
        MappingAudit.objects.filter(source_org=source_org, target_org=target_org)
        .order_by("-created_at")
        .first()
    )


def latest_finished_audit(*, source_org: Org, target_org: Org) -> MappingAudit | None:
    return (
        MappingAudit.objects.filter(
            source_org=source_org,
            target_org=target_org,
            status=MappingAudit.Status.SUCCEEDED,
        )
        .order_by("-finished_at")
        .first()
    )


def audit_objects(*, audit: MappingAudit) -> list[dict[str, Any]]:
    """Per object: the audit's counts, how it was checked, and its duplicate groups
    with a link to each record in the target org."""
    rows = []
    for sobject, counts in audit.results.get("objects", {}).items():
        groups = [
            {
                **group,
                "records": [
                    {
                        **record,
                        "url": record_url(audit.target_org, record["id"]),
                        "created": _short_datetime(record["created_date"]),
                    }
                    for record in group["records"]
                ],
            }
            for group in audit.duplicate_groups.get(sobject, [])
        ]
        rows.append(
            {
                "sobject": sobject,
                "counts": counts,
                "outdated_total": sum(counts["outdated"].values()),
                "methods": audit.methods.get(sobject, {}),
                "groups": groups,
            }
        )
    return rows


def _short_datetime(text: str) -> str:
    """ "2026-12-01T14:48:02.000+0000" as "2026-12-01 14:48" (UTC)."""
    return text[:16].replace("T", " ") + (" UTC" if text else "")
