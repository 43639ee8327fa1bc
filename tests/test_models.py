"""The database itself refuses what would break the VEID invariants."""

from __future__ import annotations

import sqlite3
from typing import Any

import pytest
from django.core.exceptions import FieldDoesNotExist
from django.db import IntegrityError, connection, transaction
from django.db.models import ProtectedError, Q
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


def test_journal_entries_are_stored_as_the_text_sent(org_pair: tuple[Org, Org]) -> None:
    """The database keeps an entry's text as it was put together: no database parses
    it into a binary form (PostgreSQL's jsonb would, and rewrite it with spaces)."""
    source, target = org_pair
    run = make_run(source, target, Run.Status.RUNNING)
    writes = [Write(SOURCE_ID, Decision(Action.INSERT), {"B": 'x "y"', "A": 1.5})]

    [entry] = journal.journal_open_many(run, "Contact", [writes])

    with connection.cursor() as cursor:
        cursor.execute(
            f"SELECT entries FROM {WriteJournal._meta.db_table} WHERE id = %s",
            [entry.pk],
        )
        [stored] = cursor.fetchone()
    assert stored == journal.journal_entries(writes).json_text
    assert (
        stored
        == f'[{{"source_id":"{SOURCE_ID}","values":{{"A":1.5,"B":"x \\"y\\""}}}}]'
    )


@pytest.mark.skipif(
    connection.vendor != "postgresql", reason="compression is PostgreSQL's"
)
def test_journal_entries_are_compressed_with_lz4_where_the_server_has_it() -> None:
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT 'lz4' = ANY(enumvals) FROM pg_settings "
            "WHERE name = 'default_toast_compression'"
        )
        [available] = cursor.fetchone()
        cursor.execute(
            "SELECT attcompression FROM pg_attribute "
            "WHERE attrelid = %s::regclass AND attname = 'entries'",
            [WriteJournal._meta.db_table],
        )
        [method] = cursor.fetchone()
    assert method == ("l" if available else "")


def index_definition(name: str) -> str:
    query = {
        "postgresql": "SELECT indexdef FROM pg_indexes WHERE indexname = %s",
        "sqlite": "SELECT sql FROM sqlite_master WHERE type = 'index' AND name = %s",
    }[connection.vendor]
    with connection.cursor() as cursor:
        cursor.execute(query, [name])
        [definition] = cursor.fetchone()
    return str(definition)


def test_only_mappings_that_need_attention_are_indexed_by_status() -> None:
    """The status index leaves active mappings out, as a run writes them by the
    thousand; the outdated ones are found through it."""
    definition = index_definition("mapping_pair_object_status")
    columns, _, condition = definition.partition(" WHERE ")
    assert "status" in columns
    assert condition.replace("::text", "").replace('"', "") == (
        "(NOT ((status) = 'active'))"
        if connection.vendor == "postgresql"
        else "NOT (status = 'active')"
    )


@pytest.mark.parametrize(
    "index", ["mapping_created_by_run", "mapping_last_written_by_run", "result_run"]
)
def test_rows_are_found_by_run_through_a_block_range_index_on_postgresql(
    index: str,
) -> None:
    """A run writes its rows one after the other: PostgreSQL finds a run's rows by
    the range of blocks they lie in (BRIN), which costs a first run nothing per row;
    SQLite keeps a B-tree."""
    definition = index_definition(index)
    if connection.vendor == "postgresql":
        assert " USING brin " in definition
        assert "autosummarize='on'" in definition
    else:
        assert definition.startswith(f'CREATE INDEX "{index}"')


def test_a_run_s_mappings_and_results_are_found_by_run(
    org_pair: tuple[Org, Org],
) -> None:
    """Through the run indexes, whichever run wrote a mapping first or last."""
    source, target = org_pair
    first = make_run(source, target, Run.Status.SUCCEEDED)
    rows.mappings_insert(first, contact_mappings("A"))
    rows.results_insert(first, [("Contact", SOURCE_ID, TARGET_ID, "inserted")])
    second = make_run(source, target, Run.Status.RUNNING)
    rows.mappings_insert(second, contact_mappings("B"))
    rewritten = RecordMapping.objects.filter(created_by_run=first).first()
    assert rewritten is not None
    rows.mappings_rewritten(second, {rewritten.pk: "new hash"})

    by_second = RecordMapping.objects.filter(
        Q(created_by_run=second) | Q(last_written_by_run=second)
    )

    assert by_second.count() == 4
    assert RecordMapping.objects.filter(last_written_by_run=first).count() == 2
    assert list(first.results.values_list("source_id", flat=True)) == [SOURCE_ID]
    assert not second.results.exists()


def test_text_columns_of_a_batch_keep_every_character(
    org_pair: tuple[Org, Org],
) -> None:
    """On PostgreSQL a batch's text columns go as array literals: quotes,
    backslashes, commas, braces, spaces, NULL and empty texts come back as sent."""
    source, target = org_pair
    run = make_run(source, target, Run.Status.RUNNING)
    RunObjectStat.objects.create(run=run, sobject="Contact", position=0)
    hashes = ['a"b', "c\\d", "e,f", "{g}", " h ", "NULL", "", "é☃"]
    mappings = [
        ("Contact", f"0030A{i:010d}AAA", f"0030B{i:010d}AAA", value)
        for i, value in enumerate(hashes)
    ]
    results = [('Odd, \\"name\\"', SOURCE_ID, TARGET_ID, "inserted")]

    rows.batch_save(
        run, "Contact", mappings=mappings, results=results, counts={}, done=[]
    )

    saved = RecordMapping.objects.filter(created_by_run=run).order_by("source_id")
    assert [(m.source_id, m.values_hash) for m in saved] == [
        (source_id, value) for _, source_id, _, value in mappings
    ]
    assert saved_results(run) == results


def test_a_page_s_lookup_finds_the_mappings_of_its_ids_object_and_pair_only(
    org_pair: tuple[Org, Org],
) -> None:
    """On PostgreSQL the ids go as one array literal: every id comes back as asked."""
    source, target = org_pair
    run = make_run(source, target, Run.Status.RUNNING)
    rows.mappings_insert(run, contact_mappings("A"))
    rows.mappings_insert(
        run, [("Lead", "00QA00000000000000", "00QA00000000000050", "hash")]
    )
    wanted = [source_id for _, source_id, _, _ in contact_mappings("A")[:2]]

    def lookup(sobject: str, ids: list[str], pair: tuple[Org, Org]) -> list[str]:
        found = rows.mappings_lookup(
            source_org_id=pair[0].pk,
            target_org_id=pair[1].pk,
            sobject=sobject,
            source_ids=ids,
        )
        return sorted(row[1] for row in found)

    assert lookup("Contact", [*wanted, 'no"such\\id'], org_pair) == wanted
    assert lookup("Lead", wanted, org_pair) == []
    assert lookup("Contact", wanted, (target, source)) == []
    assert lookup("Contact", [], org_pair) == []


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


def contact_mappings(prefix: str) -> list[rows.MappingRow]:
    return [
        ("Contact", f"003{prefix}{i:014d}", f"003{prefix}{i + 50:014d}", f"hash{i}")
        for i in range(3)
    ]


def shared_columns(run: Run) -> list[dict[str, Any]]:
    """The columns of the run's mapping rows that every row of a batch shares."""
    own = {"id", "source_id", "target_id", "values_hash", "created_at", "updated_at"}
    return [
        {k: v for k, v in row.items() if k not in own}
        for row in RecordMapping.objects.filter(created_by_run=run).values()
    ]


def open_entries(run: Run, count: int) -> list[WriteJournal]:
    return journal.journal_open_many(
        run,
        "Contact",
        [[Write(SOURCE_ID, Decision(Action.INSERT), {"N": n})] for n in range(count)],
    )


def test_a_batch_is_saved_whole_with_the_rows_a_table_at_a_time_would_write(
    org_pair: tuple[Org, Org],
) -> None:
    """A batch's mappings, results, counts, checkpoint and closed entries (one
    statement on PostgreSQL) are the rows the per-table inserts write."""
    source, target = org_pair
    by_table = make_run(source, target, Run.Status.SUCCEEDED)
    in_one = make_run(source, target, Run.Status.RUNNING)
    RunObjectStat.objects.create(run=in_one, sobject="Contact", position=0)
    rows.mappings_insert(by_table, contact_mappings("A"))
    mappings = contact_mappings("B")
    results = [
        (s, source_id, target_id, "inserted") for s, source_id, target_id, _ in mappings
    ]
    entries = open_entries(in_one, 2)
    checkpoint = {"level": 0, "after_id": "003B00000000000002"}

    rows.batch_save(
        in_one,
        "Contact",
        mappings=mappings,
        results=results,
        counts={"inserted": 3, "failed": 0},
        done=[entry.pk for entry in entries],
        checkpoint=checkpoint,
    )

    saved = RecordMapping.objects.filter(created_by_run=in_one).order_by("source_id")
    assert [
        (m.sobject, m.source_id, m.target_id, m.values_hash) for m in saved
    ] == mappings
    assert shared_columns(in_one) == [
        {**row, "created_by_run_id": in_one.pk, "last_written_by_run_id": in_one.pk}
        for row in shared_columns(by_table)
    ]
    assert {(m.created_at, m.updated_at) for m in saved} == {(saved[0].created_at,) * 2}
    assert abs(saved[0].created_at - timezone.now()).total_seconds() < 60
    assert saved_results(in_one) == results
    stat = RunObjectStat.objects.get(run=in_one, sobject="Contact")
    assert (stat.inserted, stat.failed, stat.checkpoint) == (3, 0, checkpoint)
    in_one.refresh_from_db()
    assert in_one.inserted == 3
    assert set(
        WriteJournal.objects.filter(run=in_one).values_list("state", flat=True)
    ) == {WriteJournal.State.DONE}


@pytest.mark.django_db(transaction=True)  # the batch's own transaction, no test's
def test_a_batch_the_database_refuses_saves_nothing(
    org_pair: tuple[Org, Org],
) -> None:
    """A result row the database refuses, written after the batch's mappings, undoes
    them: no mapping, no count, no checkpoint, and the journal entry stays in doubt
    to be reconciled."""
    source, target = org_pair
    run = make_run(source, target, Run.Status.RUNNING)
    RunObjectStat.objects.create(run=run, sobject="Contact", position=0)
    [entry] = open_entries(run, 1)

    with pytest.raises(IntegrityError):
        rows.batch_save(
            run,
            "Contact",
            mappings=[("Contact", SOURCE_ID, TARGET_ID, "h")],
            results=[("Contact", SOURCE_ID, TARGET_ID, "not an action")],
            counts={"inserted": 1},
            done=[entry.pk],
            checkpoint={"level": 0, "after_id": SOURCE_ID},
        )

    assert not RecordMapping.objects.exists()
    assert saved_results(run) == []
    stat = RunObjectStat.objects.get(run=run, sobject="Contact")
    assert (stat.inserted, stat.checkpoint) == (0, {})
    entry.refresh_from_db()
    assert entry.state == WriteJournal.State.IN_DOUBT


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
    rows.counts_add(run, "Account", {"inserted": 0})  # nothing to add: no statement

    contact = RunObjectStat.objects.get(run=run, sobject="Contact")
    assert (contact.inserted, contact.failed, contact.updated) == (5, 1, 0)
    run.refresh_from_db()
    assert (run.inserted, run.failed, run.updated) == (5, 1, 4)
    with pytest.raises(FieldDoesNotExist):
        rows.counts_add(run, "Contact", {"inserted = 0, failed": 1})
    with pytest.raises(FieldDoesNotExist):  # a column of the stats only
        rows.counts_add(run, "Contact", {"position": 1})
