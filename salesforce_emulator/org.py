"""One emulated Salesforce org: identity, schema, data, users, tokens, faults, counters."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import re
import secrets
import threading
import time
from collections import OrderedDict
from collections.abc import Iterable, Iterator, Mapping
from pathlib import Path
from typing import Any

from salesforce_emulator import pricebooks, recycle_bin, system_objects
from salesforce_emulator.blobs import BlobStore, FileLimits
from salesforce_emulator.clock import Clock
from salesforce_emulator.errors import FieldValueError, RecordFailure
from salesforce_emulator.faults import Faults
from salesforce_emulator.ids import (
    IdSpace,
    encode_base62,
    normalize_id,
    random_pod,
    to18,
)
from salesforce_emulator.row_locks import RowLocks
from salesforce_emulator.schema import FieldDef, ObjectDef
from salesforce_emulator.store import Record, Store
from salesforce_emulator.tokens import TokenStore
from salesforce_emulator.write_log import WriteLog
from salesforce_emulator.writer import ExtRef, Writer, format_auto_number

ORG_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9_-]{0,39}\Z")
DEFAULT_API_VERSION = "59.0"
MAX_CURSORS = 500
API_WINDOW_SECONDS = 24 * 3600

DEMO_USERS = (
    ("Ada", "Lovelace", "ada.lovelace@example.com", "alove"),
    ("Grace", "Hopper", "grace.hopper@example.com", "ghopp"),
    ("Alan", "Turing", "alan.turing@example.com", "aturi"),
)
ACCOUNT_RECORD_TYPES = (
    ("Business", "Business Account"),
    ("Partner", "Partner Account"),
)
SEEDED_OBJECTS = frozenset({"user", "recordtype", "group"})


def _new_organization_id(pod: str) -> str:
    """A random 18-character Organization Id on ``pod``."""
    serial = encode_base62(secrets.randbelow(62**9), 9)
    return to18(f"00D{pod}0{serial}")


class Cursor:
    """The remaining rows of a REST query, addressed by a query locator."""

    def __init__(
        self, records: list[dict[str, Any]], total_size: int, sobject: str
    ) -> None:
        self.records = records
        self.total_size = total_size
        self.sobject = sobject
        self.last_used = time.monotonic()


class OrgCatalog:
    """The SOQL engine's view of an org: raw records, no copies (read-only use).

    It also serves the system objects computed from the org (Organization,
    EntityDefinition, FieldDefinition; see system_objects.py), which have no table.
    """

    def __init__(self, org: Org) -> None:
        self._org = org

    def object_def(self, name: str) -> ObjectDef | None:
        return self._org.object_def(name) or system_objects.object_def(name)

    def records(
        self, sobject: str, *, include_deleted: bool
    ) -> Iterable[dict[str, Any]]:
        table = self._org.store.tables.get(sobject.lower())
        if table is None:
            if system_objects.object_def(sobject) is not None:
                return system_objects.rows(self._org, sobject)
            return ()
        if include_deleted:
            return table.rows.values()
        return (r for r in table.rows.values() if not r["IsDeleted"])

    def get(self, sobject: str, record_id: str) -> dict[str, Any] | None:
        table = self._org.store.tables.get(sobject.lower())
        if table is None and system_objects.object_def(sobject) is not None:
            return system_objects.get(self._org, sobject, record_id)
        return None if table is None else table.rows.get(record_id)


class Org:
    """An emulated org. The public methods below form the direct-access Python API."""

    def __init__(
        self,
        name: str,
        objects: dict[str, ObjectDef],
        *,
        path: Path | None = None,
        taken_pods: Iterable[str] = (),
        page_size: int = 2000,
        clock: Clock | None = None,
    ) -> None:
        if not ORG_NAME.match(name):
            raise ValueError(f"invalid org name {name!r} (letters, digits, - and _)")
        self.name = name
        # Every timestamp of this org comes from this clock (shared by an Emulator).
        self.clock = clock or Clock()
        self.delete_log = recycle_bin.DeleteLog(self.clock.now_text())
        self.objects = objects
        self.page_size = page_size
        self.faults = Faults()
        self.faults.actions = {
            "expire_tokens": self.expire_tokens,
            "reset_api_calls": self.reset_api_calls,
        }
        # Records locked by the write calls in progress (fault row_lock_ms).
        self.row_locks = RowLocks()
        # Who wrote what, when: bounded, for tests that prove one writer at a time.
        self.write_log = WriteLog()
        self.store = Store(objects, path)
        # Blob content (file bodies) lives beside the database, not in the records.
        self.blobs = BlobStore(path.with_name(path.stem + "-blobs") if path else None)
        self.file_limits: FileLimits = FileLimits()
        self.store.meta_hook = self._counter_meta
        self.catalog = OrgCatalog(self)
        self.base_url = ""
        self.ca_file = ""
        self.api_version = DEFAULT_API_VERSION
        self._api_calls = 0
        # The daily allowance (DailyApiRequests) is counted per 24 hours of the clock.
        self._window_calls = 0
        self._window_start = self.clock.time()
        self._counter_lock = threading.Lock()
        self._writers: dict[str, Writer] = {}
        self._auto_numbers: dict[str, int] = {}
        self._prefixes = {o.key_prefix: o for o in objects.values()}
        self._cascades = self._cascade_map()
        self.cursors: OrderedDict[str, Cursor] = OrderedDict()
        self.jobs: dict[str, Any] = {}
        self.jwt_keys: list[str] = []
        self.redirect_uris: list[str] = []
        self.auto_approve = False
        # A sandbox copy of the org named sandbox_of (see sandbox.py).
        self.is_sandbox = False
        self.sandbox_of: str | None = None
        self._bootstrap(set(taken_pods))
        pricebooks.ensure_standard_pricebook(self)
        self.tokens = TokenStore(self.organization_id, self.store, self.clock.time)

    # -- identity and persistence -------------------------------------------------------

    def _bootstrap(self, taken_pods: set[str]) -> None:
        meta = self.store.meta()
        if "organization_id" in meta:
            self._restore(meta)
            return
        pod = random_pod(taken_pods)
        self.ids = IdSpace(pod)
        self.organization_id = _new_organization_id(pod)
        self.client_id = "3MVG9" + secrets.token_urlsafe(60).replace("-", "A").replace(
            "_", "z"
        )
        self.client_secret = secrets.token_hex(32).upper()
        self.password = secrets.token_urlsafe(12)
        self.security_token = secrets.token_urlsafe(18)
        with self.store.transaction():
            self.integration_user_id = self._seed_users()
            self._seed_record_types()
            self._save_identity()

    def _restore(self, meta: dict[str, str]) -> None:
        identity = json.loads(meta["identity"])
        self.organization_id = meta["organization_id"]
        self.ids = IdSpace(identity["pod"], int(meta.get("id_counter", "0")))
        self.client_id = identity["client_id"]
        self.client_secret = identity["client_secret"]
        self.password = identity["password"]
        self.security_token = identity["security_token"]
        self.integration_user_id = identity["integration_user_id"]
        self.jwt_keys = list(identity.get("jwt_keys", []))
        self.is_sandbox = bool(identity.get("is_sandbox", False))
        self.sandbox_of = identity.get("sandbox_of")
        self._auto_numbers = json.loads(meta.get("auto_numbers", "{}"))
        self.delete_log = recycle_bin.DeleteLog.from_meta(
            meta.get(recycle_bin.META_KEY), self.clock.now_text()
        )
        self.store.load()

    def _save_identity(self) -> None:
        identity = {
            "pod": self.ids.pod,
            "client_id": self.client_id,
            "client_secret": self.client_secret,
            "password": self.password,
            "security_token": self.security_token,
            "integration_user_id": self.integration_user_id,
            "jwt_keys": self.jwt_keys,
            "is_sandbox": self.is_sandbox,
            "sandbox_of": self.sandbox_of,
        }
        self.store.set_meta("organization_id", self.organization_id)
        self.store.set_meta("identity", json.dumps(identity))
        self._save_counters()

    def start_as_sandbox_of(self, source: Org) -> None:
        """Take the identity of a just-copied (or just-refreshed) sandbox of ``source``.

        Called by ``sandbox.copy_org`` once the records are copied: a new Organization
        Id, the source's integration user and auto-number counters, no session, an
        empty delete log. Login credentials stay (see sandbox.py).
        """
        self.is_sandbox = True
        self.sandbox_of = source.name
        self.organization_id = _new_organization_id(self.ids.pod)
        self.integration_user_id = source.integration_user_id
        self._auto_numbers = dict(source._auto_numbers)
        self.blobs.copy_from(source.blobs)
        self.store.delete_tokens("access")
        self.store.delete_tokens("refresh")
        self.tokens = TokenStore(self.organization_id, self.store, self.clock.time)
        self.delete_log.reset(self.clock.now_text())
        self.cursors.clear()
        self.jobs.clear()
        self.reset_api_calls()
        with self.store.transaction():
            self._save_identity()

    def _save_counters(self) -> None:
        for key, value in self._counter_meta().items():
            self.store.set_meta(key, value)

    def _counter_meta(self) -> dict[str, str]:
        return {
            "id_counter": str(self.ids.counter),
            "auto_numbers": json.dumps(self._auto_numbers),
            **self.delete_log.meta(),
        }

    def _seed_users(self) -> str:
        users = self.writer("User")
        now = self.clock.now_text()
        integration = {
            "FirstName": "Integration",
            "LastName": "User",
            "Alias": "integ",
            "Email": f"integration@{self.name.lower()}.example.com",
            "Username": f"integration@{self.name.lower()}.example.com",
            "Title": "API Integration",
            "CompanyName": f"{self.name} org",
        }
        placeholder = "005000000000000AAA"
        user_id = users.insert(
            users.prepare(integration, for_create=True), placeholder, now
        )
        record = dict(self.store.tables["user"].rows[user_id])
        record["CreatedById"] = record["LastModifiedById"] = user_id
        self.store.put(self.store.tables["user"], record)
        for first, last, email, alias in DEMO_USERS:
            values = {
                "FirstName": first,
                "LastName": last,
                "Email": email,
                "Alias": alias,
                "Username": f"{email}.{self.name.lower()}",
                "CompanyName": f"{self.name} org",
            }
            users.insert(users.prepare(values, for_create=True), user_id, now)
        return user_id

    def _seed_record_types(self) -> None:
        writer = self.writer("RecordType")
        now = self.clock.now_text()
        for developer_name, label in ACCOUNT_RECORD_TYPES:
            values = {
                "Name": label,
                "DeveloperName": developer_name,
                "SobjectType": "Account",
                "IsActive": True,
            }
            writer.insert(
                writer.prepare(values, for_create=True), self.integration_user_id, now
            )

    def close(self) -> None:
        with self.store.transaction():
            self._save_counters()
        self.store.close()
        self.blobs.close()

    # -- schema ------------------------------------------------------------------------

    def object_def(self, name: str) -> ObjectDef | None:
        return self.objects.get(name.lower())

    def object_for_id(self, record_id: str) -> ObjectDef | None:
        return self._prefixes.get(record_id[:3])

    def writer(self, sobject: str) -> Writer:
        key = sobject.lower()
        writer = self._writers.get(key)
        if writer is None:
            table = self.store.tables.get(key)
            if table is None:
                raise RecordFailure.of(
                    "INVALID_TYPE", f"sObject type '{sobject}' is not supported."
                )
            writer = self._writers[key] = Writer(self, table)
        return writer

    def _cascade_map(self) -> dict[str, list[tuple[str, FieldDef]]]:
        cascades: dict[str, list[tuple[str, FieldDef]]] = {}
        for obj in self.objects.values():
            for field_def in obj.fields.values():
                if field_def.cascade_delete:
                    for target in field_def.reference_to:
                        cascades.setdefault(target.lower(), []).append(
                            (obj.name, field_def)
                        )
        return cascades

    def record_types(self, sobject: str) -> list[Record]:
        table = self.store.tables["recordtype"]
        return [
            r
            for r in table.rows.values()
            if not r["IsDeleted"]
            and (r["SobjectType"] or "").lower() == sobject.lower()
        ]

    # -- helpers used by Writer --------------------------------------------------------

    def check_reference(self, obj: ObjectDef, field_def: FieldDef, value: Any) -> str:
        """Validate a lookup value; returns the 18-character id."""
        record_id = normalize_id(value)
        label = field_def.label or field_def.name
        if record_id is None:
            raise RecordFailure.of(
                "MALFORMED_ID",
                f"{label}: id value of incorrect type: {value}",
                (field_def.name,),
            )
        target = self._prefixes.get(record_id[:3])
        allowed = {t.lower() for t in field_def.reference_to}
        record = None
        if target is not None and target.name.lower() in allowed:
            record = self.store.tables[target.name.lower()].rows.get(record_id)
        if record is None or record["IsDeleted"]:
            raise RecordFailure.of(
                "INVALID_CROSS_REFERENCE_KEY",
                f"{label}: invalid cross reference id"
                if record is None
                else f"{label}: entity is deleted",
                (field_def.name,),
            )
        if field_def.name == "OwnerId" and record.get("IsActive") is False:
            raise RecordFailure.of(
                "INACTIVE_OWNER_OR_USER",
                f"operation performed with inactive user [{record_id}] as owner of "
                f"[{obj.name.lower()}]",
                (field_def.name,),
            )
        if field_def.name == "RecordTypeId" and (
            (record["SobjectType"] or "").lower() != obj.name.lower()
            or not record["IsActive"]
        ):
            raise RecordFailure.of(
                "INVALID_CROSS_REFERENCE_KEY",
                f"Record Type ID: this ID value isn't valid for the user: {record_id}",
                (field_def.name,),
            )
        return record_id

    def resolve_ext_ref(self, ref: ExtRef) -> str:
        """Find the parent named by external id; returns its id."""
        targets = list(ref.field.reference_to)
        if ref.target:
            targets = [t for t in targets if t.lower() == ref.target.lower()]
        if len(targets) != 1:
            raise RecordFailure.of(
                "INVALID_FIELD",
                f"Polymorphic foreign key reference {ref.field.relationship_name} needs a "
                "valid attributes.type",
                (ref.field.name,),
            )
        table = self.store.tables[targets[0].lower()]
        ext_field = table.obj.field(ref.ext_field)
        if ext_field is None or ext_field not in table.indexed:
            raise RecordFailure.of(
                "INVALID_FIELD",
                f"Field {ref.ext_field} is not an external id field on {table.obj.name}",
                (ref.field.name,),
            )
        value = ref.value if isinstance(ref.value, str) else str(ref.value)
        matches = table.find(ext_field, value)
        if not matches:
            raise RecordFailure.of(
                "INVALID_FIELD",
                f"Foreign key external ID: {value} not found for field {ext_field.name} in "
                f"entity {table.obj.name}",
                (ref.field.name,),
            )
        if len(matches) > 1:
            raise RecordFailure.of(
                "DUPLICATE_EXTERNAL_ID",
                f"Foreign key external ID: {value} matched more than one record in entity "
                f"{table.obj.name}",
                (ref.field.name,),
            )
        return matches[0]

    def next_auto_number(self, obj: ObjectDef, field_def: FieldDef) -> str:
        key = f"{obj.name}.{field_def.name}"
        with self._counter_lock:
            number = self._auto_numbers.get(key, 0) + 1
            self._auto_numbers[key] = number
        return format_auto_number(field_def.display_format, number)

    def cascade_delete(
        self, obj: ObjectDef, record_id: str, user_id: str, now: str
    ) -> None:
        for child_name, field_def in self._cascades.get(obj.name.lower(), ()):
            child = self.writer(child_name)
            ids = [
                r["Id"]
                for r in child.table.rows.values()
                if not r["IsDeleted"] and r[field_def.name] == record_id
            ]
            for child_id in ids:
                child.delete(child_id, user_id, now)
                self.delete_log.note_cascade(child_id, record_id)

    def cascade_hard_delete(self, obj: ObjectDef, record_id: str) -> None:
        for child_name, field_def in self._cascades.get(obj.name.lower(), ()):
            child = self.writer(child_name)
            ids = [
                r["Id"]
                for r in child.table.rows.values()
                if r[field_def.name] == record_id
            ]
            for child_id in ids:
                child.hard_delete(child_id)

    # -- API usage ---------------------------------------------------------------------

    @property
    def api_calls(self) -> int:
        """Authenticated data API calls counted so far (settable, e.g. to 0)."""
        return self._api_calls

    @api_calls.setter
    def api_calls(self, value: int) -> None:
        with self._counter_lock:
            self._api_calls = self._window_calls = int(value)
            self._window_start = self.clock.time()

    @property
    def api_calls_in_window(self) -> int:
        """Calls counted against the daily allowance: those of the current 24-hour
        window of the org's clock, which starts at a reset (or a set ``api_calls``) and
        again with the first call made 24 hours or more after its start."""
        return self._window_calls

    def reset_api_calls(self) -> None:
        self.api_calls = 0

    def count_api_call(self) -> bool:
        """Count one call; False when it exceeds the daily allowance."""
        with self._counter_lock:
            now = self.clock.time()
            if now - self._window_start >= API_WINDOW_SECONDS:
                self._window_start, self._window_calls = now, 0
            self._api_calls += 1
            self._window_calls += 1
            return self._window_calls <= self.faults.api_limit

    def limit_info(self) -> str:
        return f"api-usage={self._window_calls}/{self.faults.api_limit}"

    # -- tokens ------------------------------------------------------------------------

    def issue_token(self, user_id: str | None = None) -> str:
        """A fresh access token (no OAuth round trip), for tests and scripts."""
        return self.tokens.issue_access(
            user_id or self.integration_user_id, self.faults.token_lifetime
        )

    def expire_tokens(self) -> None:
        """Every access token issued so far becomes invalid now."""
        self.tokens.expire_all()

    def register_jwt_key(self, pem: str | bytes) -> None:
        """Accept JWT bearer assertions signed by this certificate or public key (PEM)."""
        text = pem.decode() if isinstance(pem, bytes) else pem
        if "-----BEGIN" not in text:
            raise ValueError("expected a PEM certificate or public key")
        if text not in self.jwt_keys:
            self.jwt_keys.append(text)
            with self.store.transaction():
                self._save_identity()

    def user_by_username(self, username: str) -> Record | None:
        users = self.store.tables["user"]
        field_def = users.obj.field("Username")
        assert field_def is not None
        ids = users.find(field_def, username)
        return users.rows[ids[0]] if ids else None

    def user(self, user_id: str) -> Record | None:
        return self.store.tables["user"].rows.get(user_id)

    def security_token_for(self, user_id: str) -> str:
        """The security token of one user (appended to the password at SOAP login).

        Each user has their own, derived from the org's secret so nothing more needs
        saving; the integration user's is the org's own token.
        """
        if user_id == self.integration_user_id:
            return self.security_token
        digest = hmac.new(
            self.security_token.encode(), user_id.encode(), hashlib.sha256
        ).digest()
        return base64.urlsafe_b64encode(digest[:18]).decode()

    def security_tokens(self) -> dict[str, str]:
        """Username -> security token of every user (printed at start)."""
        with self.store.lock:
            users = list(self.store.tables["user"].rows.values())
        return {
            str(u["Username"]): self.security_token_for(u["Id"])
            for u in users
            if not u["IsDeleted"]
        }

    # -- query cursors -----------------------------------------------------------------

    def new_locator(self) -> str:
        return self.ids.next_id("01g")

    def keep_cursor(self, locator: str, cursor: Cursor) -> None:
        with self._counter_lock:
            self.cursors[locator] = cursor
            while len(self.cursors) > MAX_CURSORS:
                self.cursors.popitem(last=False)

    def cursor(self, locator: str) -> Cursor | None:
        with self._counter_lock:
            cursor = self.cursors.get(locator)
            if cursor is not None:
                cursor.last_used = time.monotonic()
                self.cursors.move_to_end(locator)
            return cursor

    # -- direct data access (Python API; bypasses API counting) -------------------------

    def _prepared(
        self, writer: Writer, values: Mapping[str, Any], for_create: bool
    ) -> dict[str, Any]:
        try:
            return writer.prepare(values, for_create=for_create)
        except FieldValueError as exc:
            raise RecordFailure(exc.record_error()) from None

    def insert(self, sobject: str, values: Mapping[str, Any]) -> str:
        """Create a record with the same validation as the API; returns its id.

        Raises RecordFailure (``.code``, ``.errors``) when Salesforce would refuse it.
        """
        with self.store.transaction():
            writer = self.writer(sobject)
            return writer.insert(
                self._prepared(writer, values, True),
                self.integration_user_id,
                self.clock.now_text(),
            )

    def insert_many(self, sobject: str, rows: Iterable[Mapping[str, Any]]) -> list[str]:
        """Create many records in one transaction (all or none); returns their ids."""
        with self.store.savepoint() as journal:
            writer = self.writer(sobject)
            now = self.clock.now_text()
            ids = []
            try:
                for values in rows:
                    ids.append(
                        writer.insert(
                            self._prepared(writer, values, True),
                            self.integration_user_id,
                            now,
                        )
                    )
            except RecordFailure:
                self.store.rollback(journal)
                raise
            return ids

    def update(self, sobject: str, record_id: str, values: Mapping[str, Any]) -> None:
        with self.store.transaction():
            writer = self.writer(sobject)
            writer.update(
                record_id,
                self._prepared(writer, values, False),
                self.integration_user_id,
                self.clock.now_text(),
            )

    def upsert(
        self, sobject: str, external_id_field: str, values: Mapping[str, Any]
    ) -> tuple[str, bool]:
        """Insert or update by external id; returns (id, created)."""
        with self.store.transaction():
            writer = self.writer(sobject)
            field_def = writer.obj.field(external_id_field)
            if field_def is None:
                raise RecordFailure.of(
                    "INVALID_FIELD", f"No such field {external_id_field}"
                )
            return writer.upsert(
                field_def,
                self._prepared(writer, values, False),
                self.integration_user_id,
                self.clock.now_text(),
            )

    def delete(self, sobject: str, record_id: str) -> None:
        """Soft delete (IsDeleted = true, visible to queryAll)."""
        with self.store.transaction():
            self.writer(sobject).delete(
                record_id, self.integration_user_id, self.clock.now_text()
            )

    def get(self, sobject: str, record_id: str) -> dict[str, Any] | None:
        """A copy of a record (deleted ones included), or None."""
        table = self.store.tables.get(sobject.lower())
        normalized = normalize_id(record_id)
        if table is None or normalized is None:
            return None
        with self.store.lock:
            record = table.rows.get(normalized)
            return dict(record) if record is not None else None

    def records(
        self, sobject: str, *, include_deleted: bool = False
    ) -> list[dict[str, Any]]:
        """Copies of all records of an object, in insertion order."""
        with self.store.lock:
            rows = self.catalog.records(sobject, include_deleted=include_deleted)
            return [dict(r) for r in rows]

    def count(self, sobject: str, *, include_deleted: bool = False) -> int:
        table = self.store.tables.get(sobject.lower())
        if table is None:
            return 0
        with self.store.lock:
            return len(table.rows) if include_deleted else table.live_count()

    def query(
        self, soql: str, *, include_deleted: bool = False
    ) -> list[dict[str, Any]]:
        """Run SOQL directly; returns REST-shaped records (all pages)."""
        from salesforce_emulator import soql as soql_engine

        with self.store.lock:
            result = soql_engine.execute(
                soql_engine.parse(soql),
                self.catalog,
                api_version=self.api_version,
                include_deleted=include_deleted,
                now=self.clock.now(),
            )
        return result.records

    # -- recycle bin (see recycle_bin.py) -----------------------------------------------

    def recycle_bin(self, sobject: str | None = None) -> list[dict[str, Any]]:
        """Copies of the records in the recycle bin (deleted, not yet purged)."""
        with self.store.lock:
            return [dict(r) for r in recycle_bin.in_recycle_bin(self, sobject)]

    def empty_recycle_bin(self, ids: Iterable[str] | None = None) -> list[str]:
        """Purge the recycle bin, or only these records (and children deleted with
        them): gone from queryAll for good, still reported by Get Deleted within its
        window. Returns the purged ids; RecordFailure if an id is not in the bin."""
        return recycle_bin.empty(self, ids)

    def undelete(self, ids: Iterable[str]) -> list[str]:
        """Restore records from the recycle bin, with the master-detail children
        deleted with them (all or none); returns the restored ids."""
        return recycle_bin.undelete(
            self, ids, self.integration_user_id, self.clock.now_text()
        )

    def expire_recycle_bin(self) -> list[str]:
        """Purge what has been in the recycle bin for over 15 days by this org's clock
        (run when the emulator clock moves); returns the purged ids."""
        return recycle_bin.expire(self, self.clock.now())

    def reset_data(self) -> None:
        """Delete every record except users, record types and groups; clear cursors and
        jobs, reset faults and the API counter. Identity and credentials stay."""
        with self.store.transaction():
            for key, table in self.store.tables.items():
                if key in SEEDED_OBJECTS:
                    continue
                for record_id in list(table.rows):
                    self.store.remove(table, record_id)
            self.delete_log.reset(self.clock.now_text())
        self.blobs.clear()
        self.file_limits = FileLimits()
        pricebooks.ensure_standard_pricebook(self)
        self.cursors.clear()
        self.jobs.clear()
        self.faults.reset()
        self.reset_api_calls()

    def info(self) -> dict[str, Any]:
        """Connection details (the JSON line printed at start)."""
        user = self.user(self.integration_user_id) or {}
        return {
            "org": self.name,
            "login_url": self.base_url,
            "instance_url": self.base_url,
            "token_url": f"{self.base_url}/services/oauth2/token",
            "authorize_url": f"{self.base_url}/services/oauth2/authorize",
            "client_id": self.client_id,
            "client_secret": self.client_secret,
            "organization_id": self.organization_id,
            "user_id": self.integration_user_id,
            "username": user.get("Username"),
            "password": self.password,
            "security_token": self.security_token_for(self.integration_user_id),
            "security_tokens": self.security_tokens(),
            "ca_file": self.ca_file,
            "api_version": self.api_version,
            "control_url": f"{self.base_url}/__emulator__/orgs/{self.name}",
            "is_sandbox": self.is_sandbox,
            "sandbox_of": self.sandbox_of,
        }

    def iter_objects(self) -> Iterator[ObjectDef]:
        return iter(self.objects.values())
