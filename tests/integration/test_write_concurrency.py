"""Writes in flight at once (issue 12): several Collections calls sent before the
first answer is recorded, each record written once, and the database work a first
run can skip skipped."""

from __future__ import annotations

import itertools
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

import pytest
import requests
from django.db import connection
from django.test.utils import CaptureQueriesContext
from pytest_django import Settings

from migrations_app.engine import pages
from migrations_app.models import RecordMapping, Run, WriteJournal
from migrations_app.salesforce import client as client_module
from migrations_app.salesforce.client import SalesforceClient
from migrations_app.services import rows, writes
from migrations_app.services.pipeline import WritePipeline
from tests.integration.conftest import OrgPair, make_template

pytestmark = [pytest.mark.django_db, pytest.mark.integration]

CONTACTS = {"sobject": "Contact", "fields": ["LastName", "Email", "Title"]}
MAPPING_TABLE = RecordMapping._meta.db_table


def seed(pair: OrgPair, count: int) -> None:
    pair.source_org.insert_many(
        "Contact",
        (
            {"LastName": f"Last{i}", "Email": f"c{i}@example.com", "Title": "Old"}
            for i in range(count)
        ),
    )


class InFlight:
    """The most calls of one client method in progress at the same moment."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self.now = 0
        self.most = 0
        self.calls = 0

    def wrap(self, method: Callable[..., Any]) -> Callable[..., Any]:
        def counted(*args: Any, **kwargs: Any) -> Any:
            with self._lock:
                self.now += 1
                self.calls += 1
                self.most = max(self.most, self.now)
            try:
                return method(*args, **kwargs)
            finally:
                with self._lock:
                    self.now -= 1

        return counted


@contextmanager
def counting(monkeypatch: pytest.MonkeyPatch, method: str) -> Iterator[InFlight]:
    in_flight = InFlight()
    monkeypatch.setattr(
        SalesforceClient, method, in_flight.wrap(getattr(SalesforceClient, method))
    )
    yield in_flight


def target_contacts(pair: OrgPair) -> list[dict[str, Any]]:
    return list(pair.target_org.records("Contact"))


def assert_each_contact_once(pair: OrgPair, count: int) -> None:
    """The target holds ``count`` Contacts, none of them twice."""
    emails = [record["Email"] for record in target_contacts(pair)]
    assert len(emails) == len(set(emails)) == count


def test_insert_calls_are_in_flight_together_and_each_record_is_written_once(
    orgs: OrgPair, settings: Settings, monkeypatch: pytest.MonkeyPatch
) -> None:
    settings.WRITE_CONCURRENCY = 4
    seed(orgs, 2_450)  # 13 calls of 200, over two pages of 2,000
    orgs.target_org.faults.update(latency_ms=40)
    template = make_template("Contacts", CONTACTS)

    with counting(monkeypatch, "create") as inserts:
        result = orgs.migrate(template, "veid")

    assert result["status"] == Run.Status.SUCCEEDED, result
    assert result["totals"]["inserted"] == 2_450
    assert inserts.calls == 13
    assert 2 <= inserts.most <= 4
    assert_each_contact_once(orgs, 2_450)
    assert RecordMapping.objects.count() == 2_450


def first_answered_after(others: int) -> Callable[..., Any]:
    """``SalesforceClient.create`` whose first call is answered only once ``others``
    calls after it are."""
    others_answered = threading.Semaphore(0)
    create = SalesforceClient.create
    calls = itertools.count()

    def first_answered_later(self: SalesforceClient, *args: Any, **kwargs: Any) -> Any:
        first = next(calls) == 0
        answer = create(self, *args, **kwargs)
        if first:
            for _ in range(others):
                assert others_answered.acquire(timeout=10)
        else:
            others_answered.release()
        return answer

    return first_answered_later


def recorded_mapping_rows(monkeypatch: pytest.MonkeyPatch) -> list[int]:
    """The number of mapping rows of each recording transaction, as they come."""
    recorded: list[int] = []
    batch_save = rows.batch_save

    def recording(run: Run, sobject: str, **saved: Any) -> None:
        recorded.append(len(saved["mappings"]))
        batch_save(run, sobject, **saved)

    monkeypatch.setattr(rows, "batch_save", recording)
    return recorded


def test_answers_that_arrive_together_are_recorded_in_one_transaction(
    orgs: OrgPair, settings: Settings, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The first call's answer is held until the three after it are answered: its
    recording takes all four, and each journal entry is closed with its records."""
    settings.WRITE_CONCURRENCY = 4
    seed(orgs, 800)  # 4 calls of 200
    template = make_template("Contacts", CONTACTS)
    monkeypatch.setattr(SalesforceClient, "create", first_answered_after(3))
    recorded = recorded_mapping_rows(monkeypatch)

    result = orgs.migrate(template, "veid")

    assert result["status"] == Run.Status.SUCCEEDED, result
    assert result["totals"]["inserted"] == 800
    assert [size for size in recorded if size] == [800]
    assert WriteJournal.objects.count() == 4
    assert not WriteJournal.objects.exclude(state=WriteJournal.State.DONE).exists()
    assert_each_contact_once(orgs, 800)
    assert RecordMapping.objects.count() == 800


def test_a_slow_call_does_not_hold_up_the_calls_after_it(
    orgs: OrgPair, settings: Settings, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Two places: the first call is answered only once three calls after it are.
    They take its neighbour's place in turn; their answers wait, unrecorded, for
    the first one's (answers are recorded in the order sent)."""
    settings.WRITE_CONCURRENCY = 2
    seed(orgs, 1_000)  # 5 calls of 200
    template = make_template("Contacts", CONTACTS)
    in_flight = InFlight()
    monkeypatch.setattr(
        SalesforceClient, "create", in_flight.wrap(first_answered_after(3))
    )
    recorded = recorded_mapping_rows(monkeypatch)

    result = orgs.migrate(template, "veid")

    assert result["status"] == Run.Status.SUCCEEDED, result
    assert result["totals"]["inserted"] == 1_000
    assert in_flight.most == 2
    # Four calls held at most (two per place): the fifth goes once they are recorded.
    assert [size for size in recorded if size] == [800, 200]
    assert_each_contact_once(orgs, 1_000)
    assert not WriteJournal.objects.exclude(state=WriteJournal.State.DONE).exists()


def test_the_next_call_goes_out_before_an_answer_is_recorded(
    orgs: OrgPair, settings: Settings, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A place freed by an answer is filled before that answer is recorded, so that
    no place waits for the database (with a real round trip, 13% faster on
    PostgreSQL)."""
    settings.WRITE_CONCURRENCY = 2
    seed(orgs, 600)  # 3 calls of 200
    template = make_template("Contacts", CONTACTS)
    sent_when_recorded: list[int] = []  # calls handed to the pool's threads
    record_answers = writes.record_answers
    sending = InFlight()

    def recording(*args: Any) -> Any:
        sent_when_recorded.append(sending.calls)
        return record_answers(*args)

    monkeypatch.setattr(writes, "record_answers", recording)
    monkeypatch.setattr(
        WritePipeline, "_open_writer", sending.wrap(WritePipeline._open_writer)
    )
    result = orgs.migrate(template, "veid")

    assert result["totals"]["inserted"] == 600
    assert sent_when_recorded[0] == 3
    assert_each_contact_once(orgs, 600)


def test_a_place_freed_while_this_thread_records_is_filled_by_the_pool(
    orgs: OrgPair, settings: Settings, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The run's thread stalls in its first recording (a slow database). The calls
    answered meanwhile free their places to the waiting ones on the pool's threads:
    every call of the page is sent before that recording ends."""
    settings.WRITE_CONCURRENCY = 2
    seed(orgs, 1_000)  # 5 calls of 200, one page
    template = make_template("Contacts", CONTACTS)
    all_sent = threading.Event()
    sent_during_first_recording: list[bool] = []
    record_answers = writes.record_answers
    create = SalesforceClient.create

    def counted_create(self: SalesforceClient, *args: Any, **kwargs: Any) -> Any:
        if inserts.calls == 5:
            all_sent.set()
        return create(self, *args, **kwargs)

    def slow_recording(*args: Any) -> Any:
        if not sent_during_first_recording:
            sent_during_first_recording.append(all_sent.wait(timeout=5))
        return record_answers(*args)

    monkeypatch.setattr(writes, "record_answers", slow_recording)
    monkeypatch.setattr(SalesforceClient, "create", counted_create)
    with counting(monkeypatch, "create") as inserts:
        result = orgs.migrate(template, "veid")

    assert result["status"] == Run.Status.SUCCEEDED, result
    assert sent_during_first_recording == [True]
    assert (inserts.calls, inserts.most) == (5, 2)
    assert_each_contact_once(orgs, 1_000)
    assert RecordMapping.objects.count() == 1_000
    assert not WriteJournal.objects.exclude(state=WriteJournal.State.DONE).exists()


def test_the_next_page_is_decided_while_calls_of_this_one_wait_for_places(
    orgs: OrgPair, settings: Settings, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A page's last calls wait for places while the next page is decided (the
    pool's threads send them), rather than holding the run's thread until sent."""
    settings.WRITE_CONCURRENCY = 2
    seed(orgs, 2_450)  # pages of 2,000 and 450: 10 and 3 calls of 200
    # Slow enough that the calls just sent are still in flight when the next page's
    # deciding starts, even on a busy machine.
    orgs.target_org.faults.update(latency_ms=150)
    template = make_template("Contacts", CONTACTS)
    sent_when_deciding: list[int] = []
    decide_page = pages.decide_page

    def deciding(*args: Any) -> Any:
        sent_when_deciding.append(inserts.calls)
        return decide_page(*args)

    monkeypatch.setattr(pages, "decide_page", deciding)
    with counting(monkeypatch, "create") as inserts:
        result = orgs.migrate(template, "veid")

    assert result["status"] == Run.Status.SUCCEEDED, result
    assert sent_when_deciding[0] == 0
    assert sent_when_deciding[1] < 10
    assert (inserts.calls, inserts.most) == (13, 2)
    assert_each_contact_once(orgs, 2_450)


def test_a_page_s_insert_calls_are_journaled_together_before_any_is_sent(
    orgs: OrgPair, settings: Settings, monkeypatch: pytest.MonkeyPatch
) -> None:
    """One statement a page commits the entries of all its insert calls (DESIGN
    invariant 3), rather than one each time a place frees up."""
    settings.WRITE_CONCURRENCY = 2
    seed(orgs, 2_450)  # pages of 2,000 and 450: 10 and 3 calls of 200
    template = make_template("Contacts", CONTACTS)
    journaled: list[tuple[int, int]] = []  # (entries, calls sent before them)
    journal_insert = rows.journal_insert

    def journaling(run: Run, sobject: str, entry_lists: Any) -> Any:
        journaled.append((len(entry_lists), inserts.calls))
        return journal_insert(run, sobject, entry_lists)

    monkeypatch.setattr(rows, "journal_insert", journaling)
    with counting(monkeypatch, "create") as inserts:
        result = orgs.migrate(template, "veid")

    assert result["totals"]["inserted"] == 2_450
    assert [entries for entries, _ in journaled] == [10, 3]
    assert journaled[0][1] == 0
    assert journaled[1][1] <= 10
    assert WriteJournal.objects.count() == 13
    assert_each_contact_once(orgs, 2_450)


def test_entries_of_calls_never_sent_are_settled_and_their_records_sent_once(
    orgs: OrgPair, settings: Settings, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A run stops with a page's later calls journaled but not sent. The next run
    on the pair settles their entries (nothing of theirs in the target) and sends
    those records once; the call that was in flight is found, not sent again."""
    settings.WRITE_CONCURRENCY = 2
    seed(orgs, 1_000)  # 5 calls of 200, one page
    template = make_template("Contacts", CONTACTS)
    create = SalesforceClient.create
    calls = itertools.count(1)

    def first_call_breaks(self: SalesforceClient, *args: Any, **kwargs: Any) -> Any:
        call = next(calls)
        if call == 1:
            raise RuntimeError("the worker broke before sending this call")
        if call == 2:
            time.sleep(0.3)  # still in flight when the first one breaks
        return create(self, *args, **kwargs)

    monkeypatch.setattr(SalesforceClient, "create", first_call_breaks)
    with (
        counting(monkeypatch, "create") as broken,
        pytest.raises(RuntimeError, match="broke"),
    ):
        orgs.migrate(template, "veid")
    monkeypatch.setattr(SalesforceClient, "create", create)

    assert Run.objects.get().status == Run.Status.INTERRUPTED
    assert broken.calls < 5  # the last calls were never sent...
    assert WriteJournal.objects.count() == 5  # ...though journaled
    in_doubt = WriteJournal.objects.filter(state=WriteJournal.State.IN_DOUBT)
    assert in_doubt.count() == 5
    assert len(target_contacts(orgs)) == (broken.calls - 1) * 200

    with counting(monkeypatch, "create") as inserts:
        result = orgs.migrate(template, "veid")

    assert result["status"] == Run.Status.SUCCEEDED, result
    assert not WriteJournal.objects.filter(state=WriteJournal.State.IN_DOUBT).exists()
    assert_each_contact_once(orgs, 1_000)
    assert RecordMapping.objects.count() == 1_000
    assert inserts.calls == 5 - (broken.calls - 1)  # only what was not created


def test_one_call_at_a_time_when_concurrency_is_one(
    orgs: OrgPair, settings: Settings, monkeypatch: pytest.MonkeyPatch
) -> None:
    settings.WRITE_CONCURRENCY = 1
    seed(orgs, 450)
    template = make_template("Contacts", CONTACTS)

    with counting(monkeypatch, "create") as inserts:
        result = orgs.migrate(template, "veid")

    assert result["totals"]["inserted"] == 450
    assert (inserts.calls, inserts.most) == (3, 1)


def test_a_first_run_does_not_look_up_mappings_of_its_own_object(
    orgs: OrgPair,
) -> None:
    seed(orgs, 300)
    template = make_template("Contacts", CONTACTS)

    with CaptureQueriesContext(connection) as first_queries:
        first = orgs.migrate(template, "veid")
    with CaptureQueriesContext(connection) as again_queries:
        again = orgs.migrate(template, "veid", full=True)

    assert first["totals"]["inserted"] == 300
    # The pair had no Contact mapping: no page asks for one.
    assert not mapping_lookups(first_queries)
    # The next run finds them all, and writes nothing twice.
    assert mapping_lookups(again_queries)
    assert again["totals"]["unchanged"] == 300
    assert len(target_contacts(orgs)) == 300


def mapping_lookups(queries: CaptureQueriesContext) -> list[str]:
    """The page lookups: reads of the mapping table by source id."""
    return [
        sql
        for sql in (query["sql"] for query in queries.captured_queries)
        if sql.startswith("SELECT")
        and MAPPING_TABLE in sql
        and ('"source_id" IN' in sql or "source_id = ANY" in sql)
    ]


def test_update_calls_are_in_flight_together_too(
    orgs: OrgPair, settings: Settings, monkeypatch: pytest.MonkeyPatch
) -> None:
    settings.WRITE_CONCURRENCY = 4
    seed(orgs, 1_000)
    template = make_template("Contacts", CONTACTS)
    orgs.migrate(template, "veid")
    for record in orgs.source_org.records("Contact"):
        orgs.source_org.update("Contact", record["Id"], {"Title": "New"})
    orgs.target_org.faults.update(latency_ms=40)

    with counting(monkeypatch, "update") as updates:
        again = orgs.migrate(template, "veid", full=True)

    assert again["status"] == Run.Status.SUCCEEDED, again
    assert again["totals"]["updated"] == 1_000
    assert updates.calls == 5
    assert 2 <= updates.most <= 4
    assert {record["Title"] for record in target_contacts(orgs)} == {"New"}
    assert len(target_contacts(orgs)) == 1_000


@pytest.fixture
def small_bulk_jobs(settings: Settings) -> Settings:
    """Bulk API 2.0 ingest from 100 records on, in jobs of 300; reads stay REST."""
    settings.WRITE_CONCURRENCY = 4
    settings.BULK_QUERY_THRESHOLD = 1_000_000
    settings.BULK_WRITE_THRESHOLD = 100
    settings.BULK_WRITE_JOB_RECORDS = 300
    return settings


def test_bulk_jobs_are_in_flight_together_each_journaled_with_its_job(
    orgs: OrgPair, small_bulk_jobs: Settings, monkeypatch: pytest.MonkeyPatch
) -> None:
    seed(orgs, 1_200)
    orgs.target_org.faults.update(latency_ms=40)
    template = make_template("Contacts", CONTACTS)

    with counting(monkeypatch, "bulk_run_job") as jobs:
        result = orgs.migrate(template, "veid")

    assert result["status"] == Run.Status.SUCCEEDED, result
    assert result["totals"]["inserted"] == 1_200
    assert jobs.calls == 4
    assert 2 <= jobs.most <= 4
    entries = list(WriteJournal.objects.all())
    assert len(entries) == 4
    assert all(e.bulk_job_id and e.state == WriteJournal.State.DONE for e in entries)
    assert_each_contact_once(orgs, 1_200)


def test_an_answered_bulk_job_keeps_its_place_until_it_is_recorded(
    orgs: OrgPair, small_bulk_jobs: Settings, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Unlike a Collections call's (above), so that no more than two jobs' records
    are held at once: while the first job is awaited, no third one starts."""
    small_bulk_jobs.WRITE_CONCURRENCY = 2
    seed(orgs, 1_500)  # 5 jobs of 300
    template = make_template("Contacts", CONTACTS)
    second_answered = threading.Semaphore(0)
    run_job = SalesforceClient.bulk_run_job
    calls = itertools.count()
    started_when_first_answered: list[int] = []

    def first_answered_after_second(
        self: SalesforceClient, *args: Any, **kwargs: Any
    ) -> Any:
        number = next(calls)
        answer = run_job(self, *args, **kwargs)
        if number == 0:
            assert second_answered.acquire(timeout=10)
            time.sleep(0.5)  # time enough for a third job, were a place free
            started_when_first_answered.append(next(calls))
        elif number == 1:
            second_answered.release()
        return answer

    monkeypatch.setattr(SalesforceClient, "bulk_run_job", first_answered_after_second)
    result = orgs.migrate(template, "veid")

    assert result["totals"]["inserted"] == 1_500, result
    assert started_when_first_answered == [2]
    assert_each_contact_once(orgs, 1_500)


def test_a_lost_answer_among_bulk_jobs_in_flight_is_reconciled_without_duplicates(
    orgs: OrgPair, small_bulk_jobs: Settings
) -> None:
    seed(orgs, 1_200)
    # The next write call (while jobs are opened, uploaded and closed) is applied,
    # then its answer is lost: that job is found by its journaled id.
    orgs.target_org.faults.update(fail_after_writes=1)
    template = make_template("Contacts", CONTACTS)

    result = orgs.migrate(template, "veid")

    assert result["status"] == Run.Status.SUCCEEDED, result
    assert result["totals"]["inserted"] == 1_200
    assert_each_contact_once(orgs, 1_200)
    assert RecordMapping.objects.count() == 1_200
    assert not WriteJournal.objects.filter(state=WriteJournal.State.IN_DOUBT).exists()
    states = sorted(WriteJournal.objects.values_list("state", flat=True))
    assert states == ["done", "done", "done", "reconciled"]
    assert Run.objects.get().retries_spent == 1


def test_a_lost_answer_to_an_upload_starts_a_new_job_and_loads_nothing_twice(
    orgs: OrgPair, small_bulk_jobs: Settings, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The data reached Salesforce but its answer did not. The upload is not sent
    again into the same job (Salesforce takes one per job): the journal finds the
    job never closed, so its records go again in a new job."""
    seed(orgs, 1_200)
    upload = client_module._put_job_data
    lost: list[str] = []

    def upload_then_lose_the_answer(sf: Any, *, job_id: str, data: Any) -> None:
        upload(sf, job_id=job_id, data=data)
        if not lost:
            lost.append(job_id)
            raise requests.ConnectionError("connection reset after the upload")

    monkeypatch.setattr(client_module, "_put_job_data", upload_then_lose_the_answer)
    template = make_template("Contacts", CONTACTS)

    result = orgs.migrate(template, "veid")

    assert result["status"] == Run.Status.SUCCEEDED, result
    assert result["totals"]["inserted"] == 1_200
    assert_each_contact_once(orgs, 1_200)
    assert Run.objects.get().retries_spent == 1
    assert orgs.target_org.jobs[lost[0]].state == "Open"  # never closed, never loaded
