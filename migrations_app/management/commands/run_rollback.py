"""Roll back a finished run: delete what it inserted, restore what it updated.

The rollback is a run of its own on the same org pair, executed in this process
(waiting first if another run writes on the pair). ``--json`` prints the shape of
``run_migration --json`` with ``deleted`` and ``restored`` added to each object and
to the totals.
"""

from __future__ import annotations

import json
from typing import Any

from django.core.management.base import CommandError, CommandParser

from migrations_app.management.base import DataMigratorCommand
from migrations_app.models import Run
from migrations_app.services.rollback import rollback_create, rollback_result
from migrations_app.services.runs import run_execute_waiting

COLUMNS = ("selected", "deleted", "restored", "unchanged", "failed")


class Command(DataMigratorCommand):
    help = "Undo a run: delete the records it inserted, restore the ones it updated."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("run", type=int, help="Id of the run to roll back")
        parser.add_argument(
            "--dry-run", action="store_true", help="Say what it would do; write nothing"
        )
        parser.add_argument("--json", action="store_true", help="Print one JSON object")

    def handle(self, *args: Any, **options: Any) -> None:
        original = Run.objects.filter(pk=options["run"]).first()
        if original is None:
            raise CommandError(f"run: no run {options['run']}")
        rollback = rollback_create(run=original, dry_run=options["dry_run"])
        rollback = run_execute_waiting(run_id=rollback.pk, on_wait=self._waiting)
        result = rollback_result(run=rollback)
        if options["json"]:
            self.stdout.write(json.dumps(result))
        else:
            self._print(rollback, result)
        if rollback.status in (Run.Status.FAILED, Run.Status.INTERRUPTED):
            raise CommandError(
                f"Rollback {rollback.pk} {rollback.status}: {rollback.error}"
            )

    def _waiting(self, writer: Run) -> None:
        self.stderr.write(
            f"Waiting for run {writer.pk}, which is writing to {writer.target_org}; "
            "the rollback starts when it ends."
        )

    def _print(self, rollback: Run, result: dict[str, Any]) -> None:
        dry = " (dry run)" if rollback.dry_run else ""
        self.stdout.write(
            f"Rollback {rollback.pk} of run {rollback.rollback_of_id}: "
            f"{rollback.get_status_display()}{dry}"
        )
        self.stdout.write(f"{'object':<24}" + "".join(f"{c:>11}" for c in COLUMNS))
        for sobject, counts in [
            *result["objects"].items(),
            ("TOTAL", result["totals"]),
        ]:
            self.stdout.write(
                f"{sobject:<24}" + "".join(f"{counts[c]:>11}" for c in COLUMNS)
            )
        if result["changed_since_run"]:
            self.stdout.write(
                f"{result['changed_since_run']} records were changed in the target "
                "since the run and were left as they are; see the rollback's issues."
            )
        if rollback.error:
            self.stdout.write(f"Error: {rollback.error}")
