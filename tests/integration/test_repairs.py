"""Repairs of mappings against the emulator: each changes only what it says, logged."""

from __future__ import annotations

from http import HTTPStatus
from typing import Any

import pytest
from django.contrib.auth.models import Permission, User
from django.test import Client
from django.urls import reverse

from migrations_app.models import AuditEvent, MappingStatus, RecordMapping
from migrations_app.services.errors import MigrationError
from migrations_app.services.repairs import (
    mapping_delete_duplicate,
    mapping_relink,
    mapping_retire,
    mappings_adopt_twins,
)
from migrations_app.services.templates import template_snapshot
from tests.integration.conftest import OrgPair, make_template
from tests.integration.test_migration import (
    CONTACT,
    add_charlie_and_alice,
    seed_contacts,
)

pytestmark = [pytest.mark.django_db, pytest.mark.integration]


@pytest.fixture
def repairer(db: None) -> User:
    return User.objects.create_user("repairer")


def snapshot(mappings: Any) -> list[tuple[Any, ...]]:
    return list(
        mappings.order_by("pk").values_list(
            "pk", "source_id", "target_id", "status", "outdated_reason_code"
        )
    )


def migrated(pair: OrgPair, count: int) -> tuple[Any, list[RecordMapping]]:
    template = make_template("Contacts", CONTACT)
    ids = seed_contacts(pair, count)
    pair.migrate(template, "veid")
    return template, [RecordMapping.objects.get(source_id=i) for i in ids]


def test_relink_points_one_mapping_at_an_unmapped_record_and_logs_it(
    orgs: OrgPair, repairer: User
) -> None:
    _, (first, _second) = migrated(orgs, 2)
    orgs.target_org.delete("Contact", first.target_id)
    RecordMapping.objects.filter(pk=first.pk).update(
        status=MappingStatus.OUTDATED, outdated_reason_code="target_in_recycle_bin"
    )
    first.refresh_from_db()
    replacement = orgs.target_org.insert("Contact", {"LastName": "Replacement"})
    untouched = snapshot(RecordMapping.objects.exclude(pk=first.pk))
    old_target = first.target_id

    mapping_relink(mapping=first, target_id=replacement[:15], actor=repairer)

    first.refresh_from_db()
    assert (first.target_id, first.status) == (replacement, MappingStatus.ACTIVE)
    assert (first.outdated_reason_code, first.values_hash) == ("", "")
    assert snapshot(RecordMapping.objects.exclude(pk=first.pk)) == untouched
    event = AuditEvent.objects.get(action="mapping_relinked")
    assert event.actor == repairer
    assert event.details["before"]["target_id"] == old_target
    assert event.details["after"]["target_id"] == replacement
    assert event.details["after"]["status"] == "active"


@pytest.mark.parametrize("case", ["mapped", "deleted", "malformed"])
def test_relink_refuses_a_mapped_missing_or_malformed_target(
    orgs: OrgPair, repairer: User, case: str
) -> None:
    _, (first, second) = migrated(orgs, 2)
    gone = orgs.target_org.insert("Contact", {"LastName": "Gone"})
    orgs.target_org.delete("Contact", gone)
    target, message = {
        "mapped": (second.target_id, "already mapped"),
        "deleted": (gone, "No Contact"),
        "malformed": ("not-an-id", "not a 15- or 18-character"),
    }[case]
    before = snapshot(RecordMapping.objects.all())

    with pytest.raises(MigrationError, match=message):
        mapping_relink(mapping=first, target_id=target, actor=repairer)

    assert snapshot(RecordMapping.objects.all()) == before
    assert not AuditEvent.objects.filter(action="mapping_relinked").exists()


def test_retire_removes_only_an_outdated_mapping_and_the_next_run_inserts(
    orgs: OrgPair, repairer: User
) -> None:
    template, (first, second) = migrated(orgs, 2)
    with pytest.raises(MigrationError, match="Only an outdated mapping"):
        mapping_retire(mapping=first, actor=repairer)
    orgs.target_org.delete("Contact", first.target_id)
    RecordMapping.objects.filter(pk=first.pk).update(
        status=MappingStatus.OUTDATED, outdated_reason_code="target_in_recycle_bin"
    )
    first.refresh_from_db()

    mapping_retire(mapping=first, actor=repairer)

    assert list(RecordMapping.objects.values_list("pk", flat=True)) == [second.pk]
    event = AuditEvent.objects.get(action="mapping_retired")
    assert event.details["before"]["source_id"] == first.source_id
    assert event.details["after"]["source_id"] is None
    result = orgs.migrate(template, "veid")
    assert result["totals"]["inserted"] == 1
    assert RecordMapping.objects.get(source_id=first.source_id).target_id != (
        first.target_id
    )


def test_adopt_twins_maps_the_records_the_preflight_found(
    orgs: OrgPair, repairer: User
) -> None:
    template, _ = migrated(orgs, 2)
    add_charlie_and_alice(orgs)
    before = RecordMapping.objects.count()

    result = mappings_adopt_twins(
        source_org=orgs.source,
        target_org=orgs.target,
        template_snapshot=dict(template_snapshot(template=template)),
        actor=repairer,
    )

    assert (len(result.adopted), result.skipped) == (2, 0)
    assert RecordMapping.objects.count() == before + 2
    event = AuditEvent.objects.get(action="mappings_adopted")
    assert len(event.details["after"]["mappings"]) == 2
    # The next veid run updates the adopted records instead of duplicating them.
    second = orgs.migrate(template, "veid")
    assert second["totals"]["inserted"] == 0
    assert orgs.target_org.count("Contact") == 4


def test_delete_duplicate_needs_the_typed_id_then_relinks_to_the_survivor(
    orgs: OrgPair, repairer: User
) -> None:
    template, _ = migrated(orgs, 1)
    add_charlie_and_alice(orgs)
    orgs.migrate(template, "veid")
    charlie = [
        c
        for c in orgs.target_org.records("Contact")
        if c["Email"] == "charlie@example.com"
    ]
    mapping = RecordMapping.objects.get(target_id__in=[c["Id"] for c in charlie])
    survivor = next(c["Id"] for c in charlie if c["Id"] != mapping.target_id)
    doomed = mapping.target_id
    with pytest.raises(MigrationError, match="Type the id"):
        mapping_delete_duplicate(
            mapping=mapping, survivor_id=survivor, confirmation="yes", actor=repairer
        )
    assert orgs.target_org.get("Contact", doomed)["IsDeleted"] is False

    mapping_delete_duplicate(
        mapping=mapping, survivor_id=survivor, confirmation=doomed, actor=repairer
    )

    assert orgs.target_org.get("Contact", doomed)["IsDeleted"] is True
    mapping.refresh_from_db()
    assert (mapping.target_id, mapping.status) == (survivor, MappingStatus.ACTIVE)
    event = AuditEvent.objects.get(action="duplicate_deleted")
    assert event.details["deleted_record"] == doomed
    assert event.details["before"]["target_id"] == doomed
    assert event.details["after"]["target_id"] == survivor


def repair_client(user: User) -> Client:
    user.user_permissions.set(
        Permission.objects.filter(
            content_type__app_label="migrations_app",
            codename__in=["view_recordmapping", "repair_mapping"],
        )
    )
    client = Client()
    client.force_login(user)
    return client


def test_dashboard_relink_repairs_and_lists_the_event_on_the_mapping(
    orgs: OrgPair, repairer: User
) -> None:
    _, (first, second) = migrated(orgs, 2)
    replacement = orgs.target_org.insert("Contact", {"LastName": "Replacement"})
    client = repair_client(repairer)
    relink = reverse("migrations_app:mapping-relink", args=[first.pk])
    detail = reverse("migrations_app:mapping-detail", args=[first.pk])

    refused = client.post(relink, {"target_id": second.target_id})
    done = client.post(relink, {"target_id": replacement[:15]})

    assert refused.status_code == HTTPStatus.BAD_REQUEST
    assert "already mapped" in refused.content.decode()
    assert done.status_code == HTTPStatus.FOUND
    first.refresh_from_db()
    assert first.target_id == replacement
    page = client.get(detail).content.decode()
    assert "mapping_relinked" in page
    assert repairer.get_username() in page


def test_dashboard_delete_duplicate_needs_the_typed_id(
    orgs: OrgPair, repairer: User
) -> None:
    template, _ = migrated(orgs, 1)
    add_charlie_and_alice(orgs)
    orgs.migrate(template, "veid")
    charlie = [
        c["Id"]
        for c in orgs.target_org.records("Contact")
        if c["Email"] == "charlie@example.com"
    ]
    mapping = RecordMapping.objects.get(target_id__in=charlie)
    survivor = next(i for i in charlie if i != mapping.target_id)
    url = reverse("migrations_app:mapping-delete-duplicate", args=[mapping.pk])
    client = repair_client(repairer)

    wrong = client.post(url, {"survivor_id": survivor, "confirmation": "delete"})
    right = client.post(
        url, {"survivor_id": survivor, "confirmation": mapping.target_id}
    )

    assert wrong.status_code == HTTPStatus.BAD_REQUEST
    assert right.status_code == HTTPStatus.FOUND
    assert orgs.target_org.get("Contact", mapping.target_id)["IsDeleted"] is True
    mapping.refresh_from_db()
    assert mapping.target_id == survivor
