"""Dashboard pieces of issue 14: the launch form's seeding notes, the Rollback button.

Views are thin: they parse input, call a service, and render.
"""

from __future__ import annotations

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.views.decorators.http import require_GET, require_POST

from migrations_app.schedule_forms import SeedingNotesForm
from migrations_app.services.errors import MigrationError
from migrations_app.services.rollback import rollback_launch
from migrations_app.services.seeding import seeding_notes
from migrations_app.views.runs import act_on_run, launch_runs


@login_required
@launch_runs
@require_GET
def run_seeding_notes(request: HttpRequest) -> HttpResponse:
    """A fragment of the launch form: transforms, unmasked personal data, same Ids."""
    form = SeedingNotesForm(request.GET)
    notes = None
    if form.is_valid():
        data = form.cleaned_data
        notes = seeding_notes(
            template=data["template"],
            source_org=data["source_org"],
            target_org=data["target_org"],
            strategy=data["strategy"] or "veid_match",
        )
    return render(
        request,
        "migrations_app/seeding/_launch_notes.html",
        {"notes": notes, "form": form},
    )


@login_required
@launch_runs
@require_POST
def run_rollback(request: HttpRequest, run_id: int) -> HttpResponse:
    """Queue the rollback of a run (or a dry run of it) and show it."""
    run = act_on_run(request, run_id)
    dry_run = "dry_run" in request.POST
    try:
        rollback = rollback_launch(
            run=run,
            dry_run=dry_run,
            requested_by=request.user,  # type: ignore[arg-type]
        )
    except MigrationError as exc:
        messages.error(request, exc.message)
        return redirect("migrations_app:run-detail", run_id=run.pk)
    what = "A dry run of the rollback" if dry_run else "The rollback"
    messages.success(request, f"{what} of run {run.pk} is queued as run {rollback.pk}.")
    return redirect("migrations_app:run-detail", run_id=rollback.pk)
