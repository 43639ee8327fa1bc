"""The web admin: orgs, templates, runs, mappings and what runs recorded.

Admin classes are interfaces: they render and call services. Everything a run or an
audit writes is history here: viewable, never added, edited or deleted (DESIGN
invariant 11). Credentials are write-only (never rendered back, listed or searchable).
Org and template changes are recorded in the audit log, with before and after.
"""

from __future__ import annotations

import io
import json
import re
import zipfile
from collections.abc import Callable
from http import HTTPStatus
from typing import Any
from urllib.parse import urlsplit

from django import forms
from django.conf import settings
from django.contrib import admin, messages
from django.contrib.admin import helpers
from django.core.exceptions import NON_FIELD_ERRORS, PermissionDenied, ValidationError
from django.db import transaction
from django.db.models import Case, Model, QuerySet, When
from django.http import (
    Http404,
    HttpRequest,
    HttpResponse,
    HttpResponseNotAllowed,
    HttpResponseRedirect,
    JsonResponse,
)
from django.shortcuts import redirect
from django.template.response import TemplateResponse
from django.urls import URLPattern, path, reverse
from django.utils.html import format_html
from django.utils.http import content_disposition_header
from django.utils.text import slugify
from django.utils.translation import ngettext

from migrations_app import admin_queues  # noqa: F401 (registers the queue pages)
from migrations_app.admin_mappings import MappingAdminMixin
from migrations_app.models import (
    AuditEvent,
    AuthMethod,
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
from migrations_app.services import events, org_oauth
from migrations_app.services import orgs as org_services
from migrations_app.services import templates as template_services
from migrations_app.services.errors import MigrationError

SECRET_FIELDS = ("client_secret", "refresh_token", "access_token", "private_key")
# Longer "ids" in an action form are not ids of ours: refuse them before the query.
MAX_ID_DIGITS = 18
MAX_TEMPLATE_OBJECTS = 200
# A host[:port] that may go into a Content-Security-Policy header as it is.
HOST = re.compile(r"[A-Za-z0-9.\-]+(:[0-9]{1,5})?|\[[0-9A-Fa-f:.]+\](:[0-9]{1,5})?")


class BaseAdmin[M: Model](admin.ModelAdmin[M]):
    """Refuses malformed list input with a message instead of an error page."""

    def admin_path(
        self, route: str, view: Callable[..., HttpResponse], suffix: str
    ) -> URLPattern:
        """A page of this model's admin, behind the admin login, named
        ``<app>_<model>_<suffix>``."""
        name = f"{self.opts.app_label}_{self.opts.model_name}_{suffix}"
        return path(route, self.admin_site.admin_view(view), name=name)

    def response_action(
        self, request: HttpRequest, queryset: QuerySet[M], *args: Any, **kwargs: Any
    ) -> HttpResponse | None:
        selected = request.POST.getlist(helpers.ACTION_CHECKBOX_NAME)
        if not all(_is_id(value) for value in selected):
            self.message_user(
                request,
                "The selection holds something that is not a row id; select rows "
                "in the list and try again.",
                messages.ERROR,
            )
            return HttpResponseRedirect(request.get_full_path())
        return super().response_action(request, queryset, *args, **kwargs)


def _is_id(value: str) -> bool:
    return value.isascii() and value.isdigit() and len(value) <= MAX_ID_DIGITS


class ReadOnlyAdminMixin:
    """For rows only runs and audits write: viewable, never added, edited or deleted."""

    def has_add_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False


class SafeJSONField(forms.JSONField):
    """A JSON input that refuses nesting too deep to read and NUL characters."""

    def to_python(self, value: Any) -> Any:
        if isinstance(value, str) and "\\u0000" in value:
            raise ValidationError("JSON text may not contain NUL characters.")
        try:
            return super().to_python(value)
        except RecursionError:
            raise ValidationError("This JSON is nested too deeply.") from None

    def bound_data(self, data: Any, initial: Any) -> Any:
        try:
            return super().bound_data(data, initial)
        except RecursionError:
            return data


class IdsChoiceField(forms.ModelMultipleChoiceField[Any]):
    """A multiple choice of rows that refuses anything but row ids before querying.

    Django passes the submitted values to the database as they are; a number larger
    than the database's integers fails there instead of being a form error.
    """

    def clean(self, value: Any) -> Any:
        bad = [str(item) for item in value or [] if not _is_id(str(item))]
        if bad:
            raise ValidationError(
                self.error_messages["invalid_pk_value"],
                code="invalid_pk_value",
                params={"pk": bad[0][:20]},
            )
        return super().clean(value)


class WriteOnlyTextarea(forms.Textarea):
    """A textarea that never renders a value back, even when the form has errors."""

    def format_value(self, value: Any) -> str | None:
        return None


class OrgAdminForm(forms.ModelForm[Org]):
    """Org form whose secret inputs are write-only: blank keeps the stored value.

    A valid form has also been tested against the org (``report``), unless the org
    waits for Connect org: the test names the field at fault and what to do.
    """

    client_secret = forms.CharField(
        required=False,
        strip=False,
        widget=forms.PasswordInput(render_value=False),
        help_text="Connected app consumer secret. Leave blank to keep the stored one.",
    )
    private_key = forms.CharField(
        required=False,
        widget=WriteOnlyTextarea(attrs={"rows": 4, "autocomplete": "off"}),
        help_text="PEM private key for the JWT bearer flow. Leave blank to keep it.",
    )
    # Optional in the form: left out (scripts, older forms), the reserve stays as is.
    api_reserve_percent = forms.IntegerField(
        required=False,
        min_value=0,
        max_value=90,
        label="API reserve (% of the daily allowance)",
        help_text=Org._meta.get_field("api_reserve_percent").help_text,
    )
    access_token = forms.CharField(
        required=False,
        widget=forms.PasswordInput(render_value=False),
        help_text="Only for the access-token method. Leave blank to keep it.",
    )
    clear_credentials = forms.BooleanField(
        required=False,
        label="Forget stored secrets",
        help_text="Forget every stored secret of this org, including the token "
        "Connect org stored.",
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
            "target_users",
            "target_groups",
            "api_reserve_percent",
        )

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.before = events.org_state(self.instance) if self.instance.pk else {}
        self.report: org_services.OrgReport | None = None

    def clean_api_reserve_percent(self) -> int:
        value = self.cleaned_data.get("api_reserve_percent")
        return self.instance.api_reserve_percent if value is None else int(value)

    def _post_clean(self) -> None:
        super()._post_clean()  # type: ignore[misc]
        if self.errors:
            return
        self._apply_secrets()
        if self.awaits_connect:
            return
        try:
            self.report = org_services.org_inspect(org=self.instance)
        except ValidationError as exc:
            if not hasattr(exc, "error_dict"):
                self.add_error(None, exc)
                return
            for field, errors in exc.message_dict.items():
                self.add_error(field if field in self.fields else None, errors)

    @property
    def awaits_connect(self) -> bool:
        """A web-server org is tested once Connect org has stored its token."""
        return self.instance.auth_method == AuthMethod.WEB_SERVER and not (
            self.instance.credentials.get("refresh_token")
        )

    def _apply_secrets(self) -> None:
        org = self.instance
        if self.cleaned_data.get("clear_credentials"):
            org.set_credentials({})
            return
        # A blank input means "keep what is stored", never "erase".
        new_secrets = {
            name: self.cleaned_data[name]
            for name in ("client_secret", "private_key", "access_token")
            if self.cleaned_data.get(name)
        }
        if new_secrets:
            org.set_credentials({**org.credentials, **new_secrets})


@admin.register(Org)
class OrgAdmin(BaseAdmin[Org]):
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
    filter_horizontal = ("target_users", "target_groups")
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
                "description": "For the web-server flow, save the org, then use "
                "Connect org. Its connected app's callback URL is this site's "
                "/admin/migrations_app/org/connect/callback/.",
                "fields": (
                    "auth_method",
                    "client_id",
                    "username",
                    "client_secret",
                    "private_key",
                    "access_token",
                    "clear_credentials",
                    "has_stored_credentials",
                ),
            },
        ),
        (
            "Target restriction",
            {
                "description": "Leave both empty to let every operator launch runs "
                "into this org. Otherwise only the users and groups named may.",
                "fields": ("target_users", "target_groups"),
            },
        ),
        (
            "API allowance",
            {
                "description": "Runs pause (status waiting) rather than spend this "
                "reserve; lowering it lets a waiting run go on at the next sweep.",
                "fields": ("api_reserve_percent",),
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

    class Media:
        css = {"all": ("migrations_app/admin/org.css",)}

    @admin.display(description="Stored credentials", boolean=True)
    def has_stored_credentials(self, obj: Org) -> bool:
        return obj.has_credentials

    def lookup_allowed(self, lookup: str, value: str, request: HttpRequest) -> bool:
        if lookup.startswith(("credentials", *SECRET_FIELDS)):
            return False
        return super().lookup_allowed(lookup, value, request)

    def changeform_view(
        self,
        request: HttpRequest,
        object_id: str | None = None,
        form_url: str = "",
        extra_context: dict[str, Any] | None = None,
    ) -> HttpResponse:
        # Saving tests the org over the network. The admin would hold a transaction
        # (and on SQLite the write lock) during the test; org_save and
        # save_related keep their own short transactions instead.
        return self._changeform_view(  # type: ignore[attr-defined]
            request, object_id, form_url, extra_context
        )

    def formfield_for_manytomany(
        self, db_field: Any, request: HttpRequest, **kwargs: Any
    ) -> Any:
        kwargs["form_class"] = IdsChoiceField
        return super().formfield_for_manytomany(db_field, request, **kwargs)

    def change_view(
        self,
        request: HttpRequest,
        object_id: str,
        form_url: str = "",
        extra_context: dict[str, Any] | None = None,
    ) -> HttpResponse:
        response = super().change_view(request, object_id, form_url, extra_context)
        org = Org.objects.filter(pk=object_id).first() if _is_id(object_id) else None
        if org is not None and org.auth_method == AuthMethod.WEB_SERVER:
            _allow_form_action(response, org.login_url)
        return response

    def save_model(
        self, request: HttpRequest, obj: Org, form: Any, change: bool
    ) -> None:
        org_services.org_save(org=obj, report=form.report)

    def save_related(
        self, request: HttpRequest, form: Any, formsets: Any, change: bool
    ) -> None:
        super().save_related(request, form, formsets, change)
        org_services.org_record_saved(
            org=form.instance,
            actor=request.user,
            before=form.before,
            created=not change,
        )
        if form.report is not None:
            self.message_user(
                request, f"Tested: {form.report.summary()}.", messages.SUCCESS
            )
        elif form.awaits_connect:
            self.message_user(
                request,
                "Not tested yet: use Connect org to log in to it.",
                messages.WARNING,
            )

    def delete_model(self, request: HttpRequest, obj: Org) -> None:
        org_services.org_delete(org=obj, actor=request.user)

    def delete_queryset(self, request: HttpRequest, queryset: QuerySet[Org]) -> None:
        for org in queryset:
            org_services.org_delete(org=org, actor=request.user)

    def get_urls(self) -> list[URLPattern]:
        own = [
            self.admin_path(
                "connect/callback/", self.connect_callback_view, "connect_callback"
            ),
            self.admin_path("<int:org_id>/connect/", self.connect_view, "connect"),
            self.admin_path("<int:org_id>/test/", self.test_view, "test"),
        ]
        return own + super().get_urls()

    @admin.action(description="Test connection", permissions=["change"])
    def check_connection(self, request: HttpRequest, queryset: QuerySet[Org]) -> None:
        for org in queryset:
            self._test(request, org)

    def test_view(self, request: HttpRequest, org_id: int) -> HttpResponse:
        """POST: test the org's connection and show what it found."""
        org = self._org_to_change(request, org_id)
        if request.method != "POST":
            return HttpResponseNotAllowed(["POST"])
        self._test(request, org)
        return redirect("admin:migrations_app_org_change", org.pk)

    def _test(self, request: HttpRequest, org: Org) -> None:
        try:
            report = org_services.org_test(org=org, actor=request.user)
        except MigrationError as exc:
            # The message already names the org.
            self.message_user(request, exc.message, messages.ERROR)
        else:
            self.message_user(
                request,
                f"{org.name}: connected to {report.summary()}.",
                messages.SUCCESS,
            )

    def connect_view(self, request: HttpRequest, org_id: int) -> HttpResponse:
        """POST: send the browser to the org's authorize page (web-server flow)."""
        org = self._org_to_change(request, org_id)
        if request.method != "POST":
            return HttpResponseNotAllowed(["POST"])
        callback = request.build_absolute_uri(
            reverse("admin:migrations_app_org_connect_callback")
        )
        try:
            url = org_oauth.org_connect_begin(
                org=org, redirect_uri=callback, session=request.session
            )
        except MigrationError as exc:
            self.message_user(request, exc.message, messages.ERROR)
            return redirect("admin:migrations_app_org_change", org.pk)
        return HttpResponseRedirect(url)

    def connect_callback_view(self, request: HttpRequest) -> HttpResponse:
        """The org's authorize page sends the browser back here with a code."""
        if not self.has_change_permission(request):
            raise PermissionDenied
        try:
            org, report = org_oauth.org_connect_complete(
                params=request.GET.dict(), session=request.session, actor=request.user
            )
        except MigrationError as exc:
            self.message_user(request, exc.message, messages.ERROR)
            return redirect("admin:migrations_app_org_changelist")
        self.message_user(
            request, f"{org.name}: connected to {report.summary()}.", messages.SUCCESS
        )
        return redirect("admin:migrations_app_org_change", org.pk)

    def _org_to_change(self, request: HttpRequest, org_id: int) -> Org:
        org = Org.objects.filter(pk=org_id).first()
        if org is None:
            raise Http404(f"There is no org {org_id}.")
        if not self.has_change_permission(request, org):
            raise PermissionDenied
        return org


def _allow_form_action(response: HttpResponse, login_url: str) -> None:
    """Let this page's Connect org form lead to the org's login host.

    The site's policy allows forms to submit to the site only, and browsers apply
    form-action to where a submission is redirected too: Connect org is a POST that
    redirects to the org's authorize page.
    """
    parts = urlsplit(login_url)
    if parts.scheme not in ("https", "http") or not HOST.fullmatch(parts.netloc):
        return
    config: dict[str, Any] = dict(settings.SECURE_CSP)
    allowed = list(config.get("form-action", []))
    config["form-action"] = [*allowed, f"{parts.scheme}://{parts.netloc}"]
    # What django.views.decorators.csp.csp_override sets, for a per-org value.
    response._csp_config = config  # type: ignore[attr-defined]


class TemplateObjectForm(forms.ModelForm[TemplateObject]):
    """One template object; API names and the filter are checked when it is saved."""

    # Kept in the object's options (see templates._with_include_files).
    include_files = forms.BooleanField(
        required=False,
        label="Include files",
        help_text="Copy the files and attachments linked to these records.",
    )

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        options = (
            self.instance.options if isinstance(self.instance.options, dict) else {}
        )
        self.fields["include_files"].initial = bool(options.get("include_files"))

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
            "transforms": forms.Textarea(
                attrs={"class": "dm-transforms-input", "rows": 1}
            ),
        }
        field_classes = {
            "fields": SafeJSONField,
            "match_key": SafeJSONField,
            "options": SafeJSONField,
            "transforms": SafeJSONField,
        }
        help_texts = {
            "fields": 'JSON list of field API names, e.g. ["FirstName", "Email"].',
            "match_key": 'JSON list of fields among those copied, e.g. ["Email"].',
            "transforms": "JSON object: what is written instead of a field's value, "
            'e.g. {"Email": "mask", "Phone": "empty", "LastName": {"prefix": "T-"}, '
            '"Description": {"fixed": "seeded"}}; a field not listed is kept.',
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
    # Far beyond any real template; without a bound, a forged form count makes the
    # admin build (and render) thousands of empty forms.
    max_num = MAX_TEMPLATE_OBJECTS

    def get_formset(
        self, request: HttpRequest, obj: Template | None = None, **kwargs: Any
    ) -> Any:
        kwargs.setdefault("absolute_max", MAX_TEMPLATE_OBJECTS)
        return super().get_formset(request, obj, **kwargs)


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
        self.before = template_state(self.instance)
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
        if upload.size > template_services.TEMPLATE_MAX_BYTES:
            raise ValidationError(
                f"The file is {upload.size // 1024} KB; a template file is at most "
                f"{template_services.TEMPLATE_MAX_BYTES // 1024} KB."
            )
        try:
            return str(upload.read().decode("utf-8"))
        except UnicodeDecodeError as exc:
            raise ValidationError(
                f"The file is not UTF-8 text (invalid byte at offset {exc.start})."
            ) from exc


def template_state(template: Template) -> dict[str, Any]:
    """What a template event records of a template: its export."""
    if not template.pk:
        return {}
    # Read afresh: the admin's instance holds its objects as prefetched before a save.
    fresh = Template.objects.get(pk=template.pk)
    return dict(template_services.template_export(template=fresh))


@admin.register(Template)
class TemplateAdmin(BaseAdmin[Template]):
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

    def save_related(
        self, request: HttpRequest, form: Any, formsets: Any, change: bool
    ) -> None:
        super().save_related(request, form, formsets, change)
        template = form.instance
        events.event_record(
            actor=request.user,
            action="template_changed" if change else "template_created",
            details={"template_id": template.pk, "template": template.name},
            before=form.before,
            after=template_state(template),
        )

    def delete_model(self, request: HttpRequest, obj: Template) -> None:
        _template_delete(request, obj)

    def delete_queryset(
        self, request: HttpRequest, queryset: QuerySet[Template]
    ) -> None:
        for template in queryset:
            _template_delete(request, template)

    def get_fieldsets(self, request: HttpRequest, obj: Template | None = None) -> Any:
        fieldsets = super().get_fieldsets(request, obj)
        if self._may_edit(request):
            return fieldsets
        return [item for item in fieldsets if item[0] != "Field pickers"]

    def get_urls(self) -> list[URLPattern]:
        own = [
            self.admin_path("import/", self.import_view, "import"),
            self.admin_path("describe/", self.describe_view, "describe"),
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
        events.event_record(
            actor=request.user,
            action="template_imported",
            details={
                "template_id": template.pk,
                "template": template.name,
                "replace": replace,
            },
            after=template_state(template),
        )
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


@transaction.atomic
def _template_delete(request: HttpRequest, template: Template) -> None:
    events.event_record(
        actor=request.user,
        action="template_deleted",
        details={"template_id": template.pk, "template": template.name},
        before=template_state(template),
    )
    template.delete()


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
class RunAdmin(ReadOnlyAdminMixin, BaseAdmin[Run]):
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
class RecordMappingAdmin(
    MappingAdminMixin, ReadOnlyAdminMixin, BaseAdmin[RecordMapping]
):
    """Filters, id search, record links and CSV: see admin_mappings. No delete."""


@admin.register(RecordIssue)
class RecordIssueAdmin(ReadOnlyAdminMixin, BaseAdmin[RecordIssue]):
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
class WriteJournalAdmin(ReadOnlyAdminMixin, BaseAdmin[WriteJournal]):
    list_display = ("run", "sobject", "operation", "state", "created_at", "resolved_at")
    list_filter = ("state", "operation", "sobject")
    list_select_related = ("run",)
    search_fields = ("=run__id", "bulk_job_id")
    raw_id_fields = ("run",)


@admin.register(AuditEvent)
class AuditEventAdmin(ReadOnlyAdminMixin, BaseAdmin[AuditEvent]):
    """The audit log: visible with view_auditevent (the admins role), never edited."""

    list_display = ("created_at", "action", "who", "org_name", "run", "summary")
    list_filter = ("action",)
    list_select_related = ("actor", "org", "run")
    search_fields = ("action", "=run__id", "actor__username", "org__name")
    date_hierarchy = "created_at"
    fields = ("created_at", "action", "actor", "org", "run", "details_json")
    readonly_fields = fields

    @admin.display(description="Who")
    def who(self, obj: AuditEvent) -> str:
        if obj.actor is not None:
            return obj.actor.get_username()
        return str(obj.details.get("actor", "system"))

    @admin.display(description="Org")
    def org_name(self, obj: AuditEvent) -> str:
        return str(obj.details.get("org_name") or obj.org or "")

    @admin.display(description="What")
    def summary(self, obj: AuditEvent) -> str:
        changed = sorted(obj.details.get("after", {}) or obj.details.get("before", {}))
        if changed:
            return "changed: " + ", ".join(changed)
        return str(obj.details.get("result") or obj.details.get("error") or "")

    @admin.display(description="Details")
    def details_json(self, obj: AuditEvent) -> str:
        return format_html(
            "<pre>{}</pre>", json.dumps(obj.details, indent=2, ensure_ascii=False)
        )


# Issue 14's pages; imported last, they build on BaseAdmin and ReadOnlyAdminMixin.
from migrations_app import admin_schedules  # noqa: E402, F401
