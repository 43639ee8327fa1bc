"""Redis is not a single point of data loss (issue 11, item 4): the database says what
is queued, and a worker's sweep enqueues again a run whose job Redis lost, whether
Redis was flushed or restarted without persistence. Real worker processes."""

from __future__ import annotations

import subprocess
from collections.abc import Iterator
from subprocess import Popen

import django_rq
import pytest
import redis
from rq import Queue

from migrations_app import jobs
from migrations_app.models import Run
from migrations_app.services.chaos_processes import free_port, restart_redis
from migrations_app.services.runs import run_launch
from tests.integration.conftest import OrgPair, make_template
from tests.integration.workers import start_worker, wait_until

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.integration]

CONTACTS = {"sobject": "Contact", "fields": ["LastName", "Email"]}


def seed(orgs: OrgPair) -> None:
    orgs.source_org.insert_many(
        "Contact",
        ({"LastName": f"Q{i}", "Email": f"q{i}@example.com"} for i in range(40)),
    )


def launch(orgs: OrgPair) -> Run:
    return run_launch(
        template=make_template("Contacts", CONTACTS),
        source_org=orgs.source,
        target_org=orgs.target,
        strategy="veid",
    )


def finished(run: Run) -> bool:
    run.refresh_from_db()
    return run.status == Run.Status.SUCCEEDED


def test_a_run_whose_job_a_redis_flush_lost_is_enqueued_again_by_the_sweep(
    orgs: OrgPair, workers: list[Popen[bytes]]
) -> None:
    queue = django_rq.get_queue("default")
    queue.empty()
    seed(orgs)
    run = launch(orgs)
    assert jobs.run_job_pending(run_id=run.pk)

    queue.connection.flushdb()  # as a Redis restart without persistence would

    assert not jobs.run_job_pending(run_id=run.pk)
    workers.append(start_worker(RUN_LEASE_SECONDS="3"))
    wait_until(lambda: finished(run), timeout=120)
    assert orgs.target_org.count("Contact") == 40


@pytest.fixture
def own_redis(monkeypatch: pytest.MonkeyPatch) -> Iterator[tuple[str, int]]:
    """A redis-server of this test's own, so that restarting it disturbs nobody;
    the app's jobs go there."""
    port = free_port()
    subprocess.run(
        [
            "redis-server",
            "--daemonize",
            "yes",
            "--bind",
            "127.0.0.1",
            "--port",
            str(port),
            "--save",
            "",
            "--appendonly",
            "no",
        ],
        check=True,
    )
    connection = redis.Redis(port=port)
    wait_until(lambda: bool(_ping(connection)), timeout=20)
    monkeypatch.setattr(
        jobs.django_rq,
        "get_queue",
        lambda name="default": Queue(name, connection=connection),
    )
    yield "127.0.0.1", port
    subprocess.run(
        ["redis-cli", "-p", str(port), "shutdown", "nosave"], capture_output=True
    )


def _ping(connection: redis.Redis) -> bool:
    try:
        return bool(connection.ping())
    except redis.ConnectionError:
        return False


def test_a_run_queued_before_a_redis_restart_runs_after_it(
    orgs: OrgPair, workers: list[Popen[bytes]], own_redis: tuple[str, int]
) -> None:
    host, port = own_redis
    seed(orgs)
    run = launch(orgs)
    assert jobs.run_job_pending(run_id=run.pk)

    restart_redis(host, port)

    assert not jobs.run_job_pending(run_id=run.pk)
    workers.append(
        start_worker(RUN_LEASE_SECONDS="3", REDIS_URL=f"redis://{host}:{port}/0")
    )
    wait_until(lambda: finished(run), timeout=120)
    assert orgs.target_org.count("Contact") == 40
    assert run.attempts == 1  # nobody launched it again by hand
