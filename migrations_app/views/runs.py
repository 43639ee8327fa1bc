"""Dashboard pages for runs: launch, follow, cancel, resume, results.

Views are thin: they parse input, call a service or selector, and render.
"""

from __future__ import annotations

from collections.abc import Iterable

from django.contrib import messages
from django.contrib.auth.decorators import login_required, permission_required
from django.core.exceptions import PermissionDenied
from django.core.paginator import Paginator
from django.http import HttpRequest, HttpResponse, StreamingHttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.views.decorators.http import require_POST

from migrations_app import selectors
from migrations_app.csv_stream import csv_lines
from migrations_app.forms import IssueFilterForm, RunFilterForm, RunLaunchForm
from migrations_app.models import Run
from migrations_app.services import runs as run_services
from migrations_app.services.access import can_launch_into
from migrations_app.services.errors import MigrationError
from migrations_app.services.leases import run_expire_leases
from migrations_app.services.rollback import rollback_problem

view_runs = permission_required("migrations_app.view_run", raise_exception=True)
launch_runs = permission_required("migrations_app.launch_run", raise_exception=True)


def _get_run(run_id: int) -> Run:
    return get_object_or_404(
        Run.objects.select_related("source_org", "target_org", "template"), pk=run_id
    )


@login_required
@view_runs
def run_list(request: HttpRequest) -> HttpResponse:
    form = RunFilterForm(request.GET or None)
    runs = selectors.run_list(**form.filters())
    page = Paginator(runs, 50).get_page(request.GET.get("page"))
    return render(request, "migrations_app/run_list.html", {"form": form, "page": page})


@login_required
@launch_runs
def run_new(request: HttpRequest) -> HttpResponse:
    form = RunLaunchForm(request.POST or None, user=request.user, initial=request.GET)
    if request.method == "POST" and form.is_valid():
        try:
            run = run_services.run_launch(
                **form.launch_arguments(), requested_by=request.user
            )
        except MigrationError as exc:
            form.add_error(None, exc.message)
        else:
            return redirect("migrations_app:run-detail", run_id=run.pk)
    return render(request, "migrations_app/run_new.html", {"form": form})


@login_required
@view_runs
def run_detail(request: HttpRequest, run_id: int) -> HttpResponse:
    run_expire_leases()
    run = _get_run(run_id)
    return render(
        request,
        "migrations_app/run_detail.html",
        {
            **_progress_context(request, run),
            "issue_groups": selectors.run_issue_groups(run=run),
            "issue_form": IssueFilterForm(),
        },
    )


@login_required
@view_runs
def run_progress(request: HttpRequest, run_id: int) -> HttpResponse:
    """The live part of the run page, polled by htmx until the run ends."""
    run_expire_leases()
    run = _get_run(run_id)
    response = render(
        request, "migrations_app/_run_progress.html", _progress_context(request, run)
    )
    if request.htmx and run.status not in selectors.ACTIVE_STATUSES:  # type: ignore[attr-defined]
        # The run ended while the page watched: its results region fetches itself
        # again (pre-flight, issues), without reloading the page.
        response["HX-Trigger"] = "run-ended"
    return response


def _progress_context(request: HttpRequest, run: Run) -> dict[str, object]:
    may_act = can_launch_into(user=request.user, org=run.target_org)
    return {
        "run": run,
        "progress": selectors.run_progress(run=run),
        "may_cancel": may_act and run.status in selectors.ACTIVE_STATUSES,
        "may_resume": may_act and run.status == Run.Status.INTERRUPTED,
        "may_run_again": may_act
        and run.template_id is not None
        and run.rollback_of_id is None
        and run.status not in selectors.ACTIVE_STATUSES,
        "may_roll_back": may_act
        and run.status not in selectors.ACTIVE_STATUSES
        and request.user.has_perm("migrations_app.launch_run")
        and not rollback_problem(run=run),
        "live": run.status in selectors.ACTIVE_STATUSES,
    }


@login_required
@view_runs
def run_issues(request: HttpRequest, run_id: int) -> HttpResponse:
    run = _get_run(run_id)
    form = IssueFilterForm(request.GET or None)
    issues = selectors.run_issues(run=run, **form.filters())
    page = Paginator(issues, 100).get_page(request.GET.get("page"))
    return render(
        request,
        "migrations_app/_run_issues.html",
        {"run": run, "page": page, "issue_form": form},
    )


def act_on_run(request: HttpRequest, run_id: int) -> Run:
    """The run a user acts on (cancel, resume, again, roll back): 403 unless they
    may launch into its target."""
    run = _get_run(run_id)
    if not can_launch_into(user=request.user, org=run.target_org):
        raise PermissionDenied
    return run


@login_required
@launch_runs
@require_POST
def run_cancel(request: HttpRequest, run_id: int) -> HttpResponse:
    run = act_on_run(request, run_id)
    try:
        run = run_services.run_cancel(run=run, user=request.user)  # type: ignore[arg-type]
    except MigrationError as exc:
        messages.error(request, exc.message)
    else:
        done = run.status == Run.Status.CANCELLED
        messages.success(
            request,
            f"Run {run.pk} cancelled."
            if done
            else f"Run {run.pk} stops after the page it is writing.",
        )
    return redirect("migrations_app:run-detail", run_id=run.pk)


@login_required
@launch_runs
@require_POST
def run_resume(request: HttpRequest, run_id: int) -> HttpResponse:
    run = act_on_run(request, run_id)
    try:
        run_services.run_resume(run=run, user=request.user)  # type: ignore[arg-type]
    except MigrationError as exc:
        messages.error(request, exc.message)
    else:
        messages.success(
            request, f"Run {run.pk} queued again; it goes on where it stopped."
        )
    return redirect("migrations_app:run-detail", run_id=run.pk)


@login_required
@launch_runs
@require_POST
def run_again(request: HttpRequest, run_id: int) -> HttpResponse:
    run = act_on_run(request, run_id)
    try:
        new = run_services.run_again(run=run, user=request.user)  # type: ignore[arg-type]
    except MigrationError as exc:
        messages.error(request, exc.message)
        return redirect("migrations_app:run-detail", run_id=run.pk)
    return redirect("migrations_app:run-detail", run_id=new.pk)


def _csv_response(
    rows: Iterable[Iterable[object]], filename: str
) -> StreamingHttpResponse:
    response = StreamingHttpResponse(csv_lines(rows), content_type="text/csv")
    response["Content-Disposition"] = f'attachment; filename="{filename}"'
    return response


@login_required
@view_runs
def run_success_csv(request: HttpRequest, run_id: int) -> StreamingHttpResponse:
    run = _get_run(run_id)
    return _csv_response(
        selectors.run_success_rows(run=run), f"run-{run.pk}-success.csv"
    )


@login_required
@view_runs
def run_errors_csv(request: HttpRequest, run_id: int) -> StreamingHttpResponse:
    run = _get_run(run_id)
    return _csv_response(selectors.run_error_rows(run=run), f"run-{run.pk}-errors.csv")
