"""The dashboard's home page and the org pair page."""

from __future__ import annotations

from django.contrib.auth.decorators import login_required
from django.http import HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, render

from migrations_app import selectors
from migrations_app.models import Org
from migrations_app.services.leases import run_expire_leases
from migrations_app.views.charts import pair_chart
from migrations_app.views.runs import view_runs


@login_required
@view_runs
def home(request: HttpRequest) -> HttpResponse:
    run_expire_leases()
    return render(
        request,
        "migrations_app/home.html",
        {
            "orgs": selectors.org_summaries(),
            "active_runs": selectors.active_runs(),
            "recent_runs": selectors.run_list()[:10],
            "pairs": selectors.known_pairs(limit=10),
        },
    )


@login_required
@view_runs
def org_pair(request: HttpRequest, source_id: int, target_id: int) -> HttpResponse:
    source = get_object_or_404(Org, pk=source_id)
    target = get_object_or_404(Org, pk=target_id)
    history = selectors.pair_history(source=source, target=target)
    return render(
        request,
        "migrations_app/org_pair.html",
        {
            "source": source,
            "target": target,
            "runs": list(reversed(history)),
            "chart": pair_chart(history),
            "mapping_counts": selectors.pair_mapping_counts(
                source=source, target=target
            ),
        },
    )
