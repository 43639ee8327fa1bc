"""Retries inside a run (issue 11, item 1): which faults are retried, the backoff, the
budget, and the run's report. No wall-clock waits: sleeps are recorded, not slept."""

from __future__ import annotations

from collections.abc import Callable

import pytest
import requests
from simple_salesforce.exceptions import SalesforceOperationError

from migrations_app.salesforce.auth import Token
from migrations_app.salesforce.client import SalesforceClient
from migrations_app.salesforce.errors import SalesforceError, error_from_content
from migrations_app.services.retry import RetryBudget, RetryBudgetSpent


def budget(size: int = 5, slept: list[float] | None = None) -> RetryBudget:
    return RetryBudget(
        budget=size,
        base_seconds=1.0,
        max_seconds=8.0,
        sleep=(slept if slept is not None else []).append,
        jitter=lambda: 1.0,  # the full backoff, to check its growth
    )


def failing(times: int, error: SalesforceError) -> Callable[[], str]:
    calls = {"n": 0}

    def call() -> str:
        calls["n"] += 1
        if calls["n"] <= times:
            raise error
        return "done"

    return call


def client() -> SalesforceClient:
    return SalesforceClient(
        token=Token(access_token="token", instance_url="https://org.example.com"),
        api_version="59.0",
        label="target",
    )


def translated(exc: Exception) -> SalesforceError:
    """The error the client raises when simple-salesforce or requests raise ``exc``."""

    def fail(sf: object) -> None:
        raise exc

    with pytest.raises(SalesforceError) as caught:
        client()._call(fail)
    return caught.value


TRANSIENT = {
    "503 SERVER_UNAVAILABLE": error_from_content(
        503, [{"errorCode": "SERVER_UNAVAILABLE", "message": "down"}]
    ),
    "502": error_from_content(502, "Bad Gateway"),
    "500 UNKNOWN_EXCEPTION": error_from_content(
        500, [{"errorCode": "UNKNOWN_EXCEPTION", "message": "oops"}]
    ),
    "UNABLE_TO_LOCK_ROW": error_from_content(
        400, [{"errorCode": "UNABLE_TO_LOCK_ROW", "message": "locked"}]
    ),
    "dropped connection": translated(requests.ConnectionError("reset by peer")),
    "read timeout": translated(requests.ReadTimeout("read timed out")),
    "Bulk job failed transiently": translated(
        SalesforceOperationError(
            "Job failure. Response content: UNABLE_TO_LOCK_ROW: unable to lock row"
        )
    ),
}


@pytest.mark.parametrize("name", TRANSIENT)
def test_each_transient_class_is_retried_with_growing_backoff(name: str) -> None:
    slept: list[float] = []
    retries = budget(slept=slept)

    assert retries.run(failing(3, TRANSIENT[name]), what="read") == "done"

    assert retries.spent == 3
    assert slept == [1.0, 2.0, 4.0]  # base * 2^n


PERMANENT = {
    "invalid field": error_from_content(
        400, [{"errorCode": "INVALID_FIELD", "message": "no such field"}]
    ),
    "exhausted allowance": error_from_content(
        403, [{"errorCode": "REQUEST_LIMIT_EXCEEDED", "message": "limit"}]
    ),
    "Bulk job failed for good": translated(
        SalesforceOperationError("Job failure. Response content: InvalidBatch")
    ),
}


@pytest.mark.parametrize("name", PERMANENT)
def test_what_waiting_cannot_cure_is_not_retried(name: str) -> None:
    retries = budget()

    with pytest.raises(SalesforceError):
        retries.run(failing(1, PERMANENT[name]), what="read")

    assert retries.spent == 0


def test_the_budget_running_out_stops_with_a_clear_message() -> None:
    slept: list[float] = []
    retries = budget(size=4, slept=slept)

    with pytest.raises(RetryBudgetSpent) as stopped:
        retries.run(failing(100, TRANSIENT["502"]), what="read")

    assert retries.spent == 4
    assert "after 4 retries, the run's retry budget" in stopped.value.message
    assert not stopped.value.permanent  # transient: the sweep resumes it
    assert slept == [1.0, 2.0, 4.0, 8.0]


def test_backoff_is_capped_and_jittered() -> None:
    draws = iter([0.0, 0.5, 1.0])
    retries = RetryBudget(
        budget=10, base_seconds=1.0, max_seconds=8.0, jitter=lambda: next(draws)
    )

    assert retries.delay(10) == 0.0  # a jitter of 0: at once
    assert retries.delay(10) == 4.0  # half of the cap (2^9 capped to 8)
    assert retries.delay(10) == 8.0


def test_each_retry_is_counted_by_kind() -> None:
    seen: list[str] = []
    retries = budget()
    retries.on_retry = seen.append

    retries.run(failing(1, TRANSIENT["503 SERVER_UNAVAILABLE"]), what="read")
    retries.run(failing(2, TRANSIENT["dropped connection"]), what="read")

    assert seen == ["SERVER_UNAVAILABLE", "TRANSPORT", "TRANSPORT"]
    assert dict(retries.by_kind) == {"SERVER_UNAVAILABLE": 1, "TRANSPORT": 2}
