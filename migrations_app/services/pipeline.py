"""Several writes of a page in flight at once (``WRITE_CONCURRENCY``): sObject
Collections calls or Bulk API jobs, inserts and updates, recorded in the order sent.
"""

from __future__ import annotations

import threading
from collections import deque
from collections.abc import Callable, Sequence
from concurrent.futures import FIRST_COMPLETED, Future, ThreadPoolExecutor, wait
from dataclasses import dataclass
from functools import partial
from typing import Any

from django.conf import settings

from migrations_app.engine import pages
from migrations_app.engine.pages import PageDecision, Write
from migrations_app.engine.planning import ObjectPlan
from migrations_app.engine.strategy import Strategy
from migrations_app.salesforce import client
from migrations_app.salesforce.client import SalesforceClient, SaveResult
from migrations_app.salesforce.errors import SalesforceError
from migrations_app.services import journal, writes
from migrations_app.services.before_images import before_images_keep
from migrations_app.services.context import RunContext


def write_pipeline(context: RunContext, plan: ObjectPlan) -> WritePipeline | None:
    """A pipeline with several Collections calls or Bulk API jobs in flight, or None
    where calls go one by one (one worker, or a dry run, which sends nothing).

    Its calls stay in flight from one page to the next unless a page's decisions
    may depend on the previous page's writes: a lookup to the object itself, or a
    veid_match query, which must not adopt a target the page before just mapped.
    """
    workers = settings.WRITE_CONCURRENCY
    if workers <= 1 or context.run.dry_run:
        return None
    depends = context.strategy is Strategy.VEID_MATCH or plan.points_to_itself
    return WritePipeline(context, plan, workers, across_pages=not depends)


@dataclass
class Call:
    """One write of a page, a Collections call or a Bulk API job: inserts
    (journaled) or updates (replayable)."""

    operation: str  # "insert" or "update"
    writes: list[Write]
    # An insert call's journal entry, committed before the call is sent.
    entry: journal.Entry | None = None


@dataclass
class Sent:
    sequence: int  # the order sent: a page is closed once its last call is recorded
    call: Call
    answer: Future[list[SaveResult]]


class WritePipeline:
    """A page's insert and update calls, ``workers`` of them in flight at once.

    Each insert call is journaled (committed) before it is sent; only the HTTP
    calls run on the pool's threads, and this thread records the answers in the
    order sent, those that arrived together in one transaction, each call whole in
    it (DESIGN invariants 3 and 6). A page is closed
    (its counts and checkpoint) as soon as its last call is recorded, before any
    call of the next page is. ``across_pages``: the last calls of a page stay in
    flight, or waiting, while the next page is read and decided. After a lost
    answer, what is in flight is recorded, the doubts are settled in place, and the
    rest goes one call at a time.

    A pool thread whose call is answered sends the next waiting call itself when
    that call needs only the network (a journaled Collections insert): a place
    then does not stay empty while this thread decides a page or waits for the
    database. ``lock`` guards what both touch: the waiting and in-flight calls and
    the count sent.
    """

    def __init__(
        self, context: RunContext, plan: ObjectPlan, workers: int, *, across_pages: bool
    ) -> None:
        self.context = context
        self.plan = plan
        self.workers = workers
        self.across_pages = across_pages
        self.pool = ThreadPoolExecutor(max_workers=workers)
        self.sent = 0  # sequence number of the last call sent
        self.in_flight: deque[Sent] = deque()
        self.waiting: deque[Call] = deque()  # calls not sent yet
        # (sequence number of a page's last call, its closer), in page order.
        self.closers: deque[tuple[int, Callable[[], None]]] = deque()
        self.lock = threading.Lock()
        # Places kept free for records about to be sent again (``_record_oldest``).
        self.reserved = 0
        # Whether pool threads may send waiting calls (not after a lost answer, nor
        # once the pool is shut down).
        self.chained = True

    def add(self, calls: list[Call], close: Callable[[], None]) -> None:
        """Queue a page's calls and its closer; return once the page is closed, or,
        where calls stay in flight across pages, once no more than ``workers`` of
        its calls wait (every one of them is journaled already)."""
        self._journal(calls)
        with self.lock:
            self.waiting.extend(calls)
            self.closers.append((self.sent + len(self.waiting), close))
        self._fill()
        # Across pages, a round of calls is left waiting: the pool threads send them
        # while the next page is decided, as the calls in flight are answered.
        left_waiting = self.workers if self.across_pages else 0
        while len(self.waiting) > left_waiting or (self.closers and self._closable()):
            self._step()
        if not self.across_pages:
            self.drain()

    def drain(self) -> None:
        """Record everything in flight and close every page."""
        while self.in_flight or self.waiting or self.closers:
            self._step()

    def finish(self) -> None:
        self.drain()
        self._unchain()
        self.pool.shutdown()

    def abandon(self) -> None:
        """Stop without recording: insert calls in flight stay in doubt in the
        journal (updates replay safely)."""
        self._unchain()
        self.pool.shutdown(wait=True, cancel_futures=True)

    def _unchain(self) -> None:
        with self.lock:
            self.chained = False

    def _step(self) -> None:
        if self.closers and self._closable():
            self.closers.popleft()[1]()
            return
        if not self.in_flight:
            self._fill()
        self._await_oldest()
        self._record_oldest()
        self._fill()

    def _await_oldest(self) -> None:
        """Wait for the oldest call's answer, and meanwhile send waiting calls in
        the places of later calls as they are answered: a slow call does not hold
        the others up, though answers are still recorded in the order sent."""
        while self.in_flight and not self.in_flight[0].answer.done():
            with self.lock:
                unanswered = [s.answer for s in self.in_flight if not s.answer.done()]
            wait(unanswered, return_when=FIRST_COMPLETED)
            self._fill()

    def _closable(self) -> bool:
        last, _ = self.closers[0]
        with self.lock:
            recorded = self.in_flight[0].sequence - 1 if self.in_flight else self.sent
        return last <= recorded

    def _fill(self) -> None:
        """Send waiting calls into the free places (``_fill_places``)."""
        with self.lock:
            started = self._fill_places(network_only=False)
        self._chain(started)

    def _refill(self, answer: Future[list[SaveResult]]) -> None:
        """On the pool thread of a call just answered: send waiting calls that need
        only the network into the free places. Not after a lost answer: what
        follows it is this thread's to settle."""
        if answer.cancelled() or answer.exception() is not None:
            return
        with self.lock:
            if not self.chained:
                return
            started = self._fill_places(network_only=True)
        self._chain(started)

    def _chain(self, started: list[Sent]) -> None:
        """Have each call's answer free its place for the next waiting call. Added
        once the calls are in flight, and outside the lock: a call answered already
        calls ``_refill`` here and now."""
        for sent in started:
            sent.answer.add_done_callback(self._refill)

    def _fill_places(self, *, network_only: bool) -> list[Sent]:
        """Send waiting calls, in order, while fewer than ``workers`` are in flight
        (less the places ``reserved``); with ``network_only``, up to the first call
        that needs this thread (an update keeps before-images, a Bulk API job is
        opened and journaled). Under ``lock``.

        An answered Collections call waiting to be recorded holds no place: the
        org is sent ``workers`` calls at most at once, and this thread holds the
        answers of up to as many more. A Bulk API job keeps its place until it is
        recorded, so that no more than ``workers`` jobs' records are held at once.
        """
        started: list[Sent] = []
        free = self.workers - self.reserved
        busy = sum(1 for sent in self.in_flight if _holds_place(sent))
        held = len(self.in_flight)
        while (
            self.waiting
            and busy + len(started) < free
            and held + len(started) < 2 * self.workers
            and not (network_only and _needs_this_thread(self.waiting[0]))
        ):
            # Taken from the queue only once sent: a call that failed to start on
            # a pool thread is still there for this thread to send.
            [sent] = self._start([(self.sent + 1, self.waiting[0])])
            self.waiting.popleft()
            self.sent += 1
            self.in_flight.append(sent)
            started.append(sent)
        return started

    def _journal(self, calls: list[Call]) -> None:
        """Give each insert call of ``calls`` not journaled yet its journal entry,
        all of them committed in one statement, before any is sent (DESIGN
        invariant 3).

        A page's entries go in together when the page is queued, rather than one
        statement each time a place frees up: a first run then waits for the
        database once a page instead of once a call. An entry whose call was never
        sent (the run stopped first) is settled like any other: the target holds
        none of its records.
        """
        unjournaled = [c for c in calls if c.operation == "insert" and c.entry is None]
        entries = journal.journal_open_many(
            self.context.run, self.plan.sobject, [call.writes for call in unjournaled]
        )
        for call, entry in zip(unjournaled, entries, strict=True):
            call.entry = entry

    def _start(
        self, calls: list[tuple[int, Call]], *, again: bool = False
    ) -> list[Sent]:
        """Send calls, given with their sequence numbers, insert calls journaled
        first (``again``: records of calls already sent, whose updates'
        before-images are kept already)."""
        context, plan = self.context, self.plan
        self._journal([call for _, call in calls])
        started = []
        for sequence, call in calls:
            records: list[dict[str, Any]]
            if call.operation == "insert":
                records = writes.insert_payload(call.writes)
            else:
                records = writes.update_payload(call.writes)
                if not again:
                    before_images_keep(context, plan, records)
            writer = self._open_writer(call.operation, len(records), call.entry)
            answer = self.pool.submit(writes.send, writer, plan, records)
            started.append(Sent(sequence, call, answer))
        return started

    def _open_writer(
        self, operation: str, count: int, entry: journal.Entry | None
    ) -> writes.Writer:
        """sObject Collections for a call's worth of records; above that a Bulk API
        job, opened here so that its id is journaled from this thread, then
        uploaded, waited for and read on the pool."""
        target = self.context.target
        if not pages.sent_as_bulk_job(count):
            return writes.collection_writer(target, operation)
        try:
            job_id = target.bulk_create_job(self.plan.sobject, operation)
        except SalesforceError as exc:
            return _refusing(exc)  # answered like a call that failed so
        if entry is not None:
            journal.journal_set_job(entry, job_id)
        return partial(_run_job, target, operation, job_id)

    def _record_oldest(self) -> None:
        """Record the oldest call in flight once answered, together with the calls
        after it, of the same page, whose answers have arrived too: one transaction
        for all of them."""
        with self.lock:
            if not self.in_flight:
                return
            oldest = self.in_flight.popleft()
        try:
            saved = oldest.answer.result()
        except journal.WriteInDoubt as lost:
            self._settle(oldest, lost)
            return
        answered = [(oldest, saved)]
        with self.lock:
            while self.in_flight and self._answered_in_page(self.in_flight[0]):
                sent = self.in_flight.popleft()
                answered.append((sent, sent.answer.result()))
        answers = [
            _answer(self.context, self.plan, sent, result) for sent, result in answered
        ]
        # The next calls go out before these answers are recorded, so that their
        # places are not idle meanwhile; places stay free for records sent again.
        with self.lock:
            self.reserved = sum(1 for answer in answers if answer.refused)
        self._fill()
        agains = writes.record_answers(self.context, self.plan, answers)
        # Sent again first in line, under the numbers of the calls they repeat: a
        # page is not closed (checkpoint) before these records are recorded too.
        repeats = [
            (sent.sequence, Call(sent.call.operation, again))
            for (sent, _), again in zip(answered, agains, strict=True)
            if again
        ]
        started = self._start(repeats, again=True)
        with self.lock:
            self.in_flight.extendleft(reversed(started))
            self.reserved = 0
        self._chain(started)

    def _answered_in_page(self, sent: Sent) -> bool:
        """Whether a call's answer has arrived (not lost) and its page is the one
        being recorded: a page is closed before any call of the next is recorded."""
        if self.closers and sent.sequence > self.closers[0][0]:
            return False
        return sent.answer.done() and sent.answer.exception() is None

    def _settle(self, doubt: Sent, lost: journal.WriteInDoubt) -> None:
        """Record the other calls in flight first, so that reconciling an insert
        entry cannot take their records for its own; then go one call at a time."""
        with self.lock:
            self.chained = False
            self.workers = 1
            answered = list(self.in_flight)
            self.in_flight.clear()
        doubts = [(doubt, lost)]
        for sent in answered:
            try:
                saved = sent.answer.result()
            except journal.WriteInDoubt as other_lost:
                doubts.append((sent, other_lost))
                continue
            [again] = writes.record_answers(
                self.context, self.plan, [_answer(self.context, self.plan, sent, saved)]
            )
            _write_one_by_one(self.context, self.plan, Call(sent.call.operation, again))
        for sent, in_doubt in doubts:
            self._write_again(sent, in_doubt)

    def _write_again(self, sent: Sent, lost: journal.WriteInDoubt) -> None:
        """A call whose answer was lost: inserts are reconciled, then what was not
        created is sent again; updates are sent again (one retry spent)."""
        context, plan, call = self.context, self.plan, sent.call
        if call.entry is None:
            writes.spend_retry(context, lost, what=f"{plan.sobject} update")
            _write_one_by_one(context, plan, call)
            return
        missing = writes.settle_in_place(context, plan, call.entry, call.writes, lost)
        _write_one_by_one(context, plan, Call("insert", missing))


def _needs_this_thread(call: Call) -> bool:
    """Whether sending ``call`` needs the run's own thread (its database connection):
    only a journaled Collections insert needs nothing but the network."""
    return (
        call.operation != "insert"
        or call.entry is None
        or pages.sent_as_bulk_job(len(call.writes))
    )


def _holds_place(sent: Sent) -> bool:
    return not sent.answer.done() or pages.sent_as_bulk_job(len(sent.call.writes))


def _run_job(
    target: SalesforceClient,
    operation: str,
    job_id: str,
    sobject: str,
    records: Sequence[dict[str, Any]],
) -> list[SaveResult]:
    return target.bulk_run_job(sobject, operation, job_id, records)


def _refusing(error: SalesforceError) -> writes.Writer:
    def refuse(sobject: str, records: Sequence[dict[str, Any]]) -> list[SaveResult]:
        raise error

    return refuse


def page_calls(plan: ObjectPlan, decided: PageDecision, size: int) -> list[Call]:
    """A page's writes as calls of up to ``size`` records, inserts first, children
    of one parent packed into the same call, Bulk API uploads within their limit
    (pages.write_calls)."""
    return [
        *(Call("insert", w) for w in _write_calls(plan, decided.inserts, size)),
        *(Call("update", w) for w in _write_calls(plan, decided.updates, size)),
    ]


def _write_calls(plan: ObjectPlan, writes: list[Write], size: int) -> list[list[Write]]:
    return pages.write_calls(
        plan, writes, size, max_upload_bytes=client.BULK_UPLOAD_MAX_BYTES
    )


def _answer(
    context: RunContext, plan: ObjectPlan, sent: Sent, saved: list[SaveResult]
) -> writes.Answer:
    """An answered call, read for recording (nothing written yet)."""
    if sent.call.entry is not None:
        return writes.inserts_answered(
            context, plan, sent.call.entry, sent.call.writes, saved
        )
    return writes.updates_answered(context, plan, sent.call.writes, saved)


def _write_one_by_one(context: RunContext, plan: ObjectPlan, call: Call) -> None:
    """A call sent again alone (its before-images, if any, were kept when first sent)."""
    if call.operation == "insert":
        writes.write_inserts(context, plan, call.writes)
    else:
        writes.replay_updates(context, plan, call.writes)
