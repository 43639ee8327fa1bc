"""Before-images (issue 14): the target values a run's updates replace, for a rollback.

Before a chunk of updates is sent, the target's current values of the fields about to
be written are read (one query per 200 records) and committed, compressed, with the
values the update sends. The run's RecordResults later say which updates went through.
Kept ``BEFORE_IMAGE_RETENTION_DAYS`` days; on by default for runs into production.
"""

from __future__ import annotations

import json
import zlib
from collections.abc import Iterator, Sequence
from datetime import timedelta
from typing import Any

from django.conf import settings
from django.utils import timezone

from migrations_app.engine import soql
from migrations_app.engine.planning import ObjectPlan
from migrations_app.models import BeforeImage, Org, Run
from migrations_app.services.context import RunContext, chunked

READ_CHUNK = 200
OPTION = "keep_before_images"

# {target_id: {"before": {field: value}, "after": {field: value}}}
Images = dict[str, dict[str, dict[str, Any]]]


def before_images_default(target_org: Org) -> bool:
    """Kept by default when the target is production, where an undo matters most."""
    return target_org.environment == Org.Environment.PRODUCTION


def before_images_enabled(run: Run) -> bool:
    if run.dry_run:
        return False
    value = run.options.get(OPTION)
    return before_images_default(run.target_org) if value is None else bool(value)


def before_images_keep(
    context: RunContext, plan: ObjectPlan, rows: Sequence[dict[str, Any]]
) -> None:
    """Read and commit the current target values of the updates ``rows`` (each with
    "Id") before they are sent. Idempotent enough: a chunk sent again after a crash
    is captured again, and a rollback takes each record's earliest image."""
    if not rows or not before_images_enabled(context.run):
        return
    fields = sorted({name for row in rows for name in row if name != "Id"})
    after = {
        str(row["Id"]): {k: v for k, v in row.items() if k != "Id"} for row in rows
    }
    images: Images = {}
    for chunk in chunked(list(after), READ_CHUNK):
        query = soql.select(plan.sobject, ["Id", *fields], [soql.in_list("Id", chunk)])
        for record in context.target.query(query):
            target_id = str(record["Id"])
            written = after.get(target_id, {})
            images[target_id] = {
                "before": {name: record.get(name) for name in written},
                "after": written,
            }
    if images:
        BeforeImage.objects.create(
            run=context.run,
            sobject=plan.sobject,
            data=pack(images),
            records=len(images),
            expires_at=timezone.now()
            + timedelta(days=settings.BEFORE_IMAGE_RETENTION_DAYS),
        )


def before_images_read(run: Run, sobject: str) -> Iterator[Images]:
    """The run's images of ``sobject`` that have not expired, a write call's at a
    time, in the order they were kept."""
    rows = BeforeImage.objects.filter(
        run=run, sobject=sobject, expires_at__gt=timezone.now()
    ).order_by("id")
    for row in rows.iterator():
        yield unpack(bytes(row.data))


def before_images_purge() -> int:
    """Delete the images past their retention; return how many rows went."""
    deleted, _ = BeforeImage.objects.filter(expires_at__lte=timezone.now()).delete()
    return deleted


def pack(images: Images) -> bytes:
    return zlib.compress(json.dumps(images, separators=(",", ":")).encode(), 6)


def unpack(data: bytes) -> Images:
    result: Images = json.loads(zlib.decompress(data))
    return result
