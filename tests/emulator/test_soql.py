"""Unit tests of the emulator's SOQL engine against a small in-memory catalog."""

from __future__ import annotations

import string
from collections.abc import Iterable
from datetime import UTC, date, datetime
from decimal import Decimal
from typing import Any

import pytest

from salesforce_emulator.schema import FieldDef, ObjectDef
from salesforce_emulator.soql import (
    And,
    Comparison,
    Not,
    Or,
    QueryResult,
    SoqlError,
    canonical_id,
    columns,
    execute,
    flat_row,
    parse,
    parse_where,
    to_18,
)
from soql import Refusal
from soql import dates as soql_dates
from soql import parser as soql_parser
from soql.nodes import FieldPath, RelativeDate, Term

# Wednesday; the week (Sunday start) is 2024-05-12 .. 2024-05-18.
NOW = datetime(2024, 5, 15, 12, 0, tzinfo=UTC)

# -- in-memory catalog --------------------------------------------------------------


def _make_id(prefix: str, number: int) -> str:
    digits = string.digits + string.ascii_uppercase + string.ascii_lowercase
    body = ""
    for _ in range(9):
        number, rest = divmod(number, 62)
        body = digits[rest] + body
    return to_18(f"{prefix}0A0{body}")


def _system_fields(obj: ObjectDef) -> None:
    obj.add(FieldDef("Id", "id", createable=False, updateable=False))
    obj.add(FieldDef("IsDeleted", "boolean", createable=False, updateable=False))


def _schema() -> dict[str, ObjectDef]:
    user = ObjectDef("User", "005")
    _system_fields(user)
    user.add(FieldDef("Username", "string"))
    user.add(FieldDef("Email", "email"))
    user.add(
        FieldDef(
            "ManagerId",
            "reference",
            reference_to=("User",),
            relationship_name="Manager",
        )
    )

    group = ObjectDef("Group", "00G")
    _system_fields(group)
    group.add(FieldDef("Name", "string"))

    account = ObjectDef("Account", "001")
    _system_fields(account)
    account.add(FieldDef("Name", "string", name_field=True))
    account.add(
        FieldDef(
            "ParentId",
            "reference",
            reference_to=("Account",),
            relationship_name="Parent",
        )
    )
    account.add(FieldDef("Industry", "picklist"))
    account.add(FieldDef("AnnualRevenue", "currency"))
    account.add(FieldDef("NumberOfEmployees", "int"))
    account.add(FieldDef("CreatedDate", "datetime"))
    account.add(FieldDef("LastActivityDate", "date"))
    account.add(
        FieldDef(
            "OwnerId",
            "reference",
            reference_to=("User", "Group"),
            relationship_name="Owner",
        )
    )
    account.add(FieldDef("Tags__c", "multipicklist", custom=True))
    account.add(FieldDef("IsActive__c", "boolean", custom=True))
    account.add(
        FieldDef(
            "Legacy_Id__c",
            "string",
            custom=True,
            unique=True,
            case_sensitive=True,
            external_id=True,
        )
    )

    contact = ObjectDef("Contact", "003")
    _system_fields(contact)
    contact.add(FieldDef("LastName", "string"))
    contact.add(FieldDef("Email", "email"))
    contact.add(
        FieldDef(
            "AccountId",
            "reference",
            reference_to=("Account",),
            relationship_name="Account",
        )
    )
    contact.add(FieldDef("Birthdate", "date"))
    contact.add(
        FieldDef(
            "OwnerId", "reference", reference_to=("User",), relationship_name="Owner"
        )
    )
    return {o.name.lower(): o for o in (user, group, account, contact)}


class MemoryCatalog:
    def __init__(self) -> None:
        self.objects = _schema()
        self.rows: dict[str, list[dict[str, Any]]] = {name: [] for name in self.objects}
        self.by_id: dict[str, dict[str, Any]] = {}
        self.counter = 0

    def add(self, sobject: str, **values: Any) -> str:
        obj = self.objects[sobject.lower()]
        self.counter += 1
        row: dict[str, Any] = {f.name: None for f in obj.fields.values()}
        row.update(Id=_make_id(obj.key_prefix, self.counter), IsDeleted=False)
        row.update(values)
        self.rows[sobject.lower()].append(row)
        self.by_id[row["Id"]] = row
        return str(row["Id"])

    def object_def(self, name: str) -> ObjectDef | None:
        return self.objects.get(name.lower())

    def records(
        self, sobject: str, *, include_deleted: bool
    ) -> Iterable[dict[str, Any]]:
        rows = self.rows[sobject.lower()]
        return rows if include_deleted else [r for r in rows if not r["IsDeleted"]]

    def get(self, sobject: str, record_id: str) -> dict[str, Any] | None:
        row = self.by_id.get(record_id)
        if row is None or not row["Id"].startswith(
            self.objects[sobject.lower()].key_prefix
        ):
            return None
        return row


@pytest.fixture
def catalog() -> MemoryCatalog:
    cat = MemoryCatalog()
    boss = cat.add("User", Username="boss@example.com", Email="boss@example.com")
    user = cat.add(
        "User", Username="ann@example.com", Email="ann@example.com", ManagerId=boss
    )
    group = cat.add("Group", Name="Sales Queue")
    acme = cat.add(
        "Account",
        Name="Acme",
        Industry="Technology",
        AnnualRevenue=1000000.0,
        NumberOfEmployees=50,
        CreatedDate="2024-05-15T08:00:00.000+0000",
        LastActivityDate="2024-05-14",
        OwnerId=user,
        Tags__c="a;b",
        IsActive__c=True,
        Legacy_Id__c="L-1",
    )
    west = cat.add(
        "Account",
        Name="acme West",
        ParentId=acme,
        Industry="Finance",
        AnnualRevenue=500.5,
        NumberOfEmployees=5,
        CreatedDate="2024-05-14T23:59:59.999+0000",
        LastActivityDate="2024-05-15",
        OwnerId=group,
        Tags__c="c",
        IsActive__c=False,
        Legacy_Id__c="l-1",
    )
    cat.add(
        "Account",
        Name="Beta 100%",
        ParentId=west,
        CreatedDate="2024-01-01T00:00:00.000+0000",
        LastActivityDate="2023-12-31",
        OwnerId=user,
        Tags__c="b;c;a",
        Legacy_Id__c="L-3",
    )
    cat.add(
        "Account",
        Name="Gamma_co",
        NumberOfEmployees=5000,
        CreatedDate="2023-05-15T12:00:00.000+0000",
        OwnerId=boss,
    )
    cat.add(
        "Account",
        Name="Deleted Co",
        IsDeleted=True,
        CreatedDate="2024-05-01T00:00:00.000+0000",
    )
    cat.add(
        "Contact",
        LastName="Smith",
        Email="smith@acme.com",
        AccountId=acme,
        Birthdate="1990-01-15",
        OwnerId=user,
    )
    cat.add(
        "Contact",
        LastName="jones",
        AccountId=west,
        Birthdate="1985-05-15",
        OwnerId=boss,
    )
    cat.add("Contact", LastName="O'Brien", Email="ob@x.org")
    return cat


def run(
    catalog: MemoryCatalog, soql: str, *, include_deleted: bool = False
) -> QueryResult:
    return execute(
        parse(soql),
        catalog,
        api_version="59.0",
        include_deleted=include_deleted,
        now=NOW,
    )


def names(
    catalog: MemoryCatalog, where: str, sobject: str = "Account", field: str = "Name"
) -> list[str]:
    result = run(catalog, f"SELECT {field} FROM {sobject} WHERE {where}")
    return [r[field] for r in result.records]


def account_id(catalog: MemoryCatalog, name: str) -> str:
    return str(next(r["Id"] for r in catalog.rows["account"] if r["Name"] == name))


def _parse_and_run(soql: str, catalog: MemoryCatalog | None) -> None:
    query = parse(soql)
    if catalog is not None:
        execute(query, catalog, api_version="59.0", include_deleted=False, now=NOW)


def error_of(soql: str, catalog: MemoryCatalog | None = None) -> SoqlError:
    """The SoqlError parsing (and, given a catalog, running) ``soql`` raises."""
    with pytest.raises(SoqlError) as info:
        _parse_and_run(soql, catalog)
    return info.value


# -- ids ----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("short", "long"),
    [
        ("001D000000IqhSL", "001D000000IqhSLIAZ"),
        ("a0RE000000IJmcN", "a0RE000000IJmcNMAT"),
        ("aaaaaaaaaaaaaaa", "aaaaaaaaaaaaaaaAAA"),
        ("AbCdEfGhIjKlMnO", "AbCdEfGhIjKlMnOVKV"),
        ("aBcDEfgHIJKLMNO", "aBcDEfgHIJKLMNO025"),
        ("003G000001SUbc4", "003G000001SUbc4IAD"),
    ],
)
def test_id_checksum(short: str, long: str) -> None:
    assert to_18(short) == long
    assert canonical_id(short) == long
    assert canonical_id(long.lower()) == long  # the 18-char form ignores case
    assert canonical_id(long.upper()) == long


def test_canonical_id_rejects_malformed() -> None:
    assert canonical_id("001") is None
    assert canonical_id("001D000000IqhSL99Z") is None  # 9 is not a checksum char
    assert canonical_id("001D000000IqhS!") is None


# -- parser -------------------------------------------------------------------------


def dotted(term: Term) -> str:
    """The dotted name of a term that must be a field, not an aggregate."""
    assert isinstance(term, FieldPath), term
    return term.dotted


def test_parse_full_statement() -> None:
    query = parse(
        "select id, NAME, Account.Owner.Email from Contact "
        "where Name != null order by Name desc nulls last, Id limit 5 offset 2"
    )
    assert query.sobject == "Contact"
    assert [f.dotted for f in query.fields] == ["id", "NAME", "Account.Owner.Email"]
    assert isinstance(query.where, Comparison)
    assert query.where.op == "!="
    assert [(dotted(o.field), o.descending, o.nulls_first) for o in query.order_by] == [
        ("Name", True, False),
        ("Id", False, None),
    ]
    assert (query.limit, query.offset, query.is_count) == (5, 2, False)


def test_reserved_words_as_objects_and_relationships() -> None:
    query = parse("SELECT Group.Name, Order.Status FROM Group WHERE Order.Id != null")
    assert query.sobject == "Group"
    assert [f.dotted for f in query.fields] == ["Group.Name", "Order.Status"]
    assert parse("SELECT Id FROM Order ORDER BY Id").sobject == "Order"


def test_parse_count() -> None:
    query = parse("SELECT COUNT() FROM Account WHERE Name LIKE 'a%'")
    assert query.is_count
    assert query.fields == []


def test_parse_boolean_structure() -> None:
    condition = parse_where("NOT (a = 1 OR b = 2) AND (c = 3) AND NOT d IN (1, 2)")
    assert isinstance(condition, And)
    first, second, third = condition.items
    assert isinstance(first, Not)
    assert isinstance(first.item, Or)
    assert isinstance(second, Comparison)
    assert isinstance(third, Not)


@pytest.mark.parametrize(
    ("text", "kind", "value"),
    [
        (r"'it\'s'", "string", "it's"),
        (r"'a\"b\\c\nd\re\tf\bg\fh'", "string", 'a"b\\c\nd\re\tf\bg\fh'),
        (r"'\u00e9'", "string", "é"),
        ("42", "number", Decimal(42)),
        ("-3.25", "number", Decimal("-3.25")),
        ("TRUE", "boolean", True),
        ("false", "boolean", False),
        ("NULL", "null", None),
        ("2024-01-15", "date", date(2024, 1, 15)),
        ("2024-01-15T10:30:00Z", "datetime", datetime(2024, 1, 15, 10, 30, tzinfo=UTC)),
        (
            "2024-01-15T10:30:00.000+0000",
            "datetime",
            datetime(2024, 1, 15, 10, 30, tzinfo=UTC),
        ),
        (
            "2024-01-15T10:30:00+01:00",
            "datetime",
            datetime(2024, 1, 15, 9, 30, tzinfo=UTC),
        ),
        (
            "2024-01-15T00:30:00.5-0230",
            "datetime",
            datetime(2024, 1, 15, 3, 0, 0, 500000, tzinfo=UTC),
        ),
        ("today", "date_literal", RelativeDate("TODAY")),
        ("last_n_days:30", "date_literal", RelativeDate("LAST_N_DAYS", 30)),
    ],
)
def test_parse_literals(text: str, kind: str, value: Any) -> None:
    condition = parse_where(f"F = {text}")
    assert isinstance(condition, Comparison)
    assert condition.value.kind == kind
    assert condition.value.value == value


def test_all_relative_date_literals_have_resolvers() -> None:
    literals = soql_parser.RANGE_LITERALS | soql_parser.N_RANGE_LITERALS
    assert literals == set(soql_dates._RESOLVERS)


@pytest.mark.parametrize(
    ("soql", "detail"),
    [
        ("SELECT Id FROM", "unexpected token: '<EOF>'"),
        ("SELECT Id Account", "unexpected token: 'Account'"),
        ("SELECT Id, FROM Account", "unexpected token: 'FROM'"),
        ("SELECT FROM Account", "unexpected token: 'FROM'"),
        ("SELECT * FROM Account", "unexpected token: '*'"),
        ("SELECT Id FROM Account garbage", "unexpected token: 'garbage'"),
        ("SELECT Id FROM Account WHERE", "unexpected token: '<EOF>'"),
        (
            "SELECT Id FROM Account WHERE Name = 'a' AND Id = 'b' OR Id = 'c'",
            "unexpected token: 'OR'",
        ),
        (
            "SELECT Id FROM Account WHERE Name = 'a' OR Id = 'b' AND Id = 'c'",
            "unexpected token: 'AND'",
        ),
        ("SELECT Id FROM Account WHERE Name 'a'", "unexpected token: ''a''"),
        ("SELECT Id FROM Account WHERE Name IN ()", "unexpected token: ')'"),
        ("SELECT Id FROM Account WHERE Name LIKE 5", "unexpected token: '5'"),
        (
            "SELECT Id FROM Account WHERE CreatedDate > LAST_N_DAYS",
            "unexpected token: '<EOF>'",
        ),
        ("SELECT Id FROM Account WHERE Name = 'x", "unterminated string literal"),
        ("SELECT Id FROM Account WHERE Name = 'a\\qb'", "illegal character sequence"),
        ("SELECT Id FROM Account WHERE LastActivityDate = 2024-13-01", "invalid date"),
        ("SELECT Id, Name, name FROM Account", "duplicate field selected: name"),
        ("SELECT COUNT(), Name FROM Account", "COUNT() cannot be combined"),
        ("SELECT Id FROM Account ORDER BY Name NULLS", "unexpected token: '<EOF>'"),
        ("SELECT Id FROM Account LIMIT -1", "unexpected token: '-1'"),
        ("SELECT Id FROM Account OFFSET 1 LIMIT 2", "unexpected token: 'LIMIT'"),
        ("SELECT A.B.C.D.E.F.Name FROM Account", "more than 5 levels"),
    ],
)
def test_syntax_errors(soql: str, detail: str) -> None:
    error = error_of(soql)
    assert error.error_code == "MALFORMED_QUERY"
    assert detail in error.message
    assert detail in error.detail


@pytest.mark.parametrize(
    ("soql", "feature"),
    [
        ("SELECT Industry FROM Account GROUP BY ROLLUP(Industry)", "ROLLUP"),
        ("SELECT FIELDS(ALL) FROM Account LIMIT 200", "function FIELDS"),
        ("SELECT toLabel(Industry) FROM Account", "function toLabel"),
        (
            "SELECT convertCurrency(AnnualRevenue) FROM Account",
            "function convertCurrency",
        ),
        ("SELECT FORMAT(CreatedDate) FROM Account", "function FORMAT"),
        ("SELECT Id, (SELECT Id FROM Contacts) FROM Account", "child relationship"),
        (
            "SELECT Id FROM Account WHERE Id IN (SELECT AccountId FROM Contact)",
            "semi-join",
        ),
        (
            "SELECT Id FROM Account WHERE Id NOT IN (SELECT AccountId FROM Contact)",
            "semi-join",
        ),
        ("SELECT TYPEOF Owner WHEN User THEN Username END FROM Account", "TYPEOF"),
        ("SELECT Id FROM Account FOR UPDATE", "FOR VIEW/UPDATE"),
        ("SELECT Id FROM Account LIMIT 1 FOR VIEW", "FOR VIEW/UPDATE"),
        ("SELECT Id FROM Account WITH SECURITY_ENFORCED", "WITH"),
        ("SELECT Id FROM Account USING SCOPE Mine", "USING SCOPE"),
        ("SELECT Id FROM Account WHERE CALENDAR_YEAR(CreatedDate) = 2024", "function"),
        ("SELECT Id FROM Account WHERE CreatedDate = THIS_FISCAL_YEAR", "fiscal"),
        ("SELECT Id FROM Account, Contact", "several objects"),
    ],
)
def test_unsupported_features_are_malformed(soql: str, feature: str) -> None:
    error = error_of(soql)
    assert error.error_code == "MALFORMED_QUERY"
    assert error.refusal is Refusal.UNMODELLED
    assert "not supported by this SOQL parser" in error.message
    assert feature in error.message


def test_offset_limit() -> None:
    assert parse("SELECT Id FROM Account OFFSET 2000").offset == 2000
    error = error_of("SELECT Id FROM Account LIMIT 10 OFFSET 2001")
    assert error.error_code == "NUMBER_OUTSIDE_VALID_RANGE"


def test_error_message_locates_the_token() -> None:
    error = error_of("SELECT Id\nFROM Account\nWHERE Name = 'a' Industry")
    assert (error.row, error.column) == (3, 18)
    assert error.message == (
        "\nWHERE Name = 'a' Industry\n                 ^\nERROR at Row:3:Column:18\n"
        "unexpected token: 'Industry'"
    )


def test_parse_where_reports_column() -> None:
    with pytest.raises(SoqlError) as info:
        parse_where("Industry = 'Tech' AND")
    assert info.value.error_code == "MALFORMED_QUERY"
    assert info.value.column == 22
    assert "Column:22" in info.value.message
    with pytest.raises(SoqlError) as info:
        parse_where("Industry = 'Tech' ORDER BY Name")
    assert info.value.column == 19


def test_parse_where_is_schema_free() -> None:
    condition = parse_where("Anything__c = 'x' AND (Other.Path__r.F != null OR X < 3)")
    assert isinstance(condition, And)


# -- result shape -------------------------------------------------------------------


def test_records_use_canonical_names_and_attributes(catalog: MemoryCatalog) -> None:
    result = run(catalog, "select id, NAME from ACCOUNT where name = 'ACME'")
    acme = account_id(catalog, "Acme")
    assert result.total_size == 1
    assert not result.is_count
    assert result.records == [
        {
            "attributes": {
                "type": "Account",
                "url": f"/services/data/v59.0/sobjects/Account/{acme}",
            },
            "Id": acme,
            "Name": "Acme",
        }
    ]


def test_url_is_built_without_selecting_id(catalog: MemoryCatalog) -> None:
    result = execute(
        parse("SELECT Name FROM Account LIMIT 1"),
        catalog,
        api_version="v60.0",
        include_deleted=False,
    )
    record = result.records[0]
    assert list(record) == ["attributes", "Name"]
    assert record["attributes"]["url"].startswith(
        "/services/data/v60.0/sobjects/Account/0"
    )


def test_values_pass_through_in_rest_format(catalog: MemoryCatalog) -> None:
    record = run(
        catalog,
        "SELECT AnnualRevenue, NumberOfEmployees, IsActive__c, "
        "CreatedDate, LastActivityDate, Industry FROM Account LIMIT 1",
    ).records[0]
    assert record["AnnualRevenue"] == 1000000.0
    assert record["NumberOfEmployees"] == 50
    assert record["IsActive__c"] is True
    assert record["CreatedDate"] == "2024-05-15T08:00:00.000+0000"
    assert record["LastActivityDate"] == "2024-05-14"


def test_parent_fields_nest_by_relationship_name(catalog: MemoryCatalog) -> None:
    result = run(
        catalog,
        "SELECT LastName, account.name, Account.Parent.Name, "
        "Account.Industry FROM Contact ORDER BY LastName",
    )
    jones, obrien, smith = result.records
    acme, west = account_id(catalog, "Acme"), account_id(catalog, "acme West")
    assert smith["Account"] == {
        "attributes": {
            "type": "Account",
            "url": f"/services/data/v59.0/sobjects/Account/{acme}",
        },
        "Name": "Acme",
        "Parent": None,
        "Industry": "Technology",
    }
    assert list(smith) == ["attributes", "LastName", "Account"]
    assert jones["Account"]["Parent"]["Name"] == "Acme"
    assert jones["Account"]["attributes"]["url"].endswith(west)
    assert obrien["Account"] is None


def test_parent_chain_of_five_levels(catalog: MemoryCatalog) -> None:
    result = run(
        catalog,
        "SELECT Account.Parent.Owner.Manager.Username FROM Contact "
        "WHERE LastName = 'jones'",
    )
    owner = result.records[0]["Account"]["Parent"]["Owner"]
    assert owner["attributes"]["type"] == "User"
    assert owner["Manager"]["Username"] == "boss@example.com"


def test_polymorphic_parent_uses_actual_type(catalog: MemoryCatalog) -> None:
    result = run(
        catalog,
        "SELECT Name, Owner.Name, Owner.Username FROM Account "
        "WHERE Name LIKE 'acme%' ORDER BY Name",
    )
    acme, west = result.records
    assert acme["Owner"]["attributes"]["type"] == "User"
    assert acme["Owner"]["Username"] == "ann@example.com"
    assert west["Owner"]["attributes"]["type"] == "Group"
    assert west["Owner"]["attributes"]["url"].split("/")[-1].startswith("00G")
    assert west["Owner"]["Name"] == "Sales Queue"
    assert west["Owner"]["Username"] is None
    assert names(catalog, "Owner.Name = 'sales queue'") == ["acme West"]
    assert names(catalog, "Owner.Username = 'ann@example.com'") == ["Acme", "Beta 100%"]


def test_object_name_prefix_is_accepted(catalog: MemoryCatalog) -> None:
    result = run(
        catalog, "SELECT Account.Name FROM Account WHERE Account.Name = 'Acme'"
    )
    assert [r["Name"] for r in result.records] == ["Acme"]


def test_count(catalog: MemoryCatalog) -> None:
    result = run(catalog, "SELECT COUNT() FROM Account WHERE Name LIKE '%a%'")
    assert (result.total_size, result.records, result.is_count) == (4, [], True)
    assert run(catalog, "SELECT count() FROM Account LIMIT 2").total_size == 2
    assert (
        run(catalog, "SELECT COUNT() FROM Account", include_deleted=True).total_size
        == 5
    )


def test_include_deleted(catalog: MemoryCatalog) -> None:
    assert "Deleted Co" not in names(catalog, "Name != null")
    result = run(
        catalog,
        "SELECT Name, IsDeleted FROM Account WHERE IsDeleted = true",
        include_deleted=True,
    )
    assert result.records[0]["Name"] == "Deleted Co"
    assert result.records[0]["IsDeleted"] is True


# -- WHERE operators -----------------------------------------------------------------


@pytest.mark.parametrize(
    ("where", "expected"),
    [
        ("Name = 'acme'", ["Acme"]),
        ("Name != 'ACME'", ["acme West", "Beta 100%", "Gamma_co"]),
        ("Name <> 'acme'", ["acme West", "Beta 100%", "Gamma_co"]),
        ("Industry != 'Technology'", ["acme West", "Beta 100%", "Gamma_co"]),
        ("Industry = null", ["Beta 100%", "Gamma_co"]),
        ("Industry != null", ["Acme", "acme West"]),
        ("Industry = ''", ["Beta 100%", "Gamma_co"]),
        ("Name < 'b'", ["Acme", "acme West"]),
        ("Name >= 'BETA 100%'", ["Beta 100%", "Gamma_co"]),
        ("Industry > 'A'", ["Acme", "acme West"]),
        ("Industry IN ('technology', 'FINANCE')", ["Acme", "acme West"]),
        ("Industry IN ('Finance', null)", ["acme West", "Beta 100%", "Gamma_co"]),
        ("Industry NOT IN ('Technology')", ["acme West", "Beta 100%", "Gamma_co"]),
        ("Industry NOT IN ('Technology', null)", ["acme West"]),
        ("AnnualRevenue = 1000000", ["Acme"]),
        ("AnnualRevenue > 500", ["Acme", "acme West"]),
        ("AnnualRevenue > 500.5", ["Acme"]),
        ("AnnualRevenue <= 500.5", ["acme West"]),
        ("AnnualRevenue < 1000000.0", ["acme West"]),
        ("AnnualRevenue >= -1", ["Acme", "acme West"]),
        ("AnnualRevenue != 500.5", ["Acme", "Beta 100%", "Gamma_co"]),
        ("AnnualRevenue < null", []),
        ("NumberOfEmployees IN (5, 5000)", ["acme West", "Gamma_co"]),
        ("NumberOfEmployees NOT IN (5, 5000)", ["Acme", "Beta 100%"]),
        ("IsActive__c = true", ["Acme"]),
        ("IsActive__c = false", ["acme West"]),
        ("IsActive__c != true", ["acme West", "Beta 100%", "Gamma_co"]),
        ("Legacy_Id__c = 'L-1'", ["Acme"]),  # unique case-sensitive field
        ("Legacy_Id__c = 'l-1'", ["acme West"]),
    ],
)
def test_comparison_operators(
    catalog: MemoryCatalog, where: str, expected: list[str]
) -> None:
    assert names(catalog, where) == expected


@pytest.mark.parametrize(
    ("pattern", "expected"),
    [
        ("'acme%'", ["Acme", "acme West"]),
        ("'%WEST'", ["acme West"]),
        ("'ac_e'", ["Acme"]),
        ("'%a%'", ["Acme", "acme West", "Beta 100%", "Gamma_co"]),
        (r"'%\%'", ["Beta 100%"]),
        (r"'%\_%'", ["Gamma_co"]),
        ("'%_co'", ["Gamma_co"]),
        ("'acme'", ["Acme"]),
        ("'a.*'", []),  # regex characters are literal
    ],
)
def test_like(catalog: MemoryCatalog, pattern: str, expected: list[str]) -> None:
    assert names(catalog, f"Name LIKE {pattern}") == expected


def test_like_on_null_and_negated(catalog: MemoryCatalog) -> None:
    assert names(catalog, "Industry LIKE '%'") == ["Acme", "acme West"]
    assert names(catalog, "NOT Industry LIKE 'tech%'") == [
        "acme West",
        "Beta 100%",
        "Gamma_co",
    ]


@pytest.mark.parametrize(
    ("where", "expected"),
    [
        ("Tags__c INCLUDES ('a')", ["Acme", "Beta 100%"]),
        ("Tags__c INCLUDES ('A;C')", ["Beta 100%"]),
        ("Tags__c INCLUDES ('a;c', 'c')", ["acme West", "Beta 100%"]),
        ("Tags__c EXCLUDES ('a')", ["acme West", "Gamma_co"]),
        ("Tags__c = 'b;a'", ["Acme"]),
    ],
)
def test_multipicklist(catalog: MemoryCatalog, where: str, expected: list[str]) -> None:
    assert names(catalog, where) == expected


def test_includes_requires_multipicklist(catalog: MemoryCatalog) -> None:
    error = error_of("SELECT Id FROM Account WHERE Name INCLUDES ('a')", catalog)
    assert error.error_code == "INVALID_FIELD"


def test_boolean_logic(catalog: MemoryCatalog) -> None:
    assert names(catalog, "Name LIKE 'acme%' AND Industry = 'Finance'") == ["acme West"]
    assert names(catalog, "Industry = 'Finance' OR NumberOfEmployees > 100") == [
        "acme West",
        "Gamma_co",
    ]
    assert names(
        catalog, "Name LIKE 'a%' AND (Industry = 'Finance' OR AnnualRevenue > 1000)"
    ) == ["Acme", "acme West"]
    assert names(catalog, "NOT (Name LIKE 'a%' OR Name LIKE 'b%')") == ["Gamma_co"]
    assert names(catalog, "NOT NOT Name = 'Acme'") == ["Acme"]
    assert names(
        catalog,
        "(Name = 'Acme' OR Name = 'Gamma_co' OR Name = 'x') AND "
        "(NumberOfEmployees > 10 AND NumberOfEmployees < 100 "
        "AND Industry != null)",
    ) == ["Acme"]


def test_ids_match_in_15_and_18_forms(catalog: MemoryCatalog) -> None:
    acme = account_id(catalog, "Acme")
    for literal in (acme, acme[:15], acme.lower(), acme.upper()):
        assert names(catalog, f"Id = '{literal}'") == ["Acme"]
    assert names(catalog, f"ParentId IN ('{acme[:15]}')") == ["acme West"]
    assert names(catalog, f"Id != '{acme[:15]}' AND ParentId = null") == ["Gamma_co"]
    assert names(catalog, "ParentId = ''") == ["Acme", "Gamma_co"]
    lower_15 = acme[:15].lower()
    if lower_15 != acme[:15]:  # a 15-char id is case-sensitive
        assert names(catalog, f"Id = '{lower_15}'") == []


def test_invalid_id_literal(catalog: MemoryCatalog) -> None:
    error = error_of("SELECT Id FROM Account WHERE Id = 'nope'", catalog)
    assert error.error_code == "INVALID_QUERY_FILTER_OPERATOR"
    assert error.message == "invalid ID field: nope"


def test_relationship_paths_in_where(catalog: MemoryCatalog) -> None:
    assert names(catalog, "Account.Name = 'acme'", "Contact", "LastName") == ["Smith"]
    assert names(catalog, "Account.Parent.Name = 'Acme'", "Contact", "LastName") == [
        "jones"
    ]
    # With OR, rows without a parent still match through the other branch.
    assert names(
        catalog, "Account.Name = 'Acme' OR Email = 'ob@x.org'", "Contact", "LastName"
    ) == ["Smith", "O'Brien"]
    assert names(catalog, "Account.Name != 'Acme'", "Contact", "LastName") == [
        "jones",
        "O'Brien",
    ]


def test_null_anywhere_on_a_path_reads_as_null(catalog: MemoryCatalog) -> None:
    # Level-by-level hierarchy loading, as the migration engine does it.
    assert names(catalog, "ParentId = null") == ["Acme", "Gamma_co"]
    assert names(catalog, "ParentId != null AND Parent.ParentId = null") == [
        "acme West"
    ]
    assert names(
        catalog, "Parent.ParentId != null AND Parent.Parent.ParentId = null"
    ) == ["Beta 100%"]
    assert names(catalog, "Parent.ParentId = null") == ["Acme", "acme West", "Gamma_co"]
    assert names(catalog, "Parent.Parent.ParentId != null") == []
    assert names(catalog, "Parent.Parent.Name = null") == [
        "Acme",
        "acme West",
        "Gamma_co",
    ]


# -- dates --------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("literal", "start", "end"),
    [
        ("YESTERDAY", "2024-05-14", "2024-05-15"),
        ("TODAY", "2024-05-15", "2024-05-16"),
        ("TOMORROW", "2024-05-16", "2024-05-17"),
        ("LAST_WEEK", "2024-05-05", "2024-05-12"),
        ("THIS_WEEK", "2024-05-12", "2024-05-19"),
        ("NEXT_WEEK", "2024-05-19", "2024-05-26"),
        ("LAST_MONTH", "2024-04-01", "2024-05-01"),
        ("THIS_MONTH", "2024-05-01", "2024-06-01"),
        ("NEXT_MONTH", "2024-06-01", "2024-07-01"),
        ("LAST_90_DAYS", "2024-02-15", "2024-05-16"),
        ("NEXT_90_DAYS", "2024-05-16", "2024-08-14"),
        ("THIS_QUARTER", "2024-04-01", "2024-07-01"),
        ("LAST_QUARTER", "2024-01-01", "2024-04-01"),
        ("NEXT_QUARTER", "2024-07-01", "2024-10-01"),
        ("THIS_YEAR", "2024-01-01", "2025-01-01"),
        ("LAST_YEAR", "2023-01-01", "2024-01-01"),
        ("NEXT_YEAR", "2025-01-01", "2026-01-01"),
        ("LAST_N_DAYS:1", "2024-05-14", "2024-05-16"),
        ("LAST_N_DAYS:30", "2024-04-15", "2024-05-16"),
        ("NEXT_N_DAYS:2", "2024-05-16", "2024-05-18"),
        ("N_DAYS_AGO:3", "2024-05-12", "2024-05-13"),
        ("LAST_N_WEEKS:2", "2024-04-28", "2024-05-12"),
        ("NEXT_N_WEEKS:2", "2024-05-19", "2024-06-02"),
        ("N_WEEKS_AGO:1", "2024-05-05", "2024-05-12"),
        ("LAST_N_MONTHS:5", "2023-12-01", "2024-05-01"),
        ("NEXT_N_MONTHS:8", "2024-06-01", "2025-02-01"),
        ("N_MONTHS_AGO:5", "2023-12-01", "2024-01-01"),
        ("LAST_N_QUARTERS:2", "2023-10-01", "2024-04-01"),
        ("NEXT_N_QUARTERS:3", "2024-07-01", "2025-04-01"),
        ("N_QUARTERS_AGO:2", "2023-10-01", "2024-01-01"),
        ("LAST_N_YEARS:2", "2022-01-01", "2024-01-01"),
        ("NEXT_N_YEARS:1", "2025-01-01", "2026-01-01"),
        ("N_YEARS_AGO:1", "2023-01-01", "2024-01-01"),
    ],
)
def test_relative_date_ranges(literal: str, start: str, end: str) -> None:
    condition = parse_where(f"D = {literal}")
    assert isinstance(condition, Comparison)
    value = condition.value.value
    assert isinstance(value, RelativeDate)
    assert soql_dates.resolve(value, NOW.date()) == (
        date.fromisoformat(start),
        date.fromisoformat(end),
    )


def test_weeks_start_on_sunday() -> None:
    sunday, saturday = date(2024, 5, 12), date(2024, 5, 18)
    for day in (sunday, saturday):
        assert soql_dates.resolve(RelativeDate("THIS_WEEK"), day) == (
            sunday,
            date(2024, 5, 19),
        )


def test_quarter_and_month_wrap_across_years() -> None:
    assert soql_dates.resolve(RelativeDate("NEXT_QUARTER"), date(2024, 11, 30)) == (
        date(2025, 1, 1),
        date(2025, 4, 1),
    )
    assert soql_dates.resolve(RelativeDate("LAST_MONTH"), date(2024, 1, 31)) == (
        date(2023, 12, 1),
        date(2024, 1, 1),
    )


@pytest.mark.parametrize(
    ("where", "expected"),
    [
        # Datetime field: 08:00 today, 23:59:59.999 yesterday, Jan 1st, last year.
        ("CreatedDate = TODAY", ["Acme"]),
        ("CreatedDate = YESTERDAY", ["acme West"]),
        ("CreatedDate != TODAY", ["acme West", "Beta 100%", "Gamma_co"]),
        ("CreatedDate < TODAY", ["acme West", "Beta 100%", "Gamma_co"]),
        ("CreatedDate <= YESTERDAY", ["acme West", "Beta 100%", "Gamma_co"]),
        ("CreatedDate > YESTERDAY", ["Acme"]),
        ("CreatedDate >= YESTERDAY", ["Acme", "acme West"]),
        ("CreatedDate = THIS_YEAR", ["Acme", "acme West", "Beta 100%"]),
        ("CreatedDate = LAST_YEAR", ["Gamma_co"]),
        ("CreatedDate = LAST_N_DAYS:1", ["Acme", "acme West"]),
        ("CreatedDate IN (TODAY, LAST_YEAR)", ["Acme", "Gamma_co"]),
        ("CreatedDate = 2024-05-15T08:00:00Z", ["Acme"]),
        ("CreatedDate = 2024-05-15T10:00:00+02:00", ["Acme"]),
        ("CreatedDate > 2024-05-15T08:00:00.000+0000", []),
        ("CreatedDate >= 2024-05-15T08:00:00.000+0000", ["Acme"]),
        ("CreatedDate < 2024-05-15T00:00:00Z", ["acme West", "Beta 100%", "Gamma_co"]),
        ("CreatedDate > 2024-05-14T23:59:59.998Z", ["Acme", "acme West"]),
        (
            "CreatedDate <= 2024-05-14T23:59:59.999Z",
            ["acme West", "Beta 100%", "Gamma_co"],
        ),
        # Date field: 2024-05-14, 2024-05-15, 2023-12-31, null.
        ("LastActivityDate = TODAY", ["acme West"]),
        ("LastActivityDate = YESTERDAY", ["Acme"]),
        ("LastActivityDate = THIS_WEEK", ["Acme", "acme West"]),
        ("LastActivityDate < THIS_YEAR", ["Beta 100%"]),
        ("LastActivityDate > LAST_YEAR", ["Acme", "acme West"]),
        ("LastActivityDate = 2024-05-14", ["Acme"]),
        ("LastActivityDate > 2024-05-14", ["acme West"]),
        ("LastActivityDate <= 2024-05-14", ["Acme", "Beta 100%"]),
        ("LastActivityDate IN (2024-05-14, 2023-12-31)", ["Acme", "Beta 100%"]),
        (
            "LastActivityDate NOT IN (2024-05-14)",
            ["acme West", "Beta 100%", "Gamma_co"],
        ),
        ("LastActivityDate = null", ["Gamma_co"]),
        ("LastActivityDate != null", ["Acme", "acme West", "Beta 100%"]),
    ],
)
def test_date_comparisons(
    catalog: MemoryCatalog, where: str, expected: list[str]
) -> None:
    assert names(catalog, where) == expected


def test_stored_datetimes_with_other_offsets_are_normalised(
    catalog: MemoryCatalog,
) -> None:
    catalog.add("Account", Name="Offset", CreatedDate="2024-05-15T01:00:00.000+0200")
    assert names(catalog, "CreatedDate = YESTERDAY AND Name = 'Offset'") == ["Offset"]


@pytest.mark.parametrize(
    ("where", "type_name", "quoted"),
    [
        ("LastActivityDate = '2024-05-14'", "date", "should not be enclosed"),
        ("LastActivityDate = 2024-05-14T00:00:00Z", "date", "should not be enclosed"),
        ("CreatedDate = 2024-05-14", "dateTime", "should not be enclosed"),
        ("CreatedDate > '2024-05-14T00:00:00Z'", "dateTime", "should not be enclosed"),
        ("Name = 2024-05-14", "string", "should be enclosed"),
        ("Name = TODAY", "string", "should be enclosed"),
        ("Name = 5", "string", "should be enclosed"),
        ("Name IN ('a', 5)", "string", "should be enclosed"),
        ("AnnualRevenue = '5'", "double", "should not be enclosed"),
        ("NumberOfEmployees LIKE '5%'", "integer", "should not be enclosed"),
        ("IsActive__c = 'true'", "boolean", "should not be enclosed"),
        ("Id = 5", "id", "should be enclosed"),
    ],
)
def test_literal_type_errors(
    catalog: MemoryCatalog, where: str, type_name: str, quoted: str
) -> None:
    error = error_of(f"SELECT Id FROM Account WHERE {where}", catalog)
    assert error.error_code == "INVALID_FIELD"
    field = where.split()[0]
    assert error.message.startswith(
        f"value of filter criterion for field '{field}' must be of type "
        f"{type_name} and {quoted}"
    )


# -- ORDER BY, LIMIT, OFFSET ------------------------------------------------------


def _ordered(
    catalog: MemoryCatalog, order: str, sobject: str = "Account", field: str = "Name"
) -> list[str]:
    result = run(catalog, f"SELECT {field} FROM {sobject} ORDER BY {order}")
    return [r[field] for r in result.records]


def test_default_order_is_insertion_order(catalog: MemoryCatalog) -> None:
    result = run(catalog, "SELECT Name FROM Account")
    assert [r["Name"] for r in result.records] == [
        "Acme",
        "acme West",
        "Beta 100%",
        "Gamma_co",
    ]


@pytest.mark.parametrize(
    ("order", "expected"),
    [
        ("Name", ["Acme", "acme West", "Beta 100%", "Gamma_co"]),
        ("Name DESC", ["Gamma_co", "Beta 100%", "acme West", "Acme"]),
        ("Industry", ["Beta 100%", "Gamma_co", "acme West", "Acme"]),
        ("Industry ASC NULLS LAST", ["acme West", "Acme", "Beta 100%", "Gamma_co"]),
        ("Industry DESC", ["Acme", "acme West", "Beta 100%", "Gamma_co"]),
        ("Industry DESC NULLS FIRST", ["Beta 100%", "Gamma_co", "Acme", "acme West"]),
        (
            "Industry DESC NULLS FIRST, Name DESC",
            ["Gamma_co", "Beta 100%", "Acme", "acme West"],
        ),
        (
            "NumberOfEmployees DESC, Name",
            ["Gamma_co", "Acme", "acme West", "Beta 100%"],
        ),
        ("CreatedDate", ["Gamma_co", "Beta 100%", "acme West", "Acme"]),
        ("LastActivityDate DESC", ["acme West", "Acme", "Beta 100%", "Gamma_co"]),
        ("IsActive__c, Name", ["Beta 100%", "Gamma_co", "acme West", "Acme"]),
        (
            "Parent.Name NULLS LAST, Name",
            ["acme West", "Beta 100%", "Acme", "Gamma_co"],
        ),
        ("Owner.Name DESC, Name", ["acme West", "Acme", "Beta 100%", "Gamma_co"]),
    ],
)
def test_order_by(catalog: MemoryCatalog, order: str, expected: list[str]) -> None:
    assert _ordered(catalog, order) == expected


def test_order_by_parent_field_on_child(catalog: MemoryCatalog) -> None:
    assert _ordered(catalog, "Account.Name DESC NULLS LAST", "Contact", "LastName") == [
        "jones",
        "Smith",
        "O'Brien",
    ]


@pytest.mark.parametrize(
    ("clause", "expected"),
    [
        ("LIMIT 2", ["Acme", "acme West"]),
        ("LIMIT 0", []),
        ("LIMIT 2 OFFSET 1", ["acme West", "Beta 100%"]),
        ("OFFSET 3", ["Gamma_co"]),
        ("OFFSET 10", []),
        ("LIMIT 100", ["Acme", "acme West", "Beta 100%", "Gamma_co"]),
    ],
)
def test_limit_offset(catalog: MemoryCatalog, clause: str, expected: list[str]) -> None:
    result = run(catalog, f"SELECT Name FROM Account ORDER BY Name {clause}")
    assert [r["Name"] for r in result.records] == expected
    assert result.total_size == len(expected)


# -- schema errors ------------------------------------------------------------------


def test_unknown_object(catalog: MemoryCatalog) -> None:
    error = error_of("SELECT Id FROM Foo", catalog)
    assert error.error_code == "INVALID_TYPE"
    assert error.message.startswith("sObject type 'Foo' is not supported.")


@pytest.mark.parametrize(
    "soql",
    [
        "SELECT Id, Foo FROM Account",
        "SELECT Id FROM Account WHERE Foo = 'x'",
        "SELECT Id FROM Account ORDER BY Foo",
        "SELECT Id FROM Account WHERE Parent.Foo = null",
        "SELECT Parent.Parent.Foo FROM Account",
        "SELECT COUNT() FROM Account WHERE Foo = 1",
    ],
)
def test_unknown_field(catalog: MemoryCatalog, soql: str) -> None:
    error = error_of(soql, catalog)
    assert error.error_code == "INVALID_FIELD"
    assert error.message == (
        "No such column 'Foo' on entity 'Account'. If you are attempting to use a "
        "custom field, be sure to append the '__c' after the custom field name. "
        "Please reference your WSDL or the describe call for the appropriate names."
    )


@pytest.mark.parametrize(
    "soql",
    [
        "SELECT Foo.Name FROM Account",
        "SELECT Id FROM Contact WHERE Acount.Name = 'x'",
        "SELECT Name.Foo FROM Account",  # Name is not a reference
        "SELECT Parent__r.Name FROM Account",
    ],
)
def test_unknown_relationship(catalog: MemoryCatalog, soql: str) -> None:
    error = error_of(soql, catalog)
    assert error.error_code == "INVALID_FIELD"
    assert error.message.startswith("Didn't understand relationship")


def test_relationship_name_is_not_a_column(catalog: MemoryCatalog) -> None:
    error = error_of("SELECT Account FROM Contact", catalog)
    assert error.error_code == "INVALID_FIELD"
    assert "No such column 'Account' on entity 'Contact'" in error.message


def test_duplicate_after_resolution(catalog: MemoryCatalog) -> None:
    error = error_of("SELECT Name, Account.Name FROM Account", catalog)
    assert error.error_code == "MALFORMED_QUERY"
    assert "duplicate field selected: Name" in error.message


# -- Bulk CSV helpers ---------------------------------------------------------------


def test_columns_are_canonical_dotted_names(catalog: MemoryCatalog) -> None:
    query = parse(
        "SELECT id, account.NAME, Account.Parent.Name, owner.email FROM contact"
    )
    assert columns(query, catalog) == [
        "Id",
        "Account.Name",
        "Account.Parent.Name",
        "Owner.Email",
    ]
    assert columns(parse("SELECT COUNT() FROM Contact"), catalog) == []
    with pytest.raises(SoqlError):
        columns(parse("SELECT Nope FROM Contact"), catalog)


def test_flat_row(catalog: MemoryCatalog) -> None:
    query = parse(
        "SELECT Name, Parent.Name, Parent.Parent.Name, AnnualRevenue, "
        "NumberOfEmployees, IsActive__c, CreatedDate, LastActivityDate "
        "FROM Account ORDER BY Name"
    )
    result = execute(query, catalog, api_version="59.0", include_deleted=False, now=NOW)
    header = columns(query, catalog)
    rows = [flat_row(record, header) for record in result.records]
    assert rows[0] == [
        "Acme",
        "",
        "",
        "1000000.0",
        "50",
        "true",
        "2024-05-15T08:00:00.000Z",
        "2024-05-14",
    ]
    assert rows[1] == [
        "acme West",
        "Acme",
        "",
        "500.5",
        "5",
        "false",
        "2024-05-14T23:59:59.999Z",
        "2024-05-15",
    ]
    assert rows[2][:3] == ["Beta 100%", "acme West", "Acme"]
    assert rows[2][3:6] == ["", "", ""]


def test_flat_row_formats() -> None:
    record = {
        "attributes": {},
        "A": 1e16,
        "B": "2024-01-15T10:30:00+01:00",
        "C": {"D": None},
        "E": "plain, text",
        "F": 0,
    }
    assert flat_row(record, ["A", "B", "C.D", "C.D.E", "E", "F", "a"]) == [
        "10000000000000000",
        "2024-01-15T09:30:00.000Z",
        "",
        "",
        "plain, text",
        "0",
        "10000000000000000",
    ]


# -- efficiency ---------------------------------------------------------------------


def test_parents_are_fetched_once_per_query(catalog: MemoryCatalog) -> None:
    acme = account_id(catalog, "Acme")
    for number in range(200):
        catalog.add("Contact", LastName=f"bulk{number}", AccountId=acme)
    calls: list[str] = []
    original = catalog.get

    def counting_get(sobject: str, record_id: str) -> dict[str, Any] | None:
        calls.append(record_id)
        return original(sobject, record_id)

    catalog.get = counting_get  # type: ignore[method-assign]
    result = run(
        catalog,
        "SELECT Account.Name FROM Contact WHERE Account.Name = 'Acme' "
        "ORDER BY Account.Name",
    )
    assert result.total_size == 201
    assert calls.count(acme) == 1


def test_unordered_limit_stops_early(catalog: MemoryCatalog) -> None:
    seen: list[str] = []

    def rows(sobject: str, *, include_deleted: bool) -> Iterable[dict[str, Any]]:
        for row in catalog.rows[sobject.lower()]:
            seen.append(row["Name"])
            yield row

    catalog.records = rows  # type: ignore[method-assign]
    assert [
        r["Name"] for r in run(catalog, "SELECT Name FROM Account LIMIT 1").records
    ] == ["Acme"]
    assert seen == ["Acme"]
