"""Field transforms (issue 14): the template file's "transforms", and the pure engine."""

from __future__ import annotations

import re
from datetime import date
from typing import Any

import pytest
from django.core.exceptions import ValidationError

from migrations_app.engine.schema import FieldInfo
from migrations_app.engine.transforms import (
    Kind,
    TransformError,
    apply_transforms,
    looks_personal,
    mask_value,
    parse_transform,
    parse_transforms,
    transform_problems,
    transforms_summary,
)
from migrations_app.services.templates import template_export, template_import

SECRET = b"test secret"
CONTACT: dict[str, Any] = {
    "name": "Masked",
    "objects": [
        {
            "sobject": "Contact",
            "fields": ["FirstName", "LastName", "Email", "Phone", "Title"],
            "transforms": {
                "Email": "mask",
                "Phone": "empty",
                "Title": {"prefix": "T-"},
                "FirstName": "keep",
                "LastName": {"fixed": "Seeded"},
            },
        }
    ],
}


def problems_of(document: dict[str, Any]) -> list[str]:
    with pytest.raises(ValidationError) as caught:
        template_import(data=document)
    return caught.value.messages


@pytest.mark.django_db
def test_transforms_are_saved_and_exported_without_the_kept_fields() -> None:
    template = template_import(data=CONTACT)

    exported = template_export(template=template)["objects"][0]["transforms"]

    assert exported == {
        "Email": "mask",
        "Phone": "empty",
        "Title": {"prefix": "T-"},
        "LastName": {"fixed": "Seeded"},
    }


@pytest.mark.django_db
@pytest.mark.parametrize(
    ("transforms", "message"),
    [
        (
            {"Email": "scramble"},
            'objects[0].transforms.Email: "scramble" is not a transform',
        ),
        (
            {"Birthdate": "mask"},
            'objects[0].transforms.Birthdate: "Birthdate" is not among the fields',
        ),
        (
            {"Email": {"fixed": [1]}},
            "objects[0].transforms.Email: a fixed value is a string",
        ),
        (
            {"Email": {"prefix": ""}},
            "objects[0].transforms.Email: give a non-empty prefix",
        ),
        (
            {"Email": {"upper": True}},
            "objects[0].transforms.Email: unknown transform keys upper",
        ),
        (["Email"], "objects[0].transforms: expected an object, got a list"),
    ],
)
def test_bad_transforms_are_refused_with_their_path(
    transforms: Any, message: str
) -> None:
    document = {
        **CONTACT,
        "objects": [{**CONTACT["objects"][0], "transforms": transforms}],
    }

    problems = problems_of(document)

    assert any(problem.startswith(message) for problem in problems), problems


INFO = {
    "email": FieldInfo("Email", "email", length=80),
    "phone": FieldInfo("Phone", "phone", length=40),
    "firstname": FieldInfo("FirstName", "string", length=40),
    "lastname": FieldInfo("LastName", "string", length=80),
    "mailingpostalcode": FieldInfo("MailingPostalCode", "string", length=20),
    "birthdate": FieldInfo("Birthdate", "date"),
    "leadsource": FieldInfo("LeadSource", "picklist", picklist_values=("Web", "Other")),
    "numberofemployees": FieldInfo("NumberOfEmployees", "int", digits=8),
    "amount": FieldInfo("Amount", "currency", precision=5, scale=2),
    "optout": FieldInfo("OptOut", "boolean"),
    "accountid": FieldInfo("AccountId", "reference", reference_to=("Account",)),
    "title": FieldInfo("Title", "string", length=8),
}


def masked(
    values: dict[str, Any], source_id: str = "003000000000001AAA"
) -> dict[str, Any]:
    transforms = {name.lower(): parse_transform("mask") for name in values}
    return apply_transforms(
        values,
        sobject="Contact",
        source_id=source_id,
        transforms=transforms,
        fields=INFO,
        secret=SECRET,
    )


SOURCE = {
    "Email": "jane.doe@corp.example.com",
    "Phone": "+33 1 23 45 67 89",
    "FirstName": "Jane",
    "LastName": "Doe",
    "MailingPostalCode": "75001",
    "Birthdate": "1984-03-02",
    "LeadSource": "Web",
    "NumberOfEmployees": 42,
    "Amount": 123.45,
    "OptOut": True,
    "AccountId": "001000000000001AAA",
}


def test_masking_is_deterministic_and_valid_per_type() -> None:
    first, again = masked(SOURCE), masked(SOURCE)

    assert first == again
    assert re.fullmatch(
        r"[a-z]+\.[a-z]+\.[0-9a-f]{10}@example\.invalid", first["Email"]
    )
    assert re.fullmatch(r"\+1 \(555\) \d{3}-\d{4}", first["Phone"])
    assert first["FirstName"].isalpha()
    assert first["LastName"].isalpha()
    assert re.fullmatch(r"\d{5}", first["MailingPostalCode"])
    assert 1950 <= date.fromisoformat(first["Birthdate"]).year <= 2004
    assert first["LeadSource"] in ("Web", "Other")
    assert 0 <= first["NumberOfEmployees"] < 10**8
    assert 0 <= first["Amount"] < 1000
    assert round(first["Amount"], 2) == first["Amount"]
    assert isinstance(first["OptOut"], bool)
    # Lookups are mapped, never masked.
    assert first["AccountId"] == SOURCE["AccountId"]
    for name in ("Email", "Phone", "FirstName", "LastName", "MailingPostalCode"):
        assert first[name] != SOURCE[name]


def test_masks_differ_by_record_and_by_secret_and_empty_stays_empty() -> None:
    one = masked({"Email": "a@corp.example.com"}, "003000000000001AAA")
    other = masked({"Email": "a@corp.example.com"}, "003000000000002AAA")
    assert one["Email"] != other["Email"]
    info = INFO["email"]
    assert mask_value("a@b.com", info, b"x" * 32) != mask_value(
        "a@b.com", info, b"y" * 32
    )
    assert masked({"Email": None, "Phone": ""}) == {"Email": None, "Phone": ""}


def test_other_transforms() -> None:
    transforms = parse_transforms(
        {"Title": {"prefix": "T-", "suffix": "!"}, "Phone": "empty", "Email": "keep"}
    )
    values = apply_transforms(
        {"Title": "Engineer", "Phone": "123", "Email": "x@y.z"},
        sobject="Contact",
        source_id="003000000000001AAA",
        transforms=transforms,
        fields=INFO,
        secret=SECRET,
    )
    # The prefix and suffix stay; the value is shortened to the field's 8 characters.
    assert values == {"Title": "T-Engin!", "Phone": None, "Email": "x@y.z"}
    assert "email" not in transforms
    with pytest.raises(TransformError):
        parse_transform({"fixed": 1, "prefix": "x"})


def test_transforms_the_target_cannot_take_are_problems() -> None:
    required = FieldInfo("LastName", "string", nillable=False)
    problems = transform_problems(
        {"lastname": parse_transform("empty"), "accountid": parse_transform("mask")},
        {"lastname": required, "accountid": INFO["accountid"]},
    )
    assert [(name, blocking) for name, _, blocking in problems] == [
        ("LastName", True),
        ("AccountId", True),
    ]


def test_personal_fields_and_the_launch_summary() -> None:
    assert looks_personal("Contact", "Email")
    assert looks_personal("Lead", "Name")
    assert looks_personal("Contact", "Home_Phone__c")
    assert not looks_personal("Account", "Name")
    assert not looks_personal("Contact", "Title")
    summary = transforms_summary(
        [
            {
                "sobject": "Contact",
                "fields": ["Email", "Phone", "Title", "Birthdate"],
                "transforms": {"Email": "mask", "Phone": {"fixed": "none"}},
            }
        ]
    )[0]
    assert summary.transformed == [("Email", "masked"), ("Phone", "fixed value 'none'")]
    assert summary.unmasked_personal == ["Birthdate"]
    assert parse_transform("mask").kind is Kind.MASK
