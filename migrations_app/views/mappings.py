"""Dashboard pages for mappings: browse, audit, repair, and the launch pre-flight.

Views are thin: they parse input, call a service, and render.
"""

from __future__ import annotations

from typing import Any

from django.contrib import messages
from django.contrib.auth.decorators import login_required, permission_required
from django.core.paginator import Paginator
from django.http import HttpRequest, HttpResponse, StreamingHttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.views.decorators.http import require_GET, require_POST

from migrations_app.mapping_forms import (
    AdoptTwinsForm,
    AuditForm,
    DeleteDuplicateForm,
    MappingFilterForm,
    PreflightForm,
    RelinkForm,
)
from migrations_app.models import AuditEvent, MappingAudit, Org, RecordMapping
from migrations_app.salesforce.errors import SalesforceError
from migrations_app.services import repairs
from migrations_app.services.audit import audit_launch
from migrations_app.services.duplicates import preflight_duplicates
from migrations_app.services.errors import MigrationError
from migrations_app.services.mapping_list import (
    audit_objects,
    latest_audit,
    latest_finished_audit,
    mapping_csv_lines,
    mapping_list,
    record_url,
)
from migrations_app.services.templates import template_snapshot

view_mappings = permission_required(
    "migrations_app.view_recordmapping", raise_exception=True
)
audit_mappings = permission_required(
    "migrations_app.audit_mappings", raise_exception=True
)
repair_mappings = permission_required(
    "migrations_app.repair_mapping", raise_exception=True
)


# Browsing ------------------------------------------------------------------------------


@login_required
@view_mappings
@require_GET
def mapping_index(request: HttpRequest) -> HttpResponse:
    form = MappingFilterForm(request.GET or None)
    page = Paginator(mapping_list(filters=form.filters()), 50).get_page(
        request.GET.get("page")
    )
    rows = [
        {
            "mapping": mapping,
            "source_url": record_url(mapping.source_org, mapping.source_id),
            "target_url": record_url(mapping.target_org, mapping.target_id),
        }
        for mapping in page.object_list
    ]
    return render(
        request,
        "migrations_app/mappings/list.html",
        {"form": form, "page": page, "rows": rows},
    )


@login_required
@view_mappings
@require_GET
def mapping_csv(request: HttpRequest) -> StreamingHttpResponse:
    rows = mapping_list(filters=MappingFilterForm(request.GET or None).filters())
    response = StreamingHttpResponse(mapping_csv_lines(rows), content_type="text/csv")
    response["Content-Disposition"] = 'attachment; filename="mappings.csv"'
    return response


@login_required
@view_mappings
@require_GET
def mapping_detail(request: HttpRequest, mapping_id: int) -> HttpResponse:
    mapping = _get_mapping(mapping_id)
    return _render_detail(request, mapping, RelinkForm(), DeleteDuplicateForm())


def _render_detail(
    request: HttpRequest,
    mapping: RecordMapping,
    relink: RelinkForm,
    delete: DeleteDuplicateForm,
    status: int = 200,
) -> HttpResponse:
    events = AuditEvent.objects.filter(details__mapping_id=mapping.pk).select_related(
        "actor"
    )
    return render(
        request,
        "migrations_app/mappings/detail.html",
        {
            "mapping": mapping,
            "source_url": record_url(mapping.source_org, mapping.source_id),
            "target_url": record_url(mapping.target_org, mapping.target_id),
            "events": events,
            "relink_form": relink,
            "delete_form": delete,
        },
        status=status,
    )


def _get_mapping(mapping_id: int) -> RecordMapping:
    return get_object_or_404(
        RecordMapping.objects.select_related(
            "source_org", "target_org", "created_by_run", "last_written_by_run"
        ),
        pk=mapping_id,
    )


# Repairs -------------------------------------------------------------------------------


@login_required
@repair_mappings
@require_POST
def mapping_relink(request: HttpRequest, mapping_id: int) -> HttpResponse:
    mapping = _get_mapping(mapping_id)
    form = RelinkForm(request.POST)
    if form.is_valid():
        try:
            repairs.mapping_relink(
                mapping=mapping,
                target_id=form.cleaned_data["target_id"],
                actor=request.user,
            )
        except (MigrationError, SalesforceError) as exc:
            form.add_error(None, exc.message)
        else:
            messages.success(request, f"Mapping relinked to {mapping.target_id}.")
            return redirect("migrations_app:mapping-detail", mapping_id=mapping.pk)
    return _render_detail(request, mapping, form, DeleteDuplicateForm(), status=400)


@login_required
@repair_mappings
@require_POST
def mapping_retire(request: HttpRequest, mapping_id: int) -> HttpResponse:
    mapping = _get_mapping(mapping_id)
    try:
        repairs.mapping_retire(mapping=mapping, actor=request.user)
    except MigrationError as exc:
        messages.error(request, exc.message)
        return redirect("migrations_app:mapping-detail", mapping_id=mapping.pk)
    messages.success(
        request,
        f"Mapping of {mapping.sobject} {mapping.source_id} retired: the next run "
        "inserts the record again.",
    )
    return redirect("migrations_app:mapping-list")


@login_required
@repair_mappings
@require_POST
def mapping_delete_duplicate(request: HttpRequest, mapping_id: int) -> HttpResponse:
    mapping = _get_mapping(mapping_id)
    doomed = mapping.target_id
    form = DeleteDuplicateForm(request.POST)
    if form.is_valid():
        try:
            repairs.mapping_delete_duplicate(
                mapping=mapping,
                survivor_id=form.cleaned_data["survivor_id"],
                confirmation=form.cleaned_data["confirmation"],
                actor=request.user,
            )
        except (MigrationError, SalesforceError) as exc:
            form.add_error(None, exc.message)
        else:
            messages.success(
                request,
                f"{doomed} deleted in {mapping.target_org}; the mapping now points "
                f"at {mapping.target_id}.",
            )
            return redirect("migrations_app:mapping-detail", mapping_id=mapping.pk)
    return _render_detail(request, mapping, RelinkForm(), form, status=400)


@login_required
@repair_mappings
@require_POST
def pair_adopt_twins(
    request: HttpRequest, source_id: int, target_id: int
) -> HttpResponse:
    source, target = _pair(source_id, target_id)
    form = AdoptTwinsForm(request.POST)
    if not form.is_valid():
        messages.error(request, "Choose the template whose match keys find twins.")
        return redirect("migrations_app:org-pair", source_id, target_id)
    try:
        result = repairs.mappings_adopt_twins(
            source_org=source,
            target_org=target,
            template_snapshot=dict(
                template_snapshot(template=form.cleaned_data["template"])
            ),
            sobject=form.cleaned_data["sobject"],
            actor=request.user,
        )
    except (MigrationError, SalesforceError) as exc:
        messages.error(request, exc.message)
    else:
        messages.success(
            request,
            f"{len(result.adopted)} twin(s) adopted into the mapping table"
            + (f"; {result.skipped} left alone (ambiguous)" if result.skipped else ""),
        )
    return redirect("migrations_app:org-pair", source_id, target_id)


# Audits --------------------------------------------------------------------------------


@login_required
@view_mappings
@require_GET
def pair_audit(request: HttpRequest, source_id: int, target_id: int) -> HttpResponse:
    """The org pair page's audit panel (loaded by htmx, polls while an audit runs)."""
    source, target = _pair(source_id, target_id)
    return render(
        request,
        "migrations_app/mappings/_pair_audit_body.html",
        _pair_audit_context(source, target),
    )


def _pair_audit_context(source: Org, target: Org) -> dict[str, Any]:
    current = latest_audit(source_org=source, target_org=target)
    finished = latest_finished_audit(source_org=source, target_org=target)
    return {
        "source": source,
        "target": target,
        "current": current,
        "finished": finished,
        "objects": audit_objects(audit=finished) if finished else [],
        "form": AuditForm(),
        "adopt_form": AdoptTwinsForm(),
    }


@login_required
@audit_mappings
@require_POST
def pair_audit_start(
    request: HttpRequest, source_id: int, target_id: int
) -> HttpResponse:
    source, target = _pair(source_id, target_id)
    form = AuditForm(request.POST)
    if not form.is_valid():
        messages.error(request, "The audit's object or template is not valid.")
        return redirect("migrations_app:org-pair", source_id, target_id)
    try:
        audit = audit_launch(
            source_org=source,
            target_org=target,
            sobject=form.cleaned_data["sobject"],
            template=form.cleaned_data["template"],
            requested_by=request.user,
        )
    except MigrationError as exc:
        messages.error(request, exc.message)
        return redirect("migrations_app:org-pair", source_id, target_id)
    return redirect("migrations_app:audit-detail", audit_id=audit.pk)


@login_required
@view_mappings
@require_GET
def audit_detail(request: HttpRequest, audit_id: int) -> HttpResponse:
    audit = _get_audit(audit_id)
    return render(
        request,
        "migrations_app/mappings/audit.html",
        {"audit": audit, "objects": audit_objects(audit=audit)},
    )


@login_required
@view_mappings
@require_GET
def audit_progress(request: HttpRequest, audit_id: int) -> HttpResponse:
    """The progress partial; it stops polling once the audit is done."""
    audit = _get_audit(audit_id)
    response = render(
        request, "migrations_app/mappings/_audit_progress.html", {"audit": audit}
    )
    if audit.is_done:
        # Show the results: htmx reloads the page once the audit has finished.
        response["HX-Refresh"] = "true"
    return response


def _get_audit(audit_id: int) -> MappingAudit:
    return get_object_or_404(
        MappingAudit.objects.select_related(
            "source_org", "target_org", "template", "requested_by"
        ),
        pk=audit_id,
    )


def _pair(source_id: int, target_id: int) -> tuple[Org, Org]:
    return get_object_or_404(Org, pk=source_id), get_object_or_404(Org, pk=target_id)


# Pre-flight ----------------------------------------------------------------------------


@login_required
@view_mappings
@require_GET
def mapping_preflight(request: HttpRequest) -> HttpResponse:
    """A fragment for the launch form: records a veid run would duplicate."""
    form = PreflightForm(request.GET)
    context: dict[str, Any] = {"form": form, "counts": None, "error": "", "total": 0}
    if form.is_valid():
        data = form.cleaned_data
        try:
            counts = preflight_duplicates(
                template_snapshot=dict(template_snapshot(template=data["template"])),
                source_org=data["source_org"],
                target_org=data["target_org"],
            )
        except (MigrationError, SalesforceError) as exc:
            context["error"] = exc.message
        else:
            context.update(counts=counts, total=sum(counts.values()))
    return render(request, "migrations_app/mappings/_preflight.html", context)
