"""Template admin: validation at save time, import/export, and the describe pickers."""

from __future__ import annotations

import io
import json
import zipfile
from http import HTTPStatus
from typing import Any

import pytest
from django.contrib.auth.models import User
from django.core.files.uploadedfile import SimpleUploadedFile
from django.test import Client
from django.urls import reverse

from migrations_app.models import Org, Template, TemplateObject
from migrations_app.salesforce.errors import SalesforceError
from migrations_app.services.errors import MigrationError
from migrations_app.services.templates import template_export_json, template_import

pytestmark = pytest.mark.django_db

ADD_URL = "admin:migrations_app_template_add"
CHANGELIST_URL = "admin:migrations_app_template_changelist"
IMPORT_URL = "admin:migrations_app_template_import"
DESCRIBE_URL = "admin:migrations_app_template_describe"

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


def template_form(*objects: dict[str, str], name: str = "Contacts") -> dict[str, str]:
    """POST data of the template add form with one inline form per object."""
    data = {
        "name": name,
        "description": "",
        "describe_org": "",
        "template_objects-TOTAL_FORMS": str(len(objects)),
        "template_objects-INITIAL_FORMS": "0",
        "template_objects-MIN_NUM_FORMS": "0",
        "template_objects-MAX_NUM_FORMS": "1000",
        "_save": "Save",
    }
    for index, values in enumerate(objects):
        row = {
            "position": str(index),
            "sobject": "Contact",
            "fields": '["FirstName", "LastName", "Email"]',
            "filter": "",
            "match_key": '["Email"]',
            "missing_parent_policy": "leave_empty",
            "options": "{}",
            **values,
        }
        data.update({f"template_objects-{index}-{key}": v for key, v in row.items()})
    return data


def inline_errors(response: Any) -> list[str]:
    formset = response.context["inline_admin_formsets"][0].formset
    messages = [str(error) for error in formset.non_form_errors()]
    for form in formset.forms:
        for field, errors in form.errors.items():
            messages.extend(f"{field}: {error}" for error in errors)
    return messages


# Saving through the admin -------------------------------------------------------------


def test_admin_saves_a_valid_template(admin_client: Client) -> None:
    response = admin_client.post(
        reverse(ADD_URL), template_form({"filter": "Email != null"})
    )

    assert response.status_code == HTTPStatus.FOUND
    item = TemplateObject.objects.get(template__name="Contacts")
    assert item.fields == ["FirstName", "LastName", "Email"]
    assert item.filter == "Email != null"
    assert item.options == {}


def test_admin_refuses_a_malformed_filter_when_saving(admin_client: Client) -> None:
    response = admin_client.post(
        reverse(ADD_URL), template_form({"filter": "Email = null OR AND"})
    )

    assert response.status_code == HTTPStatus.OK
    assert inline_errors(response) == ["filter: unexpected token: 'AND' at column 17"]
    assert not Template.objects.exists()


def test_admin_refuses_invalid_field_names_and_match_key(admin_client: Client) -> None:
    response = admin_client.post(
        reverse(ADD_URL),
        template_form(
            {
                "sobject": "Contact Person",
                "fields": '["FirstName", "Last Name"]',
                "match_key": '["Email"]',
            }
        ),
    )

    assert response.status_code == HTTPStatus.OK
    assert inline_errors(response) == [
        'sobject: "Contact Person" is not a valid sObject API name',
        'fields: "Last Name" is not a valid field API name',
        'match_key: "Email" is not among the fields; add it to "fields" first',
    ]
    assert not Template.objects.exists()


def test_admin_refuses_fields_that_are_not_a_list(admin_client: Client) -> None:
    response = admin_client.post(
        reverse(ADD_URL), template_form({"fields": '"FirstName"', "options": "[]"})
    )

    assert inline_errors(response) == [
        "fields: expected a list of field API names, got a string",
        "options: expected an object, got a list",
    ]


def test_admin_refuses_the_same_object_twice(admin_client: Client) -> None:
    response = admin_client.post(
        reverse(ADD_URL), template_form({}, {"sobject": "contact"})
    )

    assert response.status_code == HTTPStatus.OK
    assert inline_errors(response) == [
        '"contact" is listed twice (also object 1); a template copies each sObject once'
    ]
    assert not Template.objects.exists()


def test_admin_change_page_loads_the_pickers(admin_client: Client) -> None:
    Org.objects.create(name="sandbox", login_url="https://test.salesforce.com")
    connected = Org.objects.create(
        name="prod",
        login_url="https://login.salesforce.com",
        connection_status=Org.ConnectionStatus.CONNECTED,
    )
    template = template_import(data=json.loads(json.dumps(CONTACTS)))

    response = admin_client.get(
        reverse("admin:migrations_app_template_change", args=[template.pk])
    )

    content = response.content.decode()
    assert "migrations_app/admin/template_pickers.js" in content
    assert f'data-describe-url="{reverse(DESCRIBE_URL)}"' in content
    assert 'class="dm-sobject-input' in content
    assert 'class="dm-fields-input' in content
    field = response.context["adminform"].form.fields["describe_org"]
    # Connected orgs come first and the first one is chosen.
    assert [org.name for org in field.queryset] == ["prod", "sandbox"]
    assert response.context["adminform"].form["describe_org"].value() == connected.pk


# Import and export ---------------------------------------------------------------------


def test_changelist_links_to_the_import_page(admin_client: Client) -> None:
    response = admin_client.get(reverse(CHANGELIST_URL))

    assert f'href="{reverse(IMPORT_URL)}"' in response.content.decode()


def test_import_page_requires_login(client: Client) -> None:
    response = client.get(reverse(IMPORT_URL))

    assert response.status_code == HTTPStatus.FOUND
    assert response["Location"].startswith(reverse("admin:login"))


def test_import_page_creates_the_template(admin_client: Client) -> None:
    upload = SimpleUploadedFile("contacts.json", json.dumps(CONTACTS).encode())

    response = admin_client.post(reverse(IMPORT_URL), {"file": upload}, follow=True)

    template = Template.objects.get(name="Contacts")
    assert response.redirect_chain == [
        (reverse("admin:migrations_app_template_change", args=[template.pk]), 302)
    ]
    assert [str(m) for m in response.context["messages"]] == [
        "Imported template “Contacts” with 1 object."
    ]


def test_import_page_shows_what_is_wrong(admin_client: Client) -> None:
    document = json.loads(json.dumps(CONTACTS))
    document["objects"][0]["filter"] = "Email = null OR AND"
    upload = SimpleUploadedFile("contacts.json", json.dumps(document).encode())

    response = admin_client.post(reverse(IMPORT_URL), {"file": upload})

    assert response.status_code == HTTPStatus.OK
    assert response.context["form"].errors == {
        "file": ["objects[0].filter: unexpected token: 'AND' at column 17"]
    }
    assert not Template.objects.exists()


def test_import_page_refuses_a_non_utf8_file(admin_client: Client) -> None:
    upload = SimpleUploadedFile("contacts.json", b'{"name": "M\xfcnchen"}')

    response = admin_client.post(reverse(IMPORT_URL), {"file": upload})

    assert response.context["form"].errors == {
        "file": ["The file is not UTF-8 text (invalid byte at offset 11)."]
    }


def test_import_page_replaces_only_when_asked(admin_client: Client) -> None:
    template_import(data=json.loads(json.dumps(CONTACTS)))
    document = json.loads(json.dumps(CONTACTS))
    document["objects"][0]["fields"] = ["LastName", "Email"]

    refused = admin_client.post(
        reverse(IMPORT_URL),
        {"file": SimpleUploadedFile("c.json", json.dumps(document).encode())},
    )
    replaced = admin_client.post(
        reverse(IMPORT_URL),
        {
            "file": SimpleUploadedFile("c.json", json.dumps(document).encode()),
            "replace": "on",
        },
    )

    assert refused.context["form"].errors["file"] == [
        'name: a template named "Contacts" already exists; '
        "import with replace to overwrite it"
    ]
    assert replaced.status_code == HTTPStatus.FOUND
    assert TemplateObject.objects.get().fields == ["LastName", "Email"]


def test_export_action_downloads_the_json(admin_client: Client) -> None:
    template = template_import(data=json.loads(json.dumps(CONTACTS)))

    response = admin_client.post(
        reverse(CHANGELIST_URL),
        {"action": "export_json", "_selected_action": [template.pk]},
    )

    assert response.status_code == HTTPStatus.OK
    assert response["Content-Type"] == "application/json"
    assert response["Content-Disposition"] == 'attachment; filename="contacts.json"'
    assert response.content.decode() == template_export_json(template=template)


def test_export_action_zips_several_templates(admin_client: Client) -> None:
    first = template_import(data=json.loads(json.dumps(CONTACTS)))
    document = json.loads(json.dumps(CONTACTS))
    document["name"] = "Contacts (copy)"
    second = template_import(data=document)

    response = admin_client.post(
        reverse(CHANGELIST_URL),
        {"action": "export_json", "_selected_action": [first.pk, second.pk]},
    )

    assert response["Content-Type"] == "application/zip"
    archive = zipfile.ZipFile(io.BytesIO(response.content))
    assert sorted(archive.namelist()) == ["contacts-copy.json", "contacts.json"]
    exported = archive.read("contacts-copy.json").decode()
    assert exported == template_export_json(template=second)


# The describe view behind the pickers ---------------------------------------------------


class FakeDescribeClient:
    def __init__(self, *, error: Exception | None = None) -> None:
        self.error = error

    def describe_global(self) -> list[dict[str, Any]]:
        if self.error:
            raise self.error
        return [
            {"name": "Contact", "label": "Contact", "custom": False,
             "queryable": True, "createable": True},
            {"name": "Account", "label": "Account", "custom": False,
             "queryable": True, "createable": True},
            {"name": "ContactHistory", "label": "Contact History", "custom": False,
             "queryable": True, "createable": False},
        ]  # fmt: skip

    def describe(self, sobject: str) -> dict[str, Any]:
        if self.error:
            raise self.error
        if sobject != "Contact":
            raise SalesforceError(
                "NOT_FOUND: The requested resource does not exist",
                code="NOT_FOUND",
                status=404,
                permanent=True,
            )
        return {
            "name": "Contact",
            "fields": [
                {"name": "LastName", "label": "Last Name", "type": "string",
                 "createable": True, "updateable": True, "nillable": False,
                 "defaultedOnCreate": False, "referenceTo": []},
                {"name": "Email", "label": "Email", "type": "email",
                 "createable": True, "updateable": True, "nillable": True,
                 "defaultedOnCreate": False, "referenceTo": []},
            ],
        }  # fmt: skip


@pytest.fixture
def org() -> Org:
    return Org.objects.create(name="source", login_url="https://login.example.com")


@pytest.fixture
def fake_client(monkeypatch: pytest.MonkeyPatch) -> FakeDescribeClient:
    client = FakeDescribeClient()
    monkeypatch.setattr("migrations_app.services.orgs.org_client", lambda org: client)
    return client


def describe(client: Client, **params: Any) -> Any:
    return client.get(reverse(DESCRIBE_URL), params)


def test_describe_requires_login(client: Client, org: Org) -> None:
    response = describe(client, org=org.pk)

    assert response.status_code == HTTPStatus.FOUND
    assert response["Location"].startswith(reverse("admin:login"))


def test_describe_refuses_non_staff(client: Client, org: Org) -> None:
    client.force_login(User.objects.create_user("someone", password="x"))

    response = describe(client, org=org.pk)

    assert response.status_code == HTTPStatus.FOUND
    assert response["Location"].startswith(reverse("admin:login"))


def test_describe_refuses_staff_who_cannot_edit_templates(
    client: Client, org: Org
) -> None:
    client.force_login(User.objects.create_user("viewer", password="x", is_staff=True))

    response = describe(client, org=org.pk)

    assert response.status_code == HTTPStatus.FORBIDDEN
    assert response.json() == {"error": "You may not edit templates."}


def test_describe_lists_sobjects(
    admin_client: Client, org: Org, fake_client: FakeDescribeClient
) -> None:
    response = describe(admin_client, org=org.pk)

    assert response.status_code == HTTPStatus.OK
    assert response.json() == {
        "org": {"id": org.pk, "name": "source"},
        "sobjects": [
            {"name": "Account", "label": "Account", "custom": False},
            {"name": "Contact", "label": "Contact", "custom": False},
        ],
    }


def test_describe_lists_fields_with_required_marks(
    admin_client: Client, org: Org, fake_client: FakeDescribeClient
) -> None:
    response = describe(admin_client, org=org.pk, sobject="Contact")

    assert response.status_code == HTTPStatus.OK
    body = response.json()
    assert body["sobject"] == "Contact"
    assert body["fields"] == [
        {"name": "Email", "label": "Email", "type": "email", "required": False,
         "createable": True, "updateable": True, "reference_to": []},
        {"name": "LastName", "label": "Last Name", "type": "string", "required": True,
         "createable": True, "updateable": True, "reference_to": []},
    ]  # fmt: skip


def test_describe_unknown_sobject_is_a_bad_request(
    admin_client: Client, org: Org, fake_client: FakeDescribeClient
) -> None:
    response = describe(admin_client, org=org.pk, sobject="Contct")

    assert response.status_code == HTTPStatus.BAD_REQUEST
    assert response.json() == {"error": 'source has no sObject "Contct"'}


@pytest.mark.parametrize(
    ("params", "status", "error"),
    [
        ({}, HTTPStatus.BAD_REQUEST, "Choose an org first."),
        ({"org": "abc"}, HTTPStatus.BAD_REQUEST, "Choose an org first."),
        ({"org": "999999"}, HTTPStatus.NOT_FOUND, "There is no org 999999."),
    ],
)
def test_describe_needs_an_existing_org(
    admin_client: Client, params: dict[str, str], status: HTTPStatus, error: str
) -> None:
    response = describe(admin_client, **params)

    assert response.status_code == status
    assert response.json() == {"error": error}


def test_describe_login_failure_is_a_bad_gateway(
    admin_client: Client, org: Org, monkeypatch: pytest.MonkeyPatch
) -> None:
    def refuse(org: Org) -> None:
        raise MigrationError("source: invalid_client: invalid client credentials")

    monkeypatch.setattr("migrations_app.services.orgs.org_client", refuse)

    response = describe(admin_client, org=org.pk)

    assert response.status_code == HTTPStatus.BAD_GATEWAY
    assert response.json() == {
        "error": "source: invalid_client: invalid client credentials"
    }


def test_describe_salesforce_failure_is_a_bad_gateway(
    admin_client: Client, org: Org, fake_client: FakeDescribeClient
) -> None:
    fake_client.error = SalesforceError(
        "Connection to https://x.my.salesforce.com failed: timed out",
        code="TRANSPORT",
        permanent=False,
    )

    response = describe(admin_client, org=org.pk, sobject="Contact")

    assert response.status_code == HTTPStatus.BAD_GATEWAY
    assert response.json() == {
        "error": "source: cannot describe Contact: "
        "Connection to https://x.my.salesforce.com failed: timed out"
    }


def test_describe_only_answers_get(admin_client: Client, org: Org) -> None:
    response = admin_client.post(reverse(DESCRIBE_URL), {"org": org.pk})

    assert response.status_code == HTTPStatus.METHOD_NOT_ALLOWED
