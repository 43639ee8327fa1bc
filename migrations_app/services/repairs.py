"""Repairs of the mapping table: the only ways a mapping row changes outside a run.

Each repair checks what it is told against the target org, changes only what it says,
and appends an audit event with who, when, and the mapping before and after.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from django.db import IntegrityError, transaction
from django.utils import timezone

from migrations_app.engine import soql
from migrations_app.engine.ids import to_18
from migrations_app.models import MappingStatus, Org, RecordMapping
from migrations_app.salesforce.client import SalesforceClient
from migrations_app.salesforce.errors import SalesforceError
from migrations_app.services.duplicates import find_twins
from migrations_app.services.errors import MigrationError
from migrations_app.services.events import Actor, event_record
from migrations_app.services.orgs import org_client

# What an event records of a mapping, before and after.
MAPPING_FIELDS = (
    "sobject",
    "source_id",
    "target_id",
    "status",
    "outdated_reason_code",
    "outdated_reason",
    "target_organization_id",
    "values_hash",
)


def mapping_state(mapping: RecordMapping) -> dict[str, Any]:
    return {"mapping_id": mapping.pk} | {
        name: getattr(mapping, name) for name in MAPPING_FIELDS
    }


def mapping_relink(
    *,
    mapping: RecordMapping,
    target_id: str,
    actor: Actor,
    client: SalesforceClient | None = None,
) -> RecordMapping:
    """Point ``mapping`` at another target record, which must exist and be unmapped.

    The mapping becomes active; its values fingerprint is cleared so the next run
    sends the source values to the new record.
    """
    new_id = _valid_id(target_id)
    if new_id == mapping.target_id and mapping.status == MappingStatus.ACTIVE:
        raise MigrationError(f"The mapping already points at {new_id}")
    client = client or org_client(mapping.target_org)
    _check_alive(client, mapping.sobject, new_id)
    organization_id = client.identity().organization_id
    before = mapping_state(mapping)
    with transaction.atomic():
        _check_unmapped(mapping, new_id)
        _point_at(mapping, new_id, organization_id)
        try:
            mapping.save()
        except IntegrityError:
            raise MigrationError(f"{new_id} is already mapped") from None
        event_record(
            actor=actor,
            action="mapping_relinked",
            org=mapping.target_org,
            details={"mapping_id": mapping.pk},
            before=before,
            after=mapping_state(mapping),
        )
    return mapping


def mapping_retire(*, mapping: RecordMapping, actor: Actor) -> None:
    """Remove an outdated mapping, so that the next run inserts the record again.

    The row is gone; the audit event keeps everything it said.
    """
    if mapping.status != MappingStatus.OUTDATED:
        raise MigrationError(
            "Only an outdated mapping can be retired; relink an active one instead"
        )
    with transaction.atomic():
        event_record(
            actor=actor,
            action="mapping_retired",
            org=mapping.target_org,
            details={"mapping_id": mapping.pk},
            before=mapping_state(mapping),
            after={},
        )
        mapping.delete()


@dataclass(frozen=True)
class Adopted:
    adopted: list[RecordMapping]
    skipped: int  # source records with several twins, or twins wanted twice


def mappings_adopt_twins(
    *,
    source_org: Org,
    target_org: Org,
    template_snapshot: dict[str, Any],
    actor: Actor,
    sobject: str = "",
) -> Adopted:
    """Map each unmapped source record to its one unmapped match-key twin, in bulk.

    What the pre-flight found, made into mappings: records with several candidate
    twins, or whose twin another source record also wants, are left alone.
    """
    adopted: list[RecordMapping] = []
    skipped = 0
    for twins in find_twins(
        template_snapshot=template_snapshot,
        source_org=source_org,
        target_org=target_org,
        only=sobject,
    ):
        unique = _unambiguous(twins.pairs, source_org, target_org)
        skipped += len(twins.pairs) - len(unique)
        adopted += _adopt(source_org, target_org, twins.sobject, unique, actor)
    return Adopted(adopted=adopted, skipped=skipped)


def _unambiguous(
    pairs: dict[str, list[str]], source_org: Org, target_org: Org
) -> dict[str, str]:
    mapped = set(
        RecordMapping.objects.filter(
            source_org=source_org,
            target_org=target_org,
            target_id__in=[t for targets in pairs.values() for t in targets],
        ).values_list("target_id", flat=True)
    )
    wanted: dict[str, int] = {}
    for targets in pairs.values():
        for target in targets:
            wanted[target] = wanted.get(target, 0) + 1
    return {
        source_id: targets[0]
        for source_id, targets in pairs.items()
        if len(targets) == 1 and targets[0] not in mapped and wanted[targets[0]] == 1
    }


def _adopt(
    source_org: Org,
    target_org: Org,
    sobject: str,
    pairs: dict[str, str],
    actor: Actor,
) -> list[RecordMapping]:
    if not pairs:
        return []
    rows = [
        RecordMapping(
            source_org=source_org,
            target_org=target_org,
            sobject=sobject,
            source_id=source_id,
            target_id=target_id,
            target_organization_id=target_org.organization_id,
            source_organization_id=source_org.organization_id,
        )
        for source_id, target_id in sorted(pairs.items())
    ]
    with transaction.atomic():
        created = RecordMapping.objects.bulk_create(rows)
        event_record(
            actor=actor,
            action="mappings_adopted",
            org=target_org,
            details={
                "sobject": sobject,
                "source_org": source_org.name,
                "count": len(created),
            },
            before={"mappings": []},
            after={"mappings": [[m.source_id, m.target_id] for m in created]},
        )
    return created


def mapping_delete_duplicate(
    *,
    mapping: RecordMapping,
    survivor_id: str,
    confirmation: str,
    actor: Actor,
    client: SalesforceClient | None = None,
) -> RecordMapping:
    """Delete in the target the duplicate record ``mapping`` points at, and relink the
    mapping to ``survivor_id``, the unmapped record with the same match key.

    ``confirmation`` must repeat the id of the record to delete: the deletion goes to
    the target org's recycle bin, the relink is recorded in the audit log.
    """
    doomed = mapping.target_id
    if (to_18(confirmation) or "") != doomed:
        raise MigrationError(
            f"Type the id of the record to delete ({doomed}) to confirm"
        )
    if mapping.created_by_run_id is None:
        raise MigrationError(
            "Only a duplicate this app created (a mapping written by a run) can be "
            "deleted here"
        )
    survivor = _valid_id(survivor_id)
    if survivor == doomed:
        raise MigrationError("The surviving record must be another record")
    client = client or org_client(mapping.target_org)
    _check_alive(client, mapping.sobject, survivor)
    _check_unmapped(mapping, survivor)
    try:
        client.delete(mapping.sobject, doomed)
    except SalesforceError as exc:
        raise MigrationError(f"Could not delete {doomed}: {exc.message}") from exc
    before = mapping_state(mapping)
    with transaction.atomic():
        _point_at(mapping, survivor, client.identity().organization_id)
        mapping.save()
        event_record(
            actor=actor,
            action="duplicate_deleted",
            org=mapping.target_org,
            details={"mapping_id": mapping.pk, "deleted_record": doomed},
            before=before,
            after=mapping_state(mapping),
        )
    return mapping


def _valid_id(value: str) -> str:
    record_id = to_18(value)
    if record_id is None:
        raise MigrationError(f"{value!r} is not a 15- or 18-character Salesforce id")
    return record_id


def _check_alive(client: SalesforceClient, sobject: str, record_id: str) -> None:
    query = soql.select(sobject, ["Id"], [f"Id = {soql.quote(record_id)}"])
    try:
        found = list(client.query(query))
    except SalesforceError as exc:
        raise MigrationError(f"Cannot check {record_id}: {exc.message}") from exc
    if not found:
        raise MigrationError(
            f"No {sobject} {record_id} exists in the target org (deleted, or not a "
            f"{sobject})"
        )


def _check_unmapped(mapping: RecordMapping, target_id: str) -> None:
    other = (
        RecordMapping.objects.filter(
            source_org=mapping.source_org_id,
            target_org=mapping.target_org_id,
            target_id=target_id,
        )
        .exclude(pk=mapping.pk)
        .first()
    )
    if other is not None:
        raise MigrationError(
            f"{target_id} is already mapped (from source record {other.source_id})"
        )


def _point_at(mapping: RecordMapping, target_id: str, organization_id: str) -> None:
    mapping.target_id = target_id
    mapping.target_organization_id = organization_id
    mapping.status = MappingStatus.ACTIVE
    mapping.outdated_reason = ""
    mapping.outdated_reason_code = ""
    mapping.outdated_at = None
    mapping.values_hash = ""
    mapping.drift_found_at = None
    mapping.drift_modified_by = ""
    mapping.drift_modified_at = None
    mapping.last_verified_at = timezone.now()
