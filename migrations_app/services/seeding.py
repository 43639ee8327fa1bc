"""What the launch form says about seeding a sandbox (issue 14): the template's
transforms, personal data copied unmasked, and whether same-Id matching applies."""

from __future__ import annotations

from dataclasses import dataclass

from migrations_app.engine.transforms import ObjectTransforms, transforms_summary
from migrations_app.models import Org, Template
from migrations_app.salesforce.errors import SalesforceError
from migrations_app.services.errors import MigrationError
from migrations_app.services.same_id import same_id_applies
from migrations_app.services.templates import template_export


@dataclass(frozen=True)
class SeedingNotes:
    objects: list[ObjectTransforms]
    # Personal-data fields copied as they are into a non-production org.
    unmasked_into_sandbox: list[str]
    same_id: bool | None  # None: could not be checked
    same_id_error: str = ""

    @property
    def any_transforms(self) -> bool:
        return any(item.transformed for item in self.objects)


def seeding_notes(
    *, template: Template, source_org: Org, target_org: Org, strategy: str
) -> SeedingNotes:
    """Read the template, and for a veid or veid_match run ask the orgs (a few small
    queries) whether the target is a sandbox copy of the source."""
    objects = transforms_summary(template_export(template=template)["objects"])
    unmasked = []
    if target_org.environment != Org.Environment.PRODUCTION:
        unmasked = [
            f"{item.sobject}.{name}"
            for item in objects
            for name in item.unmasked_personal
        ]
    same_id, error = _same_id(template, source_org, target_org, strategy)
    return SeedingNotes(objects, unmasked, same_id, error)


def _same_id(
    template: Template, source_org: Org, target_org: Org, strategy: str
) -> tuple[bool | None, str]:
    if strategy == "none" or source_org.pk == target_org.pk:
        return False, ""
    try:
        return (
            same_id_applies(
                template=template, source_org=source_org, target_org=target_org
            ),
            "",
        )
    except (MigrationError, SalesforceError) as exc:
        return None, exc.message
