"""`run_migration` through the workers (--queue, --no-wait) and waiting in-process."""

from __future__ import annotations

import io
import json
import threading
from subprocess import Popen

import django_rq
import pytest
from django.core.management import call_command

from migrations_app.models import Run
from migrations_app.services.runs import run_claim, run_create
from tests.integration.conftest import OrgPair, make_template
from tests.integration.workers import start_worker, stop_worker

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.integration]

CONTACTS = {"sobject": "Contact", "fields": ["LastName"]}
ARGS = ["--template", "Contacts", "--source", "source", "--target", "target"]


@pytest.fixture(autouse=True)
def _empty_queue() -> None:
    django_rq.get_queue("default").empty()


def test_queue_runs_on_a_worker_and_follows_it_to_the_end(orgs: OrgPair) -> None:
    orgs.source_org.insert_many("Contact", ({"LastName": f"Q{i}"} for i in range(25)))
    make_template("Contacts", CONTACTS)
    worker: Popen[bytes] = start_worker()
    out = io.StringIO()
    try:
        call_command("run_migration", *ARGS, "--queue", "--json", stdout=out)
    finally:
        stop_worker(worker)

    result = json.loads(out.getvalue())
    assert (result["status"], result["totals"]["inserted"]) == ("succeeded", 25)
    assert orgs.target_org.count("Contact") == 25


def test_no_wait_returns_the_queued_run_id_at_once(orgs: OrgPair) -> None:
    make_template("Contacts", CONTACTS)
    out = io.StringIO()

    call_command("run_migration", *ARGS, "--queue", "--no-wait", "--json", stdout=out)

    run = Run.objects.get()
    assert json.loads(out.getvalue()) == {"run_id": run.pk, "status": "queued"}
    assert django_rq.get_queue("default").count == 1


def test_in_process_run_waits_for_the_pair_and_says_for_which_run(
    orgs: OrgPair,
) -> None:
    orgs.source_org.insert("Contact", {"LastName": "Patient"})
    template = make_template("Contacts", CONTACTS)
    writer = run_create(
        template=template,
        source_org=orgs.source,
        target_org=orgs.target,
        strategy="veid",
    )
    run_claim(run_id=writer.pk)
    err, out = io.StringIO(), io.StringIO()
    command = threading.Thread(
        target=call_command,
        args=("run_migration", *ARGS, "--json"),
        kwargs={"stdout": out, "stderr": err},
    )
    command.start()
    for _ in range(100):
        if "Waiting for run" in err.getvalue():
            break
        command.join(0.1)
    assert f"Waiting for run {writer.pk}" in err.getvalue()
    assert Run.objects.get(pk=writer.pk + 1).status == "queued"

    Run.objects.filter(pk=writer.pk).update(status=Run.Status.SUCCEEDED)
    command.join(60)

    assert json.loads(out.getvalue())["status"] == "succeeded"
