"""Self-healing runs against the emulator (issue 11): transient faults retried in
place, a lost write answer settled in place, the budget running out and the automatic
resume, the API allowance pause and its resume (with the emulator's clock)."""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterator
from typing import Any

import pytest
from django.contrib.auth.models import User
from django.db import OperationalError
from django.test import Client
from django.urls import reverse
from pytest_django import Settings

from migrations_app.models import (
    InterruptCause,
    RecordMapping,
    Run,
    RunAttempt,
    Template,
    WriteJournal,
)
from migrations_app.selectors import run_result
from migrations_app.services import writes
from migrations_app.services.allowance import run_wake_waiting
from migrations_app.services.leases import run_auto_resume
from migrations_app.services.runs import run_claim, run_create, run_execute
from tests.integration.conftest import OrgPair, make_template

pytestmark = [pytest.mark.django_db, pytest.mark.integration]

CONTACT = {"sobject": "Contact", "fields": ["LastName", "Email"]}


@pytest.fixture(autouse=True)
def _fast_retries(settings: Settings) -> None:
    settings.RUN_RETRY_BASE_SECONDS = 0.001
    settings.RUN_RETRY_MAX_SECONDS = 0.01
    settings.RUN_AUTO_RESUME_DELAY_SECONDS = 0


def seed(orgs: OrgPair, count: int) -> None:
    orgs.source_org.insert_many(
        "Contact",
        ({"LastName": f"H{i:04d}", "Email": f"h{i}@example.com"} for i in range(count)),
    )


def target_emails(orgs: OrgPair) -> Counter[str]:
    return Counter(c["Email"] for c in orgs.target_org.records("Contact"))


def launch(orgs: OrgPair, strategy: str = "veid") -> Run:
    template = Template.objects.filter(name="Contacts").first()
    return run_create(
        template=template or make_template("Contacts", CONTACT),
        source_org=orgs.source,
        target_org=orgs.target,
        strategy=strategy,
    )


def test_503s_and_dropped_connections_on_reads_and_writes_are_retried_in_place(
    orgs: OrgPair,
) -> None:
    seed(orgs, 1000)
    # The HTTP session absorbs quick blips on reads; the writes (5 creates) and the
    # reads it gives up on go through the run's budget.
    for org in (orgs.source_org, orgs.target_org):
        org.faults.update(failure_rate=0.5, seed=11)

    run = run_execute(run_id=launch(orgs).pk)

    assert run.status == Run.Status.SUCCEEDED, run.error
    assert run.retries_spent > 0
    assert run.inserted == 1000
    assert target_emails(orgs) == Counter({f"h{i}@example.com": 1 for i in range(1000)})
    assert RecordMapping.objects.count() == 1000
    report = run.report["retries"]
    assert report["spent"] == run.retries_spent
    assert set(report["by_kind"]) <= {"SERVER_UNAVAILABLE", "TRANSPORT"}


def test_a_lost_insert_answer_is_reconciled_in_place_and_only_the_rest_sent(
    orgs: OrgPair,
) -> None:
    seed(orgs, 250)
    # The first Collections create (200 records) is applied, its answer lost.
    orgs.target_org.faults.update(fail_after_writes=1)

    run = run_execute(run_id=launch(orgs).pk)

    assert run.status == Run.Status.SUCCEEDED, run.error
    assert run.inserted == 250
    assert sum(target_emails(orgs).values()) == 250  # no record twice
    assert RecordMapping.objects.count() == 250
    entries = WriteJournal.objects.order_by("pk")
    assert next(e.state for e in entries) == WriteJournal.State.RECONCILED
    assert run.retries_spent == 1


def test_updates_whose_answer_was_lost_are_sent_again(orgs: OrgPair) -> None:
    seed(orgs, 20)
    run_execute(run_id=launch(orgs).pk)
    for contact in orgs.source_org.records("Contact"):
        orgs.source_org.update("Contact", contact["Id"], {"LastName": "Changed"})
    orgs.target_org.faults.update(fail_after_writes=1)

    run = run_execute(run_id=launch(orgs).pk)

    assert run.status == Run.Status.SUCCEEDED, run.error
    assert run.updated == 20
    assert {c["LastName"] for c in orgs.target_org.records("Contact")} == {"Changed"}
    assert run.retries_spent == 1


def test_a_spent_budget_interrupts_saying_so_and_the_sweep_resumes_it(
    orgs: OrgPair, settings: Settings
) -> None:
    settings.RUN_RETRY_BUDGET = 3
    seed(orgs, 30)
    orgs.target_org.faults.update(failure_rate=1.0, failure_kinds=["503"])

    first = run_execute(run_id=launch(orgs).pk)

    assert first.status == Run.Status.INTERRUPTED
    assert first.interrupt_cause == InterruptCause.RETRY_BUDGET
    assert "after 3 retries, the run's retry budget" in first.error
    assert first.retries_spent == 3
    orgs.target_org.faults.update(failure_rate=0.0)

    assert run_auto_resume() == [first.pk]
    done = run_execute(run_id=first.pk)

    assert done.status == Run.Status.SUCCEEDED, done.error
    assert done.inserted == 30
    assert sum(target_emails(orgs).values()) == 30
    attempts = list(RunAttempt.objects.filter(run=done).order_by("number"))
    assert [a.outcome for a in attempts] == [
        Run.Status.INTERRUPTED,
        Run.Status.SUCCEEDED,
    ]
    assert attempts[0].retries == 3
    assert attempts[1].started_because == (
        "Resumed automatically (1 of 5) after: retry budget spent on transient faults"
    )


def test_automatic_resumes_stop_at_the_limit_and_not_for_unexpected_errors(
    orgs: OrgPair, settings: Settings
) -> None:
    settings.RUN_AUTO_RESUME_LIMIT = 1
    run = launch(orgs)
    Run.objects.filter(pk=run.pk).update(
        status=Run.Status.INTERRUPTED,
        interrupt_cause=InterruptCause.LEASE_EXPIRED,
        auto_resumes=1,
    )
    other = launch(orgs)
    Run.objects.filter(pk=other.pk).update(
        status=Run.Status.INTERRUPTED, interrupt_cause=InterruptCause.UNEXPECTED
    )

    assert run_auto_resume() == []


def test_the_run_page_lists_each_attempt_with_its_cause(
    orgs: OrgPair, settings: Settings
) -> None:
    settings.RUN_RETRY_BUDGET = 0
    seed(orgs, 5)
    orgs.target_org.faults.update(failure_rate=1.0, failure_kinds=["drop"])
    run = run_execute(run_id=launch(orgs).pk)
    orgs.target_org.faults.update(failure_rate=0.0)
    run_auto_resume()
    run_execute(run_id=run.pk)
    client = Client()
    client.force_login(User.objects.create_superuser("boss", "b@example.com", "pw"))

    page = client.get(reverse("migrations_app:run-progress", args=[run.pk]))

    text = page.content.decode()
    assert 'aria-label="Attempts"' in text
    assert "Launched → interrupted" in text
    assert "Resumed automatically (1 of 5) after: retry budget spent" in text


# API allowance -----------------------------------------------------------------------


def use_up_allowance(orgs: OrgPair, *, limit: int, left: int) -> None:
    """The target's allowance is ``limit`` a day, with ``left`` calls still free."""
    orgs.target_org.faults.update(api_limit=limit)
    orgs.target_org.api_calls = limit - left


@pytest.fixture
def clock_back(orgs: OrgPair) -> Iterator[None]:
    """The emulator is shared by the session: put its clock back afterwards."""
    yield
    orgs.emulator.set_clock_offset(0)


def test_a_run_that_would_eat_into_the_reserve_waits_and_resumes_when_the_window_frees(
    orgs: OrgPair, settings: Settings, clock_back: None
) -> None:
    settings.RUN_ALLOWANCE_RECHECK_SECONDS = 3600
    seed(orgs, 30)
    # 1,000 a day, 10% (100) reserved: with 60 left nothing may be spent.
    use_up_allowance(orgs, limit=1000, left=60)

    run = run_execute(run_id=launch(orgs).pk)

    assert run.status == Run.Status.WAITING
    assert run.error.startswith(
        "Waiting for API allowance: target needs about 4 calls for Contact"
    )
    assert "100 of which are its reserve (10% of the daily allowance" in run.error
    assert "Resumes at " in run.error
    assert run.resume_at is not None
    assert orgs.target_org.count("Contact") == 0
    # Not a writer: another run on the same pair may take the pair meanwhile.
    other = launch(orgs, strategy="veid")
    assert run_claim(run_id=other.pk) is not None
    Run.objects.filter(pk=other.pk).update(status=Run.Status.CANCELLED)
    assert run_wake_waiting() == []  # not due yet

    orgs.emulator.advance_clock(24 * 3600)  # the org's 24-hour window starts over
    settings.RUN_ALLOWANCE_RECHECK_SECONDS = 0
    assert run_wake_waiting() == [run.pk]
    done = run_execute(run_id=run.pk)

    assert done.status == Run.Status.SUCCEEDED, done.error
    assert done.inserted == 30
    attempts = RunAttempt.objects.filter(run=done).order_by("number")
    assert [a.outcome for a in attempts] == [
        Run.Status.WAITING,
        Run.Status.SUCCEEDED,
    ]
    assert attempts[1].started_because == "Periodic check of the API allowance"


def test_lowering_the_reserve_resumes_a_waiting_run_at_once(
    orgs: OrgPair, settings: Settings
) -> None:
    settings.RUN_ALLOWANCE_RECHECK_SECONDS = 3600
    seed(orgs, 30)
    use_up_allowance(orgs, limit=1000, left=60)
    run = run_execute(run_id=launch(orgs).pk)
    assert run.status == Run.Status.WAITING

    orgs.target.api_reserve_percent = 0
    orgs.target.save(update_fields=["api_reserve_percent"])

    assert run_wake_waiting() == [run.pk]
    done = run_execute(run_id=run.pk)
    assert done.status == Run.Status.SUCCEEDED, done.error
    assert RunAttempt.objects.get(run=done, number=2).started_because == (
        "target's API reserve was lowered to 0%: checking the allowance again"
    )


def test_a_woken_run_still_short_of_calls_waits_again_after_one_call(
    orgs: OrgPair, settings: Settings
) -> None:
    settings.RUN_ALLOWANCE_RECHECK_SECONDS = 0
    seed(orgs, 30)
    use_up_allowance(orgs, limit=1000, left=60)
    run = run_execute(run_id=launch(orgs).pk)
    calls = orgs.target_org.api_calls

    run_wake_waiting()
    again = run_execute(run_id=run.pk)

    assert again.status == Run.Status.WAITING
    assert orgs.target_org.api_calls - calls == 1  # only the /limits call
    assert orgs.target_org.count("Contact") == 0


def test_an_allowance_spent_by_others_mid_run_pauses_instead_of_failing(
    orgs: OrgPair, settings: Settings
) -> None:
    settings.RUN_ALLOWANCE_RECHECK_SECONDS = 0
    seed(orgs, 450)
    # Enough for the plan, not for the writes: other integrations spent the rest.
    orgs.target_org.faults.update(api_limit=orgs.target_org.api_calls + 5)
    orgs.target.api_reserve_percent = 0
    orgs.target.save(update_fields=["api_reserve_percent"])

    run = run_execute(run_id=launch(orgs).pk)

    assert run.status == Run.Status.WAITING, run.error
    assert "target" in run.error
    orgs.target_org.faults.update(api_limit=15000)
    run_wake_waiting()
    done = run_result(run=run_execute(run_id=run.pk))
    assert done["status"] == Run.Status.SUCCEEDED, done
    assert sum(target_emails(orgs).values()) == 450


# A lost database connection ---------------------------------------------------------


@pytest.mark.django_db(transaction=True)
def test_a_database_lost_mid_batch_ends_in_a_clean_interrupt_and_resume(
    orgs: OrgPair, monkeypatch: pytest.MonkeyPatch
) -> None:
    seed(orgs, 450)
    record = writes.record
    calls = {"n": 0}

    def lose_the_database(*args: Any, **kwargs: Any) -> None:
        calls["n"] += 1
        if calls["n"] == 2:  # the second batch was written to Salesforce, then...
            raise OperationalError("server closed the connection unexpectedly")
        record(*args, **kwargs)

    monkeypatch.setattr(writes, "record", lose_the_database)
    first = run_execute(run_id=launch(orgs).pk)

    assert first.status == Run.Status.INTERRUPTED
    assert first.interrupt_cause == InterruptCause.DATABASE
    assert "nothing was half-recorded" in first.error
    # Calls in flight together (WRITE_CONCURRENCY) were each journaled before they
    # were sent. Those recorded before the database went away are counted whole (one
    # call, or several whose answers arrived together); every other is in doubt.
    closed = WriteJournal.objects.filter(state=WriteJournal.State.DONE)
    in_doubt = WriteJournal.objects.filter(state=WriteJournal.State.IN_DOUBT)
    recorded = sum(len(entry.entries) for entry in closed)
    assert first.inserted == recorded == RecordMapping.objects.count()
    assert closed.count() + in_doubt.count() == 3
    assert in_doubt.exists() or first.inserted == 450  # or only the page's close failed

    monkeypatch.setattr(writes, "record", record)
    assert run_auto_resume() == [first.pk]
    done = run_execute(run_id=first.pk)

    assert done.status == Run.Status.SUCCEEDED, done.error
    assert done.inserted == 450
    assert sum(target_emails(orgs).values()) == 450
    assert RecordMapping.objects.count() == 450
