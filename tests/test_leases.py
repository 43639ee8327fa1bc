"""Leases: a dead run is interrupted by whoever notices, and frees its pair."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.utils import timezone
from pytest_django.fixtures import Settings

from migrations_app.models import Org, Run, Template
from migrations_app.services.leases import (
    Heartbeat,
    run_expire_leases,
    run_requeue_lost,
)
from migrations_app.services.runs import PairBusy, run_claim, run_create
from migrations_app.services.templates import template_import

pytestmark = pytest.mark.django_db


@pytest.fixture
def template() -> Template:
    return template_import(
        data={
            "name": "Contacts",
            "objects": [{"sobject": "Contact", "fields": ["LastName"]}],
        }
    )


def _run(org_pair: tuple[Org, Org], template: Template) -> Run:
    source, target = org_pair
    return run_create(
        template=template, source_org=source, target_org=target, strategy="veid"
    )


def test_a_run_whose_lease_expired_is_interrupted_and_frees_its_pair(
    org_pair: tuple[Org, Org], template: Template, settings: Settings
) -> None:
    settings.RUN_LEASE_SECONDS = 60
    dead = _run(org_pair, template)
    run_claim(run_id=dead.pk)
    Run.objects.filter(pk=dead.pk).update(
        heartbeat_at=timezone.now() - timedelta(seconds=61)
    )
    waiting = _run(org_pair, template)

    assert run_expire_leases() == [dead.pk]

    dead.refresh_from_db()
    assert dead.status == Run.Status.INTERRUPTED
    assert "lease" in dead.error
    assert run_claim(run_id=waiting.pk) is not None


def test_a_live_lease_is_left_alone(
    org_pair: tuple[Org, Org], template: Template, settings: Settings
) -> None:
    settings.RUN_LEASE_SECONDS = 60
    live = _run(org_pair, template)
    run_claim(run_id=live.pk)
    Run.objects.filter(pk=live.pk).update(
        heartbeat_at=timezone.now() - timedelta(seconds=30)
    )

    assert run_expire_leases() == []
    waiting = _run(org_pair, template)
    with pytest.raises(PairBusy):
        run_claim(run_id=waiting.pk)


def test_the_claim_itself_notices_a_dead_writer(
    org_pair: tuple[Org, Org], template: Template, settings: Settings
) -> None:
    settings.RUN_LEASE_SECONDS = 60
    dead = _run(org_pair, template)
    run_claim(run_id=dead.pk)
    Run.objects.filter(pk=dead.pk).update(
        heartbeat_at=timezone.now() - timedelta(hours=1)
    )

    assert run_claim(run_id=_run(org_pair, template).pk) is not None


def test_the_heartbeat_renews_the_lease(
    org_pair: tuple[Org, Org], template: Template, settings: Settings
) -> None:
    run = _run(org_pair, template)
    run_claim(run_id=run.pk)
    old = timezone.now() - timedelta(minutes=5)
    Run.objects.filter(pk=run.pk).update(heartbeat_at=old)

    Heartbeat(run.pk).renew()

    run.refresh_from_db()
    assert run.heartbeat_at is not None
    assert run.heartbeat_at > old


def test_a_queued_run_whose_job_was_lost_is_enqueued_again(
    org_pair: tuple[Org, Org], template: Template, monkeypatch: pytest.MonkeyPatch
) -> None:
    enqueued: list[int] = []
    monkeypatch.setattr(
        "migrations_app.jobs.enqueue_run", lambda *, run_id: enqueued.append(run_id)
    )
    writer = _run(org_pair, template)
    run_claim(run_id=writer.pk)
    waiting = _run(org_pair, template)
    source, _ = org_pair
    other = Org.objects.create(name="other", login_url="https://login.example.com")
    free = run_create(
        template=template, source_org=source, target_org=other, strategy="veid"
    )

    assert run_requeue_lost() == [free.pk]
    assert enqueued == [free.pk]
    assert waiting.pk not in enqueued  # its pair is busy: the writer starts it
