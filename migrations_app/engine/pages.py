"""Decide one page of source records as plain data. Pure: no ORM, no HTTP.

The service reads a page and everything its decisions need (mappings, match-key
candidates, same-Id hits, earlier warnings) and hands them over as ``PageFacts``; this
module says, for every record, what to write and what to report (``PageDecision``).
The service then sends the writes and records their results once.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, NamedTuple
from urllib.parse import quote

from migrations_app.engine.planning import RECORD_TYPE_OBJECT, USER_OBJECT, ObjectPlan
from migrations_app.engine.records import (
    build_payload,
    canonical_json,
    match_key_value,
    same_values,
    text_hash,
)
from migrations_app.engine.strategy import Action, Decision, Mapped, Strategy, decide

# Records per REST query page: the unit of deciding, checkpointing and recording.
PAGE_SIZE = 2000
# Records per sObject Collections call (the API's own maximum).
COLLECTION_SIZE = 200
# Characters of match-key values per match query. Salesforce refuses a REST request
# URI longer than 16,384 bytes, so a page's keys go out in as few queries as fit.
MATCH_QUERY_CHARS = 14_000

FAILED = "failed"
WARNING = "warning"
AMBIGUOUS = "ambiguous"
# Outdated reasons (models.OutdatedReason) that mean the target record was deleted.
TARGET_GONE_REASONS = frozenset({"target_deleted", "target_in_recycle_bin"})


class KnownMapping(NamedTuple):
    """A VEID row as the engine needs it (read as a plain row, not a model).

    A named tuple, not a frozen dataclass: a page's lookup builds up to 2,000 of them.
    A frozen dataclass sets each field through ``object.__setattr__``: 3.8 ms a page
    against 0.7 ms, of a lookup that takes 15 ms to 20 ms among 5,000,000 mappings.
    """

    pk: int
    source_id: str
    target_id: str
    active: bool
    values_hash: str = ""
    outdated_reason_code: str = ""
    outdated_reason: str = ""


@dataclass(frozen=True)
class IssueData:
    """A per-record issue, recorded by the service as it is."""

    kind: str
    source_id: str
    code: str
    message: str
    target_id: str = ""
    fields: tuple[str, ...] = ()
    values: Mapping[str, Any] = field(default_factory=dict)


@dataclass(slots=True)
class Write:
    """One record to send: an insert, an update of its mapped target, or an adoption."""

    source_id: str
    decision: Decision
    values: dict[str, Any]
    mapping: KnownMapping | None = None
    # The values as canonical JSON, encoded once: sent, journaled and hashed from it.
    # Every write is hashed (its mapping keeps the hash, or an update compares it),
    # so both are made with the write rather than looked up lazily on each use.
    canonical: str = field(init=False)
    hash: str = field(init=False)

    def __post_init__(self) -> None:
        self.canonical = canonical_json(self.values)
        self.hash = text_hash(self.canonical)

    @property
    def target_id(self) -> str:
        return self.decision.target_id or ""

    @property
    def adopts(self) -> bool:
        return self.decision.action is Action.ADOPT


@dataclass(frozen=True)
class PageFacts:
    """What the service read for a page; everything a decision may look at."""

    strategy: Strategy
    mappings: Mapping[str, KnownMapping]
    # Source id -> unmapped target records with its match key (veid_match only).
    matches: Mapping[str, Sequence[str]] = field(default_factory=dict)
    contested: frozenset[str] = frozenset()
    # Target id -> that candidate's current values, to skip updates of equal records.
    candidate_values: Mapping[str, Mapping[str, Any]] = field(default_factory=dict)
    same_ids: frozenset[str] = frozenset()
    # (source id, field) of missing-parent warnings reported by an earlier run.
    warned: frozenset[tuple[str, str]] = frozenset()
    users: Mapping[str, str] = field(default_factory=dict)
    fallback_owner: str | None = None
    record_types: Mapping[str, str] = field(default_factory=dict)
    run_inserts: Mapping[str, str] = field(default_factory=dict)
    secret: bytes = b""
    only_changed: bool = True
    defer_self: bool = False


@dataclass
class PageDecision:
    inserts: list[Write] = field(default_factory=list)
    updates: list[Write] = field(default_factory=list)
    # Adoptions whose target record already holds the values: mapped, not sent.
    adopted_as_is: list[Write] = field(default_factory=list)
    unchanged: int = 0
    issues: list[IssueData] = field(default_factory=list)
    owner_fallbacks: int = 0

    def counts(self) -> Counter[str]:
        """The outcome counts the decisions alone settle (not the writes')."""
        counts: Counter[str] = Counter(unchanged=self.unchanged)
        counts["adopted"] += len(self.adopted_as_is)
        for issue in self.issues:
            if issue.kind != WARNING:
                counts[issue.kind] += 1
        return counts


def decide_page(
    plan: ObjectPlan, records: Sequence[Mapping[str, Any]], facts: PageFacts
) -> PageDecision:
    """Decide every record of a page: insert, update, adopt, unchanged or an issue."""
    page = PageDecision()
    for record in records:
        _decide_record(plan, record, facts, page)
    return page


def _decide_record(
    plan: ObjectPlan,
    record: Mapping[str, Any],
    facts: PageFacts,
    page: PageDecision,
) -> None:
    source_id = record["Id"]
    mapping = facts.mappings.get(source_id)
    decision = decide(
        facts.strategy,
        mapping=(
            Mapped(mapping.target_id, not mapping.active)
            if mapping is not None
            else None
        ),
        matches=facts.matches.get(source_id, ()),
        contested=source_id in facts.contested,
        same_id=source_id if source_id in facts.same_ids else None,
    )
    if decision.action is Action.AMBIGUOUS:
        page.issues.append(_ambiguous_issue(plan, source_id, decision))
        return
    if decision.action is Action.OUTDATED and mapping is not None:
        page.issues.append(outdated_issue(mapping))
        return
    page.owner_fallbacks += owner_fallbacks(plan, record, facts.users)
    write = _write_for(plan, record, decision, mapping, facts, page)
    if write is not None:
        _file(write, facts, page)


def _write_for(
    plan: ObjectPlan,
    record: Mapping[str, Any],
    decision: Decision,
    mapping: KnownMapping | None,
    facts: PageFacts,
    page: PageDecision,
) -> Write | None:
    """The values to send, lookups rewritten; None if a missing parent fails it."""
    source_id = record["Id"]
    inserting = decision.action is Action.INSERT
    skip = (
        *plan.deferred_fields,
        *((plan.self_lookup,) if facts.defer_self and plan.self_lookup else ()),
    )
    payload = build_payload(
        record,
        fields=plan.insert_fields if inserting else plan.update_fields,
        references=plan.references,
        resolve=lambda name, refs, value: resolve_lookup(facts, refs, value),
        skip=skip,
    )
    # Transforms change only what is written, before it is hashed or journaled.
    values = plan.transformed(payload.values, source_id=source_id, secret=facts.secret)
    fails = plan.spec.missing_parent_policy == "fail_record"
    for missing in payload.missing:
        if USER_OBJECT in plan.references[missing.field]:
            continue  # said once per object, with the owner fallbacks
        if not fails and (source_id, missing.field) in facts.warned:
            continue
        page.issues.append(
            missing_parent_issue(source_id, missing.field, missing.source_id, fails)
        )
        if fails:
            return None
    return Write(source_id, decision, values, mapping)


def _file(write: Write, facts: PageFacts, page: PageDecision) -> None:
    """Put a decided write where it goes: sent, mapped as it is, or left alone."""
    if write.decision.action is Action.INSERT:
        page.inserts.append(write)
    elif write.adopts and _holds(facts.candidate_values.get(write.target_id), write):
        page.adopted_as_is.append(write)
    elif (
        facts.only_changed
        and write.decision.action is Action.UPDATE
        and write.mapping is not None
        and write.mapping.values_hash == write.hash
    ):
        page.unchanged += 1
    else:
        page.updates.append(write)


def _holds(current: Mapping[str, Any] | None, write: Write) -> bool:
    return current is not None and same_values(write.values, current)


def resolve_lookup(
    facts: PageFacts, references: tuple[str, ...], source_id: str
) -> str | None:
    """The target id a lookup to ``source_id`` becomes, or None if it has none."""
    if USER_OBJECT in references and source_id.startswith("005"):
        return facts.users.get(source_id) or facts.fallback_owner
    if references == (RECORD_TYPE_OBJECT,):
        return facts.record_types.get(source_id)
    mapping = facts.mappings.get(source_id)
    if mapping is not None and mapping.active:
        return mapping.target_id
    return facts.run_inserts.get(source_id)


def owner_fallbacks(
    plan: ObjectPlan, record: Mapping[str, Any], users: Mapping[str, str]
) -> int:
    """How many of a record's owner lookups have no user in the target (0 or more)."""
    count = 0
    for name in plan.user_lookups:
        value = record.get(name)
        if isinstance(value, str) and value.startswith("005") and value not in users:
            count += 1
    return count


# A call is closed early, to keep a parent's children together, only while at most
# this share of it stays empty: grouping must not cost many more calls.
MOST_LEFT_EMPTY = 0.1


def calls_by_parent(
    plan: ObjectPlan, writes: Sequence[Write], size: int
) -> list[list[Write]]:
    """``writes`` cut into calls of up to ``size``, a parent's children together.

    Salesforce locks a parent while it saves a child: two calls in flight with
    children of the same parent can fail with UNABLE_TO_LOCK_ROW. Writes are grouped
    by their parents (owners and record types take no lock), and a call takes whole
    groups: a group that does not fit starts the next call, unless more than
    MOST_LEFT_EMPTY of this one would stay empty; then, as a group larger than a
    call, it is cut (the retry of UNABLE_TO_LOCK_ROW covers the rare collision).
    """
    parents = [
        name
        for name, references in plan.references.items()
        if references not in ((USER_OBJECT,), (RECORD_TYPE_OBJECT,))
    ]
    if not parents:
        return [list(writes[i : i + size]) for i in range(0, len(writes), size)]
    groups: dict[tuple[str, ...], list[Write]] = {}
    for write in writes:
        key = tuple(str(write.values.get(name) or "") for name in parents)
        groups.setdefault(key, []).append(write)
    calls: list[list[Write]] = []
    current: list[Write] = []
    for key in sorted(groups):
        group = groups[key]
        room = size - len(current)
        if len(group) > room and room <= size * MOST_LEFT_EMPTY:
            calls.append(current)
            current, room = [], size
        while len(group) > room:
            calls.append([*current, *group[:room]])
            current, group, room = [], group[room:], size
        current.extend(group)
    if current:
        calls.append(current)
    return calls


def sent_as_bulk_job(records: int) -> bool:
    """Whether a call of this many records goes as a Bulk API job: it does not fit
    one sObject Collections call."""
    return records > COLLECTION_SIZE


def write_calls(
    plan: ObjectPlan, writes: Sequence[Write], size: int, *, max_upload_bytes: int
) -> list[list[Write]]:
    """A page's inserts or updates as calls of up to ``size`` writes, a parent's
    children together. Calls larger than an sObject Collections call go as Bulk API
    jobs, cut further so that each one's upload stays within ``max_upload_bytes``."""
    calls = calls_by_parent(plan, writes, size)
    if not sent_as_bulk_job(size):
        return calls
    return cut_for_upload(calls, max_upload_bytes)


# What a row of a Bulk API CSV may take beyond its record's own text: an update's
# target Id (18 characters), its comma and the line end.
CSV_ROW_EXTRA = 20


def cut_for_upload(
    calls: Sequence[Sequence[Write]], max_bytes: int
) -> list[list[Write]]:
    """``calls`` cut further where a call's Bulk API CSV could pass ``max_bytes``.

    Salesforce takes one upload per ingest job: records with long texts can make
    one job's CSV too large long before the job is full. A call is cut, in order,
    before the write that would make its CSV possibly too large.
    """
    cut: list[list[Write]] = []
    for call in calls:
        upload = UploadBound()
        current: list[Write] = []
        for write in call:
            grown = upload.with_write(write)
            if current and grown.bytes > max_bytes:
                cut.append(current)
                current, grown = [], UploadBound().with_write(write)
            current.append(write)
            upload = grown
        if current:
            cut.append(current)
    return cut


@dataclass(frozen=True)
class UploadBound:
    """An upper bound of the bytes a call's writes take as a Bulk API CSV.

    A record's canonical JSON is never shorter than its cells: each value is quoted,
    escaped to ASCII and named. Each row may also hold one comma per column of the
    call (cells its record lacks) and CSV_ROW_EXTRA; the header names the columns.
    """

    columns: frozenset[str] = frozenset()
    texts: int = 0  # characters of the records' canonical JSON, and their extras
    rows: int = 0

    def with_write(self, write: Write) -> UploadBound:
        columns = self.columns
        if not columns.issuperset(write.values):
            columns = columns.union(write.values)
        return UploadBound(
            columns, self.texts + len(write.canonical) + CSV_ROW_EXTRA, self.rows + 1
        )

    @property
    def bytes(self) -> int:
        header = sum(len(name) + 1 for name in self.columns) + len("Id,")
        return header + self.texts + self.rows * len(self.columns)


def lookup_ids_by_object(
    plan: ObjectPlan, records: Sequence[Mapping[str, Any]]
) -> dict[str, set[str]]:
    """The source ids a page needs mappings for, by the sObject they are mapped under.

    A lookup that may point to several objects asks each of them: mappings are read
    by (org pair, sObject, source id), the columns of their unique index.
    """
    wanted: dict[str, set[str]] = {plan.sobject: {r["Id"] for r in records}}
    for name, references in plan.references.items():
        if references == (RECORD_TYPE_OBJECT,):
            continue
        values = {r[name] for r in records if r.get(name)}
        for sobject in references:
            if sobject == USER_OBJECT:
                ids = {v for v in values if not v.startswith("005")}
            else:
                ids = values
            if ids:
                wanted.setdefault(sobject, set()).update(ids)
    return wanted


# -- veid_match --------------------------------------------------------------------------


def match_keys(
    plan: ObjectPlan,
    records: Sequence[Mapping[str, Any]],
    *,
    unmapped: set[str],
    secret: bytes,
) -> dict[str, tuple[str, ...] | None]:
    """Source id -> match key, as the values will be written (transforms applied)."""
    key_fields = plan.spec.match_key
    return {
        r["Id"]: match_key_value(
            plan.transformed(
                {name: r.get(name) for name in key_fields},
                source_id=r["Id"],
                secret=secret,
            ),
            key_fields,
        )
        for r in records
        if r["Id"] in unmapped
    }


def match_query_chunks(
    keys: Sequence[tuple[str, ...]], *, budget: int = MATCH_QUERY_CHARS
) -> list[list[tuple[str, ...]]]:
    """Split a page's keys into as few queries as the URI length allows."""
    chunks: list[list[tuple[str, ...]]] = [[]]
    size = 0
    for key in keys:
        # Each part goes quoted and comma-separated into an IN list, URL-encoded.
        length = sum(len(quote(f"'{part}',")) for part in key)
        if chunks[-1] and size + length > budget:
            chunks.append([])
            size = 0
        chunks[-1].append(key)
        size += length
    return [chunk for chunk in chunks if chunk]


def contested_matches(
    keys: Mapping[str, tuple[str, ...] | None],
    candidates: Mapping[tuple[str, ...], Sequence[str]],
) -> tuple[dict[str, list[str]], frozenset[str]]:
    """Each source record's candidates, and the records that want the same target
    record as another record of the page (two cannot both adopt it)."""
    claimed = Counter(
        target for key in keys.values() if key for target in candidates.get(key, [])
    )
    matches = {
        source_id: list(candidates.get(key, [])) if key else []
        for source_id, key in keys.items()
    }
    contested = frozenset(
        source_id
        for source_id, found in matches.items()
        if any(claimed[target] > 1 for target in found)
    )
    return matches, contested


# -- issues ------------------------------------------------------------------------------


def _ambiguous_issue(plan: ObjectPlan, source_id: str, decision: Decision) -> IssueData:
    key = ", ".join(plan.spec.match_key)
    if decision.contested:
        message = (
            f"Its match-key twin ({key}) in the target, {decision.candidates[0]}, is "
            "also the twin of another source record; adopt one of them by hand"
        )
    else:
        message = (
            f"{len(decision.candidates)} target records have the same match key "
            f"({key}): {', '.join(decision.candidates)}"
        )
    return IssueData(AMBIGUOUS, source_id, "AMBIGUOUS_MATCH", message)


def outdated_issue(mapping: KnownMapping) -> IssueData:
    """One failure per record whose mapping is outdated, named after the reason: a
    deleted target record is TARGET_DELETED, whoever found it (run or audit)."""
    target = mapping.target_id
    if mapping.outdated_reason_code in TARGET_GONE_REASONS:
        return IssueData(
            FAILED,
            mapping.source_id,
            "TARGET_DELETED",
            f"The mapped target record {target} was deleted in the target org; it is "
            "not re-inserted and its mapping stays outdated until you repair it",
            target_id=target,
        )
    return IssueData(
        FAILED,
        mapping.source_id,
        "MAPPING_OUTDATED",
        f"The mapping to {target} is outdated ({mapping.outdated_reason}); repair it "
        "before this record can be migrated",
        target_id=target,
    )


def target_deleted_issue(write: Write) -> IssueData:
    return IssueData(
        FAILED,
        write.source_id,
        "TARGET_DELETED",
        f"The mapped target record {write.target_id} was deleted in the target org; "
        "it is not re-inserted and its mapping is marked outdated until you repair it",
        target_id=write.target_id,
    )


def missing_parent_issue(
    source_id: str, field_name: str, parent_id: str, fails: bool
) -> IssueData:
    return IssueData(
        FAILED if fails else WARNING,
        source_id,
        "MISSING_PARENT",
        f"{field_name} points to {parent_id}, which has no record in the target org"
        + ("" if fails else "; left empty"),
        fields=(field_name,),
    )


def write_failed_issue(
    write: Write, *, code: str, message: str, fields: Sequence[str]
) -> IssueData:
    return IssueData(
        FAILED,
        write.source_id,
        code,
        message,
        target_id=write.target_id,
        fields=tuple(fields),
        values=write.values,
    )
