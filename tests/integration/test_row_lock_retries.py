"""Records the target refuses with UNABLE_TO_LOCK_ROW (issue 12): sent again within
the run's retry budget, failed once it is spent, and avoided by grouping children of
one parent into the same call."""

from __future__ import annotations

from collections import Counter
from typing import Any

import pytest
from pytest_django import Settings

from migrations_app.engine import pages
from migrations_app.models import (
    IssueKind,
    RecordIssue,
    RecordMapping,
    Run,
    Template,
    WriteJournal,
)
from migrations_app.services import second_pass as second_pass_module
from migrations_app.services.runs import run_create, run_execute
from tests.integration.conftest import OrgPair, make_template

pytestmark = [pytest.mark.django_db, pytest.mark.integration]

ACCOUNT = {"sobject": "Account", "fields": ["Name"]}
CONTACT = {"sobject": "Contact", "fields": ["LastName", "Email", "AccountId"]}
LOCKED = "UNABLE_TO_LOCK_ROW"


@pytest.fixture(autouse=True)
def _fast_retries(settings: Settings) -> None:
    settings.RUN_RETRY_BASE_SECONDS = 0.001
    settings.RUN_RETRY_MAX_SECONDS = 0.01


def seed(orgs: OrgPair, *, accounts: int, contacts_each: int) -> None:
    """Accounts and their Contacts, created parent by parent in turn, so that the
    source's Id order mixes the children of every parent."""
    ids = orgs.source_org.insert_many(
        "Account", ({"Name": f"Account {a}"} for a in range(accounts))
    )
    orgs.source_org.insert_many(
        "Contact",
        (
            {
                "LastName": f"C{i}-{a}",
                "Email": f"c{i}-{a}@example.com",
                "AccountId": ids[a],
            }
            for i in range(contacts_each)
            for a in range(accounts)
        ),
    )


def migrate(orgs: OrgPair, strategy: str, *objects: dict[str, Any]) -> Run:
    template = make_template(f"Locks {Template.objects.count()}", *objects)
    run = run_create(
        template=template,
        source_org=orgs.source,
        target_org=orgs.target,
        strategy=strategy,
    )
    return run_execute(run_id=run.pk)


def target_counts(orgs: OrgPair, sobject: str, field: str) -> Counter[str]:
    return Counter(r[field] for r in orgs.target_org.records(sobject))


def assert_every_contact_once_under_its_account(orgs: OrgPair, count: int) -> None:
    contacts = orgs.target_org.records("Contact")
    assert len(contacts) == count
    assert set(Counter(c["Email"] for c in contacts).values()) == {1}
    names = {a["Id"]: a["Name"] for a in orgs.target_org.records("Account")}
    # Each Contact of "Account 2" in the source (LastName C<i>-2) is under the same
    # Account in the target, retried or not.
    assert all(
        names[c["AccountId"]] == f"Account {c['LastName'].split('-')[1]}"
        for c in contacts
    )


def lock_issues() -> int:
    return RecordIssue.objects.filter(kind=IssueKind.FAILED, error_code=LOCKED).count()


@pytest.mark.parametrize(
    ("strategy", "concurrency"),
    [
        ("veid", 4),  # inserts in the pipeline across pages
        ("veid_match", 4),  # a page's calls in flight together
        ("veid", 1),  # one call at a time
    ],
)
def test_records_refused_by_a_row_lock_are_sent_again_and_inserted_once(
    orgs: OrgPair, settings: Settings, strategy: str, concurrency: int
) -> None:
    settings.WRITE_CONCURRENCY = concurrency
    seed(orgs, accounts=3, contacts_each=150)
    migrate(orgs, strategy, ACCOUNT)
    # The first call to arrive has its 200 records refused, the next one (or the
    # first one sent again) its first record: two calls' worth of retries.
    orgs.target_org.faults.update(lock_failures=201)

    run = migrate(orgs, strategy, CONTACT)

    assert run.status == Run.Status.SUCCEEDED, run.error
    assert (run.inserted, run.failed) == (450, 0)
    assert_every_contact_once_under_its_account(orgs, 450)
    assert RecordMapping.objects.filter(sobject="Contact").count() == 450
    assert not RecordIssue.objects.filter(kind=IssueKind.FAILED).exists()
    assert not WriteJournal.objects.filter(state=WriteJournal.State.IN_DOUBT).exists()
    assert run.retries_spent == 2
    assert run.report["retries"]["by_kind"] == {LOCKED: 2}


def test_a_parent_sent_again_is_the_one_its_children_point_to(
    orgs: OrgPair, settings: Settings
) -> None:
    settings.WRITE_CONCURRENCY = 4
    seed(orgs, accounts=3, contacts_each=150)
    orgs.target_org.faults.update(lock_failures=3)  # the Accounts' call

    # Strategy none: the Contacts find their Accounts among the run's own inserts.
    run = migrate(orgs, "none", ACCOUNT, CONTACT)

    assert run.status == Run.Status.SUCCEEDED, run.error
    assert (run.inserted, run.failed) == (453, 0)
    assert target_counts(orgs, "Account", "Name") == Counter(
        {f"Account {a}": 1 for a in range(3)}
    )
    assert_every_contact_once_under_its_account(orgs, 450)
    assert run.report["retries"]["by_kind"] == {LOCKED: 1}


def test_rows_of_a_bulk_job_refused_by_a_row_lock_are_sent_again(
    orgs: OrgPair, settings: Settings
) -> None:
    settings.BULK_QUERY_THRESHOLD = settings.BULK_WRITE_THRESHOLD = 100
    seed(orgs, accounts=3, contacts_each=150)
    migrate(orgs, "veid", ACCOUNT)
    orgs.target_org.faults.update(lock_failures=2)

    run = migrate(orgs, "veid", CONTACT)

    assert run.status == Run.Status.SUCCEEDED, run.error
    assert (run.inserted, run.failed) == (450, 0)
    assert_every_contact_once_under_its_account(orgs, 450)
    assert RecordMapping.objects.filter(sobject="Contact").count() == 450
    # One ingest job, 2 of its rows refused; they went again in a Collections call.
    ingest = [
        (job.operation, job.processed, job.failed)
        for job in orgs.target_org.jobs.values()
        if not job.is_query
    ]
    assert ingest == [("insert", 450, 2)]
    assert run.report["retries"]["by_kind"] == {LOCKED: 1}


def test_updates_refused_by_a_row_lock_are_sent_again(orgs: OrgPair) -> None:
    seed(orgs, accounts=1, contacts_each=20)
    migrate(orgs, "veid", ACCOUNT, CONTACT)
    for contact in orgs.source_org.records("Contact"):
        orgs.source_org.update("Contact", contact["Id"], {"LastName": "Changed-0"})
    orgs.target_org.faults.update(lock_failures=3)

    run = migrate(orgs, "veid", CONTACT)

    assert run.status == Run.Status.SUCCEEDED, run.error
    assert (run.updated, run.failed) == (20, 0)
    assert set(target_counts(orgs, "Contact", "LastName")) == {"Changed-0"}
    assert run.report["retries"]["by_kind"] == {LOCKED: 1}


@pytest.mark.parametrize(
    ("budget", "concurrency", "refused", "failed"),
    [
        (0, 4, 2, 2),  # no budget: the 2 refused records fail
        # One retry: the first call's 200 records are all refused, then the first
        # of them again when it is resent; the budget is spent, so it fails.
        (1, 1, 201, 1),
    ],
)
def test_refused_records_fail_once_the_budget_is_spent(
    orgs: OrgPair,
    settings: Settings,
    budget: int,
    concurrency: int,
    refused: int,
    failed: int,
) -> None:
    settings.RUN_RETRY_BUDGET = budget
    settings.WRITE_CONCURRENCY = concurrency
    seed(orgs, accounts=1, contacts_each=450)
    migrate(orgs, "veid", ACCOUNT)
    orgs.target_org.faults.update(lock_failures=refused)

    run = migrate(orgs, "veid", CONTACT)

    assert run.status == Run.Status.COMPLETED_WITH_ERRORS, run.error
    assert (run.inserted, run.failed) == (450 - failed, failed)
    assert lock_issues() == failed
    messages = RecordIssue.objects.values_list("message", flat=True)
    assert all(m.startswith("unable to obtain exclusive access") for m in messages)
    assert orgs.target_org.count("Contact") == 450 - failed
    assert RecordMapping.objects.filter(sobject="Contact").count() == 450 - failed
    assert run.retries_spent == budget


# Real contention: Contacts of 4 Accounts, 200 each, 4 calls in flight --------------


@pytest.fixture
def contended(orgs: OrgPair, settings: Settings) -> OrgPair:
    settings.WRITE_CONCURRENCY = 4
    seed(orgs, accounts=4, contacts_each=200)
    # Each call holds its row locks for 0.5 s; a call kept waiting 50 ms for one
    # fails the records that need it.
    orgs.target_org.faults.update(row_lock_ms=500, lock_timeout_ms=50)
    return orgs


def test_grouping_children_by_parent_keeps_concurrent_calls_off_each_others_locks(
    contended: OrgPair,
) -> None:
    run = migrate(contended, "veid", ACCOUNT, CONTACT)

    assert run.status == Run.Status.SUCCEEDED, run.error
    assert run.inserted == 804
    assert_every_contact_once_under_its_account(contended, 800)
    assert run.retries_spent == 0  # no call was refused a lock


def test_without_grouping_concurrent_calls_collide_and_the_retries_recover(
    contended: OrgPair, monkeypatch: pytest.MonkeyPatch
) -> None:
    def plain_chunks(plan: Any, writes: Any, size: int) -> list[Any]:
        return [list(writes[i : i + size]) for i in range(0, len(writes), size)]

    monkeypatch.setattr(pages, "calls_by_parent", plain_chunks)

    run = migrate(contended, "veid", ACCOUNT, CONTACT)

    assert run.status == Run.Status.SUCCEEDED, run.error
    assert run.inserted == 804
    assert_every_contact_once_under_its_account(contended, 800)
    # Every call held a lock on all 4 Accounts: the calls in flight beside the
    # first were refused, and sent again.
    assert run.report["retries"]["by_kind"][LOCKED] >= 1
    assert lock_issues() == 0


def test_a_deep_lookup_refused_by_a_row_lock_in_the_second_pass_is_set_again(
    orgs: OrgPair, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Lookups past the fifth hierarchy level are set by a second pass of updates;
    a row lock refusing one of them costs a retry, not the lookup."""
    chain = [orgs.source_org.insert("Account", {"Name": "Level 0"})]
    for level in range(1, 8):
        chain.append(
            orgs.source_org.insert(
                "Account", {"Name": f"Level {level}", "ParentId": chain[-1]}
            )
        )
    not_yet_set = second_pass_module._not_yet_set

    def lock_the_next_update(*args: Any) -> Any:
        orgs.target_org.faults.update(lock_failures=1)
        return not_yet_set(*args)

    monkeypatch.setattr(second_pass_module, "_not_yet_set", lock_the_next_update)

    run = migrate(orgs, "veid", {"sobject": "Account", "fields": ["Name", "ParentId"]})

    assert run.status == Run.Status.SUCCEEDED, run.error
    assert run.report["retries"]["by_kind"][LOCKED] == 1
    assert lock_issues() == 0
    targets = dict(RecordMapping.objects.values_list("source_id", "target_id"))
    for child, parent in zip(chain[1:], chain, strict=False):
        record = orgs.target_org.get("Account", targets[child])
        assert record["ParentId"] == targets[parent]
