"""Runs on real worker processes: launched from the dashboard, one writer per pair,
a worker killed with SIGKILL, cancel, and a clean stop."""

from __future__ import annotations

import time
from collections import Counter
from datetime import datetime
from subprocess import Popen

import django_rq
import pytest
from django.contrib.auth.models import User
from django.test import Client
from django.urls import reverse
from pytest_django.fixtures import Settings as SettingsWrapper
from rq import Worker
from rq.worker import WorkerStatus

from migrations_app.models import RecordMapping, RecordResult, Run, Template
from migrations_app.services.leases import run_expire_leases
from migrations_app.services.runs import run_execute, run_launch, run_resume
from tests.integration.conftest import OrgPair, make_template
from tests.integration.workers import (
    kill_worker,
    start_worker,
    stop_worker,
    wait_until,
)

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.integration]

CONTACTS = {"sobject": "Contact", "fields": ["LastName", "Email"]}


@pytest.fixture(autouse=True)
def _empty_queue() -> None:
    django_rq.get_queue("default").empty()


def _seed_contacts(orgs: OrgPair, count: int, prefix: str = "W") -> None:
    orgs.source_org.insert_many(
        "Contact",
        (
            {
                "LastName": f"{prefix}{i:05d}",
                "Email": f"{prefix.lower()}{i}@example.com",
            }
            for i in range(count)
        ),
    )


def _target_names(orgs: OrgPair) -> Counter[str]:
    return Counter(
        row["LastName"]
        for row in orgs.emulator.salesforce("target").query_all(
            "SELECT LastName FROM Contact"
        )["records"]
    )


def test_a_run_launched_from_the_dashboard_runs_on_a_worker_process(
    orgs: OrgPair, workers: list[Popen[bytes]]
) -> None:
    _seed_contacts(orgs, 30)
    template = make_template("Contacts", CONTACTS)
    client = Client()
    client.force_login(User.objects.create_superuser("boss", "b@example.com", "pw"))

    response = client.post(
        reverse("migrations_app:run-new"),
        {
            "template": template.pk,
            "source_org": orgs.source.pk,
            "target_org": orgs.target.pk,
            "strategy": "veid",
            "launch": "1",
        },
    )
    assert response.status_code == 302
    worker = start_worker(burst=True)
    workers.append(worker)
    worker.wait(timeout=120)

    run = Run.objects.get()
    assert (run.status, run.selected, run.inserted) == ("succeeded", 30, 30)
    assert RecordResult.objects.filter(run=run, action="inserted").count() == 30
    assert sum(_target_names(orgs).values()) == 30


def _span(run: Run) -> tuple[datetime, datetime]:
    """When a run that succeeded started and ended writing."""
    run.refresh_from_db()
    assert run.status == Run.Status.SUCCEEDED, run.error
    assert run.started_at is not None
    assert run.finished_at is not None
    return run.started_at, run.finished_at


def test_runs_on_one_pair_take_turns_and_other_pairs_go_in_parallel(
    orgs: OrgPair, workers: list[Popen[bytes]]
) -> None:
    _seed_contacts(orgs, 400, "S")
    orgs.target_org.insert_many(
        "Contact", ({"LastName": f"T{i:05d}"} for i in range(400))
    )
    # Each run lasts about a second: long enough for the second worker, told that
    # the pair is busy, to start the other pair's run while the first is writing.
    for org in (orgs.source_org, orgs.target_org):
        org.faults.update(latency_ms=100)
    template = make_template("Contacts", CONTACTS)
    same_pair = [
        run_launch(
            template=template,
            source_org=orgs.source,
            target_org=orgs.target,
            strategy="none",
        )
        for _ in range(2)
    ]
    other_pair = run_launch(
        template=template,
        source_org=orgs.target,
        target_org=orgs.source,
        strategy="none",
    )
    workers.extend(start_worker() for _ in range(2))

    def all_finished() -> bool:
        """every run finished"""
        return not Run.objects.filter(status__in=("queued", "running")).exists()

    wait_until(all_finished, timeout=300)

    first, second = (_span(run) for run in same_pair)
    other = _span(other_pair)
    earlier, later = sorted((first, second))
    assert earlier[1] <= later[0], "two runs on one pair wrote at the same time"
    assert max(earlier[0], other[0]) < min(earlier[1], other[1]), (
        "runs on two different pairs should have written at the same time"
    )


def test_a_killed_worker_frees_its_pair_and_resume_ends_like_a_clean_run(
    orgs: OrgPair, workers: list[Popen[bytes]], settings: SettingsWrapper
) -> None:
    settings.RUN_LEASE_SECONDS = 2
    _seed_contacts(orgs, 6100, "K")
    # Slow enough that the run is still writing when the worker is killed, with
    # several insert calls in flight from one page to the next.
    orgs.target_org.faults.update(latency_ms=600)
    template = make_template("Contacts", CONTACTS)
    run = run_launch(
        template=template,
        source_org=orgs.source,
        target_org=orgs.target,
        strategy="veid",
    )
    worker = start_worker(RUN_LEASE_SECONDS="2")
    workers.append(worker)

    def some_written() -> bool:
        """the worker wrote some records"""
        return RecordResult.objects.filter(run=run).count() >= 400

    wait_until(some_written)
    time.sleep(2.5)  # longer than the lease: a live run keeps renewing it
    assert run_expire_leases() == []
    kill_worker(worker)
    assert Run.objects.get(pk=run.pk).inserted < 6100, "killed too late to test"

    def interrupted() -> bool:
        """the lease expired and the run was interrupted"""
        run_expire_leases()
        return Run.objects.get(pk=run.pk).status == Run.Status.INTERRUPTED

    wait_until(interrupted, timeout=30)
    run.refresh_from_db()
    assert "lease" in run.error
    assert not Run.objects.filter(status="running").exists()  # the pair is free

    orgs.target_org.faults.update(latency_ms=0)
    run_resume(run=run)
    run = run_execute(run_id=run.pk)

    assert (run.status, run.attempts) == ("succeeded", 2)
    assert run.outcome_counts() == {
        "selected": 6100,
        "inserted": 6100,
        "updated": 0,
        "adopted": 0,
        "unchanged": 0,
        "failed": 0,
        "ambiguous": 0,
    }
    names = _target_names(orgs)
    assert (len(names), max(names.values())) == (6100, 1)  # no duplicate
    assert RecordMapping.objects.count() == 6100
    assert RecordResult.objects.filter(run=run).count() == 6100


def test_cancel_stops_a_running_run_between_pages_with_true_counts(
    orgs: OrgPair, workers: list[Popen[bytes]]
) -> None:
    _seed_contacts(orgs, 6000, "C")
    orgs.target_org.faults.update(latency_ms=100)
    template: Template = make_template("Contacts", CONTACTS)
    run = run_launch(
        template=template,
        source_org=orgs.source,
        target_org=orgs.target,
        strategy="veid",
    )
    workers.append(start_worker())

    def writing() -> bool:
        """the run started writing"""
        return RecordResult.objects.filter(run=run).exists()

    wait_until(writing)
    client = Client()
    client.force_login(User.objects.create_superuser("boss", "b@example.com", "pw"))
    client.post(reverse("migrations_app:run-cancel", args=[run.pk]))

    def cancelled() -> bool:
        """the run stopped as cancelled"""
        return Run.objects.get(pk=run.pk).status == Run.Status.CANCELLED

    wait_until(cancelled)
    run.refresh_from_db()
    written = sum(_target_names(orgs).values())
    assert 0 < written < 6000
    assert run.inserted == written == RecordResult.objects.filter(run=run).count()
    assert run.selected == run.inserted  # whole pages only


def test_a_worker_stops_cleanly_on_sigterm(workers: list[Popen[bytes]]) -> None:
    worker = start_worker()
    connection = django_rq.get_queue("default").connection

    def listening() -> bool:
        """the worker waits for jobs (its signal handlers are in place by then)"""
        return any(
            w.pid == worker.pid and w.get_state() == WorkerStatus.IDLE
            for w in Worker.all(connection=connection)
        )

    wait_until(listening, timeout=30)

    output = stop_worker(worker)

    assert worker.returncode == 0, output
    assert "Traceback" not in output
