"""Fast writes of what a batch records: mappings, results, rewritten hashes, counts,
closed journal entries.

A first run records one mapping row and one result row per record. Building a model
object per row and letting ``bulk_create`` compile its SQL costs more than the network
calls themselves, so these rows go in from plain tuples: on PostgreSQL (psycopg 3) a
batch's rows as arrays in the one statement that records the batch (``batch_save``),
other rows by ``COPY``; on SQLite one statement of bound rows (``VALUES``). Not
``executemany``: Python's sqlite3 releases the interpreter lock around every row,
and while the pipeline's threads parse answers each row then waits for the lock to
come back (up to 5 ms); one statement waits once and writes its rows with the lock
free. Nor rows read from a JSON array (``json_each``), which cost a JSON encoding in
Python and its parsing in SQLite. Columns a caller does not give take their model
default, prepared once per batch. Callers are inside the batch's closing
transaction, except for ``batch_save`` and ``journal_insert``: each is a
transaction of its own.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping, Sequence
from datetime import datetime
from typing import Any

import psycopg
from django.core.exceptions import FieldDoesNotExist
from django.db import DatabaseError, connection, models, transaction
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
Statement = tuple[str, list[Any]]  # SQL with its parameters
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
    insert_rows(**_mapping_table(run), rows=rows)


def results_insert(run: Run, rows: Sequence[ResultRow]) -> None:
    """Insert the success-file rows (sobject, source id, target id, action)."""
    insert_rows(**_result_table(run), rows=rows)


def _mapping_table(run: Run) -> dict[str, Any]:
    """Where a run's new mapping rows go: the model, its shared values, its columns."""
    return {
        "model": RecordMapping,
        "constants": mapping_constants(run, timezone.now()),
        "columns": MAPPING_COLUMNS,
    }


def _result_table(run: Run) -> dict[str, Any]:
    """Where a run's result rows go (as ``_mapping_table``)."""
    return {
        "model": RecordResult,
        "constants": {"run_id": run.pk},
        "columns": RESULT_COLUMNS,
    }


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


def counts_add(
    run: Run,
    sobject: str,
    counts: Mapping[str, int],
    checkpoint: Mapping[str, Any] | None = None,
) -> None:
    """Add a batch's counts to the object's stats and to the run's totals; with a
    checkpoint, set the object's too.

    Plain statements: compiling the same two updates with ``F()`` expressions costs
    the ORM twenty times what SQLite spends running them, once per batch. On
    PostgreSQL both go in one statement (the first as a data-modifying ``WITH``): one
    round trip to the server instead of two, while the run waits.
    """
    _execute(_counts_statements(run, sobject, counts, checkpoint))


def batch_save(
    run: Run,
    sobject: str,
    *,
    mappings: Sequence[MappingRow],
    results: Sequence[ResultRow],
    counts: Mapping[str, int],
    done: Sequence[int],
    checkpoint: Mapping[str, Any] | None = None,
) -> None:
    """What an answered batch records, as one transaction: its new mapping rows, its
    result rows, its counts, its closed journal entries (``done``) and, once its page
    is recorded, the object's checkpoint.

    On PostgreSQL in one statement, the rows sent as arrays: a statement is a
    transaction of its own, so a batch takes one round trip to the server rather
    than eight (BEGIN, two COPYs of two round trips each, the counts, the journal,
    COMMIT), each of which waits for the server's process to get a core back while
    the org and the run's threads keep the machine busy.
    """
    if connection.vendor != "postgresql":
        with transaction.atomic(savepoint=False):
            mappings_insert(run, mappings)
            results_insert(run, results)
            counts_add(run, sobject, counts, checkpoint)
            journal_done(done)
        return
    statements: list[Statement] = []
    if mappings:
        statements.append(_unnest_insert(**_mapping_table(run), rows=mappings))
    if results:
        statements.append(_unnest_insert(**_result_table(run), rows=results))
    if done:
        statements.append(_journal_done_statement(done))
    statements.extend(_counts_statements(run, sobject, counts, checkpoint))
    _execute(statements)


def _counts_statements(
    run: Run,
    sobject: str,
    counts: Mapping[str, int],
    checkpoint: Mapping[str, Any] | None = None,
) -> list[Statement]:
    """The updates adding ``counts`` to the object's stats (and setting its
    checkpoint, in the same update: one statement may not update a row twice) and to
    the run's totals."""
    added = {_counter_column(name): value for name, value in counts.items() if value}
    values = list(added.values())
    assignments = [f"{column} = {column} + %s" for column in added]
    object_values: list[Any] = list(values)
    if checkpoint is not None:
        assignments.append("checkpoint = %s")
        object_values.append(_prepared(RunObjectStat, "checkpoint", checkpoint))
    statements: list[Statement] = []
    if assignments:
        statements.append(
            (
                f"UPDATE {RunObjectStat._meta.db_table} SET {', '.join(assignments)} "
                "WHERE run_id = %s AND sobject = %s",
                [*object_values, run.pk, sobject],
            )
        )
    if added:
        increments = ", ".join(f"{column} = {column} + %s" for column in added)
        statements.append(
            (
                f"UPDATE {Run._meta.db_table} SET {increments} WHERE id = %s",
                [*values, run.pk],
            )
        )
    return statements


def _as_one_statement(statements: Sequence[Statement]) -> Statement:
    """PostgreSQL: statements as one, all but the last as data-modifying ``WITH``
    queries. Each runs exactly once, on the same snapshot, and any error undoes all."""
    *before, (last, last_params) = statements
    if not before:
        return last, last_params
    queries = ", ".join(f"s{i} AS ({sql})" for i, (sql, _) in enumerate(before))
    params = [value for _, statement_params in before for value in statement_params]
    return f"WITH {queries} {last}", [*params, *last_params]


def _execute(statements: Sequence[Statement]) -> None:
    """Run the statements in order: on PostgreSQL as one statement, one round trip."""
    if not statements:
        return
    if connection.vendor == "postgresql":
        _execute_bound_on_server(*_as_one_statement(statements))
        return
    with connection.cursor() as cursor:
        for sql, params in statements:
            cursor.execute(sql, params)


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
    if pks:
        _execute([_journal_done_statement(pks)])


def _journal_done_statement(pks: Sequence[int]) -> Statement:
    """Mark journal entries done: on PostgreSQL their ids one array parameter."""
    ids: list[Any]
    if connection.vendor == "postgresql":
        which, ids = "= ANY(%s)", [list(pks)]
    else:
        which, ids = f"IN ({', '.join('%s' for _ in pks)})", list(pks)
    return (
        f"UPDATE {WriteJournal._meta.db_table} SET state = %s, resolved_at = %s "
        f"WHERE id {which}",
        [
            JournalState.DONE,
            _prepared(WriteJournal, "resolved_at", timezone.now()),
            *ids,
        ],
    )


def journal_insert(
    run: Run, sobject: str, entry_lists: Sequence[EncodedList]
) -> list[WriteJournal]:
    """Save an in-doubt insert entry per list of entries (an ``EncodedList``, whose
    JSON text is saved as is), in order.

    Plain statements, each entry's text a bound parameter: ``save()`` would compile
    the same insert for every call. On PostgreSQL all the entries go in one
    statement, a transaction of its own, through psycopg's own cursor: Django's
    would quote the text into the statement, doubling every quote of an entry's
    tens of kilobytes in Python and making the server scan them again, while the
    calls wait to be sent. On SQLite one statement per entry, in one transaction.
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
    fields = [f for f in WriteJournal._meta.concrete_fields if not f.primary_key]
    insert = (
        f"INSERT INTO {WriteJournal._meta.db_table} "
        f"({', '.join(str(f.column) for f in fields)}) VALUES "
    )
    row = f"({', '.join('%s' for _ in fields)})"
    params = [
        [f.get_db_prep_save(getattr(entry, f.attname), connection) for f in fields]
        for entry in journal
    ]
    if connection.vendor == "postgresql":
        ids = _insert_returning_bound_on_server(
            f"{insert}{', '.join(row for _ in params)} RETURNING id",
            [value for values in params for value in values],
        )
    else:
        ids = []
        with transaction.atomic(savepoint=False), connection.cursor() as cursor:
            for values in params:
                cursor.execute(f"{insert}{row} RETURNING id", values)
                ids.append(_returned_id(cursor))
    for entry, pk in zip(journal, ids, strict=True):
        entry.pk = pk
        entry._state.adding = False
    return journal


def _insert_returning_bound_on_server(statement: str, params: list[Any]) -> list[int]:
    """The ids of the rows one ``INSERT ... RETURNING id`` made, in the order of its
    ``VALUES``: the server numbers the rows as it inserts them, in that order, but
    does not promise to return them so."""
    return sorted(int(id_) for (id_,) in _execute_bound_on_server(statement, params))


def _returned_id(cursor: Any) -> int:
    returned = cursor.fetchone()
    if returned is None:
        raise DatabaseError("a journal entry was saved without its id")
    return int(returned[0])


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
    PostgreSQL the ids go as one array literal (``= ANY``), a single text joined in C:
    a page's 2,000 ids as 2,000 placeholders, or as a list that psycopg quotes id by
    id into an ``ARRAY[...]``, cost more to build and parse than the index probes.
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
    if not source_ids:
        return []
    with connection.cursor() as cursor:
        cursor.execute(
            f"SELECT {', '.join(LOOKUP_COLUMNS)} FROM {RecordMapping._meta.db_table} "
            "WHERE source_org_id = %s AND target_org_id = %s AND sobject = %s "
            "AND source_id = ANY(CAST(%s AS text[]))",
            [source_org_id, target_org_id, sobject, _text_array(source_ids)],
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
    table = model._meta.db_table
    with connection.wrap_database_errors:
        if connection.vendor == "postgresql":
            with connection.cursor() as cursor:
                _copy_rows(cursor.cursor, table, columns, rows, fixed)
        else:
            _insert_bound_rows(table, columns, rows, fixed)


def _copy_rows(
    raw: Any,
    table: str,
    columns: Sequence[str],
    rows: list[Sequence[Any]],
    fixed: Mapping[str, Any],
) -> None:
    """PostgreSQL: the rows through COPY, each completed with the shared values."""
    fixed_values = tuple(_copy_text(value) for value in fixed.values())
    statement = f"COPY {table} ({', '.join([*columns, *fixed])}) FROM STDIN"
    with raw.copy(statement) as copy:
        for row in rows:
            copy.write_row((*row, *fixed_values))


def _copy_text(value: Any) -> Any:
    """A shared value as the text COPY reads, made once rather than on every row
    (psycopg formats a date and time for each row otherwise: half of a mapping row's
    cost in this process). Other values are left to psycopg."""
    if isinstance(value, bool):
        return "t" if value else "f"
    if isinstance(value, datetime):
        return value.isoformat()
    if isinstance(value, int):
        return str(value)
    return value


def _unnest_insert(
    model: type[models.Model],
    *,
    constants: Mapping[str, Any],
    columns: Sequence[str],
    rows: Sequence[Sequence[Any]],
) -> Statement:
    """PostgreSQL: ``insert_rows`` as a statement that reads the rows from one array
    parameter per column. Each value is cast to its column's type: the server infers
    none for the parameters of an ``INSERT ... SELECT``."""
    fixed = _fixed_values(model, constants, exclude=set(columns))
    types = {
        field.column: field.db_type(connection) for field in model._meta.concrete_fields
    }
    arrays = [_array_parameter(list(values)) for values in zip(*rows, strict=True)]
    given = ", ".join(
        f"CAST({placeholder} AS {types[column]}[])"
        for column, (placeholder, _) in zip(columns, arrays, strict=True)
    )
    shared = "".join(f", CAST(%s AS {types[column]})" for column in fixed)
    return (
        f"INSERT INTO {model._meta.db_table} ({', '.join([*columns, *fixed])}) "
        f"SELECT given.*{shared} FROM unnest({given}) AS given",
        # In the order of the statement: the shared values come first.
        [*fixed.values(), *(value for _, value in arrays)],
    )


def _array_parameter(values: list[Any]) -> tuple[str, Any]:
    """A column's values as one parameter (placeholder, value). Texts go as one array
    literal, joined in C: psycopg dumps a list element by element in Python, which
    for a batch's thousands of ids costs more than the server spends inserting them.
    Other values go as a list, in binary."""
    if not values:
        return "%b", values
    try:
        return "%s", _text_array(values)
    except TypeError:  # not texts
        return "%b", values


def _text_array(values: Sequence[str]) -> str:
    """Texts as one PostgreSQL array literal, joined in C (not empty: ``{""}`` is one
    empty text). Raises TypeError if a value is not a text."""
    body = '","'.join(values)
    # Every element is quoted; a quote or backslash of its own is escaped.
    if "\\" in body or body.count('"') != 2 * (len(values) - 1):
        body = '","'.join(
            value.replace("\\", "\\\\").replace('"', '\\"') for value in values
        )
    return '{"' + body + '"}'


def _execute_bound_on_server(sql: str, params: Sequence[Any]) -> list[tuple[Any, ...]]:
    """PostgreSQL: one statement through psycopg's own cursor, which binds its
    parameters on the server (texts as they are, lists as arrays): Django's would
    quote every value into the statement's text. Returns the rows it returns."""
    connection.ensure_connection()
    with (
        connection.wrap_database_errors,
        psycopg.Cursor(connection.connection) as cursor,
    ):
        cursor.execute(sql, params)
        return cursor.fetchall() if cursor.description else []


def _insert_bound_rows(
    table: str,
    columns: Sequence[str],
    rows: list[Sequence[Any]],
    fixed: Mapping[str, Any],
) -> None:
    """SQLite: the rows as bound values, as many a statement as SQLite binds; the
    shared values are bound once a statement, not once a row.

    Through sqlite3 itself, with its own placeholders: Django's cursor rewrites every
    ``%s`` of the statement with a regular expression, which for a batch's hundreds
    of them costs more than SQLite spends binding them.
    """
    given = ", ".join(f"c{i}" for i in range(len(columns)))
    row_placeholders = f"({', '.join('?' for _ in columns)})"
    fixed_placeholders = "".join(", ?" for _ in fixed)
    connection.ensure_connection()
    binds = (connection.features.max_query_params or 999) - len(fixed)
    per_statement = max(1, binds // len(columns))
    for start in range(0, len(rows), per_statement):
        chunk = rows[start : start + per_statement]
        connection.connection.execute(
            f"WITH given({given}) AS "
            f"(VALUES {', '.join(row_placeholders for _ in chunk)}) "
            f"INSERT INTO {table} ({', '.join([*columns, *fixed])}) "
            f"SELECT {given}{fixed_placeholders} FROM given",
            [value for row in chunk for value in row] + list(fixed.values()),
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
