"""Admin pieces for the mapping table and audits: filters, id search, links, CSV.

``RecordMappingAdmin`` (in admin.py) mixes in ``MappingAdminMixin``. Mappings change
only through audited repairs, so the admin lists and exports them, nothing more.
"""

from __future__ import annotations

from typing import Any

from django.contrib import admin
from django.core.exceptions import PermissionDenied
from django.db.models import Q, QuerySet
from django.http import HttpRequest, StreamingHttpResponse
from django.urls import URLPattern, path
from django.utils.html import format_html

from migrations_app.models import MappingAudit, RecordMapping, Run
from migrations_app.services.mapping_list import (
    mapping_csv_lines,
    record_url,
    search_condition,
)

RECENT_RUNS = 30


class MappingRunFilter(admin.SimpleListFilter):
    """The run that created or last wrote each mapping (the latest runs)."""

    title = "run (created or last wrote)"
    parameter_name = "run"

    def lookups(self, request: HttpRequest, model_admin: Any) -> list[tuple[str, str]]:
        runs = Run.objects.select_related("source_org", "target_org").order_by("-pk")
        return [(str(run.pk), str(run)) for run in runs[:RECENT_RUNS]]

    def queryset(
        self, request: HttpRequest, queryset: QuerySet[Any]
    ) -> QuerySet[Any] | None:
        value = self.value()
        if not value or not value.isdigit():
            return queryset
        return queryset.filter(Q(created_by_run=value) | Q(last_written_by_run=value))


class MappingAdminMixin(admin.ModelAdmin[RecordMapping]):
    """List, filter, search (15- or 18-character ids), link and export mappings."""

    list_display = (
        "sobject",
        "source_link",
        "target_link",
        "source_org",
        "target_org",
        "status",
        "outdated_reason_code",
        "drift_found_at",
        "created_by_run",
        "last_written_by_run",
        "last_verified_at",
    )
    list_filter = (
        "status",
        "outdated_reason_code",
        "sobject",
        "source_org",
        "target_org",
        MappingRunFilter,
    )
    list_select_related = (
        "source_org",
        "target_org",
        "created_by_run",
        "last_written_by_run",
    )
    search_fields = ("=source_id", "=target_id")
    search_help_text = "A source or target record id, 15 or 18 characters."
    raw_id_fields = ("created_by_run", "last_written_by_run")
    change_list_template = "admin/migrations_app/recordmapping/change_list.html"

    @admin.display(description="source id", ordering="source_id")
    def source_link(self, obj: RecordMapping) -> str:
        return _link(record_url(obj.source_org, obj.source_id), obj.source_id)

    @admin.display(description="target id", ordering="target_id")
    def target_link(self, obj: RecordMapping) -> str:
        return _link(record_url(obj.target_org, obj.target_id), obj.target_id)

    def get_search_results(
        self, request: HttpRequest, queryset: QuerySet[RecordMapping], search_term: str
    ) -> tuple[QuerySet[RecordMapping], bool]:
        if not search_term.strip():
            return queryset, False
        return queryset.filter(search_condition(search_term)), False

    def get_urls(self) -> list[URLPattern]:
        export = path(
            "export.csv",
            self.admin_site.admin_view(self.export_csv),
            name="migrations_app_recordmapping_export",
        )
        return [export, *super().get_urls()]

    def export_csv(self, request: HttpRequest) -> StreamingHttpResponse:
        """The list as filtered and searched in the admin, streamed as CSV."""
        if not self.has_view_permission(request):
            raise PermissionDenied
        changelist = self.get_changelist_instance(request)
        rows = changelist.get_queryset(request).select_related(
            "source_org", "target_org"
        )
        response = StreamingHttpResponse(
            mapping_csv_lines(rows), content_type="text/csv"
        )
        response["Content-Disposition"] = 'attachment; filename="mappings.csv"'
        return response


def _link(url: str, text: str) -> str:
    if not url:
        return text
    return format_html(
        '<a href="{}" target="_blank" rel="noopener noreferrer">{}</a>', url, text
    )


@admin.register(MappingAudit)
class MappingAuditAdmin(admin.ModelAdmin[MappingAudit]):
    """Audits are history: viewable, never added, edited or deleted here."""

    list_display = (
        "pk",
        "source_org",
        "target_org",
        "sobject",
        "status",
        "progress",
        "source_api_calls",
        "target_api_calls",
        "requested_by",
        "created_at",
        "finished_at",
    )
    list_filter = ("status", "source_org", "target_org")
    list_select_related = ("source_org", "target_org", "requested_by")

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False
