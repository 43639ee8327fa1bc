"""The web admin: orgs, templates, runs, mappings and what runs recorded.

Admin classes are interfaces: they render and call services. Everything a run writes is
read-only here, runs are not created through the add form, and credentials are
write-only (never rendered back, listed or searchable).
"""

from __future__ import annotations

import io
import zipfile
from http import HTTPStatus
from typing import Any

from django import forms
from django.contrib import admin, messages
from django.core.exceptions import NON_FIELD_ERRORS, PermissionDenied, ValidationError
from django.db.models import Case, QuerySet, When
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.shortcuts import redirect
from django.template.response import TemplateResponse
from django.urls import URLPattern, path, reverse
from django.utils.html import format_html
from django.utils.http import content_disposition_header
from django.utils.text import slugify
from django.utils.translation import ngettext

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
from migrations_app.salesforce.errors import SalesforceError
from migrations_app.services import orgs as org_services
from migrations_app.services import templates as template_services
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
        (
            None,
            {"fields": ("name", "environment", "login_url", "api_version", "ca_file")},
        ),
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
                # The message already names the org.
                self.message_user(request, exc.message, messages.ERROR)
            else:
                self.message_user(
                    request,
                    f"{org.name}: connected to {org.organization_id} as {org.username}",
                    messages.SUCCESS,
                )


class TemplateObjectForm(forms.ModelForm[TemplateObject]):
    """One template object; API names and the filter are checked when it is saved."""

    class Meta:
        model = TemplateObject
        fields = ("position", *template_services.OBJECT_KEYS)
        # The classes let template_pickers.js find the inputs it fills; without
        # JavaScript they remain plain text inputs holding JSON lists.
        widgets = {
            "sobject": forms.TextInput(
                attrs={"class": "dm-sobject-input", "autocomplete": "off"}
            ),
            "fields": forms.Textarea(attrs={"class": "dm-fields-input", "rows": 3}),
            "match_key": forms.Textarea(
                attrs={"class": "dm-match-key-input", "rows": 1}
            ),
            "filter": forms.Textarea(attrs={"rows": 2}),
            "options": forms.Textarea(attrs={"rows": 1}),
        }
        help_texts = {
            "fields": 'JSON list of field API names, e.g. ["FirstName", "Email"].',
            "match_key": 'JSON list of fields among those copied, e.g. ["Email"].',
            "filter": "SOQL WHERE condition without WHERE, e.g. "
            "Email != null AND CreatedDate = LAST_N_DAYS:30",
        }

    def clean(self) -> dict[str, Any]:
        super().clean()
        cleaned = self.cleaned_data
        values = {
            key: cleaned[key] for key in template_services.OBJECT_KEYS if key in cleaned
        }
        try:
            cleaned.update(template_services.template_object_validate(data=values))
        except ValidationError as exc:
            for key, errors in exc.message_dict.items():
                # An input that failed its own validation already shows why.
                if key == NON_FIELD_ERRORS or not self.has_error(key):
                    self.add_error(None if key == NON_FIELD_ERRORS else key, errors)
        return cleaned


class TemplateObjectFormSet(
    forms.BaseInlineFormSet[TemplateObject, Template, forms.ModelForm[TemplateObject]]
):
    def clean(self) -> None:
        super().clean()
        sobjects = [
            form.cleaned_data.get("sobject", "")
            for form in self.forms
            if form.cleaned_data and not form.cleaned_data.get("DELETE")
        ]
        template_services.template_sobjects_validate(sobjects=sobjects)


class TemplateObjectInline(admin.StackedInline[TemplateObject, Template]):
    model = TemplateObject
    form = TemplateObjectForm
    formset = TemplateObjectFormSet
    extra = 0
    ordering = ("position",)


class DescribeOrgField(forms.ModelChoiceField[Org]):
    def label_from_instance(self, obj: Org) -> str:
        if obj.connection_status == Org.ConnectionStatus.CONNECTED:
            return obj.name
        return f"{obj.name} ({obj.get_connection_status_display().lower()})"


class TemplateAdminForm(forms.ModelForm[Template]):
    """The template, plus an org whose describe feeds the pickers (never saved)."""

    describe_org = DescribeOrgField(
        queryset=Org.objects.none(),
        required=False,
        help_text="Fills the sObject and field pickers of the objects below with "
        "this org's describe. Not saved: a template works with any org pair.",
    )

    class Meta:
        model = Template
        fields = ("name", "description")

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        field = self.fields["describe_org"]
        assert isinstance(field, DescribeOrgField)
        connected_first = Case(
            When(connection_status=Org.ConnectionStatus.CONNECTED, then=0), default=1
        )
        field.queryset = Org.objects.order_by(connected_first, "name")
        first = field.queryset.first()
        if first and first.connection_status == Org.ConnectionStatus.CONNECTED:
            field.initial = first.pk
        field.widget.attrs.update(
            {
                "class": "dm-describe-org",
                "data-describe-url": reverse("admin:migrations_app_template_describe"),
            }
        )


class TemplateImportForm(forms.Form):
    file = forms.FileField(
        label="Template file",
        help_text="A JSON file written by “Export as JSON” or `manage.py "
        "template_export`.",
    )
    replace = forms.BooleanField(
        required=False,
        label="Replace a template with the same name",
        help_text="Its objects are replaced; past runs keep their own copy.",
    )

    def clean_file(self) -> str:
        upload = self.cleaned_data["file"]
        if upload.size > TEMPLATE_IMPORT_MAX_BYTES:
            raise ValidationError(
                f"The file is {upload.size // 1024} KB; a template file is at most "
                f"{TEMPLATE_IMPORT_MAX_BYTES // 1024} KB."
            )
        try:
            return str(upload.read().decode("utf-8"))
        except UnicodeDecodeError as exc:
            raise ValidationError(
                f"The file is not UTF-8 text (invalid byte at offset {exc.start})."
            ) from exc


@admin.register(Template)
class TemplateAdmin(admin.ModelAdmin[Template]):
    form = TemplateAdminForm
    list_display = ("name", "object_list", "updated_at")
    search_fields = ("name", "description", "template_objects__sobject")
    inlines = (TemplateObjectInline,)
    readonly_fields = ("created_at", "updated_at")
    actions = ("export_json",)
    fieldsets = (
        (None, {"fields": ("name", "description")}),
        ("Field pickers", {"fields": ("describe_org",)}),
        ("History", {"fields": ("created_at", "updated_at"), "classes": ("collapse",)}),
    )

    class Media:
        css = {"all": ("migrations_app/admin/template_pickers.css",)}
        js = ("migrations_app/admin/template_pickers.js",)

    def get_queryset(self, request: HttpRequest) -> QuerySet[Template]:
        return super().get_queryset(request).prefetch_related("template_objects")

    def get_fieldsets(self, request: HttpRequest, obj: Template | None = None) -> Any:
        fieldsets = super().get_fieldsets(request, obj)
        if self._may_edit(request):
            return fieldsets
        return [item for item in fieldsets if item[0] != "Field pickers"]

    def get_urls(self) -> list[URLPattern]:
        prefix = f"{self.opts.app_label}_{self.opts.model_name}"
        own = [
            path(
                "import/",
                self.admin_site.admin_view(self.import_view),
                name=f"{prefix}_import",
            ),
            path(
                "describe/",
                self.admin_site.admin_view(self.describe_view),
                name=f"{prefix}_describe",
            ),
        ]
        return own + super().get_urls()

    @admin.display(description="Objects")
    def object_list(self, obj: Template) -> str:
        return ", ".join(item.sobject for item in obj.template_objects.all())

    @admin.action(description="Export as JSON", permissions=["view"])
    def export_json(
        self, request: HttpRequest, queryset: QuerySet[Template]
    ) -> HttpResponse:
        templates = list(queryset.order_by("name"))
        if len(templates) == 1:
            text = template_services.template_export_json(template=templates[0])
            return _download(
                text.encode(), _export_filename(templates[0]), "application/json"
            )
        return _download(_export_zip(templates), "templates.zip", "application/zip")

    def import_view(self, request: HttpRequest) -> HttpResponse:
        if not self.has_add_permission(request):
            raise PermissionDenied
        form = TemplateImportForm(request.POST or None, request.FILES or None)
        if request.method == "POST" and form.is_valid():
            template = self._import(request, form)
            if template is not None:
                return redirect("admin:migrations_app_template_change", template.pk)
        context = {
            **self.admin_site.each_context(request),
            "opts": self.opts,
            "title": "Import template",
            "form": form,
            "example": TEMPLATE_EXAMPLE,
        }
        return TemplateResponse(
            request, "admin/migrations_app/template/import_form.html", context
        )

    def _import(
        self, request: HttpRequest, form: TemplateImportForm
    ) -> Template | None:
        replace = form.cleaned_data["replace"]
        if replace and not self.has_change_permission(request):
            form.add_error("replace", "You may not change existing templates.")
            return None
        try:
            template = template_services.template_import(
                data=form.cleaned_data["file"], replace=replace
            )
        except ValidationError as exc:
            form.add_error("file", exc.messages)
            return None
        count = template.template_objects.count()
        self.message_user(
            request,
            f"Imported template “{template.name}” with "
            + ngettext("%d object.", "%d objects.", count) % count,
            messages.SUCCESS,
        )
        return template

    def describe_view(self, request: HttpRequest) -> JsonResponse:
        """JSON for the pickers: ?org=<id> lists sObjects, &sobject=<name> fields."""
        if request.method != "GET":
            return _json_error("Use GET.", HTTPStatus.METHOD_NOT_ALLOWED)
        if not self._may_edit(request):
            return _json_error("You may not edit templates.", HTTPStatus.FORBIDDEN)
        org_id = request.GET.get("org", "")
        if not (org_id.isascii() and org_id.isdigit()):
            return _json_error("Choose an org first.", HTTPStatus.BAD_REQUEST)
        org = Org.objects.filter(pk=int(org_id)).first()
        if org is None:
            return _json_error(f"There is no org {org_id}.", HTTPStatus.NOT_FOUND)
        sobject = request.GET.get("sobject", "").strip()
        try:
            payload = _describe_payload(org, sobject)
        except ValidationError as exc:
            return _json_error(" ".join(exc.messages), HTTPStatus.BAD_REQUEST)
        except (MigrationError, SalesforceError) as exc:
            return _json_error(exc.message, HTTPStatus.BAD_GATEWAY)
        return JsonResponse({"org": {"id": org.pk, "name": org.name}, **payload})

    def _may_edit(self, request: HttpRequest) -> bool:
        return self.has_add_permission(request) or self.has_change_permission(request)


TEMPLATE_IMPORT_MAX_BYTES = 1024 * 1024
TEMPLATE_EXAMPLE = """{
  "name": "Contacts",
  "objects": [
    {"sobject": "Contact", "fields": ["FirstName", "LastName", "Email"],
     "filter": "", "match_key": ["Email"]}
  ]
}"""


def _describe_payload(org: Org, sobject: str) -> dict[str, object]:
    if sobject:
        fields = template_services.template_picker_fields(org=org, sobject=sobject)
        return {"sobject": sobject, "fields": fields}
    return {"sobjects": template_services.template_picker_sobjects(org=org)}


def _json_error(message: str, status: HTTPStatus) -> JsonResponse:
    return JsonResponse({"error": message}, status=status)


def _export_filename(template: Template) -> str:
    return f"{slugify(template.name) or f'template-{template.pk}'}.json"


def _export_zip(templates: list[Template]) -> bytes:
    buffer = io.BytesIO()
    used: set[str] = set()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        for template in templates:
            name = _export_filename(template)
            if name in used:
                name = f"{name.removesuffix('.json')}-{template.pk}.json"
            used.add(name)
            archive.writestr(
                name, template_services.template_export_json(template=template)
            )
    return buffer.getvalue()


def _download(content: bytes, filename: str, content_type: str) -> HttpResponse:
    response = HttpResponse(content, content_type=content_type)
    response["Content-Disposition"] = content_disposition_header(
        as_attachment=True, filename=filename
    )
    return response


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
    fieldsets = (
        (
            None,
            {
                "fields": (
                    "template",
                    "source_org",
                    "target_org",
                    "strategy",
                    "dry_run",
                    "options",
                    "status",
                    "error",
                    "issues_link",
                    "requested_by",
                )
            },
        ),
        ("Totals", {"fields": Run.OUTCOMES}),
        (
            "Timing and API",
            {
                "fields": (
                    "created_at",
                    "started_at",
                    "finished_at",
                    "source_api_calls",
                    "target_api_calls",
                    "target_api_remaining",
                )
            },
        ),
        ("Orgs", {"fields": ("source_organization_id", "target_organization_id")}),
        (
            "Pre-flight report and template snapshot",
            {
                "classes": ("collapse",),
                "fields": ("report", "template_snapshot"),
            },
        ),
    )
    readonly_fields = ("issues_link",)

    @admin.display(description="Record issues")
    def issues_link(self, obj: Run) -> str:
        count = obj.issues.count()
        if not count:
            return "none"
        url = (
            reverse("admin:migrations_app_recordissue_changelist")
            + f"?run__id__exact={obj.pk}"
        )
        return format_html('<a href="{}">{} issue(s)</a>', url, count)


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
    list_display = (
        "run",
        "kind",
        "sobject",
        "source_id",
        "target_id",
        "error_code",
        "message",
    )
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


admin.site.site_header = "Data Migrator"
admin.site.site_title = "Data Migrator"
admin.site.index_title = "Orgs, templates, runs and mappings"
