"""Audit an org pair's mappings: outdated, drifted and duplicated records.

An audit asks each org about mapped records only. Within the 15 days of Salesforce's
delete log it asks Get Deleted and Get Updated once per object for the window since the
last audit of that object; past it (or the first time) it checks the mapped ids in
bulk. Either way the calls follow the number of mappings, never the size of the org.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from django.contrib.auth.models import AbstractBaseUser, AnonymousUser, User
from django.db import IntegrityError, transaction
from django.db.models import Count, Q, QuerySet
from django.utils import timezone

from migrations_app.models import (
    MappingAudit,
    MappingStatus,
    Org,
    OutdatedReason,
    RecordMapping,
    Run,
    Template,
)
from migrations_app.salesforce.errors import SalesforceError
from migrations_app.services import duplicates
from migrations_app.services.errors import MigrationError
from migrations_app.services.events import event_record
from migrations_app.services.mapping_state import (
    Side,
    apply_states,
    checkable,
    deleted_since,
    id_batches,
    inspect_ids,
    mapped_ids,
    org_now,
    pair_mappings,
    updated_since,
)
from migrations_app.services.orgs import org_connect
from migrations_app.services.templates import template_snapshot

logger = logging.getLogger(__name__)

Requester = AbstractBaseUser | AnonymousUser


@dataclass
class AuditContext:
    audit: MappingAudit
    source: Side
    target: Side
    source_organization_id: str
    target_organization_id: str
    now: datetime
    match_keys: dict[str, tuple[str, ...]] = field(default_factory=dict)
    changes: dict[str, int] = field(default_factory=dict)

    @property
    def found_by(self) -> str:
        return f"audit {self.audit.pk}"


# Creating and launching -------------------------------------------------------------


def audit_create(
    *,
    source_org: Org,
    target_org: Org,
    sobject: str = "",
    template: Template | None = None,
    requested_by: Requester | None = None,
) -> MappingAudit:
    """A queued audit of the pair, or the one already queued or running for it."""
    return _create_or_join(
        source_org=source_org,
        target_org=target_org,
        sobject=sobject,
        template=template,
        requested_by=requested_by,
    )[0]


def audit_launch(**arguments: Any) -> MappingAudit:
    """Create an audit (arguments as audit_create) and queue it once committed; a
    second launch while one is queued or running joins that one."""
    from migrations_app import jobs

    with transaction.atomic():
        audit, created = _create_or_join(**arguments)
        if created:
            transaction.on_commit(lambda: jobs.enqueue_audit(audit_id=audit.pk))
    return audit


def _create_or_join(
    *,
    source_org: Org,
    target_org: Org,
    sobject: str = "",
    template: Template | None = None,
    requested_by: Requester | None = None,
) -> tuple[MappingAudit, bool]:
    if source_org.pk == target_org.pk:
        raise MigrationError("The source and target org must be different orgs")
    try:
        with transaction.atomic():
            audit = MappingAudit.objects.create(
                source_org=source_org,
                target_org=target_org,
                sobject=sobject.strip(),
                template=template,
                requested_by=requested_by if isinstance(requested_by, User) else None,
            )
            return audit, True
    except IntegrityError:
        # One audit at a time per pair (a constraint): join the one under way.
        return MappingAudit.objects.get(
            source_org=source_org,
            target_org=target_org,
            status__in=(MappingAudit.Status.QUEUED, MappingAudit.Status.RUNNING),
        ), False


# Executing ---------------------------------------------------------------------------


def audit_execute(*, audit_id: int) -> MappingAudit:
    """Claim the audit and check every object; safe to call twice."""
    claimed = MappingAudit.objects.filter(
        id=audit_id, status=MappingAudit.Status.QUEUED
    ).update(status=MappingAudit.Status.RUNNING, started_at=timezone.now())
    audit = MappingAudit.objects.select_related(
        "source_org", "target_org", "template"
    ).get(id=audit_id)
    if claimed != 1:
        return audit
    context = None
    try:
        context = _connect(audit)
        _audit_objects(context)
    except (MigrationError, SalesforceError) as exc:
        return _finish(audit, context, error=exc.message)
    except Exception as exc:
        logger.exception("audit %s crashed", audit.pk)
        _finish(audit, context, error=f"Unexpected error: {exc}")
        raise
    return _finish(audit, context)


def _connect(audit: MappingAudit) -> AuditContext:
    # org_connect also outdates every mapping of an org whose Organization Id changed.
    source, source_identity = org_connect(org=audit.source_org)
    target, target_identity = org_connect(org=audit.target_org)
    return AuditContext(
        audit=audit,
        source=Side("source", source, source_identity.user_id),
        target=Side("target", target, target_identity.user_id),
        source_organization_id=source_identity.organization_id,
        target_organization_id=target_identity.organization_id,
        now=audit.started_at or timezone.now(),
        match_keys=audit_match_keys(
            source_org=audit.source_org,
            target_org=audit.target_org,
            template=audit.template,
        ),
    )


def audit_match_keys(
    *, source_org: Org, target_org: Org, template: Template | None
) -> dict[str, tuple[str, ...]]:
    """Match key per object: of ``template``, or else of the pair's latest run."""
    if template is not None:
        snapshot: dict[str, Any] = dict(template_snapshot(template=template))
    else:
        run = (
            Run.objects.filter(source_org=source_org, target_org=target_org)
            .order_by("-created_at")
            .only("template_snapshot")
            .first()
        )
        snapshot = run.template_snapshot if run else {"objects": []}
    return {
        item["sobject"]: tuple(item.get("match_key") or ())
        for item in snapshot.get("objects", [])
    }


def _objects(context: AuditContext) -> list[str]:
    audit = context.audit
    if audit.sobject:
        return [audit.sobject]
    mapped = set(
        RecordMapping.objects.filter(
            source_org=audit.source_org_id, target_org=audit.target_org_id
        )
        .values_list("sobject", flat=True)
        .distinct()
    )
    in_template = [name for name, key in context.match_keys.items() if key]
    return [*in_template, *sorted(mapped - set(in_template))]


def _audit_objects(context: AuditContext) -> None:
    objects = _objects(context)
    results: dict[str, Any] = {}
    for position, sobject in enumerate(objects):
        _progress(context, position, len(objects), f"Checking {sobject}")
        results[sobject] = _audit_object(context, sobject)
        _save_results(context, results)
    _progress(context, len(objects), len(objects), "Done")
    event_record(
        actor=context.audit.requested_by,
        action="mappings_audited",
        org=context.audit.target_org,
        details={
            "audit_id": context.audit.pk,
            "source_org": context.audit.source_org.name,
            "objects": objects,
            "changes": context.changes,
        },
    )


def _audit_object(context: AuditContext, sobject: str) -> dict[str, Any]:
    mappings = pair_mappings(
        context.audit.source_org, context.audit.target_org, sobject
    )
    _outdate_changed_orgs(context, mappings)
    methods = {
        side.name: _check_side(context, side, sobject, mappings)
        for side in (context.target, context.source)
    }
    context.audit.methods = {**context.audit.methods, sobject: methods}
    mappings.filter(status=MappingStatus.ACTIVE).update(last_verified_at=context.now)
    found = duplicates.duplicate_groups(
        client=context.target.client,
        sobject=sobject,
        key_fields=context.match_keys.get(sobject, ()),
        mappings=mappings,
    )
    context.audit.duplicate_groups = {
        **context.audit.duplicate_groups,
        sobject: [group.as_dict() for group in found],
    }
    return {
        **mapping_counts(mappings),
        "duplicates": duplicates.duplicate_counts(found),
    }


def _outdate_changed_orgs(
    context: AuditContext, mappings: QuerySet[RecordMapping]
) -> None:
    """Mappings written into another org than the one we reach now (a refresh)."""
    checks = (
        ("target", context.target_organization_id, OutdatedReason.TARGET_ORG_CHANGED),
        ("source", context.source_organization_id, OutdatedReason.SOURCE_ORG_CHANGED),
    )
    for name, organization_id, code in checks:
        column = f"{name}_organization_id"
        count = (
            mappings.filter(status=MappingStatus.ACTIVE)
            .exclude(**{column: ""})
            .exclude(**{column: organization_id})
            .update(
                status=MappingStatus.OUTDATED,
                outdated_reason_code=code,
                outdated_reason=f"{code.label}: it is now org {organization_id} "
                f"(found by {context.found_by})",
                outdated_at=timezone.now(),
                updated_at=timezone.now(),
            )
        )
        _count(context, code, count)


def _check_side(
    context: AuditContext,
    side: Side,
    sobject: str,
    mappings: QuerySet[RecordMapping],
) -> dict[str, str]:
    """Deletions (and for the target, drift) of one side; returns how it was checked."""
    since = _covered_since(context, side, sobject)
    # The org's time before anything is checked: what the next audit asks Get
    # Deleted from must not be later by its clock than this check began, or a record
    # deleted in between would be missed for good when this server's clock is ahead.
    now = org_now(side.client)
    replicated = deleted_since(side, sobject, since, now)
    if replicated is None or since is None:
        _check_every_mapping(context, side, sobject, mappings)
        return {"method": "mapped_ids", "covered_through": now.isoformat()}
    deleted, covered = replicated
    candidates = mapped_ids(mappings, side, deleted)
    candidates.update(
        checkable(mappings, side)
        .filter(status=MappingStatus.OUTDATED)
        .values_list(side.id_field, flat=True)
    )
    _inspect_and_apply(context, side, sobject, mappings, candidates)
    if side.name == "target":
        _check_updated(context, side, sobject, mappings, since, now)
    return {"method": "replication", "covered_through": covered.isoformat()}


def _check_every_mapping(
    context: AuditContext,
    side: Side,
    sobject: str,
    mappings: QuerySet[RecordMapping],
) -> None:
    """The fallback: every mapped id of the side, in chunks as large as a URI allows."""
    ids = checkable(mappings, side).values_list(side.id_field, flat=True)
    for batch in id_batches(ids):
        _inspect_and_apply(context, side, sobject, mappings, batch)


def _check_updated(
    context: AuditContext,
    side: Side,
    sobject: str,
    mappings: QuerySet[RecordMapping],
    since: datetime,
    now: datetime,
) -> None:
    """Drift: of the records changed since the last audit, those changed by others
    (``now`` by the org's clock)."""
    changed = updated_since(side, sobject, since, now)
    if changed is None:
        _check_every_mapping(context, side, sobject, mappings)
        return
    active = mappings.filter(status=MappingStatus.ACTIVE)
    candidates = mapped_ids(active, side, changed)
    _inspect_and_apply(context, side, sobject, mappings, candidates)


def _inspect_and_apply(
    context: AuditContext,
    side: Side,
    sobject: str,
    mappings: QuerySet[RecordMapping],
    ids: Sequence[str] | set[str],
) -> None:
    if not ids:
        return
    states = inspect_ids(side, sobject, ids, with_modifier=side.name == "target")
    for code, count in apply_states(
        mappings, side, states, found_by=context.found_by
    ).items():
        _count(context, code, count)


def _covered_since(context: AuditContext, side: Side, sobject: str) -> datetime | None:
    """Up to when the last successful audit of this object covered ``side``."""
    previous = (
        MappingAudit.objects.filter(
            source_org=context.audit.source_org_id,
            target_org=context.audit.target_org_id,
            status=MappingAudit.Status.SUCCEEDED,
        )
        .exclude(pk=context.audit.pk)
        .order_by("-started_at")
        .values_list("methods", flat=True)[:20]
    )
    for methods in previous:
        covered = (methods or {}).get(sobject, {}).get(side.name, {})
        if covered.get("covered_through"):
            return datetime.fromisoformat(covered["covered_through"])
    return None


# Results -----------------------------------------------------------------------------


def mapping_counts(mappings: QuerySet[RecordMapping]) -> dict[str, Any]:
    """checked, active, outdated per reason (every reason, 0 included), drifted."""
    outdated = Q(status=MappingStatus.OUTDATED)
    totals = mappings.aggregate(
        checked=Count("pk"),
        active=Count("pk", filter=Q(status=MappingStatus.ACTIVE)),
        drifted=Count(
            "pk",
            filter=Q(status=MappingStatus.ACTIVE, drift_found_at__isnull=False),
        ),
        **{
            code: Count("pk", filter=outdated & Q(outdated_reason_code=code))
            for code in OutdatedReason.values
        },
    )
    return {
        "checked": totals["checked"],
        "active": totals["active"],
        "outdated": {code: totals[code] for code in OutdatedReason.values},
        "drifted": totals["drifted"],
    }


def audit_result(*, audit: MappingAudit) -> dict[str, Any]:
    """The audit as `audit_mappings --json` prints it."""
    return {
        "objects": audit.results.get("objects", {}),
        "api_calls": {
            "source": audit.source_api_calls,
            "target": audit.target_api_calls,
        },
    }


def _count(context: AuditContext, code: str, count: int) -> None:
    if count:
        context.changes[code] = context.changes.get(code, 0) + count


def _progress(context: AuditContext, done: int, total: int, step: str) -> None:
    percent = 100 if total == 0 else int(done * 100 / total)
    MappingAudit.objects.filter(pk=context.audit.pk).update(
        progress=percent, step=step, **_api_calls(context)
    )


def _save_results(context: AuditContext, results: dict[str, Any]) -> None:
    context.audit.results = {"objects": results}
    MappingAudit.objects.filter(pk=context.audit.pk).update(
        results=context.audit.results,
        methods=context.audit.methods,
        duplicate_groups=context.audit.duplicate_groups,
        **_api_calls(context),
    )


def _api_calls(context: AuditContext) -> dict[str, int]:
    return {
        "source_api_calls": context.source.client.usage.calls,
        "target_api_calls": context.target.client.usage.calls,
    }


def _finish(
    audit: MappingAudit, context: AuditContext | None, *, error: str = ""
) -> MappingAudit:
    status = MappingAudit.Status.FAILED if error else MappingAudit.Status.SUCCEEDED
    MappingAudit.objects.filter(pk=audit.pk).update(
        status=status,
        error=error,
        finished_at=timezone.now(),
        **({"progress": 100} if not error else {}),
        **(_api_calls(context) if context else {}),
    )
    audit.refresh_from_db()
    return audit
