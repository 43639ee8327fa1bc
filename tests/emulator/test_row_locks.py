"""Row locks (faults ``row_lock_ms``, ``lock_timeout_ms``, ``lock_failures``): a record
that cannot get its lock fails alone with UNABLE_TO_LOCK_ROW, as in Salesforce."""

from __future__ import annotations

import csv
import io
import threading
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import pytest
import requests

from salesforce_emulator import Emulator, Org
from salesforce_emulator.row_locks import RowLocks

LOCKED = "unable to obtain exclusive access to this record or 1 records: "


def account(**fields: Any) -> dict[str, Any]:
    return {"attributes": {"type": "Account"}, **fields}


def contact(**fields: Any) -> dict[str, Any]:
    return {"attributes": {"type": "Contact"}, **fields}


def create(sf: Any, *records: dict[str, Any], all_or_none: bool = False) -> Any:
    return sf.restful(
        "composite/sobjects",
        method="POST",
        json={"allOrNone": all_or_none, "records": list(records)},
    )


def lock_error(record_id: str) -> dict[str, Any]:
    return {
        "statusCode": "UNABLE_TO_LOCK_ROW",
        "message": LOCKED + record_id,
        "fields": [],
    }


@pytest.fixture
def held(org: Org) -> Iterator[set[str]]:
    """Ids locked as if by another call in progress; released after the test."""
    ids: set[str] = set()
    yield ids
    org.row_locks.release(ids)


def hold(org: Org, held: set[str], record_id: str) -> None:
    assert org.row_locks.acquire([record_id], timeout=0) == set()
    held.add(record_id)


# lock_failures: the next N records written ---------------------------------------------


def test_lock_failures_fail_the_next_records_alone(sf: Any, org: Org) -> None:
    parent = org.insert("Account", {"Name": "Parent"})
    org.faults.update(lock_failures=2)

    results = create(
        sf,
        contact(LastName="A", AccountId=parent),
        account(Name="No parent"),
        account(Name="Saved"),
    )

    assert results[0] == {"success": False, "errors": [lock_error(parent)]}
    assert results[1] == {
        "success": False,
        "errors": [
            {
                "statusCode": "UNABLE_TO_LOCK_ROW",
                "message": "unable to obtain exclusive access to this record",
                "fields": [],
            }
        ],
    }
    assert results[2]["success"] is True
    assert org.faults.lock_failures == 0
    assert [a["Name"] for a in org.records("Account")] == ["Parent", "Saved"]
    assert org.count("Contact") == 0
    # Spent: the same records are saved when sent again.
    assert all(r["success"] for r in create(sf, contact(LastName="A")))


def test_lock_failures_of_an_update_name_the_record_and_leave_it_as_it_was(
    sf: Any, org: Org
) -> None:
    first, second = org.insert_many("Account", [{"Name": "1"}, {"Name": "2"}])
    org.faults.update(lock_failures=1)

    results = sf.restful(
        "composite/sobjects",
        method="PATCH",
        json={
            "allOrNone": False,
            "records": [account(Id=first, Name="1b"), account(Id=second, Name="2b")],
        },
    )

    assert results[0] == {"id": first, "success": False, "errors": [lock_error(first)]}
    assert results[1] == {"id": second, "success": True, "errors": []}
    assert [a["Name"] for a in org.records("Account")] == ["1", "2b"]


def test_a_lock_failure_rolls_back_an_all_or_none_call(sf: Any, org: Org) -> None:
    org.faults.update(lock_failures=1)

    results = create(sf, account(Name="A"), account(Name="B"), all_or_none=True)

    assert results[0]["errors"][0]["statusCode"] == "UNABLE_TO_LOCK_ROW"
    assert results[1]["errors"][0]["statusCode"] == "ALL_OR_NONE_OPERATION_ROLLED_BACK"
    assert org.count("Account") == 0


def test_lock_failures_in_a_bulk_ingest_job(sf: Any, org: Org) -> None:
    parent = org.insert("Account", {"Name": "Parent"})
    org.faults.update(lock_failures=1)

    result = sf.bulk2.Contact.insert(
        records=[
            {"LastName": "A", "AccountId": parent},
            {"LastName": "B", "AccountId": parent},
        ],
        wait=0,
    )

    assert result[0]["numberRecordsFailed"] == 1
    failed = list(
        csv.DictReader(
            io.StringIO(sf.bulk2.Contact.get_failed_records(result[0]["job_id"]))
        )
    )
    assert [row["sf__Error"] for row in failed] == [
        f"UNABLE_TO_LOCK_ROW:{LOCKED}{parent}: --"
    ]
    assert [c["LastName"] for c in org.records("Contact")] == ["B"]


def test_the_knobs_are_set_over_http_and_cleared_by_the_reset(
    fresh: Emulator, session: requests.Session
) -> None:
    control = f"{fresh.base_url}/__emulator__/orgs/target"

    state = session.post(
        f"{control}/faults",
        json={"row_lock_ms": 250, "lock_timeout_ms": 40, "lock_failures": 3},
    ).json()

    assert (state["row_lock_ms"], state["lock_timeout_ms"]) == (250, 40)
    assert state["lock_failures"] == 3
    session.post(f"{control}/reset")
    faults = fresh.org("target").faults.as_dict()
    assert (faults["row_lock_ms"], faults["lock_timeout_ms"]) == (0, 10_000)
    assert faults["lock_failures"] == 0


# row_lock_ms: contention between calls ------------------------------------------------


def test_a_record_whose_parent_stays_locked_fails_after_the_lock_timeout(
    sf: Any, org: Org, held: set[str]
) -> None:
    busy, free = org.insert_many("Account", [{"Name": "Busy"}, {"Name": "Free"}])
    org.faults.update(row_lock_ms=1, lock_timeout_ms=20)
    hold(org, held, busy)  # another call is saving a child of Busy

    results = create(
        sf,
        contact(LastName="Waits", AccountId=busy),
        contact(LastName="Goes", AccountId=free),
    )

    assert results[0] == {"success": False, "errors": [lock_error(busy)]}
    assert results[1]["success"] is True
    assert [c["LastName"] for c in org.records("Contact")] == ["Goes"]
    assert not org.row_locks.is_locked(free)  # released once written


def test_an_update_waits_for_its_own_record(sf: Any, org: Org, held: set[str]) -> None:
    record = org.insert("Account", {"Name": "Before"})
    org.faults.update(row_lock_ms=1, lock_timeout_ms=0)
    hold(org, held, record)

    results = sf.restful(
        "composite/sobjects",
        method="PATCH",
        json={"records": [account(Id=record, Name="After")]},
    )

    assert results[0]["errors"] == [lock_error(record)]
    assert org.get("Account", record)["Name"] == "Before"  # type: ignore[index]


def test_a_lock_released_within_the_timeout_is_waited_for(
    sf: Any, org: Org, held: set[str]
) -> None:
    parent = org.insert("Account", {"Name": "Parent"})
    org.faults.update(row_lock_ms=1)  # and Salesforce's 10 s timeout
    hold(org, held, parent)
    release = threading.Timer(0.05, org.row_locks.release, args=[[parent]])
    release.start()

    results = create(sf, contact(LastName="A", AccountId=parent))

    release.join()
    assert results[0]["success"] is True


def test_two_calls_with_children_of_one_parent_take_turns(
    fresh: Emulator, org: Org
) -> None:
    parent = org.insert("Account", {"Name": "Parent"})
    org.faults.update(row_lock_ms=100)

    def children(name: str) -> Any:
        with fresh.session() as http:
            client = fresh.salesforce("target", session=http)
            return create(
                client,
                *(contact(LastName=f"{name}{i}", AccountId=parent) for i in (1, 2)),
            )

    with ThreadPoolExecutor(max_workers=2) as pool:
        answers = list(pool.map(children, ["A", "B"]))

    assert all(r["success"] for answer in answers for r in answer)
    assert org.count("Contact") == 4
    assert not org.row_locks.is_locked(parent)


def test_owners_and_record_types_are_not_locked(
    sf: Any, org: Org, held: set[str]
) -> None:
    org.faults.update(row_lock_ms=1, lock_timeout_ms=0)
    record_type = org.record_types("Account")[0]["Id"]
    hold(org, held, org.integration_user_id)
    hold(org, held, record_type)

    results = create(
        sf,
        account(Name="A", OwnerId=org.integration_user_id, RecordTypeId=record_type),
    )

    assert results[0]["success"] is True


def test_without_a_hold_no_lock_is_taken(sf: Any, org: Org, held: set[str]) -> None:
    parent = org.insert("Account", {"Name": "Parent"})
    org.faults.update(lock_timeout_ms=0)  # row_lock_ms 0: the default
    hold(org, held, parent)

    assert create(sf, contact(LastName="A", AccountId=parent))[0]["success"] is True


def test_a_bulk_chunk_waits_for_the_parents_of_its_rows(
    sf: Any, org: Org, held: set[str]
) -> None:
    busy, free = org.insert_many("Account", [{"Name": "Busy"}, {"Name": "Free"}])
    org.faults.update(row_lock_ms=1, lock_timeout_ms=0)
    hold(org, held, busy)

    result = sf.bulk2.Contact.insert(
        records=[
            {"LastName": "Waits", "AccountId": busy},
            {"LastName": "Goes", "AccountId": free},
        ],
        wait=0,
    )

    assert result[0]["numberRecordsFailed"] == 1
    assert [c["LastName"] for c in org.records("Contact")] == ["Goes"]


def test_row_locks_take_what_is_free_and_report_the_rest() -> None:
    locks = RowLocks()
    assert locks.acquire(["b", "a"], timeout=0) == set()

    assert locks.acquire(["a", "c"], timeout=0) == {"a"}
    assert locks.is_locked("c")

    locks.release(["a", "b", "c"])
    assert not any(locks.is_locked(i) for i in "abc")
