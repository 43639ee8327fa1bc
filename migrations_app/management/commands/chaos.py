"""Kill workers, inject faults, restart services; then prove nothing was duplicated or
lost and no run needed a hand (issue 11). The experiment is services/chaos.py."""

from __future__ import annotations

import json
from typing import Any

from django.core.management.base import CommandError, CommandParser

from migrations_app.management.base import DataMigratorCommand
from migrations_app.services.chaos import ChaosConfig, ChaosReport, chaos_run
from migrations_app.services.errors import MigrationError


class Command(DataMigratorCommand):
    help = (
        "Migrate a seeded hierarchy through real RQ workers while killing them "
        "(kill -9), injecting transient Salesforce faults and optionally restarting "
        "PostgreSQL and Redis; compare the target with a clean reference run."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--kills", type=int, required=True, help="kill -9 points")
        parser.add_argument(
            "--fault-rate",
            type=float,
            required=True,
            help="share of Salesforce calls failing transiently (0.05 = 5%%)",
        )
        parser.add_argument(
            "--db-restart", action="store_true", help="restart the local PostgreSQL"
        )
        parser.add_argument(
            "--redis-restart", action="store_true", help="restart the local Redis"
        )
        parser.add_argument("--workers", type=int, default=2)
        parser.add_argument(
            "--accounts", type=int, default=60, help="Accounts seeded at the start"
        )
        parser.add_argument("--seed", type=int, default=None, help="random seed")
        parser.add_argument("--json", action="store_true", help="print one JSON object")

    def handle(self, *args: Any, **options: Any) -> None:
        config = ChaosConfig(
            kills=options["kills"],
            fault_rate=options["fault_rate"],
            db_restart=options["db_restart"],
            redis_restart=options["redis_restart"],
            workers=options["workers"],
            accounts=options["accounts"],
            seed=options["seed"],
        )
        quiet = options["json"]
        try:
            report = chaos_run(
                config, say=(lambda line: None) if quiet else self._progress
            )
        except MigrationError as exc:
            raise CommandError(exc.message) from exc
        if quiet:
            self.stdout.write(json.dumps(report.as_dict()))
        else:
            self._print(report)
        if not report.ok:
            raise CommandError(
                "chaos found problems: " + ("; ".join(_problems(report)) or "see above")
            )

    def _progress(self, line: str) -> None:
        self.stderr.write(line)

    def _print(self, report: ChaosReport) -> None:
        stats = report.stats
        self.stdout.write(
            f"Chaos: {stats.kills} kills ({stats.kills_after_write} between "
            f"Salesforce's answer and the database commit; {stats.kills_missed} "
            f"moments found no busy worker), fault rate {report.config.fault_rate:.0%}, "
            f"{stats.db_restarts} PostgreSQL and {stats.redis_restarts} Redis restarts "
            f"({stats.redis_lost_queued} with a queued run), {stats.rounds} rounds in "
            f"{stats.seconds:.0f}s"
        )
        self.stdout.write(
            f"Runs: {stats.runs}, attempts {stats.attempts}, automatic resumes "
            f"{stats.auto_resumes}, retries {stats.retries}, manual launches "
            f"{stats.manual_launches}"
        )
        header = (
            f"{'object':<12}{'target':>8}{'reference':>10}{'duplicates':>11}"
            f"{'missing':>8}{'map lost':>9}{'map wrong':>10}{'lookups':>8}"
            f"{'counts':>8}"
        )
        self.stdout.write(header)
        for item in report.objects:
            self.stdout.write(
                f"{item.sobject:<12}{item.target:>8}{item.reference:>10}"
                f"{item.duplicates:>11}{item.missing:>8}{item.mappings_lost:>9}"
                f"{item.mappings_wrong:>10}{item.lookups_wrong:>8}"
                f"{'same' if item.counts_match else 'DIFFER':>8}"
            )
        for problem in report.problems:
            self.stdout.write(f"Problem: {problem}")
        self.stdout.write("OK" if report.ok else "FAILED")


def _problems(report: ChaosReport) -> list[str]:
    found = list(report.problems)
    for item in report.objects:
        if not item.ok:
            found.append(
                f"{item.sobject}: {item.duplicates} duplicates, {item.missing} "
                f"missing, {item.mappings_lost} mappings lost, {item.mappings_wrong} "
                f"wrong, counts {'same' if item.counts_match else 'differ'}"
            )
    return found
