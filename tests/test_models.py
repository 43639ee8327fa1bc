"""The database itself refuses what would break the VEID invariants."""

from __future__ import annotations

import pytest
from django.db import IntegrityError, transaction

from migrations_app.models import Org, RecordMapping, Run, Strategy

pytestmark = pytest.mark.django_db

SOURCE_ID = "0010A0000000001AAA"
OTHER_SOURCE_ID = "0010A0000000002AAA"
TARGET_ID = "0010B0000000001AAA"
OTHER_TARGET_ID = "0010B0000000002AAA"


def make_mapping(
    source: Org, target: Org, source_id: str, target_id: str
) -> RecordMapping:
    return RecordMapping.objects.create(
        source_org=source,
        target_org=target,
        sobject="Account",
        source_id=source_id,
        target_id=target_id,
    )


def test_second_mapping_for_the_same_source_record_is_refused(
    org_pair: tuple[Org, Org],
) -> None:
    source, target = org_pair
    make_mapping(source, target, SOURCE_ID, TARGET_ID)
    with pytest.raises(IntegrityError), transaction.atomic():
        make_mapping(source, target, SOURCE_ID, OTHER_TARGET_ID)


def test_second_source_record_for_the_same_target_record_is_refused(
    org_pair: tuple[Org, Org],
) -> None:
    source, target = org_pair
    make_mapping(source, target, SOURCE_ID, TARGET_ID)
    with pytest.raises(IntegrityError), transaction.atomic():
        make_mapping(source, target, OTHER_SOURCE_ID, TARGET_ID)


def test_same_source_record_may_map_into_another_target_org(
    org_pair: tuple[Org, Org],
) -> None:
    source, target = org_pair
    other_target = Org.objects.create(
        name="other", login_url="https://login.example.com"
    )
    make_mapping(source, target, SOURCE_ID, TARGET_ID)
    make_mapping(source, other_target, SOURCE_ID, TARGET_ID)
    assert RecordMapping.objects.count() == 2


def test_ids_must_be_18_characters(org_pair: tuple[Org, Org]) -> None:
    source, target = org_pair
    with pytest.raises(IntegrityError), transaction.atomic():
        make_mapping(source, target, SOURCE_ID[:15], TARGET_ID)


def test_unknown_status_is_refused(org_pair: tuple[Org, Org]) -> None:
    source, target = org_pair
    mapping = make_mapping(source, target, SOURCE_ID, TARGET_ID)
    with pytest.raises(IntegrityError), transaction.atomic():
        RecordMapping.objects.filter(pk=mapping.pk).update(status="lost")


def make_run(source: Org, target: Org, status: str, *, dry_run: bool = False) -> Run:
    return Run.objects.create(
        template_snapshot={"name": "t", "objects": []},
        source_org=source,
        target_org=target,
        strategy=Strategy.VEID,
        status=status,
        dry_run=dry_run,
    )


def test_two_running_writers_on_one_org_pair_are_refused(
    org_pair: tuple[Org, Org],
) -> None:
    source, target = org_pair
    make_run(source, target, Run.Status.RUNNING)
    make_run(source, target, Run.Status.QUEUED)
    make_run(source, target, Run.Status.RUNNING, dry_run=True)
    with pytest.raises(IntegrityError), transaction.atomic():
        make_run(source, target, Run.Status.RUNNING)


def test_credentials_are_encrypted_at_rest(org_pair: tuple[Org, Org]) -> None:
    source, _ = org_pair
    source.set_credentials({"client_secret": "s3cr3t-value"})
    source.save()
    stored = Org.objects.values_list("credentials_encrypted", flat=True).get(
        pk=source.pk
    )
    assert "s3cr3t-value" not in stored
    assert Org.objects.get(pk=source.pk).credentials == {
        "client_secret": "s3cr3t-value"
    }
