"""API usage accounting, /limits, and fault injection (Python API and control endpoint)."""

from __future__ import annotations

import time
from typing import Any

import pytest
import requests
from simple_salesforce.exceptions import (
    SalesforceGeneralError,
    SalesforceMalformedRequest,
    SalesforceRefusedRequest,
)

from salesforce_emulator import Emulator, Org

from .conftest import error_of


def test_limit_header_and_call_counting(sf: Any, org: Org) -> None:
    org.reset_api_calls()
    sf.query("SELECT COUNT() FROM Account")
    assert sf.api_usage["api-usage"].used == 1
    assert sf.api_usage["api-usage"].total == org.faults.api_limit
    sf.Account.create({"Name": "A"})
    assert org.api_calls == 2
    org.insert("Account", {"Name": "direct, not counted"})
    assert org.api_calls == 2
    limits = sf.limits()
    assert limits["DailyApiRequests"] == {
        "Max": org.faults.api_limit,
        "Remaining": org.faults.api_limit - 3,
    }
    assert "DataStorageMB" in limits
    assert "DailyBulkV2QueryJobs" in limits
    org.api_calls = 0
    assert org.api_calls == 0


def test_record_count(sf: Any, org: Org) -> None:
    org.insert_many("Account", [{"Name": "A"}, {"Name": "B"}])
    counts = sf.restful("limits/recordCount", params={"sObjects": "Account,Contact"})
    assert counts == {
        "sObjects": [{"count": 2, "name": "Account"}, {"count": 0, "name": "Contact"}]
    }
    everything = sf.restful("limits/recordCount")
    assert {"count": 2, "name": "Account"} in everything["sObjects"]


def test_request_limit_exceeded(sf: Any, org: Org) -> None:
    org.faults.update(api_limit=2)
    sf.query("SELECT COUNT() FROM Account")
    sf.query("SELECT COUNT() FROM Account")
    with pytest.raises(SalesforceRefusedRequest) as exc:
        sf.query("SELECT COUNT() FROM Account")
    assert error_of(exc.value)["errorCode"] == "REQUEST_LIMIT_EXCEEDED"
    org.faults.update(api_limit=100)
    assert sf.query("SELECT COUNT() FROM Account")["totalSize"] == 0


def test_latency(sf: Any, org: Org) -> None:
    org.faults.update(latency_ms=120)
    started = time.perf_counter()
    sf.query("SELECT COUNT() FROM Account")
    assert time.perf_counter() - started >= 0.12


def test_varying_latency_keeps_its_mean_and_repeats_with_its_seed(org: Org) -> None:
    org.faults.update(latency_ms=100, latency_varies=True, seed=3)
    drawn = [org.faults.draw_latency() for _ in range(2_000)]
    org.faults.update(seed=3)

    assert [org.faults.draw_latency() for _ in range(2_000)] == drawn
    assert 0.09 < sum(drawn) / len(drawn) < 0.11
    # Some calls are far slower than the mean, most are faster.
    assert max(drawn) > 0.3
    assert sum(1 for seconds in drawn if seconds < 0.1) > 1_000
    org.faults.update(latency_varies=False)
    assert org.faults.draw_latency() == 0.1


def _outcomes(sf: Any, calls: int) -> list[str]:
    outcomes = []
    for _ in range(calls):
        try:
            sf.query("SELECT COUNT() FROM Account")
            outcomes.append("ok")
        except SalesforceGeneralError as exc:
            outcomes.append(str(exc.status))
        except requests.ConnectionError:
            outcomes.append("drop")
    return outcomes


def test_transient_failures_are_deterministic_with_a_seed(sf: Any, org: Org) -> None:
    org.faults.update(failure_rate=0.5, seed=7)
    first = _outcomes(sf, 16)
    org.faults.update(seed=7)
    assert _outcomes(sf, 16) == first
    assert {"ok", "503", "drop"} <= set(first)
    org.faults.update(failure_rate=1.0, failure_kinds=["503"])
    assert set(_outcomes(sf, 3)) == {"503"}


def test_validation_rules_everywhere(sf: Any, org: Org) -> None:
    org.faults.update(
        validation_rules=[
            {
                "sobject": "Contact",
                "field": "LastName",
                "value": "Reject",
                "message": "No rejects",
            }
        ]
    )
    with pytest.raises(SalesforceMalformedRequest) as single:
        sf.Contact.create({"LastName": "reject"})
    assert error_of(single.value) == {
        "message": "No rejects",
        "errorCode": "FIELD_CUSTOM_VALIDATION_EXCEPTION",
        "fields": ["LastName"],
    }
    results = sf.restful(
        "composite/sobjects",
        method="POST",
        json={
            "records": [
                {"attributes": {"type": "Contact"}, "LastName": "Keep"},
                {"attributes": {"type": "Contact"}, "LastName": "Reject"},
            ]
        },
    )
    assert results[0]["success"] is True
    assert results[1]["errors"][0]["statusCode"] == "FIELD_CUSTOM_VALIDATION_EXCEPTION"
    keep = results[0]["id"]
    with pytest.raises(SalesforceMalformedRequest):
        sf.Contact.update(keep, {"LastName": "Reject"})
    bulk = sf.bulk2.Contact.insert(
        records=[{"LastName": "Reject"}, {"LastName": "Fine"}], wait=0
    )
    assert bulk[0]["numberRecordsFailed"] == 1
    assert "FIELD_CUSTOM_VALIDATION_EXCEPTION:No rejects:LastName --" in (
        sf.bulk2.Contact.get_failed_records(bulk[0]["job_id"])
    )


def test_fail_after_write_applies_then_drops(sf: Any, org: Org) -> None:
    org.faults.update(fail_after_writes=2)
    sf.Account.create({"Name": "first"})
    with pytest.raises(requests.ConnectionError):
        sf.restful(
            "composite/sobjects",
            method="POST",
            json={"records": [{"attributes": {"type": "Account"}, "Name": "second"}]},
        )
    assert sorted(r["Name"] for r in org.records("Account")) == ["first", "second"]
    sf.Account.create({"Name": "third"})  # one-shot: back to normal
    assert org.count("Account") == 3


def test_control_endpoint(fresh: Emulator, session: requests.Session, sf: Any) -> None:
    control = f"{fresh.base_url}/__emulator__/orgs/target"
    state = session.post(
        f"{control}/faults", json={"latency_ms": 5, "api_limit": 50}
    ).json()
    assert state["latency_ms"] == 5
    assert state["api_limit"] == 50
    assert fresh.org("target").faults.api_limit == 50
    sf.query("SELECT COUNT() FROM Account")
    assert sf.api_usage["api-usage"].total == 50
    info = session.get(control).json()
    assert info["organization_id"] == fresh.org("target").organization_id
    assert info["api_calls"] >= 1
    bad = session.post(f"{control}/faults", json={"nope": 1})
    assert bad.status_code == 400
    session.post(f"{control}/faults", json={"expire_tokens": True})
    with pytest.raises(Exception, match="Session expired"):
        sf.query("SELECT COUNT() FROM Account")
    assert session.get(f"{fresh.base_url}/__emulator__/orgs/none").status_code == 404
    listing = session.get(f"{fresh.base_url}/__emulator__/orgs").json()
    assert {o["org"] for o in listing} >= {"source", "target"}
    fresh.org("target").insert("Account", {"Name": "A"})
    assert session.post(f"{control}/reset").json() == {"reset": True}
    assert fresh.org("target").count("Account") == 0
