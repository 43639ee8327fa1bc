"""sObject Get Deleted / Get Updated: shapes, minute rounding, windows, limits, errors."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
import requests
from simple_salesforce.exceptions import SalesforceMalformedRequest

from salesforce_emulator import Emulator, Org, replication

from .conftest import error_of, sobject


def floor_minute(moment: datetime) -> datetime:
    return moment.replace(second=0, microsecond=0)


def sf_text(moment: datetime) -> str:
    """Salesforce's datetime text, as the emulator writes it."""
    return (
        moment.strftime("%Y-%m-%dT%H:%M:%S.") + f"{moment.microsecond // 1000:03d}+0000"
    )


def parse(text: str) -> datetime:
    return datetime.fromisoformat(text)


def call(
    session: requests.Session,
    data_url: str,
    token: str,
    kind: str,
    params: dict[str, str],
    sobject: str = "Contact",
) -> requests.Response:
    return session.get(
        f"{data_url}/sobjects/{sobject}/{kind}/",
        params=params,
        headers={"Authorization": f"Bearer {token}"},
    )


def window(start: datetime, end: datetime) -> dict[str, str]:
    return {"start": start.isoformat(), "end": end.isoformat()}


def deleted_at(org: Org, record_id: str) -> datetime:
    record = org.get("Contact", record_id)
    assert record is not None
    assert record["IsDeleted"]
    return parse(record["SystemModstamp"])


# -- Get Deleted ---------------------------------------------------------------------------


def test_deleted_reports_recycle_bin_and_purged_records(
    sf: Any, fresh: Emulator, org: Org
) -> None:
    kept = sf.Contact.create({"LastName": "Kept"})["id"]
    by_rest = sf.Contact.create({"LastName": "Rest"})["id"]
    by_collection = sf.Contact.create({"LastName": "Collection"})["id"]
    sf.Contact.delete(by_rest)
    sf.restful("composite/sobjects", method="DELETE", params={"ids": by_collection})
    fresh.advance_clock(60)
    now = fresh.now()

    result = sf.Contact.deleted(now - timedelta(hours=1), now)

    assert set(result) == {
        "deletedRecords",
        "earliestDateAvailable",
        "latestDateCovered",
    }
    assert {r["id"] for r in result["deletedRecords"]} == {by_rest, by_collection}
    for entry in result["deletedRecords"]:
        record = org.get("Contact", entry["id"])
        assert record is not None
        assert entry["deletedDate"] == record["SystemModstamp"]
    assert result["latestDateCovered"] == sf_text(floor_minute(now))
    earliest = parse(result["earliestDateAvailable"])
    assert earliest == floor_minute(earliest) <= now
    assert kept not in {r["id"] for r in result["deletedRecords"]}

    # Gone for good: no longer in queryAll, still in the delete log.
    assert sorted(org.empty_recycle_bin()) == sorted([by_rest, by_collection])
    every = sf.query_all("SELECT Id FROM Contact", include_deleted=True)
    assert [r["Id"] for r in every["records"]] == [kept]
    again = sf.Contact.deleted(now - timedelta(hours=1), now)
    assert again["deletedRecords"] == result["deletedRecords"]


def test_bulk_hard_delete_is_reported_with_its_date(
    sf: Any, fresh: Emulator, org: Org
) -> None:
    contact_id = org.insert("Contact", {"LastName": "Hard"})
    before = fresh.now()
    sf.bulk2.Contact.hard_delete(records=[{"Id": contact_id}], wait=0)
    assert org.get("Contact", contact_id) is None
    fresh.advance_clock(120)

    result = sf.Contact.deleted(before - timedelta(minutes=5), fresh.now())

    [entry] = result["deletedRecords"]
    assert entry["id"] == contact_id
    stamp = parse(entry["deletedDate"])  # milliseconds, so allow for the truncation
    assert before - timedelta(milliseconds=1) <= stamp <= before + timedelta(seconds=30)


def test_seconds_are_ignored_and_end_is_exclusive(
    session: requests.Session, data_url: str, token: str, fresh: Emulator, org: Org
) -> None:
    contact_id = org.insert("Contact", {"LastName": "Gone"})
    org.delete("Contact", contact_id)
    minute = floor_minute(deleted_at(org, contact_id))
    fresh.advance_clock(180)

    def reported(start: datetime, end: datetime) -> dict[str, Any]:
        response = call(session, data_url, token, "deleted", window(start, end))
        assert response.status_code == 200, response.text
        return dict(response.json())

    # end 59 seconds after the deletion's minute: still that minute, not covered yet
    same = reported(minute - timedelta(minutes=5), minute + timedelta(seconds=59))
    assert same["deletedRecords"] == []
    assert same["latestDateCovered"] == sf_text(minute)
    # start 30 seconds into the deletion's minute means the minute's start: included
    later = reported(minute + timedelta(seconds=30), minute + timedelta(minutes=1))
    assert [r["id"] for r in later["deletedRecords"]] == [contact_id]
    assert later["latestDateCovered"] == sf_text(minute + timedelta(minutes=1))


def test_future_end_is_covered_up_to_now(
    session: requests.Session, data_url: str, token: str, fresh: Emulator
) -> None:
    now = fresh.now()
    for kind in ("deleted", "updated"):
        response = call(
            session,
            data_url,
            token,
            kind,
            window(now - timedelta(hours=2), now + timedelta(days=1)),
        )
        assert response.status_code == 200
        covered = parse(response.json()["latestDateCovered"])
        assert covered in (floor_minute(now), floor_minute(now) + timedelta(minutes=1))


def test_deleted_window_is_fifteen_days(
    session: requests.Session, data_url: str, token: str, fresh: Emulator
) -> None:
    today = fresh.now().replace(hour=0, minute=0, second=0, microsecond=0)
    end = fresh.now()
    inside = call(
        session, data_url, token, "deleted", window(today - timedelta(days=15), end)
    )
    assert inside.status_code == 200
    outside = call(
        session,
        data_url,
        token,
        "deleted",
        window(today - timedelta(days=15, minutes=1), end),
    )
    assert outside.status_code == 400
    assert outside.json()[0]["errorCode"] == "INVALID_REPLICATION_DATE"


def test_updated_window_is_thirty_days(
    session: requests.Session, data_url: str, token: str, fresh: Emulator
) -> None:
    today = fresh.now().replace(hour=0, minute=0, second=0, microsecond=0)
    end = fresh.now()
    twenty = call(
        session, data_url, token, "updated", window(today - timedelta(days=20), end)
    )
    assert twenty.status_code == 200
    thirty_one = call(
        session, data_url, token, "updated", window(today - timedelta(days=31), end)
    )
    assert thirty_one.status_code == 400
    assert thirty_one.json() == [
        {
            "message": "startDate cannot be more than 30 days before today",
            "errorCode": "INVALID_REPLICATION_DATE",
        }
    ]


@pytest.mark.parametrize("kind", ["deleted", "updated"])
def test_reversed_or_too_short_range(
    session: requests.Session, data_url: str, token: str, fresh: Emulator, kind: str
) -> None:
    now = floor_minute(fresh.now())
    for start, end in (
        (now, now - timedelta(hours=1)),  # reversed
        (now - timedelta(seconds=50), now - timedelta(seconds=10)),  # one minute
    ):
        response = call(session, data_url, token, kind, window(start, end))
        assert response.status_code == 400
        assert response.json() == [
            {
                "message": "startDate must be at least one minute greater than endDate",
                "errorCode": "INVALID_REPLICATION_DATE",
            }
        ]


@pytest.mark.parametrize("kind", ["deleted", "updated"])
def test_malformed_or_missing_dates(
    session: requests.Session, data_url: str, token: str, kind: str
) -> None:
    malformed = call(
        session,
        data_url,
        token,
        kind,
        {"start": "yesterday", "end": "2026-01-01T00:00:00Z"},
    )
    assert malformed.status_code == 400
    assert malformed.json()[0]["errorCode"] == "MALFORMED_QUERY"
    assert "start" in malformed.json()[0]["message"]
    missing = call(session, data_url, token, kind, {"start": "2026-01-01T00:00:00Z"})
    assert missing.status_code == 400
    assert missing.json()[0]["errorCode"] == "MISSING_ARGUMENT"


def test_simple_salesforce_naive_datetimes_are_malformed(sf: Any) -> None:
    # simple-salesforce formats a naive datetime with a dangling ":" (no offset).
    naive = datetime.now() - timedelta(hours=1)  # noqa: DTZ005
    with pytest.raises(SalesforceMalformedRequest) as raised:
        sf.Contact.deleted(naive, naive + timedelta(minutes=30))
    assert error_of(raised.value)["errorCode"] == "MALFORMED_QUERY"


def test_unknown_object_and_old_version_are_not_found(
    session: requests.Session, emu: Emulator, token: str
) -> None:
    now = datetime.now(UTC)
    params = window(now - timedelta(hours=1), now)
    unknown = call(
        session, f"{emu.base_url}/services/data/v59.0", token, "deleted", params, "Nope"
    )
    assert unknown.status_code == 404
    assert unknown.json()[0]["errorCode"] == "NOT_FOUND"
    old = call(session, f"{emu.base_url}/services/data/v28.0", token, "updated", params)
    assert old.status_code == 404


@pytest.mark.parametrize("kind", ["deleted", "updated"])
def test_exceeded_id_limit(
    session: requests.Session,
    data_url: str,
    token: str,
    fresh: Emulator,
    org: Org,
    monkeypatch: pytest.MonkeyPatch,
    kind: str,
) -> None:
    monkeypatch.setattr(replication, "MAX_IDS", 3)
    ids = org.insert_many("Contact", [{"LastName": f"C{i}"} for i in range(4)])
    if kind == "deleted":
        for contact_id in ids:
            org.delete("Contact", contact_id)
    fresh.advance_clock(60)
    now = fresh.now()
    params = window(now - timedelta(hours=1), now)

    response = call(session, data_url, token, kind, params)

    assert response.status_code == 400
    assert response.json()[0]["errorCode"] == "EXCEEDED_ID_LIMIT"
    monkeypatch.setattr(replication, "MAX_IDS", 4)
    assert call(session, data_url, token, kind, params).status_code == 200


def test_earliest_date_available_moves_when_the_log_expires(
    fresh: Emulator, org: Org
) -> None:
    contact_id = org.insert("Contact", {"LastName": "Old"})
    org.delete("Contact", contact_id)
    deleted = deleted_at(org, contact_id)

    fresh.advance_clock(16 * 24 * 3600)

    assert org.get("Contact", contact_id) is None  # the recycle bin kept it 15 days
    sf = fresh.salesforce("target")  # the old session expired with the time jump
    now = fresh.now()
    result = sobject(sf, "Contact").deleted(now - timedelta(days=1), now)
    assert result["deletedRecords"] == []
    assert result["earliestDateAvailable"] == sf_text(floor_minute(deleted))


# -- Get Updated ---------------------------------------------------------------------------


def test_updated_lists_created_and_changed_records(
    sf: Any, fresh: Emulator, org: Org
) -> None:
    first = sf.Contact.create({"LastName": "First"})["id"]
    second = sf.Contact.create({"LastName": "Second"})["id"]
    gone = sf.Contact.create({"LastName": "Gone"})["id"]
    created = fresh.now()
    fresh.advance_clock(600)
    sf.Contact.update(second, {"Title": "CFO"})
    sf.Contact.delete(gone)
    fresh.advance_clock(120)
    now = fresh.now()

    recent = sf.Contact.updated(created + timedelta(minutes=5), now)
    everything = sf.Contact.updated(created - timedelta(minutes=5), now)

    assert recent == {"ids": [second], "latestDateCovered": sf_text(floor_minute(now))}
    assert everything["ids"] == [first, second]  # deleted ones are Get Deleted's
