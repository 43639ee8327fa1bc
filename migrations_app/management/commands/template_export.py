"""Print a template as JSON, the form template_import reads."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from django.core.management.base import CommandError, CommandParser

from migrations_app.management.base import DataMigratorCommand
from migrations_app.models import Template
from migrations_app.services.templates import template_export_json


class Command(DataMigratorCommand):
    help = "Export a template as pretty-printed JSON (to stdout unless --output)."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("name", help="template name")
        parser.add_argument("--output", "-o", help="write to this file instead")

    def handle(self, *args: Any, **options: Any) -> None:
        name = options["name"]
        template = Template.objects.filter(name=name).first()
        if template is None:
            known = ", ".join(Template.objects.values_list("name", flat=True)[:20])
            raise CommandError(
                f'There is no template named "{name}".'
                + (f" Templates: {known}" if known else "")
            )
        text = template_export_json(template=template)
        if not options["output"]:
            self.stdout.write(text, ending="")
            return
        try:
            Path(options["output"]).write_text(text, encoding="utf-8")
        except OSError as exc:
            raise CommandError(
                f"Cannot write {options['output']}: {exc.strerror}"
            ) from exc
        self.stdout.write(f'Exported template "{name}" to {options["output"]}')
