"""Deciding a whole page as plain data (engine/pages.py) and when to read only changes."""

from __future__ import annotations

from collections import Counter
from datetime import UTC, datetime, timedelta

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from migrations_app.engine.incremental import (
    PreviousRun,
    read_plan,
    snapshot_hash,
)
from migrations_app.engine.pages import (
    KnownMapping,
    PageFacts,
    Write,
    calls_by_parent,
    contested_matches,
    cut_for_upload,
    decide_page,
    lookup_ids_by_object,
    match_query_chunks,
    write_calls,
)
from migrations_app.engine.planning import ObjectPlan, ObjectSpec, plan_migration
from migrations_app.engine.records import values_hash
from migrations_app.engine.strategy import Action, Decision, Strategy
from migrations_app.salesforce.client import BulkCsv

from .test_planning import ACCOUNT, CONTACT

ACC = "001000000000001AAA"
ACC_TARGET = "001000000000009AAA"
C1, C2, C3 = (f"00300000000000{i}AAA" for i in range(1, 4))
T1, T2 = "003000000000091AAA", "003000000000092AAA"


def contact_plan(missing_parent_policy: str = "leave_empty") -> ObjectPlan:
    specs = [
        ObjectSpec("Account", ("Name",)),
        ObjectSpec(
            "Contact",
            ("LastName", "Email", "AccountId"),
            match_key=("Email",),
            missing_parent_policy=missing_parent_policy,
        ),
    ]
    schemas = {"Account": ACCOUNT, "Contact": CONTACT}
    plan = plan_migration(specs, schemas, schemas)
    return next(item for item in plan.objects if item.sobject == "Contact")


def contact(record_id: str, name: str, account: str | None = ACC) -> dict[str, object]:
    return {
        "Id": record_id,
        "LastName": name,
        "Email": f"{name}@example.com",
        "AccountId": account,
    }


def mapping(source: str, target: str, **extra: object) -> KnownMapping:
    return KnownMapping(pk=1, source_id=source, target_id=target, active=True, **extra)  # type: ignore[arg-type]


def test_a_page_is_split_into_inserts_updates_and_unchanged_records() -> None:
    plan = contact_plan()
    unchanged_values = {
        "LastName": "b",
        "Email": "b@example.com",
        "AccountId": ACC_TARGET,
    }
    facts = PageFacts(
        strategy=Strategy.VEID,
        mappings={
            ACC: mapping(ACC, ACC_TARGET),
            C2: mapping(C2, T2, values_hash=values_hash(unchanged_values)),
            C3: mapping(C3, T1, values_hash="old"),
        },
    )

    page = decide_page(
        plan, [contact(C1, "a"), contact(C2, "b"), contact(C3, "c")], facts
    )

    assert [w.source_id for w in page.inserts] == [C1]
    assert page.inserts[0].values["AccountId"] == ACC_TARGET
    assert [w.source_id for w in page.updates] == [C3]
    assert page.unchanged == 1
    assert page.counts()["unchanged"] == 1


def test_an_adoption_whose_target_holds_the_values_is_mapped_without_a_write() -> None:
    plan = contact_plan()
    same = {
        "Id": T1,
        "LastName": "a",
        "Email": "a@example.com",
        "AccountId": ACC_TARGET,
    }
    facts = PageFacts(
        strategy=Strategy.VEID_MATCH,
        mappings={ACC: mapping(ACC, ACC_TARGET)},
        matches={C1: [T1], C2: [T2]},
        candidate_values={T1: same, T2: {**same, "Id": T2, "LastName": "old"}},
    )

    page = decide_page(plan, [contact(C1, "a"), contact(C2, "b")], facts)

    assert [w.source_id for w in page.adopted_as_is] == [C1]
    assert [(w.source_id, w.target_id) for w in page.updates] == [(C2, T2)]
    assert page.counts()["adopted"] == 1


def test_ambiguous_and_outdated_records_become_issues_not_writes() -> None:
    plan = contact_plan()
    outdated = KnownMapping(
        pk=2,
        source_id=C3,
        target_id=T2,
        active=False,
        outdated_reason_code="target_deleted",
    )
    facts = PageFacts(
        strategy=Strategy.VEID_MATCH,
        mappings={ACC: mapping(ACC, ACC_TARGET), C3: outdated},
        matches={C1: [T1, T2]},
    )

    page = decide_page(plan, [contact(C1, "a"), contact(C3, "c")], facts)

    assert not page.inserts
    assert not page.updates
    assert [(i.kind, i.code) for i in page.issues] == [
        ("ambiguous", "AMBIGUOUS_MATCH"),
        ("failed", "TARGET_DELETED"),
    ]
    assert page.counts() == {"ambiguous": 1, "failed": 1, "unchanged": 0, "adopted": 0}


def test_a_missing_parent_is_left_empty_once_or_fails_the_record() -> None:
    records = [contact(C1, "a"), contact(C2, "b")]
    facts = PageFacts(
        strategy=Strategy.VEID, mappings={}, warned=frozenset({(C2, "AccountId")})
    )

    lenient = decide_page(contact_plan(), records, facts)
    strict = decide_page(contact_plan("fail_record"), records, facts)

    assert len(lenient.inserts) == 2
    assert "AccountId" not in lenient.inserts[0].values
    assert [(i.source_id, i.kind) for i in lenient.issues] == [(C1, "warning")]
    assert not strict.inserts
    assert [i.kind for i in strict.issues] == ["failed", "failed"]


def test_two_records_wanting_one_target_record_are_contested() -> None:
    keys = {C1: ("a",), C2: ("a",), C3: ("c",)}
    matches, contested = contested_matches(keys, {("a",): [T1], ("c",): [T2]})
    assert matches == {C1: [T1], C2: [T1], C3: [T2]}
    assert contested == {C1, C2}


def test_match_queries_hold_as_many_keys_as_fit_the_uri() -> None:
    keys = [(f"person{i:04d}@example.com",) for i in range(2000)]
    chunks = match_query_chunks(keys, budget=14_000)
    assert sum(len(chunk) for chunk in chunks) == 2000
    # 33 URI characters a key ("'person0000%40example.com'," encoded), 66,000 in all.
    assert len(chunks) == 5
    assert match_query_chunks([]) == []


def test_mappings_are_looked_up_per_referenced_object() -> None:
    wanted = lookup_ids_by_object(
        contact_plan(), [contact(C1, "a"), contact(C2, "b", None)]
    )
    assert wanted == {"Contact": {C1, C2}, "Account": {ACC}}


NOW = datetime(2026, 6, 1, 12, tzinfo=UTC)
OVERLAP = timedelta(minutes=5)


def previous(**changes: object) -> PreviousRun:
    base = {
        "snapshot_hash": snapshot_hash({"objects": [1]}),
        "source_clock": NOW - timedelta(hours=1),
        "started_at": NOW - timedelta(hours=2),
    }
    return PreviousRun(**{**base, **changes})  # type: ignore[arg-type]


def test_a_repeat_run_reads_what_changed_since_the_source_clock_less_the_overlap() -> (
    None
):
    plan = read_plan(
        full_requested=False,
        snapshot=snapshot_hash({"objects": [1]}),
        previous=previous(),
        source_now=NOW,
        overlap=OVERLAP,
    )
    assert plan.since == NOW - timedelta(hours=1) - OVERLAP
    assert plan.as_dict()["mode"] == "changed"


def test_a_run_reads_everything_when_asked_new_changed_or_too_old() -> None:
    same = snapshot_hash({"objects": [1]})
    cases = {
        "asked": {"full_requested": True, "previous": previous()},
        "first": {"full_requested": False, "previous": None},
        "template changed": {
            "full_requested": False,
            "previous": previous(snapshot_hash="other"),
        },
        "too old": {
            "full_requested": False,
            "previous": previous(source_clock=NOW - timedelta(days=31)),
        },
    }
    for name, case in cases.items():
        plan = read_plan(snapshot=same, source_now=NOW, overlap=OVERLAP, **case)  # type: ignore[arg-type]
        assert plan.full, name


def test_a_run_without_a_kept_source_clock_anchors_on_its_start() -> None:
    plan = read_plan(
        full_requested=False,
        snapshot=snapshot_hash({"objects": [1]}),
        previous=previous(source_clock=None),
        source_now=NOW,
        overlap=OVERLAP,
    )
    assert plan.since == NOW - timedelta(hours=2) - OVERLAP


# -- calls cut so that a parent's children go together ----------------------------------


def child_writes(children_per_parent: list[int]) -> list[Write]:
    """Contacts of several Accounts, interleaved as a source page would read them."""
    writes = []
    for round_ in range(max(children_per_parent, default=0)):
        for parent, count in enumerate(children_per_parent):
            if round_ < count:
                writes.append(
                    Write(
                        f"003{parent:05d}{round_:010d}",
                        Decision(Action.INSERT),
                        {"LastName": "x", "AccountId": f"001{parent:015d}"},
                    )
                )
    return writes


def parents_per_call(calls: list[list[Write]]) -> list[set[str]]:
    return [{w.values["AccountId"] for w in call} for call in calls]


def test_calls_keep_each_parents_children_together() -> None:
    calls = calls_by_parent(contact_plan(), child_writes([3] * 100), 200)

    # 66 parents of 3 fill 198 of a call; the 67th waits for the next call.
    assert [len(call) for call in calls] == [198, 102]
    first, second = parents_per_call(calls)
    assert not first & second


def test_a_group_larger_than_a_call_is_cut_and_a_nearly_empty_call_is_filled() -> None:
    calls = calls_by_parent(contact_plan(), child_writes([150, 450, 30]), 200)

    # The 450 children of one parent fill the rest of the first call rather than
    # leave a quarter of it empty, then fill two calls of their own.
    assert [len(call) for call in calls] == [200, 200, 200, 30]
    assert sum(len(call) for call in calls) == 630


def test_without_parent_lookups_calls_are_plain_chunks() -> None:
    schemas = {"Account": ACCOUNT}
    plan = plan_migration([ObjectSpec("Account", ("Name",))], schemas, schemas)
    writes = [
        Write(f"001{i:015d}", Decision(Action.INSERT), {"Name": str(i)})
        for i in range(450)
    ]

    calls = calls_by_parent(plan.objects[0], writes, 200)

    assert [len(call) for call in calls] == [200, 200, 50]
    assert [w for call in calls for w in call] == writes


@given(st.lists(st.integers(min_value=1, max_value=450), max_size=30))
def test_calls_hold_every_write_once_and_are_nearly_full(sizes: list[int]) -> None:
    writes = child_writes(sizes)

    calls = calls_by_parent(contact_plan(), writes, 200)

    assert sorted(w.source_id for c in calls for w in c) == sorted(
        w.source_id for w in writes
    )
    assert all(0 < len(call) <= 200 for call in calls)
    # Every call but the last is at least 90% full: at most a tenth more calls.
    assert all(len(call) >= 180 for call in calls[:-1])
    # A parent's children that fit one call are cut only to fill a call that would
    # otherwise stay more than a tenth empty, so across two calls at most.
    calls_of = Counter(
        parent for parents in parents_per_call(calls) for parent in parents
    )
    assert all(
        calls_of[f"001{p:015d}"] <= 2 for p, size in enumerate(sizes) if size <= 200
    )


def csv_bytes(call: list[Write], *, update: bool) -> int:
    """The size of the upload the client would send for ``call``."""
    records = [{"Id": w.target_id, **w.values} if update else w.values for w in call]
    return sum(len(piece) for piece in BulkCsv(records, update=update))


FIELD_VALUES = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(),
    st.floats(),
    st.text(max_size=60),
)
RECORD_VALUES = st.dictionaries(
    st.sampled_from(["Name", "Description", "Title", "Amount__c", "Closed__c"]),
    FIELD_VALUES,
)


# The first text drawn in a fresh environment builds Hypothesis' Unicode tables,
# about a second, which its "too slow" check would charge to this test.
@settings(suppress_health_check=[HealthCheck.too_slow])
@given(
    st.lists(RECORD_VALUES, max_size=30),
    st.integers(min_value=100, max_value=2_000),
    st.booleans(),
)
def test_no_upload_cut_for_its_limit_is_over_it(
    values: list[dict[str, object]], max_bytes: int, update: bool
) -> None:
    action = Action.UPDATE if update else Action.INSERT
    writes = [
        Write(f"003A{i:014d}", Decision(action, target_id=f"003B{i:014d}"), v)
        for i, v in enumerate(values)
    ]

    calls = cut_for_upload([writes[:12], writes[12:]], max_bytes)

    assert [w for call in calls for w in call] == writes
    # Unicode, quotes and line breaks included; only a lone write may be larger.
    assert all(
        csv_bytes(call, update=update) <= max_bytes for call in calls if len(call) > 1
    )


def test_records_with_long_texts_fill_uploads_without_passing_the_limit() -> None:
    writes = [
        Write(f"003{i:015d}", Decision(Action.INSERT), {"Description": "é" * 1_000})
        for i in range(100)
    ]

    calls = cut_for_upload([writes], 20_000)

    # A row is 2,000 bytes in UTF-8 (6,000 characters escaped in JSON): a bound,
    # so each upload but the last is over a quarter full, and none is over.
    assert len(calls) > 1
    assert [w for call in calls for w in call] == writes
    assert all(csv_bytes(call, update=False) <= 20_000 for call in calls)
    assert all(csv_bytes(call, update=False) > 5_000 for call in calls[:-1])


def test_collections_calls_are_not_cut_for_the_upload_limit() -> None:
    writes = child_writes([3] * 100)

    assert write_calls(contact_plan(), writes, 200, max_upload_bytes=100) == (
        calls_by_parent(contact_plan(), writes, 200)
    )
    assert len(write_calls(contact_plan(), writes, 10_000, max_upload_bytes=100)) > 1
