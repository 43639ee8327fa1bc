"""Connect an org with the OAuth client-credentials flow and store it."""

from __future__ import annotations

from typing import Any

from django.core.exceptions import ValidationError
from django.core.management.base import CommandError, CommandParser

from migrations_app.management.base import DataMigratorCommand
from migrations_app.models import Org
from migrations_app.services.errors import MigrationError
from migrations_app.services.orgs import org_add


class Command(DataMigratorCommand):
    help = "Connect an org (client-credentials flow), store it encrypted, print its Organization Id."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("name")
        parser.add_argument("--login-url", required=True)
        parser.add_argument("--client-id", required=True)
        parser.add_argument("--client-secret", required=True)
        parser.add_argument(
            "--ca-file", default="", help="PEM file of a private CA to trust"
        )
        parser.add_argument(
            "--environment",
            choices=Org.Environment.values,
            default=Org.Environment.SANDBOX,
        )

    def handle(self, *args: Any, **options: Any) -> None:
        try:
            org = org_add(
                name=options["name"],
                login_url=options["login_url"],
                client_id=options["client_id"],
                client_secret=options["client_secret"],
                ca_file=options["ca_file"],
                environment=options["environment"],
            )
        except MigrationError as exc:
            raise CommandError(exc.message) from exc
        except ValidationError as exc:
            raise CommandError("; ".join(exc.messages)) from exc
        self.stdout.write(org.organization_id)
        self.stderr.write(
            f"Connected {org.name}: org {org.organization_id} as {org.username}"
        )
