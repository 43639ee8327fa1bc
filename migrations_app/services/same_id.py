"""Same-Id matching (issue 14): a sandbox copied from the source keeps its record Ids.

When the target org is a sandbox and the unmapped source records of a page exist in it
under their own Ids, a ``veid`` or ``veid_match`` run adopts them instead of inserting
duplicates. One query per chunk of unmapped records (at most 200 ids, a write batch's
worth); an object whose first probe finds none of its records is not probed again.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from migrations_app.engine import soql
from migrations_app.engine.planning import ObjectPlan
from migrations_app.engine.strategy import Strategy
from migrations_app.models import Org, RecordMapping, Template
from migrations_app.salesforce import org_info
from migrations_app.salesforce.client import SalesforceClient
from migrations_app.services.context import RunContext, chunked

PROBE_CHUNK = 200


def same_id_matches(
    context: RunContext,
    plan: ObjectPlan,
    records: Sequence[dict[str, Any]],
    known: Mapping[str, object],
) -> set[str]:
    """The unmapped source ids of ``records`` that an unmapped target record shares."""
    if (
        context.strategy is Strategy.NONE
        or context.same_id_objects.get(plan.sobject, True) is False
    ):
        return set()
    unmapped = [r["Id"] for r in records if r["Id"] not in known]
    if not unmapped or not _target_is_sandbox(context):
        return set()
    found: set[str] = set()
    for chunk in chunked(unmapped, PROBE_CHUNK):
        found |= existing_ids(context.target, plan.sobject, chunk)
    # The first probe decides for the object: no shared Id, not a copy of the source.
    context.same_id_objects.setdefault(plan.sobject, bool(found))
    return found - _mapped_targets(context, found)


def existing_ids(
    client: SalesforceClient, sobject: str, ids: Sequence[str]
) -> set[str]:
    query = soql.select(sobject, ["Id"], [soql.in_list("Id", list(ids))])
    return {str(record["Id"]) for record in client.query(query)}


def _target_is_sandbox(context: RunContext) -> bool:
    """Asked of the org once per run; an org set up as production is not asked."""
    if context.target_is_sandbox is None:
        production = context.run.target_org.environment == Org.Environment.PRODUCTION
        context.target_is_sandbox = not production and bool(
            org_info.is_sandbox(context.target)
        )
    return context.target_is_sandbox


def _mapped_targets(context: RunContext, ids: set[str]) -> set[str]:
    """Target records already mapped from another source record: never adopted twice."""
    if not ids:
        return set()
    return set(
        RecordMapping.objects.filter(
            source_org=context.run.source_org_id,
            target_org=context.run.target_org_id,
            target_id__in=ids,
        ).values_list("target_id", flat=True)
    )


def same_id_applies(*, template: Template, source_org: Org, target_org: Org) -> bool:
    """For the launch form: is the target a sandbox holding the source's first record
    of the template's first object under the same Id? Three small queries."""
    from migrations_app.services.orgs import org_client

    first = template.template_objects.order_by("position", "id").first()
    if first is None:
        return False
    target = org_client(target_org)
    if not org_info.is_sandbox(target):
        return False
    source = org_client(source_org)
    sample = [
        str(record["Id"])
        for record in source.query(
            f"SELECT Id FROM {first.sobject} ORDER BY Id LIMIT 5"
        )
    ]
    return bool(sample) and bool(existing_ids(target, first.sobject, sample))
