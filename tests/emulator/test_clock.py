"""The emulator's clock: an offset moved from Python or over HTTP, used by every stamp."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
import requests
from simple_salesforce.exceptions import SalesforceExpiredSession

from salesforce_emulator import Emulator, Org
from salesforce_emulator.clock import Clock

from .conftest import bulk2_handle

HOUR = 3600.0
DAY = 24 * HOUR


def stamp(text: str) -> datetime:
    return datetime.fromisoformat(text)


def close_to(moment: datetime, expected: datetime, slack: float = 30.0) -> bool:
    return abs((moment - expected).total_seconds()) < slack


def test_clock_offsets() -> None:
    clock = Clock(HOUR)
    assert close_to(clock.now(), datetime.now(UTC) + timedelta(hours=1))
    assert clock.advance(60) > clock.now() - timedelta(seconds=1)
    assert clock.offset_seconds == HOUR + 60
    with pytest.raises(ValueError, match="forward"):
        clock.advance(-1)
    with pytest.raises(ValueError, match=">= 0"):
        clock.set_offset(-5)
    clock.set_offset(0)
    assert close_to(clock.now(), datetime.now(UTC))


def test_record_stamps_follow_the_clock(sf: Any, fresh: Emulator, org: Org) -> None:
    before = sf.Account.create({"Name": "Before"})["id"]
    fresh.advance_clock(HOUR)
    after = sf.Account.create({"Name": "After"})["id"]
    sf.Account.update(before, {"Industry": "Energy"})
    real_now = datetime.now(UTC)

    first, second = org.get("Account", before), org.get("Account", after)
    assert first is not None
    assert second is not None
    assert close_to(stamp(first["CreatedDate"]), real_now)
    assert close_to(stamp(first["SystemModstamp"]), real_now + timedelta(hours=1))
    assert close_to(stamp(first["LastModifiedDate"]), real_now + timedelta(hours=1))
    assert close_to(stamp(second["CreatedDate"]), real_now + timedelta(hours=1))
    # Python-API writes use the same clock
    direct = org.get("Account", org.insert("Account", {"Name": "Direct"}))
    assert direct is not None
    assert close_to(stamp(direct["CreatedDate"]), real_now + timedelta(hours=1))


def test_soql_date_literals_use_the_clock(fresh: Emulator, org: Org) -> None:
    org.insert("Account", {"Name": "Two days ago"})
    fresh.advance_clock(2 * DAY)
    org.insert("Account", {"Name": "Today"})
    sf = fresh.salesforce("target")  # two idle days ended the earlier sessions

    today = sf.query("SELECT Name FROM Account WHERE CreatedDate = TODAY")
    recent = sf.query("SELECT Name FROM Account WHERE CreatedDate = LAST_N_DAYS:1")
    direct = org.query("SELECT Name FROM Account WHERE CreatedDate < TODAY")

    assert [r["Name"] for r in today["records"]] == ["Today"]
    assert [r["Name"] for r in recent["records"]] == ["Today"]
    assert [r["Name"] for r in direct] == ["Two days ago"]


def test_sessions_expire_when_the_clock_passes_their_lifetime(
    sf: Any, fresh: Emulator
) -> None:
    sf.query("SELECT Id FROM Account")
    fresh.advance_clock(HOUR)
    sf.query("SELECT Id FROM Account")  # within the 2-hour session lifetime
    fresh.advance_clock(HOUR + 60)
    with pytest.raises(SalesforceExpiredSession):
        sf.query("SELECT Id FROM Account")
    assert fresh.salesforce("target").query("SELECT Id FROM Account")["done"]


def test_token_and_job_dates_follow_the_clock(
    fresh: Emulator, session: requests.Session
) -> None:
    fresh.advance_clock(DAY)
    sf = fresh.salesforce("target")
    expected = datetime.now(UTC) + timedelta(days=1)
    response = session.post(
        f"{fresh.base_url}/services/oauth2/token",
        data={"grant_type": "client_credentials"},
        auth=(fresh.org("target").client_id, fresh.org("target").client_secret),
    )
    issued = datetime.fromtimestamp(int(response.json()["issued_at"]) / 1000, UTC)
    assert close_to(issued, expected)
    job = bulk2_handle(sf, "Contact").insert(records=[{"LastName": "Job"}], wait=0)[0]
    info = sf.restful(f"jobs/ingest/{job['job_id']}")
    assert info is not None
    assert close_to(stamp(info["createdDate"]), expected)


def test_control_endpoint_moves_the_clock(
    session: requests.Session, fresh: Emulator
) -> None:
    url = f"{fresh.base_url}/__emulator__/clock"

    assert session.get(url).json()["offset_seconds"] == 0
    moved = session.post(url, json={"advance_seconds": 2 * HOUR})
    assert moved.status_code == 200
    assert moved.json()["offset_seconds"] == 2 * HOUR
    assert close_to(stamp(moved.json()["now"]), fresh.now())
    assert fresh.clock_offset == 2 * HOUR
    assert session.post(url, json={"offset_seconds": 60}).json()["offset_seconds"] == 60
    refused = session.post(url, json={"advance_seconds": -10})
    assert refused.status_code == 400
    assert "forward" in refused.json()["error"]
    assert session.post(url, json={}).status_code == 400
    assert fresh.clock_offset == 60


def test_recycle_bin_empties_itself_after_fifteen_days(
    fresh: Emulator, org: Org
) -> None:
    old, recent = org.insert_many("Contact", [{"LastName": "O"}, {"LastName": "R"}])
    org.delete("Contact", old)
    fresh.advance_clock(10 * DAY)
    org.delete("Contact", recent)

    fresh.advance_clock(6 * DAY)

    assert org.get("Contact", old) is None
    assert [r["Id"] for r in org.recycle_bin()] == [recent]


def test_emulator_starts_with_an_offset(fresh: Emulator) -> None:
    with Emulator(["ahead"], clock_offset=DAY) as ahead:
        org = ahead.org("ahead")
        created = org.get("User", org.integration_user_id)
        assert created is not None
        assert close_to(
            stamp(created["CreatedDate"]), datetime.now(UTC) + timedelta(days=1)
        )
        assert ahead.clock_offset == DAY
    # each emulator has its own clock
    assert fresh.clock_offset == 0
    assert close_to(fresh.now(), datetime.now(UTC))


def test_daily_api_allowance_is_counted_per_24_hours(
    fresh: Emulator, org: Org, session: requests.Session, data_url: str
) -> None:
    org.faults.update(api_limit=2)

    def limits(token: str) -> requests.Response:
        return session.get(
            f"{data_url}/limits/", headers={"Authorization": f"Bearer {token}"}
        )

    token = org.issue_token()
    assert limits(token).status_code == 200
    assert limits(token).json()["DailyApiRequests"] == {"Max": 2, "Remaining": 0}
    refused = limits(token)
    assert refused.status_code == 403
    assert refused.json()[0]["errorCode"] == "REQUEST_LIMIT_EXCEEDED"

    fresh.advance_clock(DAY)

    again = limits(org.issue_token())
    assert again.status_code == 200
    assert again.json()["DailyApiRequests"] == {"Max": 2, "Remaining": 1}
    assert again.headers["Sforce-Limit-Info"] == "api-usage=1/2"
    assert org.api_calls == 4  # the counter of calls made keeps counting
