"""Run a template from one org to another and print the result.

In this process by default (waiting first if another run writes on the org pair), or
through the RQ workers with --queue, following the run until it ends.
"""

from __future__ import annotations

import json
import sys
import time
from typing import Any

from django.core.management.base import CommandError, CommandParser
from tqdm import tqdm

from migrations_app.management.base import DataMigratorCommand
from migrations_app.models import Org, Run, Strategy, Template
from migrations_app.salesforce.errors import SalesforceError
from migrations_app.selectors import ACTIVE_STATUSES, run_result
from migrations_app.services.duplicates import preflight_duplicates
from migrations_app.services.errors import MigrationError
from migrations_app.services.runs import (
    run_create,
    run_execute_waiting,
    run_launch,
)

FOLLOW_SECONDS = 0.5


class Command(DataMigratorCommand):
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
        reads = parser.add_mutually_exclusive_group()
        reads.add_argument(
            "--full",
            action="store_true",
            help="Read every selected source record, not only those changed since "
            "the pair's last successful run of the template",
        )
        reads.add_argument(
            "--incremental",
            action="store_true",
            help="Read only records changed since the last successful run: the "
            "default now, kept so that existing scripts still work",
        )
        parser.add_argument(
            "--fallback-owner", default="", help="Target username or email"
        )
        parser.add_argument(
            "--queue",
            action="store_true",
            help="Run it on the RQ workers and follow it until it ends",
        )
        parser.add_argument(
            "--no-wait",
            action="store_true",
            help="With --queue: print the run id and return at once",
        )

    def handle(self, *args: Any, **options: Any) -> None:
        if options["no_wait"] and not options["queue"]:
            raise CommandError("--no-wait goes with --queue")
        arguments = self._arguments(options)
        if options["queue"]:
            run = self._launch(arguments)
            if options["no_wait"]:
                self._print_queued(run, options)
                return
        else:
            run = self._create(arguments)
        with tqdm(
            unit=" records",
            disable=options["json"] or not sys.stderr.isatty(),
            file=sys.stderr,
        ) as bar:

            def progress(sobject: str, count: int) -> None:
                bar.set_description(sobject)
                bar.update(count)

            if options["queue"]:
                run = _follow(run, progress)
            else:
                run = run_execute_waiting(
                    run_id=run.pk, progress=progress, on_wait=self._waiting
                )
                if run.status in ACTIVE_STATUSES:  # a worker took it: follow it
                    run = _follow(run, progress)
        self._report(run, options)

    def _arguments(self, options: dict[str, Any]) -> dict[str, Any]:
        return {
            "template": _get(Template, options["template"], "template"),
            "source_org": _get(Org, options["source"], "org"),
            "target_org": _get(Org, options["target"], "org"),
            "strategy": options["strategy"],
            "dry_run": options["dry_run"],
            "options": {
                "only_changed": not options["resend_unchanged"],
                "full": options["full"],
                "fallback_owner": options["fallback_owner"],
            },
        }

    def _create(self, arguments: dict[str, Any]) -> Run:
        try:
            return run_create(**arguments)
        except MigrationError as exc:
            raise CommandError(exc.message) from exc

    def _launch(self, arguments: dict[str, Any]) -> Run:
        try:
            return run_launch(**arguments)
        except MigrationError as exc:
            raise CommandError(exc.message) from exc

    def _waiting(self, writer: Run) -> None:
        self.stderr.write(
            f"Waiting for run {writer.pk}, which is writing from {writer.source_org} "
            f"to {writer.target_org}; this run starts when it ends."
        )

    def _print_queued(self, run: Run, options: dict[str, Any]) -> None:
        if options["json"]:
            self.stdout.write(json.dumps({"run_id": run.pk, "status": run.status}))
        else:
            self.stdout.write(f"Run {run.pk} queued.")

    def _report(self, run: Run, options: dict[str, Any]) -> None:
        result = run_result(run=run)
        if options["json"]:
            self.stdout.write(json.dumps(result))
        else:
            self._print(run, result)
        if run.status in (Run.Status.FAILED, Run.Status.INTERRUPTED):
            raise CommandError(f"Run {run.pk} {run.status}: {run.error}")

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
        if run.dry_run and run.strategy != Strategy.VEID_MATCH:
            self._print_preflight(run)

    def _print_preflight(self, run: Run) -> None:
        """What a veid run would duplicate: unmapped records with a twin in the target."""
        try:
            counts = preflight_duplicates(
                template_snapshot=run.template_snapshot,
                source_org=run.source_org,
                target_org=run.target_org,
            )
        except (MigrationError, SalesforceError) as exc:
            self.stdout.write(f"Pre-flight duplicates check failed: {exc.message}")
            return
        for sobject, count in counts.items():
            self.stdout.write(
                f"Pre-flight: {sobject}: {count} unmapped record(s) already have a "
                "match-key twin in the target"
            )
        if any(counts.values()):
            self.stdout.write(
                "  a veid run would duplicate them; use --strategy veid_match to "
                "adopt them instead"
            )


def _follow(run: Run, progress: Any) -> Run:
    """Poll the run until it ends, feeding the progress bar from its counters."""
    seen = 0
    while True:
        run.refresh_from_db()
        if run.selected > seen:
            current = (
                run.object_stats.filter(completed_at=None).order_by("position").first()
            )
            progress(current.sobject if current else "", run.selected - seen)
            seen = run.selected
        if run.status not in ACTIVE_STATUSES:
            return run
        time.sleep(FOLLOW_SECONDS)


def _get(model: type[Template] | type[Org], name: str, label: str) -> Any:
    try:
        return model.objects.get(name=name)
    except model.DoesNotExist:
        raise CommandError(f"No {label} named {name!r}") from None
