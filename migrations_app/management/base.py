"""The base of every Data Migrator command: one line on failure, never a traceback.

A bad argument, an input the services refuse, or a failure reaching an org ends the
command with ``CommandError: <argument>: <what is wrong>`` on standard error and a
non-zero exit status. ``--traceback`` still shows the traceback, for debugging.
"""

from __future__ import annotations

import sys
from collections.abc import Iterable
from typing import Any

from django.core.exceptions import NON_FIELD_ERRORS, ValidationError
from django.core.management.base import BaseCommand, CommandError, CommandParser
from django.db import DatabaseError

from migrations_app.salesforce.errors import SalesforceError
from migrations_app.services.errors import MigrationError

NUL = "\x00"


class DataMigratorCommand(BaseCommand):
    def create_parser(
        self, prog_name: str, subcommand: str, **kwargs: Any
    ) -> CommandParser:
        # Parse errors raise CommandError (one line) instead of printing the usage.
        self._called_from_command_line = False
        parser = super().create_parser(prog_name, subcommand, **kwargs)
        self._argument_names = {
            action.dest: (action.option_strings or [action.dest])[0]
            for action in parser._actions
        }
        return parser

    def run_from_argv(self, argv: list[str]) -> None:
        try:
            super().run_from_argv(argv)
        except CommandError as exc:
            # Raised while parsing, before Django's own handler is in place.
            self.stderr.write(f"CommandError: {one_line(str(exc))}")
            sys.exit(exc.returncode)

    def execute(self, *args: Any, **options: Any) -> str | None:
        try:
            self._refuse_nul(args, options)
            return super().execute(*args, **options)
        except CommandError as exc:
            raise CommandError(one_line(str(exc)), returncode=exc.returncode) from exc
        except Exception as exc:
            if options.get("traceback"):
                raise
            raise CommandError(self._describe(exc)) from exc

    def _refuse_nul(self, args: Iterable[Any], options: dict[str, Any]) -> None:
        for dest, value in [*((None, arg) for arg in args), *options.items()]:
            values = value if isinstance(value, list | tuple) else [value]
            if any(isinstance(item, str) and NUL in item for item in values):
                name = self._argument_name(dest) if dest else "argument"
                raise CommandError(f"{name}: contains a NUL character")

    def _describe(self, exc: Exception) -> str:
        if isinstance(exc, ValidationError):
            return one_line(self._validation_message(exc))
        if isinstance(exc, MigrationError | SalesforceError):
            return one_line(exc.message)
        if isinstance(exc, DatabaseError):
            return one_line(f"the database refused a value: {exc}")
        if isinstance(exc, RecursionError):
            return "an input is nested too deeply"
        return one_line(f"{type(exc).__name__}: {exc}")

    def _validation_message(self, exc: ValidationError) -> str:
        if not hasattr(exc, "error_dict"):
            return "; ".join(exc.messages)
        parts = []
        for field, messages in exc.message_dict.items():
            text = " ".join(messages)
            if field == NON_FIELD_ERRORS:
                parts.append(text)
            else:
                parts.append(f"{self._argument_name(field)}: {text}")
        return "; ".join(parts)

    def _argument_name(self, dest: str) -> str:
        names = getattr(self, "_argument_names", {})
        return str(names.get(dest, "--" + dest.replace("_", "-")))


def one_line(text: str) -> str:
    return " ".join(text.split())
