"""Aggregate SOQL through simple-salesforce: functions, aliases, GROUP BY, HAVING,
ORDER BY on aggregates, AggregateResult rows, and Salesforce's limits and errors."""

from __future__ import annotations

from typing import Any

import pytest
from simple_salesforce import Salesforce
from simple_salesforce.exceptions import SalesforceMalformedRequest

from salesforce_emulator import Org
from salesforce_emulator.soql import aggregate

from .conftest import PAGE_SIZE, error_of


@pytest.fixture
def accounts(org: Org) -> dict[str, str]:
    """Five accounts: two named Acme (one spelled in lower case), three industries."""
    rows = [
        ("Acme", "Energy", 100.0, "Paris"),
        ("acme", "Energy", 300.0, "Lyon"),
        ("Globex", "Media", 50.0, "Paris"),
        ("Initech", "Media", None, None),
        ("Umbrella", None, 25.0, "Paris"),
    ]
    ids = {}
    for name, industry, revenue, city in rows:
        ids[name] = org.insert(
            "Account",
            {
                "Name": name,
                "Industry": industry,
                "AnnualRevenue": revenue,
                "BillingCity": city,
            },
        )
    return ids


def rows_of(result: dict[str, Any]) -> list[dict[str, Any]]:
    return [
        {k: v for k, v in record.items() if k != "attributes"}
        for record in result["records"]
    ]


def test_count_with_alias_is_an_aggregate_result_row(
    sf: Salesforce, accounts: dict[str, str]
) -> None:
    result = sf.query("SELECT COUNT(Id) CNT FROM Account")

    assert result["totalSize"] == 1
    assert result["done"] is True
    assert result["records"] == [{"attributes": {"type": "AggregateResult"}, "CNT": 5}]


def test_count_without_field_gives_only_the_total_size(
    sf: Salesforce, accounts: dict[str, str]
) -> None:
    result = sf.query("SELECT COUNT() FROM Account WHERE Industry = 'Media'")

    assert result == {"totalSize": 2, "done": True, "records": []}


def test_every_function_and_the_default_expr_names(
    sf: Salesforce, accounts: dict[str, str]
) -> None:
    result = sf.query(
        "SELECT COUNT(AnnualRevenue), COUNT_DISTINCT(BillingCity) cities, "
        "SUM(AnnualRevenue), AVG(AnnualRevenue), MIN(Name), MAX(AnnualRevenue) "
        "FROM Account"
    )

    # expr0, expr1... count only the aggregates without an alias.
    assert rows_of(result) == [
        {
            "expr0": 4,
            "cities": 2,
            "expr1": 475.0,
            "expr2": 118.75,
            "expr3": "Acme",
            "expr4": 300.0,
        }
    ]


def test_group_by_counts_case_insensitively_and_having_filters_groups(
    sf: Salesforce, accounts: dict[str, str]
) -> None:
    # The duplicate audit's query: match-key twins without reading every record.
    result = sf.query(
        "SELECT Name, COUNT(Id) n FROM Account GROUP BY Name HAVING COUNT(Id) > 1"
    )

    assert rows_of(result) == [{"Name": "Acme", "n": 2}]


def test_group_by_several_fields_and_order_by_an_aggregate(
    sf: Salesforce, accounts: dict[str, str]
) -> None:
    result = sf.query(
        "SELECT Industry, BillingCity, SUM(AnnualRevenue) total FROM Account "
        "GROUP BY Industry, BillingCity ORDER BY SUM(AnnualRevenue) DESC NULLS LAST"
    )

    assert rows_of(result) == [
        {"Industry": "Energy", "BillingCity": "Lyon", "total": 300.0},
        {"Industry": "Energy", "BillingCity": "Paris", "total": 100.0},
        {"Industry": "Media", "BillingCity": "Paris", "total": 50.0},
        {"Industry": None, "BillingCity": "Paris", "total": 25.0},
        {"Industry": "Media", "BillingCity": None, "total": None},
    ]


def test_group_by_a_parent_path_names_the_column_by_the_field(
    sf: Salesforce, org: Org, accounts: dict[str, str]
) -> None:
    for last_name, account in (("A", "Acme"), ("B", "Acme"), ("C", "Globex")):
        org.insert("Contact", {"LastName": last_name, "AccountId": accounts[account]})
    org.insert("Contact", {"LastName": "Orphan"})

    result = sf.query(
        "SELECT Account.Name, COUNT(Id) FROM Contact GROUP BY Account.Name "
        "ORDER BY Account.Name"
    )

    assert rows_of(result) == [
        {"Name": None, "expr0": 1},
        {"Name": "Acme", "expr0": 2},
        {"Name": "Globex", "expr0": 1},
    ]


def test_having_on_a_grouped_field_and_limit_on_groups(
    sf: Salesforce, accounts: dict[str, str]
) -> None:
    result = sf.query(
        "SELECT Industry, COUNT(Id) FROM Account GROUP BY Industry "
        "HAVING Industry != null ORDER BY Industry LIMIT 1"
    )

    assert rows_of(result) == [{"Industry": "Energy", "expr0": 2}]


def test_aggregate_rows_come_in_one_batch_without_a_locator(
    sf: Salesforce, org: Org
) -> None:
    org.insert_many("Account", [{"Name": f"A{i:02d}"} for i in range(PAGE_SIZE * 3)])

    result = sf.query("SELECT Name, COUNT(Id) FROM Account GROUP BY Name")

    assert result["totalSize"] == PAGE_SIZE * 3
    assert len(result["records"]) == PAGE_SIZE * 3
    assert result["done"] is True
    assert "nextRecordsUrl" not in result


def test_more_groups_than_one_batch_is_refused(
    sf: Salesforce, org: Org, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Salesforce's cap is 2,000 rows; a lower cap keeps the test fast.
    monkeypatch.setattr(aggregate, "MAX_GROUPS", 3)
    org.insert_many("Account", [{"Name": f"A{i}"} for i in range(4)])

    with pytest.raises(SalesforceMalformedRequest) as caught:
        sf.query("SELECT Name, COUNT(Id) FROM Account GROUP BY Name")

    assert error_of(caught.value) == {
        "errorCode": "EXCEEDED_ID_LIMIT",
        "message": "Aggregate query does not support queryMore(), use LIMIT to "
        "restrict the results to a single batch",
    }
    limited = sf.query("SELECT Name, COUNT(Id) FROM Account GROUP BY Name LIMIT 3")
    assert limited["totalSize"] == 3


@pytest.mark.parametrize(
    ("soql", "code", "detail"),
    [
        (
            "SELECT Name, COUNT(Id) FROM Account",
            "MALFORMED_QUERY",
            "Field must be grouped or aggregated: Name",
        ),
        (
            "SELECT Industry, COUNT(Id) FROM Account GROUP BY Industry ORDER BY Name",
            "MALFORMED_QUERY",
            "Ordered field must be grouped or aggregated: Name",
        ),
        (
            "SELECT Name FROM Account WHERE COUNT(Id) > 1",
            "MALFORMED_QUERY",
            "Aggregate functions are not allowed in the WHERE clause",
        ),
        (
            "SELECT SUM(Name) FROM Account",
            "INVALID_FIELD",
            "field Name does not support aggregate operator SUM",
        ),
        (
            "SELECT AnnualRevenue, COUNT(Id) FROM Account GROUP BY AnnualRevenue",
            "INVALID_FIELD",
            "field 'AnnualRevenue' can not be grouped in a query call",
        ),
        (
            "SELECT COUNT(Nope__c) FROM Account",
            "INVALID_FIELD",
            "No such column 'Nope__c' on entity 'Account'",
        ),
    ],
)
def test_aggregate_errors(
    sf: Salesforce, accounts: dict[str, str], soql: str, code: str, detail: str
) -> None:
    with pytest.raises(SalesforceMalformedRequest) as caught:
        sf.query(soql)

    error = error_of(caught.value)
    assert set(error) == {"errorCode", "message"}
    assert error["errorCode"] == code
    assert detail in error["message"]


def test_malformed_aggregate_errors_point_at_the_field(
    sf: Salesforce, accounts: dict[str, str]
) -> None:
    with pytest.raises(SalesforceMalformedRequest) as caught:
        sf.query("SELECT Name, COUNT(Id) FROM Account")

    assert error_of(caught.value)["message"] == (
        "\nSELECT Name, COUNT(Id) FROM Account\n       ^\n"
        "ERROR at Row:1:Column:8\nField must be grouped or aggregated: Name"
    )


def test_alias_outside_an_aggregate_query_is_malformed(sf: Salesforce) -> None:
    with pytest.raises(SalesforceMalformedRequest) as caught:
        sf.query("SELECT Name n FROM Account")

    assert "unexpected token: 'n'" in error_of(caught.value)["message"]


def test_bulk_query_jobs_refuse_aggregates(sf: Salesforce) -> None:
    response = sf.session.post(
        f"{sf.base_url}jobs/query",
        json={"operation": "query", "query": "SELECT COUNT(Id) FROM Account"},
        headers=sf.headers,
    )

    assert response.status_code == 400
    assert response.json()[0]["errorCode"] == "MALFORMED_QUERY"
