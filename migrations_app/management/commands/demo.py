"""`make run`: everything a new user needs, on embedded defaults, in one command.

Migrates, starts the embedded Redis, the Salesforce emulator with a seeded `source` org
and an empty `target` org, registers both orgs and a demo template, prints an admin
login, then serves the web app with an RQ worker beside it until Ctrl-C.
"""

from __future__ import annotations

import json
import signal
import subprocess
import sys
import time
from pathlib import Path
from types import FrameType
from typing import Any

from django.conf import settings
from django.core.exceptions import ValidationError
from django.core.management import call_command
from django.core.management.base import CommandError, CommandParser

from datamigrator import embedded_redis
from migrations_app.management.base import DataMigratorCommand
from migrations_app.services.demo import (
    ADMIN_USERNAME,
    demo_admin_password,
    demo_register_orgs,
    demo_template,
)
from migrations_app.services.errors import MigrationError

DEMO_ORGS = ("source", "target")
STARTUP_SECONDS = 60


class Command(DataMigratorCommand):
    help = "Run the app with its demo: emulator with two orgs, web server and worker."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument(
            "--addr", default="127.0.0.1:8000", help="web server address"
        )
        parser.add_argument("--emulator-port", type=int, default=8443)
        parser.add_argument("--demo-accounts", type=int, default=200)
        parser.add_argument(
            "--no-serve", action="store_true", help="set everything up, then exit"
        )

    def handle(self, *args: Any, **options: Any) -> None:
        # A SIGTERM stops the children too, as Ctrl-C does.
        signal.signal(signal.SIGTERM, _exit_on_signal)
        call_command("migrate", verbosity=0)
        children: list[subprocess.Popen[bytes]] = []
        try:
            if settings.EMBEDDED_REDIS:
                redis_process = embedded_redis.start(settings.EMBEDDED_REDIS_SOCKET)
                children += [redis_process] if redis_process else []
            emulator, org_infos = self._start_emulator(options)
            children.append(emulator)
            self._register(org_infos)
            self._announce(options["addr"], org_infos)
            if options["no_serve"]:
                return
            children.append(self._start_worker())
            call_command("runserver", options["addr"], use_reloader=False)
        finally:
            _stop(children)

    def _start_emulator(
        self, options: dict[str, Any]
    ) -> tuple[subprocess.Popen[bytes], list[dict[str, Any]]]:
        var_dir = Path(settings.VAR_DIR)
        log_path = var_dir / "emulator.log"
        command = [
            sys.executable,
            "-m",
            "salesforce_emulator",
            "--port",
            str(options["emulator_port"]),
            "--data-dir",
            str(var_dir / "emulator"),
            "--orgs",
            ",".join(DEMO_ORGS),
            "--seed-demo",
            f"source:{options['demo_accounts']}",
        ]
        with log_path.open("wb") as log:
            process = subprocess.Popen(
                command, stdout=log, stderr=subprocess.STDOUT, start_new_session=True
            )
        return process, _wait_for_org_lines(process, log_path)

    def _register(self, org_infos: list[dict[str, Any]]) -> None:
        try:
            demo_register_orgs(org_infos=org_infos)
        except MigrationError as exc:
            raise CommandError(
                f"Could not connect to the emulator: {exc.message}"
            ) from exc
        except ValidationError as exc:
            raise CommandError(
                f"Could not connect to the emulator: {' '.join(exc.messages)}"
            ) from exc
        demo_template()

    def _announce(self, addr: str, org_infos: list[dict[str, Any]]) -> None:
        password = demo_admin_password()
        lines = [
            "",
            f"Data Migrator is starting on http://{addr}/",
            f"  log in:       {ADMIN_USERNAME} / {password}",
            "  demo orgs:    "
            + ", ".join(
                f"{info['org']} ({info['organization_id']})" for info in org_infos
            ),
            f"  first run:    http://{addr}/runs/new/ (the demo template, source → "
            "target, veid_match)",
            "  or:           DEBUG=1 .venv/bin/python manage.py run_migration --template "
            "'Demo: Accounts, Contacts, Opportunities' --source source --target target "
            "--strategy veid_match --queue",
            "  emulator:     "
            + org_infos[0]["instance_url"]
            + f" (log in {Path(settings.VAR_DIR) / 'emulator.log'})",
            "Stop with Ctrl-C.",
            "",
        ]
        self.stdout.write("\n".join(lines))

    def _start_worker(self) -> subprocess.Popen[bytes]:
        manage = Path(settings.BASE_DIR) / "manage.py"
        # Its own session: Ctrl-C reaches this command only, which then stops the
        # worker before the Redis it talks to (no tracebacks on the way out).
        return subprocess.Popen(
            [
                sys.executable,
                str(manage),
                "rqworker",
                "default",
                "--with-scheduler",
                "--worker-class",
                "migrations_app.worker.MigrationWorker",
            ],
            start_new_session=True,
        )


def _wait_for_org_lines(
    process: subprocess.Popen[bytes], log_path: Path
) -> list[dict[str, Any]]:
    """Read the one JSON line per org that the emulator prints once it serves."""
    deadline = time.monotonic() + STARTUP_SECONDS
    while time.monotonic() < deadline:
        infos = [
            json.loads(line)
            for line in log_path.read_text().splitlines()
            if line.startswith("{") and '"organization_id"' in line
        ]
        if len(infos) >= len(DEMO_ORGS):
            return infos
        if process.poll() is not None:
            raise CommandError(
                f"The emulator stopped at start:\n{log_path.read_text()[-2000:]}"
            )
        time.sleep(0.2)
    process.terminate()
    raise CommandError(f"The emulator did not start within {STARTUP_SECONDS}s")


def _exit_on_signal(signum: int, frame: FrameType | None) -> None:
    raise SystemExit(128 + signum)


def _stop(children: list[subprocess.Popen[bytes]]) -> None:
    """Stop the children one by one, the last started first: the worker finishes
    with Redis and the emulator still there. A second Ctrl-C does not cut it short."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    for child in reversed(children):
        child.terminate()
        try:
            child.wait(timeout=30)
        except subprocess.TimeoutExpired:
            child.kill()
