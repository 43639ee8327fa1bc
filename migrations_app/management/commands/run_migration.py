"""Run a template from one org to another, synchronously, and print the result."""

from __future__ import annotations

import json
import sys
from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser
from tqdm import tqdm

from migrations_app.models import Org, Run, Strategy, Template
from migrations_app.selectors import run_result
from migrations_app.services.errors import MigrationError
from migrations_app.services.runs import run_create, run_execute


class Command(BaseCommand):
    help = "Migrate records with a template from a source org to a target org."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--template", required=True, help="Template name")
        parser.add_argument("--source", required=True, help="Source org name")
        parser.add_argument("--target", required=True, help="Target org name")
        parser.add_argument(
            "--strategy", choices=Strategy.values, default=Strategy.VEID
        )
        parser.add_argument(
            "--dry-run", action="store_true", help="Plan and count; write nothing"
        )
        parser.add_argument("--json", action="store_true", help="Print one JSON object")
        parser.add_argument(
            "--resend-unchanged",
            action="store_true",
            help="Send records even when their values did not change since the last run",
        )
        parser.add_argument(
            "--incremental",
            action="store_true",
            help="Read only source records modified since the last successful run",
        )
        parser.add_argument(
            "--fallback-owner", default="", help="Target username or email"
        )

    def handle(self, *args: Any, **options: Any) -> None:
        run = self._create(options)
        with tqdm(
            unit=" records",
            disable=options["json"] or not sys.stderr.isatty(),
            file=sys.stderr,
        ) as bar:

            def progress(sobject: str, count: int) -> None:
                bar.set_description(sobject)
                bar.update(count)

            run = run_execute(run_id=run.pk, progress=progress)
        result = run_result(run=run)
        if options["json"]:
            self.stdout.write(json.dumps(result))
        else:
            self._print(run, result)
        if run.status in (Run.Status.FAILED, Run.Status.INTERRUPTED):
            raise CommandError(f"Run {run.pk} {run.status}: {run.error}")

    def _create(self, options: dict[str, Any]) -> Run:
        try:
            return run_create(
                template=_get(Template, options["template"], "template"),
                source_org=_get(Org, options["source"], "org"),
                target_org=_get(Org, options["target"], "org"),
                strategy=options["strategy"],
                dry_run=options["dry_run"],
                options={
                    "only_changed": not options["resend_unchanged"],
                    "incremental": options["incremental"],
                    "fallback_owner": options["fallback_owner"],
                },
            )
        except MigrationError as exc:
            raise CommandError(exc.message) from exc

    def _print(self, run: Run, result: dict[str, Any]) -> None:
        header = f"{'object':<24}" + "".join(f"{name:>11}" for name in result["totals"])
        self.stdout.write(
            f"Run {run.pk}: {run.get_status_display()}{' (dry run)' if run.dry_run else ''}"
        )
        self.stdout.write(header)
        for sobject, counts in [
            *result["objects"].items(),
            ("TOTAL", result["totals"]),
        ]:
            self.stdout.write(
                f"{sobject:<24}" + "".join(f"{value:>11}" for value in counts.values())
            )
        calls = result["api_calls"]
        self.stdout.write(
            f"API calls: source {calls['source']}, target {calls['target']}"
        )
        for problem in run.report.get("problems", []):
            self.stdout.write(
                f"  note: {problem['sobject']}.{problem['field']}: {problem['message']}"
            )
        if run.error:
            self.stdout.write(f"Error: {run.error}")


def _get(model: type[Template] | type[Org], name: str, label: str) -> Any:
    try:
        return model.objects.get(name=name)
    except model.DoesNotExist:
        raise CommandError(f"No {label} named {name!r}") from None
