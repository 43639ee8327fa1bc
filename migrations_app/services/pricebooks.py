"""The standard price book: the source's maps to the target's, never to a new one."""

from __future__ import annotations

from migrations_app.engine import pricebooks
from migrations_app.models import RecordMapping
from migrations_app.salesforce.client import SalesforceClient
from migrations_app.services import rows
from migrations_app.services.context import RunContext
from migrations_app.services.errors import MigrationError

STANDARD_QUERY = "SELECT Id FROM Pricebook2 WHERE IsStandard = true"


def pricebooks_map_standard(context: RunContext) -> None:
    """Pair the two orgs' standard price books before any price object is migrated.

    Entries and opportunities then find the target's standard price book through
    the mapping table (or, in a run that keeps no mappings, through the run's own
    map). Idempotent: an existing mapping is left as it is.
    """
    sobjects = {plan.sobject for plan in context.plan.objects}
    if not pricebooks.uses_price_books(sobjects, set(context.parent_objects)):
        return
    source_id = _standard_id(context.source, "source")
    target_id = _standard_id(context.target, "target")
    context.run_inserts[source_id] = target_id
    if not context.writes_mappings:
        return
    run = context.run
    exists = RecordMapping.objects.filter(
        source_org=run.source_org_id,
        target_org=run.target_org_id,
        sobject=pricebooks.PRICEBOOK_OBJECT,
        source_id=source_id,
    ).exists()
    if not exists:
        rows.mappings_insert(
            run, [(pricebooks.PRICEBOOK_OBJECT, source_id, target_id, "")]
        )


def _standard_id(client: SalesforceClient, side: str) -> str:
    rows = list(client.query(STANDARD_QUERY))
    if len(rows) != 1:
        raise MigrationError(
            f"The {side} org has no standard price book; activate products and "
            "price books there first",
            permanent=True,
        )
    return str(rows[0]["Id"])
