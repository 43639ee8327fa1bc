"""Re-encrypt every stored secret with the first key of ENCRYPTION_KEYS."""

from __future__ import annotations

from typing import Any

from migrations_app.management.base import DataMigratorCommand
from migrations_app.services.orgs import org_rotate_credentials


class Command(DataMigratorCommand):
    help = (
        "Re-encrypt stored org credentials with the first ENCRYPTION_KEYS key. Put the new "
        "key first, keep the old one after it, run this, then drop the old key."
    )

    def handle(self, *args: Any, **options: Any) -> None:
        count = org_rotate_credentials()
        self.stdout.write(f"Re-encrypted the credentials of {count} org(s).")
