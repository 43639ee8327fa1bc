"""In-memory record tables with write-through persistence to one SQLite file per org.

Records live in plain dicts (id -> record, insertion order kept). Each API call runs in
a ``Store.transaction()``: changes are journalled so that an all-or-none request can be
rolled back, and on commit every changed record is written to SQLite with one
``executemany`` in one SQLite transaction. Without a path the store is memory-only.
"""

from __future__ import annotations

import json
import sqlite3
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from salesforce_emulator.schema import FieldDef, ObjectDef

Record = dict[str, Any]

_SCHEMA_SQL = """
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS records (
    id TEXT PRIMARY KEY, sobject TEXT NOT NULL, data TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS tokens (
    token TEXT PRIMARY KEY, kind TEXT NOT NULL, data TEXT NOT NULL);
"""


def index_key(field_def: FieldDef, value: Any) -> Any:
    if isinstance(value, str) and not field_def.case_sensitive:
        return value.lower()
    return value


class Table:
    """The records of one object plus value indexes of its unique / external-id fields."""

    def __init__(self, obj: ObjectDef) -> None:
        self.obj = obj
        self.rows: dict[str, Record] = {}
        self.template: Record = {
            f.name: (f.default_value if f.type == "boolean" else None)
            for f in obj.fields.values()
        }
        self.indexed: list[FieldDef] = [
            f
            for f in obj.fields.values()
            if (f.unique or f.external_id or f.id_lookup) and f.type != "id"
        ]
        self.indexes: dict[str, dict[Any, set[str]]] = {
            f.name: {} for f in self.indexed
        }

    def blank(self) -> Record:
        return self.template.copy()

    def _index_add(self, record: Record) -> None:
        if record["IsDeleted"]:
            return
        for field_def in self.indexed:
            value = record[field_def.name]
            if value is not None:
                key = index_key(field_def, value)
                self.indexes[field_def.name].setdefault(key, set()).add(record["Id"])

    def _index_remove(self, record: Record) -> None:
        if record["IsDeleted"]:
            return
        for field_def in self.indexed:
            value = record[field_def.name]
            if value is not None:
                ids = self.indexes[field_def.name].get(index_key(field_def, value))
                if ids is not None:
                    ids.discard(record["Id"])
                    if not ids:
                        del self.indexes[field_def.name][index_key(field_def, value)]

    def put(self, record: Record) -> Record | None:
        """Insert or replace a record; returns the previous version."""
        old = self.rows.get(record["Id"])
        if old is not None:
            self._index_remove(old)
        self.rows[record["Id"]] = record
        self._index_add(record)
        return old

    def remove(self, record_id: str) -> Record | None:
        old = self.rows.pop(record_id, None)
        if old is not None:
            self._index_remove(old)
        return old

    def find(self, field_def: FieldDef, value: Any) -> list[str]:
        """Ids of live records whose indexed ``field_def`` equals ``value``."""
        ids = self.indexes[field_def.name].get(index_key(field_def, value))
        return sorted(ids) if ids else []

    def live_count(self) -> int:
        return sum(1 for r in self.rows.values() if not r["IsDeleted"])


class Store:
    """All tables of one org, the journal of the open transaction and persistence."""

    def __init__(self, objects: dict[str, ObjectDef], path: Path | None) -> None:
        self.tables: dict[str, Table] = {
            key: Table(obj) for key, obj in objects.items()
        }
        self.lock = threading.RLock()
        self.path = path
        self._db: sqlite3.Connection | None = None
        self._journal: list[tuple[Table, str, Record | None]] | None = None
        self._dirty: dict[str, tuple[str, Record | None]] = {}
        self._dirty_meta: dict[str, str] = {}
        self._depth = 0
        # Extra meta rows written with every commit that changed records (id counters).
        self.meta_hook: Callable[[], dict[str, str]] | None = None
        if path is not None:
            self._open(path)

    # -- persistence -----------------------------------------------------------------

    def _open(self, path: Path) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        db = sqlite3.connect(str(path), check_same_thread=False, isolation_level=None)
        db.execute("PRAGMA journal_mode=WAL")
        db.execute("PRAGMA synchronous=NORMAL")
        db.executescript(_SCHEMA_SQL)
        self._db = db

    def load(self) -> None:
        """Read all records from SQLite into memory."""
        if self._db is None:
            return
        for record_id, sobject, data in self._db.execute(
            "SELECT id, sobject, data FROM records ORDER BY rowid"
        ):
            table = self.tables.get(sobject.lower())
            if table is None:
                continue
            record = table.blank()
            for key, value in json.loads(data).items():
                if key in record:
                    record[key] = value
            record["Id"] = record_id
            table.put(record)

    def meta(self) -> dict[str, str]:
        if self._db is None:
            return {}
        return dict(self._db.execute("SELECT key, value FROM meta").fetchall())

    def set_meta(self, key: str, value: str) -> None:
        self._dirty_meta[key] = value
        if self._depth == 0:
            self._flush()

    def tokens(self) -> list[tuple[str, str, dict[str, Any]]]:
        if self._db is None:
            return []
        rows = self._db.execute("SELECT token, kind, data FROM tokens").fetchall()
        return [(token, kind, json.loads(data)) for token, kind, data in rows]

    def save_token(self, token: str, kind: str, data: dict[str, Any] | None) -> None:
        if self._db is None:
            return
        with self.lock:
            if data is None:
                self._db.execute("DELETE FROM tokens WHERE token = ?", (token,))
            else:
                self._db.execute(
                    "INSERT OR REPLACE INTO tokens (token, kind, data) VALUES (?, ?, ?)",
                    (token, kind, json.dumps(data)),
                )

    def delete_tokens(self, kind: str) -> None:
        if self._db is not None:
            with self.lock:
                self._db.execute("DELETE FROM tokens WHERE kind = ?", (kind,))

    def _flush(self) -> None:
        dirty, self._dirty = self._dirty, {}
        meta, self._dirty_meta = self._dirty_meta, {}
        if self._db is None or not (dirty or meta):
            return
        if dirty and self.meta_hook is not None:
            meta = {**self.meta_hook(), **meta}
        upserts = []
        deletes = []
        for record_id, (sobject, record) in dirty.items():
            if record is None:
                deletes.append((record_id,))
            else:
                compact = {k: v for k, v in record.items() if v is not None}
                upserts.append(
                    (record_id, sobject, json.dumps(compact, separators=(",", ":")))
                )
        db = self._db
        db.execute("BEGIN")
        try:
            if upserts:
                db.executemany(
                    "INSERT OR REPLACE INTO records (id, sobject, data) VALUES (?, ?, ?)",
                    upserts,
                )
            if deletes:
                db.executemany("DELETE FROM records WHERE id = ?", deletes)
            if meta:
                db.executemany(
                    "INSERT OR REPLACE INTO meta (key, value) VALUES (?, ?)",
                    list(meta.items()),
                )
            db.execute("COMMIT")
        except BaseException:
            db.execute("ROLLBACK")
            raise

    def close(self) -> None:
        with self.lock:
            self._flush()
            if self._db is not None:
                self._db.close()
                self._db = None

    # -- transactions ---------------------------------------------------------------

    @contextmanager
    def transaction(self) -> Iterator[None]:
        """Hold the org lock; commit (write through) when the outermost block ends."""
        with self.lock:
            self._depth += 1
            try:
                yield
            finally:
                self._depth -= 1
                if self._depth == 0:
                    self._journal = None
                    self._flush()

    @contextmanager
    def savepoint(self) -> Iterator[list[tuple[Table, str, Record | None]]]:
        """Journal changes made inside the block so ``rollback`` can undo them."""
        with self.transaction():
            outer = self._journal
            journal: list[tuple[Table, str, Record | None]] = []
            self._journal = journal
            try:
                yield journal
            finally:
                if outer is not None:
                    outer.extend(journal)
                self._journal = outer

    def rollback(self, journal: list[tuple[Table, str, Record | None]]) -> None:
        for table, record_id, old in reversed(journal):
            if old is None:
                table.remove(record_id)
            else:
                table.put(old)
            self._mark(table, record_id, old)
        journal.clear()

    def _mark(self, table: Table, record_id: str, record: Record | None) -> None:
        self._dirty[record_id] = (table.obj.name, record)

    # -- writes -----------------------------------------------------------------------

    def put(self, table: Table, record: Record) -> None:
        old = table.put(record)
        if self._journal is not None:
            self._journal.append((table, record["Id"], old))
        self._mark(table, record["Id"], record)
        if self._depth == 0:
            self._flush()

    def remove(self, table: Table, record_id: str) -> None:
        old = table.remove(record_id)
        if old is None:
            return
        if self._journal is not None:
            self._journal.append((table, record_id, old))
        self._mark(table, record_id, None)
        if self._depth == 0:
            self._flush()

    def clear(self) -> None:
        """Drop every record (memory and file)."""
        with self.lock:
            for table in self.tables.values():
                table.rows.clear()
                for index in table.indexes.values():
                    index.clear()
            self._dirty.clear()
            if self._db is not None:
                self._db.execute("DELETE FROM records")
