"""Create or replace a template from its JSON file."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

from django.core.exceptions import ValidationError
from django.core.management.base import CommandError, CommandParser

from migrations_app.management.base import DataMigratorCommand
from migrations_app.services.events import event_record
from migrations_app.services.templates import TEMPLATE_MAX_BYTES, template_import


class Command(DataMigratorCommand):
    help = "Import a template from a JSON file (FILE may be - for standard input)."
    stealth_options = ("stdin",)

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("file", help="template JSON file, or - to read stdin")
        parser.add_argument(
            "--replace",
            action="store_true",
            help="replace the template of the same name (its runs keep their copy)",
        )

    def handle(self, *args: Any, **options: Any) -> None:
        text = _read(options["file"], options.get("stdin") or sys.stdin)
        try:
            template = template_import(data=text, replace=options["replace"])
        except ValidationError as exc:
            problems = "; ".join(exc.messages)
            message = f"{options['file']} is not a valid template: {problems}"
            raise CommandError(message) from exc
        event_record(
            actor=None,
            action="template_imported",
            details={
                "template_id": template.pk,
                "template": template.name,
                "replace": options["replace"],
                "via": "manage.py template_import",
            },
        )
        sobjects = ", ".join(item.sobject for item in template.template_objects.all())
        self.stdout.write(f'Imported template "{template.name}": {sobjects}')


def _read(file: str, stdin: Any) -> str:
    if file == "-":
        text = str(stdin.read(TEMPLATE_MAX_BYTES + 1))
        if len(text) > TEMPLATE_MAX_BYTES:
            raise CommandError("Cannot read standard input: it is larger than 1 MB")
        return text
    path = Path(file)
    try:
        if path.exists() and not path.is_file():
            raise CommandError(f"Cannot read {file}: it is not a regular file")
        if path.stat().st_size > TEMPLATE_MAX_BYTES:
            raise CommandError(f"Cannot read {file}: it is larger than 1 MB")
        return path.read_text(encoding="utf-8")
    except OSError as exc:
        raise CommandError(f"Cannot read {file}: {exc.strerror}") from exc
    except UnicodeDecodeError as exc:
        raise CommandError(
            f"{file} is not UTF-8 text (invalid byte at offset {exc.start})"
        ) from exc
