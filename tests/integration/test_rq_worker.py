"""The RQ path for real: enqueue after commit, a real worker, real Redis."""

from __future__ import annotations

import django_rq
import pytest
from rq import Queue, SimpleWorker

from migrations_app.models import RecordMapping, Run
from migrations_app.services.runs import run_launch
from tests.integration.conftest import OrgPair, make_template

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.integration]


@pytest.fixture
def queue() -> Queue:
    queue = django_rq.get_queue("default")
    queue.empty()
    return queue


def test_a_launched_run_is_executed_by_a_worker(orgs: OrgPair, queue: Queue) -> None:
    for i in range(3):
        orgs.source_org.insert(
            "Contact", {"LastName": f"Worker{i}", "Email": f"w{i}@example.com"}
        )
    template = make_template(
        "Contacts", {"sobject": "Contact", "fields": ["LastName", "Email"]}
    )

    run = run_launch(
        template=template,
        source_org=orgs.source,
        target_org=orgs.target,
        strategy="veid",
    )

    assert queue.count == 1
    worker = SimpleWorker([queue], connection=queue.connection)
    assert worker.work(burst=True)
    run.refresh_from_db()
    assert run.status == Run.Status.SUCCEEDED
    assert (
        run.inserted,
        RecordMapping.objects.count(),
        orgs.target_org.count("Contact"),
    ) == (3, 3, 3)


def test_running_the_job_twice_changes_nothing(orgs: OrgPair, queue: Queue) -> None:
    from migrations_app.jobs import execute_run

    orgs.source_org.insert("Contact", {"LastName": "Once"})
    template = make_template("Contacts", {"sobject": "Contact", "fields": ["LastName"]})
    run = run_launch(
        template=template,
        source_org=orgs.source,
        target_org=orgs.target,
        strategy="veid",
    )
    SimpleWorker([queue], connection=queue.connection).work(burst=True)

    execute_run(run.pk)

    assert orgs.target_org.count("Contact") == 1
    run.refresh_from_db()
    assert run.inserted == 1
