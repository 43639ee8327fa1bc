"""Fast writes of what a batch records: mappings, results, rewritten hashes, counts,
closed journal entries.

A first run records one mapping row and one result row per record. Building a model
object per row and letting ``bulk_create`` compile its SQL costs more than the network
calls themselves, so these rows go in from plain tuples: ``COPY`` on PostgreSQL
(psycopg 3), and on SQLite one statement reading the rows from a JSON array
(``json_each``). Not ``executemany``: Python's sqlite3 releases the interpreter lock
around every row, and while the pipeline's threads parse answers each row then waits
for the lock to come back (up to 5 ms); one statement waits once and writes its rows
with the lock free. Columns a caller does not give take their model default, prepared
once per batch. Callers are inside the batch's closing transaction.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping, Sequence
from datetime import datetime
from typing import Any

import psycopg
from django.core.exceptions import FieldDoesNotExist
from django.db import connection, models
from django.utils import timezone

from migrations_app.models import (
    EncodedList,
    JournalState,
    MappingStatus,
    RecordMapping,
    RecordResult,
    Run,
    RunObjectStat,
    WriteJournal,
)

# Per-row columns of a mapping; the rest is the same for every row of a batch.
MAPPING_COLUMNS = ("sobject", "source_id", "target_id", "values_hash")
RESULT_COLUMNS = ("sobject", "source_id", "target_id", "action")

MappingRow = tuple[str, str, str, str]
ResultRow = tuple[str, str, str, str]


def mapping_constants(run: Run, now: datetime) -> dict[str, Any]:
    """What every mapping row a run writes shares: the one definition of a new row."""
    return {
        "source_org_id": run.source_org_id,
        "target_org_id": run.target_org_id,
        "target_organization_id": run.target_organization_id,
        "source_organization_id": run.source_organization_id,
        "created_by_run_id": run.pk,
        "last_written_by_run_id": run.pk,
        "status": MappingStatus.ACTIVE,
        "created_at": now,
        "updated_at": now,
    }


def mappings_insert(run: Run, rows: Sequence[MappingRow]) -> None:
    """Insert new mapping rows (sobject, source id, target id, values hash).

    The unique constraints of the table still hold: a duplicate raises
    IntegrityError and rolls back the batch's transaction (DESIGN invariant 1).
    """
    insert_rows(
        RecordMapping,
        constants=mapping_constants(run, timezone.now()),
        columns=MAPPING_COLUMNS,
        rows=rows,
    )


def results_insert(run: Run, rows: Sequence[ResultRow]) -> None:
    """Insert the success-file rows (sobject, source id, target id, action)."""
    insert_rows(
        RecordResult, constants={"run_id": run.pk}, columns=RESULT_COLUMNS, rows=rows
    )


def mappings_rewritten(run: Run, hashes: Mapping[int, str]) -> None:
    """Set the values hash of rewritten mappings (pk -> hash) in one statement."""
    if not hashes:
        return
    table = RecordMapping._meta.db_table
    now = _prepared(RecordMapping, "updated_at", timezone.now())
    with connection.cursor() as cursor:
        if connection.vendor == "postgresql":
            cursor.execute(
                f"UPDATE {table} AS m SET values_hash = v.hash, "
                "last_written_by_run_id = %s, updated_at = %s "
                "FROM unnest(%s::bigint[], %s::text[]) AS v(id, hash) WHERE m.id = v.id",
                [run.pk, now, list(hashes), list(hashes.values())],
            )
            return
        cursor.execute(
            f"UPDATE {table} SET values_hash = json_extract(v.value, '$[1]'), "
            "last_written_by_run_id = %s, updated_at = %s "
            f"FROM json_each(%s) AS v WHERE {table}.id = json_extract(v.value, '$[0]')",
            [run.pk, now, json.dumps(list(hashes.items()))],
        )


def counts_add(run: Run, sobject: str, counts: Mapping[str, int]) -> None:
    """Add a batch's counts to the object's stats and to the run's totals.

    Two plain statements: compiling the same two updates with ``F()`` expressions
    costs the ORM twenty times what SQLite spends running them, once per batch.
    """
    added = {_counter_column(name): value for name, value in counts.items() if value}
    if not added:
        return
    increments = ", ".join(f"{column} = {column} + %s" for column in added)
    values = list(added.values())
    with connection.cursor() as cursor:
        cursor.execute(
            f"UPDATE {RunObjectStat._meta.db_table} SET {increments} "
            "WHERE run_id = %s AND sobject = %s",
            [*values, run.pk, sobject],
        )
        cursor.execute(
            f"UPDATE {Run._meta.db_table} SET {increments} WHERE id = %s",
            [*values, run.pk],
        )


def _counter_column(name: str) -> str:
    """The quoted column of a counter both the run and its object stats keep; a
    name that is not one raises FieldDoesNotExist (no text reaches the SQL)."""
    stat, total = RunObjectStat._meta.get_field(name), Run._meta.get_field(name)
    if not (
        isinstance(stat, models.PositiveIntegerField)
        and isinstance(total, models.PositiveIntegerField)
        and stat.column is not None
        and stat.column == total.column
    ):
        raise FieldDoesNotExist(f"{name} is not a counter of both a run and an object")
    return connection.ops.quote_name(stat.column)


def journal_done(pks: Sequence[int]) -> None:
    """Mark journal entries done (their batch's closing transaction)."""
    if not pks:
        return
    resolved_at = _prepared(WriteJournal, "resolved_at", timezone.now())
    with connection.cursor() as cursor:
        cursor.execute(
            f"UPDATE {WriteJournal._meta.db_table} SET state = %s, resolved_at = %s "
            f"WHERE id IN ({', '.join('%s' for _ in pks)})",
            [JournalState.DONE, resolved_at, *pks],
        )


def journal_insert(
    run: Run, sobject: str, entry_lists: Sequence[EncodedList]
) -> list[WriteJournal]:
    """Save an in-doubt insert entry per list of entries (an ``EncodedList``, whose
    JSON text is saved as is), in order.

    On PostgreSQL the text goes as a bound parameter, the rows in one round trip:
    Django's cursor would quote it into the statement, doubling every quote of an
    entry's tens of kilobytes in Python and making the server scan them again,
    while the calls wait to be sent. Callers commit (one statement, or their own
    transaction).
    """
    now = timezone.now()
    journal = [
        WriteJournal(
            run=run,
            sobject=sobject,
            operation=WriteJournal.Operation.INSERT,
            entries=entries,
            created_at=now,
            updated_at=now,
        )
        for entries in entry_lists
    ]
    if connection.vendor != "postgresql":
        for entry in journal:
            entry.save(force_insert=True)
        return journal
    fields = [f for f in WriteJournal._meta.concrete_fields if not f.primary_key]
    statement = (
        f"INSERT INTO {WriteJournal._meta.db_table} "
        f"({', '.join(str(f.column) for f in fields)}) "
        f"VALUES ({', '.join('%s' for _ in fields)}) RETURNING id"
    )
    params = [
        [f.get_db_prep_save(getattr(entry, f.attname), connection) for f in fields]
        for entry in journal
    ]
    connection.ensure_connection()
    with (
        connection.wrap_database_errors,
        psycopg.Cursor(connection.connection) as cursor,  # binds on the server
    ):
        cursor.executemany(statement, params, returning=True)
        for entry in journal:
            returned = cursor.fetchone()
            if returned is None:
                raise psycopg.DatabaseError("a journal entry was saved without its id")
            entry.pk = returned[0]
            entry._state.adding = False
            cursor.nextset()
    return journal


# What a page needs of each mapping it finds.
LOOKUP_COLUMNS = (
    "id",
    "source_id",
    "target_id",
    "status",
    "values_hash",
    "outdated_reason_code",
    "outdated_reason",
)


def mappings_lookup(
    *, source_org_id: int, target_org_id: int, sobject: str, source_ids: list[str]
) -> list[tuple[Any, ...]]:
    """The mappings of ``source_ids`` of one sObject, as rows of LOOKUP_COLUMNS.

    The filter is exactly the unique index (org pair, sObject, source id). On
    PostgreSQL the ids go as one array parameter (``= ANY``): a page's 2,000 ids as
    2,000 placeholders cost more to build and parse than the index probes.
    """
    if connection.vendor != "postgresql":
        return list(
            RecordMapping.objects.filter(
                source_org=source_org_id,
                target_org=target_org_id,
                sobject=sobject,
                source_id__in=source_ids,
            ).values_list(*("pk" if c == "id" else c for c in LOOKUP_COLUMNS))
        )
    with connection.cursor() as cursor:
        cursor.execute(
            f"SELECT {', '.join(LOOKUP_COLUMNS)} FROM {RecordMapping._meta.db_table} "
            "WHERE source_org_id = %s AND target_org_id = %s AND sobject = %s "
            "AND source_id = ANY(%s)",
            [source_org_id, target_org_id, sobject, source_ids],
        )
        return cursor.fetchall()


def insert_rows(
    model: type[models.Model],
    *,
    constants: Mapping[str, Any],
    columns: Sequence[str],
    rows: Iterable[Sequence[Any]],
) -> None:
    """Insert ``rows`` (values of ``columns``, plain text or numbers) into ``model``'s
    table, every other concrete column set from ``constants`` or its default."""
    rows = list(rows)
    if not rows:
        return
    fixed = _fixed_values(model, constants, exclude=set(columns))
    names = [*columns, *fixed]
    fixed_values = tuple(fixed.values())
    table = model._meta.db_table
    with connection.cursor() as cursor, connection.wrap_database_errors:
        if connection.vendor == "postgresql":
            raw = cursor.cursor
            statement = f"COPY {table} ({', '.join(names)}) FROM STDIN"
            with raw.copy(statement) as copy:
                for row in rows:
                    copy.write_row((*row, *fixed_values))
            return
        per_row = ", ".join(
            f"json_extract(value, '$[{i}]')" for i in range(len(columns))
        )
        fixed_placeholders = "".join(", %s" for _ in fixed_values)
        cursor.execute(
            f"INSERT INTO {table} ({', '.join(names)}) "
            f"SELECT {per_row}{fixed_placeholders} FROM json_each(%s)",
            [*fixed_values, json.dumps(rows)],
        )


def _fixed_values(
    model: type[models.Model], constants: Mapping[str, Any], *, exclude: set[str]
) -> dict[str, Any]:
    """Column -> database value for every column not given per row (not the key)."""
    fixed: dict[str, Any] = {}
    for model_field in model._meta.concrete_fields:
        column = model_field.column
        if column is None or column in exclude or model_field.primary_key:
            continue
        if column in constants:
            value = constants[column]
        elif model_field.has_default():
            value = model_field.get_default()
        elif model_field.null:
            value = None
        else:
            value = ""
        fixed[column] = model_field.get_db_prep_save(value, connection)
    return fixed


def _prepared(model: type[models.Model], name: str, value: Any) -> Any:
    model_field = model._meta.get_field(name)
    assert isinstance(model_field, models.Field)
    return model_field.get_db_prep_save(value, connection)
