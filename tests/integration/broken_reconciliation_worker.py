"""An RQ worker whose write journal is deliberately broken: reconciliation never
finds what an in-doubt write created, so the records are sent again. The chaos
command must notice (tests/integration/test_chaos.py)."""

from __future__ import annotations

import os
from typing import Any

import django


def main() -> None:
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "datamigrator.settings")
    django.setup()
    from django.core.management import execute_from_command_line

    from migrations_app.services import journal

    def find_nothing(*args: Any) -> dict[str, str]:
        return {}

    journal._find_created = find_nothing  # type: ignore[assignment]
    execute_from_command_line(
        [
            "manage.py",
            "rqworker",
            "default",
            "--worker-class",
            "migrations_app.worker.MigrationWorker",
        ]
    )


if __name__ == "__main__":
    main()
