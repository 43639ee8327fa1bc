"""Dashboard pages for schedules (issue 14): list, history, create, edit, disable.

Views are thin: they parse input, call a service, and render.
"""

from __future__ import annotations

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied, ValidationError
from django.http import HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.views.decorators.http import require_GET, require_POST

from migrations_app.models import Schedule
from migrations_app.schedule_forms import ScheduleForm
from migrations_app.services.access import can_launch_into
from migrations_app.services.schedules import (
    schedule_history,
    schedule_save,
    schedule_set_enabled,
)
from migrations_app.views.runs import launch_runs, view_runs


def _get_schedule(schedule_id: int) -> Schedule:
    return get_object_or_404(
        Schedule.objects.select_related("template", "source_org", "target_org"),
        pk=schedule_id,
    )


def _editable(request: HttpRequest, schedule_id: int) -> Schedule:
    schedule = _get_schedule(schedule_id)
    if not can_launch_into(user=request.user, org=schedule.target_org):
        raise PermissionDenied
    return schedule


@login_required
@view_runs
@require_GET
def schedule_list(request: HttpRequest) -> HttpResponse:
    schedules = Schedule.objects.select_related(
        "template", "source_org", "target_org"
    ).order_by("name")
    rows = [(item, schedule_history(schedule=item, limit=3)) for item in schedules]
    return render(request, "migrations_app/schedules/list.html", {"rows": rows})


@login_required
@view_runs
@require_GET
def schedule_detail(request: HttpRequest, schedule_id: int) -> HttpResponse:
    schedule = _get_schedule(schedule_id)
    return render(
        request,
        "migrations_app/schedules/detail.html",
        {"schedule": schedule, "launches": schedule_history(schedule=schedule)},
    )


@login_required
@launch_runs
def schedule_new(request: HttpRequest) -> HttpResponse:
    return _edit(request, Schedule())


@login_required
@launch_runs
def schedule_edit(request: HttpRequest, schedule_id: int) -> HttpResponse:
    return _edit(request, _editable(request, schedule_id))


def _edit(request: HttpRequest, schedule: Schedule) -> HttpResponse:
    form = ScheduleForm(request.POST or None, instance=schedule, user=request.user)
    if request.method == "POST" and form.is_valid():
        try:
            saved = schedule_save(schedule=form.save(commit=False), user=request.user)  # type: ignore[arg-type]
        except ValidationError as exc:
            form.add_error(None, exc)
        else:
            messages.success(request, f"Schedule {saved.name!r} saved.")
            return redirect("migrations_app:schedule-detail", schedule_id=saved.pk)
    return render(
        request,
        "migrations_app/schedules/form.html",
        {"form": form, "schedule": schedule},
    )


@login_required
@launch_runs
@require_POST
def schedule_toggle(request: HttpRequest, schedule_id: int) -> HttpResponse:
    schedule = _editable(request, schedule_id)
    enabled = not schedule.enabled
    try:
        schedule_set_enabled(schedule=schedule, enabled=enabled, user=request.user)  # type: ignore[arg-type]
    except ValidationError as exc:  # saved before today's checks: edit it first
        messages.error(request, f"Schedule {schedule.name!r}: {' '.join(exc.messages)}")
    else:
        messages.success(
            request,
            f"Schedule {schedule.name!r} {'enabled' if enabled else 'disabled'}.",
        )
    return redirect("migrations_app:schedule-detail", schedule_id=schedule.pk)
