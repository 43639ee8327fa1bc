"""Admin pages of issue 14: schedules (saved through the service, which registers them
with RQ's scheduler), their launch history and the runs' before-images (read-only)."""

from __future__ import annotations

from typing import Any

from django.contrib import admin
from django.core.exceptions import ValidationError
from django.forms import ModelForm
from django.http import HttpRequest

from migrations_app.admin import BaseAdmin, ReadOnlyAdminMixin, SafeJSONField
from migrations_app.models import BeforeImage, Schedule, ScheduleLaunch
from migrations_app.schedule_forms import schedule_data_problems
from migrations_app.services.schedules import schedule_save


class ScheduleLaunchInline(admin.TabularInline[ScheduleLaunch, Schedule]):
    model = ScheduleLaunch
    fields = ("planned_at", "outcome", "run", "audit", "reason", "created_at")
    readonly_fields = fields
    ordering = ("-planned_at",)
    extra = 0
    max_num = 0
    can_delete = False
    show_change_link = False


class ScheduleAdminForm(ModelForm[Schedule]):
    class Meta:
        model = Schedule
        field_classes = {"options": SafeJSONField}
        fields = (
            "name",
            "kind",
            "template",
            "source_org",
            "target_org",
            "strategy",
            "options",
            "cron",
            "interval_seconds",
            "enabled",
        )

    def clean_options(self) -> dict[str, Any]:
        options = self.cleaned_data.get("options")
        if options is None:
            return {}
        if not isinstance(options, dict):
            raise ValidationError('Options are a JSON object, such as {"full": true}.')
        return options

    def clean(self) -> dict[str, Any]:
        data = super().clean() or {}
        for field, message in schedule_data_problems(data).items():
            self.add_error(field, message)
        return data


@admin.register(Schedule)
class ScheduleAdmin(BaseAdmin[Schedule]):
    form = ScheduleAdminForm
    list_display = (
        "name",
        "kind",
        "template",
        "source_org",
        "target_org",
        "timing",
        "enabled",
        "next_launch_at",
    )
    list_filter = ("kind", "enabled")
    list_select_related = ("template", "source_org", "target_org")
    search_fields = ("name", "template__name", "source_org__name", "target_org__name")
    readonly_fields = ("next_launch_at", "created_by", "created_at", "updated_at")
    inlines = (ScheduleLaunchInline,)

    def save_model(
        self,
        request: HttpRequest,
        obj: Schedule,
        form: ModelForm[Schedule],
        change: bool,
    ) -> None:
        """Through the service: audited and registered with RQ's scheduler (the
        form checked what the service would refuse)."""
        schedule_save(schedule=obj, user=request.user)  # type: ignore[arg-type]

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        # Its launch history is kept; disable a schedule instead.
        return False


@admin.register(BeforeImage)
class BeforeImageAdmin(ReadOnlyAdminMixin, BaseAdmin[BeforeImage]):
    list_display = ("run", "sobject", "records", "created_at", "expires_at")
    list_filter = ("sobject",)
    list_select_related = ("run",)
    search_fields = ("=run__id", "sobject")
    raw_id_fields = ("run",)
    fields = ("run", "sobject", "records", "created_at", "expires_at")
    readonly_fields = fields
