"""When an org's 24-hour API window started, as runs observe its usage."""

from __future__ import annotations

from datetime import datetime, timedelta

import pytest
from django.utils import timezone

from migrations_app.models import Org
from migrations_app.salesforce.client import ApiUsage
from migrations_app.services.allowance import WINDOW, org_observe_usage

pytestmark = pytest.mark.django_db


def observe(org: Org, used: int | None) -> tuple[datetime | None, int | None]:
    org_observe_usage(org_id=org.pk, usage=ApiUsage(used=used, allowance=1000))
    org.refresh_from_db(fields=["api_window_started_at", "api_used_seen"])
    return org.api_window_started_at, org.api_used_seen


def test_the_window_starts_when_usage_is_first_seen_and_holds_while_it_grows(
    org_pair: tuple[Org, Org],
) -> None:
    org, _ = org_pair
    started, seen = observe(org, 10)
    assert seen == 10
    assert started is not None
    assert abs((timezone.now() - started).total_seconds()) < 60

    assert observe(org, 25) == (started, 25)
    assert observe(org, 25) == (started, 25)
    assert observe(org, None) == (started, 25)  # an answer without the header


def test_a_lower_count_or_a_day_old_window_starts_it_over(
    org_pair: tuple[Org, Org],
) -> None:
    org, _ = org_pair
    long_ago = timezone.now() - WINDOW - timedelta(minutes=1)
    Org.objects.filter(pk=org.pk).update(
        api_window_started_at=long_ago, api_used_seen=5
    )

    started, seen = observe(org, 7)
    assert seen == 7
    assert started is not None
    assert started > long_ago

    an_hour_ago = timezone.now() - timedelta(hours=1)
    Org.objects.filter(pk=org.pk).update(api_window_started_at=an_hour_ago)
    restarted, seen = observe(org, 3)
    assert seen == 3
    assert restarted is not None
    assert restarted > an_hour_ago
