"""Pre-flight planning and object ordering, on plain describe data."""

from __future__ import annotations

from migrations_app.engine.planning import ObjectSpec, order_objects, plan_migration
from migrations_app.engine.schema import FieldInfo, ObjectSchema


def schema(name: str, *fields: FieldInfo) -> ObjectSchema:
    base = [
        FieldInfo(
            "Id",
            "id",
            createable=False,
            updateable=False,
            nillable=False,
            defaulted_on_create=True,
        )
    ]
    return ObjectSchema(name, {f.name.lower(): f for f in (*base, *fields)})


def ref(name: str, *targets: str, relationship: str = "") -> FieldInfo:
    return FieldInfo(
        name,
        "reference",
        reference_to=targets,
        relationship_name=relationship or name[:-2],
    )


ACCOUNT = schema(
    "Account",
    FieldInfo("Name", "string", nillable=False),
    FieldInfo("Industry", "picklist"),
    ref("ParentId", "Account", relationship="Parent"),
    FieldInfo("CreatedDate", "datetime", createable=False, updateable=False),
)
CONTACT = schema(
    "Contact",
    FieldInfo("LastName", "string", nillable=False),
    FieldInfo("Email", "email"),
    ref("AccountId", "Account"),
)
OPPORTUNITY = schema(
    "Opportunity",
    FieldInfo("Name", "string", nillable=False),
    ref("AccountId", "Account"),
)


def test_children_are_ordered_after_their_parents() -> None:
    specs = [
        ObjectSpec("Opportunity", ("Name", "AccountId")),
        ObjectSpec("Contact", ("LastName", "AccountId")),
        ObjectSpec("Account", ("Name", "ParentId")),
    ]
    schemas = {"Account": ACCOUNT, "Contact": CONTACT, "Opportunity": OPPORTUNITY}
    plan = plan_migration(specs, schemas, schemas)
    assert [p.sobject for p in plan.objects] == ["Account", "Opportunity", "Contact"]
    assert plan.objects[0].self_lookup == "ParentId"
    assert plan.objects[0].self_relationship == "Parent"
    assert not plan.problems


def test_fields_missing_in_target_are_dropped_with_a_reason() -> None:
    target = schema("Account", FieldInfo("Name", "string", nillable=False))
    plan = plan_migration(
        [ObjectSpec("Account", ("Name", "Industry"))],
        {"Account": ACCOUNT},
        {"Account": target},
    )
    assert plan.objects[0].insert_fields == ("Name",)
    assert [(p.field, p.blocking) for p in plan.problems] == [("Industry", False)]
    assert "does not exist in the target org" in plan.problems[0].message


def test_read_only_target_fields_are_not_written() -> None:
    plan = plan_migration(
        [ObjectSpec("Account", ("Name", "CreatedDate"))],
        {"Account": ACCOUNT},
        {"Account": ACCOUNT},
    )
    assert plan.objects[0].insert_fields == ("Name",)
    assert plan.objects[0].read_fields == ("Id", "Name", "CreatedDate")
    assert plan.warnings[0].field == "CreatedDate"


def test_required_target_field_not_selected_blocks_the_run() -> None:
    plan = plan_migration(
        [ObjectSpec("Contact", ("Email",))], {"Contact": CONTACT}, {"Contact": CONTACT}
    )
    assert [(p.field, p.blocking) for p in plan.blocking] == [("LastName", True)]


def test_type_mismatch_blocks_the_run() -> None:
    target = schema(
        "Account",
        FieldInfo("Name", "string", nillable=False),
        FieldInfo("Industry", "double"),
    )
    plan = plan_migration(
        [ObjectSpec("Account", ("Name", "Industry"))],
        {"Account": ACCOUNT},
        {"Account": target},
    )
    assert plan.blocking[0].field == "Industry"
    assert "picklist in the source org but double" in plan.blocking[0].message


def test_missing_objects_and_source_fields_block_the_run() -> None:
    plan = plan_migration(
        [
            ObjectSpec("Invoice__c", ("Name",)),
            ObjectSpec("Account", ("Name", "Nope__c")),
        ],
        {"Account": ACCOUNT, "Invoice__c": None},
        {"Account": ACCOUNT, "Invoice__c": None},
    )
    messages = [p.message for p in plan.blocking]
    assert "Invoice__c does not exist in the source org" in messages
    assert "Invoice__c does not exist in the target org" in messages
    assert "Account.Nope__c does not exist in the source org" in messages


def test_match_key_is_read_but_only_written_when_selected() -> None:
    plan = plan_migration(
        [ObjectSpec("Contact", ("LastName",), match_key=("Email",))],
        {"Contact": CONTACT},
        {"Contact": CONTACT},
    )
    assert plan.objects[0].read_fields == ("Id", "LastName", "Email")
    assert plan.objects[0].insert_fields == ("LastName",)


def test_a_true_cycle_defers_the_earlier_objects_lookup() -> None:
    account = schema(
        "Account",
        FieldInfo("Name", "string", nillable=False),
        ref("Primary__c", "Contact"),
    )
    specs = [
        ObjectSpec("Account", ("Name", "Primary__c")),
        ObjectSpec("Contact", ("LastName", "AccountId")),
    ]
    schemas = {"Account": account, "Contact": CONTACT}
    plan = plan_migration(specs, schemas, schemas)
    ordered = order_objects(plan.objects)
    assert [p.sobject for p in ordered] == ["Account", "Contact"]
    assert ordered[0].deferred_fields == ("Primary__c",)
    assert ordered[1].deferred_fields == ()
