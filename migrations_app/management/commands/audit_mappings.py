"""Audit an org pair's mappings now and print what was found."""

from __future__ import annotations

import json
from typing import Any

from django.core.management.base import CommandError, CommandParser

from migrations_app.management.base import DataMigratorCommand
from migrations_app.models import MappingAudit, Org, OutdatedReason, Template
from migrations_app.services.audit import audit_create, audit_execute, audit_result
from migrations_app.services.errors import MigrationError


class Command(DataMigratorCommand):
    help = (
        "Check the VEID mappings of an org pair: outdated (deleted records, refreshed "
        "orgs), drifted, and duplicated by match key."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--source", required=True, help="Source org name")
        parser.add_argument("--target", required=True, help="Target org name")
        parser.add_argument("--object", default="", help="Only this sObject")
        parser.add_argument(
            "--template",
            default="",
            help="Template whose match keys find duplicates (default: the latest run's)",
        )
        parser.add_argument("--json", action="store_true", help="Print one JSON object")

    def handle(self, *args: Any, **options: Any) -> None:
        try:
            audit = audit_create(
                source_org=_get(Org, options["source"], "org"),
                target_org=_get(Org, options["target"], "org"),
                sobject=options["object"],
                template=_get(Template, options["template"], "template")
                if options["template"]
                else None,
            )
        except MigrationError as exc:
            raise CommandError(exc.message) from exc
        if audit.status != MappingAudit.Status.QUEUED:
            raise CommandError(f"Audit {audit.pk} of this pair is already running")
        audit = audit_execute(audit_id=audit.pk)
        if audit.status == MappingAudit.Status.FAILED:
            raise CommandError(f"Audit {audit.pk} failed: {audit.error}")
        result = audit_result(audit=audit)
        if options["json"]:
            self.stdout.write(json.dumps(result))
        else:
            self._print(audit, result)

    def _print(self, audit: MappingAudit, result: dict[str, Any]) -> None:
        self.stdout.write(f"Audit {audit.pk}: {audit.source_org} → {audit.target_org}")
        for sobject, counts in result["objects"].items():
            outdated = ", ".join(
                f"{OutdatedReason(code).label.lower()}: {count}"
                for code, count in counts["outdated"].items()
                if count
            )
            dupes = counts["duplicates"]
            self.stdout.write(
                f"{sobject}: {counts['checked']} checked, {counts['active']} active, "
                f"{counts['drifted']} drifted; outdated: {outdated or 'none'}; "
                f"duplicates created by migration {dupes['created_by_migration']}, "
                f"already there {dupes['preexisting']}"
            )
        calls = result["api_calls"]
        self.stdout.write(
            f"API calls: source {calls['source']}, target {calls['target']}"
        )


def _get(model: type[Template] | type[Org], name: str, label: str) -> Any:
    try:
        return model.objects.get(name=name)
    except model.DoesNotExist:
        raise CommandError(f"No {label} named {name!r}") from None
