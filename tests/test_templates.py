"""Template import, export, snapshot and validation; the two commands; describe pickers."""

from __future__ import annotations

import copy
import io
import json
from pathlib import Path
from typing import Any

import pytest
from django.core.exceptions import ValidationError
from django.core.management import CommandError, call_command

from migrations_app.models import Org, Run, Template, TemplateObject
from migrations_app.salesforce.errors import SalesforceError
from migrations_app.services import templates as template_services
from migrations_app.services.errors import MigrationError
from migrations_app.services.templates import (
    template_export,
    template_export_json,
    template_import,
    template_picker_fields,
    template_picker_sobjects,
    template_snapshot,
    template_validate_filter,
)

pytestmark = pytest.mark.django_db

CONTACTS: dict[str, Any] = {
    "name": "Contacts",
    "objects": [
        {
            "sobject": "Contact",
            "fields": ["FirstName", "LastName", "Email"],
            "filter": "",
            "match_key": ["Email"],
        }
    ],
}


def three_objects() -> dict[str, Any]:
    return {
        "name": "Sales",
        "description": "Accounts, their contacts and opportunities",
        "objects": [
            {"sobject": "Account", "fields": ["Name", "BillingCity", "ParentId"]},
            {
                "sobject": "Contact",
                "fields": ["FirstName", "LastName", "Email", "AccountId"],
                "match_key": ["Email"],
                "missing_parent_policy": "fail_record",
            },
            {
                "sobject": "Opportunity",
                "fields": ["Name", "StageName", "CloseDate", "AccountId"],
                "filter": "StageName != 'Closed Lost' AND CloseDate = LAST_N_DAYS:90",
                "options": {"only_changed": False, "batch_size": 100},
            },
        ],
    }


def problems_of(data: dict[str, Any] | str) -> list[str]:
    with pytest.raises(ValidationError) as caught:
        template_import(data=data)
    return caught.value.messages


def with_change(path: tuple[Any, ...], value: Any) -> dict[str, Any]:
    """``three_objects()`` with the value at ``path`` replaced (or removed)."""
    document = three_objects()
    parent: Any = document
    for part in path[:-1]:
        parent = parent[part]
    if value is REMOVE:
        del parent[path[-1]]
    else:
        parent[path[-1]] = value
    return document


REMOVE = object()


# Import -----------------------------------------------------------------------------


def test_import_accepts_the_minimal_form_from_the_issue() -> None:
    template = template_import(data=copy.deepcopy(CONTACTS))

    assert template.name == "Contacts"
    assert template.description == ""
    item = template.template_objects.get()
    assert item.sobject == "Contact"
    assert item.fields == ["FirstName", "LastName", "Email"]
    assert item.filter == ""
    assert item.match_key == ["Email"]
    assert item.missing_parent_policy == "leave_empty"
    assert item.options == {}
    assert item.position == 0


def test_import_keeps_the_file_order_and_every_key() -> None:
    template = template_import(data=json.dumps(three_objects()))

    objects = list(template.template_objects.order_by("position"))
    assert [(o.position, o.sobject) for o in objects] == [
        (0, "Account"),
        (1, "Contact"),
        (2, "Opportunity"),
    ]
    assert template.description == "Accounts, their contacts and opportunities"
    assert objects[1].missing_parent_policy == "fail_record"
    assert objects[2].filter.startswith("StageName != 'Closed Lost'")
    assert objects[2].options == {"only_changed": False, "batch_size": 100}


def test_import_accepts_a_byte_order_mark_and_null_optionals() -> None:
    document = copy.deepcopy(CONTACTS)
    document["objects"][0].update(filter=None, match_key=None, options=None)

    template = template_import(data="\ufeff" + json.dumps(document))

    item = template.template_objects.get()
    assert (item.filter, item.match_key, item.options) == ("", [], {})


INVALID_FILES = [
    pytest.param(
        '{"name": "X", "objects": [}',
        "invalid JSON at line 1, column 27: Expecting value",
        id="json-syntax",
    ),
    pytest.param(
        '{\n  "name": "X",\n  "objects": [\n    {"sobject": "Contact",}\n  ]\n}',
        "invalid JSON at line 4, column 27: "
        "Expecting property name enclosed in double quotes",
        id="json-syntax-multiline",
    ),
    pytest.param(
        '{"name": "X", "objects": [{"sobject": "Contact", "fields": ["Email"], '
        '"fields": ["Name"]}]}',
        'duplicate key "fields" in the JSON',
        id="json-duplicate-key",
    ),
    pytest.param(
        '{"name": "X", "objects": [{"sobject": "Contact", "fields": ["Email"], '
        '"options": {"ratio": NaN}}]}',
        "invalid JSON: NaN is not a JSON value",
        id="json-nan",
    ),
    pytest.param("[]", "a template must be a JSON object, not a list", id="not-object"),
    pytest.param(
        with_change(("name",), REMOVE), '"name" is required', id="name-missing"
    ),
    pytest.param(
        with_change(("name",), 12),
        "name: expected a string, got a number",
        id="name-type",
    ),
    pytest.param(
        with_change(("name",), "  "), "name: must not be empty", id="name-empty"
    ),
    pytest.param(
        with_change(("name",), "x" * 201),
        "name: at most 200 characters (got 201)",
        id="name-long",
    ),
    pytest.param(
        with_change(("description",), ["a"]),
        "description: expected a string, got a list",
        id="description-type",
    ),
    pytest.param(
        with_change(("version",), 2),
        "version: unsupported format version 2; this Data Migrator reads version 1",
        id="version",
    ),
    pytest.param(
        with_change(("owner",), "me"),
        'unknown key "owner" (allowed keys: version, name, description, objects)',
        id="unknown-top-key",
    ),
    pytest.param(
        with_change(("objects",), REMOVE), '"objects" is required', id="objects-missing"
    ),
    pytest.param(
        with_change(("objects",), {"sobject": "Contact"}),
        "objects: expected a list of objects, got an object",
        id="objects-type",
    ),
    pytest.param(
        with_change(("objects",), []),
        "objects: must list at least one object",
        id="objects-empty",
    ),
    pytest.param(
        with_change(("objects", 1), "Contact"),
        "objects[1]: expected an object, got a string",
        id="object-type",
    ),
    pytest.param(
        with_change(("objects", 0, "field"), ["Name"]),
        'objects[0]: unknown key "field" (did you mean "fields"?)',
        id="unknown-object-key",
    ),
    pytest.param(
        with_change(("objects", 0, "sobject"), REMOVE),
        'objects[0]: "sobject" is required',
        id="sobject-missing",
    ),
    pytest.param(
        with_change(("objects", 0, "sobject"), True),
        "objects[0].sobject: expected an sObject API name, got true",
        id="sobject-type",
    ),
    pytest.param(
        with_change(("objects", 0, "sobject"), "My Object"),
        'objects[0].sobject: "My Object" is not a valid sObject API name',
        id="sobject-name",
    ),
    pytest.param(
        with_change(("objects", 2, "sobject"), "account"),
        'objects[2].sobject: "account" is listed twice (also objects[0].sobject); '
        "a template copies each sObject once",
        id="sobject-duplicate",
    ),
    pytest.param(
        with_change(("objects", 0, "fields"), REMOVE),
        'objects[0]: "fields" is required',
        id="fields-missing",
    ),
    pytest.param(
        with_change(("objects", 0, "fields"), "Name, BillingCity"),
        "objects[0].fields: expected a list of field API names, got a string",
        id="fields-type",
    ),
    pytest.param(
        with_change(("objects", 0, "fields"), []),
        "objects[0].fields: must list at least one field",
        id="fields-empty",
    ),
    pytest.param(
        with_change(("objects", 1, "fields", 1), "Last Name"),
        'objects[1].fields[1]: "Last Name" is not a valid field API name',
        id="field-name-space",
    ),
    pytest.param(
        with_change(("objects", 1, "fields", 3), "Account.Name"),
        'objects[1].fields[3]: "Account.Name" is not a valid field API name',
        id="field-name-path",
    ),
    pytest.param(
        with_change(("objects", 0, "fields", 2), "Bad__"),
        'objects[0].fields[2]: "Bad__" is not a valid field API name',
        id="field-name-trailing-underscore",
    ),
    pytest.param(
        with_change(("objects", 0, "fields", 1), 7),
        "objects[0].fields[1]: expected a field API name, got a number",
        id="field-type",
    ),
    pytest.param(
        with_change(("objects", 0, "fields", 2), "name"),
        'objects[0].fields[2]: "name" is listed twice (also objects[0].fields[0])',
        id="field-duplicate",
    ),
    pytest.param(
        with_change(("objects", 1, "match_key"), "Email"),
        "objects[1].match_key: expected a list of field API names, got a string",
        id="match-key-type",
    ),
    pytest.param(
        with_change(("objects", 1, "match_key"), ["E-mail"]),
        'objects[1].match_key[0]: "E-mail" is not a valid field API name',
        id="match-key-name",
    ),
    pytest.param(
        with_change(("objects", 1, "match_key"), ["Email", "Phone"]),
        'objects[1].match_key[1]: "Phone" is not among the fields; '
        'add it to "fields" first',
        id="match-key-not-selected",
    ),
    pytest.param(
        with_change(("objects", 2, "filter"), "Email != null AND AND Name = 'x'"),
        "objects[2].filter: unexpected token: 'AND' at column 19",
        id="filter-syntax",
    ),
    pytest.param(
        with_change(("objects", 2, "filter"), "Amount > 5\nAND"),
        "objects[2].filter: unexpected token: '<EOF>' at line 2, column 4",
        id="filter-syntax-second-line",
    ),
    pytest.param(
        with_change(("objects", 2, "filter"), "Name = 'Acme"),
        "objects[2].filter: unterminated string literal at column 8",
        id="filter-unterminated-string",
    ),
    pytest.param(
        with_change(("objects", 2, "filter"), "WHERE Name = 'Acme'"),
        "objects[2].filter: write the condition without the WHERE keyword",
        id="filter-where-keyword",
    ),
    pytest.param(
        with_change(("objects", 2, "filter"), "Amount > 5 GROUP BY Name"),
        "objects[2].filter: GROUP BY at column 12 is not allowed in a filter; "
        "write only the condition",
        id="filter-group-by",
    ),
    pytest.param(
        with_change(("objects", 2, "filter"), "Name = :name"),
        "objects[2].filter: bind variable at column 8: "
        ":name only works in Apex, not in a filter",
        id="filter-bind-variable",
    ),
    pytest.param(
        with_change(("objects", 2, "filter"), ["Name = 'x'"]),
        "objects[2].filter: expected a SOQL condition as a string, got a list",
        id="filter-type",
    ),
    pytest.param(
        with_change(("objects", 1, "missing_parent_policy"), "skip"),
        'objects[1].missing_parent_policy: "skip" is not a policy; '
        'use "leave_empty" or "fail_record"',
        id="policy",
    ),
    pytest.param(
        with_change(("objects", 2, "options"), ["only_changed"]),
        "objects[2].options: expected an object, got a list",
        id="options-type",
    ),
]


@pytest.mark.parametrize(("data", "expected"), INVALID_FILES)
def test_import_refuses_invalid_file_saying_what_and_where(
    data: dict[str, Any] | str, expected: str
) -> None:
    assert problems_of(copy.deepcopy(data)) == [expected]
    assert not Template.objects.exists()


def test_import_reports_every_problem_at_once() -> None:
    document = three_objects()
    document["objects"][0]["fields"][1] = "Billing City"
    document["objects"][1]["sobject"] = "Contact Person"
    document["objects"][2]["filter"] = "StageName = "

    assert problems_of(document) == [
        'objects[0].fields[1]: "Billing City" is not a valid field API name',
        'objects[1].sobject: "Contact Person" is not a valid sObject API name',
        "objects[2].filter: unexpected token: '<EOF>' at column 12",
    ]


def test_import_refuses_an_existing_name_unless_replacing() -> None:
    template_import(data=copy.deepcopy(CONTACTS))

    assert problems_of(copy.deepcopy(CONTACTS)) == [
        'name: a template named "Contacts" already exists; '
        "import with replace to overwrite it"
    ]
    assert Template.objects.count() == 1


def test_replace_swaps_objects_and_leaves_runs_their_snapshot() -> None:
    template = template_import(data=copy.deepcopy(CONTACTS))
    run = _run_of(template)
    replacement = three_objects()
    replacement["name"] = "Contacts"

    replaced = template_import(data=replacement, replace=True)

    assert replaced.pk == template.pk
    assert replaced.description == "Accounts, their contacts and opportunities"
    assert list(
        TemplateObject.objects.filter(template=template)
        .order_by("position")
        .values_list("sobject", flat=True)
    ) == ["Account", "Contact", "Opportunity"]
    run.refresh_from_db()
    assert run.template_id == template.pk
    assert run.template_snapshot["objects"][0]["fields"] == [
        "FirstName",
        "LastName",
        "Email",
    ]
    assert len(run.template_snapshot["objects"]) == 1


def test_invalid_replacement_leaves_the_template_untouched() -> None:
    template_import(data=copy.deepcopy(CONTACTS))
    broken = copy.deepcopy(CONTACTS)
    broken["objects"][0]["filter"] = "Email = "

    with pytest.raises(ValidationError):
        template_import(data=broken, replace=True)

    item = TemplateObject.objects.get(template__name="Contacts")
    assert item.filter == ""


def test_replace_of_a_new_name_creates_it() -> None:
    template = template_import(data=copy.deepcopy(CONTACTS), replace=True)

    assert template.template_objects.count() == 1


# Export and snapshot ----------------------------------------------------------------


def test_export_has_every_key_in_a_stable_order() -> None:
    template = template_import(data=three_objects())

    exported = template_export(template=template)

    assert list(exported) == ["version", "name", "description", "objects"]
    assert exported["version"] == 1
    assert exported["objects"][0] == {
        "sobject": "Account",
        "fields": ["Name", "BillingCity", "ParentId"],
        "filter": "",
        "match_key": [],
        "missing_parent_policy": "leave_empty",
        "options": {},
        "transforms": {},
    }
    # Options come out sorted whatever the order they were written in.
    assert list(exported["objects"][2]["options"]) == ["batch_size", "only_changed"]


def test_export_import_round_trip() -> None:
    original = template_import(data=three_objects())
    text = template_export_json(template=original)
    original.delete()

    again = template_import(data=text)

    assert template_export_json(template=again) == text
    assert json.loads(text)["objects"][1]["match_key"] == ["Email"]


def test_export_json_is_pretty_and_keeps_non_ascii() -> None:
    document = copy.deepcopy(CONTACTS)
    document["description"] = "Kontakte für München"
    template = template_import(data=document)

    text = template_export_json(template=template)

    assert text.startswith('{\n  "version": 1,\n  "name": "Contacts",\n')
    assert "für München" in text
    assert text.endswith("}\n")


def test_snapshot_is_the_export() -> None:
    template = template_import(data=three_objects())

    assert template_snapshot(template=template) == template_export(template=template)


# Filter ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "filter_text",
    [
        "",
        "   ",
        "Email != null",
        "(Industry = 'Tech' OR Industry = 'Media') AND NOT Name LIKE 'Test%'",
        "CreatedDate = LAST_N_DAYS:30 AND Amount >= 1000.50",
        # Real orgs accept semi-joins; only the local emulator cannot run them.
        "AccountId IN (SELECT Id FROM Account WHERE Industry = 'Tech')",
    ],
)
def test_validate_filter_accepts_valid_conditions(filter_text: str) -> None:
    template_validate_filter(sobject="Contact", filter_text=filter_text)


def test_validate_filter_names_the_object_and_the_place() -> None:
    with pytest.raises(ValidationError) as caught:
        template_validate_filter(sobject="Contact", filter_text="Email = null OR AND")

    assert caught.value.messages == [
        "Contact filter: unexpected token: 'AND' at column 17"
    ]


# Commands ----------------------------------------------------------------------------


def test_command_imports_a_file(tmp_path: Path) -> None:
    path = tmp_path / "contacts.json"
    path.write_text(json.dumps(CONTACTS), encoding="utf-8")
    out = io.StringIO()

    call_command("template_import", str(path), stdout=out)

    assert out.getvalue() == 'Imported template "Contacts": Contact\n'
    assert Template.objects.get().template_objects.get().match_key == ["Email"]


def test_command_imports_from_stdin() -> None:
    out = io.StringIO()

    call_command(
        "template_import",
        "-",
        stdin=io.StringIO(json.dumps(three_objects())),
        stdout=out,
    )

    assert (
        out.getvalue() == 'Imported template "Sales": Account, Contact, Opportunity\n'
    )


def test_command_refuses_an_invalid_file_with_the_problems(tmp_path: Path) -> None:
    document = copy.deepcopy(CONTACTS)
    document["objects"][0]["fields"].append("Last Name")
    path = tmp_path / "bad.json"
    path.write_text(json.dumps(document), encoding="utf-8")

    with pytest.raises(CommandError) as caught:
        call_command("template_import", str(path))

    assert str(caught.value) == (
        f"{path} is not a valid template: "
        'objects[0].fields[3]: "Last Name" is not a valid field API name'
    )
    assert not Template.objects.exists()


def test_command_replace_flag(tmp_path: Path) -> None:
    template_import(data=copy.deepcopy(CONTACTS))
    document = copy.deepcopy(CONTACTS)
    document["objects"][0]["fields"] = ["LastName"]
    document["objects"][0]["match_key"] = []
    path = tmp_path / "contacts.json"
    path.write_text(json.dumps(document), encoding="utf-8")

    with pytest.raises(CommandError, match="already exists"):
        call_command("template_import", str(path))
    call_command("template_import", str(path), "--replace", stdout=io.StringIO())

    assert TemplateObject.objects.get().fields == ["LastName"]


def test_command_reports_an_unreadable_file(tmp_path: Path) -> None:
    missing = tmp_path / "missing.json"

    with pytest.raises(
        CommandError, match=r"^Cannot read .*missing\.json: No such file"
    ):
        call_command("template_import", str(missing))


def test_command_exports_to_stdout() -> None:
    template = template_import(data=three_objects())
    out = io.StringIO()

    call_command("template_export", "Sales", stdout=out)

    assert out.getvalue() == template_export_json(template=template)


def test_command_exports_to_a_file_that_imports_back(tmp_path: Path) -> None:
    template = template_import(data=three_objects())
    expected = template_export_json(template=template)
    path = tmp_path / "sales.json"

    call_command(
        "template_export", "Sales", "--output", str(path), stdout=io.StringIO()
    )
    template.delete()
    call_command("template_import", str(path), stdout=io.StringIO())

    assert path.read_text(encoding="utf-8") == expected
    assert template_export_json(template=Template.objects.get()) == expected


def test_command_export_of_an_unknown_name_lists_the_templates() -> None:
    template_import(data=copy.deepcopy(CONTACTS))

    with pytest.raises(CommandError) as caught:
        call_command("template_export", "Contact")

    assert (
        str(caught.value) == 'There is no template named "Contact". Templates: Contacts'
    )


# Describe for the pickers ---------------------------------------------------------------


class FakeDescribeClient:
    """Answers describe calls with canned Salesforce JSON."""

    def __init__(self, *, error: SalesforceError | None = None) -> None:
        self.error = error

    def describe_global(self) -> list[dict[str, Any]]:
        if self.error:
            raise self.error
        return [
            {"name": "Contact", "label": "Contact", "custom": False,
             "queryable": True, "createable": True},
            {"name": "AccountHistory", "label": "Account History", "custom": False,
             "queryable": True, "createable": False},
            {"name": "Invoice__c", "label": "Invoice", "custom": True,
             "queryable": True, "createable": True},
        ]  # fmt: skip

    def describe(self, sobject: str) -> dict[str, Any]:
        if self.error:
            raise self.error
        return {
            "name": sobject,
            "fields": [
                {"name": "LastName", "label": "Last Name", "type": "string",
                 "createable": True, "updateable": True, "nillable": False,
                 "defaultedOnCreate": False, "referenceTo": []},
                {"name": "OwnerId", "label": "Owner ID", "type": "reference",
                 "createable": True, "updateable": True, "nillable": False,
                 "defaultedOnCreate": True, "referenceTo": ["User"]},
                {"name": "Id", "label": "Contact ID", "type": "id",
                 "createable": False, "updateable": False, "nillable": False,
                 "defaultedOnCreate": True, "referenceTo": []},
                {"name": "AccountId", "label": "Account ID", "type": "reference",
                 "createable": True, "updateable": True, "nillable": True,
                 "defaultedOnCreate": False, "referenceTo": ["Account"]},
            ],
        }  # fmt: skip


@pytest.fixture
def org() -> Org:
    return Org.objects.create(name="source", login_url="https://login.example.com")


def _use_client(monkeypatch: pytest.MonkeyPatch, client: FakeDescribeClient) -> None:
    monkeypatch.setattr("migrations_app.services.orgs.org_client", lambda org: client)


def test_picker_sobjects_are_creatable_ones_by_label(
    monkeypatch: pytest.MonkeyPatch, org: Org
) -> None:
    _use_client(monkeypatch, FakeDescribeClient())

    assert template_picker_sobjects(org=org) == [
        {"name": "Contact", "label": "Contact", "custom": False},
        {"name": "Invoice__c", "label": "Invoice", "custom": True},
    ]


def test_picker_fields_mark_what_an_insert_requires(
    monkeypatch: pytest.MonkeyPatch, org: Org
) -> None:
    _use_client(monkeypatch, FakeDescribeClient())

    fields = template_picker_fields(org=org, sobject="Contact")

    assert [(f["name"], f["required"]) for f in fields] == [
        ("AccountId", False),
        ("Id", False),
        ("LastName", True),
        ("OwnerId", False),
    ]
    assert fields[0]["reference_to"] == ["Account"]
    assert fields[1]["createable"] is False


def test_picker_fields_of_an_unknown_object_is_a_validation_error(
    monkeypatch: pytest.MonkeyPatch, org: Org
) -> None:
    error = SalesforceError(
        "NOT_FOUND: The requested resource does not exist",
        code="NOT_FOUND",
        status=404,
        permanent=True,
    )
    _use_client(monkeypatch, FakeDescribeClient(error=error))

    with pytest.raises(ValidationError) as caught:
        template_picker_fields(org=org, sobject="Contactt")

    assert caught.value.messages == ['source has no sObject "Contactt"']


def test_picker_refuses_a_malformed_object_name_without_calling_salesforce(
    monkeypatch: pytest.MonkeyPatch, org: Org
) -> None:
    def no_client(org: Org) -> None:
        raise AssertionError("must not log in")

    monkeypatch.setattr("migrations_app.services.orgs.org_client", no_client)

    with pytest.raises(ValidationError, match="is not a valid sObject API name"):
        template_picker_fields(org=org, sobject="../limits")


def test_picker_salesforce_failure_is_a_migration_error(
    monkeypatch: pytest.MonkeyPatch, org: Org
) -> None:
    error = SalesforceError(
        "REQUEST_LIMIT_EXCEEDED: TotalRequests Limit exceeded.",
        code="REQUEST_LIMIT_EXCEEDED",
        status=403,
        permanent=False,
    )
    _use_client(monkeypatch, FakeDescribeClient(error=error))

    with pytest.raises(MigrationError) as caught:
        template_picker_sobjects(org=org)

    assert caught.value.message == (
        "source: cannot list sObjects: "
        "REQUEST_LIMIT_EXCEEDED: TotalRequests Limit exceeded."
    )


# Helpers -----------------------------------------------------------------------------


def _run_of(template: Template) -> Run:
    source = Org.objects.create(
        name="run-source", login_url="https://login.example.com"
    )
    target = Org.objects.create(
        name="run-target", login_url="https://login.example.com"
    )
    return Run.objects.create(
        template=template,
        template_snapshot=template_services.template_snapshot(template=template),
        source_org=source,
        target_org=target,
        strategy="veid",
    )
