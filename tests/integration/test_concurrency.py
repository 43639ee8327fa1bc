"""Concurrency proof (issue 11, item 6): several workers, many runs on overlapping org
pairs launched at once. No two runs ever write into one pair at the same time, shown
by the database (each attempt's claim and end) and by the emulator's write log (each
write call names its run), and every run finishes."""

from __future__ import annotations

import itertools
from collections import defaultdict
from subprocess import Popen

import django_rq
import pytest

from migrations_app.models import Org, Run, RunAttempt
from migrations_app.services.runs import run_launch
from tests.integration.conftest import OrgPair, make_template, register
from tests.integration.workers import start_worker, wait_until

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.integration]

CONTACTS = {"sobject": "Contact", "fields": ["LastName", "Email"]}
Span = tuple[float, float]


@pytest.fixture
def workers(workers: list[Popen[bytes]]) -> list[Popen[bytes]]:
    """The conftest's workers, on a queue emptied first."""
    django_rq.get_queue("default").empty()
    return workers


@pytest.fixture
def third(orgs: OrgPair) -> Org:
    org = orgs.emulator.add_org("third")
    org.reset_data()
    org.faults.reset()
    return register(orgs.emulator, "third")


def overlapping(spans: list[Span]) -> list[tuple[Span, Span]]:
    ordered = sorted(spans)
    return [(a, b) for a, b in itertools.pairwise(ordered) if b[0] < a[1]]


def test_many_runs_on_overlapping_pairs_never_share_a_pair_and_all_finish(
    orgs: OrgPair, third: Org, workers: list[Popen[bytes]]
) -> None:
    emulator = orgs.emulator
    for name in ("source", "third"):
        emulator.org(name).insert_many(
            "Contact",
            (
                {"LastName": f"{name}{i}", "Email": f"{name}{i}@example.com"}
                for i in range(300)
            ),
        )
    for name in ("source", "target", "third"):
        emulator.org(name).faults.update(latency_ms=10)
        emulator.org(name).write_log.clear()
    template = make_template("Contacts", CONTACTS)
    pairs = [(orgs.source, orgs.target)] * 3 + [(third, orgs.target)] * 2
    pairs += [(orgs.source, third)] * 2
    # `none` inserts every time: every run writes, so every run shows in the log.
    runs = [
        run_launch(template=template, source_org=s, target_org=t, strategy="none")
        for s, t in pairs
    ]
    workers.extend(start_worker() for _ in range(3))

    def all_finished() -> bool:
        """every run finished"""
        return not Run.objects.filter(
            status__in=("queued", "running", "waiting")
        ).exists()

    wait_until(all_finished, timeout=300)

    done = {run.pk: run for run in Run.objects.filter(pk__in=[r.pk for r in runs])}
    assert {run.status for run in done.values()} == {Run.Status.SUCCEEDED}
    # (third's Contacts grow while source -> third runs insert into it.)
    assert all(run.inserted == run.selected >= 300 for run in done.values())
    pair_of = {pk: (run.source_org_id, run.target_org_id) for pk, run in done.items()}

    # The database: each pair's attempts, claim to end, never overlap.
    by_pair: dict[tuple[int, int], list[Span]] = defaultdict(list)
    for attempt in RunAttempt.objects.filter(run__in=done):
        assert attempt.ended_at is not None
        by_pair[pair_of[attempt.run_id]].append(
            (attempt.started_at.timestamp(), attempt.ended_at.timestamp())
        )
    assert all(not overlapping(spans) for spans in by_pair.values()), by_pair

    # The emulator: each run's first to last write call, per pair, never overlap.
    writes: dict[int, list[float]] = defaultdict(list)
    for name in ("target", "third"):
        for entry in emulator.org(name).write_log.entries():
            run_id = int(entry.caller.removeprefix("datamigrator-run-"))
            writes[run_id] += [entry.started, entry.applied]
    assert set(writes) == set(done)  # every run wrote, and said who it was
    spans_by_pair: dict[tuple[int, int], list[Span]] = defaultdict(list)
    for run_id, moments in writes.items():
        spans_by_pair[pair_of[run_id]].append((min(moments), max(moments)))
    assert all(not overlapping(spans) for spans in spans_by_pair.values()), (
        spans_by_pair
    )
    # And the workers did run in parallel, on different pairs: the proof means
    # something.
    every_attempt = [span for spans in by_pair.values() for span in spans]
    assert overlapping(every_attempt), "no two runs ever ran at the same time"
