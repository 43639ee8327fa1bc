"""The web admin: orgs, templates, runs, mappings and what runs recorded.

Admin classes are interfaces: they render and call services. Everything a run writes is
read-only here, runs are not created through the add form, and credentials are
write-only (never rendered back, listed or searchable).
"""

from __future__ import annotations

from typing import Any

from django import forms
from django.contrib import admin, messages
from django.db.models import QuerySet
from django.http import HttpRequest

from migrations_app.models import (
    AuditEvent,
    Org,
    RecordIssue,
    RecordMapping,
    Run,
    RunObjectStat,
    Template,
    TemplateObject,
    WriteJournal,
)
from migrations_app.services import orgs as org_services
from migrations_app.services.errors import MigrationError

SECRET_FIELDS = ("client_secret", "refresh_token", "access_token", "private_key")


class ReadOnlyAdminMixin:
    """For rows only the engine writes: viewable, never added or edited by hand."""

    def has_add_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False


class OrgAdminForm(forms.ModelForm[Org]):
    """Org form whose secret inputs are write-only: blank keeps the stored value."""

    client_secret = forms.CharField(
        required=False,
        widget=forms.PasswordInput(render_value=False),
        help_text="Connected app consumer secret. Leave blank to keep the stored one.",
    )
    private_key = forms.CharField(
        required=False,
        widget=forms.Textarea(attrs={"rows": 4, "autocomplete": "off"}),
        help_text="PEM private key for the JWT bearer flow. Leave blank to keep it.",
    )
    access_token = forms.CharField(
        required=False,
        widget=forms.PasswordInput(render_value=False),
        help_text="Only for the access-token method. Leave blank to keep it.",
    )
    clear_credentials = forms.BooleanField(
        required=False, help_text="Forget every stored secret of this org."
    )

    class Meta:
        model = Org
        fields = (
            "name",
            "environment",
            "login_url",
            "auth_method",
            "client_id",
            "username",
            "ca_file",
            "api_version",
        )

    def save(self, commit: bool = True) -> Org:
        org = super().save(commit=False)
        if self.cleaned_data.get("clear_credentials"):
            org.set_credentials({})
        else:
            # A blank input means "keep what is stored", never "erase".
            new_secrets = {
                name: self.cleaned_data[name]
                for name in ("client_secret", "private_key", "access_token")
                if self.cleaned_data.get(name)
            }
            org.set_credentials({**org.credentials, **new_secrets})
        if commit:
            org.save()
        return org


@admin.register(Org)
class OrgAdmin(admin.ModelAdmin[Org]):
    form = OrgAdminForm
    list_display = (
        "name",
        "environment",
        "organization_id",
        "username",
        "auth_method",
        "connection_status",
        "last_checked_at",
    )
    list_filter = ("environment", "auth_method", "connection_status")
    search_fields = ("name", "organization_id", "username", "instance_url")
    readonly_fields = (
        "instance_url",
        "organization_id",
        "connection_status",
        "connection_error",
        "last_checked_at",
        "has_stored_credentials",
        "created_at",
        "updated_at",
    )
    fieldsets = (
        (None, {"fields": ("name", "environment", "login_url", "api_version", "ca_file")}),
        (
            "Authentication",
            {
                "fields": (
                    "auth_method",
                    "client_id",
                    "username",
                    "client_secret",
                    "private_key",
                    "access_token",
                    "clear_credentials",
                    "has_stored_credentials",
                )
            },
        ),
        (
            "Connection",
            {
                "fields": (
                    "instance_url",
                    "organization_id",
                    "connection_status",
                    "connection_error",
                    "last_checked_at",
                    "created_at",
                    "updated_at",
                )
            },
        ),
    )
    actions = ("check_connection",)

    @admin.display(description="Stored credentials", boolean=True)
    def has_stored_credentials(self, obj: Org) -> bool:
        return obj.has_credentials

    def lookup_allowed(self, lookup: str, value: str, request: HttpRequest) -> bool:
        if lookup.startswith(("credentials", *SECRET_FIELDS)):
            return False
        return super().lookup_allowed(lookup, value, request)

    @admin.action(description="Check connection", permissions=["change"])
    def check_connection(self, request: HttpRequest, queryset: QuerySet[Org]) -> None:
        for org in queryset:
            try:
                org_services.org_check_connection(org=org)
            except MigrationError as exc:
                self.message_user(request, f"{org.name}: {exc}", messages.ERROR)
            else:
                self.message_user(
                    request,
                    f"{org.name}: connected to {org.organization_id} as {org.username}",
                    messages.SUCCESS,
                )


class TemplateObjectInline(admin.StackedInline[TemplateObject, Template]):
    model = TemplateObject
    extra = 0
    fields = ("position", "sobject", "fields", "filter", "match_key", "missing_parent_policy", "options")
    ordering = ("position",)


@admin.register(Template)
class TemplateAdmin(admin.ModelAdmin[Template]):
    list_display = ("name", "object_list", "updated_at")
    search_fields = ("name", "description", "template_objects__sobject")
    inlines = (TemplateObjectInline,)
    readonly_fields = ("created_at", "updated_at")

    def get_queryset(self, request: HttpRequest) -> QuerySet[Template]:
        return super().get_queryset(request).prefetch_related("template_objects")

    @admin.display(description="Objects")
    def object_list(self, obj: Template) -> str:
        return ", ".join(item.sobject for item in obj.template_objects.all())


class RunObjectStatInline(admin.TabularInline[RunObjectStat, Run]):
    model = RunObjectStat
    extra = 0
    can_delete = False
    fields = ("sobject", *RunObjectStat.OUTCOMES)
    readonly_fields = fields

    def has_add_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False


@admin.register(Run)
class RunAdmin(ReadOnlyAdminMixin, admin.ModelAdmin[Run]):
    list_display = (
        "id",
        "template",
        "source_org",
        "target_org",
        "strategy",
        "dry_run",
        "status",
        "inserted",
        "updated",
        "adopted",
        "failed",
        "created_at",
    )
    list_filter = ("status", "strategy", "dry_run", "source_org", "target_org")
    list_select_related = ("template", "source_org", "target_org")
    search_fields = ("=id", "template__name", "source_org__name", "target_org__name")
    date_hierarchy = "created_at"
    inlines = (RunObjectStatInline,)

@admin.register(RecordMapping)
class RecordMappingAdmin(ReadOnlyAdminMixin, admin.ModelAdmin[RecordMapping]):
    list_display = (
        "sobject",
        "source_id",
        "target_id",
        "source_org",
        "target_org",
        "status",
        "last_written_by_run",
        "updated_at",
    )
    list_filter = ("status", "sobject", "source_org", "target_org")
    list_select_related = ("source_org", "target_org")
    search_fields = ("=source_id", "=target_id", "sobject")
    raw_id_fields = ("created_by_run", "last_written_by_run")


@admin.register(RecordIssue)
class RecordIssueAdmin(ReadOnlyAdminMixin, admin.ModelAdmin[RecordIssue]):
    list_display = ("run", "kind", "sobject", "source_id", "target_id", "error_code", "message")
    list_filter = ("kind", "error_code", "sobject")
    list_select_related = ("run",)
    search_fields = ("=source_id", "=target_id", "error_code", "message")
    raw_id_fields = ("run",)


@admin.register(WriteJournal)
class WriteJournalAdmin(ReadOnlyAdminMixin, admin.ModelAdmin[WriteJournal]):
    list_display = ("run", "sobject", "operation", "state", "created_at", "resolved_at")
    list_filter = ("state", "operation", "sobject")
    list_select_related = ("run",)
    search_fields = ("=run__id", "bulk_job_id")
    raw_id_fields = ("run",)


@admin.register(AuditEvent)
class AuditEventAdmin(ReadOnlyAdminMixin, admin.ModelAdmin[AuditEvent]):
    list_display = ("created_at", "action", "actor", "org", "run")
    list_filter = ("action",)
    list_select_related = ("actor", "org", "run")
    search_fields = ("action", "=run__id")
    date_hierarchy = "created_at"

