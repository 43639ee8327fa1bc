"""The database itself refuses what would break the VEID invariants."""

from __future__ import annotations

import sqlite3
from typing import Any

import pytest
from django.core.exceptions import FieldDoesNotExist
from django.db import IntegrityError, connection, transaction
from django.db.models import ProtectedError
from django.utils import timezone

from migrations_app.engine.pages import Write
from migrations_app.engine.strategy import Action, Decision
from migrations_app.models import (
    MappingStatus,
    Org,
    RecordMapping,
    RecordResult,
    Run,
    RunObjectStat,
    Strategy,
    WriteJournal,
)
from migrations_app.services import journal, rows

pytestmark = pytest.mark.django_db

SOURCE_ID = "0010A0000000001AAA"
OTHER_SOURCE_ID = "0010A0000000002AAA"
TARGET_ID = "0010B0000000001AAA"
OTHER_TARGET_ID = "0010B0000000002AAA"


def make_mapping(
    source: Org, target: Org, source_id: str, target_id: str
) -> RecordMapping:
    return RecordMapping.objects.create(
        source_org=source,
        target_org=target,
        sobject="Account",
        source_id=source_id,
        target_id=target_id,
    )


def test_second_mapping_for_the_same_source_record_is_refused(
    org_pair: tuple[Org, Org],
) -> None:
    source, target = org_pair
    make_mapping(source, target, SOURCE_ID, TARGET_ID)
    with pytest.raises(IntegrityError), transaction.atomic():
        make_mapping(source, target, SOURCE_ID, OTHER_TARGET_ID)


def test_second_source_record_for_the_same_target_record_is_refused(
    org_pair: tuple[Org, Org],
) -> None:
    source, target = org_pair
    make_mapping(source, target, SOURCE_ID, TARGET_ID)
    with pytest.raises(IntegrityError), transaction.atomic():
        make_mapping(source, target, OTHER_SOURCE_ID, TARGET_ID)


def test_same_source_record_may_map_into_another_target_org(
    org_pair: tuple[Org, Org],
) -> None:
    source, target = org_pair
    other_target = Org.objects.create(
        name="other", login_url="https://login.example.com"
    )
    make_mapping(source, target, SOURCE_ID, TARGET_ID)
    make_mapping(source, other_target, SOURCE_ID, TARGET_ID)
    assert RecordMapping.objects.count() == 2


def test_an_org_with_mappings_cannot_be_deleted(org_pair: tuple[Org, Org]) -> None:
    # Django keeps this promise, not a database constraint (see RecordMapping).
    source, target = org_pair
    make_mapping(source, target, SOURCE_ID, TARGET_ID)
    for org in (source, target):
        with pytest.raises(ProtectedError):
            org.delete()
    assert RecordMapping.objects.filter(source_org=source, target_org=target).exists()


def test_a_run_with_results_cannot_be_deleted(org_pair: tuple[Org, Org]) -> None:
    run = make_run(*org_pair, Run.Status.SUCCEEDED)
    rows.results_insert(run, [("Account", SOURCE_ID, TARGET_ID, "inserted")])
    with pytest.raises(ProtectedError):
        run.delete()
    assert RecordResult.objects.filter(run=run).exists()


def test_ids_must_be_18_characters(org_pair: tuple[Org, Org]) -> None:
    source, target = org_pair
    with pytest.raises(IntegrityError), transaction.atomic():
        make_mapping(source, target, SOURCE_ID[:15], TARGET_ID)


def test_unknown_status_is_refused(org_pair: tuple[Org, Org]) -> None:
    source, target = org_pair
    mapping = make_mapping(source, target, SOURCE_ID, TARGET_ID)
    with pytest.raises(IntegrityError), transaction.atomic():
        RecordMapping.objects.filter(pk=mapping.pk).update(status="lost")


def make_run(source: Org, target: Org, status: str, *, dry_run: bool = False) -> Run:
    return Run.objects.create(
        template_snapshot={"name": "t", "objects": []},
        source_org=source,
        target_org=target,
        strategy=Strategy.VEID,
        status=status,
        dry_run=dry_run,
    )


def test_two_running_writers_on_one_org_pair_are_refused(
    org_pair: tuple[Org, Org],
) -> None:
    source, target = org_pair
    make_run(source, target, Run.Status.RUNNING)
    make_run(source, target, Run.Status.QUEUED)
    make_run(source, target, Run.Status.RUNNING, dry_run=True)
    with pytest.raises(IntegrityError), transaction.atomic():
        make_run(source, target, Run.Status.RUNNING)


def test_credentials_are_encrypted_at_rest(org_pair: tuple[Org, Org]) -> None:
    source, _ = org_pair
    source.set_credentials({"client_secret": "s3cr3t-value"})
    source.save()
    stored = Org.objects.values_list("credentials_encrypted", flat=True).get(
        pk=source.pk
    )
    assert "s3cr3t-value" not in stored
    assert Org.objects.get(pk=source.pk).credentials == {
        "client_secret": "s3cr3t-value"
    }


# -- rows written without model objects (services/rows.py): COPY on PostgreSQL, one
# statement of bound rows on SQLite; the table's checks hold all the same.


def test_fast_mapping_rows_are_inserted_with_the_row_defaults(
    org_pair: tuple[Org, Org],
) -> None:
    source, target = org_pair
    run = make_run(source, target, Run.Status.RUNNING)
    before = timezone.now()
    rows.mappings_insert(
        run,
        [
            ("Account", SOURCE_ID, TARGET_ID, "hash-1"),
            ("Contact", OTHER_SOURCE_ID, OTHER_TARGET_ID, ""),
        ],
    )
    after = timezone.now()
    first, second = RecordMapping.objects.order_by("source_id")
    assert (first.sobject, first.source_id, first.target_id, first.values_hash) == (
        "Account",
        SOURCE_ID,
        TARGET_ID,
        "hash-1",
    )
    assert (second.sobject, second.values_hash) == ("Contact", "")
    assert first.created_by_run_id == first.last_written_by_run_id == run.pk
    assert first.status == MappingStatus.ACTIVE
    assert first.outdated_at is None
    assert first.drift_found_at is None
    # The shared date and time, written once as text, reads back as the same instant.
    assert before <= first.created_at == first.updated_at <= after
    assert second.created_at == first.created_at


def test_fast_mapping_rows_keep_one_target_per_source_record(
    org_pair: tuple[Org, Org],
) -> None:
    source, target = org_pair
    run = make_run(source, target, Run.Status.RUNNING)
    rows.mappings_insert(run, [("Account", SOURCE_ID, TARGET_ID, "")])
    with pytest.raises(IntegrityError), transaction.atomic():
        rows.mappings_insert(run, [("Account", SOURCE_ID, OTHER_TARGET_ID, "")])
    with pytest.raises(IntegrityError), transaction.atomic():
        rows.mappings_insert(run, [("Account", SOURCE_ID[:15], OTHER_TARGET_ID, "")])
    assert RecordMapping.objects.count() == 1


def test_rewritten_mappings_get_their_new_hash_and_writer(
    org_pair: tuple[Org, Org],
) -> None:
    source, target = org_pair
    first_run = make_run(source, target, Run.Status.SUCCEEDED)
    rows.mappings_insert(
        first_run,
        [
            ("Account", SOURCE_ID, TARGET_ID, "old"),
            ("Account", OTHER_SOURCE_ID, OTHER_TARGET_ID, "untouched"),
        ],
    )
    rewritten = RecordMapping.objects.get(source_id=SOURCE_ID)
    second_run = make_run(source, target, Run.Status.RUNNING)

    rows.mappings_rewritten(second_run, {rewritten.pk: "new"})

    rewritten.refresh_from_db()
    assert (rewritten.values_hash, rewritten.last_written_by_run_id) == (
        "new",
        second_run.pk,
    )
    untouched = RecordMapping.objects.get(source_id=OTHER_SOURCE_ID)
    assert (untouched.values_hash, untouched.last_written_by_run_id) == (
        "untouched",
        first_run.pk,
    )


def saved_results(run: Run) -> list[tuple[str, str, str, str]]:
    return list(
        RecordResult.objects.filter(run=run)
        .order_by("pk")
        .values_list("sobject", "source_id", "target_id", "action")
    )


def test_result_rows_keep_their_order_and_text(org_pair: tuple[Org, Org]) -> None:
    source, target = org_pair
    run = make_run(source, target, Run.Status.RUNNING)
    written = [
        ("Contact", f"0030A{i:010d}AAA", f"0030B{i:010d}AAA", "inserted")
        for i in range(1001)
    ]
    written.append(("Account", SOURCE_ID, TARGET_ID, "updated"))

    rows.results_insert(run, written)

    assert saved_results(run) == written


def test_more_rows_than_one_statement_binds_all_go_in_order(
    org_pair: tuple[Org, Org],
) -> None:
    """SQLite binds a limited number of values per statement (PostgreSQL takes the
    rows through COPY): with a limit of 9, a statement holds 2 rows of 4."""
    if connection.vendor != "sqlite":
        pytest.skip("a limit of SQLite statements")
    source, target = org_pair
    run = make_run(source, target, Run.Status.RUNNING)
    written = [
        ("Contact", f"0030A{i:010d}AAA", f"0030B{i:010d}AAA", "inserted")
        for i in range(5)
    ]
    connection.ensure_connection()
    limit = sqlite3.SQLITE_LIMIT_VARIABLE_NUMBER
    previous = connection.connection.setlimit(limit, 9)
    try:
        rows.results_insert(run, written)
    finally:
        connection.connection.setlimit(limit, previous)

    assert saved_results(run) == written


def test_journal_entries_read_back_as_the_values_sent(
    org_pair: tuple[Org, Org],
) -> None:
    """An entry's text is put together from each record's own encoding, not by the
    JSON field: what a reconcile reads back must be exactly what was sent."""
    source, target = org_pair
    run = make_run(source, target, Run.Status.RUNNING)
    sent: list[dict[str, Any]] = [
        {"LastName": 'Dupont "le grand"', "FirstName": "Zoë", "Phone": None},
        {"LastName": "Ng", "NumberOfEmployees": 12, "Rate": 1.5, "Active": False},
        {},
    ]
    batches = [
        [
            Write(f"0030A00000000{i:02d}AAA", Decision(Action.INSERT), values)
            for i, values in enumerate(sent)
        ],
        [Write(SOURCE_ID, Decision(Action.INSERT), {"Name": "Ünïcode ☃"})],
    ]

    opened = journal.journal_open_many(run, "Contact", batches)

    for entry, writes in zip(opened, batches, strict=True):
        expected = [{"source_id": w.source_id, "values": w.values} for w in writes]
        assert entry.entries == expected  # as kept for a reconcile in place
        assert WriteJournal.objects.get(pk=entry.pk).entries == expected
    # The field still encodes an ordinary list itself.
    WriteJournal.objects.filter(pk=opened[0].pk).update(entries=[{"a": "ü"}])
    assert WriteJournal.objects.get(pk=opened[0].pk).entries == [{"a": "ü"}]


def test_journal_entries_of_several_calls_are_saved_in_order_each_in_doubt(
    org_pair: tuple[Org, Org],
) -> None:
    """Several calls' entries go in together (on PostgreSQL in one round trip, their
    text bound rather than quoted into the statement): each its own row, in doubt,
    in the order of the calls, with the ids the pipeline then closes."""
    source, target = org_pair
    run = make_run(source, target, Run.Status.RUNNING)
    batches = [
        [Write(f"0030A00000000{i:02d}AAA", Decision(Action.INSERT), {"N": i})]
        for i in range(3)
    ]

    opened = journal.journal_open_many(run, "Contact", batches)

    saved = list(WriteJournal.objects.filter(run=run).order_by("pk"))
    assert [entry.pk for entry in opened] == [entry.pk for entry in saved]
    assert [entry.entries[0]["values"] for entry in saved] == [
        {"N": 0},
        {"N": 1},
        {"N": 2},
    ]
    assert {entry.state for entry in saved} == {WriteJournal.State.IN_DOUBT}
    assert {entry.operation for entry in saved} == {WriteJournal.Operation.INSERT}
    assert all(entry.created_at is not None for entry in saved)
    journal.journal_close(*opened)
    assert not WriteJournal.objects.filter(state=WriteJournal.State.IN_DOUBT).exists()


def test_counts_are_added_to_the_object_and_to_the_run(
    org_pair: tuple[Org, Org],
) -> None:
    source, target = org_pair
    run = make_run(source, target, Run.Status.RUNNING)
    RunObjectStat.objects.create(run=run, sobject="Contact", position=0)
    RunObjectStat.objects.create(run=run, sobject="Account", position=1)

    rows.counts_add(run, "Contact", {"inserted": 3, "failed": 1, "updated": 0})
    rows.counts_add(run, "Contact", {"inserted": 2})
    rows.counts_add(run, "Account", {"updated": 4})

    contact = RunObjectStat.objects.get(run=run, sobject="Contact")
    assert (contact.inserted, contact.failed, contact.updated) == (5, 1, 0)
    run.refresh_from_db()
    assert (run.inserted, run.failed, run.updated) == (5, 1, 4)
    with pytest.raises(FieldDoesNotExist):
        rows.counts_add(run, "Contact", {"inserted = 0, failed": 1})
    with pytest.raises(FieldDoesNotExist):  # a column of the stats only
        rows.counts_add(run, "Contact", {"position": 1})
